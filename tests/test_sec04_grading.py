"""Homework 04 checks: pass on the solutions, fail on the stubs and on plausible wrong answers."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from tests.grading_harness import assert_fails, assert_passes, exercise_ns, solution_ns

NB = "04_meta_rl_pomdp.ipynb"


@pytest.fixture(scope="module")
def sol():
    return solution_ns(NB)


def _stub(name: str):
    """The exercise's stub function: exec the exercise notebook's cell that defines it (the demo cells in between
    call earlier stubs, so the notebook cannot simply be run up to there)."""
    import nbformat

    from tests.grading_harness import ROOT

    nb = nbformat.read(ROOT / "exercises" / NB, as_version=4)
    ns = exercise_ns(NB, upto="4.1")  # imports
    for cell in nb.cells:
        if cell.cell_type == "code" and f"def {name}(" in cell.source:
            exec(cell.source, ns)
            return ns[name]
    raise AssertionError(f"no cell defines {name}")


def test_solutions_pass(sol):
    assert_passes("4.1", sol["beta_update"])
    assert_passes("4.2", sol["thompson_action"])
    assert_passes("4.3", sol["bayes_optimal_value"])
    assert_passes("4.4", sol["encode_rl2_stream"])


@pytest.mark.parametrize("eid,name", [("4.1", "beta_update"), ("4.2", "thompson_action"),
                                      ("4.3", "bayes_optimal_value"), ("4.4", "encode_rl2_stream")])
def test_stubs_fail(eid, name):
    assert_fails(eid, _stub(name), contains="not attempted")


# ------------------------------------------------------------------------------------- 4.1 wrong answers


def test_beta_update_swapped_counts_fails():
    def swapped(alpha, beta, action, reward):
        alpha, beta = np.array(alpha, float), np.array(beta, float)
        alpha[action] += 1 - reward
        beta[action] += reward
        return alpha, beta

    assert_fails("4.1", swapped, contains="alpha after the update")


def test_beta_update_every_arm_fails():
    def every_arm(alpha, beta, action, reward):
        return np.array(alpha, float) + reward, np.array(beta, float) + 1 - reward

    assert_fails("4.1", every_arm)


def test_beta_update_returns_one_array_fails():
    assert_fails("4.1", lambda a, b, act, r: a, contains="pair")


def test_beta_update_in_place_is_fine(sol):
    def in_place(alpha, beta, action, reward):
        alpha[action] += reward
        beta[action] += 1 - reward
        return alpha, beta

    assert_passes("4.1", in_place)


# ------------------------------------------------------------------------------------- 4.2 wrong answers


def test_thompson_posterior_mean_fails():
    assert_fails("4.2", lambda a, b, rng: int(np.argmax(a / (a + b))), contains="frequencies")


def test_thompson_global_numpy_rng_fails():
    assert_fails("4.2", lambda a, b, rng: int(np.argmax(np.random.beta(a, b))), contains="same seed")


def test_thompson_swapped_parameters_fails():
    assert_fails("4.2", lambda a, b, rng: int(np.argmax(rng.beta(b, a))))


def test_thompson_argmin_fails():
    assert_fails("4.2", lambda a, b, rng: int(np.argmin(rng.beta(a, b))))


def test_thompson_per_arm_loop_passes():
    assert_passes("4.2", lambda a, b, rng: int(np.argmax([rng.beta(x, y) for x, y in zip(a, b)])))


# ------------------------------------------------------------------------------------- 4.3 wrong answers


def _dp(prior, horizon, mean=lambda a, b: a / (a + b), plus_one=True, myopic=False, h_shift=0):
    @cache
    def V(a1, b1, a2, b2, h):
        if h <= 0:
            return 0.0
        p1, p2 = mean(a1, b1), mean(a2, b2)
        q1 = p1 * (plus_one + V(a1 + 1, b1, a2, b2, h - 1)) + (1 - p1) * V(a1, b1 + 1, a2, b2, h - 1)
        q2 = p2 * (plus_one + V(a1, b1, a2 + 1, b2, h - 1)) + (1 - p2) * V(a1, b1, a2, b2 + 1, h - 1)
        if myopic:  # act on the immediate mean, but still learn
            return q1 if p1 >= p2 else q2
        return max(q1, q2)

    return V(*prior, horizon + h_shift)


def test_dp_reference_matches_library():
    from lecture_utils.bandits import BayesOptimal

    assert _dp((1, 1, 1, 1), 8) == pytest.approx(BayesOptimal(2, 8).value(), abs=1e-12)


@pytest.mark.parametrize("wrong", [
    dict(h_shift=-1),  # off-by-one horizon
    dict(h_shift=1),
    dict(myopic=True),  # greedy value, not the optimal one
    dict(plus_one=False),  # forgot the immediate reward
    dict(mean=lambda a, b: a / (a + b + 1)),  # wrong posterior mean
    dict(mean=lambda a, b: (a + 1) / (a + b + 2)),  # adds the uniform prior twice
])
def test_dp_wrong_answers_fail(wrong):
    assert_fails("4.3", lambda prior, h: _dp(tuple(prior), h, **wrong), contains="bayes_optimal_value")


def test_dp_returning_array_fails():
    assert_fails("4.3", lambda prior, h: np.array([_dp(tuple(prior), h)] * 2), contains="one number")


# ------------------------------------------------------------------------------------- 4.4 wrong answers


def _encode(actions, rewards, dones, task_ids, k, reset_on_done=False, current=False, leak=False, no_done=False):
    actions, task_ids = np.asarray(actions), np.asarray(task_ids)
    T = len(actions)
    reset = np.r_[True, task_ids[1:] != task_ids[:-1]]
    if reset_on_done:
        reset = reset | np.r_[False, np.asarray(dones)[:-1] > 0]
    x = np.zeros((T, k + 2))
    if current:
        x[:, :k] = np.eye(k)[actions]
        x[:, k], x[:, k + 1] = rewards, dones
    else:
        x[1:, :k] = np.eye(k)[actions[:-1]]
        x[1:, k], x[1:, k + 1] = np.asarray(rewards)[:-1], np.asarray(dones)[:-1]
    if not leak:
        x[reset] = 0.0
    if no_done:
        x = x[:, : k + 1]
    return x, reset


@pytest.mark.parametrize("wrong,msg", [
    (dict(reset_on_done=True), "reset is wrong"),  # resets the memory at every episode end
    (dict(current=True), "x["),  # the current step instead of the previous one (off by one)
    (dict(leak=True), "first step of a task"),  # the previous task's last step leaks in
    (dict(no_done=True), "shape"),  # forgot the done flag
])
def test_encoding_wrong_answers_fail(wrong, msg):
    assert_fails("4.4", lambda *a: _encode(*a, **wrong), contains=msg)


def test_encoding_torch_output_passes():
    import torch

    assert_passes("4.4", lambda *a: tuple(torch.as_tensor(v) for v in _encode(*a)))
