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


# ---------------------------------------------------------------- 4.5: RL^2 on a correlated-arms bandit family
#
# The task family: two arms, one good (pays 1 with probability p_good) and one bad (p_bad); which one is good is
# the hidden variable, 50/50 per task. The arms are perfectly anti-correlated, so a pull of EITHER arm is evidence
# about both. A trained agent is scored by the fraction of the way from a random policy's value to the
# Bayes-optimal value (both exact), its own value measured on fresh tasks with actions sampled from its softmax.

RL2_KEYS = ("gru.weight_ih_l0", "gru.weight_hh_l0", "gru.bias_ih_l0", "gru.bias_hh_l0", "pi.weight", "pi.bias")
RL2_MAX_HIDDEN = 32
RL2_FULL, RL2_HALF = 0.65, 0.35  # bands of the fraction of the way (see lecture_admin/grading/hidden/sec04.py)
RL2_EVAL_TASKS = 4000


def correlated_family(rng: np.random.Generator) -> tuple[float, float, int]:
    """A task family (p_good, p_bad, horizon): the good arm clearly better, 6..10 pulls per task."""
    p_good = float(np.round(rng.uniform(0.65, 0.9), 3))
    p_bad = float(np.round(rng.uniform(0.1, p_good - 0.35), 3))
    return p_good, p_bad, int(rng.integers(6, 11))


def correlated_bayes_value(p_good: float, p_bad: float, horizon: int) -> float:
    """Bayes-optimal expected total reward. The belief is one number, P(arm 0 is the good one), a function of
    (successes - failures) differences: d_s = s_0 - s_1 and d_f = f_0 - f_1."""
    import math

    log_s, log_f = math.log(p_good / p_bad), math.log((1 - p_good) / (1 - p_bad))

    @cache
    def V(ds: int, df: int, h: int) -> float:
        if h == 0:
            return 0.0
        b0 = 1.0 / (1.0 + math.exp(-(ds * log_s + df * log_f)))  # P(arm 0 good | history)
        q = []
        for arm, sign in ((0, 1), (1, -1)):
            pa = b0 * p_good + (1 - b0) * p_bad if arm == 0 else (1 - b0) * p_good + b0 * p_bad
            q.append(pa * (1 + V(ds + sign, df, h - 1)) + (1 - pa) * V(ds, df + sign, h - 1))
        return max(q)

    return V(0, 0, int(horizon))


def rl2_weights(weights) -> tuple[dict, int]:
    """The returned state_dict as float64 arrays, checked against the fixed architecture; (weights, hidden)."""
    if not isinstance(weights, dict):
        raise CheckFailed(f"train_correlated_rl2 should return policy.state_dict() as a dict name -> array, got "
                          f"{type(weights).__name__}")
    missing = [k for k in RL2_KEYS if k not in weights]
    if missing:
        raise CheckFailed(f"the returned weights lack {missing[0]!r}: return the state_dict of a "
                          "CorrelatedRL2Policy (keys gru.* and pi.*)")
    w = {k: np.asarray(as_array(weights[k], k), dtype=np.float64) for k in RL2_KEYS}
    hidden = w["gru.weight_hh_l0"].shape[-1] if w["gru.weight_hh_l0"].ndim == 2 else -1
    want = {"gru.weight_ih_l0": (3 * hidden, 4), "gru.weight_hh_l0": (3 * hidden, hidden),
            "gru.bias_ih_l0": (3 * hidden,), "gru.bias_hh_l0": (3 * hidden,), "pi.weight": (2, hidden),
            "pi.bias": (2,)}
    if not 1 <= hidden <= RL2_MAX_HIDDEN:
        raise CheckFailed(f"gru.weight_hh_l0 has shape {w['gru.weight_hh_l0'].shape}: the GRU's hidden size must be "
                          f"1..{RL2_MAX_HIDDEN}")
    for k, shape in want.items():
        if w[k].shape != shape:
            raise CheckFailed(f"{k} has shape {w[k].shape}, expected {shape} for a GRU(4 -> {hidden}) and a "
                              f"Linear({hidden} -> 2) head")
        if not np.all(np.isfinite(w[k])):
            raise CheckFailed(f"{k} has non-finite entries: the training diverged")
    return w, hidden


def rl2_value(weights: dict, p_good: float, p_bad: float, horizon: int, n_tasks: int, seed: int) -> float:
    """The agent's expected total reward on n_tasks fresh tasks of the family (float64; its actions sampled from
    its softmax; the value counts p[a_t], the expected reward of each pull, so only the agent's choices vary)."""
    import torch

    w, hidden = rl2_weights(weights)
    gru = torch.nn.GRU(4, hidden, batch_first=True).double()
    head = torch.nn.Linear(hidden, 2).double()
    with torch.no_grad():
        for k, v in w.items():
            mod, name = (gru, k[4:]) if k.startswith("gru.") else (head, k[3:])
            getattr(mod, name).copy_(torch.from_numpy(v))
        gen = torch.Generator().manual_seed(int(seed))
        rows = torch.arange(n_tasks)
        good = torch.randint(0, 2, (n_tasks,), generator=gen)
        p = torch.full((n_tasks, 2), float(p_bad), dtype=torch.float64)
        p[rows, good] = float(p_good)
        x = torch.zeros(n_tasks, 1, 4, dtype=torch.float64)  # x_0 = 0: no previous step
        h = torch.zeros(1, n_tasks, hidden, dtype=torch.float64)
        total = torch.zeros(n_tasks, dtype=torch.float64)
        for _ in range(int(horizon)):
            out, h = gru(x, h)
            p0 = torch.softmax(head(out[:, 0]), dim=-1)[:, 0]
            a = (torch.rand(n_tasks, generator=gen, dtype=torch.float64) >= p0).long()
            r = (torch.rand(n_tasks, generator=gen, dtype=torch.float64) < p[rows, a]).double()
            total += p[rows, a]
            x = torch.zeros(n_tasks, 1, 4, dtype=torch.float64)
            x[rows, 0, a] = 1.0
            x[:, 0, 2], x[:, 0, 3] = r, 1.0
    return float(total.mean())


def rl2_fraction(weights, p_good: float, p_bad: float, horizon: int, seed: int,
                 n_tasks: int = RL2_EVAL_TASKS) -> tuple[float, str]:
    """(fraction of the way from random to Bayes-optimal, one line saying what was measured)."""
    v_rand = horizon * (p_good + p_bad) / 2
    v_opt = correlated_bayes_value(p_good, p_bad, horizon)
    v = rl2_value(weights, p_good, p_bad, horizon, n_tasks, seed)
    frac = (v - v_rand) / (v_opt - v_rand)
    line = (f"your agent's value {v:.2f} is {frac:.2f} of the way from a random policy's {v_rand:.2f} to the "
            f"Bayes-optimal {v_opt:.2f} (p_good={p_good}, p_bad={p_bad}, {horizon} pulls, {n_tasks} fresh tasks)")
    return float(frac), line


@check("4.5", "RL^2 on correlated arms", points=6)
def check_correlated_rl2(train_correlated_rl2) -> None:
    rng = case_rng(45)
    p_good, p_bad, horizon = correlated_family(rng)
    seed, eval_seed = (int(v) for v in rng.integers(1 << 31, size=2))
    weights = call(train_correlated_rl2, p_good, p_bad, horizon, seed)
    frac, line = rl2_fraction(weights, p_good, p_bad, horizon, eval_seed)
    if not frac >= RL2_FULL:
        raise CheckFailed(f"{line}; full credit needs {RL2_FULL:.2f} (half credit {RL2_HALF:.2f})")
