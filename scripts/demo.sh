#!/usr/bin/env bash
# The main job on a fresh machine: set everything up, then turn the bundled speech sample
# into an animated head (.blend), an FBX and a preview video with the default model.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m backend demo "$@"
