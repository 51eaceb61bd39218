"""Generation jobs: one worker thread runs them in order, off the request threads.

A request queues a Job and gets its id at once; the page polls GET /api/jobs/<id> for its
state and progress (bars sampled / bars asked for) and may cancel it. One worker means the
model (loaded once) is never used by two generations at a time, and several tabs simply
queue: a job reports how many jobs are ahead of it.

Progress and Stop need no hook in the decoding loop: the job's model decodes through a
ProgressDecoder, which forwards every call to the real decoder, counts the Bar tokens fed to
it after the prompt (one per bar sampled), and raises Cancelled at the next step once the job
is cancelled. Decoding keeps its state in local objects, so an abandoned decode leaves nothing
behind.
"""

from __future__ import annotations

import copy
import queue
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..errors import ComposerError
from ..vocab import BAR

MAX_KEPT_JOBS = 200  # finished jobs remembered for polling; older ones are forgotten
MAX_WAITING = 16  # jobs queued at once; more are refused (TooManyJobs)


class TooManyJobs(ComposerError):
    """The queue is full (the API answers 429)."""


class Cancelled(Exception):
    """Raised inside the decoder when the job was cancelled."""


@dataclass
class Job:
    action: str
    run: Callable[[Job], list[dict]]  # the work: returns the takes it made
    bars_total: int = 0
    id: str = field(default_factory=lambda: secrets.token_hex(8))
    status: str = "queued"  # queued, running, done, failed, cancelled
    bars_done: int = 0
    takes: list = field(default_factory=list)
    error: str | None = None
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    cancel_event: threading.Event = field(default_factory=threading.Event)

    def progress(self, bars: int) -> None:
        """Called by the decoder: `bars` more bars sampled; raises Cancelled once cancelled."""
        if self.cancel_event.is_set():
            raise Cancelled()
        self.bars_done = min(self.bars_total, self.bars_done + bars) if self.bars_total else self.bars_done + bars

    def check_cancel(self) -> None:
        if self.cancel_event.is_set():
            raise Cancelled()

    def public(self, ahead: int = 0) -> dict:
        return {"id": self.id, "action": self.action, "status": self.status, "bars_done": self.bars_done,
                "bars_total": self.bars_total, "takes": self.takes, "error": self.error, "ahead": ahead,
                "seconds": round((self.finished or time.time()) - self.started, 2) if self.started else 0.0}


class JobQueue:
    """Jobs run one at a time, in the order they came, on one worker thread."""

    def __init__(self, on_error: Callable[[str], None] | None = None):
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._jobs: dict[str, Job] = {}
        self._order: list[str] = []
        self._lock = threading.Lock()
        self._on_error = on_error
        self._thread = threading.Thread(target=self._work, name="composer-studio-jobs", daemon=True)
        self._thread.start()

    def submit(self, job: Job) -> Job:
        with self._lock:
            waiting = sum(j.status in ("queued", "running") for j in self._jobs.values())
            if waiting >= MAX_WAITING:
                raise TooManyJobs(f"{waiting} jobs are waiting already; stop one or wait for them")
            self._jobs[job.id] = job
            self._order.append(job.id)
            while len(self._order) > MAX_KEPT_JOBS:
                old = self._jobs.get(self._order[0])
                if old is not None and old.status in ("queued", "running"):
                    break
                self._jobs.pop(self._order.pop(0), None)
        self._queue.put(job)
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id) if isinstance(job_id, str) else None

    def ahead(self, job: Job) -> int:
        """Jobs that will run before `job` (the running one included)."""
        if job.status != "queued":
            return 0
        with self._lock:
            earlier = self._order[:self._order.index(job.id)] if job.id in self._order else []
            return sum(self._jobs[j].status in ("queued", "running") for j in earlier if j in self._jobs)

    def cancel(self, job: Job) -> None:
        job.cancel_event.set()
        if job.status == "queued":
            job.status, job.finished = "cancelled", time.time()

    def close(self) -> None:
        self._queue.put(None)

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            if job.status != "queued":  # cancelled while it waited
                continue
            job.status, job.started = "running", time.time()
            try:
                job.takes = job.run(job)
                job.status = "done"
            except Cancelled:
                job.status = "cancelled"
            except ComposerError as e:
                job.status, job.error = "failed", " ".join(str(e).split())
            except Exception as e:  # noqa: BLE001 (the worker must outlive any one job)
                job.status, job.error = "failed", " ".join(f"internal error: {type(e).__name__}: {e}".split())
                if self._on_error:  # one line on the server's console, as every composer error
                    self._on_error(f"job {job.id} ({job.action}) failed: {job.error}")
            finally:
                job.finished = time.time()


class ProgressDecoder:
    """A decoder (model_config.Decoder) that reports the bars fed through it to a Job.

    Bars are counted from the Bar tokens of incremental steps (a step with a cache); prefills
    (the prompt, or a window re-read when the context fills) are not counted. With guidance a
    batch carries an unconditioned twin of every row in its second half, which is not counted."""

    def __init__(self, inner, job: Job, guided: bool):
        self._inner, self._job, self._guided = inner, job, guided

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def step(self, idx, cache=None, last: bool = False):
        self._job.check_cancel()
        if cache is not None:
            rows = np.asarray(idx)
            if self._guided and len(rows) % 2 == 0:
                rows = rows[:len(rows) // 2]
            bars = int((rows == BAR).sum())
            if bars:
                self._job.progress(bars)
        return self._inner.step(idx, cache, last=last)


def with_progress(model, job: Job, style: str | None, guidance: float | None):
    """A shallow copy of ComposerModel `model` that decodes through a ProgressDecoder."""
    g = model.guidance_for(style) if guidance is None else guidance
    out = copy.copy(model)
    out.decoder = ProgressDecoder(model.decoder, job, guided=g != 1.0 and style is not None)
    return out
