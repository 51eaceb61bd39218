"""music21's bundled corpus: Bach chorales (chorale), folk tunes (folk), string quartets (classical).

Instrument choices (composer's tokenizer keys tracks by GM program, so voices that must stay
apart need distinct programs):

- chorale: soprano, alto, tenor, bass -> strings 40 Violin, 41 Viola, 42 Cello, 43 Contrabass.
  Four sustained string timbres in their natural ranges: renders cleanly with any GM bank and
  keeps the four voices separate (GM has only two convincing choir patches, 52 and 53).
- classical quartets: violin I 40 Violin, violin II 110 Fiddle (a violin timbre with its own
  program), viola 41, cello 42.
- folk: O'Neill's 1850 and Ryan's Mammoth (Irish / Scottish / American fiddle tunes) -> 110
  Fiddle; Essen folk songs (sung melodies) -> 73 Flute. Melody only.

Licence: music21's corpus (BSD; the encodings of these public-domain works are distributed
with music21).
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import numpy as np

from recipe.sources.common import Job, Piece, Skip, distinct_duplicates, norm_title, rng_for, slug
from composer.score import Score

LICENCE = "music21 corpus (BSD-3-Clause; public-domain works)"
CHORALE_PROGRAMS = {"S": 40, "A": 41, "T": 42, "B": 43}
CHORALE_NAMES = {"S": "Soprano", "A": "Alto", "T": "Tenor", "B": "Bass"}
QUARTET_PROGRAMS = [40, 110, 41, 42]
FOLK_PROGRAM = {"oneills1850": 110, "ryansMammoth": 110, "essenFolksong": 73}
ESSEN_SKIP = ("test0", "test1", "testd", "teste", "variant0")  # test files and variants of others
FOLK_SOURCES = ("oneills1850", "ryansMammoth", "essenFolksong")
QUARTET_COMPOSERS = ("beethoven", "mozart", "haydn")


def _corpus_paths() -> list[Path]:
    from music21 import corpus

    return sorted(Path(p) for p in corpus.getPaths())


def _rel(path: Path) -> str:
    parts = path.parts
    return "/".join(parts[parts.index("corpus") + 1:]) if "corpus" in parts else path.name


# ============================================================================ chorales


def chorale_jobs() -> list[Job]:
    """One job per Bach chorale harmonisation in music21's corpus (bach/bwv*.mxl/.krn/.xml)."""
    jobs = []
    for p in _corpus_paths():
        rel = _rel(p)
        if not rel.startswith("bach/") or p.suffix not in (".mxl", ".xml", ".krn") or "/" in rel[5:]:
            continue
        stem = p.stem
        jobs.append(Job("bach-chorales", "chorale", f"bach-chorales:{rel}", {"path": str(p)},
                        group=f"chorale:{stem.replace('-sc', '')}"))
    return jobs


def _voice_letter(name: str) -> str | None:
    n = name.strip().lower()
    for letter, words in (("S", ("soprano", "sopran", "s.", "canto", "cantus", "discant")),
                          ("A", ("alto", "alt", "a.")), ("T", ("tenor", "t.")),
                          ("B", ("bass", "basso", "b."))):
        if any(n == w or n.startswith(w + " ") or n.startswith(w) and len(n) <= len(w) + 2 for w in words):
            return letter
    return None


def chorale_score(score: Score) -> tuple[Score, str]:
    """The four voices of a chorale score with their programs; raises ValueError if not SATB.

    Parts are picked by name (Soprano/Alto/Tenor/Bass); a score of exactly four parts without
    usable names is taken in order, top to bottom.
    """
    pitched = [t for t in score.tracks if not t.is_drum and len(t.notes)]
    found: dict[str, object] = {}
    for t in pitched:
        letter = _voice_letter(t.name)
        if letter and letter not in found:
            found[letter] = t
    if len(found) < 4:
        if len(pitched) != 4:
            raise ValueError(f"not a four-voice chorale ({len(pitched)} parts: "
                             f"{', '.join(t.name or '?' for t in pitched)})")
        # no names: order by mean pitch, highest first
        order = sorted(pitched, key=lambda t: -float(np.mean(t.notes[:, 2])))
        found = dict(zip("SATB", order))
    tracks = []
    for letter in "SATB":
        t = found[letter]
        t.program, t.name, t.is_drum = CHORALE_PROGRAMS[letter], CHORALE_NAMES[letter], False
        tracks.append(t)
    score.tracks = tracks
    return score, "S/A/T/B -> GM 40/41/42/43"


def build_chorale(job: Job, seed: int = 0) -> list[Piece | Skip]:
    from composer.music21_io import read_music21

    try:
        score = read_music21(job.args["path"])
        score, note = chorale_score(score)
    except Exception as e:  # noqa: BLE001  (ScoreError, ValueError, music21 errors)
        return [Skip(job.key, _reason(e))]
    if not len(score.tempos):  # chorales carry no metronome marks: a calm, varied tempo
        qpm = float(rng_for(seed, job.key, "tempo").integers(60, 85))
        score.tempos = np.array([[0.0, qpm]])
        note += f"; tempo {qpm:g}"
    rel = _rel(Path(job.args["path"]))
    return [Piece("chorale", job.source, slug(Path(rel).stem), score, rel, LICENCE, job.group, note)]


# ============================================================================ quartets


def quartet_jobs() -> list[Job]:
    """Beethoven / Mozart / Haydn string quartets (and Mozart's K.545) from music21's corpus.

    A movement in both .krn and .mxl is taken once (.mxl).
    """
    jobs, seen = [], set()
    paths = [p for p in _corpus_paths() if _rel(p).split("/")[0] in QUARTET_COMPOSERS
             and p.suffix in (".mxl", ".krn", ".xml")]
    paths.sort(key=lambda p: (p.suffix != ".mxl", _rel(p)))
    for p in paths:
        rel = _rel(p)
        base = rel.rsplit(".", 1)[0]
        if base in seen:
            continue
        seen.add(base)
        jobs.append(Job("music21-quartets", "classical", f"music21-quartets:{rel}", {"path": str(p)},
                        group=f"classical:{base}"))
    return sorted(jobs, key=lambda j: j.key)


def quartet_programs(score: Score) -> str:
    """Four string parts -> 40/110/41/42 (distinct violins), in place; else split duplicates."""
    pitched = [t for t in score.tracks if not t.is_drum and len(t.notes)]
    names = " ".join(t.name.lower() for t in pitched)
    if len(pitched) == 4 and ("viol" in names or "cello" in names or {t.program for t in pitched} <= {40, 41, 42, 0}):
        for t, prog in zip(pitched, QUARTET_PROGRAMS):
            t.program = prog
        return "quartet -> GM 40/110/41/42"
    changes = distinct_duplicates(score)
    return "; ".join(changes) if changes else "programs as notated"


def build_quartet(job: Job, seed: int = 0) -> list[Piece | Skip]:
    from composer.music21_io import read_music21

    try:
        score = read_music21(job.args["path"])
    except Exception as e:  # noqa: BLE001
        return [Skip(job.key, _reason(e))]
    note = quartet_programs(score)
    rel = _rel(Path(job.args["path"]))
    name = slug(rel.rsplit(".", 1)[0].replace("/", "_"))
    return [Piece("classical", job.source, name, score, rel, LICENCE, job.group, note)]


# ============================================================================ folk tunes


def split_abc(text: str) -> list[tuple[str, str]]:
    """(X number, tune text) per tune of an ABC book; the file header precedes every tune."""
    starts = [m.start() for m in re.finditer(r"(?m)^X:", text)]
    if not starts:
        return []
    header = text[:starts[0]]
    header = "\n".join(line for line in header.splitlines() if re.match(r"^[A-Za-z]:", line)
                       and not line.startswith(("T:", "X:")))
    out = []
    for i, s in enumerate(starts):
        body = text[s:starts[i + 1] if i + 1 < len(starts) else len(text)]
        m = re.match(r"X:\s*(\S*)", body)
        number = m.group(1) if m else str(i + 1)
        lines = body.splitlines()
        tune = "\n".join([lines[0]] + ([header] if header else []) + lines[1:]).strip() + "\n"
        out.append((number, tune))
    return out


def abc_title(tune: str) -> str:
    m = re.search(r"(?m)^T:\s*(.+)$", tune)
    return m.group(1).strip() if m else ""


def folk_jobs(sources=FOLK_SOURCES) -> list[Job]:
    """One job per tune of O'Neill's 1850, Ryan's Mammoth and the Essen collection.

    O'Neill's books overlap (several files hold the same tune numbers): a tune number is taken
    from its first file only. Jobs hold the tune's ABC text, so building needs no file access.
    """
    jobs, seen = [], set()
    for p in _corpus_paths():
        rel = _rel(p)
        top = rel.split("/")[0]
        if top not in sources or p.suffix != ".abc" or (top == "essenFolksong" and p.stem in ESSEN_SKIP):
            continue
        try:
            text = p.read_text(encoding="latin-1")
        except OSError:
            continue
        for number, tune in split_abc(text):
            ident = f"{top}:{number}" if top == "oneills1850" else f"{rel}:{number}"
            if ident in seen:
                continue
            seen.add(ident)
            title = abc_title(tune)
            group = f"folk:{top}:{number}" if top == "oneills1850" else f"folk:{rel}:{number}"
            jobs.append(Job(f"music21-{top}", "folk", f"music21-{top}:{rel}:{number}",
                            {"abc": tune, "collection": top, "rel": rel, "number": number, "title": title},
                            group=group))
    return jobs


def folk_score(score: Score, collection: str) -> tuple[Score, str]:
    """Keep the melody (the highest-pitched, fullest track) on the collection's program."""
    pitched = [t for t in score.tracks if not t.is_drum and len(t.notes)]
    if not pitched:
        raise ValueError("no melody")
    melody = max(pitched, key=lambda t: (len(t.notes), float(np.mean(t.notes[:, 2]))))
    program = FOLK_PROGRAM.get(collection, 73)
    melody.program, melody.name = program, "Melody"
    score.tracks = [melody]
    return score, f"melody -> GM {program}"


def build_folk(job: Job, seed: int = 0) -> list[Piece | Skip]:
    from composer.music21_io import read_music21

    a = job.args
    fd, tmp = tempfile.mkstemp(suffix=".abc", prefix="corpus-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(a["abc"])
        score = read_music21(tmp)
        score, note = folk_score(score, a["collection"])
        if score.note_count < 8:
            raise ValueError(f"too short ({score.note_count} notes)")
    except Exception as e:  # noqa: BLE001
        return [Skip(job.key, _reason(e))]
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass
    book = Path(a["rel"]).stem
    name = slug(f"{book}_{a['number']}_{a['title']}" if a["collection"] != "ryansMammoth"
                else f"{book}_{a['number']}")
    original = f"{a['rel']} X:{a['number']} {a['title']}".strip()
    return [Piece("folk", job.source, name, score, original, LICENCE, job.group or norm_title(a["title"]), note)]


# ============================================================================ dispatch


def build(job: Job, seed: int = 0) -> list[Piece | Skip]:
    if job.style == "chorale":
        return build_chorale(job, seed)
    if job.style == "classical":
        return build_quartet(job, seed)
    return build_folk(job, seed)


def _reason(e: Exception) -> str:
    reason = getattr(e, "reason", None) or str(e) or type(e).__name__
    return reason.strip().splitlines()[0][:200] if reason.strip() else type(e).__name__
