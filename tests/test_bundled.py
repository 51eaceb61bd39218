"""The bundled model: found with no --model flag from a source checkout and from an installed
package (pip install . into a fresh target folder, run from elsewhere), and it generates every
advertised style as valid multi-track MIDI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "data" / "model.safetensors"
pytestmark = pytest.mark.skipif(not BUNDLED.exists(), reason="no bundled model in data/ yet")
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def styles() -> list[str]:
    return json.loads((ROOT / "data" / "config.json").read_text())["styles"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """composer installed (without its dependencies, which this venv has) into a bare folder."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(ROOT)], check=True, env=ENV, cwd=target)
    return target


def test_size_and_advertised_styles():
    size = sum(p.stat().st_size for p in (ROOT / "data").iterdir() if p.is_file())
    assert size < 25 * 2**20
    assert {"jazz", "latin", "blues", "pop", "classical", "folk", "chorale"} <= set(styles())


@pytest.mark.slow
def test_installed_package_finds_the_bundled_model(installed, tmp_path):
    assert (installed / "composer" / "_data" / "model.safetensors").exists()
    assert (installed / "composer" / "_data" / "replay.safetensors").exists()  # fine-tunes rehearse it
    assert not (installed / "cli.py").exists()  # no top-level `cli` module in site-packages
    env = {**ENV, "PYTHONPATH": str(installed)}
    r = subprocess.run([sys.executable, "-m", "composer.cli", "styles"], env=env, cwd=tmp_path,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert [line.split()[0] for line in r.stdout.splitlines()] == styles()
    out = tmp_path / "jazz.mid"
    r = subprocess.run([sys.executable, "-m", "composer.cli", "generate", "--style", "jazz", "--bars", "4",
                        "-o", str(out)], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    from composer.midi_io import read_midi
    assert read_midi(out).note_count > 0


@pytest.mark.parametrize("style", ["jazz", "latin", "blues", "pop", "classical", "folk", "chorale"])
@pytest.mark.slow
def test_every_style_generates_from_a_checkout(style, tmp_path):
    from composer.midi_io import read_midi

    out = tmp_path / f"{style}.mid"
    r = subprocess.run([sys.executable, str(ROOT / "cli.py"), "generate", "--style", style, "--bars", "4",
                        "--seed", "1", "-o", str(out)], env=ENV, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    score = read_midi(out)
    assert score.note_count > 0 and len(score.time_signatures) and len(score.tempos)


def test_generated_drums_sit_on_the_beats_unless_asked_to_keep_their_timing():
    """Jazz drums learned from Groove MIDI push and drag beats by a grid step; by default they go
    onto the beat (MuseScore reads a file whose beats start off the beat as a live performance
    and replaces its tempo), and keep_drum_timing leaves the sampled piece as it is."""
    from composer.generate import SamplingOptions, load_model

    model = load_model()

    def near_beat(score):  # hits just off a beat (a push into the bar after the last one stays)
        onsets = np.concatenate([t.notes[:, 0] for t in score.tracks if t.is_drum] or [np.zeros(0, int)])
        onsets = onsets[8 * (score.end - onsets) > score.tpq]
        r = onsets % score.tpq
        return int(((r > 0) & (8 * r < score.tpq)).sum() + ((r > 0) & (8 * (score.tpq - r) < score.tpq)).sum())

    for seed in range(8):  # the first piece with a pushing or dragging drummer (not every jazz piece has one)
        tokens = model.generate_tokens(SamplingOptions(style="jazz", bars=8, seed=seed))[0]
        kept, straight = (model._to_score(tokens, SamplingOptions(keep_drum_timing=k)) for k in (True, False))
        if near_beat(kept) > 10:
            break
    assert near_beat(kept) > 10 and near_beat(straight) == 0
    assert max(int(t.notes[:, 0].max()) for t in straight.tracks if len(t.notes)) < straight.end  # nor past the end
    assert model.tokenizer.decode(tokens).note_count == kept.note_count >= straight.note_count
    for a, b in zip(kept.tracks, straight.tracks):
        if not a.is_drum:
            assert a.notes.tolist() == b.notes.tolist()


@pytest.mark.parametrize("style", ["jazz", "latin", "blues", "pop"])
def test_arrange_writes_each_styles_own_band_under_a_melody(style):
    """A 4-bar melody arranged with the defaults: the melody is kept and the band written is
    the style's (jazz: piano, jazz guitar, bass and drums, the band of 150 of its corpus's 159
    pieces), every instrument of it playing."""
    from composer.generate import load_model
    from composer.generate.cells import ENSEMBLES
    from composer.score import DRUM_KEY, Score, Track

    notes = np.array([[i * 480, 440, p, 90] for i, p in enumerate([67, 69, 71, 72, 74, 72, 71, 69] * 2)])
    melody = Score(tpq=480, tracks=[Track(73, False, "Flute", notes)], tempos=np.array([[0, 120.0]]),
                   time_signatures=np.array([[0, 4, 4]]), end=16 * 480)
    model = load_model(None)
    out = model.arrange(melody, style=style, seed=0)
    kept = model.tokenizer.decode(model.tokenizer.encode(melody))  # on the model's grid, as `roundtrip`
    assert np.array_equal(out.tracks[0].notes, kept.tracks[0].notes) and len(kept.tracks[0].notes) == 16
    written = out.tracks[1:]
    assert sorted(t.key for t in written) == sorted(ENSEMBLES[style])
    assert all(len(t.notes) for t in written)
    if style == "jazz":
        assert {t.key for t in written} == {0, 26, 32, DRUM_KEY}
