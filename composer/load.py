"""Load any supported music file into a `Score`, choosing the reader by file suffix."""

from __future__ import annotations

from pathlib import Path

from composer.errors import ScoreError
from composer.score import Score

MIDI_SUFFIXES = (".mid", ".midi")
MUSIC21_SUFFIXES = (".musicxml", ".mxl", ".xml", ".abc", ".krn")
SUPPORTED_SUFFIXES = MIDI_SUFFIXES + MUSIC21_SUFFIXES


def load_score(path, channels: bool = False) -> Score:
    """Read a .mid/.midi file (symusic) or a .musicxml/.mxl/.xml/.abc/.krn file (music21).

    channels=True records each MIDI track's channel (see read_midi), for files that are written
    back (a primer), not for corpora.

    Raises ScoreError(path, reason) for a missing file, an unsupported suffix or unreadable content.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if not p.exists():
        raise ScoreError(path, "no such file")
    if p.is_dir():
        raise ScoreError(path, "is a directory, not a music file")
    if suffix in MIDI_SUFFIXES:
        from composer.midi_io import read_midi

        return read_midi(p, channels=channels)
    if suffix in MUSIC21_SUFFIXES:
        from composer.music21_io import read_music21

        return read_music21(p)
    shown = f"'{suffix}'" if suffix else "(none)"
    raise ScoreError(path, f"unsupported file type {shown} (expected {', '.join(SUPPORTED_SUFFIXES)})")
