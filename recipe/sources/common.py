"""Shared pieces of the corpus builders: jobs, pieces, skips, seeded hashing, track programs."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field

import numpy as np

from composer.score import PITCH, Score, Track


@dataclass
class Job:
    """One unit of work for a source's `build(job)`: cheap to make, picklable, independent.

    `key` is unique across the whole corpus (source + file + variant); `group` names the
    composition, so that the held-out split never puts renditions of one piece on both sides.
    """
    source: str
    style: str
    key: str
    args: dict = field(default_factory=dict)
    group: str = ""


@dataclass
class Piece:
    style: str
    source: str
    name: str  # file stem, unique within OUT/<style>/<source>/
    score: Score
    original: str  # source file (and tune / title) it came from
    licence: str
    group: str  # composition identity, for the held-out split
    notes: str = ""  # what was done to it (program remapping, groove, tempo...)


@dataclass
class Skip:
    key: str
    reason: str


def stable_hash(*parts) -> int:
    """A 64-bit hash of `parts` that is the same on every run and machine (unlike hash())."""
    text = "\x1f".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def rng_for(*parts) -> np.random.Generator:
    """A numpy generator seeded by `parts` (e.g. seed, source, file): reproducible per piece."""
    return np.random.default_rng(stable_hash(*parts))


def slug(text: str, limit: int = 80) -> str:
    """A file-name-safe ASCII version of `text` (letters, digits, '-', '_')."""
    text = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode()
    text = re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_-")
    return (text[:limit].rstrip("_-") or "untitled")


def norm_title(text: str) -> str:
    """Lower-case alphanumerics of a title, for grouping the same tune across files."""
    text = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode().lower()
    text = re.sub(r"^(the|a|an)\s+", "", text.strip())
    return re.sub(r"[^a-z0-9]+", "", text)


def merge_tracks(tracks: list[Track], program: int, name: str = "") -> Track:
    """One pitched track holding the notes of `tracks`, sorted by onset then pitch."""
    notes = np.concatenate([t.notes for t in tracks]) if tracks else np.zeros((0, 4), dtype=np.int64)
    if len(notes):
        notes = notes[np.lexsort((notes[:, PITCH], notes[:, 0]))]
    return Track(program=int(program), is_drum=False, name=name, notes=notes)


# second instances of an instrument that the tokenizer would otherwise merge into the first
# (it keys tracks by GM program): a second violin becomes GM 110 "Fiddle", a violin timbre.
ALTERNATE_PROGRAM = {40: 110}


def distinct_duplicates(score: Score, alternates: dict[int, int] | None = None) -> list[str]:
    """Give the second track of a program listed in `alternates` the alternate program, in place.

    Keyboard / guitar staves sharing a program are one instrument and stay merged; only the
    listed programs (by default: violin, whose two parts in a quartet are distinct voices) are
    split. Returns a description of each change.
    """
    alternates = ALTERNATE_PROGRAM if alternates is None else alternates
    seen: set[int] = set()
    changes = []
    for t in score.tracks:
        if t.is_drum:
            continue
        if t.program in seen and t.program in alternates and alternates[t.program] not in seen:
            changes.append(f"{t.name or 'track'} {t.program}->{alternates[t.program]}")
            t.program = alternates[t.program]
        seen.add(t.program)
    return changes
