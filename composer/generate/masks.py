"""Named logit masks and nudges for sampling (after jthickstun/anticipation's style): what the
grammar allows is composer/grammar.py; these add the request's own limits."""

from __future__ import annotations

import numpy as np

from ..vocab import BAR, EOS


class Nudge:
    """Every instrument the user named keeps playing: while one of them has been silent for a
    whole bar (or has not come in yet), its Program tokens get a logit bonus of NUDGE for each
    such bar, so a style that never plays it (pop with drums) brings it in and keeps it, and
    a style that does is left alone. A fill (FillStart) is a bar too: `arrange` nudges the
    band it was asked for."""

    NUDGE = 4.0  # nats a silent bar

    def __init__(self, vocab, wanted: list[set[int]], present: set[int]):
        self.v = vocab
        self.wanted = wanted
        self.ids = [np.array([vocab.program + k for k in sorted(g)], dtype=np.int64) for g in wanted]
        self.silent = [0 if g & present else 1 for g in wanted]  # bars each has been silent
        self.bar_tokens = (BAR, vocab.fill + 1) if vocab.infill else (BAR,)

    def feed(self, token: int) -> None:
        if not self.wanted:
            return
        if token in self.bar_tokens:
            self.silent = [n + 1 for n in self.silent]
        elif self.v.program <= token < self.v.pitch:
            k = token - self.v.program
            self.silent = [0 if k in g else n for g, n in zip(self.wanted, self.silent)]

    def apply(self, row: np.ndarray) -> np.ndarray:
        quiet = [(ids, n - 1) for ids, n in zip(self.ids, self.silent) if n > 1]
        if not quiet:
            return row
        row = row.copy()
        for ids, bars in quiet:
            row[ids] += self.NUDGE * bars
        return row


class TokenBudget:
    """The sampling mask: the grammar's, and past `max_tokens` (a piece stuck in one bar, a
    fill at the end of the context) only what finishes the note and then bar lines (FillEnd)."""

    def __init__(self, vocab, max_tokens: int):
        self.max_tokens = max_tokens
        self.closing = np.zeros(len(vocab), dtype=bool)
        self.closing[[BAR, EOS]] = True
        self.closing[vocab.velocity:vocab.fill] = True
        if vocab.infill:
            self.closing[vocab.fill + 2] = True

    def mask(self, state, length: int) -> np.ndarray:
        m = state.allowed()
        if length >= self.max_tokens and (m & self.closing).any():
            m &= self.closing
        return m
