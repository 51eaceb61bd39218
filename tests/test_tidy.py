"""Score helpers."""

import numpy as np

from composer.score import Score, Track
from composer.tidy import clip_to_end, straighten_drum_beats


def test_drum_pushes_and_drags_go_onto_the_beat_and_nothing_else_moves():
    drums = np.array([[11, 1, 42, 60],   # pushed: onto beat 1 (tick 12)
                      [12, 1, 42, 90],   # on the beat, louder than the push: it stays
                      [13, 1, 36, 80],   # dragged: onto tick 12
                      [8, 1, 42, 70],    # a swung eighth (triplet), not a push
                      [3, 1, 38, 70],    # a sixteenth
                      [25, 1, 42, 50],   # a drag off beat 2
                      [47, 1, 49, 80]])  # a push into the bar after the end: stays
    piano = np.array([[11, 2, 60, 80]])
    score = Score(tpq=12, tracks=[Track(0, False, "Piano", piano), Track(0, True, "Drums", drums)], end=48)
    out = straighten_drum_beats(score)
    assert out.tracks[0].notes.tolist() == piano.tolist()
    assert sorted(out.tracks[1].notes.tolist()) == [[3, 1, 38, 70], [8, 1, 42, 70], [12, 1, 36, 80],
                                                    [12, 1, 42, 90], [24, 1, 42, 50], [47, 1, 49, 80]]
    assert score.tracks[1].notes.tolist() == drums.tolist()  # the input is not modified
    assert straighten_drum_beats(Score(tpq=480, tracks=[Track(0, True, "D", np.array([[470, 5, 42, 60]]))])
                                 ).tracks[0].notes[0, 0] == 480  # any tpq: under a 32nd note off the beat


def test_notes_ringing_past_the_end_are_cut_at_it():
    notes = np.array([[0, 48, 60, 80],    # a whole bar: ends at the end
                      [40, 20, 64, 80],   # would ring 12 ticks into the next bar
                      [47, 3, 36, 90],    # a hit on the last step
                      [48, 2, 38, 90]])   # starts at the end: dropped
    score = Score(tpq=12, tracks=[Track(0, False, "Piano", notes)], end=48)
    out = clip_to_end(score)
    assert out.tracks[0].notes.tolist() == [[0, 48, 60, 80], [40, 8, 64, 80], [47, 1, 36, 90]]
    assert out.notes_end() == 48 and score.tracks[0].notes[1, 1] == 20  # the input is not modified
