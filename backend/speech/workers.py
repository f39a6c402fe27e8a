"""The speech front-end in worker processes: chunks in parallel, cancellable at once.

pocketsphinx holds Python's global lock while it decodes, so in the service's own
interpreter it would keep ``status`` and ``cancel`` waiting for seconds. Here each worker is
a separate ``python -m backend.speech.workers`` process holding its own ``Recognizer``;
the service only waits on pipes. Chunks of one job go to whichever worker is free
(``recognize_chunks`` gives the same result as one after the other). Cancel kills the
workers and starts fresh ones, which load their models while the next job decodes its
audio. A worker that dies is replaced and its chunk given to another once; a second death
on the same chunk fails the job with a clear error.

Messages on the pipes are pickles between this process and its own children.
"""
from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path

import numpy as np

from backend.cancellation import Cancelled
from backend.device import usable_cores
from backend.speech.recognizer import WHISPER, Recognition, recognize_chunks

log = logging.getLogger(__name__)

MAX_WORKERS = 4
POLL_S = 0.05  # how often a waiting job looks at its cancel flag
STOP_GRACE_S = 0.5  # a worker asked to stop gets this long before it is killed
_READY, _FAILED, _DONE, _ERROR = "ready", "failed", "done", "error"


class SpeechWorkerError(RuntimeError):
    """The front-end failed: a worker kept dying, or a task raised."""


class SpeechModelUnavailable(SpeechWorkerError):
    """The workers cannot load their models (missing package, bad model folder)."""


def default_worker_count() -> int:
    """One worker per core this process may use, at most ``MAX_WORKERS``."""
    return max(1, min(MAX_WORKERS, usable_cores()))


@dataclass
class _Worker:
    process: subprocess.Popen
    conn: Connection
    task: int | None = None  # index of the chunk it works on


class SpeechWorkers:
    """A pool of front-end worker processes.

    n_workers: processes (default ``default_worker_count()``); recognizer: keyword
    arguments of each worker's ``Recognizer`` (word source, speech model folder).
    Not thread-safe: one ``recognize`` at a time.
    """

    def __init__(self, n_workers: int | None = None, **recognizer):
        self.n_workers = max(1, int(n_workers or default_worker_count()))
        self.settings = {"words": WHISPER, **recognizer}
        self._workers: list[_Worker] = []

    # ---------------------------------------------------------------- life cycle

    def start(self) -> "SpeechWorkers":
        """Start the missing workers (returns at once; they load their models meanwhile)."""
        while len(self._workers) < self.n_workers:
            self._workers.append(self._spawn())
        return self

    def _spawn(self) -> _Worker:
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        root = str(Path(__file__).resolve().parents[2])
        # One thread per worker: the workers share the cores, and numpy's BLAS threads would
        # only fight over them (its summation order then changes what Whisper hears).
        env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
               "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "backend.speech.workers", str(to_child_r), str(from_child_w)],
                pass_fds=(to_child_r, from_child_w), stdin=subprocess.DEVNULL, stdout=2,
                env=env, cwd=root)
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        conn = _Pipe(from_child_r, to_child_w)
        conn.send(self.settings)
        return _Worker(process, conn)

    def pids(self) -> list:
        return [w.process.pid for w in self._workers]

    def close(self) -> None:
        """Stop every worker: ask, then kill after ``STOP_GRACE_S``."""
        workers, self._workers = self._workers, []
        for worker in workers:
            try:
                worker.conn.send(None)
            except (OSError, ValueError):
                pass
        deadline = time.monotonic() + STOP_GRACE_S
        for worker in workers:
            try:
                worker.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()
            worker.conn.close()

    def _kill(self, worker: _Worker) -> None:
        worker.process.kill()
        worker.process.wait()
        worker.conn.close()

    def _restart_all(self) -> None:
        for worker in self._workers:
            self._kill(worker)
        self._workers = []
        self.start()

    # ---------------------------------------------------------------- work

    def recognize(self, audio: np.ndarray, transcript: str | None = None, progress=None, cancelled=None) -> Recognition:
        """``Recognizer.recognize`` in the workers. progress(done, total) after each chunk;
        cancelled() -> True stops at once and raises ``Cancelled``."""
        self.start()

        def run(method, tasks):
            try:
                return self._run(method, tasks, progress, cancelled or (lambda: False))
            except BaseException:
                # Whatever stopped the job (cancel, a failure, an exception from progress),
                # the workers may still be busy with its chunks: start afresh.
                self._restart_all()
                raise

        return recognize_chunks(run, audio, transcript)

    def _run(self, method: str, tasks: list, progress, cancelled) -> list:
        results = [None] * len(tasks)
        pending = deque(range(len(tasks)))
        deaths = [0] * len(tasks)
        done = 0
        while done < len(tasks):
            if cancelled():
                raise Cancelled("the speech front-end was cancelled")
            for worker in self._workers:
                if worker.task is None and pending:
                    worker.task = pending.popleft()
                    try:
                        worker.conn.send((method, tasks[worker.task]))
                    except (OSError, ValueError):
                        pass  # it died; the read below finds out
            busy = [w for w in self._workers if w.task is not None]
            for conn in wait([w.conn for w in busy], timeout=POLL_S):
                worker = next(w for w in busy if w.conn is conn)
                try:
                    kind, payload = worker.conn.recv()
                except (EOFError, OSError):
                    self._replace_dead(worker, deaths, pending)
                    continue
                if kind == _READY:
                    continue
                if kind == _FAILED:
                    raise SpeechModelUnavailable(payload)
                index, worker.task = worker.task, None
                if kind == _ERROR:
                    raise SpeechWorkerError(f"the speech front-end failed on the chunk at "
                                            f"{tasks[index]['offset']:.1f} s: {payload}")
                results[index] = payload
                done += 1
                if progress is not None:
                    progress(done, len(tasks))
        return results

    def _replace_dead(self, worker: _Worker, deaths: list, pending: deque) -> None:
        index = worker.task
        code = worker.process.wait()
        worker.conn.close()
        self._workers[self._workers.index(worker)] = self._spawn()
        deaths[index] += 1
        log.warning("a speech front-end worker stopped (exit code %s); its chunk goes to a new one", code)
        if deaths[index] > 1:
            raise SpeechWorkerError(
                f"the speech front-end's worker process died twice on the same chunk (exit code {code}); "
                "see the backend log, or give a transcript and try again")
        pending.appendleft(index)


class _Pipe(Connection):
    """A Connection reading one pipe and writing another (multiprocessing's framing)."""

    def __init__(self, read_fd: int, write_fd: int):
        super().__init__(read_fd, readable=True, writable=False)
        self._writer = Connection(write_fd, readable=False, writable=True)

    def send(self, obj) -> None:
        self._writer.send(obj)

    def close(self) -> None:
        self._writer.close()
        super().close()


def _serve(read_fd: int, write_fd: int) -> int:
    """A worker: load a Recognizer with the settings sent first, then answer tasks until
    told to stop or the service is gone."""
    conn = _Pipe(read_fd, write_fd)
    try:
        settings = conn.recv()
    except EOFError:
        return 0
    from backend.speech.recognizer import Recognizer

    try:
        recognizer = Recognizer(**settings)
    except Exception as error:  # every loading failure goes back to the service as a message
        conn.send((_FAILED, f"the speech front-end cannot start: {error}"))
        return 1
    conn.send((_READY, None))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return 0
        if message is None:
            return 0
        method, kwargs = message
        try:
            conn.send((_DONE, getattr(recognizer, method)(**kwargs)))
        except Exception as error:  # reported to the service, which fails the job clearly
            log.exception("speech front-end task %s failed", method)
            conn.send((_ERROR, f"{type(error).__name__}: {error}"))


if __name__ == "__main__":
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    sys.exit(_serve(int(sys.argv[1]), int(sys.argv[2])))
