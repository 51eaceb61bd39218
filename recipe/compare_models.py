"""Validation loss per style of a trained run and of another model, on the run's own held-out
files: did a fine-tune (e.g. the one that taught the bundled model to infill) keep what its
base could do?

    python recipe/compare_models.py --run $WORK/runs/infill --other default [--windows 64]
    python recipe/compare_models.py --run $WORK/runs/infill --other default --files $WORK/corpus_heldout

With --files, every piece of that folder (style = first sub-folder) instead: use it when the
other model trained on the run's validation files (a base trained on the same corpus with
another split). Both models read the same windows (plain continuation, no hidden cells; the other model's
token ids are mapped by name, so a base from before the Fill tokens reads them too).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from composer.bars import index_piece  # noqa: E402
from composer.checkpoint import load_torch_run, resolve_run  # noqa: E402
from composer.corpus import load_index, tokenize_corpus  # noqa: E402
from composer.training.loop import validation_loss  # noqa: E402
from composer.training.run_dir import read_state  # noqa: E402
from composer.training.windows import WindowSampler  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", type=Path, required=True, help="a run folder from compose train (with its cache)")
    ap.add_argument("--other", default="default", help="another run folder, or default (the bundled model)")
    ap.add_argument("--windows", type=int, default=64, help="windows per style")
    ap.add_argument("--files", type=Path, default=None, help="score these pieces instead of the run's validation files")
    args = ap.parse_args()
    model, tok, _ = load_torch_run(args.run)
    if args.files is None:
        state = read_state(args.run)
        index = load_index(args.run / "cache")
        held_out = set(state["val_files"])
    else:
        cache = Path(tempfile.mkdtemp(prefix="compare_cache_"))
        tokenize_corpus([args.files], cache, tok, progress=False)
        index = load_index(cache)
        held_out = {f.sha256 for f in index.files}
    other, other_tok, _ = load_torch_run(resolve_run(None if args.other == "default" else args.other))
    to_other = other_tok.ids_from(tok)  # this run's ids -> the other model's
    by_style: dict = {}
    for i, f in enumerate(index.files):
        if f.sha256 in held_out:
            by_style.setdefault(f.style, []).append(index_piece(index.open_tokens(i), tok.vocab.style_id(f.style),
                                                                tok.vocab))
    print(f"| style | files | {args.run.name} nats/token | {args.other} nats/token | "
          f"{args.run.name} bits/note | {args.other} bits/note |")
    print("|---|---|---|---|---|---|")
    totals = np.zeros(2)
    for style, pieces in sorted(by_style.items()):
        ctx = min(model.config.context, other.config.context)
        x, y = WindowSampler(pieces, tok.vocab, ctx, style_dropout=0.0, transpose=0).fixed_windows(args.windows)
        mine = validation_loss(model, x, y, 8, "cpu", tok.vocab)
        theirs = validation_loss(other, to_other[x], to_other[y], 8, "cpu", other_tok.vocab)
        totals += [mine[0], theirs[0]]
        print(f"| {style} | {len(pieces)} | {mine[0]:.4f} | {theirs[0]:.4f} | {mine[1]:.3f} | {theirs[1]:.3f} |")
    n = len(by_style)
    print(f"| mean of styles | | {totals[0] / n:.4f} | {totals[1] / n:.4f} | | |")


if __name__ == "__main__":
    main()
