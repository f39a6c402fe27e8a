"""A client for the backend service (``python -m backend serve``): a subprocess with pipes.

No bpy here. Threads touch only the pipes and two queues: a writer thread sends queued
request lines to the backend's stdin, a reader thread decodes its stdout into the inbox,
and a third keeps the tail of its stderr (logs) for crash reports. The main thread calls
``poll()`` to take what arrived; nothing here blocks it except ``wait_hello`` and
``stop``, which are bounded by their timeouts.

Shutdown escalates on deadlines: a ``shutdown`` request, then SIGTERM, then SIGKILL.
"""
from __future__ import annotations

import collections
import itertools
import logging
import os
import queue
import subprocess
import threading
import time
from dataclasses import dataclass

from ...backend import protocol

log = logging.getLogger(__name__)

STDERR_TAIL_LINES = 40
# How long ``stop`` waits for the process to exit after the shutdown request: the grace
# the service gives a cancelled job, and a second to exit. Terminating it sooner would cut
# short a job that is cleaning up.
SHUTDOWN_WAIT = protocol.SHUTDOWN_GRACE_SECONDS + 1.0
# Characters of an oversized stdout line kept for the report.
OVERSIZE_HEAD = 200


class BackendError(Exception):
    """The backend could not be started or stopped talking sense."""


class BackendNotStarted(BackendError):
    pass


@dataclass(frozen=True)
class Exited:
    """The backend's process ended; ``stderr_tail`` holds its last log lines."""

    returncode: int | None
    stderr_tail: str


@dataclass(frozen=True)
class Garbage:
    """A line on the backend's stdout that is not a protocol message."""

    line: str
    reason: str


class BackendClient:
    """One running backend process.

    ``command`` is the full argument list (e.g. ``[python, "-m", "backend", "serve"]``);
    ``env`` and ``cwd`` are passed to ``Popen`` as given (the caller builds them
    explicitly). After ``start()``, the inbox receives decoded protocol messages (dicts),
    ``Garbage`` for unreadable lines and finally one ``Exited``.
    """

    def __init__(self, command, *, env=None, cwd=None):
        self.command = [str(part) for part in command]
        self.env = env
        self.cwd = cwd
        self.hello = None
        self._process = None
        self._inbox = queue.Queue()
        self._outbox = queue.Queue()
        self._hello_seen = threading.Event()
        self._exited = threading.Event()
        self._stderr = collections.deque(maxlen=STDERR_TAIL_LINES)
        self._ids = itertools.count(1)
        self._threads = []
        self._first_garbage = None  # a non-protocol line before hello: not our backend

    # ------------------------------------------------------------------ lifecycle

    def start(self):
        if self._process is not None:
            raise BackendError("this client was started already; make a new one to restart the backend")
        try:
            self._process = subprocess.Popen(
                self.command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                encoding="utf-8",
                errors="replace",
                bufsize=1,
                shell=False,
                env=self.env,
                cwd=self.cwd,
            )
        except OSError as exc:
            raise BackendNotStarted(
                f"could not run the backend's Python {self.command[0]!r} ({exc}); "
                "check the backend Python in the add-on's preferences or press Set up backend"
            ) from None
        for target, name in ((self._read_stdout, "stdout"), (self._read_stderr, "stderr"), (self._write_stdin, "stdin")):
            thread = threading.Thread(target=target, name=f"backend-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self):
        return None if self._process is None else self._process.pid

    def stderr_tail(self) -> str:
        return "\n".join(self._stderr)

    def wait_hello(self, timeout: float) -> dict:
        """Block until the backend's ``hello`` arrives; return its data.

        Raises BackendError when the backend exits first, says something else first, or
        stays silent for ``timeout`` seconds (the process is then stopped).
        """
        if self._process is None:
            raise BackendNotStarted("the backend is not started")
        if not self._wait_for_startup(timeout):
            self.stop()
            raise BackendError(
                f"the backend did not say hello within {timeout:.0f} s; it may be stuck importing its "
                f"packages. Its last log lines:\n{self.stderr_tail() or '(none)'}"
            )
        if self.hello is not None:
            return self.hello
        raise BackendError(self._startup_failure())

    def _wait_for_startup(self, timeout):
        """Wait for hello, an exit or a non-protocol line; False when the deadline came first."""
        deadline = time.monotonic() + timeout
        while not (self._hello_seen.wait(0.05) or self._exited.is_set() or self._first_garbage is not None):
            if time.monotonic() > deadline:
                return False
        return True

    def _startup_failure(self):
        if self._first_garbage is not None:
            return (
                f"the backend printed something that is not a protocol message before its hello "
                f"({self._first_garbage.reason}): {self._first_garbage.line[:200]!r}; the backend Python "
                "may not be this project's backend"
            )
        code = self._process.poll()
        return (
            f"the backend exited with code {code} before saying hello. Its last log lines:\n"
            f"{self.stderr_tail() or '(none)'}"
        )

    def stop(self, request_timeout: float = SHUTDOWN_WAIT, terminate_timeout: float = 2.0) -> str:
        """Stop the process: shutdown request, then terminate, then kill. Returns which worked."""
        process = self._process
        if process is None:
            return "not started"
        how = "exited"
        if process.poll() is None:
            how = "shutdown"
            try:
                self.request(protocol.Method.SHUTDOWN)
            except BackendError:
                pass
            self._outbox.put(None)
            if not self._wait_process(request_timeout):
                how = "terminate"
                process.terminate()
                if not self._wait_process(terminate_timeout):
                    how = "kill"
                    process.kill()
                    process.wait()
        else:
            self._outbox.put(None)
        for thread in self._threads:
            thread.join(timeout=1.0)
        for stream in (process.stdin, process.stdout, process.stderr):
            try:
                stream.close()
            except (OSError, ValueError):
                pass
        log.debug("backend %s stopped (%s)", process.pid, how)
        return how

    def _wait_process(self, timeout):
        try:
            self._process.wait(timeout=timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    # ------------------------------------------------------------------ messages

    def request(self, method: str, params: dict | None = None) -> str:
        """Queue a request; return its id. Raises BackendError if the message is invalid."""
        if not self.running:
            raise BackendNotStarted("the backend is not running")
        request_id = f"r{next(self._ids)}"
        try:
            line = protocol.encode(protocol.request(request_id, method, params))
        except protocol.ProtocolError as exc:
            raise BackendError(f"could not send {method}: {exc.message}") from None
        self._outbox.put(line)
        return request_id

    def poll(self) -> list:
        """Everything that arrived since the last call, in order (never blocks)."""
        items = []
        while True:
            try:
                items.append(self._inbox.get_nowait())
            except queue.Empty:
                return items

    # ------------------------------------------------------------------ threads

    def _write_stdin(self):
        stdin = self._process.stdin
        while True:
            line = self._outbox.get()
            if line is None:
                break
            try:
                stdin.write(line + "\n")
                stdin.flush()
            except (OSError, ValueError):
                break  # the process is gone; the reader reports the exit
        try:
            stdin.close()
        except (OSError, ValueError):
            pass

    def _read_stdout(self):
        stdout = self._process.stdout
        while True:
            # Bounded reads: a broken backend's endless line must not be held in memory.
            line = stdout.readline(protocol.MAX_MESSAGE_BYTES + 1)
            if not line:
                break
            if len(line) > protocol.MAX_MESSAGE_BYTES:
                head = line[:OVERSIZE_HEAD]
                while line and not line.endswith("\n"):
                    line = stdout.readline(protocol.MAX_MESSAGE_BYTES)
                self._garbage(Garbage(head, f"a line over the {protocol.MAX_MESSAGE_BYTES}-byte limit"))
                continue
            if not line.strip():
                continue
            try:
                message = protocol.decode(line)
            except protocol.ProtocolError as exc:
                self._garbage(Garbage(line.rstrip("\n"), exc.message))
                continue
            if (
                self.hello is None
                and message["type"] == protocol.EVENT
                and message["event"] == protocol.EventName.HELLO
            ):
                self.hello = message["data"]
                self._hello_seen.set()
            self._inbox.put(message)
        returncode = self._process.wait()
        # Let the stderr reader finish so the tail holds the crash's last words.
        for thread in self._threads:
            if thread.name == "backend-stderr":
                thread.join(timeout=1.0)
        self._exited.set()
        self._outbox.put(None)
        self._inbox.put(Exited(returncode, self.stderr_tail()))

    def _garbage(self, garbage: Garbage):
        if self.hello is None and self._first_garbage is None:
            self._first_garbage = garbage
        self._inbox.put(garbage)

    def _read_stderr(self):
        for line in self._process.stderr:
            self._stderr.append(line.rstrip("\n"))


def clean_environment() -> dict:
    """Our environment without Blender's PYTHONHOME/PYTHONPATH, which another interpreter must not inherit."""
    return {key: value for key, value in os.environ.items() if key not in ("PYTHONHOME", "PYTHONPATH", "PYTHONSTARTUP")}


def backend_environment(root: str) -> dict:
    """The environment for the backend process, with the extension root importable."""
    env = clean_environment()
    env["PYTHONPATH"] = str(root)
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONIOENCODING"] = "utf-8"
    return env
