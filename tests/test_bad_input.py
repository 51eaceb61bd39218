"""Real-world and broken input: every file either loads sensibly or raises ScoreError naming the file."""

from __future__ import annotations

import random
import struct

import mido
import numpy as np
import pytest

from composer import midi_io
from composer.errors import ComposerError, ScoreError
from composer.load import load_score
from composer.midi_io import midi_bytes, read_midi
from composer.music21_io import read_music21
from composer.score import Score, Track


def _save(mf: mido.MidiFile, path) -> str:
    mf.save(str(path))
    return str(path)


def _simple_file(tpq=480, notes=((0, 480, 60),), tempo=500000, channel=0, extra_meta=()) -> mido.MidiFile:
    mf = mido.MidiFile(type=1, ticks_per_beat=tpq)
    tr = mido.MidiTrack()
    mf.tracks.append(tr)
    if tempo is not None:
        tr.append(mido.MetaMessage("set_tempo", tempo=tempo))
    tr.extend(extra_meta)
    events = []
    for on, dur, pitch in notes:
        events.append((on, 1, mido.Message("note_on", channel=channel, note=pitch, velocity=90)))
        events.append((on + dur, 0, mido.Message("note_off", channel=channel, note=pitch, velocity=0)))
    now = 0
    for t, _, m in sorted(events, key=lambda e: (e[0], e[1])):
        tr.append(m.copy(time=t - now))
        now = t
    tr.append(mido.MetaMessage("end_of_track"))
    return mf


def _expect_error(path, *words):
    with pytest.raises(ScoreError) as e:
        read_midi(path)
    msg = str(e.value)
    assert str(path) in msg and "\n" not in msg
    for w in words:
        assert w in msg, msg
    return msg


# ---------------------------------------------------------------------------- files that must load


def test_type0_with_several_channels_gives_one_track_per_instrument(tmp_path):
    mf = mido.MidiFile(type=0, ticks_per_beat=480)
    tr = mido.MidiTrack()
    mf.tracks.append(tr)
    tr += [
        mido.MetaMessage("track_name", name="Song"),
        mido.MetaMessage("set_tempo", tempo=600000),
        mido.MetaMessage("time_signature", numerator=3, denominator=4),
        mido.Message("program_change", channel=0, program=0),
        mido.Message("program_change", channel=1, program=33),
        mido.Message("program_change", channel=2, program=40),
    ]
    for i in range(4):
        for ch, pitch in ((0, 60 + i), (1, 36 + i), (2, 72 + i), (9, 36)):
            tr.append(mido.Message("note_on", channel=ch, note=pitch, velocity=80))
        tr.append(mido.Message("note_off", channel=0, note=60 + i, velocity=0, time=480))
        for ch, pitch in ((1, 36 + i), (2, 72 + i), (9, 36)):
            tr.append(mido.Message("note_off", channel=ch, note=pitch, velocity=0))
    path = _save(mf, tmp_path / "type0.mid")
    s = read_midi(path)
    assert sorted((t.is_drum, t.program if not t.is_drum else 0) for t in s.tracks) == [
        (False, 0), (False, 33), (False, 40), (True, 0)]
    assert all(len(t.notes) == 4 for t in s.tracks)
    assert s.tempos.tolist() == [[0.0, 100.0]]
    assert s.time_signatures.tolist() == [[0, 3, 4]]
    assert s.end == 4 * 480


@pytest.mark.parametrize("tpq", [96, 960, 24, 32767])
def test_any_ticks_per_quarter_is_kept(tmp_path, tpq):
    path = _save(_simple_file(tpq=tpq, notes=((0, tpq, 60), (tpq, tpq // 2, 62))), tmp_path / f"tpq{tpq}.mid")
    s = read_midi(path)
    assert s.tpq == tpq
    assert s.tracks[0].notes.tolist() == [[0, tpq, 60, 90], [tpq, tpq // 2, 62, 90]]
    assert s.seconds() == pytest.approx(0.5 * (tpq + tpq // 2) / tpq)


def test_running_status(tmp_path):
    # raw track: note_on ch0 60 (status byte), then running status for 64 and for the two "offs" (velocity 0)
    body = bytes([
        0x00, 0x90, 60, 100,
        0x00, 64, 100,              # running status note_on
        0x83, 0x60, 60, 0,          # delta 480, running status: note_on vel 0 == note_off
        0x00, 64, 0,
        0x00, 0xFF, 0x2F, 0x00,
    ])
    data = b"MThd" + struct.pack(">IHHH", 6, 0, 1, 480) + b"MTrk" + struct.pack(">I", len(body)) + body
    path = tmp_path / "running.mid"
    path.write_bytes(data)
    s = read_midi(path)
    assert s.tracks[0].notes.tolist() == [[0, 480, 60, 100], [0, 480, 64, 100]]
    assert s.tempos.shape == (0, 2)  # no tempo event: readers assume 120


def test_tempo_zero_and_absurd_tempos_are_dropped(tmp_path):
    mf = _simple_file(tempo=None, notes=((0, 480, 60), (960, 480, 62)))
    tr = mf.tracks[0]
    tr.insert(0, mido.MetaMessage("set_tempo", tempo=0))          # infinitely fast: dropped
    tr.insert(1, mido.MetaMessage("set_tempo", tempo=1))          # 60 million qpm: dropped
    tr.insert(2, mido.MetaMessage("set_tempo", tempo=0xFFFFFF))   # 3.6 qpm: dropped
    path = _save(mf, tmp_path / "tempo0.mid")
    s = read_midi(path)
    assert s.tempos.shape == (0, 2) and s.note_count == 2
    assert s.seconds() == pytest.approx(1.5)

    mf = _simple_file(tempo=400000, notes=((0, 480, 60),))
    mf.tracks[0].insert(1, mido.MetaMessage("set_tempo", tempo=0, time=240))
    s = read_midi(_save(mf, tmp_path / "tempo_mid0.mid"))
    assert s.tempos.tolist() == [[0.0, 150.0]]


def test_odd_meta_values_are_dropped(tmp_path):
    mf = _simple_file(extra_meta=[mido.MetaMessage("time_signature", numerator=5, denominator=8),
                                  mido.MetaMessage("key_signature", key="Eb")])
    path = tmp_path / "meta.mid"
    _save(mf, path)
    s = read_midi(path)
    assert s.time_signatures.tolist() == [[0, 5, 8]] and s.key_signatures.tolist() == [[0, -3, 0]]
    # raw patch: time signature denominator exponent 9 (2**9 = 512) and key with 9 sharps
    data = bytearray(path.read_bytes())
    i = data.index(b"\xff\x58\x04")
    data[i + 4] = 9
    j = data.index(b"\xff\x59\x02")
    data[j + 3] = 9
    path.write_bytes(bytes(data))
    s = read_midi(path)
    assert s.time_signatures.shape == (0, 3) and s.key_signatures.shape == (0, 3) and s.note_count == 1


def test_far_notes_within_limits_load(tmp_path):
    # a note at tick 10**7 is fine when the ticks are short: tpq 30000 at 120 qpm -> 167 s
    path = _save(_simple_file(tpq=30000, notes=((0, 100, 60), (10**7, 100, 62))), tmp_path / "far_ok.mid")
    s = read_midi(path)
    assert s.end == 10**7 + 100 and s.seconds() == pytest.approx((10**7 + 100) / 60000)


# ---------------------------------------------------------------------------- files that must be refused


def test_text_file_named_mid(tmp_path):
    path = tmp_path / "notes.mid"
    path.write_text("This is not MIDI.\nJust text.\n")
    _expect_error(path, "not a MIDI file")
    with pytest.raises(ScoreError, match="not a MIDI file"):
        load_score(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.mid"
    path.write_bytes(b"")
    _expect_error(path, "empty")


def test_no_notes(tmp_path):
    path = _save(_simple_file(notes=()), tmp_path / "silent.mid")
    _expect_error(path, "no notes")


def test_only_unterminated_notes_are_kept(tmp_path):
    # a note-on never switched off ends where its track ends (here at once): see test_midi_read.py
    mf = _simple_file(notes=())
    mf.tracks[0].insert(1, mido.Message("note_on", note=60, velocity=90))
    assert read_midi(_save(mf, tmp_path / "hanging.mid")).tracks[0].notes.tolist() == [[0, 0, 60, 90]]


def test_far_notes_are_too_long(tmp_path):
    path = _save(_simple_file(notes=((0, 480, 60), (10**7, 480, 62))), tmp_path / "far.mid")
    _expect_error(path, "too long", "hours")
    path = _save(_simple_file(tpq=30000, notes=((0, 480, 60), (2 * 10**8, 480, 62))), tmp_path / "farther.mid")
    _expect_error(path, "too long", "ticks")


def test_too_many_notes(tmp_path, monkeypatch):
    monkeypatch.setattr(midi_io, "MAX_NOTES", 10)
    path = _save(_simple_file(notes=[(i * 10, 10, 60) for i in range(11)]), tmp_path / "many.mid")
    _expect_error(path, "too many notes (11 > 10)")
    path = _save(_simple_file(notes=[(i * 10, 10, 60) for i in range(10)]), tmp_path / "ten.mid")
    assert read_midi(path).note_count == 10


def test_bad_headers(tmp_path):
    good = midi_bytes(Score(tpq=480, tracks=[Track(0, notes=np.array([[0, 480, 60, 80]]))]))
    smpte = bytearray(good)
    smpte[12:14] = struct.pack(">H", 0xE728)  # -25 fps, 40 ticks per frame
    p = tmp_path / "smpte.mid"
    p.write_bytes(bytes(smpte))
    _expect_error(p, "SMPTE")
    zero = bytearray(good)
    zero[12:14] = b"\x00\x00"
    p = tmp_path / "tpq0.mid"
    p.write_bytes(bytes(zero))
    _expect_error(p, "ticks per quarter")
    rmi = b"RIFF" + struct.pack("<I", len(good) + 12) + b"RMIDdata" + struct.pack("<I", len(good)) + good
    p = tmp_path / "song.mid"
    p.write_bytes(rmi)
    _expect_error(p, "RIFF")


def test_truncated_and_corrupted_files(tmp_path):
    good = midi_bytes(Score(tpq=480, tracks=[
        Track(0, notes=np.array([[i * 240, 240, 60 + i % 12, 80] for i in range(16)])),
        Track(0, is_drum=True, notes=np.array([[i * 240, 60, 36, 100] for i in range(16)])),
    ]))
    path = tmp_path / "broken.mid"
    for cut in (len(good) // 2, len(good) - 1, 14, 13, 30):
        path.write_bytes(good[:cut])
        _expect_error(path)
    # every prefix, and random byte damage: ScoreError or a sensible Score, never anything else
    rng = random.Random(1234)
    variants = [good[:n] for n in range(0, len(good), 3)]
    for _ in range(300):
        b = bytearray(good)
        for _ in range(rng.randint(1, 6)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        variants.append(bytes(b))
    loaded = 0
    for data in variants:
        path.write_bytes(data)
        try:
            s = read_midi(path)
        except ScoreError as e:
            assert str(path) in str(e)
            continue
        loaded += 1
        assert s.note_count > 0 and s.tpq > 0
        for t in s.tracks:
            assert t.notes.dtype == np.int64 and (t.notes[:, 1] >= 0).all()
            assert ((0 <= t.notes[:, 2]) & (t.notes[:, 2] <= 127)).all()
    assert loaded > 0  # some damage (a changed velocity) leaves a usable file


# ---------------------------------------------------------------------------- load_score dispatch


def test_load_score_errors(tmp_path):
    with pytest.raises(ScoreError, match="no such file"):
        load_score(tmp_path / "missing.mid")
    p = tmp_path / "song.wav"
    p.write_bytes(b"RIFF")
    with pytest.raises(ScoreError, match=r"unsupported file type '\.wav' \(expected \.mid, \.midi"):
        load_score(p)
    with pytest.raises(ScoreError, match="directory"):
        load_score(tmp_path)
    assert issubclass(ScoreError, ComposerError)


# ---------------------------------------------------------------------------- music21 formats


def test_music21_bach_chorale():
    import music21

    path = music21.corpus.getWork("bach/bwv66.6")
    s = read_music21(path)
    assert s.tpq == 480 and len(s.tracks) == 4
    assert [t.name for t in s.tracks] == ["Soprano", "Alto", "Tenor", "Bass"]
    assert all(len(t.notes) > 20 and not t.is_drum for t in s.tracks)
    assert s.time_signatures.tolist() == [[0, 4, 4]]
    assert s.key_signatures.tolist() == [[0, 3, 1]]  # F# minor
    assert load_score(path).note_count == s.note_count


def test_abc_file(tmp_path):
    path = tmp_path / "tune.abc"
    path.write_text("X:1\nT:Test tune\nM:3/4\nL:1/8\nQ:1/4=90\nK:G\nGABc d2|e2 d2 B2-|B4 [GBd]2|]\n")
    s = load_score(path)
    assert s.tpq == 480 and len(s.tracks) == 1
    assert s.tracks[0].notes[:, :3].tolist() == [
        [0, 240, 67], [240, 240, 69], [480, 240, 71], [720, 240, 72], [960, 480, 74],
        [1440, 480, 76], [1920, 480, 74],
        [2400, 1440, 71],  # tied B merged into one note
        [3840, 480, 67], [3840, 480, 71], [3840, 480, 74],  # chord: one note per pitch
    ]
    assert s.tempos.tolist() == [[0.0, 90.0]]
    assert s.time_signatures.tolist() == [[0, 3, 4]]
    assert s.key_signatures.tolist() == [[0, 1, 0]]
    assert s.end == 4320


def test_music21_bad_files(tmp_path):
    p = tmp_path / "bad.musicxml"
    p.write_text("<score-partwise><part-list>")
    with pytest.raises(ScoreError) as e:
        load_score(p)
    assert str(p) in str(e.value) and "\n" not in str(e.value)
    p = tmp_path / "empty.abc"
    p.write_text("X:1\nT:Nothing\nK:C\n")
    with pytest.raises(ScoreError):
        load_score(p)
    p = tmp_path / "binary.mxl"
    p.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ScoreError):
        load_score(p)
    for suffix in (".krn", ".abc", ".musicxml", ".mxl"):  # music21's own message is unclear for these
        p = tmp_path / f"nothing{suffix}"
        p.write_bytes(b"")
        with pytest.raises(ScoreError, match=f"^{p}: empty file$"):
            load_score(p)
