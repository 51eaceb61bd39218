"""Generation speed: KV cache vs recomputing the context, and the full sampler end to end.

    python bench/generate_bench.py [--model RUN_DIR|default] [--tokens 1024] [--device cpu]

1. Raw decoding to --tokens tokens at batch 1 and 8: `model.step` with the KV cache against a
   full forward over the whole sequence at every step (what decoding without a cache costs).
   Prints tokens/s and the ratio, measured in this process on this machine.
2. The real sampler (grammar mask, guidance off/on) writing 16 bars for piano, bass and drums:
   seconds, tokens/s, notes/s, batch 1 and 8. With no --model (or an untrained model) the
   model is a randomly initialised `small` transformer.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from composer.model import ModelConfig, build_model
from composer.sample import ComposerModel, SamplingOptions
from composer.tokenizer import Tokenizer
from composer.vocab import TokenizerConfig


def decode_cached(model, batch: int, n: int) -> float:
    idx = torch.ones(batch, 1, dtype=torch.long)
    t0 = time.perf_counter()
    _, cache = model.step(idx)
    for _ in range(n - 1):
        logits, cache = model.step(idx, cache)
        idx = logits[:, -1].argmax(-1, keepdim=True)
    return time.perf_counter() - t0


@torch.inference_mode()
def decode_recompute(model, batch: int, n: int, sample_every: int) -> float:
    """Full forward over the growing sequence; timed at every `sample_every`-th length and
    integrated (summing all n forwards would take minutes at batch 8)."""
    seq = torch.ones(batch, n, dtype=torch.long)
    total, lengths = 0.0, list(range(1, n + 1, sample_every))
    for length in lengths:
        t0 = time.perf_counter()
        model(seq[:, :length])
        total += (time.perf_counter() - t0) * min(sample_every, n - length + 1)
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="run directory or 'default' (else an untrained small model)")
    ap.add_argument("--tokens", type=int, default=1024)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    if args.model:
        from composer.sample import load_model
        cm = load_model(args.model, device=args.device)
        styles = cm.styles
    else:
        torch.manual_seed(0)
        tok = Tokenizer(TokenizerConfig(styles=["jazz"]))
        model = build_model(ModelConfig.preset("small", vocab_size=len(tok), context=max(1024, args.tokens)))
        cm = ComposerModel(model.to(args.device), tok)
        styles = ["jazz"]
    model = cm.model.eval()
    print(f"model: {model.config.arch}, {model.num_params() / 1e6:.1f}M parameters, context {model.config.context}, "
          f"device {args.device}, {torch.get_num_threads()} threads")

    n = min(args.tokens, model.max_positions or args.tokens)
    print(f"\n1. raw decoding of {n} tokens")
    print(f"{'batch':>5} {'cached tok/s':>13} {'recompute tok/s':>16} {'cache speed-up':>15}")
    for batch in (1, 8):
        decode_cached(model, batch, 16)  # warm-up
        cached = decode_cached(model, batch, n)
        recompute = decode_recompute(model, batch, n, sample_every=32)
        print(f"{batch:5d} {batch * n / cached:13.0f} {batch * n / recompute:16.1f} {recompute / cached:14.1f}x")

    print("\n2. the sampler: 16 bars, piano + bass + drums, 4/4, 120 bpm")
    print(f"{'batch':>5} {'guidance':>8} {'seconds':>8} {'tokens/s':>9} {'notes/s':>8} {'tokens/piece':>13}")
    for batch, guidance in ((1, 1.0), (1, 2.0), (8, 1.0)):
        opts = SamplingOptions(style=styles[0], bars=16, instruments=["piano", "bass", "drums"], tempo=120,
                               time_signature=(4, 4), seed=0, num_samples=batch, guidance=guidance,
                               max_tokens=0 if args.model else 1000)
        t0 = time.perf_counter()
        seqs = cm.generate_tokens(opts)
        dt = time.perf_counter() - t0
        tokens = sum(len(s) for s in seqs)
        notes = sum(cm.tokenizer.decode(s).note_count for s in seqs)
        print(f"{batch:5d} {guidance:8.1f} {dt:8.2f} {tokens / dt:9.0f} {notes / dt:8.0f} {tokens / batch:13.0f}")


if __name__ == "__main__":
    main()
