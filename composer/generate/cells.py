"""What an infill or arrange request hides, in the model's terms: bars and track keys.

    bars = parse_bars("9-12", n_bars)              # 0-based bar indices
    keys = track_keys(score, ["bass", "#3"], file)  # the track keys of the named tracks

A track is named by its own name (as `compose inspect` lists it), by `#N` (its number in
that list), or by an instrument name or GM number as `--instruments` takes them ("bass"
names every bass track of the file). Every refusal is a one-line ComposerError.
"""

from __future__ import annotations

from ..errors import ComposerError
from ..gm import instrument_keys, short_name
from ..score import DRUM_KEY, Score

# accompaniment written by `arrange` when --instruments is not given, per style: the band most
# of the style's corpus plays (jazz: piano, jazz guitar, bass and drums in 150 of its 159
# pieces; blues: piano, bass and drums, the commonest of its bands). Each key must be one the
# style's corpus plays; the model's config says which.
ENSEMBLES = {"jazz": [0, 26, 32, DRUM_KEY], "latin": [24, 32, DRUM_KEY], "blues": [0, 32, DRUM_KEY],
             "pop": [0], "chorale": [41, 42, 43], "classical": [0]}
# melody instruments of each style's corpus, first the most common: a melody on an instrument
# the style never plays is shown to the model as the first of these (its file keeps its own)
LEADS = {"jazz": [66, 56, 65, 11], "latin": [73, 66, 65, 11], "blues": [66, 65, 56, 22], "pop": [73],
         "chorale": [40], "classical": [40, 73, 71, 0], "folk": [73, 110]}


def parse_bars(text: str, n_bars: int, where: str = "the piece") -> list[int]:
    """`9-12`, `9`, `1-4,9-12` (1-based, inclusive) -> sorted 0-based bar indices."""
    out: set[int] = set()
    for part in str(text).replace(" ", "").split(","):
        lo, sep, hi = part.partition("-")
        try:
            a, b = int(lo), int(hi) if sep else int(lo)
        except ValueError:
            raise ComposerError(f"--bars {text}: expected bar numbers like 9-12 or 3,5-6") from None
        if a < 1 or b < a:
            raise ComposerError(f"--bars {text}: bars count from 1, and a range runs low-high")
        if b > n_bars:
            raise ComposerError(f"--bars {text}: {where} has {n_bars} bar{'s' * (n_bars != 1)}")
        out.update(range(a - 1, b))
    return sorted(out)


def track_list(score: Score) -> str:
    """The file's tracks as `compose inspect` numbers them: `#1 Melody (flute), #2 ...`."""
    return ", ".join(f"#{i} {t.name or short_name(t.key)} ({short_name(t.key).lower()})"
                     for i, t in enumerate(score.tracks, 1))


def track_keys(score: Score, names: list[str], where: str) -> frozenset[int]:
    """The track keys of the named tracks (see the module doc)."""
    keys: set[int] = set()
    for name in names:
        text = name.strip()
        found: set[int] = set()
        if text.startswith("#") and text[1:].isdigit():
            i = int(text[1:])
            if 1 <= i <= len(score.tracks):
                found = {score.tracks[i - 1].key}
        else:
            found = {t.key for t in score.tracks if t.name.strip().lower() == text.lower()}
            if not found:
                try:
                    wanted = set(instrument_keys(text))
                except ComposerError:
                    wanted = set()
                found = {t.key for t in score.tracks if t.key in wanted}
        if not found:
            raise ComposerError(f"--tracks {text}: {where} has no such track; its tracks: {track_list(score)}")
        keys |= found
    return frozenset(keys)


def check_infillable(score: Score, where: str, tokenizer) -> None:
    """Refuse what infilling cannot work on: no notes, a meter the tokens cannot hold."""
    if not score.note_count:
        raise ComposerError(f"{where}: has no notes to work with")
    for _, num, den in score.time_signatures.tolist():
        if tokenizer.meter_spelling(num, den) is None:
            raise ComposerError(f"{where}: its {num}/{den} meter is not one the model can write "
                                "(up to 8 quarter notes a bar, denominators 2, 4, 8, 16)")
