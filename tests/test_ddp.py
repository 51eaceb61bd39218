"""Training on two processes: real torchrun runs with Gloo on the CPU.

A 2-rank run trains on different windows in each rank, ends with the weights of a single
process with the same batch and seed (to float rounding), writes one run folder (rank 0), and
resumes, with two ranks or with one. SIGTERM on one rank stops both after the same step with a
checkpoint; SIGKILL of the writing rank leaves a run folder that loads and resumes.
"""

from __future__ import annotations

import json
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
from composer.midi_io import write_midi
from composer.score import Score, Track
from composer.training import TrainConfig, train
from composer.training.dist import Dist

pytestmark = pytest.mark.skipif(not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
                                reason="torch built without distributed/Gloo")

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--size", "tiny", "--context", "128", "--batch-size", "8", "--eval-every", "10", "--val-fraction", "0.2",
        "--device", "cpu", "--workers", "1", "--seed", "0", "--threads", "1", "--quiet"]
CONFIG = {"size": "tiny", "context": 128, "batch_size": 8, "eval_every": 10, "val_fraction": 0.2, "device": "cpu",
          "workers": 1, "seed": 0}


def piece(seed: int, drums: bool) -> Score:
    rng = np.random.default_rng(seed)
    notes = [[i * 240, 240, int(rng.integers(48, 72)), 80] for i in range(96)]
    tracks = [Track(program=33 if drums else 0, notes=np.array(notes, dtype=np.int64))]
    if drums:
        tracks.append(Track(program=0, is_drum=True,
                            notes=np.array([[i * 480, 120, 36 + 2 * (i % 2), 100] for i in range(48)], dtype=np.int64)))
    return Score(tpq=480, tracks=tracks, end=96 * 240)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ddp") / "corpus"
    for i in range(6):
        for style, drums in (("grooves", True), ("lines", False)):
            (root / style).mkdir(parents=True, exist_ok=True)
            write_midi(piece(10 * i + drums, drums), root / style / f"{style}{i}.mid")
    return root


def env(**extra) -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), **extra}


def torchrun(corpus: Path, run: Path, *args: str, nproc: int = 2) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
            "-m", "composer", "train", str(corpus), "--out", str(run), *ARGS, *args]


def weights(path: Path) -> dict:
    return load_file(str(path))


def max_diff(a: Path, b: Path) -> float:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    return max(float((wa[k] - wb[k]).abs().max()) for k in wa)


def state(run: Path) -> dict:
    return json.loads((run / "state.json").read_text())


def metric_steps(run: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]


def files(run: Path) -> list[str]:
    return sorted(str(p.relative_to(run)) for p in run.rglob("*") if p.is_file() and p.name != "lock")


@pytest.fixture(scope="module")
def single(corpus, tmp_path_factory) -> Path:
    """The same run on one process (in this one), 20 steps."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run = tmp_path_factory.mktemp("single") / "run"
        train(corpus, run, TrainConfig(steps=20, **CONFIG), progress=False)
        return run
    finally:
        torch.set_num_threads(threads)


@pytest.mark.slow
def test_two_ranks_train_like_one_process_write_once_and_resume(corpus, single, tmp_path):
    run, trace = tmp_path / "run", tmp_path / "trace"
    done = subprocess.run(torchrun(corpus, run, "--steps", "20"), env=env(COMPOSER_TRACE_BATCHES=str(trace)),
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "batch: 8 windows a step in all = 2 ranks x 1 micro-step x 4 windows (gloo)" in done.stdout
    assert done.stdout.count("files used") == 1 and done.stdout.count("trained 20 steps") == 1  # rank 0 speaks

    # each rank trained on its own half of every batch
    seen = [{(int(s), int(m)): h for s, m, h in (line.split() for line in Path(f"{trace}.rank{r}").read_text()
                                                 .splitlines())} for r in (0, 1)]
    assert sorted(seen[0]) == [(s, 0) for s in range(20)] and sorted(seen[1]) == [(s, 1) for s in range(20)]
    assert all(seen[0][s, 0] != seen[1][s, 1] for s in range(20))

    # the weights of one process with the same batch and seed, one set of files
    assert max_diff(run / "last.safetensors", single / "last.safetensors") < 1e-5
    assert max_diff(run / "model.safetensors", single / "model.safetensors") < 1e-5
    assert files(run) == files(single)
    assert metric_steps(run) == [10, 20] and state(run)["step"] == 20
    ours, theirs = (json.loads((r / "metrics.jsonl").read_text().splitlines()[-1]) for r in (run, single))
    assert abs(ours["train_loss"] - theirs["train_loss"]) < 1e-4 and abs(ours["val_loss"] - theirs["val_loss"]) < 1e-4
    checkpoint.load_torch_run(run)

    # --resume: with two ranks, and (a copy) with one; both as the single process resumed
    one_rank = tmp_path / "one_rank"
    shutil.copytree(run, one_rank)
    again = subprocess.run(torchrun(corpus, run, "--steps", "30", "--resume"), env=env(), capture_output=True,
                           text=True, timeout=300, check=False)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "resuming at step 20 of 30" in again.stdout
    assert metric_steps(run) == [10, 20, 30] and state(run)["step"] == 30
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(corpus, single, TrainConfig(steps=30, **CONFIG), resume=True, progress=False)
        train(corpus, one_rank, TrainConfig(steps=30, **CONFIG), resume=True, progress=False)
    finally:
        torch.set_num_threads(threads)
    assert max_diff(run / "last.safetensors", single / "last.safetensors") < 1e-5
    assert max_diff(one_rank / "last.safetensors", single / "last.safetensors") < 1e-5


def ranks_of(proc: subprocess.Popen, timeout: float = 120) -> dict[int, int]:
    """{rank: pid} of torchrun's workers (its child processes, by their RANK variable)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = {}
        try:
            children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        except OSError:
            children = []
        for pid in map(int, children):
            try:
                environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            for var in environ:
                if var.startswith(b"RANK="):
                    found[int(var[5:])] = pid
        if len(found) == 2:
            return found
        time.sleep(0.2)
    raise AssertionError("torchrun's workers did not show up")


def wait_for_step(proc: subprocess.Popen, run: Path, step: int, timeout: float = 240) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            if state(run)["step"] >= step:
                return
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"no checkpoint at step {step}")


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds torchrun's workers in /proc")
@pytest.mark.parametrize("how", ["sigterm-rank-1", "ctrl-c"])
def test_a_signal_stops_both_ranks_with_a_checkpoint(corpus, tmp_path, how):
    """SIGTERM to rank 1 alone (not the writing rank), or Ctrl-C in a terminal: SIGINT to
    torchrun and its workers, and torchrun passes it on again."""
    run = tmp_path / "run"
    proc = subprocess.Popen(torchrun(corpus, run, "--steps", "5000"), env=env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        pids = ranks_of(proc)
        wait_for_step(proc, run, 10)
        if how == "ctrl-c":
            os.killpg(proc.pid, signal.SIGINT)
        else:
            os.kill(pids[1], signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    stopped = state(run)["step"]
    assert 10 <= stopped < 5000
    assert f"interrupted at step {stopped}; resume with --resume" in out, out + err
    assert metric_steps(run)[-1] <= stopped
    checkpoint.load_torch_run(run)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds torchrun's workers in /proc")
def test_sigkill_of_the_writing_rank_leaves_a_run_that_loads_and_resumes(corpus, tmp_path):
    run = tmp_path / "run"
    proc = subprocess.Popen(torchrun(corpus, run, "--steps", "5000"), env=env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        pids = ranks_of(proc)
        wait_for_step(proc, run, 20)
        os.kill(pids[0], signal.SIGKILL)  # rank 0: the one that writes, maybe mid-checkpoint
        proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode != 0
    killed_at = state(run)["step"]
    assert killed_at >= 20 and killed_at % 10 == 0
    checkpoint.load_torch_run(run)

    done = subprocess.run(torchrun(corpus, run, "--steps", str(killed_at + 10), "--resume"), env=env(),
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"resuming at step {killed_at} of {killed_at + 10}" in done.stdout
    assert state(run)["step"] == killed_at + 10
    assert not list(run.glob(".*.tmp")) and not list(run.glob("*.tmp"))
    checkpoint.load_torch_run(run)


def test_a_batch_that_does_not_split_over_the_ranks_is_refused(corpus, tmp_path):
    from composer.errors import ComposerError
    from composer.training.start import start_run

    with pytest.raises(ComposerError, match=r"--batch-size 8 .* multiple of ranks x --grad-accum = 3 x 1"):
        start_run(corpus, tmp_path / "run", TrainConfig(steps=1, **CONFIG), None, False, None, None, False,
                  Dist(rank=0, world=3, backend="gloo"))
    assert not (tmp_path / "run").exists()


def test_grad_accum_equals_one_big_batch(corpus, tmp_path):
    """--grad-accum 4: micro-batches of 2 windows, the weights of batches of 8 (the same windows)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for name, accum in (("one", 1), ("four", 4)):
            train(corpus, tmp_path / name, TrainConfig(steps=6, grad_accum=accum, **{**CONFIG, "eval_every": 6}),
                  progress=False)
    finally:
        torch.set_num_threads(threads)
    assert max_diff(tmp_path / "one" / "last.safetensors", tmp_path / "four" / "last.safetensors") < 1e-5


def test_the_cuda_branches_pick_bf16_fused_adamw_and_each_rank_its_gpu():
    """What a CUDA rank gets, checked without a GPU: bf16 autocast and fused AdamW on any
    cuda:N (not only "cuda"), and rank k of a node trains on cuda:k."""
    import warnings

    from composer.model import ModelConfig, build_model
    from composer.training.loop import autocast, make_optimizer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "CUDA is not available": the context is built, not entered
        for device in ("cuda", "cuda:3"):
            ctx = autocast(device)
            assert isinstance(ctx, torch.autocast) and ctx.device == "cuda" and ctx.fast_dtype == torch.bfloat16
    assert not isinstance(autocast("cpu"), torch.autocast)
    model = build_model(ModelConfig.preset("tiny", vocab_size=64, context=32))
    assert make_optimizer(model, 1e-3, 0.1, "cuda:1").defaults.get("fused") is True
    assert not make_optimizer(model, 1e-3, 0.1, "cpu").defaults.get("fused")
    assert Dist(rank=5, world=8, local_rank=1, backend="nccl").device("cuda") == "cuda:1"
    assert Dist().device("cuda") == "cuda" and Dist(backend="gloo").device("cpu") == "cpu"


def test_one_process_is_not_distributed(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "1")
    d = Dist.from_env("auto")
    assert not d.on and d.main and d.world == 1
    assert d.shared(lambda: 7) == 7 and d.any(True, "cpu") and d.sum(2.5, "cpu") == 2.5


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("COMPOSER_TEST_COMPILE"), reason="torch.compile on the CPU takes minutes "
                    "(set COMPOSER_TEST_COMPILE=1)")
def test_compile_under_ddp_with_grad_accum(corpus, tmp_path):
    """torch.compile of the DDP model, no_sync on the first of two micro-steps: the weights of
    one eager process (compiled kernels round differently)."""
    run = tmp_path / "run"
    done = subprocess.run(torchrun(corpus, run, "--steps", "4", "--compile", "--grad-accum", "2"), env=env(),
                          capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 ranks x 2 micro-steps x 2 windows" in done.stdout
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(corpus, tmp_path / "eager", TrainConfig(steps=4, **CONFIG), progress=False)
    finally:
        torch.set_num_threads(threads)
    assert max_diff(run / "last.safetensors", tmp_path / "eager" / "last.safetensors") < 1e-4


def test_resuming_checks_the_runs_own_batch_against_the_ranks(corpus, single, tmp_path):
    """The run's batch is 8 (the flag's default is 16): resuming on 3 ranks is refused, on 4 it is not."""
    from composer.errors import ComposerError
    from composer.training.start import _check_batch_split, start_run

    class ThreeRanks(Dist):  # rank 0 of 3, without a process group
        def shared(self, fn):
            return fn()

    run = tmp_path / "run"
    shutil.copytree(single, run)
    with pytest.raises(ComposerError, match=r"--batch-size 8 .* = 3 x 1"):
        start_run(corpus, run, TrainConfig(), None, True, None, None, False, ThreeRanks(world=3, backend="gloo"))
    _check_batch_split(TrainConfig(batch_size=8), Dist(world=4, backend="gloo"))
    with pytest.raises(ComposerError, match=r"= 2 x 3"):
        _check_batch_split(TrainConfig(batch_size=8, grad_accum=3), Dist(world=2, backend="gloo"))


@pytest.mark.slow
def test_with_dropout_two_ranks_equal_one_process_with_grad_accum_2(corpus, tmp_path):
    """`small` has dropout: each micro-batch draws its own mask from the step's seed, so two
    ranks give the weights of one process with --grad-accum 2 (the same windows, the same masks)."""
    small = ["--size", "small", "--context", "64", "--steps", "3", "--eval-every", "3"]
    done = subprocess.run(torchrun(corpus, tmp_path / "ddp", *small), env=env(), capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(corpus, tmp_path / "accum", TrainConfig(**{**CONFIG, "size": "small", "context": 64, "eval_every": 3},
                                                      steps=3, grad_accum=2), progress=False)
    finally:
        torch.set_num_threads(threads)
    assert max_diff(tmp_path / "ddp" / "last.safetensors", tmp_path / "accum" / "last.safetensors") < 1e-6
