"""write_midi produces a clean type-1 file that mido, pretty_midi, music21 and symusic all read the same way."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings
from collections import defaultdict
from pathlib import Path

import mido
import numpy as np
import pytest

from composer import gm
from composer.errors import ComposerError
from composer.load import SUPPORTED_SUFFIXES, load_score
from composer.midi_io import WRITE_TPQ, midi_bytes, read_midi, write_midi
from composer.score import DRUM_KEY, Score, Track

# the DAW import checker: DAWCHECK_DIR, or ../shared/tools/daw_check beside the clone
DAW_CHECK = Path(os.environ.get("DAWCHECK_DIR", Path(__file__).resolve().parents[2] / "shared" / "tools" / "daw_check"),
                 "daw_check.sh")


# ---------------------------------------------------------------------------- fixture scores


def demo_score(tpq: int = 960, meters=((3, 4), (6, 8)), bars_per_meter: int = 2) -> Score:
    """Piano (chords, then repeated eighth notes on one pitch), bass and drums; the meter changes
    every `bars_per_meter` bars and the tempo drops from 120 to 90 at the second meter."""
    q = tpq
    piano, sigs, tick = [], [], 0
    for m, (num, den) in enumerate(meters):
        sigs.append([tick, num, den])
        beat = q * 4 // den
        for _ in range(bars_per_meter):
            for b in range(num):
                t = tick + b * beat
                if m % 2 == 0:
                    piano += [[t, beat, 60 + 2 * b, 90], [t, beat, 64 + 2 * b, 70]]
                else:  # back-to-back repeats of one pitch: note_off must come before the next note_on
                    piano.append([t, beat, 67, 80])
            tick += num * beat
    end = tick
    bass = [[t, q, 36 + (i % 5), 100] for i, t in enumerate(range(0, end, q))]
    drums = []
    for i, t in enumerate(range(0, end, q // 2)):
        drums.append([t, q // 4, 42, 60])
        if i % 2 == 0:
            drums.append([t, q // 4, 36 if i % 4 == 0 else 38, 110])
    score = Score(tpq=tpq, tracks=[
        Track(0, False, "Piano", np.array(piano, dtype=np.int64)),
        Track(33, False, "Bass", np.array(bass, dtype=np.int64)),
        Track(0, True, "Drums", np.array(drums, dtype=np.int64)),
    ])
    score.tempos = np.array([[0, 120.0], [sigs[1][0] if len(sigs) > 1 else q * 8, 90.0]])
    score.time_signatures = np.array(sigs, dtype=np.int64)
    score.key_signatures = np.array([[0, 1, 0]], dtype=np.int64)
    score.end = end
    return score


def daw_demo_score() -> Score:
    """The file for the external DAW check: starts in 4/4 (LMMS 1.2 keeps its song meter at 4/4 and
    imports meter changes only as automation), then 3/4 and 6/8, tempo change, drums."""
    return demo_score(meters=((4, 4), (3, 4), (6, 8)))


@pytest.fixture
def demo_mid(tmp_path) -> Path:
    path = tmp_path / "demo.mid"
    write_midi(demo_score(), path, title="Demo Piece")
    return path


def _abs_events(track):
    tick = 0
    for msg in track:
        tick += msg.time
        yield tick, msg


# ---------------------------------------------------------------------------- four parsers agree


def test_four_parsers_agree(demo_mid):
    import music21
    import pretty_midi
    import symusic

    score = demo_score()
    n_notes = score.note_count

    mf = mido.MidiFile(demo_mid)
    inst_tracks = [tr for tr in mf.tracks if any(m.type == "note_on" for m in tr)]
    mido_notes = sum(1 for tr in mf.tracks for m in tr if m.type == "note_on" and m.velocity > 0)
    mido_tempos = [round(mido.tempo2bpm(m.tempo), 3) for m in mf.tracks[0] if m.type == "set_tempo"]
    mido_sigs = [(t, m.numerator, m.denominator) for t, m in _abs_events(mf.tracks[0]) if m.type == "time_signature"]

    pm = pretty_midi.PrettyMIDI(str(demo_mid))
    pm_times, pm_tempi = pm.get_tempo_changes()
    pm_sigs = [(pm.time_to_tick(s.time), s.numerator, s.denominator) for s in pm.time_signature_changes]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m21 = music21.converter.parse(str(demo_mid), format="midi", forceSource=True)
    m21_notes = 0
    for el in m21.flatten().notes:  # music21 splits notes at bar lines into ties: count the first pieces
        pieces = el.notes if isinstance(el, music21.chord.ChordBase) else [el]
        m21_notes += sum(1 for n in pieces if n.tie is None or n.tie.type == "start")
    m21_tempos = sorted({(float(mm.getOffsetInHierarchy(m21)), round(mm.getQuarterBPM(), 3))
                         for mm in m21.recurse().getElementsByClass(music21.tempo.MetronomeMark)})
    m21_sigs = sorted({(round(float(ts.getOffsetInHierarchy(m21)) * WRITE_TPQ), ts.numerator, ts.denominator)
                       for ts in m21.recurse().getElementsByClass(music21.meter.TimeSignature)})

    sm = symusic.Score(str(demo_mid))
    sm_tempos = [round(t.qpm, 3) for t in sm.tempos]
    sm_sigs = [(s.time, s.numerator, s.denominator) for s in sm.time_signatures]

    expected_sigs = [(int(t) // 2, int(a), int(b)) for t, a, b in score.time_signatures]  # 960 -> 480 tpq
    assert len(inst_tracks) == len(pm.instruments) == len(m21.parts) == len(sm.tracks) == 3
    assert mido_notes == sum(len(i.notes) for i in pm.instruments) == m21_notes == sm.note_num() == n_notes
    assert mido_tempos == [round(q, 3) for q in pm_tempi] == [q for _, q in m21_tempos] == sm_tempos
    assert mido_tempos == pytest.approx([120.0, 90.0], abs=1e-3)
    assert list(pm_times) == pytest.approx([0.0, 3.0])  # two bars of 3/4 at 120 qpm
    assert mido_sigs == pm_sigs == m21_sigs == sm_sigs == expected_sigs
    assert sum(len(i.notes) for i in pm.instruments if i.is_drum) == len(score.tracks[2].notes)


# ---------------------------------------------------------------------------- our own reader


def test_read_midi_round_trips_exactly(demo_mid):
    score = demo_score()
    back = read_midi(demo_mid)
    assert back.tpq == WRITE_TPQ
    assert [(t.program, t.is_drum, t.name) for t in back.tracks] == [
        (0, False, "Piano"), (33, False, "Bass"), (0, True, "Drums")]
    for orig, got in zip(score.tracks, back.tracks):
        want = orig.notes.copy()
        want[:, :2] //= 2  # 960 -> 480 ticks per quarter (all values even)
        want = want[np.lexsort((want[:, 1], want[:, 2], want[:, 0]))]
        np.testing.assert_array_equal(got.notes, want)
        assert got.notes.dtype == np.int64 and got.notes.shape[1] == 4
    np.testing.assert_allclose(back.tempos, [[0, 120.0], [2880, 90.0]], atol=1e-3)
    np.testing.assert_array_equal(back.time_signatures, [[0, 3, 4], [2880, 6, 8]])
    np.testing.assert_array_equal(back.key_signatures, [[0, 1, 0]])
    assert back.end == score.end // 2
    # and writing what we read gives the same bytes
    assert midi_bytes(back, title="Demo Piece") == demo_mid.read_bytes()


def test_load_score_dispatches_midi(demo_mid):
    assert load_score(demo_mid).note_count == demo_score().note_count
    assert ".mid" in SUPPORTED_SUFFIXES and ".mxl" in SUPPORTED_SUFFIXES


# ---------------------------------------------------------------------------- file structure


def test_file_structure_is_daw_clean(demo_mid):
    score = demo_score()
    mf = mido.MidiFile(demo_mid)
    assert mf.type == 1 and mf.ticks_per_beat == 480 and len(mf.tracks) == 4

    conductor = mf.tracks[0]
    assert conductor[0].type == "track_name" and conductor[0].name == "Demo Piece"
    assert not any(m.type in ("note_on", "note_off", "program_change") for m in conductor)
    assert any(m.type == "key_signature" and m.key == "G" for m in conductor)

    names, channels = [], []
    end_ticks = []
    for tr in mf.tracks[1:]:
        meta = {m.type: m for m in tr if m.is_meta}
        names.append(meta["track_name"].name)
        assert meta["instrument_name"].name
        events = list(_abs_events(tr))
        chans = {m.channel for _, m in events if not m.is_meta}
        assert len(chans) == 1
        channels.append(chans.pop())
        first_channel_msg = next((t, m) for t, m in events if not m.is_meta)
        assert first_channel_msg[1].type == "program_change" and first_channel_msg[0] == 0
        # every note_on has its note_off; no note_on while the same pitch is still sounding
        sounding = defaultdict(int)
        last_tick, offs_done = -1, False
        for t, m in events:
            if m.type == "note_on" and m.velocity > 0:
                assert sounding[m.note] == 0, f"overlapping note {m.note} at {t}"
                sounding[m.note] += 1
            elif m.type == "note_off" or (m.type == "note_on" and m.velocity == 0):
                assert m.type == "note_off"
                assert sounding[m.note] == 1
                sounding[m.note] -= 1
            if m.type in ("note_on", "note_off"):  # at one tick, all note_offs come before note_ons
                if t != last_tick:
                    last_tick, offs_done = t, False
                if m.type == "note_on":
                    offs_done = True
                else:
                    assert not offs_done, f"note_off after note_on at tick {t}"
        assert not any(sounding.values())
        assert events[-1][1].type == "end_of_track"
        end_ticks.append(events[-1][0])
    conductor_end = sum(m.time for m in conductor)
    assert conductor[-1].type == "end_of_track"
    assert set(end_ticks) == {conductor_end} and conductor_end >= score.end // 2

    assert names == ["Piano", "Bass", "Drums"]
    assert channels[2] == 9
    assert len(set(channels[:2])) == 2 and 9 not in channels[:2]
    programs = [next(m.program for m in tr if m.type == "program_change") for tr in mf.tracks[1:]]
    assert programs == [0, 33, 0]


def test_zero_length_notes_velocity_and_overlaps(tmp_path):
    notes = np.array([
        [0, 0, 60, 0],        # zero length, velocity 0 -> 1 tick, velocity 1
        [0, 480, 64, 300],    # velocity clamped to 127
        [240, 480, 64, 50],   # same pitch starts while the previous one sounds: previous is cut at 240
        [240, 100, 64, 50],   # exact duplicate onset: dropped (the longer one stays)
        [-10, 5, 70, 80],     # negative onset: dropped
        [100, 10, 200, 80],   # pitch out of range: dropped
    ], dtype=np.int64)
    s = Score(tpq=480, tracks=[Track(5, notes=notes)])
    path = tmp_path / "edge.mid"
    write_midi(s, path)
    back = read_midi(path)
    got = back.tracks[0].notes.tolist()
    assert got == [[0, 1, 60, 1], [0, 240, 64, 127], [240, 480, 64, 50]]
    mf = mido.MidiFile(path)
    assert any(m.type == "set_tempo" and m.tempo == 500000 for m in mf.tracks[0])  # default 120
    assert any(m.type == "time_signature" and (m.numerator, m.denominator) == (4, 4) for m in mf.tracks[0])


def test_tpq_rescale_rounds(tmp_path):
    s = Score(tpq=96, tracks=[Track(0, notes=np.array([[0, 96, 60, 80], [97, 1, 62, 80]], dtype=np.int64))])
    back = read_midi_bytes(tmp_path, midi_bytes(s))
    assert back.tpq == 480
    assert back.tracks[0].notes.tolist() == [[0, 480, 60, 80], [485, 5, 62, 80]]


def read_midi_bytes(tmp_path, data: bytes) -> Score:
    p = tmp_path / "bytes.mid"
    p.write_bytes(data)
    return read_midi(p)


def test_many_tracks_get_channels_and_unique_names(tmp_path):
    tracks = [Track(p % 3 * 8, notes=np.array([[i * 10, 10, 60, 80]], dtype=np.int64)) for i, p in enumerate(range(17))]
    tracks.append(Track(0, is_drum=True, notes=np.array([[0, 10, 36, 80]], dtype=np.int64)))
    mf = mido.MidiFile(file=__import__("io").BytesIO(midi_bytes(Score(tpq=480, tracks=tracks))))
    chans = [next(m.channel for m in tr if not m.is_meta) for tr in mf.tracks[1:]]
    assert chans[-1] == 9 and 9 not in chans[:-1] and all(0 <= c <= 15 for c in chans)
    # more than 15 pitched tracks: tracks of one program share a channel, programs never clash on a channel
    prog_of = {}
    for tr, c in zip(mf.tracks[1:-1], chans):
        prog = next(m.program for m in tr if m.type == "program_change")
        assert prog_of.setdefault(c, prog) == prog
    names = [next(m.name for m in tr if m.type == "track_name") for tr in mf.tracks[1:]]
    assert len(set(names)) == len(names)
    assert names[:4] == ["Piano", "Celesta", "Drawbar Organ", "Piano 2"]


def test_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "out.mid"
    path.write_bytes(b"old")
    write_midi(demo_score(), path)
    assert path.read_bytes()[:4] == b"MThd"
    assert sorted(os.listdir(tmp_path)) == ["out.mid"]

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        write_midi(Score(tpq=480, tracks=[Track(0, notes=np.array([[0, 1, 60, 80]]))]), path)
    assert path.read_bytes() == midi_bytes(demo_score())  # old content intact
    assert sorted(os.listdir(tmp_path)) == ["out.mid"]  # temp file cleaned up


# ---------------------------------------------------------------------------- General MIDI names


def test_gm_names():
    assert len(gm.PROGRAM_NAMES) == 128
    assert gm.PROGRAM_NAMES[0] == "Acoustic Grand Piano" and gm.PROGRAM_NAMES[127] == "Gunshot"
    assert gm.short_name(3) == "Honky-tonk Piano" and gm.short_name(35) == "Fretless Bass"
    assert gm.short_name(66) == "Tenor Sax" and gm.short_name(73) == "Flute" and gm.short_name(DRUM_KEY) == "Drums"
    assert gm.short_name(24) == "Nylon Guitar" and gm.short_name(87) == "Bass + Lead"
    assert gm.track_names([0, 33, 0, DRUM_KEY, 0]) == ["Piano", "Electric Bass", "Piano 2", "Drums", "Piano 3"]
    # a track's own name wins, made unique against the others (case-insensitively)
    assert gm.track_names([0, 0, 0], ["MELODY", "", "Piano"]) == ["MELODY", "Piano", "Piano 2"]
    cases = {
        "piano": 0, "Piano": 0, "bass": 33, "acoustic bass": 32, "drums": DRUM_KEY, "Drum Kit": DRUM_KEY,
        "sax": 65, "tenor sax": 66, "Tenor Sax": 66, "guitar": 24, "strings": 48, "flute": 73, "vibraphone": 11,
        "organ": 19, "trumpet": 56, "voice": 53, "0": 0, "127": 127, " 33 ": 33,
        "Acoustic Guitar (nylon)": 24, "acoustic guitar nylon": 24, "Lead 8 (bass + lead)": 87, "violins": 40,
    }
    for text, key in cases.items():
        assert gm.parse_instrument(text) == key, text
    for bad in ("kazoo", "128", "-1", ""):
        with pytest.raises(ComposerError) as e:
            gm.parse_instrument(bad)
        assert "\n" not in str(e.value) and ("piano" in str(e.value) or "0-127" in str(e.value))


# ---------------------------------------------------------------------------- external DAW check


@pytest.mark.slow
@pytest.mark.skipif(not (DAW_CHECK.exists() and shutil.which("mscore3")),
                    reason="external DAW check: needs ../shared/tools/daw_check (or DAWCHECK_DIR) and its set-up")
def test_daw_check(tmp_path):
    """Slow (~8 s): MuseScore, LMMS, FluidSynth, TiMidity, midicsv and four Python parsers agree."""
    path = tmp_path / "daw_demo.mid"
    write_midi(daw_demo_score(), path, title="composer daw check")
    env = {**os.environ, "DAWCHECK_PY": os.environ.get("DAWCHECK_PY", sys.executable)}  # the parsers: ours
    r = subprocess.run([str(DAW_CHECK), str(path)], check=False, capture_output=True, text=True, timeout=300, env=env)
    print(r.stdout)
    assert r.returncode == 0, r.stdout + r.stderr


def test_reading_midi_does_not_import_music21(demo_mid):
    import sys

    code = ("import sys; from composer.load import load_score; load_score(sys.argv[1]); "
            "import composer.gm, composer.music21_io; assert 'music21' not in sys.modules, 'music21 imported'")
    r = subprocess.run([sys.executable, "-c", code, str(demo_mid)], check=False, capture_output=True, text=True, timeout=60,
                       cwd=Path(__file__).resolve().parent.parent)
    assert r.returncode == 0, r.stderr
