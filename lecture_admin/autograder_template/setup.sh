#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (the zip is in /autograder/source).
# It installs Python 3.11 if the image lacks it, then the course package with its pinned dependencies
# (CPU-only torch) into /autograder/venv. Built by `lecture autograder`; see docs/grading.md.
set -euo pipefail
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
AG="${AUTOGRADER_ROOT:-/autograder}"

PY=""
for cand in python3.11 python3; do
  if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
    PY="$(command -v "$cand")"
    break
  fi
done
if [ -z "$PY" ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq software-properties-common >/dev/null
  add-apt-repository -y ppa:deadsnakes/ppa >/dev/null
  apt-get update -qq
  apt-get install -y -qq python3.11 python3.11-venv >/dev/null
  PY="$(command -v python3.11)"
fi

"$PY" -m venv "$AG/venv"
# The CPU wheel of the pinned torch comes from PyTorch's index; everything else from PyPI, pinned by pyproject.toml.
# AUTOGRADER_OFFLINE=1 (the tests): only the machine's configured package index, no other host.
if [ "${AUTOGRADER_OFFLINE:-0}" = "1" ]; then
  "$AG/venv/bin/python" -m pip install --quiet "$SRC/course"
else
  "$AG/venv/bin/python" -m pip install --quiet --upgrade pip
  "$AG/venv/bin/python" -m pip install --quiet --extra-index-url https://download.pytorch.org/whl/cpu "$SRC/course"
fi
# Smoke test: the grader imports and the released homework loads.
"$AG/venv/bin/python" -m lecture_admin.grading.gradescope --config "$SRC/autograder.json" --check
