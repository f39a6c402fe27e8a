"""The backend session: one service process, the loaded model and one job at a time.

No bpy here. The add-on's main-thread timer calls ``Session.pump()``, which reads what
the client received, advances the current job and returns jobs that just ended; the
add-on then applies their results to the scene. Everything that can go wrong (backend
missing, crashed, silent, talking garbage, an error reply, a cancel) ends the job with
``state`` "failed" or "cancelled" and a ``message`` for the user: the scene is only
touched for jobs that end "done".

A job is a short list of protocol requests run in order: a ``load_model`` first when the
wanted model is not the loaded one, then the request the user asked for.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ...backend import protocol
from .client import BackendClient, BackendError, Exited, Garbage, backend_environment

log = logging.getLogger(__name__)

HELLO_TIMEOUT = 60.0

RUNNING, DONE, FAILED, CANCELLED = "running", "done", "failed", "cancelled"


@dataclass(frozen=True)
class BackendConfig:
    """How to run the backend and which model it should hold.

    ``root`` is the folder that holds the ``backend`` package (the extension's root);
    ``checkpoint`` is our checkpoint directory or a released denoiser ``.pt`` (then
    ``style_encoder`` and ``stats`` name the other released files). ``entry`` is what
    follows the interpreter on the command line (a stand-in service in tests).
    """

    python: str
    root: str
    checkpoint: str
    style_encoder: str | None = None
    stats: str | None = None
    device: str = "auto"
    speech_model: str | None = None  # a faster-whisper model folder; None: the bundled one
    entry: tuple = ("-m", "backend", "serve")

    def command(self) -> list:
        # The model comes from the preferences through load_model, so the service must not
        # first load its own default.
        speech = ["--speech-model", self.speech_model] if self.speech_model else []
        return [self.python, *self.entry, "--no-model", "--device", self.device, *speech]

    def process_key(self) -> tuple:
        return (self.python, self.root, self.device, self.speech_model, self.entry)

    def load_params(self) -> dict:
        params = {"checkpoint": self.checkpoint, "device": self.device}
        if self.style_encoder:
            params["style_encoder"] = self.style_encoder
        if self.stats:
            params["stats"] = self.stats
        return params


@dataclass
class Job:
    """One user-level job (e.g. "generate") and what the UI shows of it.

    ``context`` is the caller's (the add-on keeps scene and rig names there);
    ``result`` is the last request's result when ``state`` is "done".
    """

    kind: str
    steps: list
    context: dict = field(default_factory=dict)
    state: str = RUNNING
    stage: str = "starting"
    fraction: float = 0.0
    message: str = ""
    error_code: str | None = None
    result: dict | None = None
    request_id: str | None = None
    cancel_requested: bool = False

    @property
    def finished(self) -> bool:
        return self.state != RUNNING


class Session:
    """The add-on's one connection to the backend, restarted on demand after a crash."""

    def __init__(self, hello_timeout: float = HELLO_TIMEOUT):
        self.hello_timeout = hello_timeout
        self.client = None
        self.hello = None
        self.model_info = None
        self.job = None
        self._config = None  # what the running process was started with
        self._wanted = None  # the model the current job needs
        self._loaded = None
        self._started_at = 0.0
        self._ended = []  # jobs that ended since the last pump()

    # ------------------------------------------------------------------ control

    @property
    def busy(self) -> bool:
        return self.job is not None and not self.job.finished

    def submit(self, config: BackendConfig, kind: str, method: str, params: dict, context=None) -> Job:
        """Start a job (starting the backend and loading the model first when needed).

        Raises BackendError when a job already runs or the backend cannot be started.
        """
        if self.busy:
            raise BackendError("a job is running already; wait for it or cancel it")
        self._ensure_process(config)
        steps = []
        if self._loaded != config:
            steps.append((protocol.Method.LOAD_MODEL, config.load_params()))
        steps.append((method, params))
        self.job = Job(kind=kind, steps=steps, context=dict(context or {}))
        self._wanted = config
        self._send_next()
        return self.job

    def check(self, config: BackendConfig, timeout: float) -> dict:
        """Start the backend if needed and return its hello; raises BackendError."""
        self._ensure_process(config)
        try:
            self.hello = self.client.wait_hello(timeout)
        except BackendError:
            self.stop()
            raise
        return self.hello

    def cancel(self) -> bool:
        """Ask the running job to stop; it ends "cancelled" when the backend confirms."""
        job = self.job
        if job is None or job.finished:
            return False
        job.cancel_requested = True
        job.stage = "cancelling"
        if self.client is not None and self.client.running and job.request_id is not None:
            try:
                self.client.request(protocol.Method.CANCEL, {"id": job.request_id})
                return True
            except BackendError:
                pass
        self._end(job, CANCELLED, "cancelled")
        return True

    def stop(self, wait: bool = False) -> str:
        """Stop the backend process (cancelling any job); safe to call at any time.

        The shutdown can take the service's grace period for a cancelled job and then the
        escalation to terminate and kill, so it runs on a thread of its own and this returns
        "stopping" at once: Blender's main thread never waits for it. ``wait=True`` (at exit)
        blocks until the process is gone and returns how it stopped.
        """
        if self.job is not None and not self.job.finished:
            self._end(self.job, CANCELLED, "cancelled: the backend was stopped")
        client, self.client = self.client, None
        self.hello = None
        self.model_info = None
        self._loaded = None
        if client is None:
            return "not started"
        if wait:
            return client.stop()
        # Not a daemon: an exiting Python waits for it, so the process is stopped for sure.
        threading.Thread(target=client.stop, name="backend-stop").start()
        return "stopping"

    # ------------------------------------------------------------------ events

    def pump(self) -> list:
        """Handle everything the backend sent; return the jobs that ended since the last call."""
        if self.client is not None:
            for item in self.client.poll():
                self._handle(item)
            if self.client is not None and self.hello is None and time.monotonic() - self._started_at > self.hello_timeout:
                self._crash(
                    f"the backend did not say hello within {self.hello_timeout:.0f} s; it was stopped. "
                    "Check the backend Python in the add-on's preferences."
                )
        ended, self._ended = self._ended, []
        return ended

    def _handle(self, item):
        if isinstance(item, Exited):
            self._crash(
                f"the backend stopped unexpectedly (exit code {item.returncode}); it restarts on the next "
                f"request. Its last log lines:\n{item.stderr_tail or '(none)'}"
            )
            return
        if isinstance(item, Garbage):
            self._crash(
                f"the backend sent something that is not a protocol message ({item.reason}); it was stopped "
                "and restarts on the next request. Is the backend Python this project's environment?"
            )
            return
        kind = item["type"]
        if kind == protocol.EVENT:
            self._handle_event(item)
        elif kind in (protocol.RESPONSE, protocol.ERROR):
            self._handle_reply(item)

    def _handle_event(self, message):
        name, data = message["event"], message["data"]
        if name == protocol.EventName.HELLO:
            self.hello = data
            if data.get("protocol") != protocol.PROTOCOL_VERSION:
                self._crash(
                    f"the backend speaks protocol {data.get('protocol')}, the add-on {protocol.PROTOCOL_VERSION}; "
                    "install matching versions of the add-on and the backend"
                )
        elif name == protocol.EventName.PROGRESS:
            job = self.job
            if job is not None and not job.finished and message["id"] == job.request_id and not job.cancel_requested:
                job.stage = str(data.get("stage", job.stage))
                job.fraction = float(data.get("fraction", job.fraction))
        elif name == protocol.EventName.MODEL_LOADED:
            self.model_info = data

    def _handle_reply(self, message):
        job = self.job
        if job is None or job.finished or message["id"] != job.request_id:
            return  # a reply to a cancel, or to a job that ended already
        method = job.steps[0][0]
        if message["type"] == protocol.ERROR:
            body = message["error"]
            job.error_code = body["code"]
            if body["code"] == protocol.ErrorCode.CANCELLED:
                self._end(job, CANCELLED, "cancelled")
            else:
                self._end(job, FAILED, body["message"])
            return
        job.steps.pop(0)
        if method == protocol.Method.LOAD_MODEL:
            self.model_info = message["result"]
            self._loaded = self._wanted
        if job.cancel_requested:
            # The job finished before the cancel reached it: its files are not wanted.
            _remove_outputs(message["result"])
            self._end(job, CANCELLED, "cancelled")
        elif job.steps:
            self._send_next()
        else:
            job.result = message["result"]
            job.fraction = 1.0
            self._end(job, DONE, "")

    # ------------------------------------------------------------------ internals

    def _ensure_process(self, config):
        if self.client is not None and self.client.running and self._config is not None:
            if self._config.process_key() == config.process_key():
                return
        self.stop()
        client = BackendClient(config.command(), env=backend_environment(config.root), cwd=config.root)
        client.start()
        self.client = client
        self._config = config
        self._started_at = time.monotonic()

    def _send_next(self):
        job = self.job
        method, params = job.steps[0]
        job.stage = "loading model" if method == protocol.Method.LOAD_MODEL else "waiting"
        try:
            job.request_id = self.client.request(method, params)
        except BackendError as exc:
            self._end(job, FAILED, str(exc))

    def _crash(self, message):
        log.warning("%s", message)
        job = self.job
        if job is not None and not job.finished:
            self._end(job, CANCELLED if job.cancel_requested else FAILED, "cancelled" if job.cancel_requested else message)
        self.stop()

    def _end(self, job, state, message):
        self._ended.append(job)
        job.state = state
        job.message = message
        if state != DONE:
            job.stage = state


def _remove_outputs(result: dict) -> None:
    """Delete the files a job's result names (the ``outputs`` of a generate)."""
    outputs = result.get("outputs")
    for path in outputs if isinstance(outputs, list) else []:
        if isinstance(path, str):
            Path(path).unlink(missing_ok=True)
