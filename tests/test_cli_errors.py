"""Requests `compose` must refuse in one line, with one exit-code scheme for every command
(0 ok, 1 the work failed, 2 bad usage or input, 130 interrupted): non-finite numbers, devices
this machine lacks, and thread settings that are honoured without changing the music."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from composer import generate
from composer.cli import cli
from composer.midi_io import write_midi
from composer.score import Score, Track

ROOT = Path(__file__).resolve().parents[1]


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def error_line(r, code: int) -> str:
    assert r.exit_code == code, (r.exit_code, r.output, r.stderr)
    err = r.stderr.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    return err


@pytest.fixture
def piece(tmp_path) -> Path:
    notes = np.array([[i * 240, 240, 60 + i % 5, 80] for i in range(16)])
    path = tmp_path / "corpus" / "a.mid"
    write_midi(Score(tpq=480, tracks=[Track(0, notes=notes)]), path)
    return path


# ---------------------------------------------------------------------------- non-finite numbers

GENERATE = ["--tempo", "--temperature", "--top-p", "--guidance"]
TRAIN = ["--lr", "--epochs", "--val-fraction", "--replay", "--keep-key"]


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_non_finite_numbers_are_refused(tmp_path, piece, value):
    for option in GENERATE:
        err = error_line(run("generate", "--style", "jazz", option, value, "-o", tmp_path / "x.mid"), 2)
        assert option in err and ("not a finite number" in err or "range" in err), err
    for option in TRAIN:
        err = error_line(run("train", piece.parent, "--out", tmp_path / "run", option, value), 2)
        assert option in err and ("not a finite number" in err or "range" in err), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus"]


# ---------------------------------------------------------------------------- devices

@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has cuda")
def test_a_missing_device_is_named_with_those_there_are(tmp_path, piece):
    from composer.device import available_devices, pick_device

    there = ", ".join(available_devices())
    for device in ("cuda", "mps"):
        if device in available_devices():
            continue
        want = f"error: --device {device}: not available on this machine (available: {there})"
        assert error_line(run("generate", "--style", "jazz", "--device", device, "-o", tmp_path / "x.mid"), 2) == want
        assert error_line(run("train", piece.parent, "--out", tmp_path / "run", "--device", device), 2) == want
    assert pick_device("auto") == available_devices()[0]
    assert not (tmp_path / "x.mid").exists() and not (tmp_path / "run").exists()


def test_generate_on_the_cpu_imports_no_torch(tmp_path):
    code = ("import sys\nfrom composer.cli import cli\n"
            "try:\n    cli.main(['generate', '--style', 'jazz', '--bars', '1', '--threads', '1', '-o', sys.argv[1]])\n"
            "except SystemExit as e:\n    assert e.code == 0, e.code\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "x.mid")], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == "False"


# ---------------------------------------------------------------------------- threads

@pytest.fixture
def restore_threads():
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    with threadpool_limits(limits=None):  # restores the BLAS pools on exit
        yield
    torch.set_num_threads(before)


def test_threads_are_honoured_and_do_not_change_the_music(tmp_path, restore_threads, monkeypatch):
    from threadpoolctl import threadpool_info

    from composer.threads import THREAD_VARIABLES, set_threads

    for v in THREAD_VARIABLES:
        monkeypatch.delenv(v, raising=False)
    outputs = {}
    for n in ("1", "2", None):
        out = tmp_path / f"t{n}.mid"
        r = run("generate", "--style", "jazz", "--bars", "4", "--seed", "3", "-o", out,
                *(["--threads", n] if n else []))
        assert r.exit_code == 0, r.stderr
        blas = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
        assert blas and set(blas) == {int(n or 1)}  # the default policy: one thread
        outputs[n] = out.read_bytes()
    assert outputs["1"] == outputs["2"] == outputs[None]
    assert torch.get_num_threads() == 1  # torch was loaded: it follows the same limit

    set_threads(2, default=1)
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
    assert set_threads(None, default=1) is None  # the user's environment is honoured
    assert {p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"} == {2}
    assert set_threads(None, default=None) is None


# ---------------------------------------------------------------------------- one exit-code scheme

def test_every_command_exits_2_on_bad_input(tmp_path, piece):
    junk = tmp_path / "junk.mid"
    junk.write_text("not MIDI")
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = {
        "inspect": ["inspect", junk],
        "roundtrip": ["roundtrip", junk, "-o", tmp_path / "out.mid"],
        "tokenize": ["tokenize", tmp_path / "missing", "-o", tmp_path / "cache"],
        "train": ["train", empty, "--out", tmp_path / "run", "--steps", "1", "--workers", "1", "--quiet"],
        "generate style": ["generate", "--style", "polka", "-o", tmp_path / "g.mid"],
        "generate instrument": ["generate", "--style", "jazz", "--instruments", "kazoo", "-o", tmp_path / "g.mid"],
        "generate primer": ["generate", "--style", "jazz", "--primer", junk, "-o", tmp_path / "g.mid"],
        "styles": ["styles", "--model", tmp_path / "no-such-run"],
        "evaluate": ["evaluate", empty, "--reference", piece.parent, "--json", tmp_path / "e.json"],
        "unknown option": ["generate", "--colour", "red"],
    }
    for name, args in cases.items():
        r = run(*args)
        assert r.exit_code == 2, (name, r.exit_code, r.stderr)
        error_line(r, 2)
    assert "junk.mid" in error_line(run(*cases["inspect"]), 2)
    # nothing written: a refused train removes the run folder it made
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus", "empty", "junk.mid"]


def test_interrupted_exits_130(tmp_path, monkeypatch):
    def interrupt(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(generate, "load_model", interrupt)
    r = run("generate", "--style", "jazz", "-o", tmp_path / "x.mid")
    assert r.exit_code == 130 and r.stderr.strip() == "error: interrupted"
