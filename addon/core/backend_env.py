"""Finding and making the backend's Python environment.

No bpy here. The backend runs in its own Python (torch and friends never load into
Blender). It is found, in order, at the path the user chose, in the project's own
environment (``.venv`` beside the extension's files, a development checkout) and in the
environment "Set up backend" made under the extension's user folder.

Setting up runs its commands in a worker thread (make a virtual environment, upgrade
pip, install the requirements, then the hash-pinned speech model and noise suppressor) and reports each output line through a queue, so the
add-on can show progress without blocking Blender.
"""
from __future__ import annotations

import os
import queue
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

from .client import clean_environment

# Packages in requirements.txt that only the tests and the Blender side need: the backend
# never imports bpy, and pytest/hypothesis run the test suite.
NOT_FOR_BACKEND = ("bpy", "pytest", "hypothesis")


class SetupError(Exception):
    pass


def venv_python(env_dir) -> Path:
    env_dir = Path(env_dir)
    if os.name == "nt":
        return env_dir / "Scripts" / "python.exe"
    return env_dir / "bin" / "python"


def find_backend_python(chosen: str, root, setup_env_dir) -> str | None:
    """The backend interpreter: the chosen one, the project's ``.venv``, or the set-up one."""
    if chosen:
        return chosen
    for candidate in (venv_python(Path(root) / ".venv"), venv_python(setup_env_dir)):
        if candidate.is_file():
            return str(candidate)
    return None


def backend_requirements(requirements_txt) -> list:
    """The pinned requirement lines the backend needs, from the project's requirements.txt."""
    path = Path(requirements_txt)
    if not path.is_file():
        raise SetupError(
            f"{path} is missing, so this copy of the extension cannot set up its backend; reinstall it, "
            "or set Backend Python to an environment made with the project's scripts/setup.sh"
        )
    lines = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        name = line.replace(">", "=").replace("<", "=").split("=", 1)[0].strip().lower()
        if line and name not in NOT_FOR_BACKEND:
            lines.append(line)
    return lines


def pinned_requirements(requirements_txt) -> list:
    """The hash-pinned lines of requirements-speech.txt (installed without dependencies)."""
    path = Path(requirements_txt)
    if not path.is_file():
        raise SetupError(f"{path} is missing, so this copy of the extension cannot set up its backend; reinstall it")
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


@dataclass
class SetupJob:
    """Makes the backend environment in a worker thread; the main thread polls it.

    ``lines`` receives output lines; ``state`` is "running", "done" or "failed" and
    ``message`` says what happened. ``fraction`` counts finished commands.
    """

    base_python: str
    env_dir: str
    requirements: list
    pinned: list = field(default_factory=list)  # hash-pinned lines, installed with --no-deps
    state: str = "running"
    message: str = ""
    fraction: float = 0.0
    last_line: str = ""
    lines: queue.Queue = field(default_factory=queue.Queue)
    _process: subprocess.Popen | None = None
    _cancelled: bool = False

    def commands(self) -> list:
        python = str(venv_python(self.env_dir))
        commands = [[self.base_python, "-m", "venv", str(self.env_dir)]]
        if self.requirements:
            requirements_file = Path(self.env_dir) / "backend-requirements.txt"
            commands.append([python, "-m", "pip", "install", "--upgrade", "pip"])
            commands.append([python, "-m", "pip", "install", "-r", str(requirements_file)])
        if self.pinned:
            commands.append([python, "-m", "pip", "install", "--no-deps", "--require-hashes", "-r",
                             str(Path(self.env_dir) / "backend-pinned.txt")])
        return commands

    def start(self):
        thread = threading.Thread(target=self._run, name="backend-setup", daemon=True)
        thread.start()
        return thread

    def poll(self) -> list:
        items = []
        while True:
            try:
                items.append(self.lines.get_nowait())
            except queue.Empty:
                break
        if items:
            self.last_line = items[-1]
        return items

    def cancel(self):
        """Stop the running command (used when the add-on unregisters mid-setup)."""
        self._cancelled = True
        process = self._process
        if process is not None and process.poll() is None:
            process.terminate()

    def _run(self):
        commands = self.commands()
        try:
            for index, command in enumerate(commands):
                if self._cancelled:
                    raise SetupError("setup was cancelled; press Set up backend to start again")
                if index == 1:
                    (Path(self.env_dir) / "backend-requirements.txt").write_text(
                        "\n".join(self.requirements) + "\n", encoding="utf-8"
                    )
                    (Path(self.env_dir) / "backend-pinned.txt").write_text(
                        "\n".join(self.pinned) + "\n", encoding="utf-8"
                    )
                self._run_one(command)
                self.fraction = (index + 1) / len(commands)
        except (OSError, SetupError) as exc:
            self.message = str(exc)
            self.state = "failed"
            return
        self.message = f"backend environment ready: {venv_python(self.env_dir)}"
        self.state = "done"

    def _run_one(self, command):
        process = self._process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            text=True, errors="replace", env=clean_environment(),
        )
        tail = []
        for line in process.stdout:
            line = line.rstrip()
            if line:
                tail = (tail + [line])[-10:]
                self.lines.put(line)
        if process.wait() != 0:
            if self._cancelled:
                raise SetupError("setup was cancelled; press Set up backend to start again")
            raise SetupError(
                f"'{' '.join(command[:4])} ...' failed with exit code {process.returncode}:\n" + "\n".join(tail)
            )
