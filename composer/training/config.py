"""The training settings: TrainConfig (what `compose train`'s options set), its checks, and
which of them a resumed run may change (resumed_config). No torch here."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from ..errors import ComposerError

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
    infill: float = 0.5  # share of windows with bars / a bar's instruments hidden and written after
    #                      the piece (composer/fills.py): what `compose infill` and `arrange` need
    replay: float = 0.5  # fine-tuning: share of each batch rehearsed from the base run's windows (replay.py)
    compile: bool = False  # torch.compile the model
    workers: int | None = None  # tokenising processes (None: all cores)
    grad_accum: int = 1  # micro-steps a step: the batch is split over ranks x grad_accum (dist.py)

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
        if not 0 <= self.infill <= 1:
            bad(f"infill={self.infill} (must be in [0, 1])")
        if self.grad_accum < 1 or self.batch_size % self.grad_accum:
            bad(f"grad_accum={self.grad_accum} (must be at least 1 and divide batch_size={self.batch_size})")
        if self.device not in ("auto", "cpu", "cuda", "mps"):
            bad(f"device={self.device!r} (expected auto, cpu, cuda or mps)")


# Settings a resumed run may change: how this process runs, and how long the run is.
RUNTIME_FIELDS = ("device", "workers", "compile", "steps", "epochs", "grad_accum")


def resumed_config(cfg: TrainConfig, saved: dict) -> TrainConfig:
    """The run's saved settings, with this call's runtime fields; a conflicting setting is an error."""
    known = {f.name for f in fields(TrainConfig)}
    saved = {"keep_key": 0.0, "infill": 0.0, **saved}  # runs from before keep_key transposed every
    #                                                    window, and from before infill hid nothing
    old = TrainConfig(**{k: v for k, v in saved.items() if k in known})
    default = TrainConfig()
    for f in fields(TrainConfig):
        if f.name in RUNTIME_FIELDS:
            continue
        mine, theirs = getattr(cfg, f.name), getattr(old, f.name)
        if mine != getattr(default, f.name) and mine != theirs:
            raise ComposerError(f"cannot change {f.name} when resuming (the run uses {theirs!r}, "
                                f"got {mine!r}); start a new run or fine-tune with --from")
    new = {k: getattr(cfg, k) for k in ("device", "workers", "compile", "grad_accum")}
    if cfg.steps is not None or cfg.epochs is not None:
        new.update(steps=cfg.steps, epochs=cfg.epochs)
    return replace(old, **new)
