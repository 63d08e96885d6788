"""Every graded check of homework 03 passes on the solution, fails on the stub and on plausible wrong answers."""

from __future__ import annotations

import numpy as np
import pytest

from tests.grading_harness import assert_fails, assert_passes, exercise_ns, solution_ns

NB = "03_successor_features.ipynb"


@pytest.fixture(scope="module")
def sol():
    return solution_ns(NB)


@pytest.fixture(scope="module")
def stub():
    return exercise_ns(NB)


def test_solution_passes_every_check(sol):
    assert_passes("3.1", sol["psi_linear_solve"])
    assert_passes("3.2", sol["q_from_psi"])
    assert_passes("3.3", sol["gpi_policy"])
    assert_passes("3.4", sol["td_update"])
    assert_passes("3.5", sol["learn_sf_from_experience"])


@pytest.mark.parametrize("eid, name", [("3.1", "psi_linear_solve"), ("3.2", "q_from_psi"),
                                       ("3.3", "gpi_policy"), ("3.4", "td_update"),
                                       ("3.5", "learn_sf_from_experience")])
def test_stub_fails(stub, eid, name):
    assert_fails(eid, stub[name], contains="not attempted")


# ---------------------------------------------------------------- 3.1 wrong answers


def _P_pi(P, pi):
    S, A, _ = P.shape
    return (P[:, :, :, None] * pi[None, None]).reshape(S * A, S * A)


def psi_no_discount(P, phi, pi, gamma):
    S, A, d = phi.shape
    return np.linalg.lstsq(np.eye(S * A) - _P_pi(P, pi), phi.reshape(S * A, d), rcond=None)[0].reshape(S, A, d)


def psi_transposed(P, phi, pi, gamma):
    S, A, d = phi.shape
    return np.linalg.solve(np.eye(S * A) - gamma * _P_pi(P, pi).T, phi.reshape(S * A, d)).reshape(S, A, d)


def psi_pi_at_s_not_s_next(P, phi, pi, gamma):  # pi(a'|s) instead of pi(a'|s')
    S, A, d = phi.shape
    P_pi = (P[:, :, :, None] * pi[:, None, None, :]).reshape(S * A, S * A)
    return np.linalg.solve(np.eye(S * A) - gamma * P_pi, phi.reshape(S * A, d)).reshape(S, A, d)


def psi_one_step(P, phi, pi, gamma):  # off by the infinite tail: phi + gamma P^pi phi only
    S, A, d = phi.shape
    f = phi.reshape(S * A, d)
    return (f + gamma * _P_pi(P, pi) @ f).reshape(S, A, d)


def psi_flat(P, phi, pi, gamma):  # forgets to reshape back
    S, A, d = phi.shape
    return np.linalg.solve(np.eye(S * A) - gamma * _P_pi(P, pi), phi.reshape(S * A, d))


@pytest.mark.parametrize("wrong", [psi_no_discount, psi_transposed, psi_pi_at_s_not_s_next, psi_one_step])
def test_3_1_fails_on_wrong_answers(wrong):
    assert_fails("3.1", wrong, contains="off")


def test_3_1_wrong_shape_message():
    assert_fails("3.1", psi_flat, contains="has shape")


# ---------------------------------------------------------------- 3.2 wrong answers


def q_no_shape_check(psi, w):
    return np.asarray(psi) @ np.asarray(w)


def q_ignores_w(psi, w):
    d = np.shape(psi)[-1]
    if np.shape(w) != (d,):
        raise ValueError(f"w has shape {np.shape(w)}, expected ({d},)")
    return np.asarray(psi).sum(axis=-1)


def q_assert_instead(psi, w):
    assert np.shape(w) == (np.shape(psi)[-1],), "bad w"
    return np.asarray(psi) @ np.asarray(w)


def q_vague_message(psi, w):
    if np.shape(w) != (np.shape(psi)[-1],):
        raise ValueError("wrong input")
    return np.asarray(psi) @ np.asarray(w)


def test_3_2_fails_on_wrong_answers():
    assert_fails("3.2", q_no_shape_check, contains="should give both shapes")
    assert_fails("3.2", q_ignores_w, contains="off")
    assert_fails("3.2", q_assert_instead, contains="raise ValueError, not AssertionError")
    assert_fails("3.2", q_vague_message, contains="should give both shapes")


# ---------------------------------------------------------------- 3.3 wrong answers


def gpi_returns_policy_index(psis, w):
    return (psis @ w).max(axis=2).argmax(axis=0)


def gpi_mean_over_policies(psis, w):
    return (psis @ w).mean(axis=0).argmax(axis=1)


def gpi_first_policy_only(psis, w):
    return (psis[0] @ w).argmax(axis=1)


def gpi_argmin(psis, w):
    return (psis @ w).max(axis=0).argmin(axis=1)


def gpi_q_values(psis, w):  # returns the GPI values instead of actions
    return (psis @ w).max(axis=0).max(axis=1)


@pytest.mark.parametrize("wrong", [gpi_returns_policy_index, gpi_mean_over_policies, gpi_first_policy_only,
                                   gpi_argmin, gpi_q_values])
def test_3_3_fails_on_wrong_answers(wrong):
    assert_fails("3.3", wrong)


def test_3_3_accepts_any_maximiser_and_torch():
    import torch

    assert_passes("3.3", lambda psis, w: torch.as_tensor((psis @ w).max(axis=0)).argmax(dim=1))
    assert_fails("3.3", lambda psis, w: (psis @ w).max(axis=0).argmax(axis=1)[:-1], contains="has shape")


# ---------------------------------------------------------------- 3.4 wrong answers


def td_no_discount(psi, s, a, phi_t, s2, a2, done, gamma, alpha):
    psi[s, a] += alpha * (phi_t + (0.0 if done else 1.0) * psi[s2, a2] - psi[s, a])


def td_ignores_done(psi, s, a, phi_t, s2, a2, done, gamma, alpha):
    psi[s, a] += alpha * (phi_t + gamma * psi[s2, a2] - psi[s, a])


def td_not_in_place(psi, s, a, phi_t, s2, a2, done, gamma, alpha):
    psi = psi.copy()
    psi[s, a] += alpha * (phi_t + (0.0 if done else gamma) * psi[s2, a2] - psi[s, a])
    return psi


@pytest.mark.parametrize("wrong", [td_no_discount, td_ignores_done, td_not_in_place])
def test_3_4_fails_on_wrong_answers(wrong):
    assert_fails("3.4", wrong, contains="off")
