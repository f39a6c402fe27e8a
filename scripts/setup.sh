#!/usr/bin/env bash
# Make the project's environments: system packages, a Python 3.11 virtual environment in
# .venv with the pinned versions of requirements.txt (backend and tests), and .venv-blender42
# with Blender 4.2 LTS for the legacy-Action tests. Idempotent: a second run with everything
# present only checks and returns within seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

# espeak-ng itself comes with the espeakng-loader wheel (library and voices); ffmpeg
# decodes what soundfile cannot and makes the demo's preview video.
APT_PACKAGES=(ffmpeg)
VENV=.venv

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

# make_venv DIR REQUIREMENTS [HASHED]: a Python 3.11 environment with those pinned packages
# (and the hash-pinned ones of HASHED, installed without dependencies), skipped when the
# requirements have not changed since it was made.
make_venv() {
    local venv=$1 requirements=$2 hashed=${3:-}
    local stamp="$venv/.requirements.sha256" want
    want=$(cat "$requirements" ${hashed:+"$hashed"} | sha256sum | cut -d' ' -f1)
    if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        echo "setup: environment up to date ($venv)"
        return
    fi
    if [ ! -x "$venv/bin/python" ]; then
        echo "setup: creating $venv"
        "$(python_311)" -m venv "$venv"
    fi
    echo "setup: installing $requirements into $venv (the first run downloads it)"
    "$venv/bin/python" -m pip install -q --upgrade pip
    "$venv/bin/python" -m pip install -q -r "$requirements"
    if [ -n "$hashed" ]; then
        "$venv/bin/python" -m pip install -q --no-deps --require-hashes -r "$hashed"
    fi
    echo "$want" > "$stamp"
}

make_venv "$VENV" requirements.txt requirements-speech.txt
# Blender 4.2 LTS for the tests of the legacy Action path (4.2 has no slotted Actions).
make_venv .venv-blender42 requirements-blender42.txt
echo "setup: done"
