"""How many CPU threads composer's numeric libraries use, chosen once per command.

numpy's BLAS (OpenBLAS) and torch each start their own pool, one thread per core, by default.
Generation decodes one token per step: products of one or a few rows, where waking a pool costs
more than it saves, and on a busy machine the pools' spinning threads fight every other process
for the cores (bench/threads_bench.py measures it). So `compose generate` runs its BLAS and
torch on one thread unless told otherwise; `compose train` keeps torch's own choice (big
batched products, where threads pay) unless told otherwise. `--threads N` sets both pools to N;
without it, OMP_NUM_THREADS / OPENBLAS_NUM_THREADS / MKL_NUM_THREADS set by the user are
honoured (they take effect as numpy loads). Same seed, same bytes whatever the thread count.
"""

from __future__ import annotations

import os
import sys

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def set_threads(threads: int | None, default: int | None) -> int | None:
    """Limit numpy's BLAS and (if imported) torch to `threads`, else to `default` unless the user's
    environment sets a thread count; None leaves the libraries' own choice. Returns the limit
    applied (None: none). Call it after the libraries are imported (numpy always is)."""
    if threads is None:
        if default is None or any(os.environ.get(v) for v in THREAD_VARIABLES):
            return None
        threads = default
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads)  # every BLAS and OpenMP pool loaded so far
    if "torch" in sys.modules:
        import torch

        torch.set_num_threads(threads)
    return threads
