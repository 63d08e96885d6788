"""Checks for homework 04 (meta-RL as a POMDP): Beta belief, Thompson sampling, the Bayes-optimal DP,
the RL^2 input encoding. Every case is generated here from a seed; nothing is compared with one literal."""

from __future__ import annotations

from functools import cache

import numpy as np

from lecture_utils.selfcheck.core import CheckFailed, as_array, call, case_rng, check, expect_close, expect_shape


def _pair(result, name: str):
    if not isinstance(result, tuple | list) or len(result) != 2:
        raise CheckFailed(f"{name} should return a pair (alpha, beta), got {type(result).__name__}")
    return result


@check("4.1", "Beta-Bernoulli belief update", points=2)
def check_beta_update(beta_update) -> None:
    rng = case_rng(41)
    for case in range(6):
        k = int(rng.integers(2, 6))
        alpha, beta = rng.integers(1, 5, size=k).astype(float), rng.integers(1, 5, size=k).astype(float)
        want_a, want_b = alpha.copy(), beta.copy()
        p = rng.uniform(size=k)
        for step in range(int(rng.integers(1, 15))):  # a generated history of pulls, fed one at a time
            a = int(rng.integers(k))
            r = int(rng.random() < p[a])
            got = _pair(call(beta_update, alpha.copy(), beta.copy(), a, r), "beta_update")
            want_a[a] += r
            want_b[a] += 1 - r
            where = f"history {case}, pull {step}: arm {a}, reward {r}"
            expect_close(got[0], want_a, "alpha after the update", case=where)
            expect_close(got[1], want_b, "beta after the update", case=where)
            alpha, beta = as_array(got[0], "alpha"), as_array(got[1], "beta")


@cache
def _p_best(alpha: tuple, beta: tuple) -> np.ndarray:
    """P(arm a has the largest p | Beta(alpha, beta)) by a large Monte Carlo sample."""
    draws = np.random.default_rng(7).beta(alpha, beta, size=(200_000, len(alpha)))
    return np.bincount(draws.argmax(1), minlength=len(alpha)) / len(draws)


@check("4.2", "Thompson sampling", points=2)
def check_thompson(thompson_action) -> None:
    rng = case_rng(42)
    n_calls = 3000
    for case in range(3):
        k = int(rng.integers(2, 5))
        alpha = tuple(float(v) for v in rng.integers(1, 8, size=k))
        beta = tuple(float(v) for v in rng.integers(1, 8, size=k))
        where = f"alpha={alpha}, beta={beta}"
        a1 = call(thompson_action, np.array(alpha), np.array(beta), np.random.default_rng(case))
        a2 = call(thompson_action, np.array(alpha), np.array(beta), np.random.default_rng(case))
        if np.ndim(a1) != 0 or not float(a1).is_integer() or not 0 <= int(a1) < k:
            raise CheckFailed(f"thompson_action should return one arm index in 0..{k - 1}, got {a1!r} ({where})")
        if int(a1) != int(a2):
            raise CheckFailed("thompson_action gave different arms for the same seed: draw every random number "
                              "from the `rng` argument (not np.random)")
        gen = np.random.default_rng(100 + case)
        picks = np.array([int(call(thompson_action, np.array(alpha), np.array(beta), gen)) for _ in range(n_calls)])
        freq = np.bincount(picks, minlength=k) / n_calls
        want = _p_best(alpha, beta)
        err = float(np.max(np.abs(freq - want)))
        if err > 0.04:
            raise CheckFailed(f"the arms are picked with the wrong frequencies ({where}): Thompson sampling picks "
                              f"each arm with the posterior probability that it is best; max difference {err:.3f}")


def _reference_value(a1, b1, a2, b2, h) -> float:
    @cache
    def V(a1, b1, a2, b2, h):
        if h == 0:
            return 0.0
        p1, p2 = a1 / (a1 + b1), a2 / (a2 + b2)
        q1 = p1 * (1 + V(a1 + 1, b1, a2, b2, h - 1)) + (1 - p1) * V(a1, b1 + 1, a2, b2, h - 1)
        q2 = p2 * (1 + V(a1, b1, a2 + 1, b2, h - 1)) + (1 - p2) * V(a1, b1, a2, b2 + 1, h - 1)
        return max(q1, q2)

    return V(a1, b1, a2, b2, h)


@check("4.3", "Bayes-optimal value by dynamic programming", points=3)
def check_bayes_optimal_value(bayes_optimal_value) -> None:
    rng = case_rng(43)
    cases = [((1, 1, 1, 1), 1), ((1, 1, 1, 1), 2), ((1, 1, 1, 1), 10)]
    for _ in range(8):
        prior = tuple(int(v) for v in rng.integers(1, 6, size=4))
        cases.append((prior, int(rng.integers(1, 13))))
    for prior, h in cases:
        got = call(bayes_optimal_value, prior, h)
        if np.ndim(got) != 0:
            raise CheckFailed(f"bayes_optimal_value should return one number, got shape {np.shape(got)}")
        expect_close(got, _reference_value(*prior, h), "bayes_optimal_value", rtol=1e-7, atol=1e-7,
                     case=f"prior (alpha1, beta1, alpha2, beta2) = {prior}, horizon {h}")


@check("4.4", "RL^2 input encoding", points=2)
def check_rl2_encoding(encode_rl2_stream) -> None:
    rng = case_rng(44)
    for case in range(5):
        k = int(rng.integers(2, 6))
        n_tasks = int(rng.integers(2, 5))
        # a stream of several tasks, each several episodes of random length
        actions, rewards, dones, task_ids = [], [], [], []
        for task in range(n_tasks):
            for _ in range(int(rng.integers(1, 4))):
                length = int(rng.integers(1, 4))
                for t in range(length):
                    actions.append(int(rng.integers(k)))
                    rewards.append(float(np.round(rng.normal(), 3)))
                    dones.append(float(t == length - 1))
                    task_ids.append(task)
        T = len(actions)
        actions, rewards, dones, task_ids = map(np.array, (actions, rewards, dones, task_ids))
        new_task = np.r_[True, task_ids[1:] != task_ids[:-1]]
        want_x = np.zeros((T, k + 2))
        for t in range(T):
            if not new_task[t]:
                want_x[t, actions[t - 1]] = 1.0
                want_x[t, k], want_x[t, k + 1] = rewards[t - 1], dones[t - 1]
        got = call(encode_rl2_stream, actions.copy(), rewards.copy(), dones.copy(), task_ids.copy(), k)
        if not isinstance(got, tuple | list) or len(got) != 2:
            raise CheckFailed(f"encode_rl2_stream should return (x, reset), got {type(got).__name__}")
        where = f"stream {case}: {T} steps, {n_tasks} tasks, k={k}"
        x = expect_shape(got[0], (T, k + 2), "x")
        reset = expect_shape(got[1], (T,), "reset")
        if not np.array_equal(reset.astype(bool), new_task):
            wrong = int(np.flatnonzero(reset.astype(bool) != new_task)[0])
            raise CheckFailed(f"reset is wrong at step {wrong} ({where}): the hidden state is reset when a new task "
                              "begins, and kept across the episodes (done flags) of one task")
        rows_bad = np.flatnonzero(~np.all(np.isclose(x, want_x), axis=1))
        if len(rows_bad):
            t = int(rows_bad[0])
            part = "at the first step of a task" if new_task[t] else "inside a task"
            cols = np.flatnonzero(~np.isclose(x[t], want_x[t]))
            what = "the one-hot action" if cols[0] < k else ("the reward" if cols[0] == k else "the done flag")
            raise CheckFailed(f"x[{t}] is wrong {part} ({where}): check {what} column(s)")
