"""General MIDI names: the 128 GM1 program names, short track names, and user instrument names.

Track keys are the GM program 0-127, or `DRUM_KEY` (128) for a drum track (MIDI channel 10).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from composer.errors import ComposerError
from composer.score import DRUM_KEY

PROGRAM_NAMES: tuple[str, ...] = (
    # Piano
    "Acoustic Grand Piano", "Bright Acoustic Piano", "Electric Grand Piano", "Honky-tonk Piano",
    "Electric Piano 1", "Electric Piano 2", "Harpsichord", "Clavinet",
    # Chromatic Percussion
    "Celesta", "Glockenspiel", "Music Box", "Vibraphone", "Marimba", "Xylophone", "Tubular Bells", "Dulcimer",
    # Organ
    "Drawbar Organ", "Percussive Organ", "Rock Organ", "Church Organ", "Reed Organ", "Accordion", "Harmonica",
    "Tango Accordion",
    # Guitar
    "Acoustic Guitar (nylon)", "Acoustic Guitar (steel)", "Electric Guitar (jazz)", "Electric Guitar (clean)",
    "Electric Guitar (muted)", "Overdriven Guitar", "Distortion Guitar", "Guitar Harmonics",
    # Bass
    "Acoustic Bass", "Electric Bass (finger)", "Electric Bass (pick)", "Fretless Bass", "Slap Bass 1",
    "Slap Bass 2", "Synth Bass 1", "Synth Bass 2",
    # Strings
    "Violin", "Viola", "Cello", "Contrabass", "Tremolo Strings", "Pizzicato Strings", "Orchestral Harp", "Timpani",
    # Ensemble
    "String Ensemble 1", "String Ensemble 2", "Synth Strings 1", "Synth Strings 2", "Choir Aahs", "Voice Oohs",
    "Synth Voice", "Orchestra Hit",
    # Brass
    "Trumpet", "Trombone", "Tuba", "Muted Trumpet", "French Horn", "Brass Section", "Synth Brass 1", "Synth Brass 2",
    # Reed
    "Soprano Sax", "Alto Sax", "Tenor Sax", "Baritone Sax", "Oboe", "English Horn", "Bassoon", "Clarinet",
    # Pipe
    "Piccolo", "Flute", "Recorder", "Pan Flute", "Blown Bottle", "Shakuhachi", "Whistle", "Ocarina",
    # Synth Lead
    "Lead 1 (square)", "Lead 2 (sawtooth)", "Lead 3 (calliope)", "Lead 4 (chiff)", "Lead 5 (charang)",
    "Lead 6 (voice)", "Lead 7 (fifths)", "Lead 8 (bass + lead)",
    # Synth Pad
    "Pad 1 (new age)", "Pad 2 (warm)", "Pad 3 (polysynth)", "Pad 4 (choir)", "Pad 5 (bowed)", "Pad 6 (metallic)",
    "Pad 7 (halo)", "Pad 8 (sweep)",
    # Synth Effects
    "FX 1 (rain)", "FX 2 (soundtrack)", "FX 3 (crystal)", "FX 4 (atmosphere)", "FX 5 (brightness)",
    "FX 6 (goblins)", "FX 7 (echoes)", "FX 8 (sci-fi)",
    # Ethnic
    "Sitar", "Banjo", "Shamisen", "Koto", "Kalimba", "Bagpipe", "Fiddle", "Shanai",
    # Percussive
    "Tinkle Bell", "Agogo", "Steel Drums", "Woodblock", "Taiko Drum", "Melodic Tom", "Synth Drum", "Reverse Cymbal",
    # Sound Effects
    "Guitar Fret Noise", "Breath Noise", "Seashore", "Bird Tweet", "Telephone Ring", "Helicopter", "Applause",
    "Gunshot",
)
assert len(PROGRAM_NAMES) == 128

DRUM_SHORT_NAME = "Drums"
DRUM_INSTRUMENT_NAME = "Standard Drum Kit"


def _norm(text: str) -> str:
    """Lower case, punctuation and separators to single spaces: "Acoustic Guitar (nylon)" -> "acoustic guitar nylon"."""
    text = text.lower().replace("+", " plus ")
    return " ".join(re.sub(r"[^a-z0-9#]+", " ", text).split())


# Everyday names -> track key. GM names themselves (normalized) are accepted too.
ALIASES: dict[str, int] = {
    "drums": DRUM_KEY, "drum": DRUM_KEY, "drum kit": DRUM_KEY, "drumkit": DRUM_KEY, "drum set": DRUM_KEY,
    "drumset": DRUM_KEY, "kit": DRUM_KEY, "standard drum kit": DRUM_KEY, "standard kit": DRUM_KEY,
    "piano": 0, "grand piano": 0, "acoustic piano": 0, "keys": 4, "electric piano": 4, "epiano": 4, "e piano": 4,
    "rhodes": 4, "harpsichord": 6, "clav": 7,
    "celesta": 8, "glockenspiel": 9, "glock": 9, "music box": 10, "vibraphone": 11, "vibes": 11, "marimba": 12,
    "xylophone": 13, "bells": 14, "tubular bells": 14, "chimes": 14, "dulcimer": 15,
    "organ": 19, "church organ": 19, "pipe organ": 19, "drawbar organ": 16, "hammond": 16, "hammond organ": 16,
    "rock organ": 18, "accordion": 21, "harmonica": 22,
    "guitar": 24, "acoustic guitar": 24, "nylon guitar": 24, "classical guitar": 24, "steel guitar": 25,
    "folk guitar": 25, "jazz guitar": 26, "electric guitar": 27, "clean guitar": 27, "muted guitar": 28,
    "overdrive guitar": 29, "distorted guitar": 30,
    "bass": 33, "electric bass": 33, "bass guitar": 33, "acoustic bass": 32, "upright bass": 32,
    "double bass": 32, "string bass": 32, "pick bass": 34, "fretless": 35, "slap bass": 36, "synth bass": 38,
    "violin": 40, "viola": 41, "cello": 42, "violoncello": 42, "contrabass": 43, "harp": 46, "timpani": 47,
    "strings": 48, "string ensemble": 48, "string section": 48, "string orchestra": 48, "string quartet": 48,
    "tremolo strings": 44, "pizzicato": 45, "pizzicato strings": 45, "synth strings": 50,
    "choir": 52, "chorus": 52, "voice": 53, "vocals": 53, "vocal": 53, "singer": 53, "voice oohs": 53,
    "synth voice": 54, "orchestra hit": 55,
    "trumpet": 56, "trombone": 57, "tuba": 58, "muted trumpet": 59, "horn": 60, "french horn": 60,
    "brass": 61, "brass section": 61, "synth brass": 62,
    "sax": 65, "saxophone": 65, "soprano sax": 64, "soprano saxophone": 64, "alto sax": 65, "alto saxophone": 65,
    "tenor sax": 66, "tenor saxophone": 66, "baritone sax": 67, "bari sax": 67, "baritone saxophone": 67,
    "oboe": 68, "english horn": 69, "cor anglais": 69, "bassoon": 70, "clarinet": 71,
    "piccolo": 72, "flute": 73, "recorder": 74, "pan flute": 75, "panpipes": 75, "shakuhachi": 77,
    "whistle": 78, "ocarina": 79,
    "lead": 80, "synth lead": 80, "square lead": 80, "saw lead": 81, "sawtooth lead": 81, "synth": 81,
    "pad": 89, "synth pad": 89, "warm pad": 89,
    "sitar": 104, "banjo": 105, "shamisen": 106, "koto": 107, "kalimba": 108, "bagpipe": 109, "bagpipes": 109,
    "fiddle": 110, "shanai": 111, "steel drums": 114, "steel drum": 114, "woodblock": 115, "taiko": 116,
}
_LOOKUP: dict[str, int] = {_norm(name): program for program, name in enumerate(PROGRAM_NAMES)}
_LOOKUP.update({_norm(k): v for k, v in ALIASES.items()})

EXAMPLE_NAMES = ("piano", "bass", "drums", "guitar", "strings", "sax", "flute", "voice")


def parse_instrument(text: str | int) -> int:
    """A user's instrument ("piano", "Tenor Sax", "drums", "33") -> track key (GM program 0-127, or DRUM_KEY).

    Raises ComposerError with a one-line message for anything unknown.
    """
    raw = str(text).strip()
    if re.fullmatch(r"[+-]?\d+", raw):
        program = int(raw)
        if 0 <= program <= 127:
            return program
        raise ComposerError(f"instrument number {raw} out of range (GM programs are 0-127; use 'drums' for drums)")
    key = _LOOKUP.get(_norm(raw))
    if key is None and _norm(raw).endswith("s"):  # plural: "flutes", "violins", "trumpets"
        key = _LOOKUP.get(_norm(raw)[:-1])
    if key is None:
        raise ComposerError(
            f"unknown instrument {raw!r} (use a GM program 0-127 or a name such as {', '.join(EXAMPLE_NAMES)})")
    return key


# Generic names stand for every program of their kind when choosing what a model may play:
# `--instruments bass` accepts an acoustic as well as an electric bass.
GENERIC_NAMES: dict[str, tuple[int, ...]] = {
    "piano": tuple(range(0, 8)), "organ": tuple(range(16, 24)), "guitar": tuple(range(24, 32)),
    "bass": tuple(range(32, 40)), "strings": tuple(range(40, 52)), "brass": tuple(range(56, 64)),
    "sax": tuple(range(64, 68)), "saxophone": tuple(range(64, 68)),
}


def instrument_keys(text: str | int) -> list[int]:
    """Every track key a user's instrument name admits: the whole kind for a generic name
    ("bass" -> programs 32-39), else the one key of parse_instrument."""
    norm = _norm(str(text))
    generic = GENERIC_NAMES.get(norm) or GENERIC_NAMES.get(norm[:-1] if norm.endswith("s") else "")
    return list(generic) if generic else [parse_instrument(text)]


def program_name(key: int) -> str:
    """Full GM name of a track key: "Acoustic Grand Piano", or "Standard Drum Kit" for DRUM_KEY."""
    if key == DRUM_KEY:
        return DRUM_INSTRUMENT_NAME
    return PROGRAM_NAMES[int(key)]


# Track names as a DAW user expects them: the GM name, shortened where it is long or
# parenthesised ("Acoustic Guitar (nylon)" -> "Nylon Guitar").
SHORT_NAMES: dict[int, str] = {
    0: "Piano", 1: "Bright Piano", 2: "Electric Grand", 4: "Electric Piano", 5: "Electric Piano 2",
    24: "Nylon Guitar", 25: "Steel Guitar", 26: "Jazz Guitar", 27: "Clean Guitar", 28: "Muted Guitar",
    29: "Overdriven Guitar", 30: "Distortion Guitar",
    33: "Electric Bass", 34: "Picked Bass", 36: "Slap Bass", 38: "Synth Bass",
    48: "Strings", 49: "Strings 2", 50: "Synth Strings", 51: "Synth Strings 2", 52: "Choir", 53: "Voice",
    62: "Synth Brass", 63: "Synth Brass 2",
    **{80 + i: f"{w} Lead" for i, w in enumerate(
        ("Square", "Saw", "Calliope", "Chiff", "Charang", "Voice", "Fifths"))}, 87: "Bass + Lead",
    **{88 + i: f"{w} Pad" for i, w in enumerate(
        ("New Age", "Warm", "Polysynth", "Choir", "Bowed", "Metallic", "Halo", "Sweep"))},
    **{96 + i: f"{w} FX" for i, w in enumerate(
        ("Rain", "Soundtrack", "Crystal", "Atmosphere", "Brightness", "Goblins", "Echoes", "Sci-fi"))},
}


def short_name(key: int) -> str:
    """Track name of an instrument: "Piano", "Electric Bass", "Tenor Sax", "Flute", "Drums"."""
    if key == DRUM_KEY:
        return DRUM_SHORT_NAME
    return SHORT_NAMES.get(int(key), PROGRAM_NAMES[int(key)])


def track_names(keys: Iterable[int], given: Iterable[str] | None = None) -> list[str]:
    """Names for the tracks of one file, made unique ("Piano", "Bass", "Piano 2"): a track's own
    name where it has one (`given`), else its instrument's."""
    keys = list(keys)
    given = list(given) if given is not None else [""] * len(keys)
    names = [g.strip() or short_name(k) for k, g in zip(keys, given)]
    totals = Counter(n.lower() for n in names)
    taken = set(totals)
    seen: Counter[str] = Counter()
    out = []
    for name in names:
        low = name.lower()
        seen[low] += 1
        if totals[low] > 1 and seen[low] > 1:
            n = seen[low]
            while f"{low} {n}" in taken:
                n += 1
            taken.add(f"{low} {n}")
            name = f"{name} {n}"
        out.append(name)
    return out
