"""Per-piece metrics, histograms and classifier features: one Score in, one PieceStats out.

Everything is numpy. Onsets are quantised to GRID = 12 steps per quarter note
(`step = round(tick * 12 / tpq)`). After Yang & Lerch 2020, "On the evaluation of generative
models in music", and the MGEval / muspy definitions.

Metrics ("pitched" = notes of non-drum tracks; a piece without any gives NaN for the pitched
metrics, and NaNs are left out of means, stds and OAs):

- pitch_class_entropy: Shannon entropy in bits of the piece's pitch-class histogram (pitched
  notes, each note counted once): 0 for one pitch class, log2(7) for a diatonic scale, log2(12)
  for all twelve equally.
- scale_consistency: max over the 24 major and natural-minor scales of the fraction of pitched
  notes whose pitch class is in the scale.
- groove_consistency: 1 - mean over consecutive bar pairs of the Hamming distance between the
  bars' binary onset patterns (one cell per grid step of the bar; ALL notes incl. drums),
  divided by the bar length in steps (the shorter bar padded if the meter changes). Bars are
  those from the bar of the first onset to the bar of the last; NaN with fewer than 2 bars.
- empty_beat_rate: fraction of beats, from tick 0 to the end of the last note, during which no
  note (ALL notes incl. drums) sounds, i.e. no note with onset < beat end and onset + duration >
  beat start. A beat is 4/den quarters of the time signature in force (a dotted beat for
  compound meters 6/8, 9/8, 12/8, ...).
- polyphony: mean over the distinct onset ticks of pitched notes of the number of pitched notes
  sounding there (onset <= t < onset + duration, all tracks together).
- pitch_range: highest minus lowest pitched note, in semitones.
- notes_per_bar: pitched notes / bars from tick 0 to the end of the last note.
- notes_per_second: pitched notes / seconds from 0 to the end of the last note (tempo map).
- drum_notes_per_bar: drum-track notes / the same bars (0 for a piece without drums).

Bars and beats follow the file's time signatures (4/4 when it has none), so a corpus that
declares 1/4 throughout (some POP909 files do) has short "bars"; notes_per_second does not
depend on the meter.

Histograms (raw counts per piece; overlap.py normalises and averages them per set):

- pitch_class: 12 bins, pitched notes.
- interval: melodic intervals of each pitched track's top voice (highest pitch at each distinct
  quantised onset), successive top notes, in semitones; 25 bins -12..+12, larger leaps counted
  in the end bins.
- ioi: inter-onset intervals in grid steps between successive distinct quantised onsets of each
  track, drum tracks included; 12 bins (TIME_BINS below, upper bounds inclusive).
- duration: pitched note durations in grid steps (at least 1); the same 12 bins.

Classifier features (classifier.py): key-normalised pitch-class histogram, interval, IOI and
duration histograms, the metrics above, pitch mean/std, velocity mean/std, drum
presence/density/share, track count, tempo, meter, GM program families present.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..score import DEFAULT_QPM, DEFAULT_TIME_SIGNATURE, DURATION, ONSET, PITCH, VELOCITY, Score, ticks_to_seconds

GRID = 12  # quantisation steps per quarter note

METRICS: tuple[tuple[str, str], ...] = (
    ("pitch_class_entropy", "pitch-class entropy (bits)"),
    ("scale_consistency", "scale consistency"),
    ("groove_consistency", "groove consistency"),
    ("empty_beat_rate", "empty-beat rate"),
    ("polyphony", "polyphony (notes at onsets)"),
    ("pitch_range", "pitch range (semitones)"),
    ("notes_per_bar", "notes per bar"),
    ("notes_per_second", "notes per second"),
    ("drum_notes_per_bar", "drum notes per bar"),
)

# upper bounds (inclusive) of the IOI / duration bins, in grid steps (12 = one quarter note)
TIME_BINS = np.array([1, 2, 3, 4, 6, 8, 12, 18, 24, 36, 48, np.iinfo(np.int64).max], dtype=np.int64)
TIME_LABELS = ("1", "2", "3", "4", "5-6", "7-8", "9-12", "13-18", "19-24", "25-36", "37-48", ">48")
INTERVAL_LABELS = tuple(["<=-12"] + [f"{i:+d}" for i in range(-11, 12)] + [">=+12"])
PC_LABELS = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")

DISTRIBUTIONS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("pitch_class", "pitch classes", PC_LABELS),
    ("interval", "top-voice intervals (semitones)", INTERVAL_LABELS),
    ("ioi", "inter-onset intervals (1/12 quarter)", TIME_LABELS),
    ("duration", "durations (1/12 quarter)", TIME_LABELS),
)

_MAJOR = np.array([0, 2, 4, 5, 7, 9, 11])
_MINOR = np.array([0, 2, 3, 5, 7, 8, 10])
# (24, 12): row k < 12 = major scale on tonic k, row 12 + k = natural minor on tonic k
SCALES = np.zeros((24, 12), dtype=np.float64)
for _k in range(12):
    SCALES[_k, (_MAJOR + _k) % 12] = 1.0
    SCALES[12 + _k, (_MINOR + _k) % 12] = 1.0


@dataclass
class PieceStats:
    """Everything evaluation needs from one score, computed once."""

    metrics: dict[str, float]
    hists: dict[str, np.ndarray]  # raw counts per distribution
    features: np.ndarray  # classifier features (may hold NaN: filled with the training mean)
    name: str = ""


def _quantise(ticks, tpq: int) -> np.ndarray:
    return np.floor(np.asarray(ticks, dtype=np.float64) * GRID / max(int(tpq), 1) + 0.5).astype(np.int64)


def _sigs(score: Score) -> np.ndarray:
    sigs = np.asarray(score.time_signatures, dtype=np.int64).reshape(-1, 3)
    sigs = sigs[(sigs[:, 1] > 0) & (sigs[:, 2] > 0)]
    return sigs if len(sigs) else np.array([[0, *DEFAULT_TIME_SIGNATURE]], dtype=np.int64)


def _sig_at(sigs: np.ndarray, ticks: np.ndarray) -> np.ndarray:
    idx = np.searchsorted(sigs[:, 0], ticks, side="right") - 1
    return sigs[np.clip(idx, 0, len(sigs) - 1)]


def _compound(num, den) -> bool:
    """6/8, 9/8, 12/8, ...: the beat is a dotted note of three 1/den."""
    return den >= 8 and num % 3 == 0 and num > 3


def _entropy_bits(counts: np.ndarray) -> float:
    total = counts.sum()
    if total <= 0:
        return math.nan
    p = counts[counts > 0] / total
    return float(max(0.0, -(p * np.log2(p)).sum()))


def _time_hist(values: np.ndarray) -> np.ndarray:
    idx = np.searchsorted(TIME_BINS, np.maximum(values, 1), side="left")
    return np.bincount(idx, minlength=len(TIME_BINS)).astype(np.float64)


def groove_consistency(score: Score) -> float:
    """1 - mean normalised Hamming distance of consecutive bars' onset patterns (all notes)."""
    notes = [t.notes for t in score.tracks if len(t.notes)]
    if not notes:
        return math.nan
    on = np.unique(np.concatenate([n[:, ONSET] for n in notes]))
    on = on[on >= 0]
    if not len(on):
        return math.nan
    bars = score.bar_starts(int(on.max()))
    bar_of = np.clip(np.searchsorted(bars, on, side="right") - 1, 0, len(bars) - 1)
    first, last = int(bar_of.min()), int(bar_of.max())
    if last == first:
        return math.nan
    sigs = _sigs(score)
    lengths = []  # bar length in steps
    for b in range(first, last + 1):
        _, num, den = _sig_at(sigs, np.array([bars[b]]))[0]
        lengths.append(max(1, int(round(GRID * 4 * num / den))))
    width = max(lengths)
    patterns = np.zeros((last - first + 1, width), dtype=bool)
    pos = _quantise(on - bars[bar_of], score.tpq)
    rows = bar_of - first
    pos = np.minimum(pos, np.asarray(lengths)[rows] - 1)
    patterns[rows, pos] = True
    lengths = np.asarray(lengths)
    span = np.maximum(lengths[1:], lengths[:-1])
    dist = (patterns[1:] != patterns[:-1]).sum(axis=1) / span
    return float(1.0 - dist.mean())


def _beats(score: Score, stop: int) -> tuple[np.ndarray, np.ndarray]:
    """[lo, hi) tick spans of the beats from tick 0 to `stop`, following the time signatures."""
    sigs = _sigs(score)
    bars = score.bar_starts(stop)
    beats_lo, beats_hi = [], []
    for i, bar in enumerate(bars):
        if bar >= stop:
            break
        _, num, den = _sig_at(sigs, np.array([bar]))[0]
        unit = score.tpq * 4.0 / den
        if _compound(num, den):
            unit, count = unit * 3, num // 3
        else:
            count = num
        bar_end = bars[i + 1] if i + 1 < len(bars) else bar + int(round(score.tpq * 4.0 * num / den))
        lo = bar + np.round(unit * np.arange(count)).astype(np.int64)
        hi = np.append(lo[1:], bar_end)
        keep = (lo < stop) & (hi > lo)
        beats_lo.append(lo[keep])
        beats_hi.append(hi[keep])
    return np.concatenate(beats_lo), np.concatenate(beats_hi)


def empty_beat_rate(score: Score) -> float:
    """Fraction of beats (0 .. end of the last note) during which no note at all sounds."""
    notes = [t.notes for t in score.tracks if len(t.notes)]
    if not notes:
        return math.nan
    n = np.concatenate(notes)
    start = n[:, ONSET]
    end = start + np.maximum(n[:, DURATION], 1)
    stop = int(end.max())
    if stop <= 0:
        return math.nan
    lo, hi = _beats(score, stop)
    if not len(lo):
        return math.nan
    # notes overlapping [lo, hi): onset < hi and end > lo; end > lo excludes every note with
    # end <= lo, all of which have onset < lo < hi
    sounding = np.searchsorted(np.sort(start), hi, side="left") - np.searchsorted(np.sort(end), lo, side="right")
    return float((sounding <= 0).mean())


def polyphony(pitched: np.ndarray) -> float:
    """Mean number of pitched notes sounding at each distinct onset tick."""
    if not len(pitched):
        return math.nan
    start = np.sort(pitched[:, ONSET])
    end = np.sort(pitched[:, ONSET] + np.maximum(pitched[:, DURATION], 1))
    t = np.unique(start)
    count = np.searchsorted(start, t, side="right") - np.searchsorted(end, t, side="right")
    return float(count.mean())


def _histograms(score: Score, pitched_tracks: list, pitched: np.ndarray, tpq: int) -> dict[str, np.ndarray]:
    """Raw counts: pitch classes, top-voice intervals, IOIs (drums too) and durations."""
    pc = np.bincount(pitched[:, PITCH] % 12, minlength=12).astype(np.float64) if len(pitched) else np.zeros(12)
    interval = np.zeros(25)
    ioi = np.zeros(len(TIME_BINS))
    for t in pitched_tracks:
        q = _quantise(t.notes[:, ONSET], tpq)
        order = np.lexsort((-t.notes[:, PITCH], q))  # by onset, highest pitch first
        q, p = q[order], t.notes[order, PITCH]
        first = np.ones(len(q), dtype=bool)
        first[1:] = q[1:] != q[:-1]
        top = p[first]
        if len(top) > 1:
            d = np.clip(np.diff(top), -12, 12) + 12
            interval += np.bincount(d, minlength=25)
    for t in score.tracks:
        if len(t.notes) > 1:
            ioi += _time_hist(np.diff(np.unique(_quantise(t.notes[:, ONSET], tpq))))
    duration = _time_hist(_quantise(pitched[:, DURATION], tpq)) if len(pitched) else np.zeros(len(TIME_BINS))
    return {"pitch_class": pc, "interval": interval, "ioi": ioi, "duration": duration}


def _features(score: Score, pitched_tracks: list, pitched: np.ndarray, n_drum: int,
              metrics: dict[str, float], hists: dict[str, np.ndarray]) -> np.ndarray:
    """The style classifier's feature vector of one piece (NaN where undefined)."""
    def norm(h):
        s = h.sum()
        return h / s if s > 0 else np.zeros_like(h)

    has_pitched = len(pitched) > 0
    pc = hists["pitch_class"]
    tonic = int(np.argmax(SCALES[:12] @ pc)) if has_pitched else 0
    families = np.zeros(16)
    for t in pitched_tracks:
        families[int(t.program) // 8 % 16] = 1.0
    tempos = np.asarray(score.tempos, dtype=np.float64).reshape(-1, 2)
    qpm = float(tempos[0, 1]) if len(tempos) and tempos[0, 1] > 0 else DEFAULT_QPM
    _, num, den = _sigs(score)[0]
    nan = math.nan
    extra = [
        float(pitched[:, PITCH].mean()) if has_pitched else nan,
        float(pitched[:, PITCH].std()) if has_pitched else nan,
        float(pitched[:, VELOCITY].mean()) if has_pitched else nan,
        float(pitched[:, VELOCITY].std()) if has_pitched else nan,
        float(n_drum > 0),
        n_drum / max(n_drum + len(pitched), 1),
        float(len(pitched_tracks)),
        math.log(qpm),
        float(num), math.log2(max(den, 1)), float(_compound(num, den)), float(num % 3 == 0),
    ]
    return np.concatenate([
        np.roll(norm(pc), -tonic), norm(hists["interval"]), norm(hists["ioi"]), norm(hists["duration"]),
        [metrics[k] for k, _ in METRICS], extra, families,
    ]).astype(np.float64)


def piece_stats(score: Score, name: str = "") -> PieceStats:
    """Metrics, histograms and classifier features of one score."""
    tpq = max(int(score.tpq), 1)
    pitched_tracks = [t for t in score.tracks if not t.is_drum and len(t.notes)]
    drum_tracks = [t for t in score.tracks if t.is_drum and len(t.notes)]
    pitched = (np.concatenate([np.asarray(t.notes, dtype=np.int64) for t in pitched_tracks])
               if pitched_tracks else np.zeros((0, 4), dtype=np.int64))
    n_drum = int(sum(len(t.notes) for t in drum_tracks))
    notes_end = score.notes_end()
    hists = _histograms(score, pitched_tracks, pitched, tpq)
    pc = hists["pitch_class"]

    n_bars = int((score.bar_starts(notes_end) < max(notes_end, 1)).sum()) if notes_end > 0 else 0
    seconds = ticks_to_seconds(score, notes_end) if notes_end > 0 else 0.0
    has_pitched = len(pitched) > 0
    metrics = {
        "pitch_class_entropy": _entropy_bits(pc),
        "scale_consistency": float((SCALES @ pc).max() / pc.sum()) if has_pitched else math.nan,
        "groove_consistency": groove_consistency(score),
        "empty_beat_rate": empty_beat_rate(score),
        "polyphony": polyphony(pitched),
        "pitch_range": float(pitched[:, PITCH].max() - pitched[:, PITCH].min()) if has_pitched else math.nan,
        "notes_per_bar": len(pitched) / n_bars if has_pitched and n_bars else math.nan,
        "notes_per_second": len(pitched) / seconds if has_pitched and seconds > 0 else math.nan,
        "drum_notes_per_bar": n_drum / n_bars if n_bars else math.nan,
    }
    features = _features(score, pitched_tracks, pitched, n_drum, metrics, hists)
    return PieceStats(metrics, hists, features, name)
