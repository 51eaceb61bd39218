"""Tokenization throughput: composer (read_midi + Tokenizer.encode) vs MidiTok REMI.

Both run single-process, in this process, on the same N files (the first N .mid files of the
data folder, sorted by name). Each side includes MIDI parsing (both parse with symusic), is
warmed up once on all files, then timed R times; the best run is reported.

    .venv/bin/python bench/tokenize_bench.py [--data DIR] [--n 200] [--repeat 3]

MidiTok is configured as close to composer's tokenizer as it allows: REMI, one token stream
for all programs, tempos and time signatures on, 32 velocity bins, 12 steps per quarter for
notes up to 4 beats long and 4 per quarter up to 12 beats.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_DATA = (ROOT / ".." / "shared" / "data" / "pop909").resolve()


def best_of(repeat: int, fn) -> tuple[float, object]:
    """Smallest wall time of `repeat` calls of fn(), and the last result."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"folder of .mid files (default {DEFAULT_DATA})")
    ap.add_argument("--n", type=int, default=200, help="number of files (first N, sorted; default 200)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per side; the best is reported (default 3)")
    args = ap.parse_args(argv)

    if not args.data.is_dir():
        print(f"tokenize_bench: data folder not found: {args.data} (use --data DIR)")
        return 2
    files = sorted(p for p in args.data.iterdir() if p.suffix.lower() in (".mid", ".midi") and p.is_file())
    files = files[: max(args.n, 0)]
    if not files:
        print(f"tokenize_bench: no .mid files in {args.data}")
        return 2

    import numpy as np
    import symusic
    import miditok

    from composer.midi_io import read_midi
    from composer.tokenizer import Tokenizer

    try:
        from importlib.metadata import version
        mt_version = version("miditok")
    except Exception:  # noqa: BLE001
        mt_version = "?"

    tok = Tokenizer()
    mt = miditok.REMI(miditok.TokenizerConfig(
        use_programs=True, one_token_stream_for_programs=True,
        use_tempos=True, use_time_signatures=True,
        beat_res={(0, 4): 12, (4, 12): 4}, num_velocities=32,
    ))

    # warm-up (also drops files either side cannot read, so both time the same set)
    usable, skipped = [], []
    for p in files:
        try:
            tok.encode(read_midi(p))
            mt.encode(symusic.Score(p))
            usable.append(p)
        except Exception as e:  # noqa: BLE001 - ScoreError or a MidiTok failure: report, move on
            skipped.append(f"{p.name}: {str(e).splitlines()[0] if str(e) else type(e).__name__}")
    files = usable
    if not files:
        print("tokenize_bench: no file could be read by both tokenizers")
        return 2

    def run_composer():
        return [tok.encode(read_midi(p)) for p in files]

    def run_miditok():
        return [mt.encode(symusic.Score(p)) for p in files]

    t_c, ids_c = best_of(args.repeat, run_composer)
    t_m, seqs_m = best_of(args.repeat, run_miditok)
    n = len(files)
    ntok_c = float(np.mean([len(x) for x in ids_c]))
    ntok_m = float(np.mean([len(s.ids) for s in seqs_m]))

    tok.decode(ids_c[0])  # warm-up
    t_d, _ = best_of(args.repeat, lambda: [tok.decode(x) for x in ids_c])

    print(f"{n} files from {args.data} (best of {args.repeat}, single process"
          f"{f', {len(skipped)} skipped' if skipped else ''})")
    for s in skipped:
        print(f"  skipped {s}")
    print(f"{'encoder':<34}{'files/s':>10}{'ms/file':>10}{'tokens/file':>13}")
    print(f"{'composer read_midi+encode':<34}{n / t_c:>10.1f}{1000 * t_c / n:>10.2f}{ntok_c:>13.0f}")
    print(f"{'MidiTok ' + mt_version + ' REMI Score+encode':<34}{n / t_m:>10.1f}{1000 * t_m / n:>10.2f}{ntok_m:>13.0f}")
    print(f"composer is {t_m / t_c:.1f}x MidiTok's files/s")
    print(f"composer decode: {n / t_d:.1f} files/s ({1000 * t_d / n:.2f} ms/file)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
