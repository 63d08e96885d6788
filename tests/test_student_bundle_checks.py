"""The student bundle's self-check (`python3 course.py check NN` from what students receive): the unfilled exercise
fails every graded check, the filled-in solution passes. The bundle and its venv: tests/test_student_bundle.py.

The filled-in solution runs under ANOTHER CPU's float kernels (tests/test_cross_kernel.py) with nbval's full
comparison against the committed solution's outputs: stricter than the self-check's `--nbval-lax` (which only
needs every check cell to run without an error), so one pass answers both questions: the solution passes the
student's self-check, and the solutions' outputs reproduce on another CPU (the solutions' cross-kernel lane)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import nbformat
import pytest

from tests.test_cross_kernel import OTHER_KERNELS
from tests.test_student_bundle import HOMEWORK, ROOT

pytestmark = pytest.mark.slow


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
    r = subprocess.run([str(py), "-m", "pytest", "-p", "no:cacheprovider", "-q", "--nbval",
                        f"--nbval-sanitize-with={ROOT / 'tests' / 'nbval_sanitize.cfg'}", f"exercises/{name}"],
                       cwd=bundle, env={**env, **OTHER_KERNELS}, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, f"the solution, self-checked with full comparison under {OTHER_KERNELS}:\n" + \
        r.stdout[-3000:]
