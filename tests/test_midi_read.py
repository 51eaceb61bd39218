"""read_midi on hand-built files: hanging note-ons, type-2 files, several tracks with one program."""

from __future__ import annotations

import struct

import mido
import pytest
import symusic

from composer.errors import ScoreError
from composer.midi_io import read_midi

M, Meta = mido.Message, mido.MetaMessage


def _file(*tracks, type=1, tpq=480) -> mido.MidiFile:
    mf = mido.MidiFile(type=type, ticks_per_beat=tpq)
    for events in tracks:
        mf.tracks.append(mido.MidiTrack(events))
    return mf


def _save(mf: mido.MidiFile, path) -> str:
    mf.save(str(path))
    return str(path)


def _notes(score):
    return {t.name: t.notes.tolist() for t in score.tracks}


def test_hanging_note_on_ends_at_the_end_of_its_track(tmp_path):
    lead = [
        Meta("track_name", name="Lead"),
        M("note_on", note=60, velocity=90), M("note_off", note=60, time=480),
        M("note_on", note=64, velocity=80),                     # never switched off
        M("note_on", note=67, velocity=70, time=480), M("note_off", note=67, time=480),
        Meta("end_of_track", time=960),                         # the track ends at 2400
    ]
    bass = [
        Meta("track_name", name="Bass"),
        M("program_change", channel=1, program=33),
        M("note_on", channel=1, note=36, velocity=100, time=100),  # the track's only note, hanging
        Meta("end_of_track", time=200),
    ]
    drums = [  # a hanging note on the drum channel, and a note switched off twice
        Meta("track_name", name="Drums"),
        M("note_on", channel=9, note=42, velocity=60), M("note_off", channel=9, note=42, time=240),
        M("note_off", channel=9, note=42, time=10),
        M("note_on", channel=9, note=51, velocity=50, time=230),
        Meta("end_of_track", time=480),
    ]
    path = _save(_file(lead, bass, drums), tmp_path / "hanging.mid")
    assert sum(len(t.notes) for t in symusic.Score(path).tracks) == 3  # what symusic alone keeps
    s = read_midi(path)
    assert _notes(s) == {
        "Lead": [[0, 480, 60, 90], [480, 1920, 64, 80], [960, 480, 67, 70]],
        "Bass": [[100, 200, 36, 100]],
        "Drums": [[0, 240, 42, 60], [480, 480, 51, 50]],
    }
    assert [t.program for t in s.tracks] == [0, 33, 0] and s.tracks[2].is_drum
    assert s.end == 2400


def test_hanging_note_on_in_a_track_without_end_of_track(tmp_path):
    body = bytes([0x00, 0x90, 60, 100, 0x83, 0x60, 0x80, 60, 0,   # a note 0..480
                  0x00, 0x90, 62, 100, 0x81, 0x70, 0xB0, 7, 100])  # a hanging note, then a CC at 720
    data = b"MThd" + struct.pack(">IHHH", 6, 0, 1, 480) + b"MTrk" + struct.pack(">I", len(body)) + body
    path = tmp_path / "no_eot.mid"
    path.write_bytes(data)
    assert read_midi(path).tracks[0].notes.tolist() == [[0, 480, 60, 100], [480, 240, 62, 100]]


def test_files_without_hanging_notes_read_as_symusic_reads_them(tmp_path):
    events = [Meta("track_name", name="Piano")]
    for i in range(32):  # overlapping notes on one pitch (two note-ons, then two note-offs), running status
        p = 60 + i % 3
        events += [M("note_on", note=p, velocity=80, time=60), M("note_on", note=p, velocity=70, time=30),
                   M("note_on", note=p, velocity=0, time=120), M("note_off", note=p, time=i % 2)]
    path = _save(_file(events), tmp_path / "plain.mid")
    ref = symusic.Score(path).tracks[0].notes.numpy()
    got = read_midi(path).tracks[0].notes
    assert sorted(got.tolist()) == sorted(
        [int(t), int(d), int(p), int(v)] for t, d, p, v in zip(ref["time"], ref["duration"], ref["pitch"], ref["velocity"]))


def test_type2_is_refused_in_one_line(tmp_path):
    pattern = [M("note_on", note=60, velocity=90), M("note_off", note=60, time=480)]
    path = _save(_file(pattern, pattern, type=2), tmp_path / "patterns.mid")
    with pytest.raises(ScoreError) as e:
        read_midi(path)
    assert str(e.value) == f"{path}: type-2 MIDI (sequential patterns) is not supported"


def test_unknown_file_format_is_refused(tmp_path):
    path = _save(_file([M("note_on", note=60, velocity=90), M("note_off", note=60, time=480)]),
                 tmp_path / "format7.mid")
    data = bytearray(open(path, "rb").read())
    data[8:10] = struct.pack(">H", 7)
    open(path, "wb").write(bytes(data))
    with pytest.raises(ScoreError, match=r"invalid MIDI file format \(7; expected 0 or 1\)"):
        read_midi(path)


def test_tracks_sharing_a_program_stay_separate(tmp_path):
    def track(name, channel, pitches, step, program=0):
        ev = [Meta("track_name", name=name)]
        if channel != 9:
            ev.append(M("program_change", channel=channel, program=program))
        for p in pitches:
            ev += [M("note_on", channel=channel, note=p, velocity=80), M("note_off", channel=channel, note=p, time=step)]
        return ev + [Meta("end_of_track")]

    conductor = [Meta("track_name", name="Song"), Meta("set_tempo", tempo=500000), Meta("end_of_track")]
    mf = _file(conductor,
               track("MELODY", 0, [72, 74, 76, 77, 79], 240),
               track("BRIDGE", 1, [67, 65, 64], 480),
               track("PIANO", 2, [48, 52, 55, 60], 480),
               track("Kick", 9, [36] * 8, 240),
               track("Hats", 9, [42] * 16, 120))
    s = read_midi(_save(mf, tmp_path / "five.mid"))
    assert [(t.name, t.program, t.is_drum, len(t.notes)) for t in s.tracks] == [
        ("MELODY", 0, False, 5), ("BRIDGE", 0, False, 3), ("PIANO", 0, False, 4),
        ("Kick", 0, True, 8), ("Hats", 0, True, 16)]


def test_too_many_tracks_are_refused_at_once(tmp_path):
    # 65535 tiny tracks using all 16 channels: symusic alone takes ~15 s to make a million empty tracks
    body = b"".join(bytes([0, 0x90 | c, 60, 64]) for c in range(16)) + b"\x00\xff\x2f\x00"
    path = tmp_path / "tracks.mid"
    path.write_bytes(b"MThd" + struct.pack(">IHHH", 6, 1, 65535, 480)
                     + (b"MTrk" + struct.pack(">I", len(body)) + body) * 65535)
    with pytest.raises(ScoreError, match=r"too many tracks \(65535 > 1024\)"):
        read_midi(path)
