"""The student bundle's self-check (`python3 course.py check NN` from what students receive): the unfilled exercise
fails every graded check, the filled-in solution passes. The bundle and its venv: tests/test_student_bundle.py."""

from __future__ import annotations

import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import nbformat
import pytest

from tests.test_student_bundle import HOMEWORK, ROOT, student  # noqa: F401 - the module-scoped fixture

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", HOMEWORK)
def test_self_check_fails_the_unfilled_homework_and_passes_the_solution(student, name, tmp_path):  # noqa: F811
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
