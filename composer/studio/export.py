"""`compose render` (audio) and `compose export` (MusicXML, a piano-roll picture) of a score.

Each needs a library the rest of composer does not: FluidSynth (pyfluidsynth and the system's
libfluidsynth) for audio, music21 for MusicXML (installed with composer), matplotlib for the
picture. A missing one is a one-line ComposerError naming what to install. Every file is
written atomically (composer/atomic.py).
"""

from __future__ import annotations

import contextlib
import inspect
import io
import tempfile
import wave
from pathlib import Path

import numpy as np

from ..atomic import atomic_path
from ..errors import ComposerError
from ..midi_io import midi_bytes
from ..score import Score

RENDER_NEEDS = ("compose render needs FluidSynth: pip install pyfluidsynth, and the FluidSynth library "
                "(Debian/Ubuntu: apt-get install libfluidsynth3; macOS: brew install fluid-synth)")


def default_soundfont() -> Path:
    from .app import soundfont_path

    path = soundfont_path()
    if path is None:
        raise ComposerError("no sound font: pretty_midi's TimGM6mb.sf2 is missing (give --soundfont FILE.sf2)")
    return path


def can_render() -> bool:
    try:
        check_render()
    except ComposerError:
        return False
    return True


def check_render() -> None:
    """ComposerError (one line: what to install) where FluidSynth cannot be loaded."""
    try:
        # pyfluidsynth loads libfluidsynth on import, and prints where it found it when $CI is set
        with contextlib.redirect_stdout(io.StringIO()):
            import fluidsynth  # noqa: F401
    except (ImportError, OSError):
        raise ComposerError(RENDER_NEEDS) from None


def render_wav(score: Score, out: Path, soundfont: Path | None = None, sample_rate: int = 44100,
               overwrite: bool = False) -> float:
    """Synthesize `score` with FluidSynth into a 16-bit stereo-less (mono) WAV; returns seconds."""
    check_render()
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(io.BytesIO(midi_bytes(score)))
    font = str(soundfont or default_soundfont())
    # pretty_midi 0.2.11 renamed sf2_path to synthesizer (and warns about the old name)
    named = "synthesizer" if "synthesizer" in inspect.signature(pm.fluidsynth).parameters else "sf2_path"
    try:
        audio = pm.fluidsynth(fs=sample_rate, **{named: font})
    except (ImportError, OSError):
        raise ComposerError(RENDER_NEEDS) from None
    peak = float(np.abs(audio).max()) if len(audio) else 0.0
    if peak > 0:
        audio = audio / peak * 0.9  # pretty_midi sums voices unscaled; leave headroom
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2")
    with atomic_path(out, overwrite=overwrite) as tmp, wave.open(str(tmp), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm.tobytes())
    return len(pcm) / sample_rate


def export_musicxml(score: Score, out: Path, overwrite: bool = False, work_dir: Path | None = None) -> None:
    """The score as MusicXML, through music21 (which quantises the notes to notation);
    work_dir: where its temporary files go (default: the system's)."""
    import music21

    with tempfile.TemporaryDirectory(prefix="composer-export-", dir=work_dir) as d:
        midi = Path(d) / "score.mid"
        midi.write_bytes(midi_bytes(score))
        try:
            parsed = music21.converter.parse(str(midi), quantizePost=True, forceSource=True)
            # drum hits read from MIDI name their own instrument (Hi-Hat Cymbal, ...), which the
            # MusicXML writer looks for, and fails on, in the part's instruments: the part's kit
            # is enough
            for hit in parsed.recurse().getElementsByClass(music21.note.Unpitched):
                hit.storedInstrument = None
            xml = Path(d) / "score.musicxml"
            parsed.write("musicxml", fp=str(xml))
            data = xml.read_bytes()
        except Exception as e:  # noqa: BLE001 (music21 raises many kinds)
            raise ComposerError(f"music21 could not write MusicXML ({type(e).__name__}: "
                                f"{' '.join(str(e).split())[:200]})") from None
    with atomic_path(out, overwrite=overwrite) as tmp:
        tmp.write_bytes(data)


def export_png(score: Score, out: Path, title: str = "", overwrite: bool = False) -> None:
    """A piano-roll picture: one colour per track, bar lines, time in bars."""
    try:
        import matplotlib
    except ImportError:
        raise ComposerError("compose export -o FILE.png needs matplotlib: pip install 'composer[plots]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import PolyCollection

    from ..gm import program_name
    from .roll import roll_data

    roll = roll_data(score)
    colors = plt.get_cmap("tab10").colors
    fig, ax = plt.subplots(figsize=(max(8.0, min(24.0, 2 + roll["seconds"] * 0.5)), 5), dpi=110)
    handles = []
    for i, t in enumerate(roll["tracks"]):
        notes = np.array(t["notes"], dtype=float).reshape(-1, 4)
        rects = [[(s, p - 0.4), (s + d, p - 0.4), (s + d, p + 0.4), (s, p + 0.4)] for s, d, p, _ in notes]
        color = colors[i % len(colors)]
        ax.add_collection(PolyCollection(rects, facecolors=color, edgecolors="none", alpha=0.85))
        handles.append(plt.Rectangle((0, 0), 1, 1, color=color, label=t["name"] if t["drums"] or t["name"]
                                     else program_name(t["program"])))
    for b in roll["bars"]:
        ax.axvline(b, color="0.85", linewidth=0.6, zorder=0)
    pitches = [n[2] for t in roll["tracks"] for n in t["notes"]]
    ax.set_xlim(0, max(roll["seconds"], 1e-3))
    ax.set_ylim(min(pitches) - 2, max(pitches) + 2)
    ax.set_xlabel("seconds")
    ax.set_ylabel("MIDI pitch")
    ax.set_title(title or f"{len(roll['bars'])} bars, {roll['meter']}, {roll['tempo']:g} bpm")
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    fig.tight_layout()
    with atomic_path(out, overwrite=overwrite) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
