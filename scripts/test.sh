#!/usr/bin/env bash
# Run the whole test suite (pure-Python, backend, and Blender-side tests in real bpy).
# Sets the environment up first, so it works on a fresh clone. Extra arguments go to pytest.
#   --fast   the inner loop: leaves out the tests marked slow and those that run Blender
set -uo pipefail
cd "$(dirname "$0")/.."
selection=()
if [ "${1:-}" = "--fast" ]; then
    shift
    selection=(-m "not slow and not blender")
fi
bash scripts/setup.sh || exit 1
.venv/bin/python -m pytest "${selection[@]}" "$@"
status=$?
if [ "$status" -eq 5 ]; then
    echo "test: pytest collected no tests; that is a failure" >&2
    exit 1
fi
exit "$status"
