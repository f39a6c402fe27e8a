"""What every test folder shares: the repository's place, the extension package, and a
child-process environment that keeps Blender away from the real home directory.

A plain module (not a conftest) so that test modules in any folder can import it by a
name no other folder uses.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXTENSION_PACKAGE = "diffposetalk"
RESULT_MARKER = "@@RESULT@@"
# Blender versions the Blender-side tests can run in: bpy 5.0 beside the backend in .venv,
# and Blender 4.2 LTS (legacy Actions, no sound) in .venv-blender42; scripts/setup.sh makes both.
BLENDER_PYTHONS = {"5.0": Path(sys.executable), "4.2": ROOT / ".venv-blender42" / "bin" / "python"}


def import_extension_package():
    """Import the repository root as the package Blender installs (``diffposetalk``).

    The add-on reaches ``backend.protocol`` and ``backend.expression_spaces`` through
    relative imports, so its bpy-free core is only importable as part of that package.
    """
    if EXTENSION_PACKAGE in sys.modules:
        return sys.modules[EXTENSION_PACKAGE]
    spec = importlib.util.spec_from_file_location(
        EXTENSION_PACKAGE, ROOT / "__init__.py", submodule_search_locations=[str(ROOT)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[EXTENSION_PACKAGE] = module
    spec.loader.exec_module(module)
    return module


def isolated_env(home: Path) -> dict:
    """Environment for a child process that keeps Blender away from the real home."""
    home.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["HOME"] = str(home)
    env["BLENDER_USER_RESOURCES"] = str(home / "blender")
    env["XDG_CONFIG_HOME"] = str(home / ".config")
    env["XDG_CACHE_HOME"] = str(home / ".cache")
    env["PYTHONPATH"] = str(ROOT)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_in_blender(script: str, tmp_path: Path, timeout: float = 300, blender: str = "5.0", **args):
    """Run ``script`` inside real bpy (``blender``: a key of ``BLENDER_PYTHONS``) in a fresh
    process; return what it passed to ``result()``.

    The script gets ``ROOT`` (the repository), ``TMP`` (``tmp_path``), ``ARGS`` (the keyword
    arguments given here) and ``result(value)`` (sends JSON back) as globals.
    """
    prelude = textwrap.dedent(
        f"""
        import json, sys
        from pathlib import Path
        ROOT = Path({str(ROOT)!r})
        TMP = Path({str(tmp_path)!r})
        ARGS = json.loads({json.dumps(json.dumps(args))})
        def result(value):
            print({RESULT_MARKER!r} + json.dumps(value), flush=True)
        """
    )
    script_path = tmp_path / f"blender_script_{len(list(tmp_path.glob('blender_script_*')))}.py"
    script_path.write_text(prelude + textwrap.dedent(script))
    python = BLENDER_PYTHONS[blender]
    assert python.is_file(), f"no Blender {blender} environment at {python}; run scripts/setup.sh"
    proc = subprocess.run(
        [str(python), str(script_path)],
        env=isolated_env(tmp_path / "home"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise AssertionError(
            f"Blender script failed with exit code {proc.returncode}\n"
            f"--- stdout ---\n{proc.stdout[-4000:]}\n--- stderr ---\n{proc.stderr[-8000:]}"
        )
    results = [line[len(RESULT_MARKER):] for line in proc.stdout.splitlines() if line.startswith(RESULT_MARKER)]
    assert results, f"the script sent no result\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return json.loads(results[-1])
