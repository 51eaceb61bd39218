"""Generation speed on a CPU: composer's decoder against its previous one and two peers, and the
README command end to end, idle and beside a busy process. Ratios are measured in this run.

    python bench/decode_bench.py [--model default] [--tokens 500] [--repeats 7] [--runs 7]

1. Per-token decoding at the model's size, batch 1, one thread, the same tokens for everyone
   (a piece the model wrote), timed interleaved (A B C D A B C D ...) and reported as medians:
   - composer: the numpy decoder as `compose generate` runs it (NumpyTransformer);
   - torch: the same weights in composer's torch model (model.TorchDecoder, float32), KV cache;
   - transformers: Hugging Face GPT-2 of the same shape (layers, heads, width, vocabulary,
     context; random weights) through its `generate` with its KV cache, greedy, the same number
     of new tokens (skipped with a note where transformers is not installed).
2. The decoding loop on real requests (jazz, seeds 0..4, in this process): ms a token with
   the sliding cache, against the previous loop (a fresh prefill of the window, a "refill",
   each time the context is full).
3. `compose generate --style jazz -o FILE` (the README command), whole process, --runs times:
   median seconds idle, then with one other core-bound process running, and their ratio.
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

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout

from composer.checkpoint import MODEL_FILE, resolve_run  # noqa: E402
from composer.generate import SamplingOptions, load_model  # noqa: E402
from composer.numpy_model import NumpyTransformer  # noqa: E402
from composer.threads import set_threads  # noqa: E402


def per_token_numpy(model: NumpyTransformer, tokens: np.ndarray) -> float:
    t0 = time.perf_counter()
    _, cache = model.step(tokens[None, :1])
    for t in tokens[1:]:
        _, cache = model.step(np.array([[t]]), cache)
    return (time.perf_counter() - t0) / len(tokens)


def per_token_torch(decoder, tokens: np.ndarray) -> float:
    t0 = time.perf_counter()
    _, cache = decoder.step(tokens[None, :1])
    for t in tokens[1:]:
        _, cache = decoder.step(np.array([[t]]), cache)
    return (time.perf_counter() - t0) / len(tokens)


def hf_peer(config):
    """A transformers GPT-2 of the model's shape and its timing function, or None."""
    try:
        import torch
        from transformers import GPT2Config, GPT2LMHeadModel
    except ImportError:
        return None
    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=config.vocab_size, n_positions=config.context, n_embd=config.n_embd,
                     n_layer=config.n_layer, n_head=config.n_head, n_inner=4 * config.n_embd,
                     bos_token_id=1, eos_token_id=2, pad_token_id=0)
    model = GPT2LMHeadModel(cfg).eval()

    def run(tokens: np.ndarray) -> float:
        prompt = torch.tensor(tokens[None, :1])
        t0 = time.perf_counter()
        with torch.inference_mode():
            out = model.generate(prompt, max_new_tokens=len(tokens) - 1, min_new_tokens=len(tokens) - 1,
                                 do_sample=False, use_cache=True, attention_mask=torch.ones_like(prompt))
        assert out.shape[1] == len(tokens)
        return (time.perf_counter() - t0) / len(tokens)
    return run


class Unslid:
    """A decoder as the previous loop saw it: no cache_slide (context refills)."""

    def __init__(self, inner):
        self._inner = inner

    def __getattr__(self, name):
        if name == "cache_slide":
            raise AttributeError(name)
        return getattr(self._inner, name)


def loop_ms_per_token(cm, seeds) -> float:
    tokens, t0 = 0, time.perf_counter()
    for seed in seeds:
        tokens += len(cm.generate_tokens(SamplingOptions(style="jazz", seed=seed))[0])
    return (time.perf_counter() - t0) / tokens * 1e3


def readme_command(runs: int, model: str) -> list[float]:
    out = Path(tempfile.mkdtemp(prefix="decode_bench_")) / "jazz.mid"
    cmd = [sys.executable, str(ROOT / "cli.py"), "generate", "--style", "jazz", "-o", str(out), "--force"]
    if model != "default":
        cmd += ["--model", model]
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return times


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="default", help="a run folder or default (the bundled model)")
    ap.add_argument("--tokens", type=int, default=500, help="tokens decoded per timing in section 1")
    ap.add_argument("--repeats", type=int, default=7, help="interleaved timings of each decoder (section 1)")
    ap.add_argument("--runs", type=int, default=7, help="runs of the README command, idle and loaded (section 3)")
    ap.add_argument("--sections", default="123")
    args = ap.parse_args()
    set_threads(1, 1)
    run = resolve_run(None if args.model == "default" else args.model)
    cm = load_model(run)
    fast = cm.decoder
    print(f"model: {fast.config.n_layer} layers x {fast.config.n_embd} wide, vocabulary {fast.config.vocab_size}, "
          f"context {fast.config.context}; one thread; {os.cpu_count()} CPUs")

    if "1" in args.sections:
        tokens = cm.generate_tokens(SamplingOptions(style="jazz", seed=0))[0][:min(args.tokens, fast.config.context)]
        import torch

        torch.set_num_threads(1)
        torch_cm = load_model(run, backend="torch")
        contenders = {"composer (numpy)": lambda: per_token_numpy(fast, tokens),
                      "torch decoder (same weights)": lambda: per_token_torch(torch_cm.decoder, tokens)}
        peer = hf_peer(fast.config)
        if peer is not None:
            contenders["transformers GPT-2 generate (same shape)"] = lambda: peer(tokens)
        for fn in contenders.values():  # warm up
            fn()
        times = {name: [] for name in contenders}
        for _ in range(args.repeats):
            for name, fn in contenders.items():
                times[name].append(fn())
        print(f"\n1. per-token decoding, {len(tokens)} tokens, median of {args.repeats} interleaved timings")
        ref = statistics.median(times["composer (numpy)"])
        for name, ts in times.items():
            m = statistics.median(ts)
            print(f"   {name:42s} {m * 1e3:6.3f} ms/token  {m / ref:5.2f}x composer's time")
        if peer is None:
            print("   transformers GPT-2: skipped (pip install transformers to compare)")

    if "2" in args.sections:
        seeds = range(5)
        previous = load_model(run)
        previous.decoder = Unslid(NumpyTransformer.load(run / MODEL_FILE))
        loop_ms_per_token(cm, [9])  # warm up
        new, old = [], []
        for _ in range(3):
            new.append(loop_ms_per_token(cm, seeds))
            old.append(loop_ms_per_token(previous, seeds))
        n, o = statistics.median(new), statistics.median(old)
        print("\n2. the decoding loop, jazz seeds 0-4 (sampling, grammar and all), median of 3")
        print(f"   sliding cache {n:.3f} ms/token; refills (the previous loop) {o:.3f} ms/token: {o / n:.2f}x")

    if "3" in args.sections:
        readme_command(1, args.model)  # warm the file cache
        idle = readme_command(args.runs, args.model)
        busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            time.sleep(0.5)
            loaded = readme_command(args.runs, args.model)
        finally:
            busy.kill()
        i, lo = statistics.median(idle), statistics.median(loaded)
        print(f"\n3. compose generate --style jazz -o FILE, whole process, {args.runs} runs each")
        print(f"   idle:   median {i:.2f} s (min {min(idle):.2f}, max {max(idle):.2f})")
        print(f"   loaded: median {lo:.2f} s (min {min(loaded):.2f}, max {max(loaded):.2f}) beside one core-bound process: "
              f"{lo / i:.2f}x idle")


if __name__ == "__main__":
    main()
