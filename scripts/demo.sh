#!/usr/bin/env bash
# The main job on a fresh machine: set everything up, then turn the bundled speech sample
# into an animated head (.blend), an FBX and a preview video with the default model,
# through the Blender extension itself (scripts/demo.py). Extra arguments go to demo.py.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python scripts/demo.py "$@"
