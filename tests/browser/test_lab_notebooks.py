"""Every lecture notebook in JupyterLab, as a student runs it (see labdriver.check_course_notebook).

Lecture and solutions notebooks are in two files so that xdist runs them on two workers (tests/conftest.py).
"""

from __future__ import annotations

import pytest
from labdriver import COURSE_ROOT, SKIP_REASON, run_course_notebook

pytestmark = [pytest.mark.browser, pytest.mark.skipif(SKIP_REASON is not None, reason=SKIP_REASON or "")]

NOTEBOOKS = sorted(p.relative_to(COURSE_ROOT).as_posix() for p in COURSE_ROOT.glob("notebooks/*.ipynb"))
# Two files, about the same run time each, so that xdist runs them on two workers at once (tests/conftest.py);
# test_lab_notebooks_b.py runs the rest.
HERE = ["notebooks/00_getting_started.ipynb", "notebooks/01_transfer_and_shots.ipynb",
        "notebooks/02_pretraining_finetuning.ipynb"]


@pytest.mark.parametrize("rel_path", HERE)
def test_notebook_in_jupyterlab(rel_path, course_lab, lab_page, screenshot_dir):
    run_course_notebook(lab_page, course_lab, rel_path, screenshot_dir)
