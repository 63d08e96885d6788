#!/usr/bin/env python3
"""One entry point for the course: set up the environment, then open JupyterLab or run the tests.

    python3 course.py               # create .venv (first time), install, open JupyterLab on notebooks/
    python3 course.py test          # create .venv (first time), install, run every test
    python3 course.py test --quick  # the edit loop: unit tests, the release check and one notebook

Anything after the command is passed on: `python3 course.py lab --no-browser --port 8890`,
`python3 course.py test -k successor`. Set COURSE_NO_BROWSER=1 to start the server without a browser.

Only the Python standard library is used here, so this runs on a fresh machine with Python 3.11.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("COURSE_VENV", ROOT / ".venv"))
STAMP = VENV / ".course-installed"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")


def _say(msg: str) -> None:
    print(f"[course] {msg}", flush=True)


def _fingerprint() -> str:
    """Hash of what decides the installed set: reinstall only when it changes."""
    h = hashlib.sha256()
    for name in ("pyproject.toml",):
        h.update((ROOT / name).read_bytes())
    h.update(sys.version.encode())
    return h.hexdigest()


def ensure_env() -> None:
    if sys.version_info[:2] != (3, 11):
        _say(f"warning: the course is pinned for Python 3.11; this is {sys.version.split()[0]}")
    if not PY.exists():
        _say(f"creating the virtual environment in {VENV}")
        venv.EnvBuilder(with_pip=True).create(VENV)
    want = _fingerprint()
    if STAMP.exists() and STAMP.read_text().strip() == want:
        return
    _say("installing the course and its pinned dependencies (first time: a few minutes)")
    # COURSE_TORCH_INDEX=https://download.pytorch.org/whl/cpu: on Linux, the CPU build of torch (pip's default
    # there is the CUDA build, several GB).
    index = os.environ.get("COURSE_TORCH_INDEX", "")
    extra = ["--extra-index-url", index] if index else []
    subprocess.run([str(PY), "-m", "pip", "install", "--quiet", *extra, "-e", f"{ROOT}[dev]"], check=True)
    STAMP.write_text(want + "\n")


def main(argv: list[str]) -> int:
    cmd, rest = (argv[0], argv[1:]) if argv else ("lab", [])
    if cmd in ("-h", "--help", "help"):
        print(__doc__)
        return 0
    if cmd not in ("lab", "test"):
        print(f"unknown command {cmd!r}: use `python3 course.py` (opens the course) or `python3 course.py test`")
        return 2
    ensure_env()
    os.environ["PATH"] = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"
    if cmd == "lab":
        return subprocess.call([str(PY), "-m", "lecture_admin", "lab", *rest], cwd=ROOT)
    os.environ.setdefault("JUPYTER_PLATFORM_DIRS", "1")
    # The whole suite: unit tests, nbval over the notebooks, release check, grader and its sandbox, the real
    # clients, browser tests, ruff, and the cross-kernel lane (tests/test_cross_kernel.py: nbval again under
    # another CPU's float kernels). Two workers; --dist loadfile keeps each notebook's cells in one kernel.
    if "--quick" in rest:
        rest = [a for a in rest if a != "--quick"]
        quick = ["-m", "not slow and not browser", "tests", "notebooks/00_getting_started.ipynb"]
        return subprocess.call([str(PY), "-m", "pytest", "-n", "2", "--dist", "loadfile", "-rs", *quick, *rest],
                               cwd=ROOT)
    return subprocess.call([str(PY), "-m", "pytest", "-n", "2", "--dist", "loadfile", "-rs", *rest], cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
