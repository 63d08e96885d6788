#!/usr/bin/env python3
"""The course, for students: set up once, then open the notebooks or check a homework.

    python3 course.py            # create .venv (first time), install, open JupyterLab on notebooks/
    python3 course.py check 03   # the self-check of homework 03: every part's status in one run

Only the Python standard library is used here. Set COURSE_NO_BROWSER=1 to start JupyterLab without a browser
(remote machines: add `--ip 0.0.0.0`, or better, an SSH tunnel: `ssh -L 8888:localhost:8888 host`).
Linux: set COURSE_TORCH_INDEX=https://download.pytorch.org/whl/cpu to get the small CPU build of torch.
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
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".course-installed"


def say(msg: str) -> None:
    print(f"[course] {msg}", flush=True)


def ensure_env() -> None:
    if sys.version_info[:2] != (3, 11):
        sys.exit(f"[course] the course needs Python 3.11; this is {sys.version.split()[0]} (see README: Python 3.11)")
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text().strip() == want:
        return
    if not PY.exists():
        say(f"creating the virtual environment in {VENV}")
        venv.EnvBuilder(with_pip=True).create(VENV)
    say("installing the course and its pinned dependencies (first time: a few minutes)")
    extra = ["--extra-index-url", os.environ["COURSE_TORCH_INDEX"]] if os.environ.get("COURSE_TORCH_INDEX") else []
    subprocess.run([str(PY), "-m", "pip", "install", "--quiet", *extra, "-e", str(ROOT)], check=True)
    STAMP.write_text(want + "\n")


def main(argv: list[str]) -> int:
    cmd, rest = (argv[0], argv[1:]) if argv else ("lab", [])
    if cmd in ("-h", "--help", "help"):
        print(__doc__)
        return 0
    if cmd not in ("lab", "check"):
        print(f"unknown command {cmd!r}: use `python3 course.py` or `python3 course.py check NN`")
        return 2
    ensure_env()
    if cmd == "check":
        found = sorted((ROOT / "exercises").glob(f"{rest[0]}*.ipynb")) if rest else []
        if len(found) != 1:
            print("usage: python3 course.py check NN   (NN: the homework's number, e.g. 03)")
            return 2
        return subprocess.call([str(PY), "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider", "-q", "-rN",
                                str(found[0])], cwd=ROOT)
    lab = [str(PY), "-m", "jupyterlab", f"--ServerApp.root_dir={ROOT}", "--LabApp.default_url=/lab/tree/notebooks"]
    if os.environ.get("COURSE_NO_BROWSER", "") not in ("", "0"):
        lab.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        lab.append("--allow-root")
    return subprocess.call([*lab, *rest], cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
