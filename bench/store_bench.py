"""The token store at scale: a synthetic corpus of many small MIDI files, tokenised into the
sharded store, opened, sampled from, and trained on.

    nice python bench/store_bench.py                 # 100,000 files (a few minutes on 2 cores)
    nice python bench/store_bench.py --files 5000    # a quick run

Prints, for the corpus it generates (in a temp folder, removed afterwards unless --keep):
- tokenise files/s with 1 and with 2 workers (each into a new cache), and a re-run over the
  cache (every file only hashed);
- the store on disk: shards, bytes, the catalog and index.json, files per shard;
- time to open the store (load_index, and a view into every piece's tokens), and the bar
  index training builds (start.py's pass: pread copies, then views into the maps);
- windows/s drawn by the training sampler (WindowSampler, context 512), with numpy's
  choice as windows.py calls it and through the loop's Draws (the same draws, cdf cached);
- peak RSS of a training process (`train`, tiny model, 20 steps, on the cache) on a tenth of
  the corpus and on all of it: the index grows with the corpus, the tokens stay on disk.

Pieces are 8 bars of one or two random tracks (~300-600 tokens), every file different, in 10
style folders (the tenth-of-the-corpus run trains on one of them).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from multiprocessing import Pool
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STYLES = 10


def _make(job: tuple[str, int, int]) -> None:
    import numpy as np

    from composer.midi_io import midi_bytes
    from composer.score import Score, Track

    root, start, stop = job
    for i in range(start, stop):
        rng = np.random.default_rng(i)
        tracks = []
        for _ in range(1 + i % 2):
            n = int(rng.integers(24, 48))
            onsets = np.sort(rng.integers(0, 8 * 4 * 2, n)) * 240
            notes = np.stack([onsets, rng.choice([120, 240, 480], n), rng.integers(40, 90, n),
                              rng.integers(50, 110, n)], 1).astype(np.int64)
            tracks.append(Track(program=int(rng.integers(0, 96)), notes=notes))
        folder = Path(root, f"style{i % STYLES}", f"{i // 1000:03d}")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"piece{i:06d}.mid").write_bytes(midi_bytes(Score(tpq=480, tracks=tracks, end=8 * 4 * 480)))


def make_corpus(root: Path, files: int, workers: int) -> float:
    t0 = time.perf_counter()
    step = 2000
    with Pool(workers) as pool:
        list(pool.imap_unordered(_make, [(str(root), a, min(files, a + step)) for a in range(0, files, step)]))
    return time.perf_counter() - t0


def tokenise(root: Path, cache: Path, workers: int) -> tuple[float, object, float, float]:
    """(seconds, summary, CPU seconds of this process, CPU seconds of its workers)."""
    import resource

    from composer.corpus import tokenize_corpus
    from composer.tokenizer import Tokenizer

    def cpu(who):
        r = resource.getrusage(who)
        return r.ru_utime + r.ru_stime

    t0, me, kids = time.perf_counter(), cpu(resource.RUSAGE_SELF), cpu(resource.RUSAGE_CHILDREN)
    summary = tokenize_corpus(root, cache, Tokenizer(), workers=workers, progress=False)
    return (time.perf_counter() - t0, summary, cpu(resource.RUSAGE_SELF) - me,
            cpu(resource.RUSAGE_CHILDREN) - kids)


TRAIN = """
import resource, sys, time
sys.path.insert(0, {root!r})
import torch
torch.set_num_threads(1)
from composer.training import TrainConfig, train
t0 = time.perf_counter()
train({corpus!r}, {out!r}, TrainConfig(size="tiny", steps=20, context=256, batch_size=8, eval_every=20,
      eval_windows=8, device="cpu", workers=1), cache_dir={cache!r}, progress=False)
print("TRAIN_SECONDS", time.perf_counter() - t0)
print("PEAK_RSS_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def train_rss(corpus: Path, cache: Path, out: Path) -> tuple[float, float]:
    """(peak RSS MiB, seconds) of a process that trains 20 steps on `corpus` from `cache`."""
    code = TRAIN.format(root=str(ROOT), corpus=str(corpus), out=str(out), cache=str(cache))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, check=False)
    if done.returncode:
        raise SystemExit(done.stdout + done.stderr)
    values = dict(line.split() for line in done.stdout.splitlines() if line.startswith(("TRAIN_", "PEAK_")))
    return int(values["PEAK_RSS_KB"]) / 1024, float(values["TRAIN_SECONDS"])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", type=int, default=100_000, help="MIDI files to generate (default 100,000)")
    ap.add_argument("--dir", type=Path, default=None, help="work folder (default: a new temp folder)")
    ap.add_argument("--keep", action="store_true", help="keep the corpus and caches")
    ap.add_argument("--skip-one-worker", action="store_true", help="tokenise with 2 workers only")
    args = ap.parse_args(argv)

    import numpy as np

    from composer.corpus import load_index
    from composer.training.windows import WindowSampler, index_piece

    work = args.dir or Path(tempfile.mkdtemp(prefix="store_bench_"))
    work.mkdir(parents=True, exist_ok=True)
    corpus = work / "corpus"
    try:
        print(f"store_bench: {args.files:,} files, {os.cpu_count()} cores, in {work}", flush=True)
        if not corpus.is_dir():
            print(f"  generated the corpus in {make_corpus(corpus, args.files, os.cpu_count() or 1):.1f} s",
                  flush=True)
        size = sum(p.stat().st_size for p in corpus.rglob("*.mid"))
        print(f"  corpus: {args.files:,} files, {size / 2**20:.1f} MiB of MIDI", flush=True)

        rates = {}
        for workers in ([2] if args.skip_one_worker else [1, 2]):
            cache = work / f"cache{workers}"
            shutil.rmtree(cache, ignore_errors=True)
            seconds, summary, me, kids = tokenise(corpus, cache, workers)
            rates[workers] = summary.used / seconds
            print(f"  tokenise, {workers} worker{'s' if workers > 1 else ''}: {seconds:.1f} s, "
                  f"{rates[workers]:,.0f} files/s ({summary.used:,} used, {len(summary.skipped)} skipped, "
                  f"{summary.tokens:,} tokens); CPU s: main process {me:.1f}, workers {kids:.1f}", flush=True)
        cache = work / "cache2"
        seconds, summary, me, kids = tokenise(corpus, cache, 2)
        print(f"  re-run over the cache, 2 workers: {seconds:.1f} s, {summary.used / seconds:,.0f} files/s "
              f"({summary.cached:,} from cache); CPU s: main process {me:.1f}, workers {kids:.1f}", flush=True)

        (store,) = cache.glob("store-*")
        shards = sorted(store.glob("shard-*.tok"))
        shard_bytes = sum(p.stat().st_size for p in shards)
        print(f"  store: {len(shards)} shard(s), {shard_bytes / 2**20:.1f} MiB of tokens "
              f"({shard_bytes / summary.tokens:.1f} bytes/token), catalog "
              f"{(store / 'catalog.npy').stat().st_size / 2**20:.1f} MiB, index.json "
              f"{(cache / 'index.json').stat().st_size / 2**20:.1f} MiB", flush=True)

        t0 = time.perf_counter()
        index = load_index(cache)
        t_index = time.perf_counter() - t0
        t0 = time.perf_counter()
        views = [index.open_tokens(i) for i in range(len(index))]
        t_views = time.perf_counter() - t0
        print(f"  open: load_index {t_index:.2f} s, a view into every piece {t_views:.2f} s "
              f"({len(index._reader._maps)} memory map(s))", flush=True)

        from composer.tokenizer import Tokenizer
        from composer.vocab import TokenizerConfig

        tok = Tokenizer(TokenizerConfig(styles=sorted(index.styles)))
        t0 = time.perf_counter()
        pieces = []
        for i, f in enumerate(index.files):
            p = index_piece(index.read_tokens(i), tok.vocab.style_id(f.style), tok.vocab)
            p.tokens = views[i]
            pieces.append(p)
        t_bars = time.perf_counter() - t0
        print(f"  bar index (training's pass over the corpus): {t_bars:.1f} s, "
              f"{len(pieces) / t_bars:,.0f} pieces/s", flush=True)

        from composer.training.loop import Draws

        sampler = WindowSampler(pieces, tok.vocab, 512, keep_key=0.5)
        cdfs = {}
        for label, draws in (("numpy's choice", lambda rng: rng), ("the loop's Draws", lambda rng: Draws(rng, cdfs))):
            rng = np.random.default_rng(0)
            n, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < 3.0:
                sampler.sample(draws(rng), 16)
                n += 16
            print(f"  sampling ({label}): {n / (time.perf_counter() - t0):,.0f} windows/s (context 512, "
                  f"{len(pieces):,} pieces)", flush=True)
        del views, pieces, sampler, index

        for label, roots in (("a tenth", corpus / "style0"), ("all", corpus)):
            out = work / f"run_{label.replace(' ', '_')}"
            shutil.rmtree(out, ignore_errors=True)
            rss, seconds = train_rss(roots, cache, out)
            print(f"  training process on {label} of the corpus: peak RSS {rss:,.0f} MiB "
                  f"({seconds:.1f} s: hash every file, index, 20 steps of the tiny model)", flush=True)
    finally:
        if not args.keep and args.dir is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
