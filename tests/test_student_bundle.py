"""What students receive works on its own: `lecture release --student`, installed into a fresh venv (no course
checkout, no instructor package, no dev extras), runs every lecture notebook and the self-check of every
homework (the unfilled exercise fails every graded check, the filled-in solution passes; in
tests/test_student_bundle_checks.py, so that xdist runs the two halves on two workers).

The lecture notebooks run here under ANOTHER CPU's float kernels (tests/test_cross_kernel.py: PyTorch's portable
kernels, NumPy without AVX2) against the committed outputs: this pass is the lecture notebooks' cross-kernel lane,
while tests/browser runs them in JupyterLab with this machine's native kernels. One pass, two questions answered.

The bundle and its venv are one session fixture (`student`, tests/conftest.py) shared with the self-check tests.
The venv is cached outside the repository (tests/client_venvs.py, keyed on the bundle's pyproject.toml): the
first run installs the pinned dependencies from the configured package index; later runs only reinstall
lecture_utils.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.test_cross_kernel import OTHER_KERNELS

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow
NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
HOMEWORK = sorted(p.name for p in (ROOT / "exercises").glob("*.ipynb"))


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
