"""Objective evaluation of generated music against a reference corpus.

    result = evaluate_dirs("out/generated", "data/corpus", out_json="eval.json", plots_dir="eval")
    print(format_report(result))

Everything is numpy; matplotlib is imported only when plots are asked for. What is computed
(after Yang & Lerch 2020, "On the evaluation of generative models in music", and the MGEval /
muspy definitions), on onsets quantised to GRID = 12 steps per quarter note
(`step = round(tick * 12 / tpq)`):

Per-piece metrics ("pitched" = notes of non-drum tracks; a piece without any gives NaN for the
pitched metrics, and NaNs are left out of means, stds and OAs):

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

Distributions (each piece's histogram is normalised to sum 1, then the set's distribution is
the mean over pieces that have any count, so every piece weighs the same):

- pitch_class: 12 bins, pitched notes.
- interval: melodic intervals of each pitched track's top voice (highest pitch at each distinct
  quantised onset), successive top notes, in semitones; 25 bins -12..+12, larger leaps counted
  in the end bins.
- ioi: inter-onset intervals in grid steps between successive distinct quantised onsets of each
  track, drum tracks included; 12 bins (TIME_BINS below, upper bounds inclusive).
- duration: pitched note durations in grid steps (at least 1); the same 12 bins.

Overlapping areas (OA, 1 = identical, 0 = disjoint):

- distribution OA = sum over bins of min(p_generated, p_reference) of the two set distributions.
- metric OA = overlap of Gaussian kernel density estimates of the per-piece metric values of
  the two sets (Silverman bandwidth per set, floored at 2% of the pooled value range), the
  integral of min(kde_generated, kde_reference) on a 1024-point grid. This is the absolute-value
  flavour of Yang & Lerch's OA, not their intra-/inter-set distance version.

Style classifier: per piece a feature vector (key-normalised pitch-class histogram, interval,
IOI and duration histograms, the metrics above, pitch mean/std, velocity mean/std, drum
presence/density/share, GM program families present, track count, tempo, meter), standardised
on the training pieces, then multinomial logistic regression with L2 (class-balanced,
Nesterov-accelerated full-batch gradient descent). `cv_accuracy` is stratified k-fold
(k = min(5, smallest class)) accuracy on the references: the ceiling for the generated pieces,
whose accuracy is the fraction classified as the style they were generated for.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..atomic import atomic_path, write_text_atomic
from ..errors import ComposerError, ScoreError
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


# ============================================================================ per piece


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
    sigs = _sigs(score)
    bars = score.bar_starts(stop)
    beats_lo, beats_hi = [], []
    for i, bar in enumerate(bars):
        if bar >= stop:
            break
        _, num, den = _sig_at(sigs, np.array([bar]))[0]
        unit = score.tpq * 4.0 / den
        if den >= 8 and num % 3 == 0 and num > 3:
            unit, count = unit * 3, num // 3
        else:
            count = num
        bar_end = bars[i + 1] if i + 1 < len(bars) else bar + int(round(score.tpq * 4.0 * num / den))
        lo = bar + np.round(unit * np.arange(count)).astype(np.int64)
        hi = np.append(lo[1:], bar_end)
        keep = (lo < stop) & (hi > lo)
        beats_lo.append(lo[keep])
        beats_hi.append(hi[keep])
    lo, hi = np.concatenate(beats_lo), np.concatenate(beats_hi)
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


def piece_stats(score: Score, name: str = "") -> PieceStats:
    """Metrics, histograms and classifier features of one score."""
    tpq = max(int(score.tpq), 1)
    pitched_tracks = [t for t in score.tracks if not t.is_drum and len(t.notes)]
    drum_tracks = [t for t in score.tracks if t.is_drum and len(t.notes)]
    pitched = (np.concatenate([np.asarray(t.notes, dtype=np.int64) for t in pitched_tracks])
               if pitched_tracks else np.zeros((0, 4), dtype=np.int64))
    n_drum = int(sum(len(t.notes) for t in drum_tracks))
    notes_end = score.notes_end()

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
    hists = {"pitch_class": pc, "interval": interval, "ioi": ioi, "duration": duration}

    # ---- classifier features
    def norm(h):
        s = h.sum()
        return h / s if s > 0 else np.zeros_like(h)

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
        float(num), math.log2(max(den, 1)), float(den >= 8 and num % 3 == 0 and num > 3), float(num % 3 == 0),
    ]
    features = np.concatenate([
        np.roll(norm(pc), -tonic), norm(interval), norm(ioi), norm(duration),
        [metrics[k] for k, _ in METRICS], extra, families,
    ]).astype(np.float64)
    return PieceStats(metrics, hists, features, name)


# ============================================================================ sets


def histogram_oa(p: np.ndarray, q: np.ndarray) -> float:
    """Overlapping area of two histograms, each normalised to sum 1: sum of element-wise minima."""
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    if p.sum() <= 0 or q.sum() <= 0:
        return math.nan
    return float(np.minimum(p / p.sum(), q / q.sum()).sum())


def kde_oa(a, b, points: int = 1024) -> float:
    """Overlapping area of Gaussian KDEs of two samples of one scalar (NaNs dropped)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if not len(a) or not len(b):
        return math.nan
    pooled = np.concatenate([a, b])
    span = float(pooled.max() - pooled.min())
    floor = 0.02 * span if span > 0 else 1.0

    def bandwidth(x):
        s = float(x.std(ddof=1)) if len(x) > 1 else 0.0
        return max(1.06 * s * len(x) ** -0.2, floor)

    ha, hb = bandwidth(a), bandwidth(b)
    h = max(ha, hb)
    grid = np.linspace(pooled.min() - 4 * h, pooled.max() + 4 * h, points)

    def density(x, bw):
        d = np.zeros(points)
        for chunk in np.array_split(x, max(1, len(x) // 256)):
            d += np.exp(-0.5 * ((grid[:, None] - chunk[None, :]) / bw) ** 2).sum(axis=1)
        return d / d.sum()

    return float(min(1.0, np.minimum(density(a, ha), density(b, hb)).sum()))


def _set_distribution(stats: list[PieceStats], key: str) -> tuple[np.ndarray, int]:
    rows = [s.hists[key] / s.hists[key].sum() for s in stats if s.hists[key].sum() > 0]
    if not rows:
        return np.zeros(len(stats[0].hists[key]) if stats else 0), 0
    return np.mean(rows, axis=0), len(rows)


def _summary(values: np.ndarray) -> dict:
    v = values[np.isfinite(values)]
    return {"mean": float(v.mean()) if len(v) else math.nan,
            "std": float(v.std()) if len(v) else math.nan, "n": int(len(v))}


def compare_stats(generated: list[PieceStats], reference: list[PieceStats]) -> dict:
    """Metric means/stds and OAs, and distributions with OAs, of two sets of PieceStats."""
    metrics = {}
    for key, label in METRICS:
        g = np.array([s.metrics[key] for s in generated], dtype=np.float64)
        r = np.array([s.metrics[key] for s in reference], dtype=np.float64)
        metrics[key] = {"label": label, "generated": _summary(g), "reference": _summary(r), "oa": kde_oa(g, r)}
    dists = {}
    for key, label, bins in DISTRIBUTIONS:
        g, ng = _set_distribution(generated, key)
        r, nr = _set_distribution(reference, key)
        dists[key] = {"label": label, "bins": list(bins), "generated": g.tolist(), "reference": r.tolist(),
                      "n_generated": ng, "n_reference": nr, "oa": histogram_oa(g, r)}
    return {"n_generated": len(generated), "n_reference": len(reference), "metrics": metrics,
            "distributions": dists}


def _load_all(items, label: str) -> tuple[list[PieceStats], list[dict]]:
    """PieceStats of Scores and/or paths; unreadable or empty files are skipped with a reason."""
    from ..load import load_score

    stats, skipped = [], []
    for i, item in enumerate(items):
        if isinstance(item, Score):
            name = f"{label}[{i}]"
            score = item
        else:
            name = str(item)
            try:
                score = load_score(item)
            except ScoreError as e:
                skipped.append({"path": name, "reason": e.reason})
                continue
            except OSError as e:
                skipped.append({"path": name, "reason": f"cannot read file ({e.strerror or e})"})
                continue
            except Exception as e:  # a corrupt file must not end the evaluation
                skipped.append({"path": name, "reason": f"internal error: {type(e).__name__}: {e}"})
                continue
        if score.note_count == 0:
            skipped.append({"path": name, "reason": "no notes"})
            continue
        stats.append(piece_stats(score, name))
    return stats, skipped


def evaluate_sets(generated, reference) -> dict:
    """Compare two sets of pieces (each a list of Scores and/or file paths).

    Returns {"n_generated", "n_reference", "metrics": {name: {"label", "generated": {mean, std, n},
    "reference": {...}, "oa"}}, "distributions": {name: {"label", "bins", "generated", "reference",
    "n_generated", "n_reference", "oa"}}, "skipped": [{"path", "reason"}]}. NaN = not computable.
    """
    g, sg = _load_all(generated, "generated")
    r, sr = _load_all(reference, "reference")
    return {**compare_stats(g, r), "skipped": sg + sr}


# ============================================================================ classifier


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _fit_logreg(x: np.ndarray, y: np.ndarray, classes: int, l2: float, iterations: int) -> np.ndarray:
    """Class-balanced multinomial logistic regression, L2 on the weights (not the bias)."""
    n, f = x.shape
    xb = np.hstack([x, np.ones((n, 1))])
    counts = np.bincount(y, minlength=classes).astype(np.float64)
    w_sample = (n / (classes * np.maximum(counts, 1)))[y] / n  # sums to 1
    onehot = np.eye(classes)[y]
    # step 1/L, L bounds the Hessian: 0.5 * ||X||^2 (weighted) + l2
    lipschitz = 0.5 * float(np.linalg.norm(xb * np.sqrt(w_sample)[:, None], 2)) ** 2 + l2
    lr = 1.0 / lipschitz
    reg = np.ones((f + 1, 1))
    reg[-1] = 0.0
    w = np.zeros((f + 1, classes))
    v = w.copy()
    for k in range(iterations):
        look = w + (k / (k + 3)) * (w - v)
        grad = xb.T @ ((_softmax(xb @ look) - onehot) * w_sample[:, None]) + l2 * reg * look
        v, w = w, look - lr * grad
    return w


@dataclass
class StyleClassifier:
    """Multinomial logistic regression on standardised piece features."""

    styles: list[str]
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    cv_accuracy: float | None = None
    cv_folds: int = 0
    cv_per_style: dict[str, float] = field(default_factory=dict)
    n_train: dict[str, int] = field(default_factory=dict)

    def _matrix(self, items) -> np.ndarray:
        feats = []
        for item in items:
            s = item if isinstance(item, PieceStats) else piece_stats(item)
            feats.append(s.features)
        x = np.array(feats, dtype=np.float64).reshape(len(feats), -1)
        x = np.where(np.isfinite(x), x, self.mean)
        return (x - self.mean) / self.scale

    def predict_proba(self, scores) -> np.ndarray:
        """(N, len(styles)) probabilities for Scores (or PieceStats)."""
        x = self._matrix(list(scores))
        return _softmax(np.hstack([x, np.ones((len(x), 1))]) @ self.weights)

    def predict(self, scores) -> list[str]:
        """Most likely style of each Score (or PieceStats)."""
        scores = list(scores)
        if not scores:
            return []
        return [self.styles[i] for i in self.predict_proba(scores).argmax(axis=1)]

    def to_dict(self) -> dict:
        return {"styles": self.styles, "cv_accuracy": self.cv_accuracy, "cv_folds": self.cv_folds,
                "cv_per_style": self.cv_per_style, "n_reference": self.n_train}


def _fit(stats: list[PieceStats], y: np.ndarray, styles: list[str], l2: float, iterations: int) -> StyleClassifier:
    x = np.array([s.features for s in stats], dtype=np.float64)
    finite = np.isfinite(x)
    mean = np.where(finite, x, 0.0).sum(axis=0) / np.maximum(finite.sum(axis=0), 1)  # nanmean, 0 if none
    x = np.where(np.isfinite(x), x, mean)
    scale = x.std(axis=0)
    scale = np.where(scale > 1e-9, scale, 1.0)
    w = _fit_logreg((x - mean) / scale, y, len(styles), l2, iterations)
    return StyleClassifier(list(styles), mean, scale, w)


def train_style_classifier(reference_by_style: dict, *, l2: float = 0.03, iterations: int = 400,
                           folds: int = 5, seed: int = 0) -> StyleClassifier:
    """Train on {style: [Score or PieceStats, ...]} (at least 2 styles with pieces).

    `cv_accuracy` is stratified k-fold accuracy with k = min(folds, smallest class size), None
    when a style has fewer than 2 pieces.
    """
    styles = sorted(s for s, items in reference_by_style.items() if len(items))
    if len(styles) < 2:
        raise ComposerError("a style classifier needs reference pieces of at least 2 styles")
    stats, labels = [], []
    for i, s in enumerate(styles):
        for item in reference_by_style[s]:
            stats.append(item if isinstance(item, PieceStats) else piece_stats(item))
            labels.append(i)
    y = np.array(labels, dtype=np.int64)
    counts = np.bincount(y, minlength=len(styles))
    clf = _fit(stats, y, styles, l2, iterations)
    clf.n_train = {s: int(c) for s, c in zip(styles, counts)}
    k = min(folds, int(counts.min()))
    if k >= 2:
        rng = np.random.default_rng(seed)
        fold = np.zeros(len(y), dtype=np.int64)
        for c in range(len(styles)):
            idx = np.flatnonzero(y == c)
            fold[rng.permutation(idx)] = np.arange(len(idx)) % k
        pred = np.zeros(len(y), dtype=np.int64)
        for f in range(k):
            test = fold == f
            sub = _fit([s for s, t in zip(stats, test) if not t], y[~test], styles, l2, iterations)
            pred[test] = sub.predict_proba([s for s, t in zip(stats, test) if t]).argmax(axis=1)
        clf.cv_accuracy = float((pred == y).mean())
        clf.cv_folds = k
        clf.cv_per_style = {s: float((pred[y == c] == c).mean()) for c, s in enumerate(styles)}
    return clf


# ============================================================================ folders


def _safe_name(style: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", style).strip("._") or "style"


def _by_style(stats: list[PieceStats], labels: list[str | None]) -> dict[str | None, list[PieceStats]]:
    out: dict[str | None, list[PieceStats]] = {}
    for s, lab in zip(stats, labels):
        out.setdefault(lab, []).append(s)
    return out


def _discover_load(root, style, role: str):
    from ..corpus import discover

    found = discover(root, style)
    if not found.files:
        raise ComposerError(f"{root}: no music files found ({role})")
    stats, labels, skipped = [], [], []
    for path, label in found.files:
        got, skip = _load_all([path], role)
        stats += got
        labels += [label] * len(got)
        skipped += [{**s, "set": role} for s in skip]
    return stats, labels, skipped, [f"{role}: {w}" for w in found.warnings]


def evaluate_dirs(generated_dir, reference_dir, style: str | None = None, out_json=None,
                  plots_dir=None, overwrite: bool = True) -> dict:
    """Evaluate the music files under `generated_dir` against those under `reference_dir`.

    Styles come from the first sub-folder of each root (`root/<style>/...`); with `style`, every
    generated file is of that style (the generated folder may be flat). Returns {"overall":
    evaluate_sets-like result for everything, "styles": {style: result against the references of
    that style (or all references, "reference_style": None, when there are none)}, "classifier":
    {cv_accuracy, generated_accuracy, per_style: {style: {n, accuracy, predicted}}, ...} or None,
    "skipped", "warnings", "plots", ...}. Writes it as JSON to `out_json` (atomically) and one PNG
    of the four distributions per comparison into `plots_dir`, when given (overwrite=False: none
    of those files may exist yet; WriteError if one does).
    """
    gen, gen_labels, gen_skip, gen_warn = _discover_load(generated_dir, style, "generated")
    ref, ref_labels, ref_skip, ref_warn = _discover_load(reference_dir, None, "reference")
    warnings = gen_warn + ref_warn
    if not gen:
        raise ComposerError(f"{generated_dir}: no usable generated pieces ({len(gen_skip)} skipped)")
    if not ref:
        raise ComposerError(f"{reference_dir}: no usable reference pieces ({len(ref_skip)} skipped)")
    ref_by = {k: v for k, v in _by_style(ref, ref_labels).items() if k is not None}
    gen_by = _by_style(gen, gen_labels)

    result: dict = {
        "generated_dir": str(generated_dir), "reference_dir": str(reference_dir), "style": style,
        "grid_per_quarter": GRID, "n_generated": len(gen), "n_reference": len(ref),
        "overall": compare_stats(gen, ref), "styles": {}, "classifier": None,
        "skipped": gen_skip + ref_skip, "warnings": warnings, "plots": [],
    }
    for s in sorted(k for k in gen_by if k is not None):
        if s in ref_by:
            result["styles"][s] = {**compare_stats(gen_by[s], ref_by[s]), "reference_style": s}
        else:
            warnings.append(f"no reference pieces of style {s!r}: compared with all references")
            result["styles"][s] = {**compare_stats(gen_by[s], ref), "reference_style": None}

    trainable = {k: v for k, v in ref_by.items() if len(v)}
    if len(trainable) >= 2:
        clf = train_style_classifier(trainable)
        info = clf.to_dict()
        per_style, right, total = {}, 0, 0
        for s in sorted(gen_by, key=lambda k: (k is None, k or "")):
            pred = clf.predict(gen_by[s])
            counts = {p: pred.count(p) for p in clf.styles if pred.count(p)}
            entry = {"n": len(pred), "predicted": counts}
            if s is not None and s in clf.styles:
                hit = sum(p == s for p in pred)
                entry["accuracy"] = hit / len(pred)
                right, total = right + hit, total + len(pred)
            else:
                entry["accuracy"] = None
            per_style["(no style)" if s is None else s] = entry
        info["per_style"] = per_style
        info["generated_accuracy"] = right / total if total else None
        info["n_generated_scored"] = total
        result["classifier"] = info
        if total == 0:
            warnings.append("no generated piece has a style the classifier knows: no classifier accuracy "
                            "(put generated files in style sub-folders or pass style)")
    elif ref_by:
        warnings.append("the reference has fewer than 2 styles: no style classifier")

    if plots_dir is not None:
        plots_dir = Path(plots_dir)
        result["plots"].append(str(plot_distributions(result["overall"], plots_dir / "distributions.png",
                                                      title="all styles", overwrite=overwrite)))
        for s, res in result["styles"].items():
            result["plots"].append(str(plot_distributions(
                res, plots_dir / f"distributions_{_safe_name(s)}.png", title=s, overwrite=overwrite)))
    if out_json is not None:
        write_json(result, out_json, overwrite=overwrite)
    return result


# ============================================================================ output


def _clean(obj):
    """JSON-safe copy: NaN/inf -> None, numpy scalars/arrays -> Python."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _clean(obj.tolist())
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    return obj


def write_json(result: dict, path, overwrite: bool = True) -> Path:
    """Write an evaluation result as JSON, atomically; NaN becomes null."""
    path = Path(path)
    write_text_atomic(path, json.dumps(_clean(result), indent=1, allow_nan=False) + "\n", overwrite=overwrite)
    return path


def plot_distributions(result: dict, path, title: str = "", overwrite: bool = True) -> Path:
    """A 2x2 PNG of the four distributions of a comparison result, generated vs reference."""
    try:
        from matplotlib.figure import Figure  # no pyplot: no global state, no display needed
    except ImportError:
        raise ComposerError("plots need matplotlib (pip install 'composer[plots]')") from None

    fig = Figure(figsize=(12, 8), dpi=90)
    axes = fig.subplots(2, 2).ravel()
    for ax, (key, label, _) in zip(axes, DISTRIBUTIONS):
        d = result["distributions"][key]
        x = np.arange(len(d["bins"]))
        ax.bar(x - 0.2, d["reference"], width=0.4, label=f"reference (n={d['n_reference']})", color="#4c72b0")
        ax.bar(x + 0.2, d["generated"], width=0.4, label=f"generated (n={d['n_generated']})", color="#dd8452")
        ax.set_xticks(x)
        ax.set_xticklabels(d["bins"], rotation=90 if len(x) > 12 else 0, fontsize=8)
        oa = d["oa"]
        ax.set_title(f"{label}  OA={'n/a' if oa is None or not math.isfinite(oa) else f'{oa:.3f}'}", fontsize=10)
        ax.set_ylabel("share")
        ax.legend(fontsize=8)
    fig.suptitle(f"generated vs reference: {title}" if title else "generated vs reference")
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path, overwrite=overwrite) as tmp:
        fig.savefig(tmp, format="png")
    return path


def _fmt(x, digits: int = 3) -> str:
    return "n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{digits}f}"


def _pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _table(res: dict) -> list[str]:
    rows = [("metric", "generated", "reference", "OA")]
    for key, m in res["metrics"].items():
        g, r = m["generated"], m["reference"]
        rows.append((m["label"], f"{_fmt(g['mean'])} ± {_fmt(g['std'])}", f"{_fmt(r['mean'])} ± {_fmt(r['std'])}",
                     _fmt(m["oa"])))
    rows.append(("", "", "", ""))
    for key, d in res["distributions"].items():
        rows.append((f"OA {d['label']}", "", "", _fmt(d["oa"])))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    out = []
    for i, r in enumerate(rows):
        out.append("  ".join([r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:])]).rstrip())
        if i == 0:
            out.append("  ".join("-" * w for w in widths))
    return out


def format_report(result: dict) -> str:
    """A terminal report of an evaluate_sets or evaluate_dirs result."""
    lines = []
    if "overall" in result:
        sections = [("all styles", result["overall"])] + [
            (f"style {s}" + ("" if r.get("reference_style") else " (vs all references)"), r)
            for s, r in result["styles"].items()]
        if len(sections) == 2 and sections[1][1]["n_generated"] == result["overall"]["n_generated"] \
                and sections[1][1]["n_reference"] == result["overall"]["n_reference"]:
            sections = sections[1:]
    else:
        sections = [("", result)]
    for name, res in sections:
        head = f"{name}: " if name else ""
        lines.append(f"{head}{res['n_generated']} generated vs {res['n_reference']} reference pieces")
        lines += _table(res)
        lines.append("")
    clf = result.get("classifier")
    if clf:
        lines.append(f"style classifier ({', '.join(clf['styles'])}; "
                     f"{sum(clf['n_reference'].values())} reference pieces)")
        folds = f" ({clf['cv_folds']}-fold)" if clf.get("cv_folds") else ""
        lines.append(f"  reference cross-validated accuracy{folds}: {_pct(clf['cv_accuracy'])}   (ceiling)")
        lines.append(f"  generated classified as their style: {_pct(clf.get('generated_accuracy'))}"
                     f" of {clf.get('n_generated_scored', 0)}")
        for s, e in clf.get("per_style", {}).items():
            pred = ", ".join(f"{k} {v}" for k, v in sorted(e["predicted"].items(), key=lambda kv: -kv[1]))
            cv = clf["cv_per_style"].get(s)
            cv_txt = f", reference CV {_pct(cv)}" if cv is not None else ""
            lines.append(f"    {s}: {_pct(e['accuracy'])} of {e['n']}{cv_txt}; predicted: {pred}")
    skipped = result.get("skipped", [])
    if skipped:
        lines.append(f"skipped {len(skipped)} file{'s' if len(skipped) != 1 else ''}:")
        lines += [f"  {s['path']}: {s['reason']}" for s in skipped]
    lines += [f"warning: {w}" for w in result.get("warnings", [])]
    if result.get("plots"):
        lines.append(f"plots: {', '.join(result['plots'])}")
    return "\n".join(lines).rstrip() + "\n"
