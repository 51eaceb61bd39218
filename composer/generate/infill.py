"""Writing hidden cells of a piece (bars, or some instruments of bars) with the decoding loop.

    tokens = fill_cells(model, plain_tokens, cells, opts, rng, style_id)
    score = assemble(kept, tokenizer.decode(tokens), cells, replace=True)

A piece longer than the model's context is filled window by window, in bar order: each
window holds the first unwritten cell's bar, the bars before it (already written or the
user's own) and the bars after it (the user's, or placeholders of later cells) as far as the
context allows, leaving room for the fills. The model writes the window's fills in order
(composer/fills.py) until the window's last fill or the end of its context; the fills it
finished go into the piece, and the next window starts at the first cell still unwritten.
"""

from __future__ import annotations

import numpy as np

from .. import fills, grammar
from ..bars import index_piece, window_at
from ..errors import ComposerError
from ..score import ONSET, Score, Track
from ..tidy import straighten_drum_notes
from ..vocab import BAR, EOS
from .decode import decode, new_rows
from .masks import Nudge, TokenBudget

MARGIN = 12  # context kept free past a fill's forced end (the rest of a note and FillEnd)


def fill_cells(model, tokens, cells: fills.Cells, opts, rng: np.random.Generator, style: int,
               programs: list[int] | None = None, guidance: float | None = None, nudged: list[int] = (),
               progress=None) -> np.ndarray:
    """The plain sequence `tokens` with every cell written by the model (see module doc).
    model: a ComposerModel; opts: SamplingOptions (temperature, top-k, top-p); style: the style
    token id every window carries; programs: the instruments a whole-bar fill may use (None:
    any); guidance: classifier-free guidance scale (None: off); nudged: instruments brought in
    when silent for a whole fill (masks.Nudge, over all the windows); progress: called with
    (cells written, cells) after each window."""
    v, decoder = model.tokenizer.vocab, model.decoder
    full = fills.parse(tokens, v)
    todo = sorted(cells)
    context = decoder.max_positions or 1 << 30
    nudge = Nudge(v, [{k} for k in nudged], set())
    while todo:
        start, end = fills.window_bars(full, todo, cells, context - MARGIN)
        hidden = [b for b in todo if start <= b < end]
        main, _ = fills.hide(_bars(full, start, end, style, v), {b - start: cells[b] for b in hidden}, v)
        prompt = main + [v.fill + 1]
        if len(prompt) + 16 > context - MARGIN:  # (only a bar denser than the whole context)
            raise ComposerError(f"bar {hidden[0] + 1} holds more notes than the model's context "
                                f"({context} tokens) can take around a fill")
        state = grammar.GrammarState(v)
        for t in prompt:
            if not state.feed(t):
                raise AssertionError(f"infill prompt rejected at {v.describe([t])}")
        state.constrain(grammar.Constraints(programs=programs))
        stop = min(context - MARGIN, len(prompt) + 200 * len(hidden) + 8)
        rows = new_rows([state], [nudge], [list(prompt)], decoder.draft_tokens)
        rows[0].stop_at = stop
        decode(decoder, v, rows, opts, rng, TokenBudget(v, stop), guidance, float("inf"))
        _, written, _ = fills.read_fills(rows[0].seq, v)
        if rows[0].seq[-1] != EOS and len(written) > 1:  # stopped by the context: the last
            written = written[:-1]  # fill may be cut short; it is written again next window
        for b, content in zip(hidden, written):
            shown, _ = full.bars[b].split(cells[b])
            full.bars[b] = shown.merged(fills.parse([BAR, *content], v).bars[0])
            todo.remove(b)
        if progress is not None:
            progress(len(cells) - len(todo), len(cells))
    return np.asarray(full.tokens(), dtype=np.int32)


def _bars(full: fills.Piece, start: int, end: int, style: int, v) -> list[int]:
    """Bars start..end-1 of the piece as a canonical window (the meter and tempo in force at
    `start` in its header)."""
    piece = index_piece(np.asarray(full.tokens()), style, v)
    length = 8 + sum(len(full.bars[b].tokens()) for b in range(start, end))  # header + these bars
    window = fills.parse(window_at(piece, start, v, length, style), v)
    window.bars = window.bars[:end - start]
    window.ended = False
    return window.tokens()


def bar_of(score: Score, onsets: np.ndarray) -> np.ndarray:
    """Index of the bar each onset tick falls in."""
    starts = score.bar_starts(max(int(onsets.max(initial=0)), score.end))
    return np.searchsorted(starts, onsets, side="right") - 1


def assemble(kept: Score, written: Score, cells: fills.Cells, replace: bool, straighten: bool = True) -> Score:
    """The output: `kept` (the user's piece as the model's grid holds it) with every cell's
    notes taken from `written` (both on the same grid and bar lines). replace=True: a cell's
    hidden notes in `kept` go (infill, --replace); False: the written instruments come as new
    tracks beside the user's (arrange). straighten: written drum hits less than a 32nd off a
    beat go onto it (as `generate` does, tidy.py), a push into the next bar onto its downbeat
    where that bar is written too; the user's stay as they are."""
    def in_cells(key: int, onsets: np.ndarray) -> np.ndarray:
        bars = bar_of(written, onsets) if len(onsets) else np.zeros(0, dtype=np.int64)
        return np.array([b in cells and (cells[b] is None or key in cells[b]) for b in bars.tolist()], dtype=bool)

    tracks = []
    for t in kept.tracks:
        notes = t.notes[~in_cells(t.key, t.notes[:, ONSET])] if replace and len(t.notes) else t.notes
        tracks.append(Track(program=t.program, is_drum=t.is_drum, name=t.name, notes=notes, channel=t.channel))
    by_key = {t.key: i for i, t in enumerate(tracks)} if replace else {}
    for t in written.tracks:
        new = t.notes[in_cells(t.key, t.notes[:, ONSET])] if len(t.notes) else t.notes
        if not len(new):
            continue
        if straighten and t.is_drum:
            new = straighten_drum_notes(new, written.tpq, lambda onsets, beats, key=t.key: (
                (bar_of(written, beats) != bar_of(written, onsets)) & ~in_cells(key, beats)))
        if t.key in by_key:
            old = tracks[by_key[t.key]]
            merged = np.concatenate([old.notes, new])
            old.notes = merged[np.lexsort((merged[:, 2], merged[:, ONSET]))]
        else:
            tracks.append(Track(program=t.program, is_drum=t.is_drum, notes=new))
    return Score(tpq=kept.tpq, tracks=[t for t in tracks if len(t.notes) or not replace],
                 tempos=kept.tempos.copy(), time_signatures=kept.time_signatures.copy(),
                 key_signatures=kept.key_signatures.copy(), end=max(kept.end, written.end))
