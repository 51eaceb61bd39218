"""The GPU recipe: what to run first on a CUDA machine, in one script that prints tokens/s.

    python bench/gpu_check.py                       # everything the machine allows
    python bench/gpu_check.py --size base --batch 32 --context 1024 --steps 30

1. Training step (loop.py's: AdamW fused, bf16 autocast, clipping) of the --size model on
   random windows, eager and torch.compile: ms/step, tokens/s, peak GiB.
2. With two or more GPUs: a short DDP run through torchrun (NCCL), `compose train --device
   cuda` on a small synthetic corpus, one rank per GPU: its log (batch split, tokens/s).
3. Generation on CUDA with the bundled model: 16 bars for piano, bass and drums, batch 1 and
   8, seconds and tokens/s (batch 1 only on the CPU).

Without CUDA it runs sections 1 and 3 on the CPU (fp32, no compile unless --compile-on-cpu)
and says that it did: a check that the script itself works.

Retraining the bundled model at a larger size, once the corpus recipe has built its corpus
(recipe/README or docs/model-card.md), on one machine with 8 GPUs:

    torchrun --nproc_per_node=8 -m composer train CORPUS --out runs/base --size base \\
        --batch-size 256 --context 1024 --epochs 20 --lr 6e-4 --compile --device cuda
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def train_section(args, device: str) -> None:
    from bench.train_bench import bench_one
    from composer.tokenizer import Tokenizer

    vocab = len(Tokenizer())
    print(f"1. training step, {args.size} transformer, batch {args.batch} x {args.context} tokens on {device}"
          + (" (bf16 autocast)" if device == "cuda" else " (fp32)"), flush=True)
    compiles = [False] + ([True] if device == "cuda" or args.compile_on_cpu else [])
    for compile_model in compiles:
        r = bench_one("transformer", args.size, device, args.batch, args.context, args.steps, 3, vocab,
                      compile_model=compile_model)
        peak = f", peak {r['peak_gib']:.2f} GiB" if r.get("peak_gib") else ""
        print(f"   {'compiled' if compile_model else 'eager':<9} {r['ms_per_step']:8.1f} ms/step  "
              f"{r['tokens_per_s']:>12,.0f} tokens/s{peak}", flush=True)


def ddp_section(gpus: int) -> None:
    print(f"2. DDP: torchrun, {gpus} ranks (NCCL), compose train on a synthetic corpus", flush=True)
    from bench.store_bench import make_corpus

    work = Path(tempfile.mkdtemp(prefix="gpu_check_"))
    try:
        make_corpus(work / "corpus", 400, min(8, os.cpu_count() or 1))
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={gpus}",
               "-m", "composer", "train", str(work / "corpus"), "--out", str(work / "run"), "--size", "small",
               "--steps", "60", "--eval-every", "30", "--batch-size", str(8 * gpus), "--context", "512",
               "--device", "cuda", "--quiet"]
        t0 = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
                              check=False)
        print("   " + "\n   ".join(done.stdout.strip().splitlines()[-6:]))
        if done.returncode:
            print(done.stderr[-3000:])
        for line in (work / "run" / "metrics.jsonl").read_text().splitlines() if done.returncode == 0 else []:
            print(f"   metrics: {line}")
        print(f"   {'ok' if done.returncode == 0 else 'FAILED'} in {time.perf_counter() - t0:.1f} s", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def generate_section(device: str) -> None:
    import torch

    from composer.generate import load_model

    print(f"3. generation on {device}: the bundled model, 16 bars of piano, bass and drums", flush=True)
    cm = load_model("default", device=device, backend="torch" if device == "cuda" else "auto")
    for batch in ((1, 8) if device == "cuda" else (1,)):
        cm.generate_batch(style="jazz", bars=4, instruments=["piano", "bass", "drums"], num_samples=batch, seed=1)
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        scores = cm.generate_batch(style="jazz", bars=16, instruments=["piano", "bass", "drums"],
                                   num_samples=batch, seed=0)
        if device == "cuda":
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        tokens = sum(len(cm.tokenizer.encode(s)) for s in scores)
        print(f"   batch {batch}: {dt:6.2f} s, {tokens / dt:>10,.0f} tokens/s ({tokens:,} tokens)", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="small", choices=["tiny", "small", "base"])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--context", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--compile-on-cpu", action="store_true", help="without CUDA, time torch.compile too (slow)")
    args = ap.parse_args(argv)

    import torch

    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    device = "cuda" if gpus else "cpu"
    print(f"gpu_check: torch {torch.__version__}, "
          + (f"{gpus} x {torch.cuda.get_device_name()}" if gpus else "no CUDA device: a dry run on the CPU"),
          flush=True)
    train_section(args, device)
    if gpus >= 2:
        ddp_section(gpus)
    else:
        print("2. DDP: skipped (needs two or more GPUs; tests/test_ddp.py runs it with Gloo on the CPU)")
    generate_section(device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
