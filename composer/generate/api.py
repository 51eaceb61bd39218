"""The Python face of `compose generate`: a trained model with its tokenizer.

    model = composer.load_model("runs/jazz")          # or load_model() for the bundled model
    score = model.generate(style="jazz", bars=16, instruments=["piano", "bass", "drums"])
    model.save(score, "jazz.mid")

ComposerModel turns a request (options.SamplingOptions) into a prompt and grammar
constraints, runs the decoding loop (decode.py), and makes the tokens a Score (primer kept
as the user made it, primer.py; tidied for notation programs, composer/tidy.py; a key
signature, composer/key.py). On a CPU a transformer decodes in numpy (composer/numpy_model.py,
no torch import at all); elsewhere, and for the LSTM, the torch model behind model.TorchDecoder.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .. import grammar
from ..checkpoint import MODEL_FILE, check_vocab, open_run
from ..errors import ComposerError
from ..gm import instrument_keys, short_name
from ..key import with_key_signature
from ..score import Score
from ..tidy import clip_to_end, straighten_drum_beats
from ..tokenizer import Tokenizer
from ..vocab import BAR, BOS
from .cells import ENSEMBLES, LEADS, check_infillable, parse_bars, track_keys
from .decode import decode, new_rows
from .infill import assemble, fill_cells
from .masks import Nudge, TokenBudget
from .options import ARRANGE_TEMPERATURE, SamplingOptions, check_options, meter_index
from .primer import merge_primer, primer_channels_full, primer_prompt, tempo_bin


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

    # ---- the user's own music: infill, arrange (infill.py, cells.py) ------------------------
    def infill(self, score: Score, bars, tracks=None, **options) -> Score:
        """`score` with `bars` rewritten (for `tracks` only, if given); see infill_batch."""
        return self.infill_batch(score, bars, tracks, **{**options, "num_samples": 1})[0]

    def infill_batch(self, score: Score, bars, tracks=None, where: str = "the piece", **options) -> list[Score]:
        """`num_samples` versions of `score` with `bars` ("9-12", 1-based; 0-based indices; or
        None, every bar) rewritten: every track, or only `tracks` (names, #N, instruments: cells.track_keys).
        The model sees the bars before and after them. Every note outside them is exactly as
        the model's grid holds the piece (`compose roundtrip`). Options: SamplingOptions'
        style, temperature, top_k, top_p, guidance, seed, num_samples."""
        opts = SamplingOptions(**options)
        tokens, n_bars = self._own_tokens(score, opts, where)
        if bars is None:
            chosen = list(range(n_bars))
        else:
            chosen = parse_bars(bars, n_bars, where) if isinstance(bars, str) else sorted(set(bars))
        if not chosen or chosen[0] < 0 or chosen[-1] >= n_bars:
            raise ComposerError(f"--bars: {where} has {n_bars} bars")
        keys = track_keys(score, list(tracks), where) if tracks else None
        cells = {b: keys for b in chosen}
        programs = sorted({t.key for t in score.tracks}) if keys is None else None
        return self._fill(score, tokens, cells, opts, programs, replace_notes=True)

    def arrange(self, score: Score, **options) -> Score:
        """`score` with accompaniment (or one track rewritten); see arrange_batch."""
        return self.arrange_batch(score, **{**options, "num_samples": 1})[0]

    def arrange_batch(self, score: Score, replace_tracks: list[str] | None = None, where: str = "the piece",
                      **options) -> list[Score]:
        """`num_samples` arrangements of `score` in `style`: its tracks kept note for note
        (as the model's grid holds them) and new tracks written for the whole piece:
        `instruments` (default: the style's ensemble, cells.ENSEMBLES), or, with `replace_tracks`
        (track names as for infill), those tracks written anew against all the others.
        temperature None or not given: ARRANGE_TEMPERATURE."""
        if options.get("temperature") is None:
            options = {**options, "temperature": ARRANGE_TEMPERATURE}
        opts = SamplingOptions(**options)
        if opts.style is None:
            raise ComposerError("arrange needs --style (the accompaniment's style)")
        if replace_tracks:
            if opts.instruments:
                raise ComposerError("give --instruments (new tracks) or --replace (a track written anew), not both")
            return self.infill_batch(score, None, replace_tracks, where=where, **options)
        if opts.instruments:
            wanted = [min(g & set(ENSEMBLES.get(opts.style, [])) or g) for g in self.requested(opts)]
        else:
            plays = self.style_plays(opts.style)
            wanted = [k for k in ENSEMBLES.get(opts.style, []) if plays is None or k in plays]
            if not wanted:
                raise ComposerError(f"the {opts.style} style's corpus has no accompaniment to learn from; "
                                    "name --instruments or choose another style")
        view = self._lead_view(score, opts.style, set(wanted))
        tokens, n_bars = self._own_tokens(view, opts, where)
        cells = {b: frozenset(wanted) for b in range(n_bars)}
        return self._fill(score, tokens, cells, opts, None, replace_notes=False, nudged=wanted)

    def _own_tokens(self, score: Score, opts: SamplingOptions, where: str) -> tuple[np.ndarray, int]:
        """(the user's piece as tokens, its bar count), after the checks every request shares."""
        check_options(opts)
        self._check_style(opts.style)
        if not self.tokenizer.vocab.infill:
            raise ComposerError("this model was trained before infilling; fine-tune it with "
                                "'compose train CORPUS --from MODEL' (--infill, on by default) first")
        check_infillable(score, where, self.tokenizer)
        tokens = self.tokenizer.encode(score, style=opts.style)
        return tokens, int((tokens == BAR).sum())

    def _lead_view(self, score: Score, style: str, written: set[int]) -> Score:
        """The score as the model hears it when arranging: a track on an instrument that is to
        be written, or that the style never plays, is shown as one of the style's melody
        instruments (cells.LEADS; the file keeps the track's own)."""
        plays = self.style_plays(style)
        taken = {t.key for t in score.tracks} | written
        free = [k for k in LEADS.get(style, []) if (plays is None or k in plays) and k not in taken]
        tracks = []
        for t in score.tracks:
            if (t.key in written or (plays is not None and t.key not in plays)) and free:
                t = replace(t, program=free.pop(0), is_drum=False)
            tracks.append(t)
        return replace(score, tracks=tracks)

    def _fill(self, score: Score, tokens: np.ndarray, cells: dict, opts: SamplingOptions, programs,
              replace_notes: bool, nudged: list[int] = ()) -> list[Score]:
        v = self.tokenizer.vocab
        kept = self.tokenizer.decode(self.tokenizer.encode(score))  # what `compose roundtrip` writes,
        own = {}  # with the user's track names, and tempo and key maps (the tokens hold tempo bins)
        for t in score.tracks:
            own.setdefault(t.key, t.name)
        for t in kept.tracks:
            t.name = own.get(t.key, t.name)
        scale = kept.tpq / score.tpq
        if len(score.tempos):
            kept.tempos = np.c_[np.round(score.tempos[:, 0] * scale), score.tempos[:, 1]]
        if len(score.key_signatures):
            kept.key_signatures = np.c_[np.round(score.key_signatures[:, 0] * scale).astype(np.int64),
                                        score.key_signatures[:, 1:]]
        rng = np.random.default_rng(opts.seed)
        out = []
        for _ in range(opts.num_samples):
            filled = fill_cells(self, tokens, cells, opts, rng, v.style_id(opts.style), programs,
                                self._guidance(opts), nudged)
            written = self.tokenizer.decode(filled)
            out.append(with_key_signature(assemble(kept, written, cells, replace_notes, not opts.keep_drum_timing)))
        return out

    def save(self, score: Score, path, title: str = "composer", overwrite: bool = True) -> None:
        """Write `score` as a MIDI file (atomically; overwrite=False: never over an existing file)."""
        from ..midi_io import write_midi
        write_midi(score, path, title=title, overwrite=overwrite)

    # ---- the sampling loop ----------------------------------------------------------------
    def _check_style(self, style: str | None) -> None:
        if style is not None and style not in self.styles:
            raise ComposerError(f"unknown style {style!r}; this model knows: {', '.join(self.styles) or 'none'}")

    def _guidance(self, opts: SamplingOptions) -> float | None:
        """The guidance scale a request samples with (None: off): its own, else the model's
        choice for its style; none without a style."""
        guidance = self.guidance_for(opts.style) if opts.guidance is None else opts.guidance
        return guidance if guidance != 1.0 and opts.style is not None else None

    def prompt(self, opts: SamplingOptions) -> tuple[list[int], int]:
        """Prompt tokens and how many bars they already hold."""
        v = self.tokenizer.vocab
        self._check_style(opts.style)
        if opts.primer is not None:
            return primer_prompt(self.tokenizer, opts.primer, opts.style, opts.tempo, opts.time_signature)
        tokens = [BOS, v.style_id(opts.style)]
        if opts.time_signature is not None:
            tokens.append(v.timesig + meter_index(v, opts.time_signature))
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
                                   tempo_changes=opts.tempo_changes, placeholders=False)

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
        gd = self._guidance(opts)
        bars = self.guidance_bars_for(opts.style) if opts.guidance_bars is None else opts.guidance_bars
        # guidance steers while a row's bar count is at most this (its sampled Bar token included)
        steered = primer_bars + bars if gd is not None and bars > 0 else float("inf")
        rng = np.random.default_rng(opts.seed)
        limit = TokenBudget(v, opts.max_tokens or len(prompt) + 200 * opts.bars)
        drafts = model.draft_tokens if n == 1 else 0  # drafts check one piece's own repeats
        rows = new_rows(states, nudges, seqs, drafts)
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


def load_model(path=None, device: str = "cpu", backend: str = "auto") -> ComposerModel:
    """A trained run directory, or the bundled model when `path` is None or 'default'.

    backend "auto": a transformer on the CPU decodes in numpy (composer/numpy_model.py: about
    twice as fast a token as torch, and no torch import); other devices and the LSTM use
    torch. "torch" forces torch (on any device)."""
    from ..model_config import read_config

    if backend not in ("auto", "torch"):
        raise ValueError(f"unknown backend {backend!r}; expected 'auto' or 'torch'")
    run, tokenizer, config = open_run(path)
    if backend == "auto" and device == "cpu" and read_config(run / MODEL_FILE).arch == "transformer":
        from ..numpy_model import NumpyTransformer
        model = NumpyTransformer.load(run / MODEL_FILE)
    else:
        from ..model import load_torch_model
        model = load_torch_model(run / MODEL_FILE, device=device)
    check_vocab(run, model.config.vocab_size, tokenizer)
    return ComposerModel(model, tokenizer, config)


def as_decoder(model):
    """A torch MusicModel wrapped as a decoder (model.TorchDecoder); decoders pass through."""
    if hasattr(model, "parameters"):  # an nn.Module
        from ..model import TorchDecoder
        return TorchDecoder(model)
    return model
