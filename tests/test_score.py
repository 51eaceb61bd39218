"""Score helpers."""

import numpy as np

from composer.score import Score, Track, straighten_drum_beats


def test_drum_pushes_and_drags_go_onto_the_beat_and_nothing_else_moves():
    drums = np.array([[11, 1, 42, 60],   # pushed: onto beat 1 (tick 12)
                      [12, 1, 42, 90],   # on the beat, louder than the push: it stays
                      [13, 1, 36, 80],   # dragged: onto tick 12
                      [8, 1, 42, 70],    # a swung eighth (triplet), not a push
                      [3, 1, 38, 70],    # a sixteenth
                      [25, 1, 42, 50]])  # a drag off beat 2
    piano = np.array([[11, 2, 60, 80]])
    score = Score(tpq=12, tracks=[Track(0, False, "Piano", piano), Track(0, True, "Drums", drums)], end=48)
    out = straighten_drum_beats(score)
    assert out.tracks[0].notes.tolist() == piano.tolist()
    assert sorted(out.tracks[1].notes.tolist()) == [[3, 1, 38, 70], [8, 1, 42, 70], [12, 1, 36, 80],
                                                    [12, 1, 42, 90], [24, 1, 42, 50]]
    assert score.tracks[1].notes.tolist() == drums.tolist()  # the input is not modified
    assert straighten_drum_beats(Score(tpq=480, tracks=[Track(0, True, "D", np.array([[470, 5, 42, 60]]))])
                                 ).tracks[0].notes[0, 0] == 480  # any tpq: under a 32nd note off the beat
