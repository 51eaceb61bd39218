"""A take as the page draws it: tracks (name, instrument, MIDI channel, colour index) with their
notes in seconds, bar lines, tempo and meter. Times follow the file's tempo map, so the
playhead (the player's clock, in seconds) and the notes line up."""

from __future__ import annotations

import numpy as np

from ..gm import program_name
from ..midi_io import _assign_channels
from ..score import DEFAULT_QPM, DURATION, ONSET, PITCH, VELOCITY, Score


def seconds_at(score: Score, ticks: np.ndarray) -> np.ndarray:
    """Seconds at each of `ticks`, following the tempo map (vectorised ticks_to_seconds)."""
    tempos = score.tempos if len(score.tempos) else np.array([[0.0, DEFAULT_QPM]])
    tempos = tempos[np.argsort(tempos[:, 0], kind="stable")]
    if tempos[0, 0] > 0:
        tempos = np.vstack([[0.0, DEFAULT_QPM], tempos])
    starts, qpm = tempos[:, 0], tempos[:, 1]
    sec_per_tick = 60.0 / (qpm * score.tpq)
    start_secs = np.concatenate([[0.0], np.cumsum(np.diff(starts) * sec_per_tick[:-1])])
    ticks = np.asarray(ticks, dtype=np.float64)
    i = np.clip(np.searchsorted(starts, ticks, side="right") - 1, 0, len(starts) - 1)
    return start_secs[i] + (ticks - starts[i]) * sec_per_tick[i]


def roll_data(score: Score) -> dict:
    end = max(score.end, score.notes_end())
    bars = score.bar_starts(end)
    bars = bars[bars < end] if end > 0 else bars[:1]
    channels = _assign_channels(score.tracks)  # as write_midi assigns them: what the player hears
    tracks = []
    for i, (t, ch) in enumerate(zip(score.tracks, channels)):
        n = t.notes
        on = seconds_at(score, n[:, ONSET])
        off = seconds_at(score, n[:, ONSET] + n[:, DURATION])
        notes = np.stack([np.round(on, 4), np.round(off - on, 4), n[:, PITCH], n[:, VELOCITY]], axis=1)
        tracks.append({"index": i, "name": t.name or program_name(t.key), "program": int(t.program),
                       "drums": bool(t.is_drum), "channel": int(ch),
                       "instrument": program_name(t.key), "notes": notes.tolist()})
    sigs = score.time_signatures
    meter = f"{sigs[0][1]}/{sigs[0][2]}" if len(sigs) else "4/4"
    qpm = float(score.tempos[0][1]) if len(score.tempos) else DEFAULT_QPM
    return {"tpq": int(score.tpq), "seconds": round(float(seconds_at(score, [end])[0]), 4),
            "bars": [round(float(s), 4) for s in seconds_at(score, bars)],
            "tempo": round(qpm, 2), "meter": meter, "notes": score.note_count, "tracks": tracks}
