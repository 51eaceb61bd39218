"""compose render (WAV through FluidSynth) and compose export (MusicXML through music21, a
piano-roll PNG through matplotlib): the files they write, and the one-line errors when a
library is missing or a name is wrong."""

from __future__ import annotations

import sys
import wave

import numpy as np
import pytest

from composer.cli import cli
from composer.load import load_score
from composer.midi_io import write_midi
from composer.score import Score, Track


@pytest.fixture
def song(tmp_path):
    """Two bars of piano chords over a drum beat, 120 bpm: 4 seconds."""
    piano = [[b * 960, 900, p, 80] for b in range(4) for p in (60, 64, 67)]
    drums = [[i * 480, 120, (36, 42, 38, 42)[i % 4], 100] for i in range(8)]
    score = Score(tpq=480, tracks=[Track(0, name="Piano", notes=np.array(piano)),
                                   Track(0, is_drum=True, name="Drums", notes=np.array(drums))],
                  tempos=np.array([[0.0, 120.0]]), time_signatures=np.array([[0, 4, 4]]), end=3840)
    path = tmp_path / "song.mid"
    write_midi(score, path)
    return path


def run(capsys, *args) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        cli.main(list(map(str, args)))
    out, err = capsys.readouterr()
    return exit_.value.code, out, err


def test_export_musicxml_keeps_every_note_and_track(song, tmp_path, capsys):
    out = tmp_path / "song.musicxml"
    code, stdout, err = run(capsys, "export", song, "-o", out)
    assert code == 0, err
    assert stdout.startswith(f"wrote {out}: 20 notes, 2 tracks")
    back = load_score(out)
    assert [(t.is_drum, len(t.notes)) for t in back.tracks] == [(False, 12), (True, 8)]
    code, _, err = run(capsys, "export", song, "-o", out)  # exists: refused, left as it is
    assert code == 2 and "already exists" in err


def test_export_png_is_a_picture(song, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "song.png"
    code, _, err = run(capsys, "export", song, "-o", out)
    assert code == 0, err
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000


def test_export_refuses_other_suffixes_and_names_missing_matplotlib(song, tmp_path, capsys, monkeypatch):
    code, _, err = run(capsys, "export", song, "-o", tmp_path / "song.pdf")
    assert code == 2 and err.count("\n") == 1 and ".musicxml, .xml or .png" in err
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    code, _, err = run(capsys, "export", song, "-o", tmp_path / "song.png")
    assert code == 2 and err == "error: compose export -o FILE.png needs matplotlib: pip install 'composer[plots]'\n"
    assert not (tmp_path / "song.png").exists()


def test_render_says_what_to_install_when_fluidsynth_is_missing(song, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "fluidsynth", None)  # import fluidsynth -> ImportError
    code, _, err = run(capsys, "render", song, "-o", tmp_path / "song.wav")
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("error: compose render needs FluidSynth: pip install pyfluidsynth")
    assert "libfluidsynth3" in err and not (tmp_path / "song.wav").exists()
    code, _, err = run(capsys, "render", song, "-o", tmp_path / "song.mp3")
    assert code == 2 and "give a .wav file name" in err


def test_render_writes_the_audio(song, tmp_path, capsys):
    try:
        import fluidsynth  # noqa: F401
    except (ImportError, OSError):
        pytest.skip("pyfluidsynth and libfluidsynth are not installed (pip install pyfluidsynth; "
                    "apt-get install libfluidsynth3)")
    out = tmp_path / "song.wav"
    code, _, err = run(capsys, "render", song, "-o", out, "--sample-rate", 22050)
    assert code == 0, err
    with wave.open(str(out)) as w:
        assert w.getframerate() == 22050 and w.getnchannels() == 1 and w.getsampwidth() == 2
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    assert 4.0 <= len(frames) / 22050 <= 7.0  # the piece, then the release tail
    assert np.abs(frames[: 22050 * 4]).max() > 3000  # sound, not silence


def test_generate_render_writes_the_wav_beside_the_midi(tmp_path, capsys, monkeypatch):
    out = tmp_path / "g.mid"
    monkeypatch.setitem(sys.modules, "fluidsynth", None)  # without FluidSynth: refused before any work
    code, _, err = run(capsys, "generate", "--style", "folk", "--bars", 2, "-o", out, "--render")
    assert code == 2 and "needs FluidSynth" in err and not out.exists()
    monkeypatch.delitem(sys.modules, "fluidsynth")
    try:
        import fluidsynth  # noqa: F401
    except (ImportError, OSError):
        pytest.skip("pyfluidsynth and libfluidsynth are not installed")
    code, _, err = run(capsys, "generate", "--style", "folk", "--bars", 2, "-o", out, "--render")
    assert code == 0, err
    with wave.open(str(tmp_path / "g.wav")) as w:
        assert w.getnframes() > 0
    assert out.exists()
