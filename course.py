#!/usr/bin/env python3
"""One entry point for the course: set up the environment, then open JupyterLab or run the tests.

    python3 course.py               # create .venv (first time), install, open JupyterLab on notebooks/
    python3 course.py check 03      # the self-check of homework 03: every part's status in one run
    python3 course.py test          # create .venv (first time), install, run every test
    python3 course.py test --quick  # the edit loop: unit tests, the release check and one notebook

Anything after the command is passed on: `python3 course.py lab --no-browser --port 8890`,
`python3 course.py test -k successor`. Set COURSE_NO_BROWSER=1 to start the server without a browser
(remote machines: `--ip 0.0.0.0`, or better an SSH tunnel: `ssh -L 8888:localhost:8888 host`).
On Linux, COURSE_TORCH_INDEX=https://download.pytorch.org/whl/cpu installs the CPU build of torch.
The same file is the students' course.py in the bundle `lecture release --student` writes (no `test` there).

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


KERNEL_CONFIG = (
    "# Written by course.py. The notebooks' kernels run on this machine only (127.0.0.1), so ipykernel's warning\n"
    "# about unencrypted TCP on every start (JupyterLab's terminal, nbconvert --execute) only alarms students.\n"
    "# Errors still show.\n"
    "c.IPKernelApp.log_level = 'ERROR'\n"
)


def _quiet_kernels() -> None:
    """The venv's own IPython config (sys.prefix/etc/ipython), read by every kernel this venv starts."""
    path = VENV / "etc" / "ipython" / "ipython_kernel_config.py"
    if not path.exists() or path.read_text() != KERNEL_CONFIG:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(KERNEL_CONFIG)


def ensure_env() -> None:
    if sys.version_info[:2] != (3, 11):
        _say(f"warning: the course is pinned for Python 3.11; this is {sys.version.split()[0]}")
    if not PY.exists():
        _say(f"creating the virtual environment in {VENV}")
        venv.EnvBuilder(with_pip=True).create(VENV)
    _quiet_kernels()
    want = _fingerprint()
    if STAMP.exists() and STAMP.read_text().strip() == want:
        return
    _say("installing the course and its pinned dependencies (first time: a few minutes)")
    # COURSE_TORCH_INDEX=https://download.pytorch.org/whl/cpu: on Linux, the CPU build of torch (pip's default
    # there is the CUDA build, several GB).
    index = os.environ.get("COURSE_TORCH_INDEX", "")
    extra = ["--extra-index-url", index] if index else []
    dev = "[dev]" if "[project.optional-dependencies]" in (ROOT / "pyproject.toml").read_text() else ""
    subprocess.run([str(PY), "-m", "pip", "install", "--quiet", *extra, "-e", f"{ROOT}{dev}"], check=True)
    STAMP.write_text(want + "\n")


def lab(rest: list[str]) -> int:
    argv = [str(PY), "-m", "jupyterlab", f"--ServerApp.root_dir={ROOT}", "--LabApp.default_url=/lab/tree/notebooks"]
    if os.environ.get("COURSE_NO_BROWSER", "") not in ("", "0"):
        argv.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        argv.append("--allow-root")  # containers and CI run as root; JupyterLab refuses without it
    _say(f"JupyterLab on {ROOT / 'notebooks'} (Ctrl-C twice to stop)")
    return subprocess.call([*argv, *rest], cwd=ROOT)


def check(rest: list[str]) -> int:
    found = sorted((ROOT / "exercises").glob(f"{rest[0]}*.ipynb")) if rest and rest[0].isdigit() else []
    if len(found) != 1:
        print("usage: python3 course.py check NN   (NN: the homework's number, e.g. 03)")
        return 2
    return subprocess.call([str(PY), "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider", "-o", "addopts=",
                            "-q", str(found[0]), *rest[1:]], cwd=ROOT)


def test(rest: list[str]) -> int:
    if not (ROOT / "tests").is_dir():
        print("the test suite is not part of the student bundle: `python3 course.py check NN` checks a homework")
        return 2
    os.environ.setdefault("JUPYTER_PLATFORM_DIRS", "1")
    # The whole suite: unit tests, nbval over the notebooks, release check, grader and its sandbox, the real
    # clients, browser tests, ruff, and the cross-kernel lane (tests/test_cross_kernel*.py: nbval again under
    # another CPU's float kernels).
    if "--quick" in rest:
        rest = [a for a in rest if a != "--quick"]
        rest = ["-m", "not slow and not browser", "tests", "notebooks/00_getting_started.ipynb", *rest]
    # Scheduling (tests/conftest.py): a file's tests stay together, except the student bundle's independent tests;
    # heaviest files first. Two workers on two cores: the suite keeps both busy, and a third worker only made them
    # compete (fresh clone, same machine: 658 s of pytest on two workers, 718 s on three, 827 s on four).
    return subprocess.call([str(PY), "-m", "pytest", "-n", os.environ.get("COURSE_TEST_WORKERS", "2"),
                            "--dist", "loadfile", "-rfEs", *rest], cwd=ROOT)


def main(argv: list[str]) -> int:
    cmd, rest = (argv[0], argv[1:]) if argv else ("lab", [])
    if cmd in ("-h", "--help", "help"):
        print(__doc__)
        return 0
    commands = {"lab": lab, "check": check, "test": test}
    if cmd not in commands:
        print(f"unknown command {cmd!r}: use `python3 course.py` (opens the course), `python3 course.py check NN` "
              "or `python3 course.py test`")
        return 2
    ensure_env()
    os.environ["PATH"] = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"
    return commands[cmd](rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
