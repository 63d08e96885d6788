"""The solutions' half of the cross-kernel lane (see tests/test_cross_kernel.py)."""

from __future__ import annotations

import pytest

from tests.test_cross_kernel import WITH_TRAINING, run_under_other_kernels


@pytest.mark.slow
def test_solutions_reproduce_under_other_cpu_kernels():
    run_under_other_kernels([p for p in WITH_TRAINING if p.startswith("solutions/")])
