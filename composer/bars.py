"""A token sequence seen bar by bar, and its canonical windows.

A canonical window is a well-formed sequence `BOS Style TimeSig Tempo Bar ...` that starts on
a bar line of a piece, with the meter and tempo in force there moved into its header. Training
draws its windows this way (composer/training/windows.py), and generation continues a piece
that outgrew the model's context from one (composer/generate/decode.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .vocab import BAR, BOS, TEMPO, TIMESIG, Vocab


@dataclass
class Piece:
    tokens: np.ndarray  # int32, as cached (style token = unknown)
    style: int  # style token id for this piece
    bars: np.ndarray  # index of every Bar token
    bar_ts: np.ndarray  # TimeSig token in force at each bar (a change right after it included)
    bar_tempo: np.ndarray  # Tempo token in force just before each bar


def index_piece(tokens: np.ndarray, style: int, vocab: Vocab) -> Piece:
    tokens = np.asarray(tokens)
    bars = np.flatnonzero(tokens == BAR)
    fam = vocab.family(tokens)
    ts_at = np.flatnonzero(fam == TIMESIG)
    tempo_at = np.flatnonzero(fam == TEMPO)
    # the last TimeSig at or right after the Bar token, the last Tempo before it
    ts_idx = ts_at[np.searchsorted(ts_at, bars + 1, side="right") - 1]
    tempo_idx = tempo_at[np.searchsorted(tempo_at, bars, side="right") - 1]
    return Piece(tokens, style, bars, tokens[ts_idx].astype(np.int64), tokens[tempo_idx].astype(np.int64))


def window_at(piece: Piece, bar: int, vocab: Vocab, max_len: int, style: int | None = None) -> np.ndarray:
    """The canonical sequence `BOS Style TimeSig Tempo Bar ...` starting at `bar` of `piece`
    (at most max_len tokens): meter and tempo in force there move into the header."""
    v, toks = vocab, piece.tokens
    start = int(piece.bars[bar]) + 1
    ts, tempo = int(piece.bar_ts[bar]), int(piece.bar_tempo[bar])
    if start < len(toks) and v.timesig <= toks[start] < v.tempo:
        start += 1  # a meter change on this bar is the header's meter
    body = np.asarray(toks[start:start + max_len], dtype=np.int64)
    if len(body) > 1 and body[0] == v.position and v.tempo <= body[1] < v.position:
        tempo = int(body[1])  # a tempo change on the downbeat is the header's tempo
        empty = len(body) < 3 or not (v.program <= body[2] < v.pitch)
        body = body[2:] if empty else np.r_[body[0], body[2:]]
    style = piece.style if style is None else style
    return np.r_[BOS, style, ts, tempo, BAR, body][:max_len]
