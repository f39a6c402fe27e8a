"""The backend's lifecycle on Blender's side: one session, a main-thread timer, setup.

The service starts on first use (a job or Check Backend), stays running between
generations, and stops when the add-on unregisters or Blender quits. The timer
(``drain_events``) is the only place where backend results reach bpy; tests call
``drain_events()`` directly because timers never fire in bpy as a module.
"""
from __future__ import annotations

import atexit
import logging
import time
from pathlib import Path

import bpy

from . import common
from .core import backend_env
from .core.client import BackendError
from .core.jobs import BackendConfig, Session

log = logging.getLogger(__name__)

TIMER_INTERVAL = 0.1
SETUP_ENV = "backend-env"  # folder under the extension's user directory
# How long a redraw of the preferences trusts the last search for the backend's Python
# (a search stats files; redraws come many times a second).
FOUND_PYTHON_SECONDS = 2.0

SESSION = Session()
SETUP = None  # the running or last backend_env.SetupJob
_setup_reported = False
# job kind -> function(job) called on the main thread when a job of that kind ends; the
# modules that start jobs install theirs when the add-on registers
JOB_HANDLERS = {}
_found_python = {}  # what backend_python searched for -> (when, what it found)


class NotReady(Exception):
    """The backend is not set up or not usable; the message says what to do."""


def backend_python(prefs, cached: bool = False) -> str | None:
    """The backend's interpreter the preferences lead to; ``cached``: a search of the last
    ``FOUND_PYTHON_SECONDS`` may answer (for drawing)."""
    search = (
        bpy.path.abspath(prefs.python) if prefs.python else "",
        str(common.ROOT_DIR),
        bpy.utils.extension_path_user(common.ROOT_PACKAGE, path=SETUP_ENV),
    )
    now = time.monotonic()
    if cached and search in _found_python and now - _found_python[search][0] < FOUND_PYTHON_SECONDS:
        return _found_python[search][1]
    found = backend_env.find_backend_python(*search)
    _found_python.clear()
    _found_python[search] = (now, found)
    return found


def config(prefs) -> BackendConfig:
    """The backend and model the preferences ask for; raises NotReady with what to do."""
    python = backend_python(prefs)
    if python is None:
        raise NotReady(
            "The backend is not set up: press Set up backend in the add-on's preferences, "
            "or set Backend Python to an environment with the backend's packages"
        )
    speech_model = bpy.path.abspath(prefs.speech_model) if prefs.speech_model else None
    if speech_model and not Path(speech_model, "model.bin").is_file():
        raise NotReady(f"The speech model folder {speech_model} has no model.bin: choose a faster-whisper "
                       "(CTranslate2) model folder in the add-on's preferences, or leave it empty for the bundled one")
    if prefs.model_source == "DEFAULT":
        if not (common.DEFAULT_MODEL_DIR / "config.json").is_file():
            raise NotReady(
                f"The shipped default model is missing ({common.DEFAULT_MODEL_DIR}); choose released DiffPoseTalk "
                "files or a checkpoint folder in the add-on's preferences"
            )
        return BackendConfig(python=python, root=str(common.ROOT_DIR), checkpoint=str(common.DEFAULT_MODEL_DIR),
                             device=prefs.device, speech_model=speech_model)
    checkpoint = bpy.path.abspath(prefs.checkpoint)
    if not prefs.checkpoint or not Path(checkpoint).exists():
        raise NotReady("Choose the model's checkpoint in the add-on's preferences (the file or folder is missing)")
    released = prefs.model_source == "RELEASED"
    extras = {}
    if released:
        for name, label in (("style_encoder", "style encoder .pt"), ("stats", "stats .npz")):
            path = bpy.path.abspath(getattr(prefs, name))
            if not getattr(prefs, name) or not Path(path).is_file():
                raise NotReady(f"Released DiffPoseTalk models need their {label}: set it in the add-on's preferences")
            extras[name] = path
    return BackendConfig(python=python, root=str(common.ROOT_DIR), checkpoint=checkpoint, device=prefs.device,
                         speech_model=speech_model, **extras)


def check(prefs, timeout: float) -> dict:
    try:
        return SESSION.check(config(prefs), timeout)
    except BackendError as exc:
        raise NotReady(str(exc)) from None


def submit(prefs, kind, method, params, context):
    """Start a job; raises NotReady when it cannot start. The timer takes it from there."""
    try:
        job = SESSION.submit(config(prefs), kind, method, params, context)
    except BackendError as exc:
        raise NotReady(str(exc)) from None
    ensure_timer()
    return job


def start_setup(base_python, env_dir, requirements, pinned=()):
    global SETUP, _setup_reported
    _setup_reported = False
    SETUP = backend_env.SetupJob(base_python=base_python, env_dir=str(env_dir), requirements=requirements,
                                 pinned=list(pinned))
    SETUP.start()
    ensure_timer()
    return SETUP


def ensure_timer():
    if not bpy.app.timers.is_registered(_timer):
        bpy.app.timers.register(_timer, first_interval=TIMER_INTERVAL, persistent=True)


def _timer():
    return TIMER_INTERVAL if drain_events() else None


def drain_events() -> bool:
    """Apply what the backend sent; returns whether anything is still running."""
    for job in SESSION.pump():
        handler = JOB_HANDLERS.get(job.kind)
        if handler is not None:
            try:
                handler(job)
            except Exception:  # a bug in a handler must not kill the timer for good
                log.exception("applying the %s job failed", job.kind)
    setup_running = _drain_setup()
    try:
        common.tag_redraw()
    except AttributeError:
        pass  # no window manager (file loading)
    return SESSION.busy or setup_running


def _drain_setup() -> bool:
    global _setup_reported
    if SETUP is None:
        return False
    SETUP.poll()
    if SETUP.state == "running":
        return True
    if _setup_reported:
        return False
    _setup_reported = True
    prefs = common.preferences()
    prefs.status = SETUP.message
    if SETUP.state == "done":
        prefs.python = str(backend_env.venv_python(SETUP.env_dir))
    return False


def stop():
    """Stop the backend and a running setup; used by unregister and at exit."""
    if SETUP is not None and SETUP.state == "running":
        SETUP.cancel()
    how = SESSION.stop()
    if bpy.app.timers.is_registered(_timer):
        bpy.app.timers.unregister(_timer)
    log.debug("backend stop: %s", how)


@bpy.app.handlers.persistent
def _on_load_pre(*_args):
    # A job's result belongs to the file it started in: a running job is cancelled.
    SESSION.cancel()


def register():
    # At exit no new thread may start: the backend is stopped before Python goes.
    atexit.register(SESSION.stop, wait=True)
    bpy.app.handlers.load_pre.append(_on_load_pre)


def unregister():
    if _on_load_pre in bpy.app.handlers.load_pre:
        bpy.app.handlers.load_pre.remove(_on_load_pre)
    stop()
    atexit.unregister(SESSION.stop)
