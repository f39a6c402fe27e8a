"""The one place that chooses the torch device and the CPU thread count.

``predict_device`` answers without importing torch (the service says which device it
will use in its first message, before the slow torch import); ``choose_device`` is the
authoritative answer once torch is imported. Preference: CUDA, then Apple MPS, then CPU.
"""
from __future__ import annotations

import importlib.util
import logging
import os
import platform
import re
import sys
from pathlib import Path

log = logging.getLogger(__name__)

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
MAX_CPU_THREADS = 8


class DeviceUnavailable(RuntimeError):
    pass


def check_device_name(requested: str) -> str:
    """``requested`` lower-cased if it names a device kind; raises DeviceUnavailable if not."""
    requested = (requested or "auto").lower()
    if requested in DEVICE_CHOICES or re.fullmatch(r"cuda:\d+", requested):
        return requested
    raise DeviceUnavailable(f"unknown device {requested!r}; use one of auto, cpu, cuda, cuda:N, mps")


def _torch_built_with_cuda() -> bool:
    """Read torch/version.py as text: a CPU-only wheel says ``cuda = None``."""
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return False
    version_file = Path(list(spec.submodule_search_locations)[0]) / "version.py"
    try:
        text = version_file.read_text()
    except OSError:
        return False
    values = re.findall(r"^(?:cuda|hip)\s*(?::[^=]*)?=\s*(.+)$", text, re.MULTILINE)
    return any(value.strip() not in ("None", "") for value in values)


def _gpu_driver_present() -> bool:
    """An NVIDIA (Linux, Windows) or AMD ROCm (Linux) driver is installed."""
    if sys.platform == "win32":
        return (Path(os.environ.get("SystemRoot", r"C:\Windows")) / "System32" / "nvcuda.dll").exists()
    return Path("/proc/driver/nvidia/gpus").is_dir() or Path("/dev/nvidia0").exists() or Path("/dev/kfd").exists()


def _is_apple_silicon() -> bool:
    return sys.platform == "darwin" and platform.machine() == "arm64"


def predict_device(requested: str = "auto") -> str:
    """The device ``choose_device(requested)`` will most likely return, without torch.

    An explicit request is returned as is; whether it exists is known only to torch.
    """
    requested = check_device_name(requested)
    if requested != "auto":
        return requested
    if "torch" in sys.modules:
        return choose_device(requested).type
    if _torch_built_with_cuda() and _gpu_driver_present():
        return "cuda"
    if _is_apple_silicon():
        return "mps"
    return "cpu"


def choose_device(requested: str = "auto"):
    """A ``torch.device``: the requested one, or with "auto" CUDA > MPS > CPU."""
    import torch

    requested = check_device_name(requested)
    mps = getattr(torch.backends, "mps", None)
    mps_ok = mps is not None and mps.is_available()
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if mps_ok else "cpu")
    if requested.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceUnavailable(
                f"device {requested!r} was asked for but torch sees no CUDA GPU "
                "(CPU-only torch build or no driver); use --device cpu or install a CUDA build of torch"
            )
        index = int(requested.split(":")[1]) if ":" in requested else 0
        if index >= torch.cuda.device_count():
            raise DeviceUnavailable(
                f"device {requested!r} does not exist; this machine has {torch.cuda.device_count()} CUDA device(s)"
            )
    if requested == "mps" and not mps_ok:
        raise DeviceUnavailable("device 'mps' was asked for but Apple MPS is not available; use --device cpu")
    return torch.device(requested)


def cpu_thread_count(requested: int | None = None) -> int:
    """Threads for CPU inference: half the cores this process may run on, 1 to 8.

    The service runs beside Blender, which keeps its own threads busy; and the compact
    model's small matrices gain little from more threads, while oversubscribed cores
    made a 10 s clip 19 times slower with 2 threads than with 1 on a busy 2-core machine
    (docs/benchmarks.md).
    """
    if requested is not None:
        if requested < 1:
            raise ValueError(f"thread count must be >= 1, got {requested}")
        return requested
    return max(1, min(MAX_CPU_THREADS, usable_cores() // 2))


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def configure_threads(threads: int | None = None) -> int:
    """Set torch's intra-op thread count (call once, after importing torch)."""
    import torch

    count = cpu_thread_count(threads)
    torch.set_num_threads(count)
    log.debug("torch uses %d CPU thread(s)", count)
    return count
