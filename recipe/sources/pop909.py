"""POP909 (pop): 909 Chinese / Western pop songs arranged for piano, here songs 001-809.

Each file has three tracks, all GM program 0: MELODY (the sung line), BRIDGE (secondary
melodies, fills) and PIANO (accompaniment). composer's tokenizer keys tracks by program, so the
melody would melt into the piano: MELODY becomes GM 73 (Flute), a clear, sustained lead that
renders well; BRIDGE and PIANO become one accompaniment track on GM 0 (Acoustic Grand Piano).

Bar lines (align_bars): the files' notes sit on a beat grid that starts where the recording
did, not at tick 0, and every beat is marked as a bar of 1/4 (the real downbeats are in
annotation files this copy does not have). Left so, every note lands off the token grid and a
"bar" is one beat: the model wrote 16 beats when asked for 16 bars. Each song is shifted onto
a grid from tick 0 and barred in 4/4, the bar lines on the beats where the accompaniment's bass
notes fall most often (a pickup bar before them). The handful of songs in 3 get 4/4 bars too.

Licence: MIT (pop909/LICENSE), Music X Lab, Wang et al., ISMIR 2020.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recipe.sources.common import Job, Piece, Skip, merge_tracks
from composer.score import Score

SOURCE = "pop909"
LICENCE = "MIT (POP909, Music X Lab)"
MELODY_PROGRAM = 73
PIANO_PROGRAM = 0


def jobs(shared_data) -> tuple[list[Job], list[Skip]]:
    root = Path(shared_data) / "pop909"
    if not root.is_dir():
        return [], [Skip("pop909", f"{root}: no such folder")]
    files = sorted(p for p in root.iterdir() if p.suffix.lower() == ".mid")
    return [Job(SOURCE, "pop", f"pop909:{p.name}", {"path": str(p)}, group=f"pop:{p.stem}")
            for p in files], []


def remap(score: Score) -> tuple[Score, str]:
    """MELODY -> GM 73 on its own track; BRIDGE + PIANO (+ anything else) -> one GM 0 track.

    Tracks are recognised by name; a file without a MELODY track raises ValueError.
    """
    pitched = [t for t in score.tracks if not t.is_drum and len(t.notes)]
    melody = [t for t in pitched if t.name.strip().upper() == "MELODY"]
    if not melody:
        raise ValueError(f"no MELODY track (tracks: {', '.join(t.name or '?' for t in pitched)})")
    rest = [t for t in pitched if t is not melody[0]]
    mel = merge_tracks(melody[:1], MELODY_PROGRAM, "Melody")
    tracks = [mel]
    if rest:
        tracks.append(merge_tracks(rest, PIANO_PROGRAM, "Piano"))
    score.tracks = tracks
    return score, f"MELODY -> GM {MELODY_PROGRAM}; {'+'.join(t.name or '?' for t in rest)} -> GM {PIANO_PROGRAM}"


def align_bars(score: Score) -> str:
    """Move the notes onto a grid from tick 0 and bar the song in 4/4 (see the module docstring).

    The grid's phase is the most common onset position within a 16th, then within a beat; the
    bar's phase is the beat (of 4) with the most bass-register accompaniment onsets, weighted by
    their length. Tempo and key changes move with the notes."""
    tpq, sixteenth = score.tpq, max(1, score.tpq // 4)
    pitched = [t for t in score.tracks if len(t.notes)]
    if not pitched:
        return "no notes"
    onsets = np.concatenate([t.notes[:, 0] for t in pitched]).astype(np.int64)
    phase = int(np.bincount(onsets % sixteenth, minlength=sixteenth).argmax())
    phase += sixteenth * int(np.bincount((onsets - phase) % tpq // sixteenth, minlength=4).argmax())
    shift = -phase if onsets.min() >= phase else tpq - phase  # never before tick 0
    for t in score.tracks:
        t.notes[:, 0] += shift
    for table in (score.tempos, score.key_signatures):
        if len(table):
            table[1:, 0] = np.maximum(table[1:, 0] + shift, 0)
    score.end = max(0, score.end + shift)
    bass = _accompaniment(score)
    bass = bass[(bass[:, 0] % tpq == 0) & (bass[:, 2] <= np.percentile(bass[:, 2], 25))] if len(bass) else bass
    weight = np.bincount(bass[:, 0] // tpq % 4, weights=bass[:, 1], minlength=4) if len(bass) else np.zeros(4)
    first = int(weight.argmax())  # the beat (of 4, counted from tick 0) the bar lines fall on
    score.time_signatures = np.array([[0, 4, 4]] if first == 0 else [[0, first, 4], [first * tpq, 4, 4]],
                                     dtype=np.int64)
    return f"grid moved {shift:+d} ticks; 4/4 from beat {first}"


def _accompaniment(score: Score) -> np.ndarray:
    tracks = [t for t in score.tracks if t.program == PIANO_PROGRAM and len(t.notes)] or \
        [t for t in score.tracks if len(t.notes)]
    return np.concatenate([t.notes for t in tracks]) if tracks else np.zeros((0, 4), dtype=np.int64)


def build(job: Job, seed: int = 0) -> list[Piece | Skip]:
    from composer.midi_io import read_midi

    try:
        score, note = remap(read_midi(job.args["path"]))
        note = f"{note}; {align_bars(score)}"
    except Exception as e:  # noqa: BLE001
        return [Skip(job.key, getattr(e, "reason", None) or str(e))]
    p = Path(job.args["path"])
    return [Piece("pop", SOURCE, p.stem, score, f"pop909/{p.name}", LICENCE, job.group, note)]
