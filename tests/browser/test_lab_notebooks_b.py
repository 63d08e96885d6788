"""The other half of the lecture notebooks in JupyterLab (see test_lab_notebooks.py)."""

from __future__ import annotations

import pytest
from labdriver import SKIP_REASON, run_course_notebook
from test_lab_notebooks import HERE, NOTEBOOKS

pytestmark = [pytest.mark.browser, pytest.mark.skipif(SKIP_REASON is not None, reason=SKIP_REASON or "")]

REST = [p for p in NOTEBOOKS if p not in HERE]


def test_the_two_files_run_every_lecture_notebook_once():
    assert sorted(HERE + REST) == NOTEBOOKS and set(HERE) <= set(NOTEBOOKS) and len(REST) == 3


@pytest.mark.parametrize("rel_path", REST)
def test_notebook_in_jupyterlab(rel_path, course_lab, lab_page, screenshot_dir):
    run_course_notebook(lab_page, course_lab, rel_path, screenshot_dir)
