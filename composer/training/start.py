"""The start of a training run: decide ONCE whether it is a new run, a resumed one (--resume)
or a fine-tune (--from), refuse whatever cannot work before a step is taken, and hand the loop
(loop.py) everything it needs in one RunStart.

    1. the run folder: a new one (missing or empty), one to resume, or --from's base run
    2. corpus -> token cache -> styles -> tokenizer (a resumed run first checks that the
       corpus holds its validation files)
    3. pieces, split train/validation by file (never by window), stratified by style; a
       resumed run keeps its saved split
    4. the model: built, the base run's best weights (--from; its vocabulary grows by the new
       styles), or the run's last weights (--resume); AdamW
    5. data: training windows (augmented; a fine-tune also rehearses the base run's replay
       windows in every batch), fixed validation windows, the number of steps
    6. where the run stands: step 0, or its last checkpoint (optimizer state, marks, metrics)

Every mode-dependent choice is made here; the loop does not know which mode it runs.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from ..checkpoint import MODEL_FILE, inherited, read_run_config, resolve_run
from ..corpus import CorpusIndex, discover, load_index, style_instruments, tokenize_corpus
from ..device import pick_device  # shared with generate
from ..errors import ComposerError
from ..model import ModelConfig, build_model, load_torch_model
from ..tokenizer import Tokenizer
from ..vocab import PAD, TokenizerConfig
from .config import DEFAULT_STEPS, FINETUNE_LR, LR, TrainConfig, resumed_config
from .dist import Dist
from .loop import make_optimizer
from .replay import ReplayMix, load_replay, sample_windows, save_replay, stack_windows
from .run_dir import (LAST_FILE, STATE_FILE, Marks, holds_files, jsonable, read_metrics, read_optimizer,
                      read_state)
from .windows import Piece, WindowSampler, index_piece, split_by_file


@dataclass
class Origin:
    """What a run starts from, known before its corpus is read (step 1)."""

    mode: str  # "new" | "resume" | "finetune"
    cfg: TrainConfig  # a resumed run's: its saved settings with this call's runtime fields
    tokenizer: Tokenizer  # fresh, the run's (resume) or the base run's (finetune); styles come later
    extra: dict  # the config.json entries the run inherits (checkpoint.INHERITED)
    init_name: str | None = None  # the base run as --from named it (a resumed fine-tune's too)
    state: dict | None = None  # resume: state.json
    init_run: Path | None = None  # finetune: the base run's folder
    init_summary: dict = field(default_factory=dict)  # finetune: the base run's training summary


@dataclass
class RunStart:
    """Everything the loop needs; `marks` and `metrics` then move with the run."""

    mode: str  # "new" | "resume" | "finetune"
    run: Path
    cfg: TrainConfig  # settled: lr, context (cut to the model's) and save_every filled in
    tokenizer: Tokenizer
    extra: dict  # config.json entries besides model, tokenizer and summary
    init_name: str | None  # the base run of a fine-tune
    device: str
    model: torch.nn.Module
    train_model: torch.nn.Module  # the model, or its torch.compile
    size: str
    optimizer: torch.optim.Optimizer
    sampler: WindowSampler | ReplayMix
    val_x: np.ndarray | None  # fixed validation windows (None: no validation)
    val_y: np.ndarray | None
    total: int  # steps the run trains for
    fresh_per_step: float  # corpus tokens a step (the rehearsed share left out)
    train_tokens: int
    baseline: float  # unigram entropy of the train pieces (nats/token)
    corpus: dict  # the corpus part of the summary
    val_files: list[str]  # sha256 of the validation files (state.json)
    val_paths: dict[str, str]
    marks: Marks
    metrics: list[dict]
    dist: Dist = field(default_factory=Dist)  # this process's rank under torchrun (dist.py)
    ddp: torch.nn.Module | None = None  # the DistributedDataParallel wrapper of the model (under torchrun)
    cdfs: dict = field(default_factory=dict)  # the sampler's cumulative piece weights (loop.Draws)

    def summary(self) -> dict:
        """The training summary config.json holds (and train() returns), as of `marks`."""
        m = self.marks
        return {"arch": self.model.config.arch, "size": self.size, "params": self.model.num_params(),
                "steps": m.step, "total_steps": self.total, "best_val_loss": jsonable(m.best_val),
                "best_val_bits_per_note": m.best_bpn, "best_step": m.best_step, "unigram_baseline": self.baseline,
                "training_seconds": round(m.elapsed_s, 1), "init_from": self.init_name, "corpus": self.corpus,
                "device": self.device, "train_config": asdict(self.cfg)}

    def state(self) -> dict:
        """What state.json holds besides the marks."""
        return {"total_steps": self.total, "arch": self.model.config.arch, "size": self.size,
                "init_from": self.init_name, "val_files": self.val_files, "val_paths": self.val_paths,
                "config": asdict(self.cfg)}


def start_run(roots, run: Path, cfg: TrainConfig, style: str | None, resume: bool, init_from, cache_dir,
              progress: bool, dist: Dist | None = None) -> RunStart:
    """Steps 1 to 6 of the module doc. Raises ComposerError for anything the user can fix.
    Under torchrun (`dist`) rank 0 decides the mode and tokenises, and tells the other ranks."""
    dist = dist or Dist()
    cfg.check()
    if not resume:  # (a resumed run's batch size is its own: checked once it is read)
        _check_batch_split(cfg, dist)
    roots = [roots] if isinstance(roots, (str, os.PathLike)) else list(roots)

    def open_run() -> Origin:
        origin = _open_run(run, cfg, resume, init_from)
        try:
            run.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ComposerError(f"{run}: cannot create the run folder ({e.strerror})") from None
        return origin

    origin = dist.shared(open_run)
    _check_batch_split(origin.cfg, dist)
    cache_dir = Path(cache_dir) if cache_dir is not None else run / "cache"
    index, tokenizer, extra = _read_corpus(origin, run, roots, style, cache_dir, progress, dist)
    pieces, train_idx, val_idx, counts = _split(origin, run, roots, index, tokenizer)
    train_pieces = [pieces[i] for i in train_idx]
    train_tokens = sum(index.files[i].n_tokens for i in train_idx)

    device = dist.device(pick_device(origin.cfg.device))
    torch.manual_seed(origin.cfg.seed)
    model, size = _model(origin, run, tokenizer, device)
    cfg = _settled_config(origin, model)
    model.train()
    ddp = None
    if dist.on:  # gradients averaged over the ranks (the models have no buffers to keep in step)
        from torch.nn.parallel import DistributedDataParallel

        ddp = DistributedDataParallel(model, device_ids=[dist.local_rank] if device.startswith("cuda") else None)
    train_model = ddp if ddp is not None else model
    train_model = torch.compile(train_model) if cfg.compile else train_model
    optimizer = make_optimizer(model, cfg.lr, cfg.weight_decay, device)

    sampler = _training_windows(origin, run, roots, cfg, train_pieces, tokenizer, write=dist.main)
    total, fresh_per_step = _total_steps(origin, cfg, sampler, train_tokens)
    val_x, val_y = _validation_windows(cfg, [pieces[i] for i in val_idx], tokenizer)
    baseline = entropy_of_counts(counts)

    marks, metrics = Marks(), []
    if origin.state is not None:
        marks = read_optimizer(run, origin.state, optimizer)
        metrics = read_metrics(run, marks.step)
    shas = [f.sha256 for f in index.files]
    return RunStart(
        mode=origin.mode, run=run, cfg=cfg, tokenizer=tokenizer, extra=extra, init_name=origin.init_name,
        device=device, model=model, train_model=train_model, size=size, optimizer=optimizer, sampler=sampler,
        val_x=val_x, val_y=val_y, total=total, fresh_per_step=fresh_per_step, train_tokens=train_tokens,
        baseline=baseline, corpus=_corpus_summary(index, train_idx, val_idx, train_tokens),
        val_files=sorted(set(shas[i] for i in val_idx)), val_paths={shas[i]: index.files[i].path for i in val_idx},
        marks=marks, metrics=metrics, dist=dist, ddp=ddp)


def _check_batch_split(cfg: TrainConfig, dist: Dist) -> None:
    """The batch (windows a step, over all ranks) must split evenly into ranks x grad_accum."""
    if cfg.batch_size % (dist.world * cfg.grad_accum):
        raise ComposerError(f"--batch-size {cfg.batch_size} (windows a step, over all ranks) must be a multiple of "
                            f"ranks x --grad-accum = {dist.world} x {cfg.grad_accum}")


# --------------------------------------------------------------------------- 1. the run folder


def _open_run(run: Path, cfg: TrainConfig, resume: bool, init_from) -> Origin:
    """The mode, decided once: refuses a run folder that does not fit it."""
    if resume:
        if init_from is not None:
            raise ComposerError("--from cannot be combined with --resume (a resumed run continues its own weights)")
        state = read_state(run)
        cfg = resumed_config(cfg, state["config"])
        return Origin("resume", cfg, _tokenizer_of(run), inherited(read_run_config(run)),
                      init_name=state.get("init_from"), state=state)
    if run.exists() and not run.is_dir():
        raise ComposerError(f"{run}: exists and is not a folder")
    if any((run / f).exists() for f in (MODEL_FILE, LAST_FILE, STATE_FILE)):
        raise ComposerError(f"{run}: already holds a trained model (use --resume to continue, or a new --out)")
    if run.is_dir() and holds_files(run):
        raise ComposerError(f"{run}: exists and is not a composer run folder; choose a new --out")
    if init_from is None:
        return Origin("new", cfg, Tokenizer(), {})
    init_run = resolve_run(init_from)
    tokenizer = _tokenizer_of(init_run)
    init_config = read_run_config(init_run)
    return Origin("finetune", cfg, tokenizer, inherited(init_config), init_name=str(init_from),
                  init_run=init_run, init_summary=init_config.get("summary") or {})


def _tokenizer_of(run: Path) -> Tokenizer:
    try:
        return Tokenizer.from_dict(read_run_config(run)["tokenizer"])
    except (KeyError, ValueError, TypeError) as e:
        raise ComposerError(f"{run}: bad tokenizer config ({e})") from None


# --------------------------------------------------------------------------- 2. corpus and tokenizer


def _read_corpus(origin: Origin, run: Path, roots: list, style, cache_dir: Path,
                 progress: bool, dist: Dist) -> tuple[CorpusIndex, Tokenizer, dict]:
    """(the token cache's index, the run's tokenizer, config.json's extra entries). Rank 0
    tokenises; the other ranks read the cache it wrote."""
    base = origin.tokenizer
    if origin.mode == "finetune" and origin.cfg.infill > 0 and not base.vocab.infill:
        base = base.with_infill()  # the base model learns the Fill tokens (model.remap_vocab)

    def tokenise() -> None:
        if origin.state is not None:  # before tokenising (and rewriting the run's cache index): the run's corpus?
            _check_resumed_corpus(run, roots, origin.state, _file_shas(roots, style))
        corpus = tokenize_corpus(roots, cache_dir, base, style=style, workers=origin.cfg.workers, progress=progress)
        print(corpus.format(), flush=True)
        if not corpus.used:
            raise ComposerError(f"{', '.join(map(str, roots))}: no usable music files to train on")

    dist.shared(tokenise)
    index = load_index(cache_dir)
    if index.fingerprint != base.config.fingerprint():
        source = origin.init_name if origin.mode == "finetune" else run
        raise ComposerError(f"{source}: its tokenizer settings (fingerprint {base.config.fingerprint()}) do not "
                            f"match the token cache {cache_dir} ({index.fingerprint}); use another cache folder")
    styles = sorted(index.styles)
    if origin.mode == "resume":
        tokenizer = base
        missing = [s for s in styles if s not in tokenizer.config.styles]
        if missing:
            raise ComposerError(f"{run}: the corpus has styles this run was not trained on ({', '.join(missing)}); "
                                f"fine-tune a new run with --from {run}")
    elif origin.mode == "finetune":
        tokenizer = base.with_styles(styles)  # old style ids unchanged, new ones appended
    else:
        tokenizer = Tokenizer(TokenizerConfig(styles=styles))
    instruments = {**origin.extra.get("style_instruments", {})}
    for name, keys in style_instruments(index).items():  # a style the base knew keeps its instruments too
        instruments[name] = sorted(set(instruments.get(name, [])) | set(keys))
    return index, tokenizer, {**origin.extra, "style_instruments": instruments}


def _check_resumed_corpus(run: Path, roots, state: dict, shas) -> None:
    """A resumed run validates on the files it held out (by content): all must be in the corpus."""
    missing = set(state["val_files"]) - set(shas)
    if missing:
        paths = state.get("val_paths", {})  # runs from before val_paths name files by content hash
        names = sorted(paths.get(sha, f"sha256 {sha[:12]}") for sha in missing)
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        raise ComposerError(f"{run}: the corpus is not the one this run was trained on: {len(missing)} of its "
                            f"{len(state['val_files'])} validation files are not in {', '.join(map(str, roots))} "
                            f"({shown}); resume with the run's corpus, or start a new run")


def _file_shas(roots, style) -> list[str]:
    """sha256 of every music file under `roots` (unreadable ones left out): what the cache keys on."""
    out = []
    for path, _ in discover(roots, style).files:
        try:
            out.append(hashlib.sha256(path.read_bytes()).hexdigest())
        except OSError:
            pass
    return out


# --------------------------------------------------------------------------- 3. the split


def _split(origin: Origin, run: Path, roots: list, index: CorpusIndex,
           tokenizer: Tokenizer) -> tuple[list[Piece], list[int], list[int], np.ndarray]:
    """(every piece, train indices, validation indices, token counts of the train pieces): a
    resumed run's saved split, or a new one. Each piece's bars are found on a copy of its tokens
    read without mapping; the piece then keeps a view into the store's memory map (store.py), so
    a training process holds the bar index in memory, and of the tokens only the pages its
    windows read."""
    shas = [f.sha256 for f in index.files]
    if origin.state is None:
        cfg = origin.cfg
        train_idx, val_idx = split_by_file(shas, cfg.val_fraction, [f.style for f in index.files], cfg.seed)
    else:
        held_out = set(origin.state["val_files"])
        _check_resumed_corpus(run, roots, origin.state, shas)  # again: a held-out file may have been skipped
        train_idx = [i for i, s in enumerate(shas) if s not in held_out]
        val_idx = [i for i, s in enumerate(shas) if s in held_out]
    vocab, n = tokenizer.vocab, len(tokenizer)
    counts, training = np.zeros(n, dtype=np.int64), np.zeros(len(shas), dtype=bool)
    training[train_idx] = True
    pieces = []
    for i, f in enumerate(index.files):
        tokens = index.read_tokens(i)
        p = index_piece(tokens, vocab.style_id(f.style), vocab)
        pieces.append(replace(p, tokens=index.open_tokens(i), bars=p.bars.astype(np.int32)))
        if training[i]:
            counts += np.bincount(tokens, minlength=n)[:n]
    return pieces, train_idx, val_idx, counts


def _corpus_summary(index: CorpusIndex, train_idx: list[int], val_idx: list[int], train_tokens: int) -> dict:
    per_style = {}
    for i in train_idx + val_idx:
        f = index.files[i]
        s = per_style.setdefault(f.style if f.style is not None else "?", {"files": 0, "tokens": 0})
        s["files"] += 1
        s["tokens"] += f.n_tokens
    return {"files": len(index.files), "tokens": sum(f.n_tokens for f in index.files),
            "train_files": len(train_idx), "val_files": len(val_idx), "train_tokens": train_tokens,
            "styles": dict(sorted(per_style.items()))}


# --------------------------------------------------------------------------- 4. the model


def _model(origin: Origin, run: Path, tokenizer: Tokenizer, device: str) -> tuple[torch.nn.Module, str]:
    """(the model on `device`, its size name): built new, the base run's, or the run's last weights."""
    cfg = origin.cfg
    if origin.mode == "resume":
        model = load_torch_model(run / LAST_FILE, device=device)
        size = origin.state.get("size", cfg.size)
    elif origin.mode == "finetune":
        init_run = origin.init_run
        model = load_torch_model(init_run / MODEL_FILE, device=device)
        if model.config.vocab_size != len(origin.tokenizer):
            raise ComposerError(f"{init_run}: model vocabulary does not match its tokenizer")
        size = origin.init_summary.get("size", "custom")
        default = TrainConfig()
        for name, theirs in (("arch", model.config.arch), ("size", size)):
            mine = getattr(cfg, name)
            if mine != getattr(default, name) and mine != theirs and theirs != "custom":
                raise ComposerError(f"--{name} {mine}: the model in {init_run} is {theirs} (fine-tuning keeps it)")
        model.remap_vocab(tokenizer.rows_from(origin.tokenizer))  # new styles, Fill tokens: new rows
    else:
        size = cfg.size
        try:
            model = build_model(ModelConfig.preset(cfg.size, cfg.arch, vocab_size=len(tokenizer), context=cfg.context))
        except ValueError as e:
            raise ComposerError(str(e)) from None
        model.to(device)
    if model.config.vocab_size != len(tokenizer):
        raise ComposerError(f"{run / LAST_FILE}: model vocabulary ({model.config.vocab_size}) does not match "
                            f"the run's tokenizer ({len(tokenizer)})")
    return model, size


def _settled_config(origin: Origin, model) -> TrainConfig:
    """The settings the run trains (and saves) with: the peak lr, windows no longer than a
    transformer's context, save_every."""
    cfg, context = origin.cfg, origin.cfg.context
    if model.config.arch == "transformer" and context > model.config.context:
        print(f"note: windows cut to the model's context of {model.config.context} tokens")
        context = model.config.context
    peak_lr = cfg.lr if cfg.lr is not None else (FINETUNE_LR if origin.init_name is not None else LR)
    return replace(cfg, lr=peak_lr, context=context, save_every=cfg.save_every or cfg.eval_every)


# --------------------------------------------------------------------------- 5. data


def _training_windows(origin: Origin, run: Path, roots: list, cfg: TrainConfig, train_pieces: list[Piece],
                      tokenizer: Tokenizer, write: bool = True) -> WindowSampler | ReplayMix:
    """The sampler of training batches; a new run (fine-tune or not) writes its replay sample,
    and a fine-tune (new or resumed: its replay file holds the base windows first) mixes the
    base run's windows into every batch."""
    try:
        sampler = WindowSampler(train_pieces, tokenizer.vocab, cfg.context, style_dropout=cfg.style_dropout,
                                keep_key=cfg.keep_key, infill=cfg.infill if tokenizer.vocab.infill else 0.0)
    except ValueError:
        raise ComposerError(f"{', '.join(map(str, roots))}: no training files with at least one bar") from None
    fingerprint = tokenizer.config.fingerprint()
    if origin.mode == "resume":
        own = load_replay(run, fingerprint)
        base = own[0][:own[1]] if own else None
    else:
        inherited_windows = None
        if origin.init_run is not None:  # the base run's windows, in this run's token ids
            inherited_windows = load_replay(origin.init_run, origin.tokenizer.config.fingerprint())
        base = tokenizer.ids_from(origin.tokenizer)[inherited_windows[0]] if inherited_windows else None
        if write:  # (rank 0 only)
            mine = sample_windows(train_pieces, tokenizer.vocab, sampler.context + 1, seed=cfg.seed)
            save_replay(run, stack_windows(base, mine), 0 if base is None else len(base), fingerprint)
    if base is None or not len(base) or cfg.replay <= 0:
        return sampler
    print(f"rehearsing {len(base)} windows of the base model's styles ({cfg.replay:.0%} of each batch)", flush=True)
    return ReplayMix(sampler, base, cfg.replay, tokenizer.vocab.style)


def _total_steps(origin: Origin, cfg: TrainConfig, sampler, train_tokens: int) -> tuple[int, float]:
    """(steps the run trains for, corpus tokens a step): --steps, --epochs, or a resumed run's
    own total (DEFAULT_STEPS for a new run)."""
    fresh_per_step = cfg.batch_size * cfg.context * (1 - sampler.share if isinstance(sampler, ReplayMix) else 1)
    if cfg.steps is not None:
        return cfg.steps, fresh_per_step
    if cfg.epochs is not None:
        return max(1, math.ceil(cfg.epochs * train_tokens / fresh_per_step)), fresh_per_step
    state = origin.state
    return (state.get("total_steps", DEFAULT_STEPS) if state is not None else DEFAULT_STEPS), fresh_per_step


def _validation_windows(cfg: TrainConfig, val_pieces: list[Piece],
                        tokenizer: Tokenizer) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Fixed validation windows (no augmentation), or (None, None) with a warning when there are none."""
    if val_pieces:
        try:
            return WindowSampler(val_pieces, tokenizer.vocab, cfg.context, style_dropout=0.0,
                                 transpose=0).fixed_windows(cfg.eval_windows)
        except ValueError:
            print(f"warning: the {len(val_pieces)} validation files have no bars; training without validation "
                  f"({MODEL_FILE} will be the latest weights, not the best)", flush=True)
    elif cfg.val_fraction > 0:
        print(f"warning: no validation files (no style has two files to hold one out); training without "
              f"validation ({MODEL_FILE} will be the latest weights, not the best)", flush=True)
    return None, None


def unigram_entropy(pieces, vocab_size: int) -> float:
    """Entropy (nats/token) of the token distribution of `pieces`: what a model that ignores
    context scores at best, so a trained model's loss should end well below it."""
    counts = np.zeros(vocab_size, dtype=np.int64)
    for p in pieces:
        counts += np.bincount(np.asarray(p.tokens), minlength=vocab_size)[:vocab_size]
    return entropy_of_counts(counts)


def entropy_of_counts(counts: np.ndarray) -> float:
    """unigram_entropy from token counts (PAD left out)."""
    counts = counts.copy()
    counts[PAD] = 0
    probs = counts[counts > 0] / max(1, counts.sum())
    return float(-(probs * np.log(probs)).sum())
