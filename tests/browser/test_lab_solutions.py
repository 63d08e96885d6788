"""Filled-in homework in JupyterLab, as a student runs it (see labdriver.check_course_notebook): homework 03
(written answers, an optional part, a behaviour-graded part). What this adds is the check cells and answer cells as
Lab shows them; every solutions notebook also runs under nbval with full comparison (another CPU's kernels, through
the student bundle's self-check in tests/test_student_bundle_checks.py), and the warm-up homework 00 is worked
through in Lab by test_lab_catches.py (a wrong answer typed, its check cell failing, then the right one passing), so
running the others here again would only cost the suite's time budget.

Lecture and solutions notebooks are in two files so that xdist runs them on two workers (tests/conftest.py).
"""

from __future__ import annotations

import pytest
from labdriver import COURSE_ROOT, SKIP_REASON, run_course_notebook

pytestmark = [pytest.mark.browser, pytest.mark.skipif(SKIP_REASON is not None, reason=SKIP_REASON or "")]

NOTEBOOKS = ["solutions/03_successor_features.ipynb"]
assert all((COURSE_ROOT / p).exists() for p in NOTEBOOKS), NOTEBOOKS


@pytest.mark.parametrize("rel_path", NOTEBOOKS)
def test_solution_in_jupyterlab(rel_path, course_lab, lab_page, screenshot_dir):
    run_course_notebook(lab_page, course_lab, rel_path, screenshot_dir)
