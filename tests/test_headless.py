"""Executing a notebook headless prints nothing alarming (issue: ipykernel's unencrypted-TCP warning on every start).

course.py writes the venv's kernel config (sys.prefix/etc/ipython/ipython_kernel_config.py); this runs the
command a student or TA would type and reads its terminal output.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_course_py_writes_the_kernel_config_of_this_venv():
    sys.path.insert(0, str(ROOT))
    try:
        import course
    finally:
        sys.path.remove(str(ROOT))
    config = Path(sys.prefix) / "etc" / "ipython" / "ipython_kernel_config.py"
    assert Path(course.VENV).resolve() != Path(sys.prefix).resolve() or config.read_text() == course.KERNEL_CONFIG


@pytest.mark.slow
def test_nbconvert_execute_prints_no_kernel_warning(tmp_path):
    nb = tmp_path / "hw00.ipynb"
    shutil.copy(ROOT / "solutions" / "00_getting_started.ipynb", nb)
    r = subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--execute", "--to", "notebook",
                        "--output", "out.ipynb", str(nb)], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "WARNING" not in r.stderr and "without encryption" not in r.stderr, r.stderr
