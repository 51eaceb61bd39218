"""What a full context costs and what continuing past it does to the predictions: the decoding
loop's two ways on (refill the canonical window, or slide the cache), on real pieces.

    python bench/context_bench.py --files CORPUS_DIR [--model default] [--pieces 40]

Every piece longer than the model's context is read token by token the way composer/generate/
decode.py writes one: a one-token step at a time with the KV cache, and, when the cache is full,
the canonical window (the header and the most recent whole bars, 3/4 of the context) either
prefilled afresh ("refill") or made from the cache by sliding it (NumpyTransformer.cache_slide:
the header stays, the window's bars move down, nothing is recomputed). Prints the next-token
NLL (nats/token, over the tokens after the first context) of both, their paired difference
with its standard error across pieces, and the seconds each spent. CPU, numpy decoder, one
BLAS thread. CORPUS_DIR: MIDI files in one folder per style (recipe/build_corpus.py's
held-out folder).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from composer.checkpoint import resolve_run  # noqa: E402
from composer.corpus import load_index, tokenize_corpus  # noqa: E402
from composer.generate import load_model  # noqa: E402
from composer.generate.decode import _window, slide_window  # noqa: E402
from composer.numpy_model import NumpyTransformer  # noqa: E402
from composer.threads import set_threads  # noqa: E402


def read(model: NumpyTransformer, vocab, tokens: np.ndarray, slide: bool) -> tuple[float, int, float]:
    """Sum of next-token NLL after the first context, tokens counted, seconds."""
    t0 = time.perf_counter()
    logits, cache = model.step(tokens[None, :1], last=True)
    head = tuple(tokens[:4])
    total, n = 0.0, 0
    for i in range(1, len(tokens)):
        nxt = int(tokens[i])
        if i >= model.max_positions:
            row = logits[0, -1].astype(np.float64)
            total += float(np.log(np.exp(row - row.max()).sum()) + row.max() - row[nxt])
            n += 1
        if model.room(cache) < 1:
            seq = tokens[:i + 1]
            start = slide_window(seq, vocab, model.max_positions, head, cache.length) if slide else None
            if start is None:  # refill: prefill the canonical window afresh
                window = _window(np.asarray(seq, dtype=np.int64), vocab, model.max_positions * 3 // 4)
                logits, cache = model.step(window[None], last=True)
                head = tuple(window[:4])
                continue
            model.cache_slide(cache, 4, start)
        logits, cache = model.step(np.array([[nxt]]), cache)
    return total, n, time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=Path, required=True, help="MIDI files, one folder per style")
    ap.add_argument("--model", default="default", help="a run folder or default (the bundled model)")
    ap.add_argument("--pieces", type=int, default=40, help="at most this many pieces, taken from the styles in turn")
    ap.add_argument("--max-tokens", type=int, default=3000, help="read at most this many tokens of a piece")
    args = ap.parse_args()
    set_threads(1, 1)
    run = resolve_run(None if args.model == "default" else args.model)
    cm = load_model(run)  # on a CPU its decoder is the numpy one
    model, tok = cm.decoder, cm.tokenizer
    cache_dir = Path(tempfile.mkdtemp(prefix="context_bench_"))
    tokenize_corpus([args.files], cache_dir, tok, progress=False)
    index = load_index(cache_dir)
    by_style: dict = {}
    for i, f in enumerate(index.files):
        t = np.asarray(index.open_tokens(i), dtype=np.int64)
        if len(t) > model.max_positions + 64:
            t = t[:args.max_tokens].copy()
            t[1] = tok.vocab.style_id(f.style)
            by_style.setdefault(f.style, []).append(t)
    pieces = []
    while len(pieces) < args.pieces and any(by_style.values()):  # round robin over the styles
        for style in sorted(by_style):
            if by_style[style] and len(pieces) < args.pieces:
                pieces.append(by_style[style].pop(0))
    print(f"{len(pieces)} pieces longer than the context of {model.max_positions} "
          f"({sum(len(p) for p in pieces)} tokens)")
    res = {name: [read(model, tok.vocab, p, slide) for p in pieces] for name, slide in (("refill", False), ("slide", True))}
    for name, rows in res.items():
        total, n, secs = (sum(r[k] for r in rows) for k in range(3))
        print(f"{name:7s} NLL {total / n:.4f} nats/token over {n} tokens; {secs:.2f} s "
              f"({secs / sum(len(p) for p in pieces) * 1e3:.3f} ms a token)")
    diff = np.array([s[0] / s[1] - r[0] / r[1] for r, s in zip(res["refill"], res["slide"])])
    print(f"slide - refill, per piece: {diff.mean():+.4f} ± {diff.std(ddof=1) / np.sqrt(len(diff)):.4f} nats/token "
          f"(mean ± s.e., {len(diff)} pieces; {int((diff < 0).sum())} better, {int((diff > 0).sum())} worse)")
    t_refill, t_slide = (sum(r[2] for r in res[k]) for k in ("refill", "slide"))
    print(f"time: refill / slide = {t_refill / t_slide:.2f}x")


if __name__ == "__main__":
    main()
