"""A larger held-out set for evaluation: the 5% split plus every piece of another build whose
composition no training run ever saw.

    python recipe/build_corpus.py --out $WORK/extra_s1 --styles jazz,latin,blues,pop --seed 1 \
        --heldout-fraction 0
    python recipe/extend_heldout.py --heldout $WORK/corpus_v5_heldout --extra $WORK/extra_s1 \
        --trained $WORK/corpus $WORK/corpus_v3 $WORK/corpus_v5pop \
        --heldout-builds $WORK/corpus_heldout $WORK/corpus_v3_heldout $WORK/corpus_v5pop_heldout \
        --out $WORK/heldout_v6

($WORK: the folder outside the checkout that holds the builds; see recipe/README.md.)

The 5% split leaves few pieces in some styles (4 latin, 7 blues, 8 jazz), too few to train
the evaluation's style classifier on. The corpus recipe stops each source at a token budget,
so another seed's build renders compositions the training builds never reached, and other
renditions (grooves, drummers) of the held-out ones. A composition is the MANIFEST's
`group`; a piece is taken when its group is in no --trained build's MANIFEST (the
--heldout-builds' MANIFESTs tell which groups are held out). Per style,
OUT/<style>/ gets `split` (the held-out set as it was), `unused_compositions` (one piece per
new composition) and `other_renditions` (renditions of held-out compositions that are not
byte-identical to a held-out piece). Everything is a symlink; nothing is copied.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import sys
from collections import Counter
from pathlib import Path


def manifest(build: Path) -> list[dict]:
    path = build / "MANIFEST.csv"
    if not path.exists():
        sys.exit(f"error: {path}: no such manifest (a folder written by recipe/build_corpus.py?)")
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pieces(folder: Path) -> list[Path]:
    """Every piece under folder, following symlinked folders."""
    return [Path(d) / f for d, _, files in os.walk(folder, followlinks=True) for f in files
            if not f.endswith(".csv")]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--heldout", type=Path, required=True, help="held-out folder (style sub-folders)")
    ap.add_argument("--heldout-builds", type=Path, nargs="+", required=True,
                    help="the held-out folders build_corpus.py wrote (with their MANIFEST.csv)")
    ap.add_argument("--extra", type=Path, required=True, help="another build_corpus.py build")
    ap.add_argument("--trained", type=Path, nargs="+", required=True,
                    help="every build any phase of the model trained on")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    if args.out.exists():
        sys.exit(f"error: {args.out}: exists; choose a new folder")

    trained = {r["group"] for b in args.trained for r in manifest(b)}
    held_groups = {r["group"] for b in args.heldout_builds for r in manifest(b)}
    held_files = {digest(p) for p in pieces(args.heldout)}
    if trained & held_groups:
        sys.exit(f"error: {len(trained & held_groups)} held-out compositions were trained on")

    for style_dir in sorted(p for p in args.heldout.iterdir() if p.is_dir()):
        (args.out / style_dir.name).mkdir(parents=True)
        os.symlink(style_dir.resolve(), args.out / style_dir.name / "split")
    added: Counter = Counter()
    new_groups: set[str] = set()
    for row in sorted(manifest(args.extra), key=lambda r: r["path"]):
        group, src = row["group"], (args.extra / row["path"]).resolve()
        if group in trained:
            continue
        if group in held_groups:
            if digest(src) in held_files:
                continue
            kind = "other_renditions"
        elif group not in new_groups:
            new_groups.add(group)
            kind = "unused_compositions"
        else:
            continue
        dst = args.out / row["style"] / kind / Path(row["path"]).relative_to(row["style"])
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(src, dst)
        added[row["style"], kind] += 1
    for (style, kind), n in sorted(added.items()):
        print(f"{style:<10} {kind:<20} {n:4d}")
    print(f"{args.out}: {len(pieces(args.out))} pieces")
    return 0


if __name__ == "__main__":
    sys.exit(main())
