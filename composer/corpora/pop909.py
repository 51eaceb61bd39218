"""POP909 (pop): 909 Chinese / Western pop songs arranged for piano, here songs 001-809.

Each file has three tracks, all GM program 0: MELODY (the sung line), BRIDGE (secondary
melodies, fills) and PIANO (accompaniment). composer's tokenizer keys tracks by program, so the
melody would melt into the piano: MELODY becomes GM 73 (Flute), a clear, sustained lead that
renders well; BRIDGE and PIANO become one accompaniment track on GM 0 (Acoustic Grand Piano).

Licence: MIT (pop909/LICENSE), Music X Lab, Wang et al., ISMIR 2020.
"""

from __future__ import annotations

from pathlib import Path

from composer.corpora.common import Job, Piece, Skip, merge_tracks
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


def build(job: Job, seed: int = 0) -> list[Piece | Skip]:
    from composer.midi_io import read_midi

    try:
        score, note = remap(read_midi(job.args["path"]))
    except Exception as e:  # noqa: BLE001
        return [Skip(job.key, getattr(e, "reason", None) or str(e))]
    p = Path(job.args["path"])
    return [Piece("pop", SOURCE, p.stem, score, f"pop909/{p.name}", LICENCE, job.group, note)]
