"""Every lecture notebook in JupyterLab, as a student runs it (see labdriver.check_course_notebook)."""

from __future__ import annotations

import pytest
from labdriver import COURSE_ROOT, SKIP_REASON, check_course_notebook, record_timing, stored_expectations

pytestmark = [pytest.mark.browser, pytest.mark.skipif(SKIP_REASON is not None, reason=SKIP_REASON or "")]

NOTEBOOKS = sorted(p.relative_to(COURSE_ROOT).as_posix() for p in COURSE_ROOT.glob("notebooks/*.ipynb"))


@pytest.mark.parametrize("rel_path", NOTEBOOKS)
def test_notebook_in_jupyterlab(rel_path, course_lab, lab_page, screenshot_dir):
    shot = screenshot_dir / rel_path.replace("/", "__").replace(".ipynb", ".png")
    try:
        run = check_course_notebook(lab_page, course_lab, rel_path, shot, stored_expectations(COURSE_ROOT / rel_path))
        record_timing(screenshot_dir, run)
    finally:
        course_lab.shutdown_kernels()
