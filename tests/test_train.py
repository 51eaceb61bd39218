"""Training end to end on a tiny two-style corpus: it learns, writes a loadable run, survives
SIGKILL and Ctrl-C (a resumed run ends with exactly the weights of an uninterrupted one),
refuses to overwrite a trained run, and fine-tunes with a new style.

Everything runs single-threaded (torch and the subprocesses alike): on a busy 2-core machine
two OpenMP threads per process are ten times slower, and equal thread counts make the
in-process reference run and the CLI runs bit-comparable.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from composer import checkpoint
from composer.errors import ComposerError
from composer.midi_io import write_midi
from composer.score import Score, Track
from composer.training import TrainConfig, train
from composer.training.loop import lr_at

ROOT = Path(__file__).resolve().parents[1]
STEPS = 40
# The same run from Python and from the command line (eval_windows only affects evaluation).
CONFIG = dict(size="tiny", steps=STEPS, context=128, batch_size=8, eval_every=10, val_fraction=0.2,
              device="cpu", workers=1, seed=0)
CLI_ARGS = ["--size", "tiny", "--steps", str(STEPS), "--context", "128", "--batch-size", "8", "--eval-every", "10",
            "--val-fraction", "0.2", "--device", "cpu", "--workers", "1", "--seed", "0", "--quiet"]


# ---------------------------------------------------------------------------- a tiny corpus

def scale_piece(seed: int) -> Score:
    """Style 'scales': eighth-note C-major scale runs on piano."""
    rng = np.random.default_rng(seed)
    degrees, notes, t = [0, 2, 4, 5, 7, 9, 11], [], 0
    for _ in range(12):
        start, up = int(rng.integers(0, 7)), rng.random() < 0.5
        for k in range(8):
            d = start + (k if up else -k)
            notes.append([t, 240, 60 + 12 * (d // 7) + degrees[d % 7], 80])
            t += 240
    return Score(tpq=480, tracks=[Track(program=0, notes=np.array(notes, dtype=np.int64))], end=t)


def groove_piece(seed: int) -> Score:
    """Style 'grooves': low fingered bass (program 33) on root and fifth, plus a drum beat."""
    rng = np.random.default_rng(100 + seed)
    bass, drums = [], []
    for bar, root in enumerate(rng.integers(28, 41, 6)):
        for beat in range(4):
            t = (bar * 4 + beat) * 480
            bass.append([t, 400, int(root) + (7 if beat == 2 else 0), 90])
            drums += [[t, 120, 36 if beat % 2 == 0 else 38, 100], [t + 240, 120, 42, 70]]
    return Score(tpq=480, tracks=[Track(program=33, notes=np.array(bass, dtype=np.int64)),
                                  Track(program=0, is_drum=True, notes=np.array(drums, dtype=np.int64))],
                 end=6 * 4 * 480)


def chord_piece(seed: int) -> Score:
    """Style 'chords' (for fine-tuning): block triads on strings."""
    rng = np.random.default_rng(200 + seed)
    notes = [[bar * 1920, 1920, int(r) + iv, 70] for bar, r in enumerate(rng.integers(48, 60, 6)) for iv in (0, 4, 7)]
    return Score(tpq=480, tracks=[Track(program=48, notes=np.array(notes, dtype=np.int64))], end=6 * 1920)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    for i in range(6):
        for style, make in (("scales", scale_piece), ("grooves", groove_piece)):
            (root / style).mkdir(exist_ok=True)
            write_midi(make(i), root / style / f"{style}{i}.mid")
    return root


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def reference(corpus, tmp_path_factory):
    """An uninterrupted in-process run: (run dir, summary)."""
    run = tmp_path_factory.mktemp("reference") / "run"
    summary = train([corpus], run, TrainConfig(**CONFIG, eval_windows=8), progress=False)
    return run, summary


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def state(run: Path) -> dict:
    return json.loads((run / "state.json").read_text())


def same_weights(a: Path, b: Path) -> bool:
    wa, wb = load_file(a), load_file(b)
    return wa.keys() == wb.keys() and all(torch.allclose(wa[k], wb[k], rtol=0, atol=1e-6) for k in wa)


def start_cli(corpus: Path, run: Path, *extra: str) -> subprocess.Popen:
    kw = cli_kw()
    kw.pop("capture_output")
    return subprocess.Popen([*start_cli_args(corpus, run), *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def wait_for_checkpoint(proc: subprocess.Popen, run: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not (run / "state.json").exists():
        assert proc.poll() is None, f"training ended before its first checkpoint: {proc.communicate()}"
        assert time.monotonic() < deadline, "no checkpoint in time"
        time.sleep(0.01)


# ---------------------------------------------------------------------------- tests

def test_tiny_run_learns_and_is_loadable(reference, corpus):
    run, summary = reference
    for name in ("model.safetensors", "config.json", "metrics.jsonl", "state.json", "last.safetensors",
                 "optimizer.pt", "loss.png"):
        assert (run / name).is_file(), name
    m = metrics(run)
    assert [x["step"] for x in m] == [10, 20, 30, 40]
    for x in m:
        assert all(math.isfinite(x[k]) for k in ("train_loss", "val_loss", "val_bits_per_note", "lr", "tokens_per_s"))
    assert m[-1]["train_loss"] < m[0]["train_loss"] - 0.5
    assert m[-1]["val_loss"] < m[0]["val_loss"]
    assert math.isfinite(summary["unigram_baseline"]) and summary["unigram_baseline"] > 0
    assert summary["best_val_loss"] == min(x["val_loss"] for x in m) or \
        math.isclose(summary["best_val_loss"], min(x["val_loss"] for x in m), rel_tol=1e-4)
    assert summary["steps"] == STEPS and not summary["interrupted"]

    model, tok, config = checkpoint.load_torch_run(run)
    assert config["styles"] == tok.config.styles == ["grooves", "scales"]
    assert model.config.vocab_size == len(tok)
    assert config["summary"]["corpus"]["styles"].keys() == {"grooves", "scales"}
    assert config["summary"]["arch"] == "transformer" and config["summary"]["size"] == "tiny"

    st = state(run)
    assert st["step"] == STEPS and st["config"]["batch_size"] == 8
    corpus_files = {f.name for f in corpus.rglob("*.mid")}
    assert 1 <= len(st["val_files"]) < len(corpus_files)  # held out by file
    assert summary["corpus"]["train_files"] + summary["corpus"]["val_files"] == len(corpus_files)


@pytest.mark.slow
def test_sigkill_then_resume_gives_the_uninterrupted_weights(reference, corpus, tmp_path):
    run = tmp_path / "run"
    proc = start_cli(corpus, run)
    wait_for_checkpoint(proc, run)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    killed_at = state(run)["step"]
    assert 10 <= killed_at < STEPS

    done = subprocess.run([*start_cli_args(corpus, run), "--resume"], **cli_kw(), timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"resuming at step {killed_at} of {STEPS}" in done.stdout
    assert state(run)["step"] == STEPS
    assert [x["step"] for x in metrics(run)] == [10, 20, 30, 40]  # continuous, no repeats
    checkpoint.load_torch_run(run)
    assert same_weights(run / "last.safetensors", reference[0] / "last.safetensors")
    assert same_weights(run / "model.safetensors", reference[0] / "model.safetensors")


@pytest.mark.slow
def test_ctrl_c_saves_and_resumes(reference, corpus, tmp_path):
    run = tmp_path / "run"
    proc = start_cli(corpus, run)
    wait_for_checkpoint(proc, run)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    stopped = state(run)["step"]
    assert 10 <= stopped < STEPS
    assert f"interrupted at step {stopped}; resume with --resume" in out
    assert "Traceback" not in err
    assert all(x["step"] <= stopped for x in metrics(run))

    done = subprocess.run([*start_cli_args(corpus, run), "--resume"], **cli_kw(), timeout=120)
    assert done.returncode == 0, done.stderr
    assert state(run)["step"] == STEPS
    assert same_weights(run / "last.safetensors", reference[0] / "last.safetensors")


def test_no_overwrite_without_resume(reference, corpus, capsys):
    from composer.cli import cli

    run = reference[0]
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    with pytest.raises(SystemExit) as e:
        cli.main(["train", str(corpus), "--out", str(run), *CLI_ARGS])
    assert e.value.code == 2  # a destination that holds a model: bad input
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {run}: already holds a trained model (use --resume to continue, or a new --out)"]
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before


def test_resume_needs_a_checkpoint_and_the_same_settings(reference, corpus, tmp_path):
    with pytest.raises(ComposerError, match="nothing to resume"):
        train([corpus], tmp_path / "empty", TrainConfig(**CONFIG), resume=True, progress=False)
    with pytest.raises(ComposerError, match="cannot change batch_size"):
        train([corpus], reference[0], TrainConfig(**{**CONFIG, "batch_size": 4}), resume=True, progress=False)
    # already complete: nothing to do, nothing changes
    before = (reference[0] / "state.json").read_bytes()
    out = train([corpus], reference[0], TrainConfig(**CONFIG), resume=True, progress=False)
    assert out["steps"] == STEPS and (reference[0] / "state.json").read_bytes() == before


def test_fine_tune_adds_a_style_and_keeps_the_old_ids(reference, corpus, tmp_path):
    new = tmp_path / "corpus"
    for i in range(4):
        (new / "chords").mkdir(parents=True, exist_ok=True)
        write_midi(chord_piece(i), new / "chords" / f"c{i}.mid")
    (new / "scales").mkdir()
    write_midi(scale_piece(9), new / "scales" / "s9.mid")
    base = tmp_path / "base"  # the reference run, with a recommended guidance for one style
    shutil.copytree(reference[0], base)
    base_config = json.loads((base / "config.json").read_text())
    (base / "config.json").write_text(json.dumps({**base_config, "guidance": {"scales": 1.7}}))
    old_model, old_tok, _ = checkpoint.load_torch_run(base)
    run = tmp_path / "tuned"
    summary = train([new], run, TrainConfig(**{**CONFIG, "steps": 6, "eval_every": 3}), init_from=base,
                    progress=False)
    assert summary["init_from"] == str(base)
    assert summary["train_config"]["lr"] == 3e-4
    model, tok, config = checkpoint.load_torch_run(run)
    assert tok.config.styles == ["grooves", "scales", "chords"]
    for s in ("grooves", "scales"):
        assert tok.vocab.style_id(s) == old_tok.vocab.style_id(s)
    assert model.config.vocab_size == len(old_tok) + 1 == old_model.config.vocab_size + 1
    assert config["summary"]["corpus"]["styles"].keys() == {"chords", "scales"}
    assert config["guidance"] == {"scales": 1.7}  # kept for the inherited style; the new one gets 1.0
    assert config["style_instruments"]["chords"] == [48]  # from the new corpus; the base's styles kept
    assert config["style_instruments"].keys() == {"grooves", "scales", "chords"}


@pytest.mark.slow
def test_fine_tune_rehearses_the_base_styles(reference, corpus, tmp_path):
    """Every run keeps a replay sample of its training windows; a fine-tune on a new style
    rehearses the base run's windows and forgets the old styles far less than one without."""
    from composer.training.replay import PER_STYLE, load_replay

    base_model, base_tok, _ = checkpoint.load_torch_run(reference[0])
    fp = base_tok.config.fingerprint()
    windows, inherited = load_replay(reference[0], fp)
    assert inherited == 0 and windows.shape == (2 * PER_STYLE, CONFIG["context"] + 1)
    assert set(windows[:, 1]) == {base_tok.vocab.style_id("grooves"), base_tok.vocab.style_id("scales")}
    new = tmp_path / "corpus" / "chords"
    new.mkdir(parents=True)
    for i in range(4):
        write_midi(chord_piece(i), new / f"c{i}.mid")

    def old_style_loss(replay: float) -> float:
        run = tmp_path / f"tuned{replay}"
        train([new.parent], run, TrainConfig(**{**CONFIG, "steps": 30, "eval_every": 30, "lr": 3e-3, "replay": replay}),
              init_from=reference[0], progress=False)
        own, inherited = load_replay(run, fp)
        assert inherited == len(windows) and np.array_equal(own[:inherited], windows)  # base windows first
        model, _, _ = checkpoint.load_torch_run(run)
        x = torch.from_numpy(windows)
        with torch.no_grad():
            return model(x[:, :-1], x[:, 1:])[1].item()

    with torch.no_grad():
        x = torch.from_numpy(windows)
        before = base_model(x[:, :-1], x[:, 1:])[1].item()
    rehearsed, forgot = old_style_loss(0.5), old_style_loss(0.0)
    assert rehearsed < before + 0.5 * (forgot - before), (before, rehearsed, forgot)


def test_learning_rate_schedule():
    peak, total = 1e-3, 1000
    lrs = [lr_at(s, total, peak, 100, 0.1) for s in range(total)]
    assert lrs[0] == pytest.approx(peak / 100) and lrs[99] == pytest.approx(peak)
    assert all(a >= b for a, b in zip(lrs[100:], lrs[101:]))
    assert lrs[-1] == pytest.approx(peak * 0.1, rel=1e-3)
    assert lr_at(0, 8, peak, 100, 0.1) == pytest.approx(peak / 2)  # warm-up capped at a quarter of the run


def start_cli_args(corpus: Path, run: Path) -> list[str]:
    return [sys.executable, "-m", "composer.cli", "train", str(corpus), "--out", str(run), *CLI_ARGS]


def cli_kw() -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return dict(cwd=ROOT, env=env, capture_output=True, text=True)


def test_lstm_without_validation_files(corpus, tmp_path):
    run = tmp_path / "lstm"
    cfg = TrainConfig(**{**CONFIG, "arch": "lstm", "steps": 4, "eval_every": 2, "val_fraction": 0.0})
    summary = train([corpus], run, cfg, progress=False)
    assert summary["corpus"]["val_files"] == 0 and summary["best_val_loss"] is None
    assert [m["val_loss"] for m in metrics(run)] == [None, None]
    model, _, config = checkpoint.load_torch_run(run)  # with no validation, model.safetensors is the latest
    assert model.config.arch == config["summary"]["arch"] == "lstm"


# ---------------------------------------------------------------------------- then generate

def test_generate_each_style_from_the_trained_run(reference, tmp_path):
    """The smoke test end to end: a trained tiny run generates valid MIDI in each style."""
    from composer.midi_io import read_midi
    from composer.generate import SamplingOptions, load_model

    run, _ = reference
    model = load_model(run)
    assert model.styles == ["grooves", "scales"]
    outputs = {}
    for style in model.styles:
        out = tmp_path / f"{style}.mid"
        r = subprocess.run([sys.executable, str(ROOT / "cli.py"), "generate", "--model", str(run), "--style", style,
                            "--bars", "4", "--seed", "2", "-o", str(out)], **cli_kw())
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith(f"wrote {out}: 4 bars")
        score = read_midi(out)  # a valid file with notes
        assert score.note_count > 0
        outputs[style] = out.read_bytes()
        tokens = model.generate_tokens(SamplingOptions(style=style, bars=4, seed=2))[0]
        assert tokens[1] == model.tokenizer.vocab.style_id(style)
    assert outputs["grooves"] != outputs["scales"]
    # same seed, same model: the same bytes; an existing file is never overwritten silently
    again = tmp_path / "again.mid"
    subprocess.run([sys.executable, str(ROOT / "cli.py"), "generate", "--model", str(run), "--style", "scales",
                    "--bars", "4", "--seed", "2", "-o", str(again)], check=True, **cli_kw())
    assert again.read_bytes() == outputs["scales"]
    r = subprocess.run([sys.executable, str(ROOT / "cli.py"), "generate", "--model", str(run), "--style", "scales",
                        "-o", str(again)], **cli_kw())
    assert r.returncode == 2 and "already exists" in r.stderr and again.read_bytes() == outputs["scales"]
    r = subprocess.run([sys.executable, str(ROOT / "cli.py"), "generate", "--model", str(run), "--style", "polka",
                        "-o", str(tmp_path / "x.mid")], **cli_kw())
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0
    assert "unknown style 'polka'" in r.stderr and "grooves, scales" in r.stderr
    r = subprocess.run([sys.executable, str(ROOT / "cli.py"), "styles", "--model", str(run)], **cli_kw())
    assert r.returncode == 0 and [line.split()[0] for line in r.stdout.splitlines()] == ["grooves", "scales"]


@pytest.mark.slow
def test_evaluate_cli_reports_nll_per_style_and_compares_sets(reference, corpus, tmp_path):
    run, _ = reference
    r = subprocess.run([sys.executable, str(ROOT / "cli.py"), "evaluate", "--model", str(run)], **cli_kw())
    assert r.returncode == 0, r.stderr
    rows = {line.split()[0]: line.split() for line in r.stdout.splitlines()[1:]}
    assert set(rows) == {"grooves", "scales"}
    assert all(0 < float(row[2]) < 10 for row in rows.values())
    gen = tmp_path / "gen"
    r = subprocess.run([sys.executable, str(ROOT / "cli.py"), "generate", "--model", str(run), "--style", "scales",
                        "--bars", "4", "--num-samples", "3", "-o", str(gen)], **cli_kw())
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in gen.iterdir()) == ["out_01.mid", "out_02.mid", "out_03.mid"]
    r = subprocess.run([sys.executable, str(ROOT / "cli.py"), "evaluate", str(gen), "--reference", str(corpus),
                        "--style", "scales"], **cli_kw())
    assert r.returncode == 0, r.stderr
    assert "pitch" in r.stdout.lower() and (gen / "evaluation.json").exists()
    assert list((gen / "evaluation_plots").glob("*.png"))


def test_a_run_from_before_keep_key_resumes_transposing_every_window():
    from dataclasses import asdict

    from composer.training.config import TrainConfig, resumed_config

    saved = {k: v for k, v in asdict(TrainConfig(steps=10)).items() if k != "keep_key"}
    assert resumed_config(TrainConfig(), saved).keep_key == 0.0
    assert resumed_config(TrainConfig(), {**saved, "keep_key": 0.5}).keep_key == 0.5
    with pytest.raises(ComposerError, match="cannot change keep_key"):
        resumed_config(TrainConfig(keep_key=0.2), {**saved, "keep_key": 0.5})


# ---------------------------------------------------------------------------- nothing a user gives is lost

def short_piece(seed: int) -> Score:
    """Two bars of quarter notes: a tiny file, for corpora of many files."""
    rng = np.random.default_rng(300 + seed)
    notes = [[k * 480, 480, 60 + int(rng.integers(0, 12)), 80] for k in range(8)]
    return Score(tpq=480, tracks=[Track(program=0, notes=np.array(notes, dtype=np.int64))], end=8 * 480)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd" if os.path.isdir("/proc/self/fd") else "/dev/fd"))


def test_a_corpus_larger_than_the_open_files_limit_trains(tmp_path):
    resource = pytest.importorskip("resource")
    root = tmp_path / "corpus"
    for i in range(300):
        (root / f"style{i % 3}").mkdir(parents=True, exist_ok=True)
        write_midi(short_piece(i), root / f"style{i % 3}" / f"t{i}.mid")
    limit = max(128, open_fds() + 64)  # room for this process, none for a descriptor per file
    assert limit < 300
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
    try:
        summary = train([root], tmp_path / "run", TrainConfig(**{**CONFIG, "steps": 2, "eval_every": 2, "context": 64,
                                                                  "batch_size": 2}, eval_windows=4), progress=False)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert summary["steps"] == 2 and summary["corpus"]["files"] == 300
    assert math.isfinite(summary["best_val_loss"])
    assert state(tmp_path / "run")["step"] == 2
    checkpoint.load_torch_run(tmp_path / "run")


def held_out_paths(run: Path) -> list[str]:
    """The paths of a run's validation files (state.json keeps their sha256), from its cache index."""
    from composer.corpus import load_index

    shas = set(state(run)["val_files"])
    return sorted(f.path for f in load_index(run / "cache").files if f.sha256 in shas)


def test_resume_refuses_a_corpus_without_the_runs_validation_files(reference, corpus, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(reference[0], run)
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    val_paths = held_out_paths(run)
    assert len(val_paths) >= 2
    gone = val_paths[0]
    partial = tmp_path / "partial"
    shutil.copytree(corpus, partial)
    (partial / Path(gone).relative_to(corpus)).unlink()
    more = dict(CONFIG, steps=STEPS + 2)
    with pytest.raises(ComposerError) as e:
        train([partial], run, TrainConfig(**more), resume=True, progress=False)
    assert str(e.value) == (f"{run}: the corpus is not the one this run was trained on: 1 of its {len(val_paths)} "
                            f"validation files are not in {partial} ({gone}); resume with the run's corpus, "
                            "or start a new run")
    other = tmp_path / "other"  # the same styles, other music: none of the held-out files
    for i in range(6):
        for style, make in (("scales", scale_piece), ("grooves", groove_piece)):
            (other / style).mkdir(parents=True, exist_ok=True)
            write_midi(make(50 + i), other / style / f"{style}{i}.mid")
    with pytest.raises(ComposerError, match=f"{len(val_paths)} of its {len(val_paths)} validation files are not in"):
        train([other], run, TrainConfig(**more), resume=True, progress=False)
    assert sorted(state(run)["val_paths"].values()) == val_paths  # named from state.json's val_paths
    old = {k: v for k, v in state(run).items() if k != "val_paths"}  # a run from before val_paths
    (run / "state.json").write_text(json.dumps(old))
    with pytest.raises(ComposerError, match=r"validation files are not in .* \(sha256 [0-9a-f]{12}"):
        train([other], run, TrainConfig(**more), resume=True, progress=False)
    (run / "state.json").write_bytes(before[run / "state.json"])
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before  # the cache index too


def test_every_style_gets_a_validation_file(corpus, tmp_path):
    summary = train([corpus], tmp_path / "run", TrainConfig(**{**CONFIG, "steps": 1, "val_fraction": 0.05}),
                    progress=False)
    held = held_out_paths(tmp_path / "run")
    assert sorted(Path(p).parent.name for p in held) == ["grooves", "scales"]  # 0.05 of 6 files: one a style
    assert summary["corpus"]["val_files"] == 2


def test_no_validation_files_is_said_not_silent(tmp_path, capsys):
    root = tmp_path / "corpus"
    for style, make in (("scales", scale_piece), ("grooves", groove_piece)):
        (root / style).mkdir(parents=True)
        write_midi(make(0), root / style / "only.mid")
    summary = train([root], tmp_path / "run", TrainConfig(**{**CONFIG, "steps": 1}), progress=False)
    assert summary["corpus"]["val_files"] == 0
    assert ("warning: no validation files (no style has two files to hold one out); training without validation "
            "(model.safetensors will be the latest weights, not the best)") in capsys.readouterr().out.splitlines()


def test_a_failed_new_run_leaves_no_run_folder(corpus, tmp_path, monkeypatch):
    from composer.training import loop

    bad = tmp_path / "bad" / "jazz"
    bad.mkdir(parents=True)
    (bad / "notes.mid").write_text("not a MIDI file")
    with pytest.raises(ComposerError, match="no usable music files"):
        train([bad.parent], tmp_path / "runs" / "a" / "b", TrainConfig(**CONFIG), progress=False)
    assert not (tmp_path / "runs").exists()  # nor the parents it made
    with pytest.raises(ComposerError, match="no such folder"):
        train([tmp_path / "nope"], tmp_path / "run", TrainConfig(**CONFIG), progress=False)
    assert not (tmp_path / "run").exists()

    calls = []

    def failing_validation_loss(*args, **kw):  # a failure inside the loop, after config.json and friends
        calls.append(1)
        if len(calls) == fail_at:
            raise RuntimeError("boom")
        return real_validation_loss(*args, **kw)

    real_validation_loss = loop.validation_loss
    monkeypatch.setattr(loop, "validation_loss", failing_validation_loss)
    empty = tmp_path / "empty"  # made by the user: kept, and left as it was
    empty.mkdir()
    fail_at = 1
    with pytest.raises(RuntimeError, match="boom"):
        train([corpus], empty, TrainConfig(**CONFIG), progress=False)
    assert empty.is_dir() and list(empty.iterdir()) == []

    # a failure after the first checkpoint keeps the run, resumable from it
    calls.clear()
    fail_at = 2
    with pytest.raises(RuntimeError, match="boom"):
        train([corpus], tmp_path / "kept", TrainConfig(**CONFIG), progress=False)
    assert state(tmp_path / "kept")["step"] == 10
    monkeypatch.setattr(loop, "validation_loss", real_validation_loss)
    out = train([corpus], tmp_path / "kept", TrainConfig(**{**CONFIG, "steps": 12}), resume=True, progress=False)
    assert out["steps"] == 12 and state(tmp_path / "kept")["step"] == 12


def test_out_folder_with_other_files_is_refused(corpus, tmp_path, capsys):
    from composer.cli import cli

    mine = tmp_path / "x"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes")
    with pytest.raises(SystemExit) as e:
        cli.main(["train", str(corpus), "--out", str(mine), *CLI_ARGS])
    assert e.value.code != 0
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: {mine}: exists and is not a composer run folder; choose a new --out"]
    assert [p.name for p in mine.iterdir()] == ["notes.txt"] and (mine / "notes.txt").read_text() == "my notes"
