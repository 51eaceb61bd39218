"""Generation speed: KV cache vs recomputing the context, and the full sampler end to end.

    python bench/generate_bench.py [--model RUN_DIR|default] [--tokens 1024] [--device cpu]

1. Raw decoding to --tokens tokens at batch 1 and 8: `model.step` with the KV cache against a
   full forward over the whole sequence at every step (what decoding without a cache costs).
   Prints tokens/s and the ratio, measured in this process on this machine.
2. The real sampler (grammar mask, guidance off/on) writing 16 bars for piano, bass and drums:
   seconds, tokens/s, notes/s, batch 1 and 8. With no --model (or an untrained model) the
   model is a randomly initialised `small` transformer. Sections 1 and 2 use float32 weights.
3. (CPU) the numpy decoder that `load_model` uses on a CPU against the torch model (sections 1
   and 2): load time in a fresh interpreter (torch's import included), ms per token of the
   sampler, a context refill, and the next-token NLL of both on the run's replay windows.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from composer.model import ModelConfig, build_model
from composer.generate import ComposerModel, SamplingOptions
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
        from composer.generate import load_model
        cm = load_model(args.model, device=args.device, backend="torch")
        styles = cm.styles
    else:
        torch.manual_seed(0)
        tok = Tokenizer(TokenizerConfig(styles=["jazz"]))
        model = build_model(ModelConfig.preset("small", vocab_size=len(tok), context=max(1024, args.tokens)))
        cm = ComposerModel(model.to(args.device), tok)
        styles = ["jazz"]
    model = cm.decoder.model  # the torch MusicModel behind the sampler's TorchDecoder
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

    if args.device == "cpu":
        numpy_section(cm, args.model)


def stepwise_nll(decoder, windows: np.ndarray) -> float:
    """Mean next-token NLL (nats) over the non-PAD targets, decoding one token at a time."""
    total, count = 0.0, 0
    logits, cache = decoder.step(windows[:, :1])
    for t in range(1, windows.shape[1]):
        target = windows[:, t]
        keep = target != 0
        z = logits[:, -1].astype(np.float64)
        logp = z - z.max(-1, keepdims=True)
        logp -= np.log(np.exp(logp).sum(-1, keepdims=True))
        total -= logp[keep, target[keep]].sum()
        count += int(keep.sum())
        logits, cache = decoder.step(windows[:, t:t + 1], cache)
    return total / max(count, 1)


def load_seconds(model_path, backend: str) -> float:
    """Seconds from a fresh interpreter to a loaded model (imports included), best of 3."""
    import subprocess

    code = ("import time; t = time.perf_counter(); from composer.generate import load_model; "
            f"load_model({model_path!r}, backend={backend!r}); print(time.perf_counter() - t)")
    root = str(Path(__file__).resolve().parent.parent)
    return min(float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                    cwd=root).stdout) for _ in range(3))


def numpy_section(cm, model_path):
    """The numpy decoder (what load_model uses on a CPU) against torch: speed and fidelity."""
    import tempfile

    from composer.checkpoint import resolve_run
    from composer.model import save_weights
    from composer.numpy_model import NumpyTransformer
    from composer.training.replay import load_replay

    if cm.decoder.config.arch != "transformer":
        return
    with tempfile.TemporaryDirectory() as tmp:
        save_weights(cm.decoder.model, Path(tmp) / "m.safetensors")
        nm = ComposerModel(NumpyTransformer.load(Path(tmp) / "m.safetensors"), cm.tokenizer, cm.config)
    print("\n3. the numpy decoder against torch: the sampler, 16 bars, the model's choice of instruments")
    if model_path:
        t_np, t_torch = load_seconds(model_path, "auto"), load_seconds(model_path, "torch")
        print(f"import + load in a fresh interpreter: numpy {t_np:.2f} s, torch {t_torch:.2f} s")
    print(f"{'decoder':>8} {'style':>8} {'seconds':>8} {'tokens':>7} {'ms/token':>9}")
    for style in cm.styles[:3] if cm.styles else [None]:
        times = {}
        for name, m in (("torch", cm), ("numpy", nm)):
            t0 = time.perf_counter()
            (seq,) = m.generate_tokens(SamplingOptions(style=style, bars=16, seed=0, top_p=0.95))
            dt = time.perf_counter() - t0
            times[name] = dt / len(seq)
            print(f"{name:>8} {style or '-':>8} {dt:8.2f} {len(seq):7d} {1e3 * dt / len(seq):9.2f}")
        print(f"{'':>8} {'':>8} numpy is {times['torch'] / times['numpy']:.2f}x faster a token")
    keep = cm.decoder.config.context * 3 // 4  # a context refill: the sampler's canonical window
    x = np.random.default_rng(0).integers(4, len(cm.tokenizer.vocab), size=(1, keep))
    refill = {}
    for name, m in (("torch", cm.decoder), ("numpy", nm.decoder)):
        m.step(x, last=True)  # as the sampler refills: only the last position's logits
        t0 = time.perf_counter()
        for _ in range(10):
            m.step(x, last=True)
        refill[name] = (time.perf_counter() - t0) / 10
    print(f"a {keep}-token context refill: torch {1e3 * refill['torch']:.1f} ms, numpy {1e3 * refill['numpy']:.1f} ms")
    replay = load_replay(resolve_run(model_path), cm.tokenizer.config.fingerprint()) if model_path else None
    if replay is None:
        return
    windows = replay[0][::max(1, len(replay[0]) // 16)][:16, :257].astype(np.int64)  # 16 windows, all styles
    a, b = stepwise_nll(cm.decoder, windows), stepwise_nll(nm.decoder, windows)
    print(f"next-token NLL on {len(windows)} replay windows: torch {a:.5f}, numpy {b:.5f} nats/token")


if __name__ == "__main__":
    main()
