"""The training loop, top to bottom, on what start.py set up (train_loop), and the pieces it is
made of: the learning-rate schedule, the optimizer, bf16 autocast, the validation loss, Ctrl-C.

Each step: set the learning rate (linear warm-up, cosine decay), sample a batch of windows,
forward, backward, clip, step. Every eval_every steps (and at the end): the validation loss, a
line of metrics.jsonl, loss.png, and model.safetensors when the validation loss improved.
Every save_every steps (and at the end): a checkpoint (run_dir.py says what lands in RUN_DIR,
and why in that order). Ctrl-C: save a checkpoint and say how to resume.

The data stream needs no saved RNG: step s draws its windows from
`np.random.default_rng([seed, s])` (and seeds dropout from it), so a resumed run sees exactly
the batches an uninterrupted one would.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from ..checkpoint import MODEL_FILE, load_torch_run, write_run_config
from ..errors import ComposerError, RuntimeFailure
from ..model import save_weights
from ..vocab import PAD, UNKNOWN_STYLE
from .run_dir import PLOT_FILE, append_metrics, jsonable, plot_losses, read_state, write_checkpoint, write_metrics
from .windows import WindowSampler, index_piece

if TYPE_CHECKING:
    from .start import RunStart

TRACE = os.environ.get("COMPOSER_TRACE_BATCHES")  # tests: a file prefix; each rank logs its micro-batches there


def train_loop(s: RunStart, progress: bool = True) -> dict:
    """Train from where `s` stands to s.total steps (or Ctrl-C); the summary train() returns."""
    from tqdm import tqdm

    cfg, marks = s.cfg, s.marks
    print(f"model: {s.model.config.arch} {s.size}, {s.model.num_params() / 1e6:.2f}M parameters on {s.device}; "
          f"{s.corpus['train_files']} train / {s.corpus['val_files']} validation files, {s.train_tokens} train "
          f"tokens; unigram baseline {s.baseline:.3f} nats/token", flush=True)
    if marks.step >= s.total:
        print(f"{s.run}: already trained for {marks.step} of {s.total} steps (pass --steps to train longer)")
        return {**s.summary(), "run_dir": str(s.run), "interrupted": False,
                "final_train_loss": None, "final_val_loss": jsonable(marks.best_val)}
    main = s.dist.main  # only rank 0 writes (a single process is rank 0)
    if main:
        write_run_config(s.run, s.model.config.to_dict(), s.tokenizer, s.summary(), s.extra)
        write_metrics(s.run, s.metrics)
    print(f"{'resuming at' if marks.step else 'training for'} step {marks.step} of {s.total}, "
          f"{cfg.batch_size} x {cfg.context} tokens per step (~{s.total * s.fresh_per_step / max(1, s.train_tokens):.1f} "
          f"epochs), peak lr {cfg.lr:g}", flush=True)
    if s.dist.on or cfg.grad_accum > 1:
        print(f"batch: {cfg.batch_size} windows a step in all = {s.dist.world} rank{'s' if s.dist.world > 1 else ''} "
              f"x {cfg.grad_accum} micro-step{'s' if cfg.grad_accum > 1 else ''} x "
              f"{cfg.batch_size // (s.dist.world * cfg.grad_accum)} windows"
              + (f" ({s.dist.backend})" if s.dist.on else ""), flush=True)

    t_start, elapsed_before = time.perf_counter(), marks.elapsed_s

    def clock() -> float:
        return elapsed_before + time.perf_counter() - t_start

    tokens_per_step = cfg.batch_size * cfg.context
    interval, last_train, last_val = _Interval(), None, None
    saved_at = marks.step if s.mode == "resume" else None
    interrupted = stopped_together = False
    bar = tqdm(total=s.total, initial=marks.step, desc="training", unit="step", disable=None if progress else True)

    def say(text: str) -> None:
        if progress:
            bar.write(text, file=sys.stdout)

    with bar, CtrlC(debounce=s.dist.on) as ctrl_c:
        try:
            while marks.step < s.total:
                if s.dist.any(ctrl_c.pressed, s.device):  # a signal on any rank stops them all, after the same step
                    stopped_together = True
                    raise KeyboardInterrupt
                lr = lr_at(marks.step, s.total, cfg.lr, cfg.warmup, cfg.min_lr_ratio)
                loss, dt = _train_step(s, marks.step, lr)
                marks.step += 1
                interval.busy += dt
                if not math.isfinite(loss):
                    raise RuntimeFailure(f"training diverged at step {marks.step} (loss {loss}); "
                                        f"try a lower --lr (now {cfg.lr:g})")
                interval.loss_sum, interval.n = interval.loss_sum + loss, interval.n + 1
                bar.set_postfix_str(f"loss {loss:.3f}, {tokens_per_step / dt:,.0f} tok/s", refresh=False)
                bar.update()

                if marks.step % cfg.eval_every == 0 or marks.step == s.total:
                    if main:
                        last_train, last_val = _evaluate(s, lr, interval, clock, say)
                    interval = _Interval()
                if marks.step % cfg.save_every == 0 or marks.step == s.total:
                    marks.elapsed_s = clock()
                    if main:
                        write_checkpoint(s.run, s.model, s.optimizer, s.tokenizer, marks, s.summary(), s.extra,
                                         s.state())
                    saved_at = marks.step
        except KeyboardInterrupt:
            interrupted = True
        except RuntimeError as e:
            if not s.dist.on or isinstance(e, ComposerError):
                raise
            last = f"its checkpoint of step {saved_at}" if saved_at is not None else "no checkpoint yet"
            raise RuntimeFailure(f"training stopped at step {marks.step} on rank {s.dist.rank} "
                                 f"({str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__}; "
                                 f"a rank that dies stops the others this way); {s.run} keeps {last}") from None

        marks.elapsed_s = clock()
        if interrupted:
            if saved_at != marks.step and main:
                write_checkpoint(s.run, s.model, s.optimizer, s.tokenizer, marks, s.summary(), s.extra, s.state())
            if stopped_together:  # no rank exits (and has torchrun stop the others) before rank 0 has saved
                s.dist.barrier()
            bar.close()
            print(f"interrupted at step {marks.step}; resume with --resume", flush=True)

    out = {**s.summary(), "run_dir": str(s.run), "interrupted": interrupted,
           "final_train_loss": last_train, "final_val_loss": last_val}
    if not interrupted:
        print(_trained_line(s), flush=True)
    return out


def _trained_line(s: RunStart) -> str:
    m = s.marks
    best = "no validation files" if m.best_val == math.inf else (
        f"best val {m.best_val:.4f} nats/token" + (f" ({m.best_bpn:.3f} bits/note)" if m.best_bpn else "")
        + f" at step {m.best_step}")
    return (f"trained {m.step} steps in {m.elapsed_s:.0f} s: {best}; unigram baseline {s.baseline:.4f}; "
            f"model: {s.run / MODEL_FILE}")


@dataclass
class _Interval:
    """Train losses and the seconds the model took, since the last evaluation."""

    loss_sum: float = 0.0
    n: int = 0
    busy: float = 0.0


def _train_step(s: RunStart, step: int, lr: float) -> tuple[float, float]:
    """One optimizer step on the batch of `step`: (its loss, the seconds the model took)."""
    if s.dist.on or s.cfg.grad_accum > 1:
        return _train_step_split(s, step, lr)
    for group in s.optimizer.param_groups:
        group["lr"] = lr
    rng = Draws(np.random.default_rng([s.cfg.seed, step]), s.cdfs)  # the data stream is a function of the step
    x, y = s.sampler.sample(rng, s.cfg.batch_size)
    torch.manual_seed(int(rng.integers(2**62)))  # and so is dropout
    x, y = torch.from_numpy(x).to(s.device), torch.from_numpy(y).to(s.device)

    t0 = time.perf_counter()
    with autocast(s.device):
        _, loss = s.train_model(x, y)
    s.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if s.cfg.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(s.model.parameters(), s.cfg.grad_clip)
    s.optimizer.step()
    loss_value = loss.item()
    return loss_value, time.perf_counter() - t0


def _train_step_split(s: RunStart, step: int, lr: float) -> tuple[float, float]:
    """One optimizer step with the batch split into ranks x grad_accum micro-batches.

    Every rank draws the whole batch of `step` (the same windows a single process draws) and
    trains on its share: micro-batch m = rank * grad_accum + j of `batch_size / (ranks *
    grad_accum)` rows, dropout seeded per micro-batch. Each micro-batch's summed loss is
    divided by the batch's target count (times the rank count, which DDP's gradient average
    divides out), so the gradient is the mean loss of the whole batch, as a single process
    computes it; gradients are averaged over ranks once, on the last micro-step (no_sync before).
    So N ranks give (to float rounding) the weights of one process, and so does any rank count
    on resuming; with dropout, those of one process with --grad-accum N x grad_accum.
    """
    cfg, dist = s.cfg, s.dist
    for group in s.optimizer.param_groups:
        group["lr"] = lr
    parts = dist.world * cfg.grad_accum
    rows = cfg.batch_size // parts
    rng = Draws(np.random.default_rng([cfg.seed, step]), s.cdfs)
    x, y = s.sampler.sample(rng, cfg.batch_size)
    seeds = [int(rng.integers(2**62)) for _ in range(parts)]
    targets = int((y != PAD).sum())
    scale = dist.world / max(1, targets)

    t0 = time.perf_counter()
    s.optimizer.zero_grad(set_to_none=True)
    nll = 0.0
    for j in range(cfg.grad_accum):
        m = dist.rank * cfg.grad_accum + j
        xb = torch.from_numpy(x[m * rows:(m + 1) * rows]).to(s.device)
        yb = torch.from_numpy(y[m * rows:(m + 1) * rows]).to(s.device)
        torch.manual_seed(seeds[m])
        last = j == cfg.grad_accum - 1
        with (s.ddp.no_sync() if s.ddp is not None and not last else contextlib.nullcontext()):
            with autocast(s.device):
                logits, _ = s.train_model(xb)
            loss = F.cross_entropy(logits.float().flatten(0, 1), yb.flatten(), ignore_index=PAD, reduction="sum")
            (loss * scale).backward()
        nll += loss.item()
        if TRACE:  # tests: which windows each rank trained on
            with open(f"{TRACE}.rank{dist.rank}", "a") as f:
                f.write(f"{step} {m} {hashlib.sha256(x[m * rows:(m + 1) * rows].tobytes()).hexdigest()[:16]}\n")
    if cfg.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(s.model.parameters(), cfg.grad_clip)
    s.optimizer.step()
    loss_value = dist.sum(nll, s.device) / max(1, targets)
    return loss_value, time.perf_counter() - t0


class Draws:
    """A numpy Generator whose `choice(n, p=weights)` reuses the cumulative weights of earlier
    calls with the same array: numpy recomputes (and checks) them at every call, which costs
    O(pieces) a window (a corpus of 100,000 pieces samples 1,000 windows/s). The draws are
    numpy's own, bit for bit: the same cdf (cumsum, divided by its last entry), one
    `random()`, searchsorted to the right (a test holds this to numpy's choice). Everything
    else goes to the Generator."""

    def __init__(self, rng: np.random.Generator, cdfs: dict):
        self._rng, self._cdfs = rng, cdfs

    def choice(self, a, size=None, replace=True, p=None, *args, **kwargs):
        if p is None or size is not None or not replace or args or kwargs or not isinstance(a, (int, np.integer)):
            return self._rng.choice(a, size, replace, p, *args, **kwargs)
        held = self._cdfs.get(id(p))
        if held is None or held[0] is not p or len(held[1]) != a:
            cdf = np.asarray(p, dtype=np.float64).cumsum()
            cdf /= cdf[-1]
            held = self._cdfs[id(p)] = (p, cdf)
        return np.int64(held[1].searchsorted(self._rng.random(), side="right"))

    def __getattr__(self, name):
        return getattr(self._rng, name)


def _evaluate(s: RunStart, lr: float, interval: _Interval, clock, say) -> tuple[float, float | None]:
    """The validation loss; model.safetensors when it improved (or with no validation); a line
    of metrics.jsonl; loss.png. (mean train loss of the interval, validation loss or None)."""
    marks, cfg = s.marks, s.cfg
    train_loss = interval.loss_sum / interval.n
    val, bpn = (validation_loss(s.model, s.val_x, s.val_y, cfg.batch_size, s.device, s.tokenizer.vocab)
                if s.val_x is not None else (None, None))
    improved = val is None or val < marks.best_val
    if improved:
        if val is not None:
            marks.best_val, marks.best_bpn, marks.best_step = val, bpn, marks.step
        save_weights(s.model, s.run / MODEL_FILE)
    m = {"step": marks.step, "train_loss": round(train_loss, 5), "val_loss": None if val is None else round(val, 5),
         "val_bits_per_note": None if bpn is None else round(bpn, 4), "lr": lr,
         "tokens_per_s": round(cfg.batch_size * cfg.context * interval.n / max(interval.busy, 1e-9), 1),
         "elapsed_s": round(clock(), 2)}
    s.metrics.append(m)
    append_metrics(s.run, m)
    try:
        plot_losses(s.run / PLOT_FILE, s.metrics, s.baseline)
    except Exception as e:  # a plot is never worth losing a run over
        say(f"warning: could not draw {PLOT_FILE} ({type(e).__name__}: {e})")
    val_text = "" if val is None else f", val {val:.4f}" + (f" ({bpn:.3f} bits/note)" if bpn else "")
    say(f"step {marks.step}/{s.total}: train {train_loss:.4f}{val_text}, lr {lr:.2e}, "
        f"{m['tokens_per_s']:,.0f} tok/s{' *' if improved and val is not None else ''}")
    return train_loss, val


# --------------------------------------------------------------------------- schedule, optimizer, precision


def lr_at(step: int, total: int, peak: float, warmup: int, min_ratio: float) -> float:
    """Linear warm-up to `peak`, then cosine decay to peak * min_ratio at `total`."""
    warmup = min(warmup, total // 4)
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def make_optimizer(model, lr: float, weight_decay: float, device: str) -> torch.optim.AdamW:
    """AdamW, weight decay on 2-D parameters (matrices, embedding) only; fused on CUDA."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    extra = {"fused": True} if device.startswith("cuda") else {}
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.95), **extra)


def autocast(device: str):
    """bf16 autocast on CUDA (any cuda:N); full precision elsewhere."""
    if device.startswith("cuda"):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


class CtrlC:
    """The first Ctrl-C (or SIGTERM) asks the loop to stop after the current step (it then
    saves); a second one raises KeyboardInterrupt at once. Only in the main thread (signals go
    nowhere else). With `debounce` (under torchrun, which passes on to every rank the signal it
    got itself, just after the terminal sent it to them), a second signal within a second of the
    first is the same request."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, debounce: bool = False):
        self.pressed, self._old, self._at, self.debounce = False, {}, 0.0, debounce

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.pressed:
            if self.debounce and time.monotonic() - self._at < 1.0:
                return
            raise KeyboardInterrupt
        self.pressed, self._at = True, time.monotonic()
        what = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        sys.stderr.write(f"\n{what}: saving after this step (press Ctrl-C again to stop at once)\n")

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)
        return False


# --------------------------------------------------------------------------- validation loss


@torch.no_grad()
def validation_loss(model, x: np.ndarray, y: np.ndarray, batch_size: int, device: str,
                    vocab) -> tuple[float, float | None]:
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


def validation_by_style(run, cache_dir=None, windows: int = 32, batch_size: int = 8, device: str = "cpu") -> dict:
    """Validation loss per style of a trained run, on its own held-out files (state.json's split)
    from its token cache: {style: {"files", "nats_per_token", "bits_per_note"}}."""
    from ..corpus import load_index

    run = Path(run)
    state = read_state(run)
    cache_dir = Path(cache_dir) if cache_dir is not None else run / "cache"
    index = load_index(cache_dir)
    model, tokenizer, _ = load_torch_run(run, device=device)
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
        nats, bits = validation_loss(model, x, y, batch_size, device, vocab)
        out[style] = {"files": len(pieces), "nats_per_token": round(nats, 4),
                      "bits_per_note": None if bits is None else round(bits, 4)}
    return out
