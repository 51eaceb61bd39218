"""The decoding loop: grammar-constrained sampling with a KV cache, one loop for one piece
and for batches (and the loop infilling builds on).

Each step: logits for the last token (classifier-free guidance mixes a row conditioned on the
style with one conditioned on `Style_?`: uncond + g * (cond - uncond)), the logit nudges
(masks.Nudge), temperature, top-k, top-p among the tokens the masks allow (the grammar's, and
masks.TokenBudget), then one draw from a seeded numpy Generator. The prompt is prefilled in
one pass; when a sequence outgrows the model's context it continues from a canonical window:
header with the meter and tempo in force, then the most recent whole bars (composer/bars.py),
made by sliding the cache where the decoder can (nothing recomputed; the same predictions as a
fresh prefill of the window, bench/context_bench.py).

One piece at a time is sampled speculatively where the decoder checks drafts cheaply (torch;
the numpy decoder's `draft_tokens` is 0): tokens that followed the same few tokens earlier in
the piece are checked several per model step, and kept with exactly their probability
(Row.advance). Several pieces share one batch.

The model is a decoder: numpy token ids in, numpy logits out (`step`, `room`, `cache_crop`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import grammar
from ..bars import index_piece, window_at
from ..model_config import Decoder
from ..vocab import EOS, PAD
from .masks import Nudge
from .options import SamplingOptions


@dataclass
class Row:
    """One sequence being sampled: its grammar state, instrument nudge, tokens and drafts."""

    state: grammar.GrammarState
    nudge: Nudge
    seq: list[int]
    lookup: "PromptLookup"
    done: bool = False
    draft: list[int] = field(default_factory=list)  # drafted tokens fed after seq[-1]
    base: int | None = None  # cache length before the last feed, where drafts were fed
    stop_at: int | None = None  # infilling: the row ends at the first FillEnd from this length on

    def accept(self, t: int) -> None:
        self.state.feed(t)
        self.nudge.feed(t)
        self.seq.append(t)
        self.done = t == EOS or (self.stop_at is not None and len(self.seq) > self.stop_at
                                 and t == self.state.v.fill + 2)

    def advance(self, logits: np.ndarray, opts, rng, limit) -> int:
        """Sample from this step's logits (T rows: the last token's, then one per draft): each
        draft d is kept with probability p(d) (p: the masked, tempered, top-k/top-p
        distribution), and at the first miss a token is drawn from p without d. That is
        exactly sampling from p token by token (speculative sampling with a point-mass draft),
        in fewer model steps. Returns how many drafts were kept."""
        kept = 0
        for i in range(len(self.draft) + 1):
            mask = limit.mask(self.state, len(self.seq))
            cand, p = _distribution(self.nudge.apply(logits[i]), mask, opts)
            drafted = i < len(self.draft)
            t = _check_draft(cand, p, self.draft[i], rng) if drafted else _draw(cand, p, rng)
            self.accept(t)
            if not drafted or t != self.draft[i] or self.done:
                return kept
            kept += 1
        return kept


def new_rows(states, nudges, seqs, drafts: int) -> list[Row]:
    """Rows for `decode`: grammar states, nudges and prompts; `drafts` tokens checked a step."""
    return [Row(s, nudge, seq, PromptLookup(k=drafts)) for s, nudge, seq in zip(states, nudges, seqs)]


def decode(model: Decoder, vocab, rows: list[Row], opts, rng, limit, gd: float | None, steered: float) -> None:
    """The decoding loop: sample every row to EOS (in place).

    Rows that share a prompt start as one Group (one batched KV cache; guided rows carry an
    unconditioned twin). Each step every unfinished row draws, in row order (the RNG stream
    of a batch), from its group's last logits. Then each group moves on:
    - a one-row group whose decoder checks drafts cheaply feeds its token plus up to
      `lookup.k` drafted ones (PromptLookup), and crops the drafts it did not keep;
    - guidance (gd) steers while a row has at most `steered` bars; a one-row group then drops
      its unconditioned twin (one fresh prefill), rows of a batch take their conditioned
      logits as they are;
    - a group whose cache is full continues each row from its own canonical window (the
      header, then the most recent whole bars): a one-row group slides its cache to it
      (Group.slide), others prefill it afresh (Group.prefill)."""
    groups = [Group(list(range(len(rows))), gd is not None)]
    groups[0].prefill(model, [r.seq for r in rows], vocab)
    while True:
        logits = {}
        for g in groups:
            scale = gd if len(g.rows) == 1 else [gd if rows[r].state.bars <= steered else 1.0 for r in g.rows]
            for r, row_logits in zip(g.rows, g.mixed(scale)):
                logits[r] = row_logits
        kept = {}
        for i, row in enumerate(rows):
            if row.done:  # a finished row of a batch still takes its draw from the stream, so
                rng.random()  # the other rows' samples do not depend on when it finished
            else:
                kept[i] = row.advance(logits[i], opts, rng, limit)
        if all(row.done for row in rows):
            return
        groups = [n for g in groups for n in _next_groups(g, rows, kept, model, vocab, steered)]


def _next_groups(g: "Group", rows: list[Row], kept: dict, model, vocab, steered: float) -> list["Group"]:
    """What group `g` becomes after a step: fed the sampled tokens, or re-prefilled (guidance
    over, context full), or gone (every row finished)."""
    active = [r for r in g.rows if not rows[r].done]
    if not active:
        return []
    if len(g.rows) > 1:
        if model.room(g.cache) >= 1:
            g.feed(model, np.array([[PAD if rows[r].done else rows[r].seq[-1]] for r in g.rows]))
            return [g]
        out = []  # context full: every row continues from its own canonical window
        for r in active:
            out.append(Group([r], g.guided and rows[r].state.bars <= steered))
            out[-1].prefill(model, [row.seq for row in rows], vocab)
        return out
    (r,) = g.rows
    row = rows[r]
    if row.base is not None:  # forget the drafts that were not kept
        model.cache_crop(g.cache, row.base + 1 + kept[r])
    room = model.room(g.cache)
    if g.guided and row.state.bars > steered:  # guidance has set the piece up: one row from here
        g, room = Group([r]), 0
    if room < 1:  # context full (or a new cache): continue from a canonical window
        if not g.slide(model, row.seq, vocab):
            g.prefill(model, [x.seq for x in rows], vocab)
        row.draft, row.base = [], None
        return [g]
    row.draft = row.lookup.propose(row.seq)[:room - 1] if row.lookup.k else []
    row.base = g.cache.length
    g.feed(model, np.array([[row.seq[-1], *row.draft]]))
    return [g]


class Group:
    """Rows that share one KV cache (they advance in lockstep); guided rows carry an
    unconditioned twin in the second half of the batch."""

    def __init__(self, rows: list[int], guided: bool = False):
        self.rows, self.guided, self.cache, self.logits = rows, guided, None, None
        self.head = None  # the first four tokens the cache holds (None: the rows' own)

    def prefill(self, model, seqs, vocab):
        """The rows' sequence into a fresh cache: whole, or, once it no longer fits the context
        (a long primer, or a piece that filled it), as its canonical window: the header and
        the most recent whole bars. Several rows are only ever prefilled with one prompt."""
        seq = np.array(seqs[self.rows[0]], dtype=np.int64)
        self.head = None
        if model.max_positions is not None and len(seq) >= model.max_positions:
            seq = _window(seq, vocab, model.max_positions * 3 // 4)
            self.head = tuple(seq[:4])
        batch = np.repeat(seq[None], len(self.rows), axis=0)
        if self.guided:
            uncond = batch.copy()
            uncond[:, 1] = vocab.style_id(None)
            batch = np.concatenate([batch, uncond])
        self.logits, self.cache = model.step(batch, last=True)

    def slide(self, model, seq: list[int], vocab) -> bool:
        """A one-row group whose cache is full continues from the canonical window by sliding
        the cache (model.cache_slide: nothing recomputed) and feeding the new token, where the
        window is the cache's header and tail (slide_window).
        bench/context_bench.py: the same next-token NLL as a fresh prefill, 1.28x faster."""
        if self.cache is None or getattr(model, "cache_slide", None) is None:
            return False  # (a decoder that cannot slide prefills)
        head = self.head or tuple(seq[:4])
        start = slide_window(seq, vocab, model.max_positions, head, self.cache.length)
        if start is None:
            return False
        self.cache = model.cache_slide(self.cache, 4, start)
        self.head = head
        self.feed(model, np.array([seq[-1:]]))
        return True

    def feed(self, model, tokens: np.ndarray):
        """tokens: (rows, T), the same for a guided row's twin."""
        if self.guided:
            tokens = np.concatenate([tokens, tokens])
        self.logits, self.cache = model.step(tokens, self.cache)

    def mixed(self, guidance) -> np.ndarray:
        """(rows, T, V) logits of the last step, guidance applied: one scale for every row, or
        one per row (rows at 1.0 take their conditioned logits as they are)."""
        if not self.guided:
            return self.logits
        cond, uncond = np.split(self.logits, 2)
        if np.ndim(guidance) == 0:
            return uncond + guidance * (cond - uncond)
        g = np.asarray(guidance, dtype=np.float32)[:, None, None]
        return np.where(g == 1.0, cond, uncond + g * (cond - uncond))


class PromptLookup:
    """Drafts for speculative sampling: the tokens that followed the previous occurrence of
    the sequence's last `n` tokens. Music repeats itself (drum patterns, comping, riffs), so
    drafts are often right, and checking several costs about one model step."""

    def __init__(self, n: int = 3, k: int = 8):
        self.n, self.k, self.after, self.indexed = n, k, {}, 0

    def propose(self, seq: list[int]) -> list[int]:
        n = self.n
        for end in range(max(self.indexed, n), len(seq)):  # n-grams whose next token is known
            self.after[tuple(seq[end - n:end])] = end
        self.indexed = max(self.indexed, len(seq))
        start = self.after.get(tuple(seq[-n:]))
        return [] if start is None else seq[start:start + self.k]


def slide_window(seq, vocab, context: int, head: tuple, cached: int) -> int | None:
    """Where a full cache can slide to the canonical window instead of prefilling it: the
    cache position from which it holds the window's bars, when the window is the cache's own
    header (`head`, its first four tokens) and then the tokens it holds at its tail (the cache
    holds seq[:-1]'s most recent tokens; seq[-1] is not fed yet); None where the window
    differs (a meter or tempo in force that is not the header's)."""
    seq = np.asarray(seq, dtype=np.int64)
    window = _window(seq, vocab, context * 3 // 4)
    body = len(window) - 4
    if tuple(window[:4]) != tuple(head) or not 4 < cached - body + 1 < cached:
        return None
    if not np.array_equal(window[4:], seq[len(seq) - body:]):
        return None
    return cached - body + 1


def _window(seq: np.ndarray, vocab, keep: int) -> np.ndarray:
    """Header + the most recent whole bars that fit in `keep` tokens (or header + tail)."""
    piece = index_piece(seq, int(seq[1]), vocab)
    for b in range(len(piece.bars)):
        if len(seq) - piece.bars[b] + 4 <= keep:
            return window_at(piece, b, vocab, len(seq))
    return np.r_[seq[:4], seq[len(seq) - (keep - 4):]]  # one bar longer than the window


def _distribution(row: np.ndarray, mask: np.ndarray, opts: SamplingOptions) -> tuple[np.ndarray, np.ndarray]:
    """(candidate ids, probabilities): temperature, then top-k and top-p among the allowed
    tokens only. Plain numpy on the few allowed candidates: at batch 1 the dozen small torch
    ops this replaces cost more than the choice itself."""
    cand = np.flatnonzero(mask)
    z = row[cand].astype(np.float64) / opts.temperature
    if opts.top_k and opts.top_k < len(cand):
        keep = np.argpartition(-z, opts.top_k - 1)[:opts.top_k]
        cand, z = cand[keep], z[keep]
    p = np.exp(z - z.max())
    p /= p.sum()
    if opts.top_p < 1.0:
        order = np.argsort(-p, kind="stable")
        cum = np.cumsum(p[order])
        keep = order[cum - p[order] <= opts.top_p]  # the most likely token always stays
        cand, p = cand[keep], p[keep] / p[keep].sum()
    if not np.isfinite(p).all():  # the model put no usable mass on any allowed token
        p = np.full(len(cand), 1.0 / len(cand))
    return cand, p


def _check_draft(cand: np.ndarray, p: np.ndarray, draft: int, rng: np.random.Generator) -> int:
    """Speculative sampling with a point-mass draft: the draft with probability p(draft), else a
    draw from p without it. The result is distributed exactly as p."""
    hit = np.flatnonzero(cand == draft)
    if len(hit) and (len(cand) == 1 or rng.random() < p[hit[0]]):
        return draft
    if len(hit):
        cand, p = np.delete(cand, hit[0]), np.delete(p, hit[0])
    return _draw(cand, p, rng)


def _draw(cand: np.ndarray, p: np.ndarray, rng: np.random.Generator) -> int:
    i = int(np.searchsorted(np.cumsum(p), rng.random() * p.sum(), side="right"))
    return int(cand[min(i, len(cand) - 1)])
