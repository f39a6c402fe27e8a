#!/usr/bin/env bash
# Make the project's environment: system packages and a Python 3.11 virtual environment
# in .venv with the pinned versions of requirements.txt. Idempotent: a second run with
# everything present only checks and returns within seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(espeak-ng ffmpeg)
VENV=.venv
STAMP="$VENV/.requirements.sha256"

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    echo "setup: installing system packages: ${missing[*]}"
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python_311() {
    for candidate in python3.11 "$HOME/.pyenv/versions/3.11.7/bin/python3.11" /usr/bin/python3.11; do
        if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 11)' 2>/dev/null; then
            command -v "$candidate"
            return
        fi
    done
    echo "setup: Python 3.11 is required (bpy and the CPU torch wheel are built for it)." >&2
    echo "setup: install it (for example 'apt-get install python3.11-venv' or pyenv) and run again." >&2
    exit 1
}

want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
    echo "setup: environment up to date ($VENV)"
    exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
    echo "setup: creating $VENV"
    "$(python_311)" -m venv "$VENV"
fi
echo "setup: installing Python packages (first run downloads about 1 GB)"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -r requirements.txt
echo "$want" > "$STAMP"
echo "setup: done ($VENV)"
