"""Rehearsal for fine-tuning: a run keeps a small sample of its training windows, and a
fine-tune mixes them into every batch so the styles it started with are not forgotten.

    RUN_DIR/replay.safetensors     "windows": int16 (N, L) token windows, PAD-filled;
                                   metadata: tokenizer fingerprint, how many leading rows
                                   came from the run this one was fine-tuned from

Every run writes one when training starts: up to `per_style` windows a style from its own
training files (never the validation files), after the windows of the run it was fine-tuned
from. A fine-tune rehearses those inherited windows (`--replay`, half of each batch by
default). The bundled model ships its sample in data/ (~0.5 MB), so `compose train MINE
--from default` keeps jazz sounding like jazz.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..atomic import atomic_path
from ..errors import ComposerError
from ..vocab import PAD, Vocab
from .windows import Piece, window_at

REPLAY_FILE = "replay.safetensors"
PER_STYLE = 96  # windows kept per style


def sample_windows(pieces: list[Piece], vocab: Vocab, length: int, per_style: int = PER_STYLE,
                   seed: int = 0) -> np.ndarray:
    """Up to `per_style` windows of `length` tokens per style, at random bars (no augmentation)."""
    rng = np.random.default_rng(seed)
    by_style: dict[int, list[Piece]] = {}
    for p in pieces:
        if len(p.bars):
            by_style.setdefault(p.style, []).append(p)
    rows = []
    for style in sorted(by_style):
        group = by_style[style]
        weights = np.array([len(p.tokens) for p in group], dtype=np.float64)
        for _ in range(per_style):
            piece = group[rng.choice(len(group), p=weights / weights.sum())]
            rows.append(window_at(piece, int(rng.integers(len(piece.bars))), vocab, length))
    out = np.full((len(rows), length), PAD, dtype=np.int16)
    for i, r in enumerate(rows):
        out[i, :len(r)] = r
    return out


def stack_windows(first: np.ndarray | None, then: np.ndarray) -> np.ndarray:
    """Rows of `first` (e.g. inherited windows; None for none) then `then`, PAD-filled to the
    longer of the two lengths."""
    if first is None:
        return then
    out = np.full((len(first) + len(then), max(first.shape[1], then.shape[1])), PAD, dtype=np.int64)
    out[:len(first), :first.shape[1]] = first
    out[len(first):, :then.shape[1]] = then
    return out


def save_replay(run_dir, windows: np.ndarray, inherited: int, fingerprint: str) -> None:
    from safetensors.numpy import save_file

    if len(windows) and int(windows.max()) > np.iinfo(np.int16).max:
        raise ValueError("token ids do not fit in int16")
    metadata = {"format": "composer-replay", "fingerprint": fingerprint, "inherited": str(inherited)}
    with atomic_path(Path(run_dir) / REPLAY_FILE) as tmp:
        save_file({"windows": np.ascontiguousarray(windows, dtype=np.int16)}, str(tmp), metadata=metadata)


def load_replay(run_dir, fingerprint: str) -> tuple[np.ndarray, int] | None:
    """(windows, inherited rows) of a run, or None when it has no replay file or one written
    for other tokenizer settings (then there is nothing usable to rehearse)."""
    from safetensors import safe_open

    path = Path(run_dir) / REPLAY_FILE
    if not path.exists():
        return None
    try:
        with safe_open(os.fspath(path), framework="numpy") as f:
            meta = f.metadata() or {}
            windows = f.get_tensor("windows")
    except Exception as e:  # safetensors raises its own error types for corrupt files
        raise ComposerError(f"{path}: not a readable replay file ({e})") from None
    if meta.get("fingerprint") != fingerprint:
        return None
    return windows.astype(np.int64), int(meta.get("inherited", 0))


class ReplayMix:
    """A training sampler whose batches hold `share` of windows rehearsed from `windows`."""

    def __init__(self, sampler, windows: np.ndarray, share: float, unknown_style: int):
        self.sampler, self.share, self.unknown_style = sampler, share, unknown_style
        n = sampler.context + 1
        self.windows = np.full((len(windows), n), PAD, dtype=np.int64)
        self.windows[:, :min(n, windows.shape[1])] = windows[:, :n]

    def sample(self, rng: np.random.Generator, batch: int) -> tuple[np.ndarray, np.ndarray]:
        k = int(rng.binomial(batch, self.share)) if len(self.windows) else 0
        x, y = self.sampler.sample(rng, batch - k)
        if k:
            rows = self.windows[rng.integers(len(self.windows), size=k)].copy()
            drop = rng.random(k) < self.sampler.style_dropout  # same style dropout as the new data
            rows[drop, 1] = self.unknown_style
            x, y = np.concatenate([x, rows[:, :-1]]), np.concatenate([y, rows[:, 1:]])
        return x, y

