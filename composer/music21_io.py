"""Reading notated music (MusicXML, compressed .mxl, ABC, Humdrum **kern, ...) through music21.

music21 is imported inside `read_music21` only: it takes about a second to import and reading
MIDI files must not pay for it.
"""

from __future__ import annotations

import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np

from composer.errors import ScoreError
from composer.score import Score, Track

TPQ = 480
DEFAULT_VELOCITY = 80


def read_music21(path) -> Score:
    """Read any file music21's converter understands into a `Score` with 480 ticks per quarter.

    One Track per part: program from the part's instrument (`midiProgram`, else 0); a part whose
    instrument is unpitched percussion, or that holds only unpitched notes, becomes a drum track
    (pitches from the percussion map). Chords give one note per pitch; tied notes are merged into
    one (stripTies); grace notes (no duration) are skipped. Tempos come from metronome marks
    (quarter-note bpm), plus time and key signatures. A file holding several pieces (an ABC
    book, an opus) gives its first piece. Raises ScoreError(path, reason) on any failure.
    """
    p = Path(path)
    if not p.exists():
        raise ScoreError(path, "no such file")
    if p.is_dir():
        raise ScoreError(path, "is a directory")
    try:
        if p.stat().st_size == 0:
            raise ScoreError(path, "empty file")
    except OSError as e:
        raise ScoreError(path, f"cannot read file ({e.strerror or e})") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import music21  # noqa: F401  (slow import, on purpose only here)
            from music21 import converter, stream

            parsed = converter.parse(str(p), forceSource=True)
            if isinstance(parsed, stream.Opus):
                scores = list(parsed.scores)
                if not scores:
                    raise ScoreError(path, "no music in file")
                parsed = scores[0]
            score = _to_score(parsed)
    except ScoreError:
        raise
    except RecursionError:
        raise ScoreError(path, "could not parse (nesting too deep)") from None
    except Exception as e:  # noqa: BLE001  (music21 raises many unrelated exception types on bad input)
        raise ScoreError(path, f"could not parse ({_first_line(e)})") from None

    from composer.midi_io import check_limits

    check_limits(score, path)
    return score


def _to_score(parsed) -> Score:
    from music21 import chord, instrument, key, meter, note, stream, tempo

    if isinstance(parsed, stream.Score):
        parts = list(parsed.parts) or [parsed]
    else:  # a bare Part / Stream
        parts = [parsed]
    top = parsed

    def tick(offset) -> int:
        return round(float(Fraction(offset)) * TPQ)

    tracks: list[Track] = []
    for part in parts:
        part = part.stripTies(inPlace=False)
        flat = part.flatten()
        inst = part.getInstrument(returnDefault=True)
        program = inst.midiProgram if inst is not None and inst.midiProgram is not None else 0
        els = list(flat.notes)
        unpitched = [el for el in els if isinstance(el, (note.Unpitched, chord.ChordBase)) and not _pitched(el)]
        is_drum = isinstance(inst, instrument.UnpitchedPercussion) or (
            bool(els) and len(unpitched) == len(els)) or getattr(inst, "midiChannel", None) == 9
        rows = []
        for el in els:
            ql = float(el.duration.quarterLength)
            if ql <= 0:  # grace note
                continue
            on, dur = tick(el.offset), max(1, tick(ql))
            vel = el.volume.velocity if el.volume is not None and el.volume.velocity is not None else DEFAULT_VELOCITY
            for midi in _midi_pitches(el):
                if 0 <= midi <= 127:
                    rows.append((on, dur, midi, int(min(max(vel, 1), 127))))
        if not rows:
            continue
        notes = np.array(rows, dtype=np.int64)
        notes = notes[np.lexsort((notes[:, 1], notes[:, 2], notes[:, 0]))]
        name = (part.partName or (inst.instrumentName if inst is not None else "") or "").strip()
        tracks.append(Track(program=int(program) & 127, is_drum=bool(is_drum), name=name, notes=notes))

    def events(cls):
        for el in top.recurse().getElementsByClass(cls):
            try:
                yield tick(el.getOffsetInHierarchy(top)), el
            except Exception:  # noqa: BLE001, S112  (not reachable from the top stream)
                continue

    tempos = {}
    for t, mm in events(tempo.MetronomeMark):
        qpm = mm.getQuarterBPM()
        if qpm and qpm > 0 and t not in tempos:
            tempos[t] = float(qpm)
    sigs = {}
    for t, ts in events(meter.TimeSignature):
        if t not in sigs and ts.numerator and ts.denominator:
            sigs[t] = (int(ts.numerator), int(ts.denominator))
    keys = {}
    for t, ks in events(key.KeySignature):
        if t not in keys and -7 <= ks.sharps <= 7:
            keys[t] = (int(ks.sharps), 1 if getattr(ks, "mode", None) == "minor" else 0)

    score = Score(tpq=TPQ, tracks=tracks)
    score.tempos = np.array([[t, q] for t, q in sorted(tempos.items())], dtype=np.float64).reshape(-1, 2)
    score.time_signatures = np.array([[t, *v] for t, v in sorted(sigs.items())], dtype=np.int64).reshape(-1, 3)
    score.key_signatures = np.array([[t, *v] for t, v in sorted(keys.items())], dtype=np.int64).reshape(-1, 3)
    score.end = score.notes_end()
    return score


def _pitched(el) -> bool:
    from music21 import chord, note

    if isinstance(el, note.Unpitched):
        return False
    if isinstance(el, chord.ChordBase):
        return any(not isinstance(n, note.Unpitched) for n in el.notes)
    return True


def _midi_pitches(el) -> list[int]:
    from music21 import chord, note

    out = []
    for n in el.notes if isinstance(el, chord.ChordBase) else [el]:
        if isinstance(n, note.Unpitched):
            stored = getattr(n, "storedInstrument", None)
            perc = getattr(stored, "percMapPitch", None)
            if perc is not None:
                out.append(int(perc))
            else:
                try:
                    out.append(int(n.displayPitch().midi))
                except Exception:  # noqa: BLE001, S112  (no usable display pitch)
                    continue
        elif hasattr(n, "pitch"):
            out.append(int(n.pitch.midi))
    return out


def _first_line(e: Exception) -> str:
    lines = str(e).strip().splitlines()
    return (lines[0] if lines else type(e).__name__)[:120]
