"""A bandit family where greedy fails: a safe arm and risky arms, one of which is good (section 04).

Its belief is a single distribution over which risky arm is the good one, so the Bayes-optimal value is an exact
DP, and the hand-made methods (greedy, eps-greedy, posterior sampling) use that belief; UCB1 and Thompson sampling
are the generic ones of lecture_utils.bandits. The policies share lecture_utils.bandits' signature.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from lecture_utils.bandits import (
    UCB1_GRID,
    Policy,
    _argmax_random_ties,
    _check_counts,
    make_ucb1,
    random_policy,
    run_trials,
    thompson,
)

# ------------------------------------------------------ a family where greedy fails: a safe arm, risky arms


@dataclass(frozen=True)
class SafeRiskyFamily:
    """Arm 0 is *safe*: it pays with probability p_safe in every task. Arms 1..m are *risky*: in task i exactly one
    of them, arm i, is good (pays with probability p_good > p_safe), the others never pay. The task index i is
    uniform over 1..m and hidden.

    A risky arm's prior mean, p_good / m, is below p_safe, so an agent that only exploits its current belief never
    pulls one and never learns where the good arm is. Finding it costs a few pulls that pay little; over a long
    enough trial they repay many times over.
    """

    p_safe: float = 0.5
    p_good: float = 0.9
    m: int = 3

    def __post_init__(self):
        if not (0.0 < self.p_safe < self.p_good < 1.0) or self.m < 2:
            raise ValueError(f"need 0 < p_safe < p_good < 1 and m >= 2 risky arms, got p_safe={self.p_safe}, "
                             f"p_good={self.p_good}, m={self.m}")

    @property
    def k(self) -> int:
        return self.m + 1

    @property
    def P(self) -> np.ndarray:
        """Arm probabilities of each task: [m, k]; row i - 1 is task i."""
        P = np.zeros((self.m, self.k))
        P[:, 0] = self.p_safe
        P[np.arange(self.m), 1 + np.arange(self.m)] = self.p_good
        return P

    def sample(self, rng: np.random.Generator, n_tasks: int) -> np.ndarray:
        """n_tasks tasks (the task index i uniform): arm probabilities [n_tasks, k]."""
        return self.P[rng.integers(0, self.m, size=n_tasks)]

    def posterior(self, successes, failures) -> np.ndarray:
        """b(i) = P(task i | counts) for each row of counts [n_tasks, k] -> [n_tasks, m].

        Bayes' rule: b(i) is proportional to (1 - p_good)^{f_i}, times 0 if another risky arm ever paid.
        """
        s, f = _check_counts(successes, failures)
        if s.shape[1] != self.k:
            raise ValueError(f"counts are for {s.shape[1]} arms, this family has k = {self.k}")
        like = (1.0 - self.p_good) ** f[:, 1:] * (s[:, 1:].sum(1, keepdims=True) == s[:, 1:])
        return like / like.sum(1, keepdims=True)

    def predictive(self, successes, failures) -> np.ndarray:
        """E[p_a | counts] under the family's prior: [n_tasks, k]."""
        return self.posterior(successes, failures) @ self.P

    def random_value(self, H: int) -> float:
        """Expected total reward of uniformly random pulls over H pulls."""
        return H * float(self.P[0].mean())

    def oracle_value(self, H: int) -> float:
        """Knowing the task: pull the good arm H times."""
        return H * self.p_good


class SafeRiskyBayesOptimal:
    """Bayes-optimal play in a SafeRiskyFamily for a trial of H pulls, by dynamic programming over beliefs.

    Until a risky arm pays, the belief is fixed by the risky arms' failure counts (sorted: the arms are exchangeable);
    once one pays it is known to be the good arm, and pulling it to the end is optimal. With t pulls made::

        V(t, f) = max( p_safe + V(t + 1, f),
                       max_j  b_j p_good (1 + p_good (H - t - 1)) + (1 - b_j p_good) V(t + 1, f + e_j) )

    where b_j is the belief that risky arm j is the good one and the safe arm leaves f unchanged.
    """

    def __init__(self, family: SafeRiskyFamily, H: int):
        if H < 1:
            raise ValueError(f"need a horizon H >= 1, got {H}")
        self.family, self.H = family, H
        self._V = lru_cache(maxsize=None)(self._value)

    def _b(self, f: tuple) -> np.ndarray:
        w = (1.0 - self.family.p_good) ** np.asarray(f, dtype=float)
        return w / w.sum()

    def _q(self, t: int, f: tuple) -> np.ndarray:
        """[1 + m] values of pulling the safe arm, then each risky arm (in the order of f), while nothing was found."""
        fam, left = self.family, self.H - t
        b = self._b(f)
        q = np.empty(fam.k)
        q[0] = fam.p_safe + self._V(t + 1, f)
        for j in range(fam.m):
            hit = b[j] * fam.p_good
            miss = tuple(sorted(f[:j] + (f[j] + 1,) + f[j + 1:]))
            q[1 + j] = hit * (1.0 + fam.p_good * (left - 1)) + (1.0 - hit) * self._V(t + 1, miss)
        return q

    def _value(self, t: int, f: tuple) -> float:
        return 0.0 if t == self.H else float(self._q(t, f).max())

    def value(self) -> float:
        """The Bayes-optimal expected total reward of a trial (an expectation over the family: no sampling error)."""
        return self._V(0, (0,) * self.family.m)

    def __call__(self, successes, failures, t, n, rng):
        s, f = _check_counts(successes, failures)
        if n != self.H or s.shape[1] != self.family.k:
            raise ValueError(f"this table is for k={self.family.k}, H={self.H}; called with k={s.shape[1]}, H={n}")
        out = np.empty(s.shape[0], dtype=int)
        for row in range(s.shape[0]):
            risky_s, risky_f = s[row, 1:], f[row, 1:]
            if risky_s.any():  # found the good arm: pull it to the end
                out[row] = 1 + int(np.argmax(risky_s))
                continue
            order = np.argsort(risky_f, kind="stable")
            q = self._q(t, tuple(int(v) for v in risky_f[order]))
            best = np.flatnonzero(q >= q.max() - 1e-9)
            choice = rng.choice(best)
            out[row] = 0 if choice == 0 else 1 + int(order[choice - 1])
        return out


def family_greedy(family: SafeRiskyFamily) -> Policy:
    """Greedy with the exact belief: pull the arm with the highest E[p_a | counts] (it never pays for information)."""

    def greedy_(successes, failures, t, n, rng):
        return _argmax_random_ties(np.round(family.predictive(successes, failures), 12), rng)

    greedy_.__name__ = "greedy"
    return greedy_


def family_eps_greedy(family: SafeRiskyFamily, eps: float) -> Policy:
    """Exact-belief greedy, but a uniformly random arm with probability eps (undirected exploration)."""
    greedy_ = family_greedy(family)

    def eps_greedy(successes, failures, t, n, rng):
        a = greedy_(successes, failures, t, n, rng)
        explore = rng.random(a.shape[0]) < eps
        return np.where(explore, rng.integers(0, family.k, size=a.shape[0]), a)

    eps_greedy.__name__ = f"eps_greedy({eps:g})"
    return eps_greedy


def family_posterior_sampling(family: SafeRiskyFamily) -> Policy:
    """Thompson sampling with the exact belief: draw a task i ~ b, pull the best arm of task i."""

    def posterior_sampling(successes, failures, t, n, rng):
        b = family.posterior(successes, failures)
        i = (rng.random((b.shape[0], 1)) > b.cumsum(1)).sum(1).clip(0, family.m - 1)
        return 1 + i  # the best arm of task i is its good risky arm

    return posterior_sampling


def compare_safe_risky(family: SafeRiskyFamily, H: int, n_tasks: int = 10_000, seed: int = 0,
                       tune_tasks: int = 4000, curves: dict | None = None) -> tuple[dict, np.ndarray]:
    """Every hand-made method on the same n_tasks tasks of `family`: ({name: (mean total, s.e.)}, p [n_tasks, k]).
    `curves`, if given, receives each method's mean reward at every pull ([H] arrays).

    greedy, eps-greedy and posterior sampling use the exact belief over the task index; UCB1 and Thompson sampling
    are the generic ones (independent Beta(1, 1) beliefs). UCB1's c and eps are tuned on other tasks of the family.
    """

    def tuned(factory, grid):
        p_tune = family.sample(np.random.default_rng(seed + 1000), tune_tasks)
        scores = [run_trials(factory(v), p_tune, H, np.random.default_rng(seed + 1001)).mean for v in grid]
        return float(grid[int(np.argmax(scores))])

    methods = {"random": random_policy, "greedy": family_greedy(family),
               "eps-greedy": family_eps_greedy(family, tuned(lambda e: family_eps_greedy(family, e), EPS_GRID_LONG)),
               "UCB1": make_ucb1(tuned(make_ucb1, UCB1_GRID)), "Thompson (Beta)": thompson,
               "posterior sampling": family_posterior_sampling(family)}
    p = family.sample(np.random.default_rng(seed), n_tasks)
    out = {}
    for name, policy in methods.items():
        res = run_trials(policy, p, H, np.random.default_rng(seed + 1))
        out[name] = (res.mean, res.stderr)
        if curves is not None:
            curves[name] = res.rewards.mean(axis=0)
    out["Bayes-optimal"] = (SafeRiskyBayesOptimal(family, H).value(), 0.0)
    return out, p


EPS_GRID_LONG = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5)
