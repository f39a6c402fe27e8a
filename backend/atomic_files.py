"""Files written so that a reader sees the old content or the new, never a part.

Standard library only. The one place that writes through a temp file, syncs it and
renames it; motions, style vectors and variation sets all go through here.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path


def write_atomically(path, write) -> None:
    """Call ``write(binary_file)`` on a temp file beside ``path``, then rename it to ``path``."""
    write_all_atomically([(path, write)])


def write_all_atomically(files) -> None:
    """Write each ``(path, write)`` to a temp file beside its path, then rename them all.

    The slow part (writing and syncing) happens before any rename, and a failure removes
    the temp files and whatever this call renamed already, so readers see the old files or
    the whole new set, never a part (a kill can still leave hidden ``.tmp`` files). Files
    get the permissions of any new file (0666 less the umask), not a temp file's 0600.
    """
    temps, renamed = [], []
    try:
        for path, write in files:
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, temp = _create_temp(path)
            temps.append((temp, path))
            with os.fdopen(handle, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
        for temp, path in temps:
            os.replace(temp, path)
            renamed.append(path)
    except BaseException:
        for temp, _ in temps:
            temp.unlink(missing_ok=True)
        for path in renamed:
            path.unlink(missing_ok=True)
        raise


def _create_temp(path: Path) -> tuple:
    """(descriptor, path) of a new hidden file beside ``path``; the umask applies to its mode."""
    while True:
        temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666), temp
        except FileExistsError:
            continue
