"""A training run's folder on disk: what training writes there, in what order, how a resumed
run reads it back, and how a new run that fails leaves nothing behind.

What lands in RUN_DIR (see checkpoint.py for the files generation reads):

    model.safetensors  best weights so far (lowest validation loss): what `generate` uses
    config.json        model + tokenizer config, styles, training summary
    last.safetensors   latest weights                      \\
    optimizer.pt       AdamW state + step (torch.save)      > what --resume continues from
    state.json         step, best loss, validation files,  /  train config, elapsed time
    metrics.jsonl      one JSON line per evaluation
    loss.png           train and validation loss against step
    replay.safetensors a sample of the training windows, rehearsed by later fine-tunes (replay.py)
    cache/             the token cache (unless cache_dir says otherwise)

Checkpoints. Every file is written atomically, and in an order that keeps the run usable
wherever a kill lands: last.safetensors, then optimizer.pt (which carries its own step), then
config.json, then state.json (write_checkpoint). A kill after optimizer.pt but before
state.json resumes from the step optimizer.pt records (read_optimizer). metrics.jsonl may hold
lines past the checkpoint, or a half-written one: a resumed run keeps those up to its step.

A new run (an empty or missing folder) that fails or is stopped before its first state.json
removes what it wrote, its own token cache, and the folders it made (removed_if_new_run_fails).
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..atomic import atomic_path, write_text_atomic
from ..checkpoint import CONFIG_FILE, MODEL_FILE, write_run_config
from ..errors import ComposerError
from .replay import REPLAY_FILE

LAST_FILE, OPTIMIZER_FILE, STATE_FILE = "last.safetensors", "optimizer.pt", "state.json"
METRICS_FILE, PLOT_FILE = "metrics.jsonl", "loss.png"


def jsonable(x):
    """None for None and for a float JSON cannot hold (inf: no validation loss yet)."""
    return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else x


@dataclass
class Marks:
    """Where a run stands: its step, best validation loss so far, and training time. Written into
    optimizer.pt and state.json at every checkpoint."""

    step: int = 0
    best_val: float = math.inf
    best_bpn: float | None = None  # bits per note at best_val
    best_step: int | None = None
    elapsed_s: float = 0.0  # training seconds, over every process the run has had

    @classmethod
    def read(cls, saved: dict) -> Marks:
        best_val = saved.get("best_val")
        return cls(int(saved["step"]), best_val if best_val is not None else math.inf,
                   saved.get("best_val_bits_per_note"), saved.get("best_step"), float(saved.get("elapsed_s", 0.0)))

    def to_json(self) -> dict:
        return {"step": self.step, "best_val": jsonable(self.best_val), "best_val_bits_per_note": self.best_bpn,
                "best_step": self.best_step, "elapsed_s": round(self.elapsed_s, 3)}


# --------------------------------------------------------------------------- reading (--resume)


def read_state(run: Path) -> dict:
    """state.json of a run to resume (refused when it, last.safetensors or optimizer.pt is
    missing); clears the temp files a kill mid-write left."""
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
    for tmp in _temp_files(run):  # left by a kill mid-write
        tmp.unlink(missing_ok=True)
    return state


def read_optimizer(run: Path, state: dict, optimizer) -> Marks:
    """Load optimizer.pt into `optimizer`; the marks to resume from: state.json's, or
    optimizer.pt's when a kill landed between the two (it is then the newer)."""
    import torch

    saved = torch.load(run / OPTIMIZER_FILE, map_location="cpu", weights_only=True)
    mark = state if saved.get("step", -1) <= state["step"] else saved
    try:
        optimizer.load_state_dict(saved["optimizer"])
    except (KeyError, ValueError) as e:
        raise ComposerError(f"{run / OPTIMIZER_FILE}: does not fit this model ({e})") from None
    return Marks.read(mark)


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


# --------------------------------------------------------------------------- writing


def write_checkpoint(run: Path, model, optimizer, tokenizer, marks: Marks, summary: dict, extra: dict,
                     state: dict) -> None:
    """last.safetensors, optimizer.pt, config.json, state.json: in that order (see the module
    doc). `state` is what state.json holds besides the marks."""
    import torch

    from ..model import save_weights

    save_weights(model, run / LAST_FILE)
    with atomic_path(run / OPTIMIZER_FILE) as tmp:
        torch.save({**marks.to_json(), "optimizer": optimizer.state_dict()}, tmp)
    write_run_config(run, model.config.to_dict(), tokenizer, summary, extra)
    write_text_atomic(run / STATE_FILE, json.dumps(
        {"format": "composer-train-state", "version": 1, **marks.to_json(), **state}, indent=1))


def write_metrics(run: Path, metrics: list[dict]) -> None:
    """metrics.jsonl as `metrics` (a resumed run drops the lines past its checkpoint)."""
    write_text_atomic(run / METRICS_FILE, "".join(json.dumps(m) + "\n" for m in metrics))


def append_metrics(run: Path, m: dict) -> None:
    with open(run / METRICS_FILE, "a") as f:
        f.write(json.dumps(m) + "\n")


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


# --------------------------------------------------------------------------- a new run that fails


@contextlib.contextmanager
def removed_if_new_run_fails(run: Path, resume: bool, cache_dir):
    """Around a whole training call: when `run` is a new run (missing, or an empty folder) and
    anything fails (or Ctrl-C) before its first state.json, remove what the run wrote, its own
    token cache and the folders it made, then let the error through."""
    new_folders = _missing_folders(run)
    fresh = not resume and (bool(new_folders) or (run.is_dir() and not holds_files(run)))
    try:
        yield
    except BaseException:
        if fresh and not (run / STATE_FILE).exists():
            with contextlib.suppress(OSError):  # the error that got us here is the one to report
                _remove_new_run(run, new_folders, Path(cache_dir) if cache_dir is not None else None)
        raise


def holds_files(folder: Path) -> bool:
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


def _temp_files(run: Path) -> list[Path]:
    return [*run.glob(".*.tmp"), *run.glob("*.safetensors.*.tmp")]


def _remove_new_run(run: Path, new_folders: list[Path], cache_dir: Path | None) -> None:
    """Undo a new run with no checkpoint: the files it wrote into `run` (which was empty or
    missing), its own token cache, then the folders it made, where nothing else is in them."""
    for name in (MODEL_FILE, CONFIG_FILE, LAST_FILE, OPTIMIZER_FILE, STATE_FILE, METRICS_FILE, PLOT_FILE,
                 REPLAY_FILE, *(p.name for p in _temp_files(run))):
        (run / name).unlink(missing_ok=True)
    if cache_dir is None:
        shutil.rmtree(run / "cache", ignore_errors=True)
    for folder in new_folders:
        try:
            folder.rmdir()
        except OSError:  # not empty (or gone): keep it and everything above it
            break
