"""What students receive works on its own: `lecture release --student`, installed into a fresh venv (no course
checkout, no instructor package, no dev extras), runs every lecture notebook and the self-check of every
homework (the unfilled exercise fails every graded check, the filled-in solution passes; in
tests/test_student_bundle_checks.py, so that xdist runs the two halves on two workers).

The lecture notebooks run here under ANOTHER CPU's float kernels (tests/test_cross_kernel.py: PyTorch's portable
kernels, NumPy without AVX2) against the committed outputs: this pass is the lecture notebooks' cross-kernel lane,
while the main nbval pass compares them with this machine's native kernels. One pass, two questions answered.

The venv is cached outside the repository (tests/client_venvs.py, keyed on the bundle's pyproject.toml): the
first run installs the pinned dependencies from the configured package index; later runs only reinstall
lecture_utils.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from lecture_admin.bundle import build_student_bundle
from tests.client_venvs import CACHE_DIR
from tests.test_cross_kernel import OTHER_KERNELS

ROOT = Path(__file__).resolve().parent.parent
VENV = CACHE_DIR / "venv-student"
pytestmark = pytest.mark.slow
NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
HOMEWORK = sorted(p.name for p in (ROOT / "exercises").glob("*.ipynb"))


def _tree_hash(folder: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        h.update(str(f.relative_to(folder)).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    """The bundle, installed in the cached student venv. Two test files use it at once (xdist runs them on two
    workers): a lock serialises the install, and a stamp of the installed lecture_utils lets the second skip it,
    so no file of the venv changes while the other file's notebooks run."""
    import fcntl

    bundle = tmp_path_factory.mktemp("student") / "course"
    build_student_bundle(ROOT, bundle)
    py = VENV / "bin" / "python"
    want = hashlib.sha256((bundle / "pyproject.toml").read_bytes()).hexdigest()
    stamp, installed = VENV / ".bundle-installed", VENV / ".bundle-content"
    content = _tree_hash(bundle / "lecture_utils")
    VENV.parent.mkdir(parents=True, exist_ok=True)
    with open(VENV.parent / "venv-student.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (py.exists() and stamp.exists() and stamp.read_text().strip() == want):
            shutil.rmtree(VENV, ignore_errors=True)
            venv.EnvBuilder(with_pip=True).create(VENV)
            subprocess.run([str(py), "-m", "pip", "install", "--quiet", str(bundle)], check=True, timeout=1800)
            stamp.write_text(want + "\n")
            installed.write_text(content + "\n")
        elif not (installed.exists() and installed.read_text().strip() == content):  # refresh the student layer
            subprocess.run([str(py), "-m", "pip", "install", "--quiet", "--no-deps", "--force-reinstall", str(bundle)],
                           check=True, timeout=600)
            installed.write_text(content + "\n")
    # the course.py of the bundle uses this venv as its own (as after `python3 course.py` once)
    env = dict(os.environ, COURSE_VENV=str(VENV), PYTHONPATH="")
    course_stamp = hashlib.sha256((bundle / "pyproject.toml").read_bytes() + sys.version.encode()).hexdigest()
    (VENV / ".course-installed").write_text(course_stamp + "\n")  # what course.py's _fingerprint() computes
    return bundle, py, env


def _pytest(py, env, cwd, *args, timeout=900):
    return subprocess.run([str(py), "-m", "pytest", "-p", "no:cacheprovider", "-q", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_the_student_venv_has_no_instructor_code_or_dev_tools(student):
    bundle, py, env = student
    out = subprocess.run([str(py), "-c", "import importlib.util as u; print([m for m in ('lecture_admin', "
                          "'xdist', 'ruff', 'playwright', 'nbgrader') if u.find_spec(m)])"],
                         capture_output=True, text=True, env=env, cwd=bundle.parent)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_every_lecture_notebook_runs_from_the_bundle(student, name):
    bundle, py, env = student
    r = _pytest(py, {**env, **OTHER_KERNELS}, bundle, "--nbval",
                f"--nbval-sanitize-with={ROOT / 'tests' / 'nbval_sanitize.cfg'}", f"notebooks/{name}")
    assert r.returncode == 0, f"under {OTHER_KERNELS}:\n" + r.stdout[-3000:]
