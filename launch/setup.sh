#!/usr/bin/env bash
# Idempotent setup for a fresh Debian/Ubuntu machine: system packages, a
# virtual environment in .venv and the pinned Python requirements.
#   bash launch/setup.sh [runtime|test]     (default: test)
set -euo pipefail
cd "$(dirname "$0")/.."

want="${1:-test}"
venv="${HCSC_VENV:-.venv}"
python="${PYTHON:-python3}"
apt_packages=(dataset-fashion-mnist)
# The tests open the hierarchy browser page in a real headless browser.
[ "$want" = "test" ] && apt_packages+=(chromium chromium-driver)

missing=()
for pkg in "${apt_packages[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ! "$python" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  missing+=(python3-venv)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}"
fi

requirements=requirements.txt
[ "$want" = "test" ] && requirements=requirements-test.txt
stamp="$venv/.installed-$(cat requirements.txt requirements-docs.txt "$requirements" | sha256sum | cut -c1-16)-$want"
if [ ! -f "$stamp" ]; then
  [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
  echo "setup: installing $requirements into $venv (a few minutes the first time)"
  "$venv/bin/python" -m pip install -q --upgrade pip >/dev/null
  # No byte-compiling of every installed file (half the install's time):
  # Python compiles the modules it imports, once, when it first needs them.
  "$venv/bin/python" -m pip install -q --no-compile -r "$requirements"
  touch "$stamp"
fi
