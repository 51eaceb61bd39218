"""A primer (the user's sketch) in and out of generation.

The model sees the primer as tokens, quantised to its grid and its tempo bins. The file it
writes keeps the primer as the user made it: every track (name, program, channel, notes at
their own ticks, tracks that share a program included), its tempo, meter and key maps for
the primer's bars, and the generated bars after them.

    prompt = primer_prompt(tokenizer, primer, style, tempo=..., time_signature=...)
    ... sample the continuation ...
    score = merge_primer(primer, tokenizer.decode(tokens), tokenizer, tempo=...)
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from ..midi_io import MAX_TPQ, PITCHED_CHANNELS, WRITE_TPQ
from ..score import DURATION, ONSET, Score, Track
from ..tokenizer import Tokenizer
from ..vocab import BAR, TEMPO, TIMESIG
from .options import meter_index



def primer_prompt(tokenizer: Tokenizer, primer: Score, style: str | None,
                  tempo: float | None = None, time_signature: tuple[int, int] | None = None) -> tuple[list[int], int]:
    """(prompt tokens, primer bars): the primer's tokens without EOS, then, where a --tempo or
    --time-signature asks the continuation for something other than what is in force at the
    primer's end, the first new bar's header (Bar, TimeSig, Position 0, Tempo)."""
    v = tokenizer.vocab
    tokens = tokenizer.encode(primer, style=style)[:-1].tolist()
    bars = tokens.count(BAR)
    ts_now, tempo_now = _in_force(tokens, v)
    head: list[int] = []
    if time_signature is not None and meter_index(v, time_signature) != ts_now:
        head.append(v.timesig + meter_index(v, time_signature))
    if tempo is not None:
        b = tempo_bin(v, tempo)
        if b != tempo_now:
            head += [v.position, v.tempo + b]
    return tokens + ([BAR] + head if head else []), bars


def primer_bars(tokenizer: Tokenizer, primer: Score) -> int:
    """How many bars the primer fills on the model's grid."""
    return int((tokenizer.encode(primer) == BAR).sum())


def primer_channels_full(primer: Score) -> bool:
    """Whether the primer's pitched tracks take every MIDI channel but the drums' (a written
    file then has no channel for a new program)."""
    return sum(not t.is_drum for t in primer.tracks) >= len(PITCHED_CHANNELS)


def tempo_bin(vocab, qpm: float) -> int:
    return int(np.argmin(abs(np.log(vocab.tempos) - np.log(qpm))))


def _in_force(tokens: list[int], v) -> tuple[int, int]:
    """(meter index, tempo bin) in force at the end of a token sequence."""
    arr = np.asarray(tokens)
    fam = v.family(arr)
    return int(arr[fam == TIMESIG][-1]) - v.timesig, int(arr[fam == TEMPO][-1]) - v.tempo


def output_tpq(primer_tpq: int) -> int:
    """Ticks per quarter for a file holding the primer and the model's grid exactly: a multiple
    of both the primer's resolution and 480 (so 12 steps a quarter land on ticks too), or the
    primer's own resolution where that would not fit a MIDI header."""
    tpq = primer_tpq * WRITE_TPQ // math.gcd(primer_tpq, WRITE_TPQ)
    return tpq if tpq <= MAX_TPQ else primer_tpq


def merge_primer(primer: Score, generated: Score, tokenizer: Tokenizer, tempo: float | None = None) -> Score:
    """The primer as the user made it, then the generated bars after it.

    `generated` is the decoded whole (primer bars as the model saw them, then the new bars).
    Primer tracks keep their notes, ticks, names, programs and channels; a generated
    instrument continues the one primer track that plays it, or, when several do (a melody
    and a piano part both on program 0) or none, gets its own track. Tempo, meter and key
    events of the primer's bars are the primer's; after them, the model's (and `tempo`, the
    --tempo asked for the continuation, exactly)."""
    tpq = output_tpq(primer.tpq)
    fp, fg = tpq / primer.tpq, tpq / generated.tpq
    boundary = tokenizer.quantise(primer).end  # the first new bar, on the model's grid
    cut = boundary * fg  # ... in output ticks

    def scaled(notes, f):
        out = notes.astype(np.float64)
        out[:, ONSET] *= f
        out[:, DURATION] *= f
        return np.round(out).astype(np.int64)

    tracks = [replace(t, notes=scaled(t.notes, fp)) for t in primer.tracks]
    by_key: dict[int, list[Track]] = {}
    for t in tracks:
        by_key.setdefault(t.key, []).append(t)
    for t in generated.tracks:
        new = scaled(t.notes[t.notes[:, ONSET] >= boundary], fg)
        if not len(new):
            continue
        owners = by_key.get(t.key, [])
        if len(owners) == 1:
            owners[0].notes = np.concatenate([owners[0].notes, new])
        else:
            tracks.append(Track(t.program, t.is_drum, "", new))

    tempos = _join(primer.tempos, fp, generated.tempos, fg, cut)
    if tempo is not None:  # the continuation at exactly the tempo asked for
        tempos = np.vstack([tempos[tempos[:, 0] < cut], [[cut, float(tempo)]]])
    sigs = _join(primer.time_signatures, fp, generated.time_signatures, fg, cut)
    sigs = _meter_at_cut(sigs, generated.time_signatures, fg, cut)
    return Score(tpq=tpq, tracks=tracks, tempos=tempos, time_signatures=np.round(sigs).astype(np.int64),
                 key_signatures=np.c_[np.round(primer.key_signatures[:, 0] * fp),
                                      primer.key_signatures[:, 1:]].astype(np.int64).reshape(-1, 3),
                 end=int(round(generated.end * fg)))


def _join(own: np.ndarray, f_own: float, new: np.ndarray, f_new: float, cut: float) -> np.ndarray:
    """Events (tick first) of the primer before `cut`, then the generated ones from it on."""
    own = np.c_[own[:, 0] * f_own, own[:, 1:]] if len(own) else own.astype(np.float64)
    new = np.c_[new[:, 0] * f_new, new[:, 1:]] if len(new) else new.astype(np.float64)
    return np.vstack([own[own[:, 0] < cut], new[new[:, 0] >= cut]]).astype(np.float64)


def _meter_at_cut(sigs: np.ndarray, generated: np.ndarray, f: float, cut: float) -> np.ndarray:
    """The model's meter at the first new bar where the primer's (one the tokens could only
    spell as another meter) would otherwise carry on into the generated bars."""
    before = generated[generated[:, 0] * f <= cut]
    if not len(before):
        return sigs
    want = tuple(before[-1, 1:])
    have = sigs[sigs[:, 0] <= cut]
    if len(have) and tuple(have[-1, 1:]) == want:
        return sigs
    return np.vstack([sigs[sigs[:, 0] < cut], [[cut, *want]], sigs[sigs[:, 0] > cut]])
