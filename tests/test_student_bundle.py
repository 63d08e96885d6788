"""What students receive works on its own: `lecture release --student`, installed into a fresh venv (no course
checkout, no instructor package, no dev extras), runs every lecture notebook and the self-check of every
homework (the unfilled exercise fails every graded check, the filled-in solution passes).

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
import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat
import pytest

from lecture_admin.bundle import build_student_bundle
from tests.client_venvs import CACHE_DIR
from tests.test_cross_kernel import OTHER_KERNELS

ROOT = Path(__file__).resolve().parent.parent
VENV = CACHE_DIR / "venv-student"
pytestmark = pytest.mark.slow
NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
HOMEWORK = sorted(p.name for p in (ROOT / "exercises").glob("*.ipynb"))


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    bundle = tmp_path_factory.mktemp("student") / "course"
    build_student_bundle(ROOT, bundle)
    py = VENV / "bin" / "python"
    want = hashlib.sha256((bundle / "pyproject.toml").read_bytes()).hexdigest()
    stamp = VENV / ".bundle-installed"
    if not (py.exists() and stamp.exists() and stamp.read_text().strip() == want):
        shutil.rmtree(VENV, ignore_errors=True)
        VENV.parent.mkdir(parents=True, exist_ok=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
        subprocess.run([str(py), "-m", "pip", "install", "--quiet", str(bundle)], check=True, timeout=1800)
        stamp.write_text(want + "\n")
    else:  # same dependencies: refresh the student layer only
        subprocess.run([str(py), "-m", "pip", "install", "--quiet", "--no-deps", "--force-reinstall", str(bundle)],
                       check=True, timeout=600)
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


@pytest.mark.parametrize("name", HOMEWORK)
def test_self_check_fails_the_unfilled_homework_and_passes_the_solution(student, name, tmp_path):
    bundle, py, env = student
    xml = tmp_path / "unfilled.xml"
    r = subprocess.run([sys.executable, str(bundle / "course.py"), "check", name[:2], f"--junitxml={xml}"],
                       cwd=bundle, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode != 0 and "failed" in r.stdout, r.stdout[-2000:]
    assert "not attempted yet" in r.stdout  # the check cells raised, with their one-line message
    failed = {c.get("name") for c in ET.parse(xml).getroot().iter("testcase")
              if c.find("failure") is not None or c.find("error") is not None}
    code = [c for c in nbformat.read(bundle / "exercises" / name, as_version=4).cells if c.cell_type == "code"]
    checks = [f"Cell {i}" for i, c in enumerate(code) if c.metadata["nbgrader"]["grade"]]  # nbval numbers code cells
    assert checks and all(any(f.endswith(c) for f in failed) for c in checks), (checks, sorted(failed))
    filled = bundle / "exercises" / name
    shutil.copy(ROOT / "solutions" / name, filled)  # as if the student had written the reference answers
    r = subprocess.run([sys.executable, str(bundle / "course.py"), "check", name[:2]], cwd=bundle, env=env,
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:]
