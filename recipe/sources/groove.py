"""Groove MIDI drum performances as the drum part of rendered leadsheets.

The Groove MIDI Dataset (Gillick et al. 2019, CC BY 4.0) holds human drummers playing to a
click on an electronic kit: `groove/info.csv` gives each take's style (`jazz/swing`,
`latin/brazilian-bossa`, `blues/shuffle`, ...), bpm, meter and `beat_type` (beat or fill). Its
MIDI files are on the click's beat grid from tick 0, so a take's bars can stand in, bar for
bar, for the pattern drums MMA plays: the arrangement keeps MMA's bass and comping and gets a
real drummer's ride patterns, ghost notes, fills and dynamics.

`drums_for(family, meter, tempo, bars, tpq, rng, index)` picks a take of the rendition's groove
family (the nearer its bpm to the tempo, the likelier), starts at a random whole bar and loops
its whole bars to cover the piece. Families without takes (latin waltz) keep MMA's drums.
Only the dataset's train split is read (the shared copy holds nothing else).
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from composer.score import ONSET, PITCH, Track

LICENCE = "CC BY 4.0 (Groove MIDI Dataset, Gillick et al. 2019, Magenta)"

# rendition family (improvisor.GROOVES) -> the Groove styles whose beats fit it
STYLES = {
    "swing": ("jazz", "jazz/swing", "jazz/mediumfast", "jazz/fast"),
    "swing-fast": ("jazz", "jazz/swing", "jazz/mediumfast", "jazz/fast"),
    "ballad": ("jazz", "jazz/swing"),
    "waltz": ("jazz",),
    "bossa": ("latin/brazilian-bossa",),
    "samba": ("latin/brazilian-samba",),
    "blues-slow": ("blues/shuffle", "rock/shuffle"),
    "blues": ("blues/shuffle", "rock/shuffle"),
    "blues-fast": ("blues/shuffle", "rock/shuffle"),
}
# the Roland TD-11's extra notes, as the dataset's own paper maps them to General MIDI
GM_PITCH = {22: 42, 26: 46, 58: 43}
BPM_SPREAD = 0.2  # take weights fall off as exp(-|log(bpm / tempo)| / BPM_SPREAD)
MIN_BARS = 4


@dataclass(frozen=True)
class Take:
    path: str  # relative to the groove folder
    style: str
    bpm: float
    meter: tuple[int, int]


@functools.lru_cache(maxsize=4)
def index(groove_dir: str) -> tuple[Take, ...]:
    """The folder's usable beats (not fills, at least MIN_BARS + 1 bars long) whose style some
    family uses."""
    root = Path(groove_dir)
    wanted = {s for styles in STYLES.values() for s in styles}
    takes = []
    with open(root / "info.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row["beat_type"] != "beat" or row["style"] not in wanted or not (root / row["midi_filename"]).is_file():
                continue
            num, den = (int(x) for x in row["time_signature"].split("-"))
            if float(row["duration"]) * float(row["bpm"]) / 60 < (MIN_BARS + 1) * 4 * num / den:
                continue  # a few bars only: too short to loop
            takes.append(Take(row["midi_filename"], row["style"], float(row["bpm"]), (num, den)))
    return tuple(takes)


def candidates(takes, family: str, meter: tuple[int, int]) -> list[Take]:
    styles = STYLES.get(family, ())
    return [t for t in takes if t.style in styles and t.meter == tuple(meter)]


def choose(takes: list[Take], tempo: float, rng: np.random.Generator) -> Take:
    w = np.exp(-np.abs(np.log([t.bpm / tempo for t in takes])) / BPM_SPREAD)
    return takes[int(rng.choice(len(takes), p=w / w.sum()))]


def bars_of(notes: np.ndarray, bar_ticks: int, beat_ticks: int) -> list[np.ndarray]:
    """The take's whole bars (onsets made bar-relative), from its first bar with a note to its
    last complete one: the bar holding the last onset counts if it is played into its last beat."""
    end = int(notes[:, ONSET].max())
    last = end // bar_ticks + (end % bar_ticks >= bar_ticks - beat_ticks)
    first = int(notes[:, ONSET].min()) // bar_ticks
    out = []
    for b in range(first, last):
        sel = notes[(notes[:, ONSET] >= b * bar_ticks) & (notes[:, ONSET] < (b + 1) * bar_ticks)].copy()
        sel[:, ONSET] -= b * bar_ticks
        out.append(sel)
    return out


def loop(bars: list[np.ndarray], start: int, count: int, bar_ticks: int) -> np.ndarray:
    """`count` bars from bar `start` on, wrapping round to the take's first bar."""
    rows = []
    for i in range(count):
        bar = bars[(start + i) % len(bars)].copy()
        bar[:, ONSET] += i * bar_ticks
        rows.append(bar)
    return np.concatenate(rows) if rows else np.zeros((0, 4), dtype=np.int64)


def drums_for(groove_dir, family: str, meter: tuple[int, int], tempo: float, bars: int, tpq: int,
              rng: np.random.Generator) -> tuple[Track, str] | None:
    """A drum Track of `bars` bars at `tpq` from a take that fits, and a note naming the take;
    None when no take fits the family and meter (or the chosen take is too short)."""
    from composer.midi_io import read_midi

    fits = candidates(index(str(groove_dir)), family, meter)
    if not fits:
        return None
    take = choose(fits, tempo, rng)
    score = read_midi(Path(groove_dir) / take.path)
    notes = np.concatenate([t.notes for t in score.tracks if t.is_drum] or [np.zeros((0, 4), np.int64)])
    num, den = take.meter
    bar_ticks = score.tpq * 4 * num // den
    whole = bars_of(notes, bar_ticks, score.tpq * 4 // den) if len(notes) else []
    if len(whole) < MIN_BARS:
        return None
    start = int(rng.integers(len(whole)))
    out = loop(whole, start, bars, bar_ticks)
    out[:, PITCH] = [GM_PITCH.get(int(p), int(p)) for p in out[:, PITCH]]
    if tpq != score.tpq:  # onto the arrangement's tick grid
        out[:, :2] = np.maximum(np.round(out[:, :2] * (tpq / score.tpq)).astype(np.int64), [0, 1])
    out = out[np.lexsort((out[:, PITCH], out[:, ONSET]))]
    return Track(program=0, is_drum=True, name="Drums", notes=out), \
        f"drums Groove MIDI {take.path.rsplit('.', 1)[0]} ({take.style}, {take.bpm:g} bpm, from bar {start + 1})"
