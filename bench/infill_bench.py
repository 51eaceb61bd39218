"""How long infilling and arranging take, against generating the same number of bars.

    python bench/infill_bench.py [--model default] [--repeats 3] [--threads 1]

Material (made by the model itself, so the bench needs no data): a 16-bar jazz piece for
piano, bass and drums, and a 16-bar folk tune as the melody. Timed, in one process with the
model loaded (median of --repeats runs, different seeds):
- generate: 16 new bars of jazz for piano, bass and drums (the reference);
- infill: bars 7-10 of the jazz piece, every track (`compose infill --bars 7-10`);
- infill --tracks: bars 7-10 of its bass and drums;
- arrange: the folk tune in latin (nylon guitar, bass, drums) and in jazz (piano, jazz guitar,
  bass, drums).
Then the whole `compose infill` and `compose arrange` commands (process start to exit).
Targets of the issue: infill under 3 s, arrange under 6 s on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout


def timed(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for seed in range(repeats):
        t0 = time.perf_counter()
        out = fn(seed)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    from composer.generate import load_model
    from composer.threads import set_threads

    set_threads(args.threads, default=1)
    model = load_model(None if args.model == "default" else args.model)
    band = ["piano", "bass", "drums"]
    piece = model.generate(style="jazz", bars=16, instruments=band, seed=100, top_p=0.95)
    tune = model.generate(style="folk", bars=16, seed=100, top_p=0.95)
    tune.tracks = tune.tracks[:1]
    rows = []
    ref, _ = timed(lambda s: model.generate(style="jazz", bars=16, instruments=band, seed=s, top_p=0.95), args.repeats)
    rows.append(("generate 16 bars jazz (piano, bass, drums)", ref, None))
    for label, fn in (
            ("infill bars 7-10, every track", lambda s: model.infill(piece, "7-10", style="jazz", seed=s, top_p=0.95)),
            ("infill bars 7-10, bass and drums", lambda s: model.infill(piece, "7-10", ["bass", "drums"], style="jazz",
                                                                         seed=s, top_p=0.95)),
            ("arrange 16-bar tune, latin band", lambda s: model.arrange(tune, style="latin", seed=s, top_p=0.95)),
            ("arrange 16-bar tune, jazz band", lambda s: model.arrange(tune, style="jazz", seed=s, top_p=0.95))):
        secs, out = timed(fn, args.repeats)
        rows.append((label, secs, out))
    with tempfile.TemporaryDirectory() as tmp:
        song, mel = Path(tmp) / "song.mid", Path(tmp) / "tune.mid"
        model.save(piece, song)
        model.save(tune, mel)
        model_args = [] if args.model == "default" else ["--model", args.model]
        for label, cmd in (
                ("compose infill song.mid --bars 7-10 (whole process)",
                 ["infill", str(song), "--bars", "7-10", "--style", "jazz", "-o", str(Path(tmp) / "a.mid")]),
                ("compose arrange tune.mid --style latin (whole process)",
                 ["arrange", str(mel), "--style", "latin", "-o", str(Path(tmp) / "b.mid")])):
            times = []
            for i in range(args.repeats):
                t0 = time.perf_counter()
                subprocess.run([sys.executable, "-m", "composer", *cmd, *model_args, "--seed", str(i), "--force",
                                "--threads", str(args.threads)], check=True, capture_output=True)
                times.append(time.perf_counter() - t0)
            rows.append((label, statistics.median(times), None))
    print(f"| what | seconds (median of {args.repeats}) | vs generate 16 bars |")
    print("|---|---|---|")
    for label, secs, _ in rows:
        print(f"| {label} | {secs:.2f} | {secs / ref:.2f}x |")


if __name__ == "__main__":
    main()
