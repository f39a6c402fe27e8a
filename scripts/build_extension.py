"""Validate the manifest and build the extension zip with Blender's own tooling.

Blender's validator and package builder (``blender_ext.py``) ship inside the bpy wheel,
so no Blender binary is needed:

    .venv/bin/python scripts/build_extension.py            # -> build/diffposetalk-<version>.zip
    .venv/bin/python scripts/build_extension.py --validate-only
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def blender_ext_script(env: dict) -> Path:
    probe = subprocess.run(
        [sys.executable, "-c", "import bpy; print(bpy.utils.system_resource('SCRIPTS'))"],
        capture_output=True, text=True, env=env,
    )
    if probe.returncode != 0:
        sys.exit(f"build_extension: cannot import bpy ({probe.stderr.strip()[-300:]}); run scripts/setup.sh first")
    return Path(probe.stdout.strip().splitlines()[-1]) / "addons_core" / "bl_pkg" / "cli" / "blender_ext.py"


def run_blender_ext(*args: str) -> None:
    with tempfile.TemporaryDirectory() as home:
        # bpy writes into the user's config and cache on import: keep it out of the real home.
        env = dict(os.environ, HOME=home, BLENDER_USER_RESOURCES=home)
        proc = subprocess.run([sys.executable, str(blender_ext_script(env)), *args], env=env, text=True,
                              capture_output=True)
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    if proc.returncode != 0:
        sys.exit(proc.returncode)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", type=Path, default=ROOT / "build")
    parser.add_argument("--validate-only", action="store_true")
    args = parser.parse_args()
    run_blender_ext("validate", str(ROOT))
    if not args.validate_only:
        args.output_dir.mkdir(parents=True, exist_ok=True)
        run_blender_ext("build", "--source-dir", str(ROOT), "--output-dir", str(args.output_dir.resolve()))


if __name__ == "__main__":
    main()
