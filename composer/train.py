"""Train a model on a folder of music: `compose train CORPUS... --out RUN_DIR`.

    summary = train(["data/corpus"], "runs/pop", TrainConfig(size="small", steps=2000))

Reads top to bottom like nanoGPT's train.py:

    1. tokenise the corpus into the token cache, collect its styles, build the tokenizer
    2. index every piece and split train/validation by file (never by window), stratified by style
    3. build the model (or load it: --resume, --from) and an AdamW optimizer
       (a fine-tune also rehearses the base run's replay windows in every batch)
    4. loop: sample windows, forward, backward, clip, step; evaluate and checkpoint every so often
    5. Ctrl-C: save a checkpoint and say how to resume

What lands in RUN_DIR (see checkpoint.py for the files generation reads):

    model.safetensors  best weights so far (lowest validation loss): what `generate` uses
    config.json        model + tokenizer config, styles, training summary
    last.safetensors   latest weights                      \
    optimizer.pt       AdamW state + step (torch.save)      > what --resume continues from
    state.json         step, best loss, validation files,  /  train config, elapsed time
    metrics.jsonl      one JSON line per evaluation
    loss.png           train and validation loss against step
    replay.safetensors a sample of the training windows, rehearsed by later fine-tunes (replay.py)
    cache/             the token cache (unless cache_dir says otherwise)

Checkpoints. Every file is written atomically, and in an order that keeps the run usable
wherever a kill lands: last.safetensors, then optimizer.pt (which carries its own step), then
config.json, then state.json. A kill after optimizer.pt but before state.json resumes from the
step optimizer.pt records. The data stream needs no saved RNG: step s draws its windows from
`np.random.default_rng([seed, s])`, so a resumed run sees exactly the batches an uninterrupted
one would.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .atomic import atomic_path, write_text_atomic
from .checkpoint import CONFIG_FILE, MODEL_FILE, inherited, load_run, read_run_config, resolve_run, write_run_config
from .corpus import discover, load_index, style_instruments, tokenize_corpus
from .training.windows import WindowSampler, index_piece, split_by_file
from .device import pick_device  # shared with generate
from .errors import ComposerError
from .model import ModelConfig, build_model, load_model, save_weights
from .training.replay import REPLAY_FILE, ReplayMix, load_replay, sample_windows, save_replay, stack_windows
from .tokenizer import Tokenizer
from .vocab import PAD, UNKNOWN_STYLE, TokenizerConfig

LAST_FILE, OPTIMIZER_FILE, STATE_FILE = "last.safetensors", "optimizer.pt", "state.json"
METRICS_FILE, PLOT_FILE = "metrics.jsonl", "loss.png"
DEFAULT_STEPS, LR, FINETUNE_LR = 2000, 1e-3, 3e-4


@dataclass
class TrainConfig:
    arch: str = "transformer"  # "transformer" | "lstm"
    size: str = "small"  # "tiny" | "small" | "base" (see model.PRESETS)
    steps: int | None = None  # optimizer steps; 2000 if neither steps nor epochs is given
    epochs: float | None = None  # or passes over the train tokens (batch_size * context tokens a step,
    #                              less the rehearsed share when fine-tuning)
    batch_size: int = 16
    context: int = 1024  # tokens per training window
    lr: float | None = None  # peak learning rate; None: 1e-3, or 3e-4 when fine-tuning
    warmup: int = 100  # linear warm-up steps (never more than a quarter of the run)
    min_lr_ratio: float = 0.1  # cosine decay ends at lr * min_lr_ratio
    weight_decay: float = 0.1  # on 2-D parameters (matrices, embedding) only
    grad_clip: float = 1.0  # max gradient norm; 0 turns clipping off
    device: str = "auto"  # "auto" (cuda > mps > cpu) | "cpu" | "cuda" | "mps"
    seed: int = 0
    val_fraction: float = 0.05  # share of files held out for validation
    eval_every: int = 200  # steps between validation runs
    eval_windows: int = 64  # validation windows (fixed, no augmentation)
    save_every: int | None = None  # steps between last-checkpoint saves; None: eval_every
    style_dropout: float = 0.1  # share of windows trained with the unknown style
    keep_key: float = 0.5  # share of windows left in their own key; the rest are transposed up to ±6
    replay: float = 0.5  # fine-tuning: share of each batch rehearsed from the base run's windows (replay.py)
    compile: bool = False  # torch.compile the model
    workers: int | None = None  # tokenising processes (None: all cores)

    def check(self) -> None:
        def bad(what):
            raise ComposerError(f"bad training setting: {what}")
        if self.steps is not None and self.epochs is not None:
            bad("give steps or epochs, not both")
        if self.steps is not None and self.steps < 1:
            bad(f"steps={self.steps} (must be at least 1)")
        if self.epochs is not None and not self.epochs > 0:
            bad(f"epochs={self.epochs} (must be positive)")
        if min(self.batch_size, self.eval_every, self.eval_windows, self.save_every or 1) < 1:
            bad("batch_size, eval_every, eval_windows and save_every must be at least 1")
        if self.context < 8:
            bad(f"context={self.context} (must be at least 8 tokens)")
        if self.lr is not None and not self.lr > 0:
            bad(f"lr={self.lr} (must be positive)")
        if not 0 <= self.val_fraction < 1 or not 0 <= self.style_dropout <= 1 or not 0 <= self.replay < 1:
            bad("val_fraction and replay must be in [0, 1), style_dropout in [0, 1]")
        if not 0 <= self.keep_key <= 1:
            bad(f"keep_key={self.keep_key} (must be in [0, 1])")
        if self.device not in ("auto", "cpu", "cuda", "mps"):
            bad(f"device={self.device!r} (expected auto, cpu, cuda or mps)")


# Settings a resumed run may change: how this process runs, and how long the run is.
RUNTIME_FIELDS = ("device", "workers", "compile", "steps", "epochs")


def autocast(device: str):
    """bf16 autocast on CUDA; full precision elsewhere."""
    if device == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def lr_at(step: int, total: int, peak: float, warmup: int, min_ratio: float) -> float:
    """Linear warm-up to `peak`, then cosine decay to peak * min_ratio at `total`."""
    warmup = min(warmup, total // 4)
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def make_optimizer(model, lr: float, weight_decay: float, device: str) -> torch.optim.AdamW:
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    extra = {"fused": True} if device == "cuda" else {}
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.95), **extra)


def unigram_entropy(pieces, vocab_size: int) -> float:
    """Entropy (nats/token) of the token distribution of `pieces`: what a model that ignores
    context scores at best, so a trained model's loss should end well below it."""
    counts = np.zeros(vocab_size, dtype=np.int64)
    for p in pieces:
        counts += np.bincount(np.asarray(p.tokens), minlength=vocab_size)[:vocab_size]
    counts[PAD] = 0
    probs = counts[counts > 0] / max(1, counts.sum())
    return float(-(probs * np.log(probs)).sum())


@torch.no_grad()
def evaluate(model, x: np.ndarray, y: np.ndarray, batch_size: int, device: str, vocab) -> tuple[float, float | None]:
    """Validation loss: (nats per non-pad target, bits per note), notes = Pitch targets (the one
    token every note has, whatever the encoding leaves out)."""
    was_training = model.training
    model.eval()
    nats = 0.0
    for i in range(0, len(x), batch_size):
        xb = torch.from_numpy(x[i:i + batch_size]).to(device)
        yb = torch.from_numpy(y[i:i + batch_size]).to(device)
        with autocast(device):
            logits, _ = model(xb)
        nats += F.cross_entropy(logits.float().flatten(0, 1), yb.flatten(), ignore_index=PAD, reduction="sum").item()
    model.train(was_training)
    targets = int((y != PAD).sum())
    notes = int(((y >= vocab.pitch) & (y < vocab.velocity)).sum())
    return nats / max(1, targets), (nats / notes / math.log(2) if notes else None)


class CtrlC:
    """The first Ctrl-C asks the loop to stop after the current step (it then saves); a second
    one raises KeyboardInterrupt at once. Only in the main thread (signals go nowhere else)."""

    def __init__(self):
        self.pressed, self._old = False, None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.pressed:
            raise KeyboardInterrupt
        self.pressed = True
        sys.stderr.write("\nCtrl-C: saving after this step (press again to stop at once)\n")

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
        return False


# --------------------------------------------------------------------------- run directory


def read_state(run: Path) -> dict:
    path = run / STATE_FILE
    if not path.is_file():
        raise ComposerError(f"{run}: nothing to resume (no {STATE_FILE}); train without --resume to start a new run")
    for f in (LAST_FILE, OPTIMIZER_FILE):
        if not (run / f).is_file():
            raise ComposerError(f"{run}: cannot resume, {f} is missing")
    try:
        state = json.loads(path.read_text())
        missing = [k for k in ("step", "config", "val_files") if k not in state]
        if missing:
            raise ValueError(f"no {', '.join(missing)}")
    except (OSError, ValueError, TypeError) as e:
        raise ComposerError(f"{path}: unreadable training state ({e})") from None
    for tmp in [*run.glob(".*.tmp"), *run.glob("*.safetensors.*.tmp")]:  # left by a kill mid-write
        tmp.unlink(missing_ok=True)
    return state


def resumed_config(cfg: TrainConfig, saved: dict) -> TrainConfig:
    """The run's saved settings, with this call's runtime fields; a conflicting setting is an error."""
    known = {f.name for f in fields(TrainConfig)}
    saved = {"keep_key": 0.0, **saved}  # runs from before keep_key transposed every window
    old = TrainConfig(**{k: v for k, v in saved.items() if k in known})
    default = TrainConfig()
    for f in fields(TrainConfig):
        if f.name in RUNTIME_FIELDS:
            continue
        mine, theirs = getattr(cfg, f.name), getattr(old, f.name)
        if mine != getattr(default, f.name) and mine != theirs:
            raise ComposerError(f"cannot change {f.name} when resuming (the run uses {theirs!r}, "
                                f"got {mine!r}); start a new run or fine-tune with --from")
    new = {k: getattr(cfg, k) for k in ("device", "workers", "compile")}
    if cfg.steps is not None or cfg.epochs is not None:
        new.update(steps=cfg.steps, epochs=cfg.epochs)
    return replace(old, **new)


def read_metrics(run: Path, up_to: int) -> list[dict]:
    """metrics.jsonl lines for steps <= up_to (a kill can leave later or half-written lines)."""
    out = []
    try:
        lines = (run / METRICS_FILE).read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        try:
            m = json.loads(line)
        except ValueError:
            continue
        if isinstance(m, dict) and isinstance(m.get("step"), int) and m["step"] <= up_to:
            out.append(m)
    return out


def plot_losses(path: Path, metrics: list[dict], baseline: float | None) -> None:
    """loss.png: train and validation loss against step (skipped if matplotlib is missing)."""
    try:
        from matplotlib.figure import Figure  # no pyplot: never touches the user's backend
    except ImportError:
        return
    fig = Figure(figsize=(7, 4), dpi=100)
    ax = fig.add_subplot()
    ax.plot([m["step"] for m in metrics], [m["train_loss"] for m in metrics], ".-", label="train")
    val = [(m["step"], m["val_loss"]) for m in metrics if m.get("val_loss") is not None]
    if val:
        ax.plot(*zip(*val), ".-", label="validation")
    if baseline:
        ax.axhline(baseline, ls="--", lw=1, color="gray", label="unigram baseline")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats/token)")
    ax.grid(alpha=0.3)
    ax.legend()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")


def _jsonable(x):
    return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else x


# --------------------------------------------------------------------------- training


def train(roots, out_dir, cfg: TrainConfig | None = None, style: str | None = None, resume: bool = False,
          init_from=None, cache_dir=None, progress: bool = True) -> dict:
    """Train (or --resume, or fine-tune --from) a model on the music under `roots` into `out_dir`.

    Returns the training summary (also stored in config.json) plus run_dir, interrupted,
    final_train_loss and final_val_loss. Raises ComposerError for anything the user can fix.
    A new run that fails (or is stopped) before its first checkpoint leaves nothing behind.
    """
    run = Path(out_dir)
    new_folders = _missing_folders(run)
    fresh = not resume and (bool(new_folders) or (run.is_dir() and not _holds_files(run)))
    try:
        return _train(roots, run, cfg or TrainConfig(), style, resume, init_from, cache_dir, progress)
    except BaseException:
        if fresh and not (run / STATE_FILE).exists():
            with contextlib.suppress(OSError):  # the error that got us here is the one to report
                _remove_new_run(run, new_folders, Path(cache_dir) if cache_dir is not None else None)
        raise


def _holds_files(folder: Path) -> bool:
    try:
        return any(folder.iterdir())
    except OSError as e:
        raise ComposerError(f"{folder}: cannot read the folder ({e.strerror})") from None


def _missing_folders(path: Path) -> list[Path]:
    """`path` and its parents that do not exist yet (what mkdir(parents=True) makes), innermost first."""
    out = []
    while not path.exists() and not path.is_symlink() and path != path.parent:
        out.append(path)
        path = path.parent
    return out


def _remove_new_run(run: Path, new_folders: list[Path], cache_dir: Path | None) -> None:
    """Undo a new run with no checkpoint: the files it wrote into `run` (which was empty or
    missing), its own token cache, then the folders it made, where nothing else is in them."""
    for name in (MODEL_FILE, CONFIG_FILE, LAST_FILE, OPTIMIZER_FILE, STATE_FILE, METRICS_FILE, PLOT_FILE,
                 REPLAY_FILE, *(p.name for p in [*run.glob(".*.tmp"), *run.glob("*.safetensors.*.tmp")])):
        (run / name).unlink(missing_ok=True)
    if cache_dir is None:
        shutil.rmtree(run / "cache", ignore_errors=True)
    for folder in new_folders:
        try:
            folder.rmdir()
        except OSError:  # not empty (or gone): keep it and everything above it
            break


def _train(roots, run: Path, cfg: TrainConfig, style, resume: bool, init_from, cache_dir, progress: bool) -> dict:
    from tqdm import tqdm

    cfg.check()
    roots = [roots] if isinstance(roots, (str, os.PathLike)) else list(roots)

    # ---- 0. the run directory: a new one, or one to resume
    state, init_run, init_summary = None, None, {}
    if resume:
        if init_from is not None:
            raise ComposerError("--from cannot be combined with --resume (a resumed run continues its own weights)")
        state = read_state(run)
        cfg = resumed_config(cfg, state["config"])
        base_tok = _tokenizer_of(run)
        extra = inherited(read_run_config(run))
    else:
        if run.exists() and not run.is_dir():
            raise ComposerError(f"{run}: exists and is not a folder")
        if any((run / f).exists() for f in (MODEL_FILE, LAST_FILE, STATE_FILE)):
            raise ComposerError(f"{run}: already holds a trained model (use --resume to continue, or a new --out)")
        if run.is_dir() and _holds_files(run):
            raise ComposerError(f"{run}: exists and is not a composer run folder; choose a new --out")
        base_tok, extra = Tokenizer(), {}
        if init_from is not None:
            init_run = resolve_run(init_from)
            base_tok = _tokenizer_of(init_run)
            init_config = read_run_config(init_run)
            init_summary, extra = init_config.get("summary") or {}, inherited(init_config)
    try:
        run.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ComposerError(f"{run}: cannot create the run folder ({e.strerror})") from None
    init_name = state.get("init_from") if state else (str(init_from) if init_from is not None else None)
    fine_tuning = init_name is not None

    # ---- 1. corpus -> token cache -> styles -> tokenizer
    if state is not None:  # before tokenising (and rewriting the run's cache index): is it the run's corpus?
        _check_resumed_corpus(run, roots, state, _file_shas(roots, style))
    cache_dir = Path(cache_dir) if cache_dir is not None else run / "cache"
    corpus = tokenize_corpus(roots, cache_dir, base_tok, style=style, workers=cfg.workers, progress=progress)
    print(corpus.format(), flush=True)
    if not corpus.used:
        raise ComposerError(f"{', '.join(map(str, roots))}: no usable music files to train on")
    index = load_index(cache_dir)
    if index.fingerprint != base_tok.config.fingerprint():
        source = init_from if init_run is not None else run
        raise ComposerError(f"{source}: its tokenizer settings (fingerprint {base_tok.config.fingerprint()}) do not "
                            f"match the token cache {cache_dir} ({index.fingerprint}); use another cache folder")
    styles = sorted(index.styles)
    if state is not None:
        tokenizer = base_tok
        missing = [s for s in styles if s not in tokenizer.config.styles]
        if missing:
            raise ComposerError(f"{run}: the corpus has styles this run was not trained on ({', '.join(missing)}); "
                                f"fine-tune a new run with --from {run}")
    elif init_run is not None:
        tokenizer = base_tok.with_styles(styles)  # old style ids unchanged, new ones appended
    else:
        tokenizer = Tokenizer(TokenizerConfig(styles=styles))
    vocab = tokenizer.vocab
    instruments = {**extra.get("style_instruments", {})}
    for name, keys in style_instruments(index).items():  # a style the base knew keeps its instruments too
        instruments[name] = sorted(set(instruments.get(name, [])) | set(keys))
    extra = {**extra, "style_instruments": instruments}

    # ---- 2. pieces, split by file and style (the resumed split is the saved one)
    pieces = [index_piece(index.open_tokens(i), vocab.style_id(f.style), vocab) for i, f in enumerate(index.files)]
    shas = [f.sha256 for f in index.files]
    if state is not None:
        held_out = set(state["val_files"])
        _check_resumed_corpus(run, roots, state, shas)  # again: a held-out file may have been skipped
        train_idx = [i for i, s in enumerate(shas) if s not in held_out]
        val_idx = [i for i, s in enumerate(shas) if s in held_out]
    else:
        train_idx, val_idx = split_by_file(shas, cfg.val_fraction, [f.style for f in index.files], cfg.seed)
    train_tokens = sum(index.files[i].n_tokens for i in train_idx)

    # ---- 3. model and optimizer
    device = pick_device(cfg.device)
    torch.manual_seed(cfg.seed)
    default = TrainConfig()
    if state is not None:
        model = load_model(run / LAST_FILE, device=device)
        size = state.get("size", cfg.size)
    elif init_run is not None:
        model = load_model(init_run / MODEL_FILE, device=device)
        if model.config.vocab_size != len(base_tok):
            raise ComposerError(f"{init_run}: model vocabulary does not match its tokenizer")
        size = init_summary.get("size", "custom")
        for name, theirs in (("arch", model.config.arch), ("size", size)):
            mine = getattr(cfg, name)
            if mine != getattr(default, name) and mine != theirs and theirs != "custom":
                raise ComposerError(f"--{name} {mine}: the model in {init_run} is {theirs} (fine-tuning keeps it)")
        model.grow_vocab(len(tokenizer))
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
    arch = model.config.arch
    context = cfg.context
    if arch == "transformer" and context > model.config.context:
        print(f"note: windows cut to the model's context of {model.config.context} tokens")
        context = model.config.context
    model.train()
    train_model = torch.compile(model) if cfg.compile else model

    peak_lr = cfg.lr if cfg.lr is not None else (FINETUNE_LR if fine_tuning else LR)
    cfg = replace(cfg, lr=peak_lr, context=context, save_every=cfg.save_every or cfg.eval_every)
    optimizer = make_optimizer(model, peak_lr, cfg.weight_decay, device)

    # ---- 4. data: training windows (augmented) and fixed validation windows
    try:
        sampler = WindowSampler([pieces[i] for i in train_idx], vocab, context, style_dropout=cfg.style_dropout,
                                keep_key=cfg.keep_key)
    except ValueError:
        raise ComposerError(f"{', '.join(map(str, roots))}: no training files with at least one bar") from None
    sampler = _with_rehearsal(sampler, run, init_run, state, [pieces[i] for i in train_idx], tokenizer, cfg)
    fresh_per_step = cfg.batch_size * context * (1 - sampler.share if isinstance(sampler, ReplayMix) else 1)
    if cfg.steps is not None:
        total = cfg.steps
    elif cfg.epochs is not None:
        total = max(1, math.ceil(cfg.epochs * train_tokens / fresh_per_step))
    else:
        total = state.get("total_steps", DEFAULT_STEPS) if state is not None else DEFAULT_STEPS
    val_x = val_y = None
    if val_idx:
        try:
            val_x, val_y = WindowSampler([pieces[i] for i in val_idx], vocab, context, style_dropout=0.0,
                                         transpose=0).fixed_windows(cfg.eval_windows)
        except ValueError:
            print(f"warning: the {len(val_idx)} validation files have no bars; training without validation "
                  f"({MODEL_FILE} will be the latest weights, not the best)", flush=True)
    elif cfg.val_fraction > 0:
        print(f"warning: no validation files (no style has two files to hold one out); training without "
              f"validation ({MODEL_FILE} will be the latest weights, not the best)", flush=True)
    baseline = unigram_entropy([pieces[i] for i in train_idx], len(tokenizer))

    # ---- where we start: step 0, or the last checkpoint
    step, best_val, best_bpn, best_step, elapsed_before = 0, math.inf, None, None, 0.0
    if state is not None:
        saved = torch.load(run / OPTIMIZER_FILE, map_location="cpu", weights_only=True)
        mark = state if saved.get("step", -1) <= state["step"] else saved  # killed before state.json: use the newer
        try:
            optimizer.load_state_dict(saved["optimizer"])
        except (KeyError, ValueError) as e:
            raise ComposerError(f"{run / OPTIMIZER_FILE}: does not fit this model ({e})") from None
        step, elapsed_before = int(mark["step"]), float(mark.get("elapsed_s", 0.0))
        best_val = mark.get("best_val") if mark.get("best_val") is not None else math.inf
        best_bpn, best_step = mark.get("best_val_bits_per_note"), mark.get("best_step")
    metrics = read_metrics(run, step) if state is not None else []
    val_files = sorted(set(shas[i] for i in val_idx))
    val_paths = {shas[i]: index.files[i].path for i in val_idx}

    def summary(at_step: int, elapsed: float) -> dict:
        per_style = {}
        for i in train_idx + val_idx:
            f = index.files[i]
            s = per_style.setdefault(f.style if f.style is not None else "?", {"files": 0, "tokens": 0})
            s["files"] += 1
            s["tokens"] += f.n_tokens
        return {"arch": arch, "size": size, "params": model.num_params(), "steps": at_step, "total_steps": total,
                "best_val_loss": _jsonable(best_val), "best_val_bits_per_note": best_bpn, "best_step": best_step,
                "unigram_baseline": baseline, "training_seconds": round(elapsed, 1), "init_from": init_name,
                "corpus": {"files": len(index.files), "tokens": sum(f.n_tokens for f in index.files),
                           "train_files": len(train_idx), "val_files": len(val_idx), "train_tokens": train_tokens,
                           "styles": dict(sorted(per_style.items()))},
                "device": device, "train_config": asdict(cfg)}

    def save_checkpoint(at_step: int, elapsed: float) -> None:
        """last.safetensors, optimizer.pt, config.json, state.json: in that order (see the module doc)."""
        marks = {"step": at_step, "best_val": _jsonable(best_val), "best_val_bits_per_note": best_bpn,
                 "best_step": best_step, "elapsed_s": round(elapsed, 3)}
        save_weights(model, run / LAST_FILE)
        with atomic_path(run / OPTIMIZER_FILE) as tmp:
            torch.save({**marks, "optimizer": optimizer.state_dict()}, tmp)
        write_run_config(run, model.config.to_dict(), tokenizer, summary(at_step, elapsed), extra)
        write_text_atomic(run / STATE_FILE, json.dumps(
            {"format": "composer-train-state", "version": 1, **marks, "total_steps": total, "arch": arch,
             "size": size, "init_from": init_name, "val_files": val_files, "val_paths": val_paths,
             "config": asdict(cfg)}, indent=1))

    print(f"model: {arch} {size}, {model.num_params() / 1e6:.2f}M parameters on {device}; "
          f"{len(train_idx)} train / {len(val_idx)} validation files, {train_tokens} train tokens; "
          f"unigram baseline {baseline:.3f} nats/token", flush=True)
    if step >= total:
        print(f"{run}: already trained for {step} of {total} steps (pass --steps to train longer)")
        return {**summary(step, elapsed_before), "run_dir": str(run), "interrupted": False,
                "final_train_loss": None, "final_val_loss": _jsonable(best_val)}
    write_run_config(run, model.config.to_dict(), tokenizer, summary(step, elapsed_before), extra)
    write_text_atomic(run / METRICS_FILE, "".join(json.dumps(m) + "\n" for m in metrics))
    print(f"{'resuming at' if step else 'training for'} step {step} of {total}, "
          f"{cfg.batch_size} x {context} tokens per step (~{total * fresh_per_step / max(1, train_tokens):.1f} "
          f"epochs), peak lr {peak_lr:g}", flush=True)

    # ---- 5. the loop
    t_start = time.perf_counter()
    tokens_per_step = cfg.batch_size * context
    loss_sum, loss_n, interval_busy = 0.0, 0, 0.0
    last_train = last_val = None
    saved_at = step if state is not None else None
    interrupted = False
    bar = tqdm(total=total, initial=step, desc="training", unit="step",
               disable=None if progress else True)

    def say(text: str) -> None:
        if progress:
            bar.write(text, file=sys.stdout)

    with bar, CtrlC() as ctrl_c:
        try:
            while step < total:
                if ctrl_c.pressed:
                    raise KeyboardInterrupt
                lr = lr_at(step, total, peak_lr, cfg.warmup, cfg.min_lr_ratio)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                rng = np.random.default_rng([cfg.seed, step])  # the data stream is a function of the step
                x, y = sampler.sample(rng, cfg.batch_size)
                torch.manual_seed(int(rng.integers(2**62)))  # and so is dropout
                x, y = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)

                t0 = time.perf_counter()
                with autocast(device):
                    _, loss = train_model(x, y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                optimizer.step()
                step += 1
                loss_value = loss.item()
                dt = time.perf_counter() - t0
                interval_busy += dt
                if not math.isfinite(loss_value):
                    raise ComposerError(f"training diverged at step {step} (loss {loss_value}); "
                                        f"try a lower --lr (now {peak_lr:g})")
                loss_sum, loss_n = loss_sum + loss_value, loss_n + 1
                bar.set_postfix_str(f"loss {loss_value:.3f}, {tokens_per_step / dt:,.0f} tok/s", refresh=False)
                bar.update()

                if step % cfg.eval_every == 0 or step == total:
                    last_train = loss_sum / loss_n
                    val, bpn = (evaluate(model, val_x, val_y, cfg.batch_size, device, vocab)
                                if val_x is not None else (None, None))
                    last_val = val
                    improved = val is None or val < best_val
                    if improved:
                        if val is not None:
                            best_val, best_bpn, best_step = val, bpn, step
                        save_weights(model, run / MODEL_FILE)
                    elapsed = elapsed_before + time.perf_counter() - t_start
                    m = {"step": step, "train_loss": round(last_train, 5),
                         "val_loss": None if val is None else round(val, 5),
                         "val_bits_per_note": None if bpn is None else round(bpn, 4), "lr": lr,
                         "tokens_per_s": round(tokens_per_step * loss_n / max(interval_busy, 1e-9), 1),
                         "elapsed_s": round(elapsed, 2)}
                    metrics.append(m)
                    with open(run / METRICS_FILE, "a") as f:
                        f.write(json.dumps(m) + "\n")
                    try:
                        plot_losses(run / PLOT_FILE, metrics, baseline)
                    except Exception as e:  # a plot is never worth losing a run over
                        say(f"warning: could not draw {PLOT_FILE} ({type(e).__name__}: {e})")
                    val_text = "" if val is None else f", val {val:.4f}" + (f" ({bpn:.3f} bits/note)" if bpn else "")
                    say(f"step {step}/{total}: train {last_train:.4f}{val_text}, lr {lr:.2e}, "
                        f"{m['tokens_per_s']:,.0f} tok/s{' *' if improved and val is not None else ''}")
                    loss_sum, loss_n, interval_busy = 0.0, 0, 0.0

                if step % cfg.save_every == 0 or step == total:
                    save_checkpoint(step, elapsed_before + time.perf_counter() - t_start)
                    saved_at = step
        except KeyboardInterrupt:
            interrupted = True

        elapsed = elapsed_before + time.perf_counter() - t_start
        if interrupted:
            if saved_at != step:
                save_checkpoint(step, elapsed)
            bar.close()
            print(f"interrupted at step {step}; resume with --resume", flush=True)

    out = {**summary(step, elapsed), "run_dir": str(run), "interrupted": interrupted,
           "final_train_loss": last_train, "final_val_loss": last_val}
    if not interrupted:
        best = "no validation files" if best_val == math.inf else (
            f"best val {best_val:.4f} nats/token" + (f" ({best_bpn:.3f} bits/note)" if best_bpn else "")
            + f" at step {best_step}")
        print(f"trained {step} steps in {elapsed:.0f} s: {best}; unigram baseline {baseline:.4f}; "
              f"model: {run / MODEL_FILE}", flush=True)
    return out


def _with_rehearsal(sampler, run: Path, init_run, state, train_pieces, tokenizer, cfg):
    """Write this run's replay sample (a new run), and mix the base run's windows into the
    batches of a fine-tune (a new one, or a resumed one: its replay file holds them first)."""
    fingerprint = tokenizer.config.fingerprint()
    if state is not None:
        own = load_replay(run, fingerprint)
        base = own[0][:own[1]] if own else None
    else:
        inherited = load_replay(init_run, fingerprint) if init_run is not None else None
        base = inherited[0] if inherited else None
        mine = sample_windows(train_pieces, tokenizer.vocab, sampler.context + 1, seed=cfg.seed)
        save_replay(run, stack_windows(base, mine), 0 if base is None else len(base), fingerprint)
    if base is None or not len(base) or cfg.replay <= 0:
        return sampler
    print(f"rehearsing {len(base)} windows of the base model's styles ({cfg.replay:.0%} of each batch)", flush=True)
    return ReplayMix(sampler, base, cfg.replay, tokenizer.vocab.style)


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


def _tokenizer_of(run: Path) -> Tokenizer:
    try:
        return Tokenizer.from_dict(read_run_config(run)["tokenizer"])
    except (KeyError, ValueError, TypeError) as e:
        raise ComposerError(f"{run}: bad tokenizer config ({e})") from None


def validation_by_style(run, cache_dir=None, windows: int = 32, batch_size: int = 8, device: str = "cpu") -> dict:
    """Validation NLL per style of a trained run, on its own held-out files (state.json's split)
    from its token cache: {style: {"files", "nats_per_token", "bits_per_note"}}."""
    run = Path(run)
    state = read_state(run)
    cache_dir = Path(cache_dir) if cache_dir is not None else run / "cache"
    index = load_index(cache_dir)
    model, tokenizer, _ = load_run(run, device=device)
    vocab, held_out = tokenizer.vocab, set(state["val_files"])
    by_style: dict[str, list] = {}
    for i, f in enumerate(index.files):
        if f.sha256 in held_out:
            by_style.setdefault(f.style or UNKNOWN_STYLE, []).append(
                index_piece(index.open_tokens(i), vocab.style_id(f.style), vocab))
    if not by_style:
        raise ComposerError(f"{run}: none of its validation files are in {cache_dir}")
    out = {}
    for style, pieces in sorted(by_style.items()):
        sampler = WindowSampler(pieces, vocab, min(state["config"]["context"], model.config.context),
                                style_dropout=0.0, transpose=0)
        x, y = sampler.fixed_windows(windows, seed=0)
        nats, bits = evaluate(model, x, y, batch_size, device, vocab)
        out[style] = {"files": len(pieces), "nats_per_token": round(nats, 4),
                      "bits_per_note": None if bits is None else round(bits, 4)}
    return out
