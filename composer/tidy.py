"""Tidying a generated score for the programs musicians open it in.

Notation importers read MIDI more strictly than players: MuseScore decides a file is a live
performance when the first onset near most beats is not exactly on the beat, then ignores
its tempo and bar lines; notes ringing past the last bar add a bar. docs/daw-check.md has
the measurements behind both fixes.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .score import DURATION, ONSET, PITCH, VELOCITY, Score


def straighten_drum_beats(score: Score) -> Score:
    """The score with drum onsets less than a 32nd note off a beat moved onto it (the same
    pitch twice at one onset: the louder hit stays; nothing moves to or past `score.end`);
    everything else unchanged.

    A drummer's pushes and drags survive tokenisation as hits one grid step (1/12 of a beat)
    early or late. DAWs play them as feel, but notation importers read them as a live
    performance: MuseScore then ignores the file's tempo and bar lines and guesses its own
    (it checks whether the first onset near each beat is exactly on it)."""
    # a push into a bar after the last one stays where it is
    stay = (lambda onsets, beats: beats >= score.end) if score.end > 0 else None
    return replace(score, tracks=[replace(t, notes=straighten_drum_notes(t.notes, score.tpq, stay) if t.is_drum
                                          else t.notes) for t in score.tracks])


def straighten_drum_notes(notes: np.ndarray, tpq: int, stay=None) -> np.ndarray:
    """Drum notes (onset, duration, pitch, velocity rows) with onsets less than a 32nd note off
    a beat moved onto it, except where stay(onsets, beats) is True; the same pitch twice at one
    onset: the louder hit stays."""
    if not len(notes):
        return notes
    notes = notes.copy()
    beat = (notes[:, ONSET] + tpq // 2) // tpq * tpq  # the nearest beat
    near = 8 * np.abs(beat - notes[:, ONSET]) < tpq
    if stay is not None:
        near &= ~stay(notes[:, ONSET], beat)
    notes[near, ONSET] = beat[near]
    notes = notes[np.lexsort((-notes[:, VELOCITY], notes[:, PITCH], notes[:, ONSET]))]
    first = np.ones(len(notes), dtype=bool)
    first[1:] = (notes[1:, ONSET] != notes[:-1, ONSET]) | (notes[1:, PITCH] != notes[:-1, PITCH])
    return notes[first]


def clip_to_end(score: Score) -> Score:
    """The score with every note ending by `score.end` (notes starting there or later dropped):
    a piece asked for in N bars then has N bars in every importer, not a last bar of ringing
    notes after them."""
    if score.end <= 0:
        return score
    tracks = []
    for t in score.tracks:
        notes = t.notes[t.notes[:, ONSET] < score.end].copy()
        notes[:, DURATION] = np.maximum(np.minimum(notes[:, DURATION], score.end - notes[:, ONSET]), 1)
        tracks.append(replace(t, notes=notes))
    return replace(score, tracks=tracks)
