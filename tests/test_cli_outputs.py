"""Where `compose` writes: every destination is checked before the work, an existing file is
never replaced without --force (not even by a process that wins a race), a write that fails
late is one line with exit 1, and --num-samples names its files as --help says."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from composer import atomic, generate
from composer.atomic import write_bytes_atomic
from composer.cli import cli
from composer.errors import WriteError
from composer.midi_io import read_midi, write_midi
from composer.score import Score, Track

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args])


def one_line_error(r, code: int, *words: str) -> str:
    assert r.exit_code == code, (r.exit_code, r.output, r.stderr)
    err = r.stderr.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    for w in words:
        assert w in err, err
    return err


@pytest.fixture
def no_work(monkeypatch):
    """Loading a model fails the test: a refusal must come before any work."""
    def refuse(*a, **k):
        raise AssertionError("the work started before the destination was checked")
    monkeypatch.setattr(generate, "load_model", refuse)


def small_midi(path: Path, pitch: int = 60) -> Path:
    notes = np.array([[i * 240, 240, pitch + i % 5, 80] for i in range(16)])
    write_midi(Score(tpq=480, tracks=[Track(0, notes=notes)]), path)
    return path


# ---------------------------------------------------------------------------- checked before the work

def test_generate_into_an_existing_folder_is_refused_even_with_force(tmp_path, no_work):
    r = run("generate", "--style", "jazz", "-o", tmp_path, "--force")
    one_line_error(r, 2, str(tmp_path), "is a folder")
    assert list(tmp_path.iterdir()) == []


def test_parent_that_is_a_file_is_refused(tmp_path, no_work):
    blocker = tmp_path / "a.mid"
    blocker.write_bytes(b"keep")
    r = run("generate", "--style", "jazz", "-o", blocker / "x.mid")
    one_line_error(r, 2, "a.mid/x.mid", "is a file, not a folder")
    r = run("generate", "--style", "jazz", "-o", blocker / "sub" / "x.mid")
    one_line_error(r, 2, "is a file, not a folder")
    assert blocker.read_bytes() == b"keep"


UNWRITABLE = Path("/sys")  # refuses new files even to root (os.access would say yes there)


def _unwritable() -> bool:
    try:
        (UNWRITABLE / ".composer-probe").touch()
    except OSError:
        return True
    (UNWRITABLE / ".composer-probe").unlink()
    return False


@pytest.mark.skipif(not _unwritable(), reason="needs a folder nobody may write in")
def test_unwritable_destinations_are_refused_before_the_work(tmp_path, no_work):
    piece = small_midi(tmp_path / "in.mid")
    (tmp_path / "gen").mkdir()
    small_midi(tmp_path / "gen" / "g.mid")
    target = UNWRITABLE / "composer-test"
    cases = [
        ("generate", "--style", "jazz", "-o", target / "x.mid"),
        ("roundtrip", piece, "-o", target / "x.mid"),
        ("tokenize", tmp_path, "-o", target / "cache"),
        ("train", tmp_path, "--out", target / "run", "--steps", "1"),
        ("evaluate", tmp_path / "gen", "--reference", tmp_path / "gen", "--json", target / "e.json"),
        ("evaluate", tmp_path / "gen", "--reference", tmp_path / "gen", "--plots", target / "plots"),
    ]
    for args in cases:
        one_line_error(run(*args), 2, "composer-test", "cannot write in /sys")
    assert not (tmp_path / "gen" / "evaluation.json").exists()


def test_output_over_an_input_is_refused(tmp_path):
    piece = small_midi(tmp_path / "in.mid")
    before = piece.read_bytes()
    one_line_error(run("roundtrip", piece, "-o", piece, "--force"), 2, "would overwrite an input")
    assert piece.read_bytes() == before


def test_train_out_that_is_a_file_is_refused(tmp_path):
    small_midi(tmp_path / "corpus" / "a.mid")
    out = tmp_path / "run"
    out.write_text("not a folder")
    one_line_error(run("train", tmp_path / "corpus", "--out", out, "--steps", "1"), 2, "run", "is a file")


# ---------------------------------------------------------------------------- failures after the work

def test_a_write_that_fails_late_is_one_line_exit_1(tmp_path, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(atomic.os, "fsync", full)
    out = tmp_path / "x.mid"
    r = run("generate", "--style", "jazz", "--bars", "1", "-o", out)
    one_line_error(r, 1, str(out), "No space left on device")
    assert list(tmp_path.iterdir()) == []  # no output, no temp file


def test_exclusive_write_race_has_one_winner(tmp_path):
    """Eight writers of one path at once without overwrite: one wins, the others raise WriteError
    and leave its file alone; with overwrite the last one wins, as before."""
    path = tmp_path / "x.mid"
    barrier = threading.Barrier(8)
    won, lost = [], []

    def write(i):
        barrier.wait()
        try:
            write_bytes_atomic(path, bytes([i]) * 1000, overwrite=False)
            won.append(i)
        except WriteError as e:
            assert "another process wrote it" in str(e) and str(path) in str(e)
            lost.append(i)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1 and len(lost) == 7
    assert path.read_bytes() == bytes(won) * 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.mid"]  # no temp files left
    write_bytes_atomic(path, b"new")
    assert path.read_bytes() == b"new"


@pytest.mark.slow
def test_two_generate_processes_for_one_path(tmp_path):
    """Both start before either writes; exactly one writes, the other says it did not."""
    out = tmp_path / "race.mid"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-m", "composer.cli", "generate", "--style", "jazz", "--bars", "2",
                               "--seed", str(seed), "-o", str(out)], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for seed in (1, 2)]
    results = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    codes = sorted(rc for rc, _, _ in results)
    assert codes[0] == 0 and codes[1] in (1, 2), results
    winner = next(i for i, (rc, _, _) in enumerate(results) if rc == 0)
    loser_err = results[1 - winner][2].strip()
    assert loser_err.count("\n") == 0 and "already exists" in loser_err and "Traceback" not in loser_err
    # the file is the winner's piece, whole
    mine = tmp_path / "again.mid"
    assert run("generate", "--style", "jazz", "--bars", "2", "--seed", str(1 + winner), "-o", mine).exit_code == 0
    assert out.read_bytes() == mine.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again.mid", "race.mid"]


def test_force_replaces_and_no_force_keeps(tmp_path):
    out = tmp_path / "x.mid"
    out.write_bytes(b"mine")
    one_line_error(run("generate", "--style", "jazz", "--bars", "1", "-o", out), 2, "already exists", "--force")
    assert out.read_bytes() == b"mine"
    assert run("generate", "--style", "jazz", "--bars", "1", "-o", out, "--force").exit_code == 0
    assert read_midi(out).note_count > 0


# ---------------------------------------------------------------------------- --num-samples names

def test_num_samples_names_match_the_help(tmp_path):
    help_text = " ".join(run("generate", "--help").output.split())
    assert "OUT.mid means OUT_01.mid ... OUT_NN.mid beside it" in help_text
    assert "holding out_01.mid ... out_NN.mid" in help_text

    r = run("generate", "--style", "jazz", "--bars", "1", "--num-samples", "3", "-o", tmp_path / "x.mid")
    assert r.exit_code == 0, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x_01.mid", "x_02.mid", "x_03.mid"]
    assert all(read_midi(tmp_path / f"x_0{i}.mid").note_count > 0 for i in (1, 2, 3))

    r = run("generate", "--style", "jazz", "--bars", "1", "--num-samples", "2", "-o", tmp_path / "set")
    assert r.exit_code == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "set").iterdir()) == ["out_01.mid", "out_02.mid"]

    # one of the names taken: nothing is written
    r = run("generate", "--style", "jazz", "--bars", "1", "--num-samples", "3", "-o", tmp_path / "x.mid")
    one_line_error(r, 2, "x_01.mid", "already exists")


# ---------------------------------------------------------------------------- evaluate

def test_evaluate_keeps_its_outputs_without_force(tmp_path):
    for i in range(3):
        small_midi(tmp_path / "gen" / f"g{i}.mid", 60 + i)
        small_midi(tmp_path / "ref" / f"r{i}.mid", 62 + i)
    args = ("evaluate", tmp_path / "gen", "--reference", tmp_path / "ref", "--style", "x")
    r = run(*args)
    assert r.exit_code == 0, r.stderr
    report = tmp_path / "gen" / "evaluation.json"
    plots = tmp_path / "gen" / "evaluation_plots"
    before = report.read_bytes(), (plots / "distributions.png").read_bytes()
    report.write_text("{}")
    one_line_error(run(*args), 2, "evaluation.json", "already exists", "--force")
    assert report.read_text() == "{}"
    one_line_error(run(*args, "--json", tmp_path / "other.json"), 2, "evaluation_plots", "already holds plots")
    assert not (tmp_path / "other.json").exists()
    r = run(*args, "--force")
    assert r.exit_code == 0, r.stderr
    assert report.read_bytes() == before[0] and (plots / "distributions.png").read_bytes() == before[1]


def test_evaluate_model_default_says_what_it_needs():
    err = one_line_error(run("evaluate", "--model", "default"), 2, "--model default", "no validation split",
                         "compose train")
    assert "resume" not in err  # it used to speak of resuming a training run
