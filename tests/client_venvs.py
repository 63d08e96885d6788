"""Cached virtual environments for the real-client tests (tests/test_nbgrader_client.py, test_gradescope_client.py).

A venv is rebuilt only when its key (what went into it) changes. They live in a cache folder outside the
repository (COURSE_TEST_CACHE, default ~/.cache/lecture-course-tests), so later runs and fresh clones on the
same machine reuse them, as pip reuses its wheel cache. Building one needs the machine's configured index.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

STAMP = "lecture-venv-key.txt"
CACHE_DIR = Path(os.environ.get("COURSE_TEST_CACHE", Path.home() / ".cache" / "lecture-course-tests"))
STUDENT_VENV = CACHE_DIR / "venv-student"  # what tests/conftest.py's `student` fixture installs the bundle into


def base_python() -> str:
    """A Python 3.11 that is not itself inside a venv (`python -m venv` from a venv's Python works too)."""
    return getattr(sys, "_base_executable", None) or sys.executable


def venv_key(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else p.encode())
        h.update(b"\0")
    return h.hexdigest()[:20]


def cached_venv(name: str, key: str, install: list[list[str]], log: Path | None = None, timeout: float = 1800,
                refresh: list[str] | None = None) -> tuple[Path, float]:
    """`CACHE_DIR/venv-<name>` with `pip install <args>` run for each entry of `install`; reused if its key matches
    (then only `pip install <refresh>` runs, e.g. to put this checkout's course over the cached one, unless the
    course's source is what the last refresh installed: source_digest).

    Returns the venv's python and the seconds spent building it (0 when reused).
    Raises RuntimeError (with pip's last lines) when it cannot be built.
    """
    import time

    venv = CACHE_DIR / f"venv-{name}"
    py = venv / "bin" / "python"
    stamp = venv / STAMP
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    fresh = venv / "lecture-venv-refreshed.txt"  # what the last refresh installed (source_digest)
    if py.exists() and stamp.is_file() and stamp.read_text().strip() == key:
        digest = source_digest()
        if refresh and not (fresh.is_file() and fresh.read_text().strip() == digest):
            fresh.unlink(missing_ok=True)
            subprocess.run([str(py), "-m", "pip", "install", "--quiet", *refresh], check=True, env=env,
                           capture_output=True, timeout=timeout, cwd=ROOT)
            fresh.write_text(digest + "\n")
        return py, 0.0
    t0 = time.perf_counter()
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([base_python(), "-m", "venv", str(venv)], check=True, timeout=300)
    log = log or venv.parent / f"venv-{name}.log"
    with open(log, "w") as out:
        for args in install:
            r = subprocess.run([str(py), "-m", "pip", "install", "--quiet", *args], stdout=out,
                               stderr=subprocess.STDOUT, env=env, timeout=timeout, cwd=ROOT)
            if r.returncode != 0:
                tail = [ln for ln in log.read_text().splitlines() if "is ignored: it is neither" not in ln][-5:]
                raise RuntimeError(f"pip install {' '.join(args)} failed: " + " | ".join(tail))
    stamp.write_text(key + "\n")
    return py, time.perf_counter() - t0


def source_files(folder: Path) -> list[Path]:
    """Every file of a package folder but its bytecode caches."""
    return [f for f in folder.rglob("*") if f.is_file() and "__pycache__" not in f.parts]


def tree_digest(base: Path, files) -> str:
    """A digest of `files` (their paths relative to `base`, and their bytes): what a cached venv installed last."""
    h = hashlib.sha256()
    for f in sorted(files):
        h.update(str(f.relative_to(base)).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


def source_digest() -> str:
    """A digest of the course's installable source (both packages and pyproject.toml): a refresh of a cached venv
    is skipped when it installed exactly this before (pip's reinstall of the course costs ~8 s of CPU)."""
    return tree_digest(ROOT, [ROOT / "pyproject.toml", *source_files(ROOT / "lecture_utils"),
                              *source_files(ROOT / "lecture_admin")])


def record_timing(key: str, seconds: float) -> None:
    """Note a measured time in the gitignored artifacts/client-timings.json (the numbers in docs/grading.md)."""
    import json

    path = ROOT / "artifacts" / "client-timings.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):  # none yet, or another test process is writing it
        data = {}
    data[key] = round(seconds, 1)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
