"""The warm-up homework's second part (0.2, returns-to-go): passes on the solution, fails on wrong answers."""

from __future__ import annotations

import numpy as np
import pytest

from tests.grading_harness import assert_fails, assert_passes, exercise_ns, solution_ns

NB = "00_getting_started.ipynb"


def test_returns_to_go_solution_passes_and_stub_fails():
    assert_passes("0.2", solution_ns(NB)["returns_to_go"])
    assert_fails("0.2", exercise_ns(NB)["returns_to_go"], contains="not attempted yet")


def _rtg(r, g, shift=0):
    r = np.asarray(r, dtype=float)
    return np.array([np.sum(g ** (np.arange(len(r) - t) + shift) * r[t:]) for t in range(len(r))])


@pytest.mark.parametrize("wrong", [
    lambda r, g: np.cumsum(np.asarray(r)[::-1])[::-1],  # no discount
    lambda r, g: np.cumsum(g ** np.arange(len(r)) * r),  # sums the past, not the future
    lambda r, g: _rtg(r, g, shift=1),  # exponent off by one
    lambda r, g: float(_rtg(r, g)[0]),  # only G_0
    lambda r, g: _rtg(r, g)[::-1],  # reversed
])
def test_returns_to_go_fails_on_plausible_wrong_answers(wrong):
    assert_fails("0.2", wrong)
