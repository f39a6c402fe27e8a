"""The ``serve`` loop: protocol messages in on stdin, out on stdout (docs/protocol.md).

Three threads: a reader that only reads stdin lines into a queue, the main thread that
decodes and answers them (so ``cancel``, ``status`` and ``shutdown`` are answered while a
job runs), and one worker that runs jobs (``load_model``, ``encode_style``,
``generate``). One job runs at a time (``adjust_take`` is one too, of milliseconds); a job request while one runs is refused with
``busy``, except that one job may wait behind the model load the service starts with
(``--checkpoint``). Cancel sets the running job's flag, which generation polls between steps.
"""
from __future__ import annotations

import logging
import os
import queue
import threading
import time
import traceback
from dataclasses import dataclass, field

from .. import __version__
from .. import protocol as p
from ..device import cpu_thread_count, predict_device
from ..model.errors import Cancelled

log = logging.getLogger(__name__)

PROGRESS_INTERVAL = 0.05  # seconds between progress events of one stage
SHUTDOWN_GRACE = p.SHUTDOWN_GRACE_SECONDS  # a cancelled job's time to finish before the process exits
_OVERSIZE = object()


@dataclass
class Job:
    id: object
    method: str
    params: dict
    cancel: threading.Event = field(default_factory=threading.Event)


class Server:
    def __init__(self, stdin, stdout, *, checkpoint=None, style_encoder=None, stats=None, device="auto",
                 threads=None, speech_model=None, speech_workers=None):
        self._stdin = stdin  # binary
        self._stdout = stdout  # text
        self._write_lock = threading.Lock()
        self._job_lock = threading.Lock()
        self._inbox = queue.Queue()
        self._jobs = queue.Queue()
        self._current = None
        self._pending = None  # a job that arrived during the startup load, run after it
        self._runner = None
        self._device_request = device
        self._threads = threads
        self._speech = {"speech_model": speech_model, "speech_workers": speech_workers}
        self._startup = None
        if checkpoint is not None:
            self._startup = Job(None, p.Method.LOAD_MODEL, {
                "checkpoint": str(checkpoint), "style_encoder": style_encoder, "stats": stats, "device": device})

    # ---------------------------------------------------------------- output

    def send(self, message: dict) -> None:
        try:
            line = p.encode(message)
        except p.ProtocolError as exc:
            log.error("dropping an unsendable message: %s", exc)
            line = p.encode(p.error(message.get("id"), exc.code, exc.message, exc.details))
        with self._write_lock:
            try:
                self._stdout.write(line + "\n")
                self._stdout.flush()
            except (BrokenPipeError, ValueError, OSError):
                log.warning("the client closed the connection")

    def _hello(self) -> dict:
        return {
            "protocol": p.PROTOCOL_VERSION,
            "backend_version": __version__,
            "device": predict_device(self._device_request),
            "threads": cpu_thread_count(self._threads),
            "pid": os.getpid(),
            "methods": list(p.METHODS),
            "model": None,
            "model_loading": self._startup.params["checkpoint"] if self._startup else None,
            "limits": {
                "max_message_bytes": p.MAX_MESSAGE_BYTES,
                "min_audio_seconds": p.MIN_AUDIO_SECONDS,
                "max_audio_seconds": p.MAX_AUDIO_SECONDS,
                "max_variations": p.MAX_VARIATIONS,
                "max_steps": p.MAX_STEPS,
                "max_fps": p.MAX_FPS,
                "max_style_dim": p.MAX_STYLE_DIM,
                "max_string_length": p.MAX_STRING_LENGTH,
                "max_style_value": p.MAX_STYLE_VALUE,
                "max_shape_value": p.MAX_SHAPE_VALUE,
                "max_region_scale": p.MAX_REGION_SCALE,
                "max_head_motion_scale": p.MAX_HEAD_MOTION_SCALE,
                "max_lip_sync_offset_frames": p.MAX_LIP_SYNC_OFFSET_FRAMES,
                "max_keep_blend_frames": p.MAX_KEEP_BLEND_FRAMES,
                "smoothing_seconds": p.SMOOTHING_SECONDS,
                "concurrent_jobs": 1,
            },
        }

    # ---------------------------------------------------------------- threads

    def _read_lines(self) -> None:
        """Reader thread: stdin lines into the inbox; None at end of input."""
        try:
            while True:
                line = self._stdin.readline(p.MAX_MESSAGE_BYTES + 1)
                if not line:
                    break
                if len(line) > p.MAX_MESSAGE_BYTES and not line.endswith(b"\n"):
                    # Drop the rest of the oversized line without holding it in memory.
                    while line and not line.endswith(b"\n"):
                        line = self._stdin.readline(p.MAX_MESSAGE_BYTES)
                    self._inbox.put(_OVERSIZE)
                    continue
                self._inbox.put(line)
        except (OSError, ValueError) as exc:
            log.warning("stdin closed: %s", exc)
        self._inbox.put(None)

    def _work(self) -> None:
        """Worker thread: run jobs one at a time until None."""
        while True:
            job = self._jobs.get()
            if job is None:
                return
            self._run_job(job)

    def _runner_instance(self):
        if self._runner is None:
            from .runner import Runner  # numpy, scipy, soundfile: after hello

            self._runner = Runner(self._device_request, self._threads, **self._speech)
        return self._runner

    def _run_job(self, job: Job) -> None:
        last = {"stage": None, "time": 0.0}

        def progress(stage, window, n_windows, step, n_steps, fraction):
            now = time.monotonic()
            if stage != last["stage"] or now - last["time"] >= PROGRESS_INTERVAL or fraction >= 1.0:
                last.update(stage=stage, time=now)
                self.send(p.progress(job.id, stage, window, n_windows, step, n_steps, fraction))

        reply = None
        try:
            if job.cancel.is_set():  # cancelled while it waited behind the startup load
                raise Cancelled("cancelled before it started")
            runner = self._runner_instance()
            if job.method == p.Method.LOAD_MODEL and job is self._current:
                result = runner.load(**job.params)
            elif job.method == p.Method.ENCODE_STYLE:
                result = runner.encode_style(job.params)
            elif job.method == p.Method.ADJUST_TAKE:
                result = runner.adjust_take(job.params)
            else:
                result = runner.generate(job.params, progress=progress, cancelled=job.cancel.is_set)
            reply = p.response(job.id, result)
        except Exception as exc:  # every failure becomes an error reply; the service keeps serving
            from .runner import describe_error

            error = describe_error(exc)
            if error.code == p.ErrorCode.INTERNAL:
                log.error("job %r (%s) failed:\n%s", job.id, job.method, traceback.format_exc())
            else:
                log.info("job %r (%s): %s: %s", job.id, job.method, error.code, error.message)
            reply = p.error(job.id, error.code, error.message, error.details)
        finally:
            # Free the slot before the reply, so a request sent on receipt is not refused.
            with self._job_lock:
                self._current, self._pending = self._pending, None
        if job is self._startup:
            if reply["type"] == p.RESPONSE:
                self.send(p.event(p.EventName.MODEL_LOADED, reply["result"]))
            else:
                self.send(p.event(p.EventName.MODEL_ERROR, reply["error"]))
        else:
            self.send(reply)

    # ---------------------------------------------------------------- requests

    def _submit(self, job: Job) -> bool:
        """Start ``job``, or queue it behind the startup model load; False when busy."""
        with self._job_lock:
            if self._current is None:
                self._current = job
            elif self._current is self._startup and self._pending is None:
                self._pending = job
            else:
                return False
        self._jobs.put(job)
        return True

    def _handle(self, line) -> bool:
        """Answer one input line; False when the service should stop (shutdown, end of input)."""
        if line is None:
            return False
        if line is _OVERSIZE:
            self.send(p.error(None, p.ErrorCode.MESSAGE_TOO_LARGE,
                              f"a message was over the {p.MAX_MESSAGE_BYTES}-byte limit and was dropped; "
                              "pass large data as a file path instead", {"limit": p.MAX_MESSAGE_BYTES}))
            return True
        try:
            message = p.decode(line)
            if message["type"] != p.REQUEST:
                raise p.ProtocolError(p.ErrorCode.INVALID_REQUEST,
                                      f"the service accepts only requests, got a {message['type']}",
                                      request_id=message.get("id"))
            request_id, method = message["id"], message["method"]
            params = p.validate_params(method, message["params"], request_id)
        except p.ProtocolError as exc:
            self.send(exc.to_message())
            return True
        if method == p.Method.SHUTDOWN:
            self.send(p.response(request_id, {}))
            return False
        if method == p.Method.CANCEL:
            self.send(p.response(request_id, self._cancel(params["id"])))
        elif method == p.Method.STATUS:
            self.send(p.response(request_id, self._status()))
        elif not self._submit(Job(request_id, method, params)):
            running = self._current
            self.send(p.error(request_id, p.ErrorCode.BUSY,
                              f"a {running.method if running else 'job'} job is running; wait for its reply or "
                              "cancel it, then send this request again (one job at a time)",
                              {"running": running.id if running else None,
                               "method": running.method if running else None}))
        return True

    def _cancel(self, job_id) -> dict:
        with self._job_lock:
            candidates = [job for job in (self._pending, self._current) if job is not None]
            job = next((job for job in candidates if job_id is None or job.id == job_id), None)
            if job is None:
                return {"cancelled": False, "id": job_id, "reason": "no such job is running"}
            if job.method == p.Method.LOAD_MODEL and job is self._current:
                return {"cancelled": False, "id": job.id, "reason": "loading a model cannot be interrupted"}
            job.cancel.set()
            return {"cancelled": True, "id": job.id}

    def _status(self) -> dict:
        job = self._current
        runner = self._runner
        return {
            "device": runner.device if runner is not None and runner.bundle is not None
            else predict_device(self._device_request),
            "model": runner.info() if runner is not None else None,
            "running": {"id": job.id, "method": job.method} if job is not None else None,
        }

    # ---------------------------------------------------------------- main

    def serve(self) -> int:
        self.send(p.event(p.EventName.HELLO, self._hello()))
        reader = threading.Thread(target=self._read_lines, name="protocol-reader", daemon=True)
        worker = threading.Thread(target=self._work, name="job-worker", daemon=True)
        reader.start()
        worker.start()
        if self._startup is not None:
            self._submit(self._startup)
        while self._handle(self._inbox.get()):
            pass
        with self._job_lock:
            for job in (self._current, self._pending):
                if job is not None:
                    job.cancel.set()
        self._jobs.put(None)
        worker.join(SHUTDOWN_GRACE)
        if worker.is_alive():
            log.warning("the running job did not stop within %.0f s; exiting anyway", SHUTDOWN_GRACE)
        if self._runner is not None:
            self._runner.close()
        log.info("backend service stopped")
        return 0
