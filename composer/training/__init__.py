"""Training: `compose train CORPUS... --out RUN_DIR`, a new run, --resume, or a fine-tune --from.

    summary = train(["data/corpus"], "runs/pop", TrainConfig(size="small", steps=2000))

Reads like nanoGPT's train.py, one concern a module:

    config.py   TrainConfig: the settings, their checks, what a resumed run may change
    start.py    the start of a run: new, resumed or fine-tune, decided once; every refusal;
                corpus, tokenizer, split, model, data, and where the run stands (RunStart)
    loop.py     the loop: sample windows, forward, backward, clip, step; evaluate and
                checkpoint every so often; Ctrl-C. The lr schedule, optimizer, validation loss
    run_dir.py  what lands in RUN_DIR and in what order (checkpoints), reading it back for
                --resume, and removing a new run that failed
    dist.py     several processes (torchrun): the process group, what only rank 0 does
    windows.py  training windows from the token cache, the train/validation split
    replay.py   the windows a run keeps for later fine-tunes to rehearse

The corpus pipeline (find files, tokenise, cache) is composer/corpus.py: `compose tokenize`
and evaluation use it too. Importing this package is cheap: torch loads with start/loop.
"""

from __future__ import annotations

from pathlib import Path

from .config import TrainConfig


def train(roots, out_dir, cfg: TrainConfig | None = None, style: str | None = None, resume: bool = False,
          init_from=None, cache_dir=None, progress: bool = True) -> dict:
    """Train (or --resume, or fine-tune --from) a model on the music under `roots` into `out_dir`.

    Returns the training summary (also stored in config.json) plus run_dir, interrupted,
    final_train_loss and final_val_loss. Raises ComposerError for anything the user can fix.
    A new run that fails (or is stopped) before its first checkpoint leaves nothing behind.
    """
    import contextlib
    import os

    from .dist import Dist
    from .loop import train_loop
    from .run_dir import removed_if_new_run_fails
    from .start import start_run

    run, cfg = Path(out_dir), cfg or TrainConfig()
    dist = Dist.from_env(cfg.device)  # under torchrun: this process's rank; else a single process
    with contextlib.ExitStack() as stack:
        stack.callback(dist.close)
        if dist.main:
            stack.enter_context(removed_if_new_run_fails(run, resume, cache_dir))
        else:  # only rank 0 writes or prints
            stack.enter_context(contextlib.redirect_stdout(stack.enter_context(open(os.devnull, "w"))))
            progress = False
        start = start_run(roots, run, cfg, style, resume, init_from, cache_dir, progress, dist)
        return train_loop(start, progress)


__all__ = ["TrainConfig", "train"]
