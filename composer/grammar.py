"""The token grammar: which token may come next. One state machine serves three jobs.

- `decode` feeds every token through it and skips (repairs) what it rejects, so no sequence
  a model can emit ever crashes it;
- `is_valid`/`validate` say whether a sequence is well-formed (encode only emits those);
- the sampler asks `allowed()` for a mask at every step, so generated sequences are
  well-formed by construction.

A well-formed sequence is canonical, which is what makes encode(decode(t)) == t:

    BOS Style TimeSig Tempo ( Bar [TimeSig] ( Position [Tempo] ( Program ( Pitch Velocity Duration )+ )* )* )* EOS

- a TimeSig after Bar changes the meter (never in the first bar: the header holds it);
  a Tempo after Position changes the tempo (never at the first bar's position 0);
  both must differ from the value in force;
- positions rise strictly within a bar and stay below the bar length; programs rise strictly
  within a position (drums last); pitches rise strictly within a program group;
- a Position carries a Tempo or at least one note.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .vocab import BAR, BOS, EOS, Vocab

# what the last accepted token was
(START, S_BOS, STYLE, HEAD_TS, HEAD_TEMPO, S_BAR, S_TS, S_POS, S_TEMPO, S_PROGRAM, S_PITCH, S_VEL,
 S_DUR, DONE) = range(14)
COMPLETE = (HEAD_TEMPO, S_BAR, S_TS, S_TEMPO, S_DUR)  # states where nothing is left half-made


@dataclass
class Constraints:
    """Extra limits for sampling: which instruments, how many bars."""

    programs: list[int] | None = None  # allowed track keys (0-127, 128 drums); None = all
    max_bars: int | None = None  # no Bar beyond this many
    min_bars: int | None = None  # no EOS before this many bars
    meter_changes: bool = True  # False: the header's meter holds throughout
    tempo_changes: bool = True  # False: the header's tempo holds throughout


class GrammarState:
    """Incremental parser over token ids; `feed` returns False for a token it rejects."""

    __slots__ = ("v", "c", "last", "ts", "bar_len", "tempo", "bars", "pos", "key", "pitch",
                 "_programs_mask")

    def __init__(self, vocab: Vocab, constraints: Constraints | None = None):
        self.v = vocab
        self.c = constraints or Constraints()
        self.last = START
        self.ts = -1  # index into vocab.time_signatures
        self.bar_len = 0
        self.tempo = -1  # tempo bin
        self.bars = 0  # Bar tokens seen
        self.pos = -1
        self.key = -1  # program key of the current group
        self.pitch = -1
        mask = np.ones(129, dtype=bool)
        if self.c.programs is not None:
            mask[:] = False
            mask[list(self.c.programs)] = True
        self._programs_mask = mask

    # ---- what may come next -------------------------------------------------------------
    @property
    def complete(self) -> bool:
        """Nothing is half-made: a Bar, Position or EOS may follow."""
        return self.last in COMPLETE

    def allowed(self) -> np.ndarray:
        """Boolean mask over the vocabulary of the tokens `feed` would accept now."""
        v, last = self.v, self.last
        m = np.zeros(len(v), dtype=bool)
        if last == START:
            m[BOS] = True
        elif last == S_BOS:
            m[v.style:] = True
        elif last == STYLE:
            m[v.timesig:v.tempo] = True
        elif last == HEAD_TS:
            m[v.tempo:v.position] = True
        elif last == S_PROGRAM:
            m[v.pitch:v.velocity] = True
        elif last == S_PITCH:
            m[v.velocity:v.duration] = True
        elif last == S_VEL:
            m[v.duration:v.style] = True
        elif last != DONE:
            self._body_mask(m)
        return m

    def _body_mask(self, m: np.ndarray) -> None:
        v, last = self.v, self.last
        if last == S_BAR and self.bars > 1 and self.c.meter_changes:
            m[v.timesig:v.tempo] = True  # any meter but the one in force
            m[v.timesig + self.ts] = False
        if last in (S_BAR, S_TS):
            m[v.position:v.position + self.bar_len] = True
        elif last in (S_TEMPO, S_DUR):
            m[v.position + self.pos + 1:v.position + self.bar_len] = True
        if last == S_POS and not (self.bars == 1 and self.pos == 0) and self.c.tempo_changes:
            m[v.tempo:v.position] = True
            m[v.tempo + self.tempo] = False
        if last in (S_POS, S_TEMPO, S_DUR):
            keys = self._programs_mask.copy()
            if last == S_DUR:
                keys[:self.key + 1] = False
            m[v.program:v.pitch] = keys
        if last == S_DUR:
            m[v.pitch + self.pitch + 1:v.velocity] = True
        if self.complete:
            if self.c.max_bars is None or self.bars < self.c.max_bars:
                m[BAR] = True
            if self.c.min_bars is None or self.bars >= self.c.min_bars:
                m[EOS] = True

    # ---- accepting tokens ---------------------------------------------------------------
    def accepts(self, token: int) -> bool:
        """Whether `feed(token)` would succeed: the scalar form of `allowed()[token]`."""
        v, t, last = self.v, int(token), self.last
        if last == START:
            return t == BOS
        if last == S_BOS:
            return v.style <= t < v.size
        if last == STYLE:
            return v.timesig <= t < v.tempo
        if last == HEAD_TS:
            return v.tempo <= t < v.position
        if last == S_PROGRAM:
            return v.pitch <= t < v.velocity
        if last == S_PITCH:
            return v.velocity <= t < v.duration
        if last == S_VEL:
            return v.duration <= t < v.style
        if last == DONE or t < 0:
            return False
        if t == BAR or t == EOS:
            if last not in COMPLETE:
                return False
            if t == BAR:
                return self.c.max_bars is None or self.bars < self.c.max_bars
            return self.c.min_bars is None or self.bars >= self.c.min_bars
        if t < v.tempo:  # TimeSig
            return (t >= v.timesig and last == S_BAR and self.bars > 1 and t - v.timesig != self.ts
                    and self.c.meter_changes)
        if t < v.position:  # Tempo
            return (last == S_POS and not (self.bars == 1 and self.pos == 0)
                    and t - v.tempo != self.tempo and self.c.tempo_changes)
        if t < v.program:  # Position
            p = t - v.position
            if last in (S_BAR, S_TS):
                return p < self.bar_len
            return last in (S_TEMPO, S_DUR) and self.pos < p < self.bar_len
        if t < v.pitch:  # Program
            k = t - v.program
            return (last in (S_POS, S_TEMPO, S_DUR) and bool(self._programs_mask[k])
                    and (last != S_DUR or k > self.key))
        if t < v.velocity:  # Pitch
            return last == S_DUR and t - v.pitch > self.pitch
        return False

    def feed(self, token: int) -> bool:
        """Advance on `token` if it is allowed; return whether it was."""
        if not self.accepts(token):
            return False
        v, t = self.v, int(token)
        if t == BOS:
            self.last = S_BOS
        elif t >= v.style:
            self.last = STYLE
        elif t == EOS:
            self.last = DONE
        elif t == BAR:
            self.last, self.bars, self.pos, self.key = S_BAR, self.bars + 1, -1, -1
        elif t < v.tempo:  # TimeSig
            self.ts = t - v.timesig
            self.bar_len = int(v.bar_steps[self.ts])
            self.last = HEAD_TS if self.last == STYLE else S_TS
        elif t < v.position:  # Tempo
            self.tempo = t - v.tempo
            self.last = HEAD_TEMPO if self.last == HEAD_TS else S_TEMPO
        elif t < v.program:
            self.last, self.pos, self.key = S_POS, t - v.position, -1
        elif t < v.pitch:
            self.last, self.key, self.pitch = S_PROGRAM, t - v.program, -1
        elif t < v.velocity:
            self.last, self.pitch = S_PITCH, t - v.pitch
        elif t < v.duration:
            self.last = S_VEL
        else:
            self.last = S_DUR
        return True

    def snapshot(self) -> tuple:
        return (self.last, self.ts, self.bar_len, self.tempo, self.bars, self.pos, self.key, self.pitch)

    def restore(self, snap: tuple) -> None:
        (self.last, self.ts, self.bar_len, self.tempo, self.bars, self.pos, self.key, self.pitch) = snap

    def copy(self) -> "GrammarState":
        new = GrammarState.__new__(GrammarState)
        for s in self.__slots__:
            setattr(new, s, getattr(self, s))
        return new


def validate(vocab: Vocab, tokens) -> list[str]:
    """Problems with a token sequence, as readable strings (empty when well-formed)."""
    state, problems = GrammarState(vocab), []
    for i, t in enumerate(tokens):
        if not state.feed(t):
            problems.append(f"token {i} ({vocab.describe([t])[0]}) not allowed here")
    if state.last != DONE:
        problems.append("sequence does not end with EOS")
    return problems


def is_valid(vocab: Vocab, tokens) -> bool:
    return not validate(vocab, tokens)
