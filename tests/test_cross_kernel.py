"""The committed outputs must reproduce on any student's CPU, not only on the machine that executed them.

Students' CPUs differ in which vector instructions PyTorch's and NumPy's float kernels use (AVX-512, AVX2, SSE,
NEON), and training loops amplify the last-bit differences into visibly different numbers. This test simulates
another CPU on this one: it re-runs the nbval comparison of the notebooks that train something with

    ATEN_CPU_CAPABILITY=default          (PyTorch: the portable kernels instead of AVX2/AVX-512)
    NPY_DISABLE_CPU_FEATURES=X86_V3      (NumPy: no AVX2/FMA3 loops)

against the committed outputs, which are the native kernels' own (`lecture execute` wrote them on an AVX2
machine): a notebook that passes gives the same numbers under two different sets of float kernels. The portable
kernels are the same on every x86-64 CPU, so this lane gives the same verdict on any machine that runs the suite.
The native kernels run every lecture notebook again in JupyterLab (tests/browser, no comparison of numbers) and
the solutions' code in the graders' tests; a second full nbval pass over the solutions with them cost the suite
~85 s of CPU. The notebooks without training (00) give the same bits either way.

Both run from what students receive, one pass answering two questions: the lecture notebooks in
tests/test_student_bundle.py, the solutions in tests/test_student_bundle_checks.py (the filled-in homework's
self-check, with nbval's full comparison). This file checks that the lanes cover what they should.
"""

from __future__ import annotations

from pathlib import Path

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


def test_the_lanes_are_the_student_bundle():
    """Every notebook above runs under OTHER_KERNELS from the bundle: lecture notebooks by nbval, solutions as the
    filled-in homework (every homework has its solution under the same name)."""
    import inspect

    from tests import test_student_bundle as bundle
    from tests import test_student_bundle_checks as checks

    lecture = {p.rsplit("/", 1)[1] for p in WITH_TRAINING if p.startswith("notebooks/")}
    solved = {p.rsplit("/", 1)[1] for p in WITH_TRAINING if p.startswith("solutions/")}
    assert lecture <= set(bundle.NOTEBOOKS) and bundle.OTHER_KERNELS == OTHER_KERNELS
    assert solved <= set(bundle.HOMEWORK) and checks.OTHER_KERNELS == OTHER_KERNELS
    src = inspect.getsource(checks.test_self_check_fails_the_unfilled_homework_and_passes_the_solution)
    assert '"--nbval"' in src and "OTHER_KERNELS" in src, "the solution runs with full comparison, other kernels"
