"""Training windows from a tokenised corpus (the cache `compose tokenize` writes).

Every window is a well-formed sequence prefix: `BOS Style TimeSig Tempo Bar ...`, starting on
a bar line of a piece, with the style, meter and tempo in force there as its header, so the
model always knows the context. Each piece's tokens are held in memory (int32, as cached).

Augmentation: style dropout (the unknown-style token, for classifier-free guidance) and a
random transposition of pitched notes (never drums) that keeps every pitch in 0..127. A share
of the windows (`keep_key`) stays in its own key, so the model learns every key and also which
keys a style is written in (a fiddle tune in D or G, not in E flat).

Infilling (`infill`: the share of windows it applies to): cells hidden from a random bar on
and written after the piece (composer/fills.py), drawn as the requests come: a span of whole
bars (`compose infill --bars`), some instruments over a span of bars (`--tracks`, `arrange
--replace`), or every instrument but one from that bar on (`arrange`); the window around
them is the one `compose infill` would use for its first cell (fills.window_bars).
"""

from __future__ import annotations

import hashlib

import numpy as np

from .. import fills
from ..bars import Piece, index_piece, window_at
from ..vocab import PAD, PITCH, PROGRAM, Vocab


def split_by_file(keys: list[str], val_fraction: float, groups: list | None = None,
                  seed: int = 0) -> tuple[list[int], list[int]]:
    """Train/validation split by file, stratified by group (style): each group holds out
    round(val_fraction * its files), at least one and never all of them when it has two or more
    (a group of one file trains). Which files: the lowest of a seeded hash of each key (e.g.
    its sha256), so the split is deterministic; files with the same key stay together."""
    groups = groups if groups is not None else [None] * len(keys)
    members: dict = {}
    for k, g in zip(keys, groups):
        members.setdefault(g, {})[k] = None  # unique keys, in order
    held_out = set()
    for unique in members.values():
        n = len(unique)
        take = 0 if val_fraction <= 0 or n < 2 else min(n - 1, max(1, round(val_fraction * n)))
        held_out.update(sorted(unique, key=lambda k: hashlib.sha256(f"split:{seed}:{k}".encode()).digest())[:take])
    train = [i for i, k in enumerate(keys) if k not in held_out]
    val = [i for i, k in enumerate(keys) if k in held_out]
    return train, val


class WindowSampler:
    """Draws (input, target) windows of `context` tokens from a list of pieces."""

    def __init__(self, pieces: list[Piece], vocab: Vocab, context: int, style_dropout: float = 0.1,
                 transpose: int = 6, keep_key: float = 0.0, infill: float = 0.0):
        self.pieces = [p for p in pieces if len(p.bars)]
        if not self.pieces:
            raise ValueError("no pieces with bars to train on")
        self.vocab, self.context = vocab, context
        self.style_dropout, self.transpose, self.keep_key = style_dropout, transpose, keep_key
        self.infill = infill if vocab.infill else 0.0
        lengths = np.array([len(p.tokens) for p in self.pieces], dtype=np.float64)
        self.weights = lengths / lengths.sum()

    def window(self, piece: Piece, bar: int, style: int | None = None, shift: int = 0) -> np.ndarray:
        """The canonical sequence starting at `bar` of `piece`, at most context + 1 tokens."""
        seq = window_at(piece, bar, self.vocab, self.context + 1, style)
        return transpose(seq, self.vocab, shift) if shift else seq

    def sample(self, rng: np.random.Generator, batch: int) -> tuple[np.ndarray, np.ndarray]:
        out = np.full((batch, self.context + 1), PAD, dtype=np.int64)
        for b in range(batch):
            piece = self.pieces[rng.choice(len(self.pieces), p=self.weights)]
            bar = int(rng.integers(len(piece.bars)))
            style = self.vocab.style if rng.random() < self.style_dropout else None
            shift = 0
            if self.transpose and not (self.keep_key and rng.random() < self.keep_key):
                shift = int(rng.integers(-self.transpose, self.transpose + 1))
            if self.infill and rng.random() < self.infill:
                seq = self.hidden_window(piece, bar, style, rng)
                seq = transpose(seq, self.vocab, shift) if shift else seq
            else:
                seq = self.window(piece, bar, style, shift)
            out[b, : len(seq)] = seq
        return out[:, :-1], out[:, 1:]

    def hidden_window(self, piece: Piece, bar: int, style: int | None, rng: np.random.Generator) -> np.ndarray:
        """Cells hidden from `bar` on (draw_cells), in the window an infill request would use
        to write the first of them (fills.window_bars: the bars before it written, the rest
        placeholders), the fills after the piece: at most context + 1 tokens."""
        v = self.vocab
        first = max(0, bar - 16)  # the piece from 16 bars before on is enough for any window
        region = fills.parse(window_at(piece, first, v, 4 * self.context, style), v)
        cells = draw_cells(region, bar - first, rng)
        start, end = fills.window_bars(region, sorted(cells), cells, self.context - 12)
        window = fills.parse(window_at(piece, first + start, v, 3 * self.context, style), v)
        window.bars, window.ended = window.bars[:end - start], False
        main, contents = fills.hide(window.tokens(), {b - start: c for b, c in cells.items()
                                                      if start <= b < end}, v)
        return np.asarray(fills.with_fills(main, contents, v)[:self.context + 1], dtype=np.int64)

    def fixed_windows(self, max_windows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """A deterministic set of windows (no augmentation) for validation."""
        rng = np.random.default_rng(seed)
        rows = []
        for i in range(max_windows):
            piece = self.pieces[i % len(self.pieces)]
            rows.append(self.window(piece, int(rng.integers(len(piece.bars)))))
        out = np.full((len(rows), self.context + 1), PAD, dtype=np.int64)
        for i, r in enumerate(rows):
            out[i, : len(r)] = r
        return out[:, :-1], out[:, 1:]


def draw_cells(piece: fills.Piece, bar: int, rng: np.random.Generator) -> fills.Cells:
    """Cells to hide from `bar` on, as users ask (shares in brackets): 1 to 8 whole bars (40%);
    some of the instruments over 1 to 8 bars, or to the end (40%); every instrument but one
    to the end (20%, accompaniment). With one instrument near `bar`, always whole bars."""
    n = len(piece.bars)
    bar = min(bar, n - 1)
    near = piece.bars[bar:bar + 8]
    keys = sorted({k for b in near for _, _, groups in b.onsets for k, _ in groups})
    kind = rng.random()
    length = int(rng.integers(1, 9))
    if kind < 0.4 or len(keys) < 2:
        return {b: None for b in range(bar, min(n, bar + length))}
    if kind < 0.8:
        hidden = frozenset(rng.choice(keys, size=int(rng.integers(1, len(keys))), replace=False).tolist())
        end = n if rng.random() < 0.5 else min(n, bar + length)
    else:
        hidden = frozenset(keys) - {keys[int(rng.integers(len(keys)))]}
        end = n
    return {b: hidden for b in range(bar, end)}


def transpose(seq: np.ndarray, vocab: Vocab, shift: int) -> np.ndarray:
    """Shift pitched notes (not drums) by up to `shift` semitones, clipped so all stay in 0..127."""
    v = vocab
    fam = v.family(seq)
    is_pitch = fam == PITCH
    if not is_pitch.any():
        return seq
    prog_at = np.where(fam == PROGRAM, np.arange(len(seq)), -1)
    last_prog = np.maximum.accumulate(prog_at)
    group = np.where(last_prog >= 0, seq[np.maximum(last_prog, 0)] - v.program, -1)
    pitched = is_pitch & (group != 128) & (group >= 0)
    if not pitched.any():
        return seq
    pitches = seq[pitched] - v.pitch
    shift = int(np.clip(shift, -pitches.min(), 127 - pitches.max()))
    out = seq.copy()
    out[pitched] += shift
    return out


__all__ = ["Piece", "WindowSampler", "draw_cells", "index_piece", "split_by_file", "transpose", "window_at"]
