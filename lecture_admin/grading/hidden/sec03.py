"""Hidden tests for homework 03 (see hidden/__init__.py)."""

import numpy as np

from lecture_admin.grading.hidden import Credit, Harness, RemoteFunction, behaviour, hidden
from lecture_utils.selfcheck.core import CheckFailed, case_rng, expect_close
from lecture_utils.selfcheck.sec03 import (
    sf_experience_case,
    sf_experience_credit,
    sf_experience_inputs,
    sf_experience_measure,
    sf_experience_outputs,
    td_case,
)

LIBRARY = ("lecture_utils.sf_core",)  # psi_linear_solve, q_from_psi, gpi_policy
hidden("3.1", library=LIBRARY)
hidden("3.2", library=LIBRARY)
hidden("3.3", library=LIBRARY)


# ---------------------------------------------------------------- 3.4: td_update updates psi in place

_TD_HARNESS = r'''
def __harness(fn, psi, s, a, phi_t, s_next, a_next, done, gamma, alpha):
    import numpy as np
    psi = np.array(psi, dtype=float)
    returned = fn(psi, int(s), int(a), np.array(phi_t, dtype=float), int(s_next), int(a_next), bool(done),
                  float(gamma), float(alpha))
    return {"psi": psi, "returned_array": isinstance(returned, np.ndarray)}
'''


def run_td_update(kernel, names: list[str]) -> None:
    """The public check's cases (from the grading seed); psi is built in the kernel, updated there in place by
    the student's td_update, and sent back."""
    (name,) = names
    harness = Harness(kernel, name, _TD_HARNESS)
    rng = case_rng(304)
    for S, A, d, done in [(3, 2, 2, False), (6, 4, 3, True), (5, 3, 1, False), (8, 4, 4, False), (4, 2, 3, True)]:
        psi, s, a, phi_t, s2, a2, gamma, alpha, want = td_case(rng, S, A, d, done)
        out = harness(psi=psi, s=s, a=a, phi_t=phi_t, s_next=s2, a_next=a2, done=done, gamma=gamma, alpha=alpha)
        case = f"S={S}, A={A}, d={d}, done={done}"
        got = np.asarray(out["psi"], dtype=float)
        if np.array_equal(got, psi) and out["returned_array"]:
            raise CheckFailed(f"td_update returned a new array but left psi unchanged ({case}): update psi in place "
                              "(psi[s, a] += ...)")
        expect_close(got, want, "psi after td_update (updated in place)", case=case)


hidden("3.4", library=LIBRARY, run=run_td_update)


# ---------------------------------------------------------------- 3.5: successor features from experience
#
# The grader's own task families (sizes, model, features, exits, discount, new tasks w' from the grading seed):
# the student's function gets only the transitions, the family's policies, gamma and the labelled rewards, as
# plain arrays, and returns (psis, W); everything it is measured against is computed here from the model.
# Credit of a family = the lowest band of: psi's relative error above batch TD's on the same data (<= 0.08 full,
# <= 0.12 half), w''s above least squares' (<= 0.05 full, <= 0.15 half), the normalized return GPI with them
# loses against GPI with the exact psi, w' (<= 0.15 full, <= 0.30 half); the part's credit is the worse family's.
# Bands in lecture_utils.selfcheck.sec03 (SF_*_BANDS). Measured by `lecture bench --behaviour --part 3.5
# --seeds 50` (credit min / mean / max; ~1 s of CPU per grading, 2-8 s wall on the shared, loaded 2-core box):
#   solution 1.00 / 1.00 / 1.00; ignores_done, evaluates_behaviour_policy, no_bootstrap, w_without_gram_matrix
#   0.00 / 0.00 / 0.00 each.
# The measures over those 50 seeds x 2 families (min / max), against the limits above:
#   solution                    psi excess 0.000 / 0.000, w' excess 0.000 / 0.000, GPI loss -0.052 / 0.052
#   ignores_done                psi excess 0.174 / 0.908
#   evaluates_behaviour_policy  psi excess 0.405 / 0.793
#   no_bootstrap                psi excess 0.773 / 0.932
#   w_without_gram_matrix       w' excess  0.680 / 0.898
#   (batch TD's own psi error, the floor, is at most 0.065; least squares' w' error at most 0.137.)
# Why 0.08 for full credit on psi: legitimate per-transition TD, which jitters around the batch solution, measured
# on 4 seeds: 10 passes at step 0.05 psi excess 0.021-0.044 (full), 5 passes at step 1/n^0.6 0.004-0.051 (full),
# 3 passes at step 0.1 0.048-0.078 (full, barely). An under-trained single pass at 0.1 (0.04-0.18) earns 0.5 or 0.


def run_sf_from_experience(kernel, names: list[str]) -> Credit:
    (name,) = names
    fn = RemoteFunction(kernel, name, timeout=60.0)
    rng = case_rng(305)
    worst, lines = None, []
    for _family in range(2):
        S, d = int(rng.integers(14, 25)), int(rng.integers(3, 6))
        case = sf_experience_case(rng, S=S, d=d)
        psis, W = sf_experience_outputs(fn(*sf_experience_inputs(case)), case)
        m = sf_experience_measure(case, psis, W)
        fraction, why = sf_experience_credit(m)
        lines.append(f"psi {m['psi_excess']:+.3f}, w' {m['w_excess']:+.3f}, GPI loss {m['gap']:+.3f}")
        if worst is None or fraction < worst[0]:
            worst = (fraction, f"(S={S}, d={d}) {why}")
    if worst[0] == 0.0:
        raise CheckFailed(worst[1])
    measured = "; ".join(f"family {i + 1}: {line}" for i, line in enumerate(lines))
    return Credit(worst[0], measured if worst[0] == 1.0 else f"{worst[1]} ({measured})")


# Wrong versions (exec'd after the solution's cell, so each wraps the correct function to make ONE mistake).
_SOLUTION = "_solution = learn_sf_from_experience\n"
WRONG_3_5 = {
    # the TD target bootstraps through the end of an episode: (1 - done) forgotten
    "ignores_done": _SOLUTION + (
        "def learn_sf_from_experience(data, policies, gamma, reward_data):\n"
        "    return _solution(dict(data, done=np.zeros_like(data['done'])), policies, gamma, reward_data)\n"),
    # the next action averaged under the behaviour policy (uniform) instead of pi_i: every psi is the random walk's
    "evaluates_behaviour_policy": _SOLUTION + (
        "def learn_sf_from_experience(data, policies, gamma, reward_data):\n"
        "    uniform = np.full_like(np.asarray(policies, dtype=float), 1.0 / np.shape(policies)[2])\n"
        "    return _solution(data, uniform, gamma, reward_data)\n"),
    # psi(s, a) = E[phi_t]: the one-step features, no bootstrapping
    "no_bootstrap": _SOLUTION + (
        "def learn_sf_from_experience(data, policies, gamma, reward_data):\n"
        "    return _solution(data, policies, 0.0, reward_data)\n"),
    # w' = Phi^T r / M, the correlation, without the Gram matrix (Phi^T Phi)^-1
    "w_without_gram_matrix": _SOLUTION + (
        "def learn_sf_from_experience(data, policies, gamma, reward_data):\n"
        "    psis, _ = _solution(data, policies, gamma, reward_data)\n"
        "    W = np.stack([p.T @ r / len(r) for p, r in zip(reward_data['phi'], reward_data['r'])])\n"
        "    return psis, W\n"),
}

hidden("3.5", library=LIBRARY, run=run_sf_from_experience)
behaviour("3.5", notebook="03_successor_features.ipynb", names=("learn_sf_from_experience",), wrong=WRONG_3_5)
