"""Fuzz the `compose` CLI: every request ends with exit 0, 1 or 2 and at most one `error:` line, never
a traceback.

    python bench/fuzz_cli.py [--minutes 3] [--seed 0] [--out DIR] [--subprocesses 12] [--no-generate]

Hypothesis draws cases: music files (real seed files from ../shared/data beside the clone (or $COMPOSER_SHARED_DATA) when present, files
built with mido and composer, tiny ABC / MusicXML / kern texts; then byte flips, truncations,
insertions, deletions, absurd chunk lengths and header fields, or random bytes) under various
suffixes, plus special paths (missing, a directory, empty, /dev/null, a dangling link), thrown at
`inspect`, `roundtrip`, `tokenize` and `generate --primer` with random option values (bad numbers,
nan/inf, huge values, unknown names, empty strings). Each case runs in-process through click's
CliRunner in its own folder; any exception other than SystemExit, an exit code outside {0, 1, 2},
"Traceback" on stderr, several `error:` lines, or a failure without one is a failure. At the end a
few cases also run as real subprocesses. Prints a summary; each distinct failure is saved under
--out (default: a new temp folder) as failure_NN/ with its input files, repro.sh and traceback.txt.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

DATA = Path(os.environ.get("COMPOSER_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
CASE_SECONDS = 60  # a case running longer than this is a failure (a hang)

# ---------------------------------------------------------------------------- seed files


def generated_seeds() -> dict[str, bytes]:
    """Small valid files built here: MIDI with mido and composer, and ABC / MusicXML / kern texts."""
    import mido
    import numpy as np

    from composer.midi_io import midi_bytes
    from composer.score import Score, Track

    def save(mf) -> bytes:
        buf = io.BytesIO()
        mf.save(file=buf)
        return buf.getvalue()

    M, Meta = mido.Message, mido.MetaMessage
    seeds = {}
    mf = mido.MidiFile(type=1, ticks_per_beat=96)
    mf.tracks.append(mido.MidiTrack([Meta("set_tempo", tempo=400000), Meta("time_signature", numerator=3, denominator=4)]))
    for ch, prog, base in ((0, 0, 60), (1, 33, 36), (9, 0, 36)):
        tr = mido.MidiTrack([Meta("track_name", name=f"t{ch}"), M("program_change", channel=ch, program=prog)])
        for i in range(6):
            tr += [M("note_on", channel=ch, note=base + i % 4, velocity=80), M("note_off", channel=ch, note=base + i % 4, time=48)]
        tr.append(M("note_on", channel=ch, note=base, velocity=70))  # left hanging
        mf.tracks.append(tr)
    seeds["type1.mid"] = save(mf)
    mf0 = mido.MidiFile(type=0, ticks_per_beat=480)
    tr = mido.MidiTrack([M("program_change", channel=c, program=p) for c, p in ((0, 0), (1, 40))])
    for i in range(8):
        tr += [M("note_on", channel=i % 2, note=60 + i, velocity=90), M("note_off", channel=i % 2, note=60 + i, time=240)]
    mf0.tracks.append(tr)
    seeds["type0.mid"] = save(mf0)
    mf2 = mido.MidiFile(type=2, ticks_per_beat=480)
    mf2.tracks += [mido.MidiTrack([M("note_on", note=60, velocity=90), M("note_off", note=60, time=480)])] * 2
    seeds["type2.mid"] = save(mf2)
    score = Score(tpq=480, tracks=[
        Track(0, False, "Piano", np.array([[i * 240, 240, 60 + i % 7, 90] for i in range(16)])),
        Track(0, True, "Drums", np.array([[i * 240, 60, 36 + 6 * (i % 2), 100] for i in range(16)])),
    ])
    seeds["composer.mid"] = midi_bytes(score)
    seeds["tune.abc"] = b"X:1\nT:t\nM:4/4\nL:1/8\nQ:1/4=100\nK:G\nGABc dedB|dedB dedB|c2ec B2dB|A4 G4|]\n"
    seeds["tune.krn"] = b"**kern\n*M4/4\n=1\n4c\n4d\n4e\n4f\n=2\n2g\n2a\n*-\n"
    seeds["tune.musicxml"] = (
        b'<?xml version="1.0"?><score-partwise version="3.1"><part-list><score-part id="P1">'
        b"<part-name>Piano</part-name></score-part></part-list><part id=\"P1\"><measure number=\"1\">"
        b"<attributes><divisions>1</divisions><time><beats>4</beats><beat-type>4</beat-type></time>"
        b"</attributes><note><pitch><step>C</step><octave>4</octave></pitch><duration>2</duration></note>"
        b"<note><pitch><step>E</step><octave>4</octave></pitch><duration>2</duration></note>"
        b"</measure></part></score-partwise>")
    return seeds


def real_seeds(limit: int = 4) -> dict[str, bytes]:
    """The smallest few MIDI files of two real corpora, if the shared data folder is there."""
    out = {}
    for corpus in ("groove", "pop909"):
        files = sorted(DATA.glob(f"{corpus}/**/*.mid"), key=lambda p: (p.stat().st_size, str(p)))[:limit // 2]
        out.update({f"{corpus}_{p.name}": p.read_bytes() for p in files})
    return out


# ---------------------------------------------------------------------------- mutations


def mutate(data: bytes, ops) -> bytes:
    """Apply drawn mutations; positions are fractions of the current length."""
    b = bytearray(data)
    for op, x, y in ops:
        at = int(x * len(b))
        if op == "flip" and b:
            b[min(at, len(b) - 1)] = y % 256
        elif op == "truncate":
            del b[at:]
        elif op == "insert":
            b[at:at] = bytes([y % 256]) * (1 + y % 7)
        elif op == "delete":
            del b[at:at + 1 + y % 16]
        elif op == "chunk_length":  # the length field of a track chunk
            starts = [i for i in range(len(b) - 8) if b[i:i + 4] == b"MTrk"]
            if starts:
                i = starts[y % len(starts)]
                b[i + 4:i + 8] = struct.pack(">I", ABSURD_U32[y % len(ABSURD_U32)] if y % 3 else at)
        elif op == "header" and len(b) >= 14:  # length, format, track count or division
            which = y % 4
            if which == 0:
                b[4:8] = struct.pack(">I", ABSURD_U32[at % len(ABSURD_U32)])
            else:
                b[6 + 2 * which:8 + 2 * which] = struct.pack(">H", ABSURD_U16[(at + y) % len(ABSURD_U16)])
        elif op == "duplicate":
            b[at:at] = b[at:at + 1 + y % 64]
    return bytes(b)


ABSURD_U32 = (0, 1, 5, 6, 7, 0x7FFFFFFF, 0xFFFFFFFF, 0x80000000, 1 << 20)
ABSURD_U16 = (0, 1, 2, 3, 0x7FFF, 0x8000, 0xE728, 0xFFFF, 100, 1000)

mutations = st.lists(st.tuples(
    st.sampled_from(["flip", "flip", "truncate", "insert", "delete", "chunk_length", "header", "duplicate"]),
    st.floats(0, 1), st.integers(0, 1 << 16)), min_size=1, max_size=6)


def file_contents(seeds: dict[str, bytes]):
    """(seed name, bytes): a seed as it is or with one byte changed (these reach the tokenizer and
    the writer), a seed mutated more, random bytes, or a MIDI header then random bytes."""
    names = sorted(seeds)
    seed = st.sampled_from(names)
    as_is = seed.map(lambda n: (n, seeds[n]))
    one_flip = st.tuples(seed, st.floats(0, 1), st.integers(0, 255)).map(
        lambda t: (t[0], mutate(seeds[t[0]], [("flip", t[1], t[2])])))
    mutated = st.tuples(seed, mutations).map(lambda t: (t[0], mutate(seeds[t[0]], t[1])))
    return st.one_of(as_is, as_is, one_flip, one_flip, one_flip, mutated, mutated,
                     st.binary(max_size=300).map(lambda b: ("random", b)),
                     st.binary(max_size=300).map(lambda b: ("random", b"MThd" + b)))


# ---------------------------------------------------------------------------- cases

BAD_PATHS = ["missing.mid", "adir", "adir.mid", "", "dangling.mid", "/dev/null", "in.mid/"]
SUFFIXES = [".mid", ".mid", ".mid", ".midi", ".MID", ".abc", ".krn", ".musicxml", ".xml", ".mxl", ".txt", ""]
VALUES = {
    "--bars": ["1", "1", "0", "-3", "513", "1e9", "nan", "", "x"],
    "--tempo": ["120", "nan", "inf", "-inf", "0", "1e308", "19.9", "400", "x", ""],
    "--time-signature": ["4/4", "3/4", "6/8", "7/8", "0/4", "4/0", "4/3", "1000/4", "4/4096", "-1/4", "4",
                         "", "a/b", "99999999999999999999/4", "4/4/4"],
    "--instruments": ["piano", "piano,bass,drums", "drums", "0", "127", "128", "-1", "999", "foo", "", ",",
                      "piano,piano", "nan"],
    "--temperature": ["1.0", "0", "0.01", "nan", "inf", "-1", "1e308", "1e-320"],
    "--top-k": ["0", "1", "100000", "-1", "nan", "1e3"],
    "--top-p": ["0.95", "0.01", "1", "0", "nan", "1.1", "inf"],
    "--guidance": ["1", "0", "2", "20", "21", "nan", "inf", "-1"],
    "--guidance-bars": ["0", "1", "1000000", "-1", "nan"],
    "--seed": ["0", "7", "-1", "9223372036854775808", "99999999999999999999999", "nan", "x"],
    "--num-samples": ["1", "2", "0", "-1", "257", "nan"],
    "--style": ["pop", "jazz", "chorale", "", "nope", "Pop", "pop "],
    "--model": ["default", "default", "", "missing_run", "adir", "in.mid"],
    "--device": ["cpu", "cpu", "auto", "cuda", "mps", "gpu", ""],
    "--workers": ["1", "2", "0", "-1", "257", "x"],
}


@dataclass
class Case:
    command: str
    files: dict[str, bytes]  # relative path -> contents, written into the case folder
    args: list[str]
    seed_name: str = ""
    expensive: bool = False

    def shell(self) -> str:
        return "compose " + " ".join(shlex.quote(a) for a in self.args)


@st.composite
def cases(draw, seeds: dict[str, bytes], commands=("inspect", "roundtrip", "tokenize", "generate")):
    command = draw(st.sampled_from(commands))
    seed_name, data = draw(file_contents(seeds))
    default_suffix = Path(seed_name).suffix if seed_name != "random" else ".mid"
    suffix = draw(st.sampled_from([default_suffix] * 6 + SUFFIXES))
    name = "in" + suffix
    files = {name: data}
    target = draw(st.sampled_from([name] * 8 + BAD_PATHS))

    def opt(flag, p=0.5):
        return [flag, draw(st.sampled_from(VALUES[flag]))] if draw(st.floats(0, 1)) < p else []

    if command == "inspect":
        args = ["inspect", target]
    elif command == "roundtrip":
        out = draw(st.sampled_from(["out.mid", "out.mid", "exists.mid", "adir", "nodir/out.mid", "", target]))
        args = ["roundtrip", target, "-o", out] + (["--force"] if draw(st.booleans()) else [])
    elif command == "tokenize":
        extra = draw(st.sampled_from([[], [], ["adir"], ["missing.mid"], [target]]))
        args = ["tokenize", target, *extra, "-o", draw(st.sampled_from(["cache", "cache", "in.mid", "", "adir"]))]
        args += opt("--style", 0.3) + opt("--workers", 0.3) + (["--quiet"] if draw(st.booleans()) else [])
    else:  # generate --primer: few real generations (1 bar, one sample)
        out = draw(st.sampled_from(["out.mid", "out.mid", "outdir", "exists.mid", "nodir/out.mid", "", target]))
        args = ["generate", "--primer", target, "-o", out, "--bars", draw(st.sampled_from(VALUES["--bars"]))]
        for flag in ("--tempo", "--time-signature", "--instruments", "--temperature", "--top-k", "--top-p",
                     "--guidance", "--guidance-bars", "--seed", "--num-samples", "--style", "--model", "--device"):
            args += opt(flag, 0.25)
        args += ["--force"] if draw(st.booleans()) else []
    return Case(command, files, args, seed_name, expensive=command == "generate")


def prepare(case: Case, folder: Path) -> None:
    """Write the case's files and the fixed decoys: a folder, an existing output, a dangling link."""
    folder.mkdir(parents=True, exist_ok=True)
    for rel, data in case.files.items():
        (folder / rel).write_bytes(data)
    (folder / "adir").mkdir(exist_ok=True)
    (folder / "adir.mid").mkdir(exist_ok=True)
    (folder / "exists.mid").write_bytes(b"old")
    with contextlib.suppress(FileExistsError):
        (folder / "dangling.mid").symlink_to(folder / "nowhere.mid")


# ---------------------------------------------------------------------------- running and checking


class Hang(BaseException):
    """Raised by the alarm: a BaseException, so no `except Exception` in the code under test eats it."""


@dataclass
class Outcome:
    exit_code: int | None
    stderr: str
    error: str | None = None  # what broke the property, None when it held
    where: str = ""  # innermost composer frame of an exception, to tell failures apart
    trace: str = ""


def verdict(exit_code, stderr: str, exc_info=None) -> tuple[str | None, str, str]:
    """(what broke the property or None, where, traceback text)."""
    if exc_info is not None and not issubclass(exc_info[0], SystemExit):
        frames = traceback.extract_tb(exc_info[2])
        ours = [f for f in frames if "/composer/" in f.filename] or frames
        where = f"{Path(ours[-1].filename).name}:{ours[-1].lineno}" if ours else "?"
        text = "".join(traceback.format_exception(*exc_info))
        return f"{exc_info[0].__name__}: {str(exc_info[1]).splitlines()[0][:160] if str(exc_info[1]) else ''}", where, text
    if exit_code not in (0, 1, 2):
        return f"exit code {exit_code}", f"exit {exit_code}", stderr
    if "Traceback" in stderr:
        return "traceback on stderr", "stderr", stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    if len(errors) > 1:
        return "several error: lines", "stderr", stderr
    if exit_code != 0 and not errors:
        return "failed without an error: line", "stderr", stderr
    return None, "", ""


def run_in_process(case: Case, folder: Path) -> Outcome:
    from click.testing import CliRunner

    from composer.cli import cli

    prepare(case, folder)
    cwd = os.getcwd()
    os.chdir(folder)
    old = signal.signal(signal.SIGALRM, _raise_hang)
    signal.alarm(CASE_SECONDS)
    try:
        result = CliRunner().invoke(cli, case.args, catch_exceptions=True)
    except Hang:
        return Outcome(None, "", f"hang (> {CASE_SECONDS} s)", "hang", "")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
        os.chdir(cwd)
    if isinstance(result.exception, Hang):
        return Outcome(None, "", f"hang (> {CASE_SECONDS} s)", "hang", "")
    error, where, trace = verdict(result.exit_code, result.stderr, result.exc_info if result.exception else None)
    return Outcome(result.exit_code, result.stderr, error, where, trace)


def _raise_hang(signum, frame):
    raise Hang()


def run_subprocess(case: Case, folder: Path) -> Outcome:
    prepare(case, folder)
    cmd = [sys.executable, "-c", "from composer.cli import main; main()", *case.args]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    try:
        p = subprocess.run(cmd, cwd=folder, capture_output=True, text=True, timeout=CASE_SECONDS * 2, env=env)
    except subprocess.TimeoutExpired:
        return Outcome(None, "", "hang (subprocess)", "hang", "")
    error, where, trace = verdict(p.returncode, p.stderr)
    return Outcome(p.returncode, p.stderr, error, where, trace)


def save_failure(out: Path, index: int, case: Case, outcome: Outcome, folder: Path) -> Path:
    dest = out / f"failure_{index:02d}"
    shutil.copytree(folder, dest, symlinks=True, dirs_exist_ok=True)
    (dest / "repro.sh").write_text(f'#!/bin/sh\ncd "$(dirname "$0")" && {case.shell()}\n')
    (dest / "traceback.txt").write_text(f"{outcome.error}\n{outcome.where}\n\n{outcome.trace}")
    (dest / "case.json").write_text(json.dumps({"args": case.args, "seed_file": case.seed_name,
                                                "exit_code": outcome.exit_code}, indent=1))
    return dest


# ---------------------------------------------------------------------------- main


@dataclass
class Tally:
    cases: int = 0
    by_command: dict = field(default_factory=dict)
    exit_codes: dict = field(default_factory=dict)
    failures: dict = field(default_factory=dict)  # (error kind, where) -> (count, saved folder, case)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=3.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="Folder for reproducers (default: a new temp folder).")
    ap.add_argument("--subprocesses", type=int, default=12, help="Cases also run as real processes at the end.")
    ap.add_argument("--no-generate", action="store_true", help="Leave out generate --primer (the slow command).")
    args = ap.parse_args(argv)

    out = args.out or Path(tempfile.mkdtemp(prefix="compose_fuzz_"))
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="compose_fuzz_work_"))
    seeds = {**generated_seeds(), **real_seeds()}
    commands = ("inspect", "roundtrip", "tokenize") + (() if args.no_generate else ("generate",))
    tally, deadline, start = Tally(), time.monotonic() + 60 * args.minutes, time.monotonic()
    sample: list[Case] = []
    rng = random.Random(args.seed)
    generate_budget = [max(2, int(args.minutes * 8))]  # generations that may reach the model

    def record(case: Case, outcome: Outcome, folder: Path):
        tally.cases += 1
        tally.by_command[case.command] = tally.by_command.get(case.command, 0) + 1
        tally.exit_codes[outcome.exit_code] = tally.exit_codes.get(outcome.exit_code, 0) + 1
        if outcome.error:
            key = (outcome.error.split(":")[0], outcome.where)
            if key not in tally.failures:
                saved = save_failure(out, len(tally.failures) + 1, case, outcome, folder)
                tally.failures[key] = [0, saved, case, outcome]
                print(f"FAILURE {outcome.error} at {outcome.where}: {case.shell()}  -> {saved}", flush=True)
            tally.failures[key][0] += 1

    @settings(max_examples=50, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(case=cases(seeds, commands))
    def batch(case):
        if time.monotonic() > deadline:
            return
        if case.expensive and "-o" in case.args and _would_generate(case):
            if generate_budget[0] <= 0:
                return
            generate_budget[0] -= 1
        folder = Path(tempfile.mkdtemp(dir=work))
        record(case, run_in_process(case, folder), folder)
        if rng.random() < 0.05 and len(sample) < 200:
            sample.append(case)
        shutil.rmtree(folder, ignore_errors=True)

    n = 0
    while time.monotonic() < deadline:
        hypothesis_seed(args.seed * 100_003 + n)(batch)()
        n += 1
    for case in rng.sample(sample, min(args.subprocesses, len(sample))):
        folder = Path(tempfile.mkdtemp(dir=work))
        record(Case("subprocess " + case.command, case.files, case.args, case.seed_name),
               run_subprocess(case, folder), folder)
        shutil.rmtree(folder, ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)

    minutes = (time.monotonic() - start) / 60
    print(f"\n{tally.cases} cases in {minutes:.1f} min: " + ", ".join(f"{k} {v}" for k, v in sorted(tally.by_command.items())))
    print("exit codes: " + ", ".join(f"{k}: {v}" for k, v in sorted(tally.exit_codes.items(), key=str)))
    print(f"{len(tally.failures)} distinct failures" + (f" (reproducers in {out})" if tally.failures else ""))
    for (kind, where), (count, saved, case, outcome) in tally.failures.items():
        print(f"  {count:4d}x {outcome.error} at {where}\n        {case.shell()}   [{saved.name}]")
    return 1 if tally.failures else 0


def _would_generate(case: Case) -> bool:
    """Whether a generate case has only valid-looking options (so it may reach the model): the
    budget on real generations keeps the run from spending its minutes sampling."""
    bad = {"0", "-3", "513", "1e9", "nan", "", "x", "inf", "-inf", "-1", "257", "1e308"}
    values = case.args[2::2]
    return not any(v in bad for v in values)


if __name__ == "__main__":
    sys.exit(main())
