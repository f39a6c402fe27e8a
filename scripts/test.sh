#!/usr/bin/env bash
# Run the whole test suite (pure-Python, backend, and Blender-side tests in real bpy).
# Sets the environment up first, so it works on a fresh clone. Extra arguments go to pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
.venv/bin/python -m pytest "$@"
status=$?
if [ "$status" -eq 5 ]; then
    echo "test: pytest collected no tests; that is a failure" >&2
    exit 1
fi
exit "$status"
