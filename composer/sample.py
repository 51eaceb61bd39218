"""Generation: grammar-constrained, style-conditioned sampling with a KV cache.

    model = composer.load_model("runs/jazz")          # or load_model() for the bundled model
    score = model.generate(style="jazz", bars=16, instruments=["piano", "bass", "drums"])
    model.save(score, "jazz.mid")

Each step: logits for the last token (classifier-free guidance mixes a row conditioned on the
style with one conditioned on `Style_?`: uncond + g * (cond - uncond)), temperature, top-k,
top-p, then the grammar's mask (only tokens that keep the sequence well-formed, only the
requested instruments, or else the instruments the style's training corpus plays, exactly the
requested number of bars), then one draw from a seeded
numpy Generator. The prompt (header, or a primer's tokens) is prefilled in one pass; when a
sequence outgrows the model's context it continues from a canonical window: header with the
meter and tempo in force, then the most recent whole bars.

One piece at a time (num_samples=1, a transformer) is sampled speculatively where the decoder
checks drafts cheaply (torch; the numpy decoder's `draft_tokens` is 0): tokens that followed
the same few tokens earlier in the piece are checked several per model step, and kept with
exactly their probability (see _speculative). Several pieces share one batch.

The model is a decoder: numpy token ids in, numpy logits out (`step`, `room`, `cache_crop`).
On a CPU a transformer runs in numpy (composer/numpy_model.py, no torch import at all);
elsewhere, and for the LSTM, the torch model behind model.TorchDecoder.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from . import grammar
from .checkpoint import MODEL_FILE, check_vocab, open_run
from .dataset import index_piece, window_at
from .errors import ComposerError
from .gm import instrument_keys, short_name
from .key import with_key_signature
from .primer import merge_primer, primer_channels_full, primer_prompt, tempo_bin
from .score import Score
from .tidy import clip_to_end, straighten_drum_beats
from .tokenizer import Tokenizer
from .vocab import BAR, BOS, EOS, PAD

MAX_DRAFT = 8  # drafted tokens checked per model step (speculative sampling of one piece), unless
# the decoder says otherwise (its `draft_tokens`: what a wider step costs it)


@dataclass
class SamplingOptions:
    style: str | None = None
    bars: int = 16
    tempo: float | None = None  # bpm; None lets the model choose
    time_signature: tuple[int, int] | None = None  # None lets the model choose
    instruments: list | None = None  # names or GM numbers; None = the style's (config "style_instruments")
    primer: Score | None = None
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    guidance: float | None = None  # None: the model's recommendation for the style (1.0 if none)
    guidance_bars: int | None = None  # guidance steers this many bars, then the piece goes on
    # unguided (0: all of it); None: the model's recommendation for the style
    seed: int = 0
    num_samples: int = 1
    keep_drum_timing: bool = False  # False: drum hits under a 32nd off a beat go onto it
    tempo_changes: bool = False  # False: the tempo asked for (or the model's first) holds throughout
    max_tokens: int = field(default=0)  # safety cap; 0 = 200 tokens a bar


def check_options(opts: SamplingOptions) -> None:
    """ComposerError (one line, naming the option) for values no sampler can use: the Python
    API gets the same refusals as the command line."""
    import math

    if opts.bars < 1:
        raise ComposerError("--bars must be at least 1")
    for name, value, ok in (("temperature", opts.temperature, lambda x: x > 0),
                            ("top-p", opts.top_p, lambda x: 0 < x <= 1),
                            ("guidance", opts.guidance, lambda x: x >= 0),
                            ("tempo", opts.tempo, lambda x: 20 <= x <= 400)):
        if value is not None and not (math.isfinite(value) and ok(value)):
            raise ComposerError(f"--{name} {value}: out of range")
    if opts.top_k < 0 or opts.num_samples < 1:
        raise ComposerError("--top-k must be >= 0 and --num-samples >= 1")


class ComposerModel:
    """A trained model with its tokenizer: the Python face of `compose generate`."""

    def __init__(self, model, tokenizer: Tokenizer, config: dict | None = None):
        """model: a decoder (NumpyTransformer, model.TorchDecoder) or a torch MusicModel."""
        self.decoder, self.tokenizer, self.config = as_decoder(model), tokenizer, config or {}

    @property
    def styles(self) -> list[str]:
        return list(self.tokenizer.config.styles)

    def guidance_for(self, style: str | None) -> float:
        """The classifier-free guidance this model recommends for `style`: config.json's
        "guidance" map, written by recipe/ship_model.py from the evaluation (1.0: none)."""
        return float(self.config.get("guidance", {}).get(style, 1.0)) if style is not None else 1.0

    def guidance_bars_for(self, style: str | None) -> int:
        """How many opening bars this model's guidance steers for `style` (config.json's
        "guidance_bars"; 0: the whole piece). After them the style carries on from the bars
        it has set up, at the cost of one row instead of two."""
        return int(self.config.get("guidance_bars", {}).get(style, 0)) if style is not None else 0

    def generate(self, **options) -> Score:
        """One piece (see SamplingOptions for the options)."""
        return self.generate_batch(**{**options, "num_samples": 1})[0]

    def generate_batch(self, **options) -> list[Score]:
        """`num_samples` pieces, sampled as one batch."""
        opts = SamplingOptions(**options)
        return [self._to_score(t, opts) for t in self.generate_tokens(opts)]

    def save(self, score: Score, path, title: str = "composer", overwrite: bool = True) -> None:
        """Write `score` as a MIDI file (atomically; overwrite=False: never over an existing file)."""
        from .midi_io import write_midi
        write_midi(score, path, title=title, overwrite=overwrite)

    # ---- the sampling loop ----------------------------------------------------------------
    def prompt(self, opts: SamplingOptions) -> tuple[list[int], int]:
        """Prompt tokens and how many bars they already hold."""
        v = self.tokenizer.vocab
        if opts.style is not None and opts.style not in self.styles:
            raise ComposerError(f"unknown style {opts.style!r}; this model knows: {', '.join(self.styles) or 'none'}")
        if opts.primer is not None:
            return primer_prompt(self.tokenizer, opts.primer, opts.style, opts.tempo, opts.time_signature)
        tokens = [BOS, v.style_id(opts.style)]
        if opts.time_signature is not None:
            ts = tuple(opts.time_signature)
            if ts not in v.ts_index:
                raise ComposerError(f"time signature {ts[0]}/{ts[1]} is not supported "
                                    f"(up to 8 quarter notes a bar, denominators 2, 4, 8, 16)")
            tokens.append(v.timesig + v.ts_index[ts])
            if opts.tempo is not None:
                tokens.append(v.tempo + tempo_bin(v, opts.tempo))
        return tokens, 0

    def constraints(self, opts: SamplingOptions, primer_bars: int) -> grammar.Constraints:
        programs = None
        if opts.instruments:
            programs = {k for g in self.requested(opts) for k in g}
        elif self.style_plays(opts.style) is not None:
            programs = self.style_plays(opts.style)
        if opts.primer is not None:
            own = {t.key for t in opts.primer.tracks}
            if primer_channels_full(opts.primer):  # a new program would find no MIDI channel
                lost = [i for i, g in zip(opts.instruments or [], self.requested(opts)) if not g & own]
                if lost:
                    raise ComposerError(f"--instruments {','.join(lost)}: the primer's tracks take all 15 "
                                        "MIDI channels for pitched instruments; name instruments it plays")
                programs = own
            elif programs is not None:
                programs |= own
        total = primer_bars + opts.bars
        return grammar.Constraints(programs=None if programs is None else sorted(programs),
                                   max_bars=total, min_bars=total,
                                   meter_changes=opts.time_signature is None,
                                   tempo_changes=opts.tempo_changes)

    def style_plays(self, style: str | None) -> set[int] | None:
        """The track keys a style's training corpus plays (config "style_instruments"), or None
        where the model does not say (no style, or a model trained before it was recorded)."""
        keys = self.config.get("style_instruments", {}).get(style)
        return None if keys is None else set(keys)

    def requested(self, opts: SamplingOptions) -> list[set[int]]:
        """Per --instruments entry, the track keys that would satisfy it ("bass": 32-39), within
        what the style plays ("guitar" in latin: the nylon guitar). An instrument the style's
        corpus never plays is refused: the model never learnt it in that style."""
        plays = self.style_plays(opts.style)
        out = []
        for name in opts.instruments or []:
            keys = set(instrument_keys(name))
            if plays is not None:
                keys &= plays
                if not keys:
                    raise ComposerError(
                        f"--instruments {name}: the {opts.style} style's training corpus never plays it; "
                        f"{opts.style} plays {', '.join(short_name(k).lower() for k in sorted(plays))} "
                        "(or leave out --style)")
            out.append(keys)
        return out

    def generate_tokens(self, opts: SamplingOptions) -> list[np.ndarray]:
        check_options(opts)
        v, model = self.tokenizer.vocab, self.decoder
        prompt, primer_bars = self.prompt(opts)
        constraints = self.constraints(opts, primer_bars)
        n = opts.num_samples
        # the prompt (a primer with its own tempo and meter changes) under the grammar alone
        states = [grammar.GrammarState(v, replace(constraints, programs=None, tempo_changes=True,
                                                  meter_changes=True)) for _ in range(n)]
        for s in states:
            for t in prompt:
                if not s.feed(t):
                    raise ComposerError("the primer does not fit the model's grammar")
            s.constrain(constraints)
        present = {t.key for t in opts.primer.tracks} if opts.primer is not None else set()
        nudges = [Nudge(v, self.requested(opts), present) for _ in range(n)]
        seqs = [list(prompt) for _ in range(n)]
        guidance = self.guidance_for(opts.style) if opts.guidance is None else opts.guidance
        guided = guidance != 1.0 and opts.style is not None
        gd = guidance if guided else None
        bars = self.guidance_bars_for(opts.style) if opts.guidance_bars is None else opts.guidance_bars
        # guidance steers while a row's bar count is at most this (its sampled Bar token included)
        steered = primer_bars + bars if guided and bars > 0 else float("inf")
        rng = np.random.default_rng(opts.seed)
        limit = _Limit(v, opts.max_tokens or len(prompt) + 200 * opts.bars)
        drafts = getattr(model, "draft_tokens", MAX_DRAFT) if n == 1 and model.config.arch == "transformer" else 0
        rows = [Row(s, nudge, seq, PromptLookup(k=drafts)) for s, nudge, seq in zip(states, nudges, seqs)]
        decode(model, v, rows, opts, rng, limit, gd, steered)
        return [np.array(r.seq, dtype=np.int32) for r in rows]

    def _to_score(self, tokens: np.ndarray, opts: SamplingOptions) -> Score:
        score = clip_to_end(self.tokenizer.decode(tokens))  # the bars asked for, no ringing bar after
        if not opts.keep_drum_timing:  # so that notation software keeps the tempo and bar lines
            score = straighten_drum_beats(score)
        if opts.primer is not None:
            score = merge_primer(opts.primer, score, self.tokenizer, tempo=opts.tempo)
        elif opts.tempo is not None:  # the tokens hold a tempo bin; the file gets exactly what was asked for
            score.tempos = np.array([[0.0, float(opts.tempo)]])
        return with_key_signature(score)


@dataclass
class Row:
    """One sequence being sampled: its grammar state, instrument nudge, tokens and drafts."""

    state: grammar.GrammarState
    nudge: "Nudge"
    seq: list[int]
    lookup: "PromptLookup"
    done: bool = False
    draft: list[int] = field(default_factory=list)  # drafted tokens fed after seq[-1]
    base: int | None = None  # cache length before the last feed, where drafts were fed

    def accept(self, t: int) -> None:
        self.state.feed(t)
        self.nudge.feed(t)
        self.seq.append(t)
        self.done = t == EOS

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


def decode(model, vocab, rows: list[Row], opts, rng, limit, gd: float | None, steered: float) -> None:
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
      header, then the most recent whole bars; Group.prefill)."""
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
        g.prefill(model, [x.seq for x in rows], vocab)
        row.draft, row.base = [], None
        return [g]
    row.draft = row.lookup.propose(row.seq)[:room - 1]
    row.base = g.cache.length
    g.feed(model, np.array([[row.seq[-1], *row.draft]]))
    return [g]


class Group:
    """Rows that share one KV cache (they advance in lockstep); guided rows carry an
    unconditioned twin in the second half of the batch."""

    def __init__(self, rows: list[int], guided: bool = False):
        self.rows, self.guided, self.cache, self.logits = rows, guided, None, None

    def prefill(self, model, seqs, vocab):
        """The rows' sequence into a fresh cache: whole, or, once it no longer fits the context
        (a long primer, or a piece that filled it), as its canonical window: the header and
        the most recent whole bars. Several rows are only ever prefilled with one prompt."""
        seq = np.array(seqs[self.rows[0]], dtype=np.int64)
        if model.max_positions is not None and len(seq) >= model.max_positions:
            seq = _window(seq, vocab, model.max_positions * 3 // 4)
        batch = np.repeat(seq[None], len(self.rows), axis=0)
        if self.guided:
            uncond = batch.copy()
            uncond[:, 1] = vocab.style_id(None)
            batch = np.concatenate([batch, uncond])
        self.logits, self.cache = model.step(batch, last=True)

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


class Nudge:
    """Every instrument the user named keeps playing: while one of them has been silent for a
    whole bar (or has not come in yet), its Program tokens get a logit bonus of NUDGE for each
    such bar, so a style that never plays it (pop with drums) brings it in and keeps it, and
    a style that does is left alone."""

    NUDGE = 4.0  # nats a silent bar

    def __init__(self, vocab, wanted: list[set[int]], present: set[int]):
        self.v = vocab
        self.wanted = wanted
        self.silent = [0 if g & present else 1 for g in wanted]  # bars each has been silent

    def feed(self, token: int) -> None:
        if not self.wanted:
            return
        if token == BAR:
            self.silent = [n + 1 for n in self.silent]
        elif self.v.program <= token < self.v.pitch:
            k = token - self.v.program
            self.silent = [0 if k in g else n for g, n in zip(self.wanted, self.silent)]

    def apply(self, row: np.ndarray) -> np.ndarray:
        quiet = [(g, n - 1) for g, n in zip(self.wanted, self.silent) if n > 1]
        if not quiet:
            return row
        row = row.copy()
        for g, bars in quiet:
            row[[self.v.program + k for k in g]] += self.NUDGE * bars
        return row


class _Limit:
    """The sampling mask: the grammar's, and past `max_tokens` (a piece stuck in one bar) only
    what finishes the note and then bar lines."""

    def __init__(self, vocab, max_tokens: int):
        self.max_tokens = max_tokens
        self.closing = np.zeros(len(vocab), dtype=bool)
        self.closing[[BAR, EOS]] = True
        self.closing[vocab.velocity:vocab.style] = True

    def mask(self, state, length: int) -> np.ndarray:
        m = state.allowed()
        if length >= self.max_tokens and (m & self.closing).any():
            m &= self.closing
        return m


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


def load_model(path=None, device: str = "cpu", backend: str = "auto") -> ComposerModel:
    """A trained run directory, or the bundled model when `path` is None or 'default'.

    backend "auto": a transformer on the CPU decodes in numpy (composer/numpy_model.py: about
    twice as fast a token as torch, and no torch import); other devices and the LSTM use
    torch. "torch" forces torch (on any device)."""
    from .model_config import read_config

    if backend not in ("auto", "torch"):
        raise ValueError(f"unknown backend {backend!r}; expected 'auto' or 'torch'")
    run, tokenizer, config = open_run(path)
    if backend == "auto" and device == "cpu" and read_config(run / MODEL_FILE).arch == "transformer":
        from .numpy_model import NumpyTransformer
        model = NumpyTransformer.load(run / MODEL_FILE)
    else:
        from .model import load_model as load_torch_model
        model = load_torch_model(run / MODEL_FILE, device=device)
    check_vocab(run, model.config.vocab_size, tokenizer)
    return ComposerModel(model, tokenizer, config)


def as_decoder(model):
    """A torch MusicModel wrapped as a decoder (model.TorchDecoder); decoders pass through."""
    if hasattr(model, "parameters"):  # an nn.Module
        from .model import TorchDecoder
        return TorchDecoder(model)
    return model
