"""The event tokenizer: Score <-> token ids, REMI-style and multi-track.

    tok = Tokenizer(TokenizerConfig(styles=["jazz", "pop"]))
    ids = tok.encode(score, style="jazz")      # np.int32 array
    back = tok.decode(ids)                      # Score on the tokenizer's grid

A piece is `BOS Style TimeSig Tempo`, then per bar `Bar [TimeSig]` and per onset
`Position [Tempo]`, then per instrument `Program` and per note `Pitch Velocity Duration`,
where drum notes have no Duration and a note leaves out a Velocity or Duration equal to the
previous note's in its group (see grammar.py for the exact rules). `quantise(score)` snaps a score to what the tokens can
express (the grid, the bins, merged same-program tracks, meter changes on bar lines);
decode(encode(x)) == quantise(x), and encode(decode(t)) == t for every well-formed t.

encode works on whole numpy columns: every token gets a sort key (bar, position, kind,
program, pitch, slot), and one argsort lays out the sequence.
"""

from __future__ import annotations


import numpy as np

from . import fills, grammar
from .score import DEFAULT_QPM, DEFAULT_TIME_SIGNATURE, DRUM_KEY, DURATION, ONSET, PITCH, VELOCITY, Score, Track
from .vocab import BAR, BOS, EOS, TokenizerConfig, Vocab


class Tokenizer:
    def __init__(self, config: TokenizerConfig | None = None):
        self.config = config or TokenizerConfig()
        self.vocab = Vocab(self.config)

    # ---- persistence ----------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"config": self.config.to_dict(), "vocabulary": self.vocab.names}

    @classmethod
    def from_dict(cls, d: dict) -> "Tokenizer":
        tok = cls(TokenizerConfig.from_dict(d["config"]))
        if "vocabulary" in d and d["vocabulary"] != tok.vocab.names:
            raise ValueError("stored vocabulary does not match the tokenizer config")
        return tok

    def with_styles(self, styles: list[str]) -> "Tokenizer":
        """The same tokenizer with `styles` appended to its style list (ids of others kept)."""
        extra = [s for s in styles if s not in self.config.styles]
        return Tokenizer(TokenizerConfig.from_dict({**self.config.to_dict(),
                                                    "styles": self.config.styles + extra}))

    def with_infill(self) -> "Tokenizer":
        """The same tokenizer with the Fill tokens (only style ids move: they come after them)."""
        return Tokenizer(TokenizerConfig.from_dict({**self.config.to_dict(), "infill": True}))

    def rows_from(self, older: "Tokenizer") -> np.ndarray:
        """For each id here, the id of the same token in `older` (-1: a token it lacks)."""
        return np.array([older.vocab.ids.get(n, -1) for n in self.vocab.names], dtype=np.int64)

    def ids_from(self, older: "Tokenizer") -> np.ndarray:
        """For each id of `older`, the id of the same token here (-1: a token this one lacks)."""
        return np.array([self.vocab.ids.get(n, -1) for n in older.vocab.names], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.vocab)

    # ---- quantisation -----------------------------------------------------------------------
    def _steps(self, ticks, tpq: int) -> np.ndarray:
        return np.floor(np.asarray(ticks, dtype=np.float64) * self.config.resolution / tpq + 0.5).astype(np.int64)

    def meter_spelling(self, num: int, den: int) -> int | None:
        """Index of the allowed meter for num/den: itself or an equal-length spelling (None:
        the tokens cannot hold it)."""
        idx = self.vocab.ts_index
        for k in (1, 2, 4, 8):
            for n, d in ((num * k, den * k), (num / k, den / k)):
                if n == int(n) and d == int(d) and (int(n), int(d)) in idx:
                    return idx[(int(n), int(d))]
        return None

    def _time_signature_index(self, num: int, den: int) -> int:
        """Index of the allowed meter for num/den: meter_spelling's, or 4/4."""
        found = self.meter_spelling(num, den)
        return self.vocab.ts_index[DEFAULT_TIME_SIGNATURE] if found is None else found

    def _meter_map(self, score: Score) -> list[tuple[int, int]]:
        """(start step, meter index) per meter, each starting on a bar line of the one before."""
        sigs = score.time_signatures
        if not len(sigs) or self._steps(sigs[0, 0], score.tpq) > 0:
            sigs = np.vstack([[[0, *DEFAULT_TIME_SIGNATURE]], sigs]) if len(sigs) else np.array([[0, 4, 4]])
        out: list[tuple[int, int]] = []
        for t, num, den in sigs:
            ts = self._time_signature_index(int(num), int(den))
            step = int(self._steps(t, score.tpq))
            if out:
                start, prev = out[-1]
                bar = int(self.vocab.bar_steps[prev])
                step = start + max(0, -(-(step - start) // bar)) * bar  # next bar line at or after
                if step == start:
                    out.pop()
            if out and out[-1][1] == ts:
                continue
            out.append((step, ts))
        return out

    def _bar_starts(self, meters: list[tuple[int, int]], end: int) -> np.ndarray:
        """Step of every bar line before `end` (a bar line itself)."""
        parts = []
        for i, (start, ts) in enumerate(meters):
            stop = meters[i + 1][0] if i + 1 < len(meters) else end
            parts.append(np.arange(start, max(start, stop), self.vocab.bar_steps[ts], dtype=np.int64))
        return np.concatenate(parts)

    def _meter_at(self, meters, step: int) -> tuple[int, int]:
        """(start step, bar length) of the meter in force at `step`."""
        start, ts = max((m for m in meters if m[0] <= step), default=meters[0])
        return start, int(self.vocab.bar_steps[ts])

    def _bar_line_at_or_before(self, meters, step: int) -> int:
        start, bar = self._meter_at(meters, step)
        return start + max(0, step - start) // bar * bar

    def _end_step(self, meters, last: int) -> int:
        """First bar line at or after step `last`."""
        start, bar = self._meter_at(meters, last)
        return start + -(-(last - start) // bar) * bar

    def _quantised_columns(self, score: Score):
        """The score on the grid as flat columns, plus meters, tempo changes and end."""
        v, tpq = self.vocab, score.tpq
        meters = self._meter_map(score)

        cols = []
        for track in score.tracks:
            n = track.notes
            if not len(n):
                continue
            onset = self._steps(n[:, ONSET], tpq)
            length = np.maximum(self._steps(n[:, ONSET] + n[:, DURATION], tpq) - onset, 1)
            dur = _nearest(v.durations, length)
            vel = _nearest(v.velocities, np.clip(n[:, VELOCITY], 1, 127))
            pitch = np.clip(n[:, PITCH], 0, 127)
            key = np.full(len(n), track.key, dtype=np.int64)
            cols.append(np.stack([onset, key, pitch, dur, vel], axis=1))
        notes = np.concatenate(cols) if cols else np.zeros((0, 5), dtype=np.int64)
        notes = notes[notes[:, 0] >= 0]
        if len(notes):  # one note per (onset, instrument, pitch): the longest, then the loudest
            order = np.lexsort((-notes[:, 4], -notes[:, 3], notes[:, 2], notes[:, 1], notes[:, 0]))
            notes = notes[order]
            keep = np.ones(len(notes), dtype=bool)
            keep[1:] = np.any(notes[1:, :3] != notes[:-1, :3], axis=1)
            notes = notes[keep]

        # bars run past the last onset (notes may ring on beyond the last bar line), and to the
        # last bar line at or before score.end: a file that ends with the release of a note
        # ringing past its last bar line gets no extra, empty bar
        last = max(self._bar_line_at_or_before(meters, int(self._steps(score.end, tpq))),
                   int(notes[:, 0].max()) + 1 if len(notes) else 0)
        end = self._end_step(meters, last)
        meters = [m for m in meters if m[0] < end] or meters[:1]

        if len(score.tempos):
            order = np.argsort(score.tempos[:, 0], kind="stable")
            t_step = self._steps(score.tempos[order, 0], tpq)
            t_bin = _nearest_log(v.tempos, np.clip(score.tempos[order, 1], 1e-3, None))
            if t_step[0] > 0:
                t_step, t_bin = np.r_[0, t_step], np.r_[_nearest_log(v.tempos, np.array([DEFAULT_QPM])), t_bin]
        else:
            t_step, t_bin = np.zeros(1, dtype=np.int64), _nearest_log(v.tempos, np.array([DEFAULT_QPM]))
        t_step = np.maximum(t_step, 0)
        last_at_step = np.r_[t_step[1:] != t_step[:-1], True]  # the last tempo at a step wins
        t_step, t_bin = t_step[last_at_step], t_bin[last_at_step]
        t_step[0] = 0
        changed = np.r_[True, t_bin[1:] != t_bin[:-1]]
        t_step, t_bin = t_step[changed], t_bin[changed]
        keep = (t_step < end) | (t_step == 0)
        return notes, meters, np.stack([t_step[keep], t_bin[keep]], axis=1), end

    def quantise(self, score: Score) -> Score:
        """The score exactly as the tokens can hold it (tpq = the grid resolution)."""
        return self.decode(self.encode(score))

    # ---- encode -------------------------------------------------------------------------------
    def encode(self, score: Score, style: str | None = None) -> np.ndarray:
        v = self.vocab
        notes, meters, tempos, end = self._quantised_columns(score)
        bars = self._bar_starts(meters, end)
        header = [BOS, v.style_id(style), v.timesig + meters[0][1], v.tempo + int(tempos[0, 1])]

        def locate(steps):
            bar = np.searchsorted(bars, steps, side="right") - 1
            return bar, steps - bars[bar]

        # sort key: bar, level (0 Bar, 1 TimeSig, 2 events), position, kind (0 Position,
        # 1 Tempo, 2 instrument group), program, item (0 Program, 1 + pitch for a note), slot
        def key(bar, level, pos=0, kind=0, prog=0, item=0, slot=0):
            return ((((((bar * 3 + level) * 128 + pos) * 4 + kind) * 256 + prog) * 256 + item) * 4 + slot)

        keys, ids = [], []

        def add(k, i):
            k = np.asarray(k, dtype=np.int64)
            keys.append(k.ravel())
            ids.append(np.broadcast_to(np.asarray(i, dtype=np.int64), k.shape).ravel())

        add(key(np.arange(len(bars)), 0), BAR)
        if len(meters) > 1:
            ts_bars = np.searchsorted(bars, [m[0] for m in meters[1:]])
            add(key(ts_bars, 1), v.timesig + np.array([m[1] for m in meters[1:]]))
        ev_steps = [notes[:, 0]]
        if len(tempos) > 1:
            tb, tp = locate(tempos[1:, 0])
            add(key(tb, 2, tp, 1), v.tempo + tempos[1:, 1])
            ev_steps.append(tempos[1:, 0])
        if len(notes):
            nb, npos = locate(notes[:, 0])
            prog, pitch = notes[:, 1], notes[:, 2]
            base = key(nb, 2, npos, 2, prog, 1 + pitch)
            has_vel, has_dur = self._spelled_out(notes)
            add(base, v.pitch + pitch)
            add(base[has_vel] + 1, v.velocity + notes[has_vel, 4])
            add(base[has_dur] + 2, v.duration + notes[has_dur, 3])
            groups = np.unique(key(nb, 2, npos, 2, prog))
            add(groups, v.program + (groups // (256 * 4)) % 256)
        steps = np.unique(np.concatenate(ev_steps))
        if len(steps):
            pb, pp = locate(steps)
            add(key(pb, 2, pp, 0), v.position + pp)
        k, i = np.concatenate(keys), np.concatenate(ids)
        body = i[np.argsort(k, kind="stable")]
        return np.concatenate([header, body, [EOS]]).astype(np.int32)

    def _spelled_out(self, notes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Which notes (sorted by onset, key, pitch) write a Velocity / Duration token."""
        c = self.config
        has_vel = np.ones(len(notes), dtype=bool)
        has_dur = np.ones(len(notes), dtype=bool) if c.drum_durations else notes[:, 1] != DRUM_KEY
        if c.elide_repeats and len(notes) > 1:
            same_group = np.r_[False, np.all(notes[1:, :2] == notes[:-1, :2], axis=1)]
            has_vel &= ~(same_group & np.r_[False, notes[1:, 4] == notes[:-1, 4]])
            has_dur &= ~(same_group & np.r_[False, notes[1:, 3] == notes[:-1, 3]])
        return has_vel, has_dur

    # ---- decode -------------------------------------------------------------------------------
    def decode(self, tokens) -> Score:
        """Tokens -> Score (tpq = grid resolution). Never raises on ill-formed input: a token
        the grammar rejects is dropped, together with a half-made note or empty position."""
        v = self.vocab
        state = grammar.GrammarState(v)
        if fills.has_fills(tokens, v):  # an infilling sequence: each fill back in its bar
            tokens = fills.splice(tokens, v)
        complete = (state.snapshot(), 0)  # the state and note count when nothing was half-made
        notes: list[list[int]] = []  # onset, key, pitch, duration, velocity
        meters: list[tuple[int, int, int]] = []  # step, numerator, denominator
        tempos: list[tuple[int, float]] = []
        drum_length = max(1, self.config.resolution // 4)  # a 16th, for drum notes without Duration
        bar_start = bar_len = 0
        for t in np.asarray(tokens, dtype=np.int64).tolist():
            if not state.feed(t):
                if state.complete:
                    continue
                half_made = state.snapshot()
                state.restore(complete[0])  # drop the half-made part, then take the token
                if not state.feed(t):
                    state.restore(half_made)
                    continue
                del notes[complete[1]:]
            if t == EOS:
                break
            if t == BAR:
                bar_start += bar_len if state.bars > 1 else 0
                bar_len = state.bar_len
            elif v.timesig <= t < v.tempo:
                meters.append((bar_start, *v.time_signatures[t - v.timesig]))
                if state.bars:
                    bar_len = state.bar_len
            elif v.tempo <= t < v.position:
                tempos.append((bar_start + max(state.pos, 0), float(v.tempos[t - v.tempo])))
            elif v.pitch <= t < v.velocity:  # velocity and duration as inherited, or filled in next
                notes.append([bar_start + state.pos, state.key, t - v.pitch,
                              int(v.durations[state.dur]) if state.needs_duration else drum_length,
                              int(v.velocities[state.vel])])
            elif v.velocity <= t < v.duration:
                notes[-1][4] = int(v.velocities[t - v.velocity])
            elif v.duration <= t < v.fill:
                notes[-1][3] = int(v.durations[t - v.duration])
            if state.complete:
                complete = (state.snapshot(), len(notes))
        if not state.complete:
            del notes[complete[1]:]
        end = bar_start + bar_len if state.bars else 0
        return _build_score(self.config.resolution, notes, meters, tempos, end)


def _build_score(tpq, notes, meters, tempos, end) -> Score:
    arr = np.array(notes, dtype=np.int64).reshape(-1, 5)
    tracks = []
    for k in sorted(set(arr[:, 1].tolist())):  # not np.unique: it imports numpy.ma (7 ms of `generate`)
        sel = arr[arr[:, 1] == k]
        n = np.stack([sel[:, 0], sel[:, 3], sel[:, 2], sel[:, 4]], axis=1)
        tracks.append(Track(program=0 if k == DRUM_KEY else int(k), is_drum=bool(k == DRUM_KEY), notes=n))
    return Score(tpq=tpq, tracks=tracks,
                 tempos=np.array(tempos, dtype=np.float64).reshape(-1, 2),
                 time_signatures=np.array(meters, dtype=np.int64).reshape(-1, 3),
                 end=int(end))


def _nearest(values: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Index of the nearest of sorted `values` for each x (ties go to the larger)."""
    mids = (values[1:] + values[:-1]) / 2.0
    return np.searchsorted(mids, x, side="right")


def _nearest_log(values: np.ndarray, x: np.ndarray) -> np.ndarray:
    return _nearest(np.log(values), np.log(np.asarray(x, dtype=np.float64)))
