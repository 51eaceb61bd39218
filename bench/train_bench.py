"""Training throughput (tokens/s) of the model presets, on CPU and on CUDA when present.

The step is composer/training/loop.py's: AdamW (decay on 2-D params), bf16 autocast on CUDA, gradient clipping.
Data are random token windows (no corpus needed) of the real vocabulary size. Each
configuration is warmed up, then timed over --steps steps.

    .venv/bin/python bench/train_bench.py [--sizes tiny small] [--archs transformer lstm]
                                          [--batch 16] [--context 512] [--steps 20] [--devices cpu cuda]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def bench_one(arch: str, size: str, device: str, batch: int, context: int, steps: int, warmup: int,
              vocab_size: int, compile_model: bool = False) -> dict:
    import torch

    from composer.model import ModelConfig, build_model
    from composer.training.loop import autocast, make_optimizer

    torch.manual_seed(0)
    model = build_model(ModelConfig.preset(size, arch, vocab_size=vocab_size, context=context)).to(device).train()
    step_model = torch.compile(model) if compile_model else model
    optimizer = make_optimizer(model, 1e-3, 0.1, device)
    g = torch.Generator().manual_seed(0)
    data = torch.randint(1, vocab_size, (warmup + steps, batch, context + 1), generator=g)

    def step(i):
        x, y = data[i, :, :-1].to(device), data[i, :, 1:].to(device)
        with autocast(device):
            _, loss = step_model(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        return loss.item()  # syncs, as the training loop does

    for i in range(warmup):
        step(i)
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for i in range(warmup, warmup + steps):
        step(i)
    if device == "cuda":
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    mem = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None
    return {"arch": arch, "size": size, "device": device, "params": model.num_params(),
            "ms_per_step": 1000 * dt / steps, "tokens_per_s": batch * context * steps / dt, "peak_gib": mem}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", nargs="+", default=["tiny", "small"], choices=["tiny", "small", "base"])
    ap.add_argument("--archs", nargs="+", default=["transformer", "lstm"], choices=["transformer", "lstm"])
    ap.add_argument("--devices", nargs="+", default=None, help="default: cpu, plus cuda when available")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--context", type=int, default=512)
    ap.add_argument("--steps", type=int, default=20, help="timed steps per configuration (default 20)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first (default 3)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--compile", action="store_true", help="torch.compile the model")
    args = ap.parse_args(argv)

    import torch

    from composer.tokenizer import Tokenizer
    from composer.vocab import TokenizerConfig

    if args.threads:
        torch.set_num_threads(args.threads)
    devices = args.devices or ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    vocab_size = len(Tokenizer(TokenizerConfig(styles=[f"style{i}" for i in range(8)])))
    gpu = f", {torch.cuda.get_device_name()}" if "cuda" in devices else ""
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads{gpu}; vocab {vocab_size}, "
          f"batch {args.batch} x context {args.context}, {args.steps} timed steps after {args.warmup} warm-up"
          f"{', compiled' if args.compile else ''}")
    print(f"{'device':<7} {'arch':<12} {'size':<6} {'params':>8} {'ms/step':>10} {'tokens/s':>12} {'peak GiB':>9}")
    for device in devices:
        for size in args.sizes:
            for arch in args.archs:
                r = bench_one(arch, size, device, args.batch, args.context, args.steps, args.warmup, vocab_size,
                              args.compile)
                mem = f"{r['peak_gib']:.2f}" if r["peak_gib"] is not None else "-"
                print(f"{device:<7} {arch:<12} {size:<6} {r['params'] / 1e6:7.2f}M {r['ms_per_step']:10.1f} "
                      f"{r['tokens_per_s']:12,.0f} {mem:>9}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
