"""The key a piece implies, for the key signature of a written file.

Krumhansl-Kessler key finding: correlate the piece's duration-weighted pitch-class histogram
(drums left out) with the 24 rotated major and minor key profiles and take the best.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .score import DURATION, PITCH, Score

# Krumhansl & Kessler (1982) probe-tone profiles, tonic first
MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def estimate_key(score: Score) -> tuple[int, int] | None:
    """(sharps -7..7 as a key signature writes them, mode 0 major / 1 minor), or None for a
    piece without pitched notes."""
    hist = np.zeros(12)
    for t in score.tracks:
        if not t.is_drum and len(t.notes):
            np.add.at(hist, t.notes[:, PITCH] % 12, np.maximum(t.notes[:, DURATION], 1))
    if not hist.any():
        return None
    best, found = -np.inf, (0, 0)
    for mode, profile in enumerate((MAJOR, MINOR)):
        for tonic in range(12):
            r = np.corrcoef(hist, np.roll(profile, tonic))[0, 1]
            if np.isfinite(r) and r > best:
                best, found = r, (tonic, mode)
    tonic, mode = found
    major_tonic = (tonic + 3) % 12 if mode else tonic  # a minor key has its relative major's sharps
    return (major_tonic * 7 + 5) % 12 - 5, mode


def with_key_signature(score: Score) -> Score:
    """`score` itself if it has a key signature, else with the key it implies at tick 0."""
    if len(score.key_signatures):
        return score
    key = estimate_key(score)
    return score if key is None else replace(score, key_signatures=np.array([[0, *key]], dtype=np.int64))
