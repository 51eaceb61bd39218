"""Measure a model the way the README's model card does, and print the card's table.

    python recipe/evaluate_model.py --model default --heldout $WORK/corpus_heldout \
        --train $WORK/corpus --out /tmp/eval [--n 10] [--bars 16] [--guidance G] [--reuse]

($WORK: the folder outside the checkout that holds the builds; see recipe/README.md.)

1. Generates --n pieces of --bars bars per style into OUT/generated/<style>/.
2. Compares them with the held-out real pieces (never seen in training): metrics, overlapping
   areas of the pitch-class / interval / IOI / duration distributions, and the accuracy of a
   style classifier trained on the held-out pieces.
3. The ceiling: the same comparison of the held-out pieces with up to --n-train pieces per
   style of the training corpus (real against real), and the classifier's cross-validated
   accuracy on the held-out pieces.
Writes OUT/generated.json, OUT/ceiling.json and plots; prints a markdown table.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from composer.corpus import discover  # noqa: E402
from composer.evaluate import evaluate_dirs  # noqa: E402

DISTS = ("pitch_class", "interval", "ioi", "duration")


def generate(model_path: str, styles: list[str], out: Path, n: int, bars: int, guidance: float | None,
             seed: int) -> float:
    from composer.generate import load_model

    model = load_model(None if model_path == "default" else model_path)
    t0 = time.perf_counter()
    for style in styles:
        scores = model.generate_batch(style=style, bars=bars, num_samples=n, seed=seed, guidance=guidance,
                                      top_p=0.95)
        for i, score in enumerate(scores, 1):
            model.save(score, out / style / f"out_{i:02d}.mid", title=f"composer {style}")
        g = model.guidance_for(style) if guidance is None else guidance
        print(f"generated {n} x {bars} bars of {style} (guidance {g:g})", flush=True)
    return time.perf_counter() - t0


def sample_training(train: Path, styles: list[str], n: int, out: Path, seed: int) -> Path:
    """Symlinks to up to n random training pieces per style."""
    rng = random.Random(seed)
    by_style: dict[str, list[Path]] = {}
    for path, style in discover([train]).files:
        by_style.setdefault(style, []).append(path)
    for style in styles:
        files = sorted(by_style.get(style, []))
        for i, p in enumerate(rng.sample(files, min(n, len(files)))):
            link = out / style / f"{i:03d}{p.suffix}"
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.exists():
                link.symlink_to(p)
    return out


def row(result: dict, style: str) -> list[str]:
    res = result["styles"].get(style)
    clf = (result.get("classifier") or {}).get("per_style", {}).get(style, {})
    acc = clf.get("accuracy")
    cells = ["-" if acc is None else f"{acc:.0%}"]
    cells += [f"{res['distributions'][d]['oa']:.2f}" if res else "-" for d in DISTS]
    return cells


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--heldout", type=Path, required=True)
    ap.add_argument("--train", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--n-train", type=int, default=30)
    ap.add_argument("--bars", type=int, default=16)
    ap.add_argument("--guidance", type=float, default=None,
                    help="for every style (default: the model's own per style, as compose generate)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reuse", action="store_true",
                    help="compare the pieces already in OUT/generated (e.g. against another held-out set)")
    args = ap.parse_args()

    styles = sorted({s for _, s in discover([args.heldout]).files if s})
    gen_dir = args.out / "generated"
    if args.reuse:
        if not gen_dir.is_dir():
            sys.exit(f"error: {gen_dir}: no generated pieces to reuse")
        seconds = None
    else:
        seconds = generate(args.model, styles, gen_dir, args.n, args.bars, args.guidance, args.seed)
    gen = evaluate_dirs(gen_dir, args.heldout, out_json=args.out / "generated.json", plots_dir=args.out / "plots")
    real = evaluate_dirs(args.heldout, sample_training(args.train, styles, args.n_train, args.out / "train_sample",
                                                       args.seed),
                         out_json=args.out / "ceiling.json")
    cv = gen["classifier"] or {}
    guidance = "the model's own per style" if args.guidance is None else args.guidance
    made = "reused" if seconds is None else f"in {seconds:.0f} s"
    print(f"\n{len(styles)} styles x {args.n} pieces of {args.bars} bars {made} "
          f"(guidance {guidance}); classifier trained on {sum(1 for _ in discover([args.heldout]).files)} "
          f"held-out pieces, cross-validated accuracy {cv.get('cv_accuracy', float('nan')):.0%}\n")
    print("| style | generated: classified as the style | OA pitch class | OA interval | OA IOI | OA duration "
          "| held-out real vs training: OA pitch class | OA interval | OA IOI | OA duration |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for style in styles:
        print(f"| {style} | " + " | ".join(row(gen, style)) + " | " + " | ".join(row(real, style)[1:]) + " |")
    acc = cv.get("generated_accuracy")
    print(f"| all | {'-' if acc is None else f'{acc:.0%}'} | "
          + " | ".join(f"{gen['overall']['distributions'][d]['oa']:.2f}" for d in DISTS) + " | "
          + " | ".join(f"{real['overall']['distributions'][d]['oa']:.2f}" for d in DISTS) + " |")


if __name__ == "__main__":
    main()
