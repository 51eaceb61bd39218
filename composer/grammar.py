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

Infilling (vocabularies with the Fill family, composer/fills.py): a bar may be a placeholder,
`Bar [TimeSig] Fill [Program...]`: with no Program listed its notes are all hidden (it keeps
only its Position Tempo pairs); with Programs listed (rising) those instruments' notes are
hidden and the bar shows the others. The hidden content follows the piece, one fill per
placeholder in order, and the sequence ends after the last:

    ... FillStart ( Position ( Program ( Pitch Velocity Duration )+ )+ )* FillEnd ... EOS

A fill holds no Tempo, TimeSig or Bar; its positions stay inside its bar's meter, and its
programs are the listed ones (a bar with none listed: any).

Compact notes (TokenizerConfig.drum_durations False / elide_repeats True, the defaults):
drum notes have no Duration, and within one Program group a note leaves out its Velocity
and/or Duration when it equals the previous note's, so a note is `Pitch [Velocity] [Duration]`.
The first note of a group spells out both (drums: its Velocity); a Velocity or Duration that
is written must differ from the one it would inherit, which keeps the spelling unique.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .score import DRUM_KEY
from .vocab import BAR, BOS, EOS, Vocab

# what the last accepted token was
(START, S_BOS, STYLE, HEAD_TS, HEAD_TEMPO, S_BAR, S_TS, S_POS, S_TEMPO, S_PROGRAM, S_PITCH, S_VEL,
 S_DUR, DONE, S_FILL, S_FILL_PROG, F_START, F_END) = range(18)
COMPLETE = (HEAD_TEMPO, S_BAR, S_TS, S_TEMPO, S_DUR, S_FILL, S_FILL_PROG)  # nothing left half-made
ALL_HIDDEN = np.ones(129, dtype=bool)  # a placeholder with no Program listed


@dataclass
class Constraints:
    """Extra limits for sampling: which instruments, how many bars."""

    programs: list[int] | None = None  # allowed track keys (0-127, 128 drums); None = all
    max_bars: int | None = None  # no Bar beyond this many
    min_bars: int | None = None  # no EOS before this many bars
    meter_changes: bool = True  # False: the header's meter holds throughout
    tempo_changes: bool = True  # False: the header's tempo holds throughout
    placeholders: bool = True  # False: no Fill placeholders (plain generation writes whole bars)


class GrammarState:
    """Incremental parser over token ids; `feed` returns False for a token it rejects."""

    __slots__ = ("v", "c", "last", "ts", "bar_len", "tempo", "bars", "pos", "key", "pitch", "vel", "dur",
                 "hidden", "fills", "filling", "_programs_mask", "_elide", "_drum_dur", "_fill")

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
        self.vel = -1  # velocity / duration bin of the group's previous note (-1: none yet)
        self.dur = -1
        self.hidden = None  # placeholder bar: bool[129] of its hidden instruments (None: a plain bar)
        self.fills: tuple = ()  # (bar length, hidden) of every placeholder so far
        self.filling = -1  # the fill being written (-1: still in the piece)
        self._fill = vocab.fill if vocab.infill else -1  # the Fill id; FillStart +1, FillEnd +2
        self._elide = vocab.config.elide_repeats
        self._drum_dur = vocab.config.drum_durations
        self.constrain(self.c)

    def constrain(self, constraints: Constraints) -> None:
        """Sample under other constraints from here on (a prompt is fed under the grammar alone)."""
        self.c = constraints
        mask = np.ones(129, dtype=bool)
        if constraints.programs is not None:
            mask[:] = False
            mask[list(constraints.programs)] = True
        self._programs_mask = mask

    # ---- what may come next -------------------------------------------------------------
    @property
    def complete(self) -> bool:
        """Nothing is half-made: a Bar, Position or EOS may follow."""
        return self.last in COMPLETE or self.last == F_START or self.note_done

    @property
    def note_done(self) -> bool:
        """The last note has everything it needs: another note, Program, Position may follow."""
        last = self.last
        if last == S_DUR:
            return True
        if last == S_VEL:
            return not self.needs_duration or (self._elide and self.dur >= 0)
        if last == S_PITCH:  # a later note of the group may inherit both
            return self._elide and self.vel >= 0 and (self.dur >= 0 or not self.needs_duration)
        return False

    @property
    def needs_duration(self) -> bool:
        """Notes of the current group carry a Duration (all but drums with compact notes)."""
        return self._drum_dur or self.key != DRUM_KEY

    def _keys(self) -> np.ndarray:
        """The instruments a Program may name here: the constraints', less a placeholder bar's
        hidden ones; in a fill, its placeholder's hidden ones."""
        if self.filling >= 0:
            return self._programs_mask & self.fills[self.filling][1]
        if self.hidden is not None:
            return self._programs_mask & ~self.hidden
        return self._programs_mask

    def _first_tempo_position(self) -> int:
        """The first position of this bar that may carry a Tempo (bar_len: none may)."""
        if not self.c.tempo_changes:
            return self.bar_len
        return 1 if self.bars == 1 else 0

    def allowed(self) -> np.ndarray:
        """Boolean mask over the vocabulary of the tokens `feed` would accept now."""
        v, last = self.v, self.last
        m = np.zeros(len(v), dtype=bool)
        if last == F_END:
            m[self._fill + 1 if self.filling + 1 < len(self.fills) else EOS] = True
        elif last == START:
            m[BOS] = True
        elif last == S_BOS:
            m[v.style:] = True
        elif last == STYLE:
            m[v.timesig:v.tempo] = True
        elif last == HEAD_TS:
            m[v.tempo:v.position] = True
        elif last == S_PROGRAM:
            m[v.pitch:v.velocity] = True
        elif last != DONE:
            if last == S_PITCH:
                m[v.velocity:v.duration] = True
                if self._elide and self.vel >= 0:
                    m[v.velocity + self.vel] = False
            if (last == S_VEL or (last == S_PITCH and self._elide and self.vel >= 0)) and self.needs_duration:
                m[v.duration:v.fill] = True
                if self._elide and self.dur >= 0:
                    m[v.duration + self.dur] = False
            if last not in (S_PITCH, S_VEL) or self.note_done:
                self._body_mask(m)
        return m

    def _body_mask(self, m: np.ndarray) -> None:
        v, last = self.v, self.last
        if last in (S_PITCH, S_VEL):  # a finished note (compact notes)
            last = S_DUR
        if self.filling >= 0:
            self._fill_mask(m, last)
            return
        if last == S_BAR and self.bars > 1 and self.c.meter_changes:
            m[v.timesig:v.tempo] = True  # any meter but the one in force
            m[v.timesig + self.ts] = False
        if last in (S_BAR, S_TS) and self._fill >= 0 and self.c.placeholders:
            m[self._fill] = True
        if last == S_FILL:
            m[v.program:v.pitch] = True
        elif last == S_FILL_PROG:
            m[v.program + self.key + 1:v.pitch] = True
        if last in (S_BAR, S_TS, S_FILL, S_FILL_PROG, S_TEMPO, S_DUR):
            first = self.pos + 1 if last in (S_TEMPO, S_DUR) else 0
            if self.hidden is not None and not self._keys().any():
                first = max(first, self._first_tempo_position())  # a Position must carry a Tempo
            m[v.position + first:v.position + self.bar_len] = True
        if last == S_POS and not (self.bars == 1 and self.pos == 0) and self.c.tempo_changes:
            m[v.tempo:v.position] = True
            m[v.tempo + self.tempo] = False
        if last in (S_POS, S_TEMPO, S_DUR):
            keys = self._keys().copy()
            if last == S_DUR:
                keys[:self.key + 1] = False
            m[v.program:v.pitch] = keys
        if last == S_DUR:
            m[v.pitch + self.pitch + 1:v.velocity] = True
        if self.complete:
            if self.c.max_bars is None or self.bars < self.c.max_bars:
                m[BAR] = True
            if self.c.min_bars is None or self.bars >= self.c.min_bars:
                m[self._fill + 1 if self.fills else EOS] = True  # FillStart: the piece ends, fills follow

    def _fill_mask(self, m: np.ndarray, last: int) -> None:
        """Inside a fill: positions in its bar, its instruments, notes, FillEnd."""
        v = self.v
        if last == F_START:
            if self._keys().any():  # (a Position must carry a note)
                m[v.position:v.position + self.bar_len] = True
        elif last == S_DUR:
            m[v.position + self.pos + 1:v.position + self.bar_len] = True
            m[v.pitch + self.pitch + 1:v.velocity] = True
        if last in (S_POS, S_DUR):
            keys = self._keys().copy()
            if last == S_DUR:
                keys[:self.key + 1] = False
            m[v.program:v.pitch] = keys
        if last in (F_START, S_DUR):
            m[self._fill + 2] = True

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
        if last == F_END:
            return t == (self._fill + 1 if self.filling + 1 < len(self.fills) else EOS)
        if last == DONE or t < 0 or t >= v.style:
            return False
        if v.velocity <= t < v.fill:  # Velocity or Duration: the note being spelled out
            if t < v.duration:
                return last == S_PITCH and not (self._elide and t - v.velocity == self.vel)
            return ((last == S_VEL or (last == S_PITCH and self._elide and self.vel >= 0))
                    and self.needs_duration and not (self._elide and t - v.duration == self.dur))
        if last in (S_PITCH, S_VEL):
            if not self.note_done:
                return False
            last = S_DUR  # a finished note: the same rules as after a Duration
        if self.filling >= 0:
            return self._fill_accepts(t, last)
        if t >= v.fill:  # Fill, FillStart (FillEnd only ends a fill)
            if t == self._fill:
                return last in (S_BAR, S_TS) and self.c.placeholders
            return (t == self._fill + 1 and bool(self.fills) and last in COMPLETE
                    and (self.c.min_bars is None or self.bars >= self.c.min_bars))
        if t == BAR or t == EOS:
            if last not in COMPLETE:
                return False
            if t == BAR:
                return self.c.max_bars is None or self.bars < self.c.max_bars
            return not self.fills and (self.c.min_bars is None or self.bars >= self.c.min_bars)
        if t < v.tempo:  # TimeSig
            return (t >= v.timesig and last == S_BAR and self.bars > 1 and t - v.timesig != self.ts
                    and self.c.meter_changes)
        if t < v.position:  # Tempo
            return (last == S_POS and not (self.bars == 1 and self.pos == 0)
                    and t - v.tempo != self.tempo and self.c.tempo_changes)
        if t < v.program:  # Position
            p = t - v.position
            if self.hidden is not None and not self._keys().any() and p < self._first_tempo_position():
                return False  # nothing visible may play here: the Position must carry a Tempo
            if last in (S_BAR, S_TS, S_FILL, S_FILL_PROG):
                return p < self.bar_len
            return last in (S_TEMPO, S_DUR) and self.pos < p < self.bar_len
        if t < v.pitch:  # Program
            k = t - v.program
            if last == S_FILL:
                return True
            if last == S_FILL_PROG:
                return k > self.key
            return (last in (S_POS, S_TEMPO, S_DUR) and bool(self._keys()[k])
                    and (last != S_DUR or k > self.key))
        return last == S_DUR and t - v.pitch > self.pitch  # Pitch

    def _fill_accepts(self, t: int, last: int) -> bool:
        v = self.v
        if t == self._fill + 2:  # FillEnd
            return last in (F_START, S_DUR)
        if v.position <= t < v.program:
            p = t - v.position
            if last == F_START:
                return p < self.bar_len and bool(self._keys().any())
            return last == S_DUR and self.pos < p < self.bar_len
        if v.program <= t < v.pitch:
            k = t - v.program
            return last in (S_POS, S_DUR) and bool(self._keys()[k]) and (last != S_DUR or k > self.key)
        if v.pitch <= t < v.velocity:
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
            self.last, self.bars, self.pos, self.key, self.hidden = S_BAR, self.bars + 1, -1, -1, None
        elif t >= v.fill:
            if t == self._fill:
                self.last, self.hidden = S_FILL, ALL_HIDDEN
                self.fills += ((self.bar_len, ALL_HIDDEN),)
            elif t == self._fill + 1:  # FillStart
                self.filling += 1
                self.last, self.pos, self.key, self.hidden = F_START, -1, -1, None
                self.bar_len = self.fills[self.filling][0]
            else:
                self.last = F_END
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
            k = t - v.program
            if self.last in (S_FILL, S_FILL_PROG):  # a hidden instrument of this placeholder
                hidden = np.zeros(129, dtype=bool) if self.last == S_FILL else self.hidden.copy()
                hidden[k] = True
                self.hidden, self.last, self.key = hidden, S_FILL_PROG, k
                self.fills = self.fills[:-1] + ((self.bar_len, hidden),)
            else:
                self.last, self.key, self.pitch, self.vel, self.dur = S_PROGRAM, k, -1, -1, -1
        elif t < v.velocity:
            self.last, self.pitch = S_PITCH, t - v.pitch
        elif t < v.duration:
            self.last, self.vel = S_VEL, t - v.velocity
        else:
            self.last, self.dur = S_DUR, t - v.duration
        return True

    def snapshot(self) -> tuple:
        return (self.last, self.ts, self.bar_len, self.tempo, self.bars, self.pos, self.key, self.pitch,
                self.vel, self.dur, self.hidden, self.fills, self.filling)

    def restore(self, snap: tuple) -> None:
        (self.last, self.ts, self.bar_len, self.tempo, self.bars, self.pos, self.key, self.pitch,
         self.vel, self.dur, self.hidden, self.fills, self.filling) = snap

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
