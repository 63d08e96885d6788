"""Hidden test of 3.4 (td_update, in place): passes on the solution under three grading seeds, fails on the
stub and on plausible wrong answers. The FakeKernel round-trips through JSON as the sandbox does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lecture_admin.grading.hidden import hidden_part
from lecture_utils.selfcheck.core import CheckFailed, use_case_seed
from tests.grading_fakes import defining_cells as _defining_cells
from tests.grading_fakes import outcome

NB = "03_successor_features.ipynb"


# ---------------------------------------------------------------- helpers (FakeKernel runs, namespaces)

ROOT = Path(__file__).resolve().parent.parent


def defining_cells(folder: str, names: list[str]) -> dict:
    return _defining_cells(ROOT / folder / NB, names)


# ---------------------------------------------------------------- 3.4


def test_registered_with_its_own_harness():
    assert hidden_part("3.4").run is not None


def test_solution_passes(grading_seed):
    assert outcome(defining_cells("solutions", ["td_update"]), "3.4", "td_update") == "passed"


def test_stub_fails():
    assert outcome(defining_cells("exercises", ["td_update"]), "3.4", "td_update") == "not attempted"


def _returns_a_new_psi(psi, s, a, phi_t, s_next, a_next, done, gamma, alpha):
    psi = psi.copy()
    psi[s, a] += alpha * (phi_t + (0.0 if done else gamma) * psi[s_next, a_next] - psi[s, a])
    return psi


def _ignores_done(psi, s, a, phi_t, s_next, a_next, done, gamma, alpha):
    psi[s, a] += alpha * (phi_t + gamma * psi[s_next, a_next] - psi[s, a])


def _wrong_sign(psi, s, a, phi_t, s_next, a_next, done, gamma, alpha):
    psi[s, a] -= alpha * (phi_t + (0.0 if done else gamma) * psi[s_next, a_next] - psi[s, a])


def _updates_the_next_pair(psi, s, a, phi_t, s_next, a_next, done, gamma, alpha):
    psi[s_next, a_next] += alpha * (phi_t + (0.0 if done else gamma) * psi[s_next, a_next] - psi[s, a])


def _no_step_size(psi, s, a, phi_t, s_next, a_next, done, gamma, alpha):
    psi[s, a] = phi_t + (0.0 if done else gamma) * psi[s_next, a_next]


@pytest.mark.parametrize("wrong", [_returns_a_new_psi, _ignores_done, _wrong_sign, _updates_the_next_pair,
                                   _no_step_size], ids=lambda f: f.__name__.strip("_"))
def test_wrong_answers_fail(one_seed, wrong):
    msg = outcome({"td_update": wrong}, "3.4", "td_update")
    assert msg.startswith("failed"), msg
    if wrong is _returns_a_new_psi:
        assert "in place" in msg


def test_cases_depend_on_the_grading_seed():
    """A td_update that memorised the public cases' answers would not pass: the cases change with the seed."""
    from lecture_admin.grading.hidden.sec03 import run_td_update

    seen = []

    class Recorder:
        def evaluate(self, expr, timeout=60.0, env=None):
            seen.append(np.asarray(env["__kw"]["psi"]).copy())
            return type("R", (), {"ok": True, "value": {"psi": np.zeros(1), "returned_array": False}})()

    for seed in (None, 5):
        use_case_seed(seed)
        try:
            run_td_update(Recorder(), ["td_update"])
        except CheckFailed:
            pass
    use_case_seed(None)
    assert len(seen) == 2 and not np.allclose(seen[0], seen[1])
