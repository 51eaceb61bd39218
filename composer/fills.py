"""Infilling in token space: hide bars (or some instruments of bars) of a piece, and put
written fills back (after MMM / MIDI-GPT's bar infilling).

A hidden cell is one bar and a set of instruments (track keys; None: the whole bar). In the
sequence the model reads, its bar becomes a placeholder, `Bar [TimeSig] Fill [Program...]`,
that keeps what is not hidden (the other instruments' notes, the bar's tempo changes), and
its hidden notes follow the piece as a fill:

    BOS Style TimeSig Tempo  Bar ...  Bar Fill Program_33 <the other notes>  Bar ...
    FillStart <bass notes of that bar> FillEnd  ...  EOS

so a causal model writes each fill knowing the bars before and after it. The grammar
(composer/grammar.py) holds the placeholders and fills to these rules; `hide` makes such a
sequence from a plain one (training windows, infill prompts) and `splice` turns one back
into a plain sequence (the notes of each fill merged into its bar).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .vocab import BAR, EOS, Vocab

Cells = dict  # bar index -> frozenset of hidden track keys, or None (the whole bar)


@dataclass
class BarTokens:
    """One bar of a plain sequence: `Bar [TimeSig]`, then per onset its Position token, the
    Tempo token it carries (or None) and its instrument groups (key, `Program notes...`)."""

    head: list[int]
    onsets: list[tuple[int, int | None, list[tuple[int, list[int]]]]] = field(default_factory=list)

    def tokens(self) -> list[int]:
        out = list(self.head)
        for pos, tempo, groups in self.onsets:
            if tempo is None and not groups:
                continue  # an onset left with nothing to carry
            out.append(pos)
            if tempo is not None:
                out.append(tempo)
            for _, group in groups:
                out.extend(group)
        return out

    def split(self, hidden: frozenset | None) -> tuple["BarTokens", "BarTokens"]:
        """(what stays in the bar, what is hidden): instruments in `hidden` (None: all) move
        to the second, without tempo changes (the placeholder keeps them)."""
        shown, fill = BarTokens(list(self.head)), BarTokens([])
        for pos, tempo, groups in self.onsets:
            keep = [(k, g) for k, g in groups if hidden is not None and k not in hidden]
            gone = [(k, g) for k, g in groups if hidden is None or k in hidden]
            shown.onsets.append((pos, tempo, keep))
            fill.onsets.append((pos, None, gone))
        return shown, fill

    def merged(self, fill: "BarTokens") -> "BarTokens":
        """This bar with a fill's notes put back: onsets merged, instruments in key order."""
        at = {pos: (tempo, list(groups)) for pos, tempo, groups in self.onsets}
        for pos, _, groups in fill.onsets:
            tempo, mine = at.get(pos, (None, []))
            at[pos] = (tempo, sorted(mine + list(groups), key=lambda kg: kg[0]))
        return BarTokens(list(self.head), [(p, *at[p]) for p in sorted(at)])


@dataclass
class Piece:
    """A plain sequence cut into its header, bars and end."""

    header: list[int]  # BOS Style TimeSig Tempo
    bars: list[BarTokens]
    ended: bool  # it ends with EOS

    def tokens(self) -> list[int]:
        out = list(self.header)
        for b in self.bars:
            out.extend(b.tokens())
        return out + ([EOS] if self.ended else [])


def parse(tokens, vocab: Vocab) -> Piece:
    """A well-formed plain sequence (no placeholders) cut into bars, onsets and groups."""
    toks = [int(t) for t in tokens]
    v = vocab
    first = toks.index(BAR) if BAR in toks else len(toks)
    header, bars, ended = toks[:first], [], False
    group: list[int] | None = None
    for t in toks[first:]:  # (tokens out of place are skipped: decode never raises)
        if t == EOS:
            ended = True
            break
        if t == BAR:
            bars.append(BarTokens([t]))
            group = None
        elif not bars or t >= v.fill:
            continue
        elif t < v.tempo:  # TimeSig (after Bar)
            if v.timesig <= t and not bars[-1].onsets:
                bars[-1].head.append(t)
        elif t < v.position:  # Tempo (after a Position)
            if bars[-1].onsets:
                pos, _, groups = bars[-1].onsets[-1]
                bars[-1].onsets[-1] = (pos, t, groups)
        elif t < v.program:
            bars[-1].onsets.append((t, None, []))
            group = None
        elif t < v.pitch:
            group = None
            if bars[-1].onsets:
                group = [t]
                bars[-1].onsets[-1][2].append((t - v.program, group))
        elif group is not None:
            group.append(t)
    return Piece(header, bars, ended)


def hide(tokens, cells: Cells, vocab: Vocab) -> tuple[list[int], list[list[int]]]:
    """(the sequence with each cell's bar a placeholder, ending after its last bar; the
    content of every fill, in bar order). A training window is
    `main + [FillStart, *fill, FillEnd for each fill] + [EOS]`; an infill prompt is
    `main + [FillStart]`."""
    v = vocab
    piece = parse(tokens, v)
    main, fills = list(piece.header), []
    for i, bar in enumerate(piece.bars):
        if i not in cells:
            main.extend(bar.tokens())
            continue
        hidden = cells[i]
        shown, fill = bar.split(hidden)
        listed = [] if hidden is None else [v.program + k for k in sorted(hidden)]
        main.extend(shown.head + [v.fill] + listed + shown.tokens()[len(shown.head):])
        fills.append(fill.tokens())
    return main, fills


def with_fills(main: list[int], fills: list[list[int]], vocab: Vocab) -> list[int]:
    """The whole sequence: the piece with placeholders, each fill in its FillStart/FillEnd, EOS."""
    out = list(main)
    for f in fills:
        out += [vocab.fill + 1, *f, vocab.fill + 2]
    return out + [EOS]


def read_fills(tokens, vocab: Vocab) -> tuple[list[int], list[list[int]], bool]:
    """(the piece part, the content of each fill, whether the last fill was closed): the
    inverse of `with_fills` (a fill cut off before its FillEnd comes back open)."""
    toks = [int(t) for t in tokens]
    start, end = vocab.fill + 1, vocab.fill + 2
    if start not in toks:
        return [t for t in toks if t != EOS], [], True
    first = toks.index(start)
    fills: list[list[int]] = []
    closed = True
    for t in toks[first:]:
        if t == start:
            fills.append([])
            closed = False
        elif t == end:
            closed = True
        elif t != EOS and not closed:
            fills[-1].append(t)
    return toks[:first], fills, closed


def splice(tokens, vocab: Vocab) -> np.ndarray:
    """A plain sequence from one with placeholders and fills: each fill's notes merged into its
    placeholder bar (a placeholder without its fill keeps only what it shows)."""
    v = vocab
    main, fills, _ = read_fills(tokens, v)
    plain, placeholders, i = [], [], 0
    while i < len(main):  # drop the Fill token and its listed Programs, remember the bar
        t = main[i]
        if t == v.fill:
            placeholders.append(sum(1 for x in plain if x == BAR) - 1)
            i += 1
            while i < len(main) and v.program <= main[i] < v.pitch:
                i += 1  # its listed Programs (a Position, Bar or FillStart follows them)
            continue
        plain.append(t)
        i += 1
    piece = parse(plain, v)
    piece.ended = EOS in [int(t) for t in tokens]
    for bar, content in zip(placeholders, fills):
        if 0 <= bar < len(piece.bars):
            piece.bars[bar] = piece.bars[bar].merged(parse([BAR, *content], v).bars[0])
    return np.array(piece.tokens(), dtype=np.int32)


def window_bars(full: Piece, todo: list[int], cells: Cells, context: int) -> tuple[int, int]:
    """Bars [start, end) of the window that writes the first of `todo` (the cells not yet
    written; training windows are chosen alike): the first unwritten cell's bar, then a bar
    after or before it, on the side with fewer tokens so far, while the bars (placeholders for
    cells) fit in the context with room for that cell's fill (its hidden notes' length, and at
    least a third of the context: room for a dense bar of a band that is not there yet)."""
    todo_set, costs = set(todo), {}

    def cost(b: int) -> int:  # tokens of bar b in the window's piece part
        if b not in costs:
            if b not in todo_set:
                costs[b] = len(full.bars[b].tokens())
            else:
                shown, _ = full.bars[b].split(cells[b])
                costs[b] = len(shown.tokens()) + 1 + (0 if cells[b] is None else len(cells[b]))
        return costs[b]

    first = todo[0]
    _, hidden = full.bars[first].split(cells[first])
    room = context - 8 - max(len(hidden.tokens()) + 2, context // 3) - cost(first)
    start, end, before, after = first, first + 1, 0, 0
    while True:  # grow the side with fewer tokens so far (the bars after first on a tie)
        sides = [(after, end, "after"), (before, start - 1, "before")]
        for _, b, side in sorted(sides, key=lambda x: x[0]):
            if 0 <= b < len(full.bars) and cost(b) <= room:
                room -= cost(b)
                if side == "after":
                    end, after = end + 1, after + cost(b)
                else:
                    start, before = start - 1, before + cost(b)
                break
        else:
            return start, end


def has_fills(tokens, vocab: Vocab) -> bool:
    return vocab.infill and bool(np.any(np.asarray(tokens) == vocab.fill))


__all__ = ["BarTokens", "Cells", "Piece", "has_fills", "hide", "parse", "read_fills", "splice", "window_bars",
           "with_fills"]
