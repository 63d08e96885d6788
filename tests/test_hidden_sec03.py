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


# ---------------------------------------------------------------- 3.5: successor features from experience (behaviour)

NAMES_3_5 = ["learn_sf_from_experience"]


def _ns_3_5(folder: str, wrong: str = "") -> dict:
    ns = defining_cells(folder, NAMES_3_5)
    if wrong:
        exec(compile(BEHAVIOUR_3_5().wrong[wrong], f"<wrong version {wrong}>", "exec"), ns)  # noqa: S102
    return ns


def BEHAVIOUR_3_5():  # noqa: N802 - the registered Behaviour of 3.5
    from lecture_admin.grading.hidden import BEHAVIOUR

    hidden_part("3.5")
    return BEHAVIOUR["3.5"]


def test_3_5_registered_as_a_behaviour_part():
    from lecture_admin.grading.hidden.sec03 import LIBRARY
    from lecture_utils.selfcheck.answers import ANSWERS

    part = hidden_part("3.5")
    assert part.run is not None and part.library == LIBRARY
    assert ANSWERS["3.5"] == LIBRARY
    spec = BEHAVIOUR_3_5()
    assert spec.notebook == NB and spec.names == tuple(NAMES_3_5) and len(spec.wrong) >= 3


@pytest.mark.slow
def test_3_5_solution_earns_full_credit(grading_seed):
    from lecture_admin.grading.behaviour import credit

    fraction, message = credit(_ns_3_5("solutions"), "3.5", NAMES_3_5, grading_seed)
    assert fraction == 1.0, message


def test_3_5_stub_is_not_attempted():
    from lecture_admin.grading.behaviour import credit

    assert credit(_ns_3_5("exercises"), "3.5", NAMES_3_5, 11) == (0.0, "not attempted")


@pytest.mark.slow
@pytest.mark.parametrize("wrong", ["ignores_done", "evaluates_behaviour_policy", "no_bootstrap",
                                   "w_without_gram_matrix"])
def test_3_5_wrong_versions_earn_nothing(wrong):
    from lecture_admin.grading.behaviour import credit

    assert set(BEHAVIOUR_3_5().wrong) == {"ignores_done", "evaluates_behaviour_policy", "no_bootstrap",
                                          "w_without_gram_matrix"}
    fraction, message = credit(_ns_3_5("solutions", wrong), "3.5", NAMES_3_5, 2024)
    assert fraction == 0.0, message
    assert ("w' estimates" if wrong == "w_without_gram_matrix" else "your psi") in message


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["solution", "stub", "ignores_done", "evaluates_behaviour_policy",
                                     "no_bootstrap", "w_without_gram_matrix"])
def test_3_5_public_check(variant):
    from lecture_utils.selfcheck.core import run_check

    ns = _ns_3_5("exercises") if variant == "stub" else _ns_3_5("solutions", "" if variant == "solution" else variant)
    passed, msg, _ = run_check("3.5", ns["learn_sf_from_experience"])
    assert passed == (variant == "solution"), msg


def test_3_5_cases_depend_on_the_grading_seed():
    """The hidden task families are drawn from the grading seed: a memorised answer to the public ones fails."""
    from lecture_admin.grading.hidden.sec03 import run_sf_from_experience

    seen = []

    class Recorder:
        def evaluate(self, expr, timeout=60.0, env=None):
            seen.append(np.asarray(env["__args"][0]["s_next"][:50]).copy())
            return type("R", (), {"ok": True, "value": None})()

    for seed in (None, 5):
        use_case_seed(seed)
        try:
            run_sf_from_experience(Recorder(), NAMES_3_5)
        except CheckFailed:
            pass
    use_case_seed(None)
    assert len(seen) == 2 and not np.array_equal(seen[0], seen[1])
