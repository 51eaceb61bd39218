"""Standard MIDI File reading (symusic) and writing (mido) for the internal `Score`.

Reading is tolerant of what real-world files do (any ticks-per-quarter, type 0 files with many
channels, running status, junk tempo events) and turns everything it cannot use into a
`ScoreError` naming the file. Writing produces a clean type-1 file that DAWs import the same way.

Why one module of ~500 lines: reading and writing are the two halves of one format and share
its limits and constants (channels, resolution); it is split into a reading and a writing
half by the `====` markers below.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np

from composer import gm
from composer.atomic import write_bytes_atomic
from composer.errors import ScoreError
from composer.score import (
    DEFAULT_QPM,
    DEFAULT_TIME_SIGNATURE,
    DURATION,
    ONSET,
    PITCH,
    VELOCITY,
    Score,
    Track,
)

# ---- limits on what read_midi accepts (module constants so tests can shrink them)
MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_NOTES = 500_000
MAX_TICKS = 100_000_000  # symusic keeps ticks in int32; anything near that is corrupt anyway
MAX_SECONDS = 2 * 3600.0
MAX_TPQ = 32767  # 15 bits: the header's division field
MAX_TRACKS = 1024  # track chunks; symusic takes ~15 s on 65535 tiny tracks of 16 channels
MIN_QPM, MAX_QPM = 10.0, 1000.0  # tempo events outside this range are dropped as corrupt
MAX_ADDED_NOTE_OFFS = 8 * 1024 * 1024  # bytes of note-offs added to close hanging notes

WRITE_TPQ = 480
DRUM_CHANNEL = 9  # MIDI channel 10
PITCHED_CHANNELS = tuple(c for c in range(16) if c != DRUM_CHANNEL)
NOTE_OFF_VELOCITY = 64


# ============================================================================ reading


def read_midi(path, channels: bool = False) -> Score:
    """Read a Standard MIDI File into a `Score` (ticks per quarter kept as in the file).

    One `Track` per (MIDI track, channel, program) as symusic splits them, so a type-0 file with
    several channels comes out as several instruments; tracks without notes are dropped; notes are
    sorted by onset then pitch. Tempo events with a tempo of 0 or outside MIN_QPM..MAX_QPM quarter
    notes per minute are dropped as corrupt (the previous tempo, or 120, stays in force) rather than
    rejecting a file whose notes are fine; time and key signatures with impossible values are
    dropped likewise. A note-on that is never switched off is kept and ends at the end of its
    track, where a player would stop it (symusic, pretty_midi and music21 all drop such notes).
    `end` is the end of the last note. channels=True also records each track's MIDI channel
    (`Track.channel`, for writing a user's file back on its own channels; a second parse, so
    not for corpora).

    Raises ScoreError(path, reason) for anything unusable: a missing, empty or non-MIDI file,
    truncated or corrupt data, SMPTE timing, a type-2 file (sequential patterns), more than
    MAX_TRACKS track chunks, no notes, more than MAX_NOTES notes, or music longer than MAX_TICKS
    ticks / MAX_SECONDS seconds.
    """
    data = _read_bytes(path)
    _check_header(path, data)
    data = _close_hanging_notes(data)
    try:
        import symusic

        sm = symusic.Score.from_midi(data)
    except Exception as e:  # noqa: BLE001  (symusic raises RuntimeError / ValueError on bad data)
        raise ScoreError(path, f"truncated or corrupt MIDI data ({_first_line(e)})") from None
    tpq = int(sm.ticks_per_quarter)
    if not 0 < tpq <= MAX_TPQ:
        raise ScoreError(path, f"invalid ticks per quarter note ({tpq})")

    total = sum(len(st.notes) for st in sm.tracks)
    if total > MAX_NOTES:
        raise ScoreError(path, f"too many notes ({total} > {MAX_NOTES})")
    tracks: list[Track] = []
    found = _track_channels(data) if channels else {}
    for st in sm.tracks:
        if len(st.notes) == 0:
            continue
        channel = found.get((st.name, bool(st.is_drum), int(st.program) & 127, len(st.notes)))
        cols = st.notes.numpy()
        notes = np.stack(
            [cols["time"], cols["duration"], cols["pitch"], cols["velocity"]], axis=1
        ).astype(np.int64)
        notes = notes[(notes[:, ONSET] >= 0) & (notes[:, PITCH] >= 0) & (notes[:, VELOCITY] > 0)]
        notes[:, DURATION] = np.maximum(notes[:, DURATION], 0)
        if not len(notes):
            continue
        notes = notes[np.lexsort((notes[:, DURATION], notes[:, PITCH], notes[:, ONSET]))]
        tracks.append(Track(program=int(st.program) & 127, is_drum=bool(st.is_drum),
                            name=_clean_name(st.name), notes=notes, channel=channel))
    if not tracks:
        raise ScoreError(path, "no notes")

    score = Score(tpq=tpq, tracks=tracks)
    score.tempos = _tempos(sm)
    score.time_signatures = _time_signatures(sm)
    score.key_signatures = _key_signatures(sm)
    score.end = score.notes_end()
    check_limits(score, path)
    return score


def _track_channels(data: bytes) -> dict[tuple, int]:
    """(track name, is drum, program, note-ons) -> MIDI channel, for the (track chunk, channel,
    program) groups symusic reads as tracks; a group that is not unique by that key is left
    out (its track gets no channel and the writer picks a free one)."""
    import mido

    try:
        mf = mido.MidiFile(file=io.BytesIO(data), clip=True)
    except Exception:  # noqa: BLE001  (symusic read it; a channel is only a preference)
        return {}
    counts: dict[tuple, int] = {}
    for track in mf.tracks:
        name, program = "", [0] * 16
        for msg in track:
            if msg.type == "track_name" and not name:
                name = msg.name
            elif msg.type == "program_change":
                program[msg.channel] = msg.program
            elif msg.type == "note_on" and msg.velocity > 0:
                key = (name, msg.channel == DRUM_CHANNEL, 0 if msg.channel == DRUM_CHANNEL else program[msg.channel],
                       msg.channel)
                counts[key] = counts.get(key, 0) + 1
    found: dict[tuple, int] = {}
    for (name, drum, program, channel), n in counts.items():
        key = (name, drum, program, n)
        found[key] = -1 if key in found else channel
    return {k: c for k, c in found.items() if c >= 0}


def check_limits(score: Score, path) -> None:
    """Raise ScoreError if a score read from `path` is too big or too long to use."""
    if score.note_count == 0:
        raise ScoreError(path, "no notes")
    if score.note_count > MAX_NOTES:
        raise ScoreError(path, f"too many notes ({score.note_count} > {MAX_NOTES})")
    end = max(score.end, score.notes_end())
    if end > MAX_TICKS:
        raise ScoreError(path, f"music too long ({end} ticks > {MAX_TICKS})")
    seconds = score.seconds()
    if seconds > MAX_SECONDS:
        raise ScoreError(path, f"music too long ({seconds / 3600:.1f} hours > {MAX_SECONDS / 3600:g} hours)")


def _read_bytes(path) -> bytes:
    p = Path(path)
    if not p.exists():
        raise ScoreError(path, "no such file")
    if p.is_dir():
        raise ScoreError(path, "is a directory, not a MIDI file")
    try:
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ScoreError(path, f"file too large ({size} bytes > {MAX_FILE_BYTES})")
        data = p.read_bytes()
    except OSError as e:
        raise ScoreError(path, f"cannot read file ({e.strerror or e})") from None
    if not data:
        raise ScoreError(path, "empty file")
    return data


def _check_header(path, data: bytes) -> None:
    if data[:4] != b"MThd":
        if data[:4] == b"RIFF" and data[8:12] == b"RMID":
            raise ScoreError(path, "RIFF MIDI (.rmi) files are not supported; extract the SMF data first")
        raise ScoreError(path, "not a MIDI file")
    if len(data) < 14:
        raise ScoreError(path, "truncated or corrupt MIDI data (header cut short)")
    _length, fmt, ntracks, division = struct.unpack(">IHHH", data[4:14])
    if fmt == 2:
        raise ScoreError(path, "type-2 MIDI (sequential patterns) is not supported")
    if fmt > 2:
        raise ScoreError(path, f"invalid MIDI file format ({fmt}; expected 0 or 1)")
    if division & 0x8000:
        raise ScoreError(path, "SMPTE time division is not supported")
    if division == 0:
        raise ScoreError(path, "invalid ticks per quarter note (0)")
    if ntracks == 0:
        raise ScoreError(path, "no tracks")
    if ntracks > MAX_TRACKS:
        raise ScoreError(path, f"too many tracks ({ntracks} > {MAX_TRACKS})")
    # walk the chunks: a file cut short at a chunk boundary would otherwise load with tracks missing
    pos, found = 8 + _length, 0
    while found < ntracks:
        if pos + 8 > len(data):
            raise ScoreError(path, f"truncated MIDI data (file ends before track {found + 1} of {ntracks})")
        kind, size = data[pos:pos + 4], struct.unpack(">I", data[pos + 4:pos + 8])[0]
        if pos + 8 + size > len(data):
            raise ScoreError(path, f"truncated MIDI data (file ends inside track {found + 1} of {ntracks})")
        found += kind == b"MTrk"
        pos += 8 + size


# one note-off (delta time 0) for every pitch on one channel, the first without its delta time
_ALL_NOTE_OFFS = [b"\x00".join(bytes((0x80 | ch, pitch, 64)) for pitch in range(128)) for ch in range(16)]


def _close_hanging_notes(data: bytes) -> bytes:
    """`data` with note-offs at the end of each track for every pitch of every channel it uses, so
    a note-on never switched off ends at the end of its track, where a player would stop it.

    symusic drops a note-on it never sees switched off, and ignores a note-off with nothing to
    switch off, so the added note-offs change nothing else (one hanging note per channel and
    pitch is closed, which is all real files hold). A track uses channel c only if the byte 0x9c
    (a note-on status) occurs in it: running status can only repeat a status byte written once.
    The header is checked already. This costs a few microseconds per track instead of walking
    every event; at most MAX_ADDED_NOTE_OFFS bytes are added (a crafted file with thousands of
    tiny tracks must not grow a hundredfold), far more than any real file needs.
    """
    pos = 8 + struct.unpack(">I", data[4:8])[0]
    out, budget = [data[:pos]], MAX_ADDED_NOTE_OFFS
    while pos + 8 <= len(data):
        kind, size = data[pos:pos + 4], struct.unpack(">I", data[pos + 4:pos + 8])[0]
        chunk = data[pos + 8:pos + 8 + size]
        pos += 8 + size
        offs = [_ALL_NOTE_OFFS[ch] for ch in range(16) if bytes((0x90 | ch,)) in chunk] if kind == b"MTrk" else []
        budget -= 512 * len(offs)
        if offs and budget >= 0:
            if chunk.endswith(b"\xff\x2f\x00"):  # the note-offs take the end_of_track's delta time
                chunk = chunk[:-3] + b"\x00".join(offs) + b"\x00\xff\x2f\x00"
            else:  # no end_of_track: at the last event's time
                chunk += b"\x00" + b"\x00".join(offs)
        out.append(kind + struct.pack(">I", len(chunk)) + chunk)
    out.append(data[pos:])
    return b"".join(out)


def _tempos(sm) -> np.ndarray:
    if not len(sm.tempos):
        return np.zeros((0, 2), dtype=np.float64)
    cols = sm.tempos.numpy()
    ticks = cols["time"].astype(np.int64)
    mspq = cols["mspq"].astype(np.float64)
    ok = mspq > 0
    qpm = np.where(ok, 60e6 / np.where(ok, mspq, 1.0), 0.0)
    ok &= (qpm >= MIN_QPM) & (qpm <= MAX_QPM) & (ticks >= 0)
    return _last_per_tick(np.stack([ticks[ok].astype(np.float64), qpm[ok]], axis=1))


def _time_signatures(sm) -> np.ndarray:
    if not len(sm.time_signatures):
        return np.zeros((0, 3), dtype=np.int64)
    cols = sm.time_signatures.numpy()
    arr = np.stack([cols["time"], cols["numerator"], cols["denominator"]], axis=1).astype(np.int64)
    den = arr[:, 2]
    ok = (arr[:, 0] >= 0) & (arr[:, 1] > 0) & (den > 0) & (den <= 128) & ((den & (den - 1)) == 0)
    return _last_per_tick(arr[ok])


def _key_signatures(sm) -> np.ndarray:
    if not len(sm.key_signatures):
        return np.zeros((0, 3), dtype=np.int64)
    cols = sm.key_signatures.numpy()
    arr = np.stack([cols["time"], cols["key"], cols["tonality"]], axis=1).astype(np.int64)
    ok = (arr[:, 0] >= 0) & (np.abs(arr[:, 1]) <= 7) & ((arr[:, 2] == 0) | (arr[:, 2] == 1))
    return _last_per_tick(arr[ok])


def _last_per_tick(arr: np.ndarray) -> np.ndarray:
    """Sort events by tick; of several at the same tick keep the last (what a player would apply)."""
    if not len(arr):
        return arr
    arr = arr[np.argsort(arr[:, 0], kind="stable")]
    keep = np.ones(len(arr), dtype=bool)
    keep[:-1] = arr[1:, 0] != arr[:-1, 0]
    return arr[keep]


def _clean_name(name) -> str:
    return "".join(ch for ch in str(name or "") if ch.isprintable()).strip()


def _first_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    line = text[0] if text else type(e).__name__
    line = line.replace(": iostream error", "").replace("MiniMidi: ", "")
    return line[:120]


# ============================================================================ writing


def write_midi(score: Score, path, *, title: str = "composer", overwrite: bool = True) -> None:
    """Write `score` to `path` as a Standard MIDI File type 1, atomically (temp file + os.replace).

    Layout: 480 ticks per quarter; track 0 is a conductor track named `title` with the time
    signatures (4/4 if none), key signatures and tempo map (120 qpm if none); then one track per
    instrument, named with its short GM name (made unique: "Piano", "Piano 2"), with an
    instrument_name meta and a program_change at time 0. Drums play on MIDI channel 10, other
    tracks on distinct channels skipping 10 (beyond 15 pitched tracks, tracks with the same
    program share a channel). Every note gets a note_on and a note_off; at equal ticks note_offs
    come first; zero-length notes last 1 tick; same-pitch notes on one channel are cut where the
    next one starts (exact duplicates dropped) so no player pairs note_ons and note_offs wrongly;
    velocities are clamped to 1..127; notes with a negative onset or a pitch outside 0..127 are
    dropped. Every track ends (end_of_track) at the same tick, at or after the score's end.
    """
    data = midi_bytes(score, title=title)
    write_bytes_atomic(path, data, overwrite=overwrite)  # overwrite=False: never replace a file


def midi_bytes(score: Score, *, title: str = "composer") -> bytes:
    """The bytes `write_midi` would write."""
    buf = io.BytesIO()
    build_midi_file(score, title=title).save(file=buf)
    return buf.getvalue()


def build_midi_file(score: Score, *, title: str = "composer"):
    """The `mido.MidiFile` that `write_midi` writes."""
    import mido

    out_tpq = writing_tpq(score)
    scale = out_tpq / float(score.tpq) if score.tpq > 0 else 1.0

    def rescale(ticks) -> np.ndarray:
        return np.floor(np.asarray(ticks, dtype=np.float64) * scale + 0.5).astype(np.int64)

    tracks = [t for t in score.tracks if len(t.notes)]
    channels = _assign_channels(tracks)
    names = gm.track_names((t.key for t in tracks), (t.name for t in tracks))

    # notes per track, rescaled and cleaned per channel: rows onset, end, pitch, velocity, track index
    rows = []
    for i, t in enumerate(tracks):
        n = np.asarray(t.notes, dtype=np.int64).reshape(-1, 4)
        on = rescale(n[:, ONSET])
        end = rescale(n[:, ONSET] + np.maximum(n[:, DURATION], 0))
        rows.append(np.stack([on, np.maximum(end, on + 1), n[:, PITCH], np.clip(n[:, VELOCITY], 1, 127),
                              np.full(len(n), i)], axis=1))
    notes = np.concatenate(rows) if rows else np.zeros((0, 5), dtype=np.int64)
    notes = notes[(notes[:, 0] >= 0) & (notes[:, 2] >= 0) & (notes[:, 2] <= 127)]
    notes = _fix_overlaps(notes, np.asarray(channels, dtype=np.int64))

    end_tick = max(int(rescale(max(score.end, 0))), int(notes[:, 1].max()) if len(notes) else 0)

    conductor: list[tuple[int, int, object]] = []  # (tick, order, message)
    sigs = np.asarray(score.time_signatures, dtype=np.int64).reshape(-1, 3)
    sigs = [(int(t), int(a), int(b)) for t, a, b in sigs if a > 0 and b > 0 and (b & (b - 1)) == 0 and b <= 128]
    if not sigs or sigs[0][0] > 0:
        sigs.insert(0, (0, *DEFAULT_TIME_SIGNATURE))
    for t, num, den in sigs:
        conductor.append((int(rescale(t)), 0, mido.MetaMessage(
            "time_signature", numerator=min(num, 255), denominator=den, clocks_per_click=24,
            notated_32nd_notes_per_beat=8)))
    for t, sharps, mode in np.asarray(score.key_signatures, dtype=np.int64).reshape(-1, 3):
        if -7 <= sharps <= 7 and mode in (0, 1):
            conductor.append((int(rescale(t)), 1, mido.MetaMessage("key_signature", key=_key_name(sharps, mode))))
    tempos = [(float(t), float(q)) for t, q in np.asarray(score.tempos, dtype=np.float64).reshape(-1, 2)
              if q > 0 and np.isfinite(q) and t >= 0]
    if not tempos or tempos[0][0] > 0:
        tempos.insert(0, (0.0, DEFAULT_QPM))
    for t, qpm in tempos:
        mspq = int(min(max(round(60e6 / qpm), 1), 0xFFFFFF))
        conductor.append((int(rescale(t)), 2, mido.MetaMessage("set_tempo", tempo=mspq)))
    conductor = _dedupe_meta(conductor)

    mf = mido.MidiFile(type=1, ticks_per_beat=out_tpq)
    mf.tracks.append(_track([mido.MetaMessage("track_name", name=_ascii(title) or "composer")],
                            conductor, end_tick))
    for i, t in enumerate(tracks):
        ch = channels[i]
        program = 0 if t.is_drum else int(t.program) & 127
        head = [
            mido.MetaMessage("track_name", name=names[i]),
            mido.MetaMessage("instrument_name", name=gm.program_name(t.key)),
            mido.Message("program_change", channel=ch, program=program),
        ]
        mf.tracks.append(_note_track(head, notes[notes[:, 4] == i], ch, end_tick))
    return mf


def _note_track(head: list, notes: np.ndarray, channel: int, end_tick: int):
    """A mido track of `head` then the note events of `notes` rows (onset, end, pitch, velocity, ...):
    sorted by tick, note_offs before note_ons at one tick, then end_of_track at `end_tick`."""
    import mido

    n = len(notes)
    ticks = np.concatenate([notes[:, 1], notes[:, 0]])
    is_on = np.concatenate([np.zeros(n, dtype=np.int64), np.ones(n, dtype=np.int64)])
    pitch = np.concatenate([notes[:, 2], notes[:, 2]])
    vel = np.concatenate([np.full(n, NOTE_OFF_VELOCITY), notes[:, 3]])
    order = np.lexsort((pitch, is_on, ticks))
    ticks, is_on, pitch, vel = ticks[order], is_on[order], pitch[order], vel[order]
    deltas = np.diff(ticks, prepend=0)
    status = np.where(is_on == 1, 0x90, 0x80) | channel
    tr = mido.MidiTrack(head)
    # from_bytes builds the message without mido's per-field checks: values are already in range here
    tr.extend(mido.Message.from_bytes((st, p, v), time=d)
              for st, p, v, d in zip(status.tolist(), pitch.tolist(), vel.tolist(), deltas.tolist()))
    last = int(ticks[-1]) if n else 0
    tr.append(mido.MetaMessage("end_of_track", time=max(end_tick - last, 0)))
    return tr


def _track(head: list, timed: list[tuple[int, int, object]], end_tick: int):
    """A mido track: `head` messages at tick 0, then `timed` (tick, order, msg) sorted, then end_of_track."""
    import mido

    tr = mido.MidiTrack()
    tr.extend(head)
    now = 0
    for tick, _, msg in sorted(timed, key=lambda e: (e[0], e[1])):
        tr.append(msg.copy(time=tick - now))
        now = tick
    tr.append(mido.MetaMessage("end_of_track", time=max(end_tick - now, 0)))
    return tr


def _dedupe_meta(events: list[tuple[int, int, object]]) -> list[tuple[int, int, object]]:
    """Of several conductor events of one kind at the same tick keep the last."""
    last: dict[tuple[int, int], object] = {}
    for tick, order, msg in events:
        last[(tick, order)] = msg
    return [(tick, order, msg) for (tick, order), msg in last.items()]


def writing_tpq(score: Score) -> int:
    """The resolution a score is written at: WRITE_TPQ, or the score's own where that is a
    multiple of WRITE_TPQ and needed to keep every tick exact (a primer's notes at their own
    ticks, see composer/generate/primer.py)."""
    tpq = int(score.tpq)
    if tpq == WRITE_TPQ or tpq % WRITE_TPQ or tpq > MAX_TPQ:
        return WRITE_TPQ
    step = tpq // WRITE_TPQ
    ticks = [t.notes[:, :2].ravel() for t in score.tracks] + [
        np.asarray(score.tempos)[:, 0], np.asarray(score.time_signatures)[:, 0],
        np.asarray(score.key_signatures)[:, 0], np.array([score.end])]
    exact = all(not (np.asarray(x, dtype=np.float64) % step).any() for x in ticks if len(x))
    return WRITE_TPQ if exact else tpq


def _assign_channels(tracks: list[Track]) -> list[int]:
    """Drums -> channel 9; a pitched track -> the channel it came with (`Track.channel`) if no
    other track holds it, else the lowest free channel skipping 9; beyond 15 pitched channels,
    the channel of a track with the same program (wrapping round if there are more than 15
    programs)."""
    out: list[int | None] = [DRUM_CHANNEL if t.is_drum else None for t in tracks]
    holder: dict[int, int] = {}  # channel -> program of the pitched track that holds it
    for i, t in enumerate(tracks):
        if out[i] is None and t.channel in PITCHED_CHANNELS and t.channel not in holder:
            out[i], holder[t.channel] = t.channel, int(t.program)
    for i, t in enumerate(tracks):
        if out[i] is not None:
            continue
        free = [c for c in PITCHED_CHANNELS if c not in holder]
        same = [c for c, p in holder.items() if p == int(t.program)]
        if free:
            out[i] = free[0]
            holder[free[0]] = int(t.program)
        else:
            out[i] = same[0] if same else PITCHED_CHANNELS[i % len(PITCHED_CHANNELS)]
    return out


def _fix_overlaps(notes: np.ndarray, channels: np.ndarray) -> np.ndarray:
    """notes rows (onset, end, pitch, velocity, track): per (channel, pitch), drop notes starting at the
    same tick as another (keep the longest) and end each note no later than the next one starts
    (drums: per track and pitch)."""
    if not len(notes):
        return notes
    ch = channels[notes[:, 4]]
    # drums are one-shots, and every parser pairs a track's own note-ons and note-offs: two drum
    # tracks (kick and hats of a user's file) keep their notes even where their pitches meet
    ch = np.where(ch == DRUM_CHANNEL, 16 + notes[:, 4], ch)
    order = np.lexsort((-notes[:, 1], notes[:, 0], notes[:, 2], ch))
    notes, ch = notes[order], ch[order]
    same_voice = (ch[1:] == ch[:-1]) & (notes[1:, 2] == notes[:-1, 2])
    keep = np.ones(len(notes), dtype=bool)
    keep[1:] = ~(same_voice & (notes[1:, 0] == notes[:-1, 0]))
    notes, ch = notes[keep], ch[keep]
    same_voice = (ch[1:] == ch[:-1]) & (notes[1:, 2] == notes[:-1, 2])
    notes[:-1, 1] = np.where(same_voice, np.minimum(notes[:-1, 1], notes[1:, 0]), notes[:-1, 1])
    return notes


_MAJOR_KEYS = ("Cb", "Gb", "Db", "Ab", "Eb", "Bb", "F", "C", "G", "D", "A", "E", "B", "F#", "C#")
_MINOR_KEYS = ("Abm", "Ebm", "Bbm", "Fm", "Cm", "Gm", "Dm", "Am", "Em", "Bm", "F#m", "C#m", "G#m", "D#m", "A#m")


def _key_name(sharps: int, mode: int) -> str:
    return (_MINOR_KEYS if mode == 1 else _MAJOR_KEYS)[int(sharps) + 7]


def _ascii(text: str) -> str:
    """mido writes meta text as latin-1: keep names plain printable ASCII."""
    return "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in str(text)).strip()[:127]

