"""The committed outputs must reproduce on any student's CPU, not only on the machine that executed them.

Students' CPUs differ in which vector instructions PyTorch's and NumPy's float kernels use (AVX-512, AVX2, SSE,
NEON), and training loops amplify the last-bit differences into visibly different numbers. This test simulates
another CPU on this one: it re-runs the nbval comparison of the notebooks that train something with

    ATEN_CPU_CAPABILITY=default          (PyTorch: the portable kernels instead of AVX2/AVX-512)
    NPY_DISABLE_CPU_FEATURES=X86_V3      (NumPy: no AVX2/FMA3 loops)

against the same committed outputs that the main nbval pass checks with the native kernels. The notebooks
without training (00) give the same bits either way and are left out to keep the suite under 10 minutes.

The solutions run here (tests/test_cross_kernel_solutions.py); the lecture notebooks run under these kernels in
tests/test_student_bundle.py, from what students receive (one pass instead of two).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OTHER_KERNELS = {"ATEN_CPU_CAPABILITY": "default", "NPY_DISABLE_CPU_FEATURES": "X86_V3"}
WITH_TRAINING = [
    "notebooks/01_transfer_and_shots.ipynb",
    "notebooks/02_pretraining_finetuning.ipynb",
    "notebooks/03_successor_features.ipynb",
    "notebooks/04_meta_rl_pomdp.ipynb",
    "notebooks/05_maml.ipynb",
    "solutions/01_transfer_and_shots.ipynb",
    "solutions/02_pretraining_finetuning.ipynb",
    "solutions/03_successor_features.ipynb",
    "solutions/04_meta_rl_pomdp.ipynb",
    "solutions/05_maml.ipynb",
]


def test_lane_covers_every_notebook_but_the_getting_started_ones():
    every = {str(p.relative_to(ROOT)) for d in ("notebooks", "solutions") for p in (ROOT / d).glob("*.ipynb")}
    assert every - set(WITH_TRAINING) == {"notebooks/00_getting_started.ipynb", "solutions/00_getting_started.ipynb"}


def run_under_other_kernels(paths: list[str]) -> None:
    if all(os.environ.get(k) == v for k, v in OTHER_KERNELS.items()):
        pytest.skip("this run already uses the other kernels: the main nbval pass is the cross-kernel pass")
    env = {**os.environ, **OTHER_KERNELS, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                                                     os.environ.get("PYTHONPATH")]))}
    # pyproject's addopts supply --nbval and the sanitizer; -p no:xdist: one kernel at a time, in file order.
    cmd = [sys.executable, "-m", "pytest", "-p", "no:xdist", "-q", "--no-header", "-rf", *paths]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, (
        f"nbval under {' '.join(f'{k}={v}' for k, v in OTHER_KERNELS.items())} failed:\n{proc.stdout[-6000:]}"
    )


def test_the_lecture_notebooks_lane_is_the_student_bundle():
    from tests import test_student_bundle as bundle

    lecture = {p.rsplit("/", 1)[1] for p in WITH_TRAINING if p.startswith("notebooks/")}
    assert lecture <= set(bundle.NOTEBOOKS) and bundle.OTHER_KERNELS == OTHER_KERNELS
