"""Mutopia Project MIDI files (classical): keyboard, guitar and chamber pieces.

`MANIFEST.csv` gives each file's period, composer, instrumentation, licence and typesetter.
Vocal and orchestral pieces are left out (lyrics-driven lines and 10+ staff scores do not fit a
small model), as are files longer than `MAX_NOTES` notes or `MAX_SECONDS` seconds. LilyPond
writes a second violin with the same program as the first: it becomes GM 110 (Fiddle) so the
tokenizer keeps the two parts apart; keyboard staves sharing a program stay one instrument.

Licence: per piece, Public Domain or CC BY / CC BY-SA (credit the Mutopia Project and the
typesetter named in the manifest).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from recipe.sources.common import Job, Piece, Skip, distinct_duplicates, slug

SOURCE = "mutopia"
MAX_NOTES = 6000
MAX_SECONDS = 600.0
EXCLUDE = re.compile(r"voice|vocal|choir|chorus|satb|ttbb|soprano|tenor|baryton|mezzo|s\.s\.a|"
                     r"orchestra|orgue|percussion|timpani|drum|bells|\bvoices?\b", re.I)


def wanted(row: dict) -> str | None:
    """None if the manifest row is a piece to use, else the reason to leave it out."""
    inst = row.get("instrument", "") or ""
    if EXCLUDE.search(inst):
        return f"instrumentation not used ({inst})"
    try:
        notes, seconds = int(row.get("notes") or 0), float(row.get("seconds") or 0)
    except ValueError:
        return "manifest row unreadable"
    if notes > MAX_NOTES:
        return f"too many notes ({notes} > {MAX_NOTES})"
    if seconds > MAX_SECONDS:
        return f"too long ({seconds:.0f} s > {MAX_SECONDS:.0f} s)"
    if notes < 50:
        return f"too short ({notes} notes)"
    return None


def jobs(shared_data) -> tuple[list[Job], list[Skip]]:
    root = Path(shared_data) / "mutopia"
    manifest = root / "MANIFEST.csv"
    if not manifest.is_file():
        return [], [Skip("mutopia", f"{manifest}: no manifest")]
    out, skips = [], []
    with open(manifest, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            key = f"mutopia:{row.get('file', '')}"
            reason = wanted(row)
            if reason:
                skips.append(Skip(key, reason))
                continue
            out.append(Job(SOURCE, "classical", key, {"path": str(root / row["file"]), "row": dict(row)},
                           group=f"classical:mutopia:{row.get('piece_dir') or row['file']}"))
    return out, skips


def licence_of(row: dict) -> str:
    lic = (row.get("licence") or "unknown").strip()
    typesetter = (row.get("typesetter") or "").strip()
    return f"{lic} (Mutopia Project{', typeset by ' + typesetter if typesetter else ''})"


def build(job: Job, seed: int = 0) -> list[Piece | Skip]:
    from composer.midi_io import read_midi

    row = job.args["row"]
    try:
        score = read_midi(job.args["path"])
    except Exception as e:  # noqa: BLE001
        return [Skip(job.key, getattr(e, "reason", None) or str(e))]
    score.tracks = [t for t in score.tracks if not t.is_drum and len(t.notes)]
    if not score.tracks:
        return [Skip(job.key, "no pitched notes")]
    changes = distinct_duplicates(score)
    note = f"{row.get('style', '')}; {row.get('instrument', '')}" + (f"; {', '.join(changes)}" if changes else "")
    original = f"mutopia/{row['file']} ({row.get('composer', '')}: {row.get('title', '')})"
    return [Piece("classical", SOURCE, slug(Path(row["file"]).stem), score, original, licence_of(row),
                  job.group, note)]
