"""Impro-Visor leadsheets (jazz, latin, blues) rendered into multi-track arrangements with MMA.

A leadsheet (`.ls`) is an s-expression header (title, meter, key, tempo, style), a chord part
whose chart follows as bar text (`Cm7 F7 | BbM7 / | ...`, sections and phrases setting the
style), and zero or more melody parts, one per chorus, in Impro-Visor's note syntax (`c8 d+4
bb8/3 e2+4 r1`: letter, accidental, octave marks (`c` is middle C), duration 1/2/4/8/16/32 with
dots, `/3` tuplets and `+` ties).

Rendering: the chart (repeated once per chorus) becomes an MMA song with a groove chosen for
its style and tempo, varied per rendition (`variant`); MMA's tracks get programs by role (bass
-> GM 32 acoustic bass, piano comping -> 0, guitar -> 26 jazz guitar / 24 nylon for latin, pads
-> 48 strings; drums stay on channel 10), and the leadsheet melody, swung like Impro-Visor
plays it, goes on its own track (tenor / alto sax, trumpet, vibraphone, flute..., never a
program the groove already uses).

Style of a leadsheet: swing, ballad and waltz charts -> jazz; latin / bossa / samba -> latin;
4/4 charts titled "... Blues" or with a 12-bar blues form -> blues; funk, rock, polka... are
left out. MMA must be installed (`apt-get install mma`); without it `build` returns skips.

Licence: GPL-2 (Impro-Visor, Robert Keller et al.); the compositions behind many charts are
copyrighted, the dataset licence covers the files.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from recipe.sources import groove as groove_drums
from recipe.sources.common import Job, Piece, Skip, norm_title, rng_for, slug, stable_hash
from composer.score import Score, Track

SOURCE = "improvisor"
LICENCE = "GPL-2 (Impro-Visor leadsheets, Robert Keller et al.); rendered with MMA (GPL-2)"
FOLDERS = ("imaginary-book", "changes", "melodies", "solos", "transcriptions", "compositions",
           "reharmonizations", "insights", "misc")  # not tests/, exercises/, basslines/, style-samples/
MAX_CHORUSES = 4
MMA_TIMEOUT = 60
GROOVE_MIDI_SHARE = 0.5  # renditions whose drums come from a Groove MIDI take (where one fits)


# ============================================================================ s-expressions


def read_items(text: str) -> list:
    """Top-level items of a leadsheet: nested lists for s-expressions, strings for bare text.

    Tolerant: a ')' without its '(' is dropped, an s-expression left open at the end is closed.
    """
    items: list = []
    stack: list[list] = []
    buf: list[str] = []

    def flush():
        if not buf:
            return
        word = "".join(buf)
        buf.clear()
        if stack:
            stack[-1].append(word)
        else:
            items.append(word)

    i = 0
    while i < len(text):
        ch = text[i]
        if not stack:  # top-level bare text, up to the next '('
            j = text.find("(", i)
            j = len(text) if j < 0 else j
            chunk = text[i:j]
            if chunk.strip():
                items.append(chunk)
            i = j
            if i >= len(text):
                break
            stack.append([])
            i += 1
            continue
        if ch == "(":
            flush()
            stack.append([])
        elif ch == ")":
            flush()
            done = stack.pop()
            if stack:
                stack[-1].append(done)
            else:
                items.append(done)
        elif ch.isspace():
            flush()
        else:
            buf.append(ch)
        i += 1
    flush()
    while stack:  # unclosed at the end
        done = stack.pop()
        if stack:
            stack[-1].append(done)
        else:
            items.append(done)
    return items


def _words(node) -> str:
    return " ".join(x for x in node[1:] if isinstance(x, str)) if isinstance(node, list) else ""


def _field(node: list, name: str):
    for x in node[1:]:
        if isinstance(x, list) and x and x[0] == name:
            return x
    return None


# ============================================================================ leadsheets


@dataclass
class Leadsheet:
    title: str = ""
    composer: str = ""
    meter: tuple[int, int] = (4, 4)
    key: int = 0  # sharps
    tempo: float = 120.0
    style: str = ""  # Impro-Visor style name of the first section (or the header)
    swing: float = 0.5  # position of the off-beat eighth within the beat (0.5 = straight)
    bars: list[list[str]] = field(default_factory=list)  # chord tokens per bar ('/' = same chord)
    melody: list[list[tuple[int | None, Fraction]]] = field(default_factory=list)  # per chorus

    @property
    def bar_quarters(self) -> Fraction:
        return Fraction(4 * self.meter[0], self.meter[1])

    def melody_notes(self) -> int:
        return sum(p is not None for chorus in self.melody for p, _ in chorus)

    def has_melody(self) -> bool:
        """A real melody: at least 16 notes, and one note per two bars of the chart."""
        return self.melody_notes() >= max(16, len(self.bars) // 2)


NOTE_RE = re.compile(r"^([a-g])([#b]?)([+-]*)(\d.*)$")
REST_RE = re.compile(r"^r(\d.*)$")
DUR_RE = re.compile(r"^(\d+)(\.*)(?:/(\d+))?$")
PITCH_CLASS = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}


def parse_duration(text: str) -> Fraction | None:
    """Impro-Visor duration -> quarter notes: '4' 1, '8.' 3/4, '8/3' 1/3, '2+8' 5/2; None if bad."""
    total = Fraction(0)
    for part in text.split("+"):
        m = DUR_RE.match(part)
        if not m:
            return None
        n = int(m.group(1))
        if n <= 0 or n > 128:
            return None
        d = Fraction(4, n)
        d *= 2 - Fraction(1, 2 ** len(m.group(2)))  # dots: 1.5, 1.75, ...
        if m.group(3):
            k = int(m.group(3))
            if k <= 0:
                return None
            d *= Fraction(2 ** (k.bit_length() - 1), k)  # 3 in the time of 2, 5 of 4, ...
        total += d
    return total if total > 0 else None


def parse_melody(text: str) -> list[tuple[int | None, Fraction]]:
    """(MIDI pitch or None for a rest, quarter notes) for each note token; others are skipped."""
    out = []
    for tok in text.split():
        m = NOTE_RE.match(tok)
        if m:
            dur = parse_duration(m.group(4))
            if dur is None:
                continue
            pitch = 60 + PITCH_CLASS[m.group(1)] + {"#": 1, "b": -1, "": 0}[m.group(2)]
            pitch += 12 * (m.group(3).count("+") - m.group(3).count("-"))
            out.append((pitch if 0 <= pitch <= 127 else None, dur))
            continue
        m = REST_RE.match(tok)
        if m:
            dur = parse_duration(m.group(1))
            if dur is not None:
                out.append((None, dur))
    return out


def parse_bars(text: str) -> list[list[str]]:
    """Chord tokens per bar of a chart text ('Cm7 F7 | Bb / |'). Empty segments ('||', section
    breaks) are not bars: Impro-Visor writes a held bar as '/'."""
    return [seg.split() for seg in text.split("|") if seg.split()]


def parse_leadsheet(text: str) -> Leadsheet:
    """Parse a leadsheet's text; raises ValueError if it has no chord chart."""
    sheet = Leadsheet()
    mode = None
    chart: list[str] = []
    section_style = None
    for item in read_items(text):
        if isinstance(item, str):
            if mode == "chords":
                chart.append(item)
            elif mode == "melody":
                sheet.melody[-1].extend(parse_melody(item))
            continue
        if not item or not isinstance(item[0], str):
            continue
        head = item[0]
        if head == "title" and mode is None:
            sheet.title = _words(item)
        elif head == "composer" and mode is None:
            sheet.composer = _words(item)
        elif head == "meter" and mode is None:
            nums = [int(x) for x in item[1:3] if isinstance(x, str) and x.isdigit()]
            if len(nums) == 2 and nums[0] > 0 and nums[1] > 0:
                sheet.meter = (nums[0], nums[1])
        elif head == "key" and mode is None:
            try:
                sheet.key = max(-7, min(7, int(item[1])))
            except (IndexError, ValueError, TypeError):
                pass
        elif head == "tempo" and mode is None:
            try:
                sheet.tempo = float(item[1])
            except (IndexError, ValueError, TypeError):
                pass
        elif head == "style" and mode is None:
            if len(item) > 1 and isinstance(item[1], str):
                sheet.style = sheet.style or item[1]
            sw = _field(item, "swing")
            try:
                sheet.swing = float(sw[1]) if sw else sheet.swing
            except (IndexError, ValueError, TypeError):
                pass
        elif head == "part":
            kind = _words(_field(item, "type") or [])
            mode = "chords" if kind == "chords" else "melody" if kind == "melody" else "other"
            if mode == "melody":
                sheet.melody.append([])
        elif head in ("section", "phrase") and mode == "chords":
            style = _field(item, "style")
            name = _words(style) if style else ""
            if name and section_style is None:
                section_style = name
            chart.append(" | ")  # a section always starts a new bar
    sheet.style = section_style or sheet.style
    sheet.bars = parse_bars(" ".join(chart))
    if not sheet.bars:
        raise ValueError("no chord chart")
    return sheet


# ============================================================================ chords for MMA

_MMA_QUALITIES = frozenset("""
(#5) (add#9) (add9) (addb9) (b5) + +7 +7#9 +7b9 +7b9#11 +9 +9M7 +M7 11 11#5 11+ 11b9 13 13#11
13#9 13b5 13b9 13sus 13sus4 13susb9 5 6 6(add9) 69 7 7#11 7#5 7#5#9 7#5b9 7#9 7#9#11 7#9b13
7(6) 7(add13) 7(omit3) 7+ 7+5 7+9 7-5 7-9 7alt 7b13 7b5 7b5#9 7b5(add13) 7b5b9 7b9 7b9#11
7b9sus 7omit3 7sus 7sus2 7sus4 7susb9 9 9#11 9#5 9+ 9+5 9-5 9b5 9b6 9sus 9sus4 M M#11 M11 M13
M13#11 M6 M7 M7#11 M7#5 M7(add13) M7+5 M7-5 M7b5 M9 M9#11 add#9 add9 addb9 aug aug7 aug7#9
aug7b9 aug9 aug9M7 dim dim(b13) dim3 dim7 dim7(addM7) m m#5 m#7 m(add9) m(b5) m(maj7) m(sus9)
m+ m+5 m+7 m+7#9 m+7b9 m+7b9#11 m11 m11b5 m13 m6 m6(add9) m69 m7 m7#5 m7#9 m7(#9) m7(add11)
m7(add13) m7(b9) m7(omit5) m7-5 m7b5 m7b5b9 m7b9 m7b9#11 m7omit5 m7sus m7sus4 m9 m9#11 m9b5
mM7 mM7(add9) maj13 maj7 maj9 mb5 mb9 min#7 min(maj7) msus msus4 omit3(add9) omit3add9 sus
sus(add#9) sus(add9) sus(addb9) sus2 sus4 sus9
""".split()) | {""}

_QUALITY_ALIASES = {
    "maj": "", "major": "", "Major": "", "Maj": "",
    "maj7": "M7", "Maj7": "M7", "M7+": "M7#5", "maj7#5": "M7#5", "Mb5": "(b5)", "M6b5": "6",
    "-": "m", "min": "m", "minor": "m", "-7": "m7", "min7": "m7", "minor7": "m7", "-6": "m6",
    "-69": "m69", "-9": "m9", "-11": "m11", "-13": "m13", "-7b5": "m7b5", "-9b5": "m9b5",
    "-11b5": "m11b5", "mb6": "m#5", "madd9": "m(add9)", "madd4": "m", "m7add11": "m7(add11)",
    "m7add4": "m7(add11)", "mMaj7": "mM7", "mM9": "mM7(add9)", "m#5": "m#5",
    "h": "m7b5", "h7": "m7b5", "half-diminished": "m7b5", "h9": "m9b5", "h11": "m11b5",
    "o": "dim3", "o7": "dim7", "diminished": "dim3", "oM7": "dim7(addM7)",
    "augmented": "aug", "7aug": "aug7", "+add9": "aug", "+add#9": "aug",
    "Dominant": "7", "7#4": "7#11", "67": "7(6)", "7add6": "7(6)", "7add13": "7(add13)",
    "7b6": "7b13", "7b9b13": "7b9", "7b9#9": "7b9", "7b9sus4": "7susb9", "7sus4b9": "7susb9",
    "susb9": "7susb9", "Msus4": "sus4", "Msus2": "sus2", "sus24": "sus2", "2": "add9", "4": "sus4",
    "M69": "69", "M69#11": "69", "69#11": "69", "6#11": "6", "6b5": "6", "M6#11": "6",
    "Maj9": "M9", "Maj13": "M13", "maj9#11": "M9#11", "Maj9#11": "M9#11", "maj13#11": "M13#11",
    "Maj13#11": "M13#11", "M7add13": "M7(add13)", "M7#9#11": "M7#11", "add9no3": "omit3add9",
    "13#9#11": "13#11", "13b9#11": "13b9", "9#5#11": "9#5", "phryg": "m7",
}
_ROOTS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_ROOT_NAMES = ["C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B"]
CHORD_RE = re.compile(r"^([A-G])([#b]?)(.*)$")


def _root(letter: str, acc: str) -> int:
    return (_ROOTS[letter] + {"#": 1, "b": -1, "": 0}[acc]) % 12


def mma_quality(q: str) -> str:
    """An Impro-Visor chord quality as a quality MMA knows (the nearest simpler one if need be)."""
    if q in _QUALITY_ALIASES:
        return _QUALITY_ALIASES[q]
    if q in _MMA_QUALITIES:
        return q
    for cut in range(len(q) - 1, 0, -1):  # drop trailing alterations: 13b9#11 -> 13b9
        if q[:cut] in _MMA_QUALITIES and q[:cut] not in ("", "m", "M"):
            return q[:cut]
        if q[:cut] in _QUALITY_ALIASES:
            return _QUALITY_ALIASES[q[:cut]]
    minor = q.startswith(("m", "-")) and not q.startswith(("maj", "Maj", "M"))
    seventh = any(d in q for d in ("7", "9", "11", "13"))
    if minor:
        return "m7" if seventh else "m"
    if q.startswith(("M", "maj", "Maj")):
        return "M7"
    return "7" if seventh else ""


def parse_chord(token: str) -> tuple[int, str, int | None] | None:
    """(root pitch class, MMA quality, bass pitch class or None) of a chord symbol; None if not one."""
    token = token.strip().lstrip("\\").rstrip("_")
    m = CHORD_RE.match(token)
    if not m:
        return None
    rest = m.group(3)
    bass = None
    if "/" in rest:
        rest, _, slash = rest.partition("/")
        bm = CHORD_RE.match(slash)
        if bm and not bm.group(3):
            bass = _root(bm.group(1), bm.group(2))
    rest = rest.rstrip("_")
    return _root(m.group(1), m.group(2)), mma_quality(rest), bass


def mma_chord(token: str) -> str | None:
    """An Impro-Visor chord token as MMA chord text: 'Cm7', 'F7/A', 'z' for NC, '/' to continue."""
    t = token.strip()
    if t in ("/", ""):
        return "/"
    if t.upper() in ("NC", "N.C.", "N.C"):
        return "z"
    c = parse_chord(t)
    if c is None:
        return None
    root, quality, bass = c
    text = _ROOT_NAMES[root] + quality
    if bass is not None and bass != root:
        text += "/" + _ROOT_NAMES[bass]
    return text


def slot_starts(n: int, beats: int) -> list[Fraction]:
    """Beat (0-based, in quarters) where each of `n` equal chord slots of a bar begins.

    Three chords in a 4-beat bar get 2 + 1 + 1 beats, as Impro-Visor lays them out."""
    if n == 3 and beats == 4:
        return [Fraction(0), Fraction(2), Fraction(3)]
    return [Fraction(beats * i, n) for i in range(n)]


def mma_bar(tokens: list[str], beats: int) -> str:
    """One MMA chord line for a bar: 'Cm7@1 F7@3', '/' to hold the previous chord."""
    parts = []
    for tok, start in zip(tokens, slot_starts(len(tokens), beats)):
        chord = mma_chord(tok)
        if chord is None or chord == "/":
            continue
        pos = 1 + start
        parts.append(chord if pos == 1 else f"{chord}@{float(pos):g}")
    if parts and "@" in parts[0]:
        parts.insert(0, "/")  # MMA wants beat 1 filled: hold the previous chord until the change
    return " ".join(parts) if parts else "/"


# ============================================================================ style and form


def style_class(sheet: Leadsheet) -> str | None:
    """'swing', 'ballad', 'waltz', 'latin' or 'blues' for a leadsheet, or None (not used)."""
    s = (sheet.style or "swing").lower()
    num, den = sheet.meter
    quarters = Fraction(4 * num, den)
    if quarters not in (3, 4):
        return None
    if any(w in s for w in ("latin", "bossa", "samba", "bosamba", "cha-cha", "mambo", "rhumba")):
        return "latin"
    jazzy = s.startswith(("swing", "ballad", "waltz", "equal-hi-hat", "pedal-bass", "shuffle",
                          "no-style", "bebop", "jazz"))
    if not jazzy:
        return None
    if quarters == 3:
        return "waltz"
    if is_blues(sheet):
        return "blues"
    if s.startswith("ballad"):
        return "ballad"
    return "swing"


BLUES_TITLE = re.compile(r"\bblues\b", re.I)


def bar_roots(sheet: Leadsheet) -> list[int | None]:
    """Root pitch class sounding at the start of each bar (None before the first chord)."""
    roots, last = [], None
    for bar in sheet.bars:
        for tok in bar[:1]:
            c = parse_chord(tok) if tok not in ("/",) else None
            if c is not None:
                last = c[0]
        roots.append(last)
        for tok in bar[1:]:
            c = parse_chord(tok) if tok != "/" else None
            if c is not None:
                last = c[0]
    return roots


def is_blues_form(sheet: Leadsheet) -> bool:
    """A 12-bar (or 24-bar half-time) blues: I in bar 1, IV in bar 5, I in bar 7, V or ii in bar 9."""
    n = len(sheet.bars)
    if n not in (12, 24) or sheet.bar_quarters != 4:
        return False
    k = n // 12
    roots = bar_roots(sheet)
    tonic = roots[0]
    if tonic is None:
        return False
    iv, i7, v9 = roots[4 * k], roots[6 * k], roots[8 * k]
    return iv == (tonic + 5) % 12 and i7 == tonic and v9 in ((tonic + 7) % 12, (tonic + 2) % 12)


def is_blues(sheet: Leadsheet) -> bool:
    if sheet.bar_quarters != 4:
        return False
    return is_blues_form(sheet) or (bool(BLUES_TITLE.search(sheet.title)) and len(sheet.bars) <= 32)


STYLE_OF_CLASS = {"swing": "jazz", "ballad": "jazz", "waltz": "jazz", "latin": "latin", "blues": "blues"}

# grooves per class; the rendition variant and a per-tune hash pick one
GROOVES = {
    "swing": ["SwingWalk", "Swing1Walk", "JazzCombo", "MellowJazz", "SwingWalkPlus", "JazzCombo1",
              "Swing1WalkPlus"],
    "swing-fast": ["SwingWalk", "JazzCombo", "Swing1Walk", "FastSwing"],
    "ballad": ["SlowJazzWalk", "SlowJazz1Walk", "Ballad", "SlowJazz", "Ballad1"],
    "waltz": ["JazzWaltz", "JazzWaltz1", "ModernJazzWaltz", "JazzWaltz2"],
    "bossa": ["BossaNova", "BossaNovaPlus", "BossaNova1Sus", "BossaNova2Sus"],
    "samba": ["Samba", "SambaPlus"],
    "latin-waltz": ["LatinWaltz"],
    "blues-slow": ["SlowBlues", "SlowBluesWalk4", "SlowBluesWalk8"],
    "blues": ["Blues", "Blues1", "BluesTriple", "ShuffleBoggie", "SwingWalk"],
    "blues-fast": ["FastBlues", "FastBluesWalk", "FastBlues1", "JazzCombo"],
}
TEMPO_RANGE = {"swing": (110, 240), "swing-fast": (200, 280), "ballad": (50, 92), "waltz": (100, 200),
               "bossa": (110, 160), "samba": (160, 230), "latin-waltz": (100, 170),
               "blues-slow": (55, 90), "blues": (90, 160), "blues-fast": (160, 230)}
MELODY_PROGRAMS = {"jazz": [66, 56, 65, 11], "latin": [73, 66, 65, 11], "blues": [66, 65, 56, 22]}


def choose_rendition(sheet: Leadsheet, cls: str, variant: int, seed: int, key: str) -> tuple[str, float, str]:
    """(groove, tempo, groove family) for rendition `variant` of a leadsheet of class `cls`."""
    rng = rng_for(seed, key, variant, "rendition")
    tempo = float(sheet.tempo or 120)
    if variant:
        tempo *= float(rng.uniform(0.85, 1.15))
    if cls == "swing":
        family = "swing-fast" if tempo >= 230 else "swing"
    elif cls == "latin":
        if sheet.bar_quarters == 3:
            family = "latin-waltz"
        else:
            fast = tempo > 175
            family = ("samba" if fast else "bossa") if variant % 2 == 0 else ("bossa" if fast else "samba")
    elif cls == "blues":
        family = "blues-slow" if tempo < 90 else "blues-fast" if tempo > 170 else "blues"
        if variant:
            family = ["blues", "blues-slow", "blues", "blues-fast"][(variant + stable_hash(key)) % 4]
    else:
        family = cls
    lo, hi = TEMPO_RANGE[family]
    if not lo <= tempo <= hi:  # out of the groove's range: a tempo inside it, per tune
        tempo = float(rng.uniform(lo, hi)) if variant else min(max(tempo, lo), hi)
    grooves = GROOVES[family]
    groove = grooves[(stable_hash(seed, key) + variant) % len(grooves)]
    return groove, round(tempo), family


# ============================================================================ MMA


def mma_available() -> bool:
    return shutil.which("mma") is not None


def mma_song(sheet: Leadsheet, groove: str, tempo: float, choruses: int, seed: int = 0) -> str:
    """MMA source for `choruses` passes through the chart."""
    beats = int(sheet.bar_quarters)
    lines = ["// generated by recipe.sources.improvisor", f"RndSeed {seed % 100000}",
             f"Tempo {tempo:g}", f"Time {beats}", f"Groove {groove}"]
    n = 0
    for chorus in range(choruses):
        for bar in sheet.bars:
            n += 1
            text = mma_bar(bar, beats)
            if n == 1 and text.startswith("/"):
                text = "z" + text[1:]  # no previous chord to hold at the very start
            lines.append(f"{n} {text}")
    return "\n".join(lines) + "\n"


def run_mma(source: str, timeout: float = MMA_TIMEOUT) -> bytes:
    """Render MMA source text to MIDI bytes; RuntimeError with MMA's message on failure."""
    with tempfile.TemporaryDirectory(prefix="corpus-mma-") as tmp:
        src, out = Path(tmp, "song.mma"), Path(tmp, "song.mid")
        src.write_text(source)
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        try:
            proc = subprocess.run(["mma", "-f", str(out), str(src)], cwd=tmp, env=env, capture_output=True,
                                  text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"MMA timed out after {timeout:g} s") from None
        if proc.returncode != 0 or not out.is_file():
            msg = [ln for ln in (proc.stdout + proc.stderr).splitlines() if "Error" in ln or "error" in ln]
            raise RuntimeError(f"MMA failed: {(msg or ['exit ' + str(proc.returncode)])[0].strip()[:200]}")
        return out.read_bytes()


def role_of(track: Track) -> str:
    """'bass' for MMA's Bass* / Walk* tracks that play a bass line (not Bass-Sus pads), else 'comp'."""
    n = track.name.lower()
    if n.startswith(("bass", "walk")) and len(track.notes):
        if 32 <= track.program <= 39 or float(np.median(track.notes[:, 2])) < 50:
            return "bass"
    return "comp"


def role_program(style: str, role: str, program: int, groove: str) -> int:
    """The GM program an MMA track of `role` gets in a `style` arrangement."""
    if role == "bass":
        return 33 if style == "blues" and groove.startswith(("FastBlues", "ShuffleBoggie")) else 32
    if 0 <= program <= 3 or program in (6, 7):  # pianos, harpsichord, clavinet -> grand piano
        return 0
    if 16 <= program <= 23:  # organs
        return 16 if style == "blues" else 0
    if 24 <= program <= 31:  # guitars
        return 24 if style == "latin" else 26
    if 80 <= program <= 103:  # synth leads, pads, effects
        return 48
    return program


def arrange(score: Score, style: str, groove: str) -> list[str]:
    """Programs of MMA's tracks by role, in place, then one track per program (MMA's Bass and Walk
    tracks, say, become one bass track, as the tokenizer would merge them anyway).

    Returns 'name:old->new' for each changed track."""
    changes = []
    for t in score.tracks:
        if t.is_drum:
            continue
        new = role_program(style, role_of(t), t.program, groove)
        if new != t.program:
            changes.append(f"{t.name}:{t.program}->{new}")
            t.program = new
    merged: list[Track] = []
    by_key: dict[int, list[Track]] = {}
    for t in score.tracks:
        if t.key not in by_key:
            by_key[t.key] = []
            merged.append(t)
        by_key[t.key].append(t)
    out = []
    for t in merged:
        group = by_key[t.key]
        if len(group) == 1:
            out.append(t)
        else:
            notes = np.concatenate([g.notes for g in group])
            notes = notes[np.lexsort((notes[:, 2], notes[:, 0]))]
            out.append(Track(program=t.program, is_drum=t.is_drum, name=t.name, notes=notes))
    score.tracks = out
    return changes


def swing_time(q: Fraction, swing: float) -> Fraction:
    """Move an off-beat eighth (beat + 1/2) to beat + `swing`; other positions stay."""
    whole = math.floor(q)
    if q - whole == Fraction(1, 2):
        return whole + Fraction(swing).limit_denominator(48)
    return q


def melody_track(sheet: Leadsheet, tpq: int, choruses: int, swing: float | None, program: int,
                 velocity: int = 90) -> Track | None:
    """The leadsheet melody on `choruses` passes of the chart, as a Track (None if none).

    Melody part k plays on chorus k; when there are more choruses than parts (a short head
    played several times), the choruses between are accompaniment only and the last one
    repeats the head (part 0): head in, comping, head out."""
    chart = sheet.bar_quarters * len(sheet.bars)
    parts = sheet.melody[:choruses]
    layout = list(enumerate(parts))
    if parts and choruses > len(parts):
        layout.append((choruses - 1, parts[0]))
    rows = []
    for c, chorus in layout:
        pos = Fraction(0)
        for pitch, dur in chorus:
            start, end = pos, pos + dur
            pos = end
            if pitch is None or start >= chart:
                continue
            end = min(end, chart)
            if swing is not None and swing > 0.5:
                start, end = swing_time(start, swing), swing_time(end, swing)
            on = c * chart + start
            beat_accent = 8 if start == math.floor(start) else 0
            rows.append((round(on * tpq), max(1, round((end - start) * tpq)), pitch, velocity - 8 + beat_accent))
    if not rows:
        return None
    notes = np.array(rows, dtype=np.int64)
    notes = notes[np.lexsort((notes[:, 2], notes[:, 0]))]
    return Track(program=program, is_drum=False, name="Melody", notes=notes)


def choruses_for(sheet: Leadsheet) -> int:
    """Passes through the chart: one per melody part (at most MAX_CHORUSES), and at least
    enough for about 32 bars (at most 4 choruses of a short form)."""
    short = max(1, min(4, math.ceil(32 / max(1, len(sheet.bars)))))
    if sheet.has_melody():
        return max(short, min(MAX_CHORUSES, len(sheet.melody)))
    return short


def render(sheet: Leadsheet, style: str, groove: str, tempo: float, seed: int = 0, key: str = "",
           drums: tuple[str, str] | None = None) -> tuple[Score, str]:
    """The full arrangement of a leadsheet: MMA backing plus the melody track.

    drums=(groove_midi_folder, family): a Groove MIDI drummer's take of that groove family
    replaces MMA's drums (see groove.py), where one fits."""
    from composer.midi_io import read_midi

    choruses = choruses_for(sheet)
    midi = run_mma(mma_song(sheet, groove, tempo, choruses, seed=stable_hash(seed, key) % 100000))
    with tempfile.NamedTemporaryFile(suffix=".mid") as f:
        f.write(midi)
        f.flush()
        score = read_midi(f.name)
    changes = arrange(score, style, groove)
    used = {t.program for t in score.tracks if not t.is_drum}
    notes = [f"groove {groove}", f"tempo {tempo:g}", f"{choruses} chorus{'es' if choruses > 1 else ''}"]
    if drums is not None:
        real = groove_drums.drums_for(drums[0], drums[1], sheet.meter, tempo, len(sheet.bars) * choruses,
                                      score.tpq, rng_for(seed, key, "groove-drums"))
        if real is not None:
            score.tracks = [t for t in score.tracks if not t.is_drum] + [real[0]]
            notes.append(real[1])
    if sheet.has_melody():
        options = list(MELODY_PROGRAMS[style])
        rng = rng_for(seed, key, "melody-program")
        rng.shuffle(options)
        program = next((p for p in options if p not in used), 73)
        swing = sheet.swing if style != "latin" and groove not in GROOVES["bossa"] + GROOVES["samba"] else None
        mel = melody_track(sheet, score.tpq, choruses, swing, program)
        if mel is not None:
            score.tracks.insert(0, mel)
            notes.append(f"melody GM {program}" + (f" swing {swing:g}" if swing and swing > 0.5 else ""))
    num, den = sheet.meter
    score.time_signatures = np.array([[0, num, den]], dtype=np.int64)
    score.key_signatures = np.array([[0, sheet.key, 0]], dtype=np.int64)
    score.end = max(score.notes_end(), round(float(sheet.bar_quarters * len(sheet.bars) * choruses) * score.tpq))
    if changes:
        notes.append("programs " + " ".join(changes))
    return score, "; ".join(notes)


# ============================================================================ jobs


def scan(shared_data) -> tuple[list[dict], list[Skip]]:
    """Every usable leadsheet under improvisor/leadsheets: {path, rel, title, class, style, bars}."""
    root = Path(shared_data) / "improvisor" / "leadsheets"
    if not root.is_dir():
        return [], [Skip("improvisor", f"{root}: no such folder")]
    found, skips = [], []
    for folder in FOLDERS:
        for p in sorted((root / folder).rglob("*.ls")) if (root / folder).is_dir() else []:
            rel = str(p.relative_to(root))
            try:
                sheet = parse_leadsheet(p.read_text(encoding="utf-8", errors="replace"))
            except Exception as e:  # noqa: BLE001
                skips.append(Skip(f"improvisor:{rel}", f"unreadable leadsheet ({e})"))
                continue
            cls = style_class(sheet)
            if cls is None:
                skips.append(Skip(f"improvisor:{rel}", f"style not used ({sheet.style or '?'}, "
                                                      f"{sheet.meter[0]}/{sheet.meter[1]})"))
                continue
            if len(sheet.bars) < 4:
                skips.append(Skip(f"improvisor:{rel}", f"chart too short ({len(sheet.bars)} bars)"))
                continue
            found.append({"path": str(p), "rel": rel, "title": sheet.title or p.stem, "class": cls,
                          "style": STYLE_OF_CLASS[cls], "bars": len(sheet.bars),
                          "melody": sheet.has_melody()})
    return found, skips


def jobs(shared_data, variants: dict[str, int] | None = None) -> tuple[list[Job], list[Skip]]:
    """Jobs for every leadsheet, `variants[style]` renditions each (default 1), variant-major order.

    Variant 0 of every tune comes before variant 1 of any, so a builder that stops at a token
    budget has covered all tunes once before repeating one. With SHARED/groove present, about
    GROOVE_MIDI_SHARE of the renditions get a Groove MIDI drummer instead of MMA's drums.
    """
    variants = variants or {}
    found, skips = scan(shared_data)
    groove_dir = Path(shared_data) / "groove"
    groove_midi = str(groove_dir) if (groove_dir / "info.csv").is_file() else None
    out = []
    for v in range(max([1, *variants.values()])):
        for f in found:
            if v < variants.get(f["style"], 1):
                group = f"improvisor:{norm_title(f['title']) or f['rel']}"
                out.append(Job(SOURCE, f["style"], f"improvisor:{f['rel']}#{v}",
                               {"path": f["path"], "rel": f["rel"], "class": f["class"], "variant": v,
                                "melody": f["melody"], "groove_midi": groove_midi},
                               group=group))
    return out, skips


def build(job: Job, seed: int = 0) -> list[Piece | Skip]:
    if not mma_available():
        return [Skip(job.key, "mma is not installed (apt-get install mma)")]
    a = job.args
    try:
        sheet = parse_leadsheet(Path(a["path"]).read_text(encoding="utf-8", errors="replace"))
        groove, tempo, family = choose_rendition(sheet, a["class"], a["variant"], seed, a["rel"])
        real_drums = a.get("groove_midi") and rng_for(seed, job.key, "real-drums").random() < GROOVE_MIDI_SHARE
        score, note = render(sheet, job.style, groove, tempo, seed=seed, key=job.key,
                             drums=(a["groove_midi"], family) if real_drums else None)
    except Exception as e:  # noqa: BLE001
        return [Skip(job.key, getattr(e, "reason", None) or str(e) or type(e).__name__)]
    name = slug(Path(a["rel"]).with_suffix("").as_posix().replace("/", "_"))
    if a["variant"]:
        name += f"_v{a['variant']}"
    original = f"improvisor/leadsheets/{a['rel']} ({sheet.title})"
    licence = LICENCE + ("; drums: " + groove_drums.LICENCE if "Groove MIDI" in note else "")
    return [Piece(job.style, SOURCE, name, score, original, licence, job.group, f"{a['class']}; {note}")]
