"""Moved to composer/training/windows.py; this name stays for sample.py's canonical windows
(`index_piece`, `window_at`) until that code finds its own home."""

from .training.windows import Piece, WindowSampler, index_piece, split_by_file, transpose, window_at

__all__ = ["Piece", "WindowSampler", "index_piece", "split_by_file", "transpose", "window_at"]
