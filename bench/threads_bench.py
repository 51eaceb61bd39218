#!/usr/bin/env python3
"""Thread policy of `compose generate`: the default (one BLAS thread) against OpenBLAS's own
default (one thread per core), idle and beside one core-bound process, in the same run.

    python bench/threads_bench.py [--repeats 5] [--bars 16]

Each timing is a whole `compose generate --style jazz -o out.mid` (bundled model, seed 0) in a
fresh process, the way a user runs it; the median of the repeats is printed, with the ratio of
the two policies. OpenBLAS's default is had by OPENBLAS_NUM_THREADS=<cores>, which
`compose` honours as the user's choice. Every run must write the same bytes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORES = os.cpu_count() or 1
POLICIES = {
    "default policy (1 thread)": {},
    f"OpenBLAS default ({CORES} threads)": {"OPENBLAS_NUM_THREADS": str(CORES)},
}
BUSY = "while True: pass"


def generate(out: Path, extra_env: dict, bars: int) -> float:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                             "MKL_NUM_THREADS")}
    env.update(extra_env, PYTHONPATH=str(ROOT))
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "composer.cli", "generate", "--style", "jazz", "--bars", str(bars),
                    "-o", str(out), "--force"], env=env, check=True, capture_output=True)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--bars", type=int, default=16)
    args = ap.parse_args()
    print(f"{CORES} cores, load average before: {os.getloadavg()[0]:.2f}")
    results, outputs = {}, set()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.mid"
        for load in ("idle", "1 busy process"):
            busy = subprocess.Popen([sys.executable, "-c", BUSY]) if load != "idle" else None
            try:
                times = {name: [] for name in POLICIES}
                for _ in range(args.repeats):  # interleaved, so drifting load hits both alike
                    for name, env in POLICIES.items():
                        times[name].append(generate(out, env, args.bars))
                        outputs.add(out.read_bytes())
            finally:
                if busy is not None:
                    busy.kill()
                    busy.wait()
            results[load] = {name: statistics.median(t) for name, t in times.items()}
    names = list(POLICIES)
    print(f"{'':<16}" + "".join(f"{n:>30}" for n in names) + f"{'ratio':>8}")
    for load, r in results.items():
        print(f"{load:<16}" + "".join(f"{r[n]:>29.2f}s" for n in names) + f"{r[names[1]] / r[names[0]]:>7.2f}x")
    print(f"same bytes in all {2 * len(POLICIES) * args.repeats} runs: {len(outputs) == 1}")
    if len(outputs) != 1:
        sys.exit(1)


if __name__ == "__main__":
    main()
