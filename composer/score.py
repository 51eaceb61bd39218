"""The one internal score representation every reader produces and every writer consumes.

A `Score` is a few numpy arrays in MIDI ticks, so readers, the tokenizer and writers can
work on whole columns at once instead of per-note Python objects:

- `Track.notes`: int64 array of shape (N, 4), columns ONSET, DURATION, PITCH, VELOCITY.
- `Score.tempos`: float64 (T, 2): tick, quarter notes per minute.
- `Score.time_signatures`: int64 (S, 3): tick, numerator, denominator.
- `Score.key_signatures`: int64 (K, 3): tick, sharps (-7..7), mode (0 major, 1 minor).
- `Score.end`: nominal length in ticks (at least the end of the last note).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

ONSET, DURATION, PITCH, VELOCITY = range(4)
DRUM_KEY = 128  # track key of a drum track: never confused with program 0
DEFAULT_QPM = 120.0
DEFAULT_TIME_SIGNATURE = (4, 4)


def empty_notes() -> np.ndarray:
    return np.zeros((0, 4), dtype=np.int64)


@dataclass
class Track:
    program: int  # General MIDI program 0-127 (ignored for drums)
    is_drum: bool = False
    name: str = ""
    notes: np.ndarray = field(default_factory=empty_notes)
    channel: int | None = None  # MIDI channel 0-15 the track played on in its file, if known;
    # a writer keeps it where it is free (drums: always channel 10)

    @property
    def key(self) -> int:
        """Identity of the instrument in token space: the GM program, or DRUM_KEY."""
        return DRUM_KEY if self.is_drum else int(self.program)


@dataclass
class Score:
    tpq: int
    tracks: list[Track] = field(default_factory=list)
    tempos: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.float64))
    time_signatures: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), dtype=np.int64))
    key_signatures: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), dtype=np.int64))
    end: int = 0

    @property
    def note_count(self) -> int:
        return sum(len(t.notes) for t in self.tracks)

    def notes_end(self) -> int:
        """Tick at which the last note ends (0 for a score without notes)."""
        ends = [int((t.notes[:, ONSET] + t.notes[:, DURATION]).max()) for t in self.tracks if len(t.notes)]
        return max(ends, default=0)

    def seconds(self) -> float:
        """Length in seconds, following the tempo map."""
        return ticks_to_seconds(self, max(self.end, self.notes_end()))

    def bar_starts(self, until: int | None = None) -> np.ndarray:
        """Ticks of every bar line from 0 up to (and including the bar containing) `until`."""
        until = max(self.end, self.notes_end()) if until is None else until
        sigs = self.time_signatures if len(self.time_signatures) else np.array([[0, *DEFAULT_TIME_SIGNATURE]])
        starts: list[np.ndarray] = []
        tick = 0
        for i, (t0, num, den) in enumerate(sigs):
            seg_end = int(sigs[i + 1][0]) if i + 1 < len(sigs) else max(until, tick) + 1
            bar = max(1, int(round(self.tpq * 4 * num / den)))
            tick = max(tick, int(t0))
            n = max(0, -(-(seg_end - tick) // bar))
            starts.append(tick + bar * np.arange(n, dtype=np.int64))
            tick += bar * n
        out = np.concatenate(starts) if starts else np.zeros(0, dtype=np.int64)
        return out[out <= until] if len(out) else np.zeros(1, dtype=np.int64)


def ticks_to_seconds(score: Score, tick: float) -> float:
    tempos = score.tempos if len(score.tempos) else np.array([[0.0, DEFAULT_QPM]])
    seconds, last_tick, qpm = 0.0, 0.0, DEFAULT_QPM
    for t, q in tempos:
        if t >= tick:
            break
        seconds += (t - last_tick) * 60.0 / (qpm * score.tpq)
        last_tick, qpm = t, q
    return seconds + (tick - last_tick) * 60.0 / (qpm * score.tpq)
