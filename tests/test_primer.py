"""`compose generate --primer F`: every note of F comes back as the user made it (pitch, onset,
duration, velocity, program, track name, channel), with F's own tempo, meter and key maps over
its bars, in every seed; and --tempo / --time-signature apply to the continuation.

Real files: music21's own chorales always; POP909 and Groove pieces from the shared corpora
when they are beside the checkout (COMPOSER_SHARED_DATA, default ../shared/data)."""

from __future__ import annotations

import os
from pathlib import Path

import mido
import numpy as np
import pytest

from composer import load_model
from composer.cli import cli
from composer.load import load_score
from composer.midi_io import read_midi, write_midi
from composer.score import Score, Track

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("COMPOSER_SHARED_DATA", ROOT.parent / "shared" / "data"))
pytestmark = pytest.mark.skipif(not (ROOT / "data" / "model.safetensors").exists(), reason="no bundled model")


@pytest.fixture(scope="module")
def model():
    return load_model()


def excerpt(src: Path, dst: Path, quarters: float) -> Path:
    """The first `quarters` quarter notes of a real MIDI file, at its own resolution and tempo."""
    import symusic

    s = symusic.Score(str(src))
    s.clip(0, int(quarters * s.ticks_per_quarter), clip_end=False, inplace=True)
    s.dump_midi(str(dst))
    return dst


def hand_made(dst: Path) -> Path:
    """The hard cases in one file: three tracks on program 0 with their own names, two drum
    tracks, notes off the grid, 76 bpm then a tempo change, resolution 384, 6/8, E minor."""
    mf = mido.MidiFile(type=1, ticks_per_beat=384)
    conductor = mido.MidiTrack([mido.MetaMessage("time_signature", numerator=6, denominator=8),
                                mido.MetaMessage("key_signature", key="Em"),
                                mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(76)),
                                mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(83.3), time=384 * 6)])
    mf.tracks.append(conductor)
    rng = np.random.default_rng(7)
    for name, ch, low, drum in (("MELODY", 3, 64, False), ("BRIDGE", 5, 55, False), ("PIANO", 7, 40, False),
                                ("Kick+Snare", 9, 36, True), ("Hats", 9, 42, True)):
        tr = mido.MidiTrack([mido.MetaMessage("track_name", name=name)])
        if not drum:
            tr.append(mido.Message("program_change", channel=ch, program=0))
        events, t, sounding = [], 0, {}
        while t < 384 * 9 - 40:  # three bars of 6/8
            length = int(rng.integers(40, 300))
            pitch = int(low + rng.integers(0, 12))
            if sounding.get(pitch, 0) <= t:  # no two notes of one pitch overlap (MIDI can't pair them)
                events += [(t, 1, pitch, int(rng.integers(30, 120))), (t + length, 0, pitch, 0)]
                sounding[pitch] = t + length
            t += int(rng.integers(37, 200))  # off the grid
        now = 0
        for when, on, pitch, vel in sorted(events):
            tr.append(mido.Message("note_on" if on else "note_off", channel=ch, note=pitch, velocity=vel,
                                   time=when - now))
            now = when
        mf.tracks.append(tr)
    mf.save(dst)
    return dst


def real_files(tmp: Path) -> list[Path]:
    from music21 import corpus

    files = [hand_made(tmp / "hand.mid")]
    made = tmp / "generated.mid"  # what composer itself wrote, continued again
    write_midi(load_model().generate(style="latin", bars=4, seed=5), made)
    files.append(made)
    chorale = corpus.getWork("bach/bwv66.6")
    files.append(Path(str(chorale)))
    pop, groove = SHARED / "pop909" / "001.mid", SHARED / "groove"
    if pop.exists():
        files.append(excerpt(pop, tmp / "pop001.mid", 16))
    if groove.exists():
        drums = sorted(groove.rglob("*.mid"))[:1]
        files += [excerpt(f, tmp / f"groove_{i}.mid", 8) for i, f in enumerate(drums)]
    return files


def assert_primer_kept(primer: Score, out: Score) -> None:
    """Every primer track is a track of `out` with the same name, program and notes (its first
    notes, in quarter notes exactly: resolutions may differ), and tempo/meter/key maps agree
    over the primer's bars."""
    f = out.tpq / primer.tpq
    assert f == int(f), "the written resolution holds the primer's ticks exactly"
    by_name = {t.name: t for t in out.tracks}
    assert len(by_name) == len(out.tracks), "track names are unique"
    for t in primer.tracks:
        got = by_name[t.name]
        assert (got.program, got.is_drum) == (t.program, t.is_drum)
        kept = got.notes[:len(t.notes)].copy()
        want = t.notes.copy()
        want[:, :2] *= int(f)
        order = lambda n: n[np.lexsort((n[:, 3], n[:, 1], n[:, 2], n[:, 0]))]  # noqa: E731
        assert np.array_equal(order(kept), order(want)), t.name
    end = max(t.notes[:, 0].max() for t in primer.tracks)
    for field_ in ("tempos", "time_signatures", "key_signatures"):
        mine = getattr(primer, field_)
        theirs = getattr(out, field_)
        mine = mine[mine[:, 0] <= end]
        theirs = theirs[theirs[:, 0] <= end * f]
        assert np.allclose(theirs[:, 1:], mine[:, 1:], rtol=1e-3) and np.allclose(theirs[:, 0], mine[:, 0] * f), field_


def test_every_primer_note_comes_back_for_every_seed(model, tmp_path):
    for path in real_files(tmp_path):
        primer = load_score(path)
        for seed in (0, 1):
            out_path = tmp_path / f"{path.stem}_{seed}.mid"
            write_midi(model.generate(style="pop", bars=2, primer=primer, seed=seed), out_path)
            assert_primer_kept(primer if path.suffix == ".mid" else read_back(primer, tmp_path), read_midi(out_path))


def read_back(score: Score, tmp: Path) -> Score:
    """A score read by music21 as the MIDI file composer writes of it (names, ticks at 480)."""
    p = tmp / "music21_primer.mid"
    write_midi(score, p)
    return read_midi(p)


def test_tracks_that_share_a_program_stay_apart(model, tmp_path):
    primer = load_score(hand_made(tmp_path / "hand.mid"))
    out = model.generate(style="pop", bars=2, primer=primer, seed=0)
    names = [t.name for t in out.tracks]
    assert names[:5] == ["MELODY", "BRIDGE", "PIANO", "Kick+Snare", "Hats"]
    assert sum(len(t.notes) for t in out.tracks[:5]) == primer.note_count


def test_primer_tempo_is_exact_and_new_tempo_applies_to_the_continuation(model, tmp_path):
    primer = load_score(hand_made(tmp_path / "hand.mid"))
    out = model.generate(style="jazz", bars=2, primer=primer, seed=0)
    assert np.allclose(out.tempos[:2, 1], [76.0, 83.3], atol=1e-3)  # not 76.64 (the nearest tempo bin)
    out = model.generate(style="jazz", bars=2, primer=primer, seed=0, tempo=140, time_signature=(3, 4))
    cut = out.tempos[-1, 0]
    assert out.tempos[-1, 1] == 140.0 and cut > 0
    assert tuple(out.time_signatures[-1]) == (cut, 3, 4)
    assert all(t < cut for t in out.time_signatures[:-1, 0])
    new = np.concatenate([t.notes[t.notes[:, 0] >= cut] for t in out.tracks])
    assert len(new), "the continuation has notes after the new tempo and meter"


def test_primer_channels_are_kept_where_free(model, tmp_path):
    primer = load_score(hand_made(tmp_path / "hand.mid"), channels=True)
    assert [t.channel for t in primer.tracks] == [3, 5, 7, 9, 9]
    path = tmp_path / "out.mid"
    write_midi(model.generate(style="pop", bars=1, primer=primer, seed=0), path)
    mf = mido.MidiFile(path)
    channels = {next(m.name for m in tr if m.type == "track_name"): {m.channel for m in tr if m.type == "note_on"}
                for tr in mf.tracks[1:]}
    assert channels["MELODY"] == {3} and channels["BRIDGE"] == {5} and channels["PIANO"] == {7}
    assert channels["Hats"] == {9} and channels["Kick+Snare"] == {9}
    assert all(len(c) == 1 for c in channels.values())
    pitched = [c for n, c in channels.items() if 9 not in c]
    assert len({min(c) for c in pitched}) == len(pitched), "no two pitched tracks share a channel"


def test_a_primer_on_every_channel_gets_only_its_own_instruments(model):
    notes = np.array([[0, 480, 60, 80], [480, 480, 62, 80]], dtype=np.int64)
    tracks = [Track(p, False, f"T{p}", notes.copy()) for p in range(15)]
    primer = Score(tpq=480, tracks=tracks, tempos=np.array([[0, 100.0]]), time_signatures=np.array([[0, 4, 4]]))
    out = model.generate(style="jazz", bars=2, primer=primer, seed=0)
    assert {t.key for t in out.tracks} <= set(range(15))
    from composer.errors import ComposerError
    with pytest.raises(ComposerError, match="15 MIDI channels"):
        model.generate(style="jazz", bars=2, primer=primer, seed=0, instruments=["trumpet"])


def test_cli_primer_summary_counts_primer_and_new(tmp_path):
    from click.testing import CliRunner

    primer = hand_made(tmp_path / "hand.mid")
    out = tmp_path / "out.mid"
    r = CliRunner().invoke(cli, ["generate", "--style", "pop", "--primer", str(primer), "--bars", "2",
                                 "-o", str(out)], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    p = load_score(primer)
    assert f"3 primer bars + 2 new bars, {p.note_count} primer notes + " in r.output
    assert "MELODY, BRIDGE, PIANO, Kick+Snare, Hats" in r.output
