"""A run directory on disk: what training writes and generation reads.

    RUN_DIR/model.safetensors   best weights (lowest validation loss): what `generate` uses
    RUN_DIR/config.json         model config, tokenizer config + vocabulary, styles, training summary
    RUN_DIR/last.safetensors    latest weights, for --resume
    RUN_DIR/optimizer.pt        optimizer state (tensors only; loaded with weights_only=True)
    RUN_DIR/state.json          step, best validation loss, data split, for --resume

Weights are safetensors, configs JSON: nothing here ever unpickles. Every write is atomic.
The bundled model is a run directory too (`data/`, installed as `composer._data`).
"""

from __future__ import annotations

import json
from pathlib import Path

from .atomic import write_text_atomic
from .errors import ComposerError
from .tokenizer import Tokenizer

MODEL_FILE, CONFIG_FILE = "model.safetensors", "config.json"


def bundled_dir() -> Path:
    """Where the bundled model lives: data/ in a source checkout, composer/_data when installed."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "data", here / "_data"):
        if (candidate / MODEL_FILE).exists():
            return candidate
    try:
        from importlib.resources import files
        return Path(str(files("composer._data")))
    except (ModuleNotFoundError, TypeError):
        return here.parent / "data"


def resolve_run(path) -> Path:
    """A run directory (or its model.safetensors), or 'default' for the bundled model."""
    if path is None or str(path) == "default":
        run = bundled_dir()
        if not (run / MODEL_FILE).exists():
            raise ComposerError("no bundled model is installed; train one with 'compose train' and pass --model RUN_DIR")
        return run
    p = Path(path)
    if p.is_file() and p.name.endswith(".safetensors"):
        p = p.parent
    if not p.exists():
        raise ComposerError(f"{path}: no such model directory")
    if not (p / MODEL_FILE).exists() or not (p / CONFIG_FILE).exists():
        raise ComposerError(f"{path}: not a model directory (needs {MODEL_FILE} and {CONFIG_FILE})")
    return p


def read_run_config(run: Path) -> dict:
    try:
        return json.loads((run / CONFIG_FILE).read_text())
    except (OSError, ValueError) as e:
        raise ComposerError(f"{run / CONFIG_FILE}: unreadable model config ({e})") from None


# per-style notes a run keeps from the run it was fine-tuned from (and across --resume)
INHERITED = ("guidance", "guidance_bars", "style_sources", "style_instruments")


def inherited(config: dict) -> dict:
    """The INHERITED entries of a run config, for the runs that continue it."""
    return {k: config[k] for k in INHERITED if k in config}


def write_run_config(run: Path, model_config: dict, tokenizer: Tokenizer, summary: dict,
                     extra: dict | None = None) -> None:
    config = {"format": "composer-run", "version": 1, "model": model_config,
              "tokenizer": tokenizer.to_dict(), "styles": tokenizer.config.styles, "summary": summary,
              **(extra or {})}
    write_text_atomic(run / CONFIG_FILE, json.dumps(config, indent=1))


def open_run(path) -> tuple[Path, Tokenizer, dict]:
    """(run directory, tokenizer, config dict) of a run directory or the bundled model."""
    run = resolve_run(path)
    config = read_run_config(run)
    try:
        tokenizer = Tokenizer.from_dict(config["tokenizer"])
    except (KeyError, ValueError, TypeError) as e:
        raise ComposerError(f"{run / CONFIG_FILE}: bad tokenizer config ({e})") from None
    return run, tokenizer, config


def check_vocab(run: Path, vocab_size: int, tokenizer: Tokenizer) -> None:
    if vocab_size != len(tokenizer):
        raise ComposerError(f"{run}: model vocabulary ({vocab_size}) does not match its tokenizer ({len(tokenizer)})")


def load_torch_run(path, device: str = "cpu"):
    """(torch model in eval mode, tokenizer, config dict) of a run directory or the bundled model."""
    from .model import load_torch_model  # torch is imported only here

    run, tokenizer, config = open_run(path)
    model = load_torch_model(run / MODEL_FILE, device=device)
    check_vocab(run, model.config.vocab_size, tokenizer)
    return model, tokenizer, config
