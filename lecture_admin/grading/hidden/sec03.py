"""Hidden tests for homework 03 (see hidden/__init__.py)."""

import numpy as np

from lecture_admin.grading.hidden import Harness, hidden
from lecture_utils.selfcheck.core import CheckFailed, case_rng, expect_close
from lecture_utils.selfcheck.sec03 import td_case

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
