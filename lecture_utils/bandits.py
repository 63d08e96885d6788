"""Bernoulli bandits: the smallest meta-RL problem, its Beta belief, and the policies of RL^2's Table 1.

A *task* M_i is a k-armed bandit with unknown success probabilities p ~ U[0, 1]^k; a *trial* is n pulls
of one task. Everything here is batched over tasks: counts ``successes`` / ``failures`` have shape
[n_tasks, k]. With a Beta(1, 1) prior the belief after the pulls so far is, per arm,
``Beta(1 + successes, 1 + failures)``; every policy below is a function of that belief (and t, n).

Policies share one signature::

    policy(successes, failures, t, n, rng) -> actions  # [n_tasks, k], [n_tasks, k], int, int -> [n_tasks]

The belief update itself (Bayes' rule, alpha += r, beta += 1 - r) is in lecture_utils.bandit_belief.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache

import numpy as np

Policy = Callable[[np.ndarray, np.ndarray, int, int, np.random.Generator], np.ndarray]

# One colour per method in every figure of section 04 (and its live demo)
COLORS = {"random": "0.55", "greedy": "C2", "eps-greedy": "C8", "UCB1": "C4", "Thompson": "C1",
          "Thompson (Beta)": "C1", "posterior sampling": "C6", "Gittins": "C5", "Bayes-optimal": "C0", "RL^2": "C3",
          "win-stay lose-shift": "C7", "you": "k"}


# ------------------------------------------------------------------------------------------- tasks


def sample_tasks(rng: np.random.Generator, n_tasks: int, k: int) -> np.ndarray:
    """Arm probabilities p ~ U[0, 1]^k for `n_tasks` tasks: shape [n_tasks, k]."""
    return rng.uniform(0.0, 1.0, size=(n_tasks, k))


def _check_counts(successes, failures) -> tuple[np.ndarray, np.ndarray]:
    s, f = np.asarray(successes), np.asarray(failures)
    if s.ndim != 2 or s.shape != f.shape:
        raise ValueError(f"successes and failures must both have shape [n_tasks, k], got {s.shape} and {f.shape}")
    return s, f


# ------------------------------------------------------------------------------------------ policies


def _argmax_random_ties(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Row-wise argmax; ties broken uniformly at random (a fixed order would favour arm 0)."""
    noise = rng.random(x.shape) * 1e-9
    best = x.max(axis=1, keepdims=True)
    return np.argmax(np.where(np.isclose(x, best, rtol=0, atol=1e-12), 1.0 + noise, 0.0), axis=1)


def posterior_mean(successes, failures) -> np.ndarray:
    """E[p_a | history] = (1 + s_a) / (2 + s_a + f_a) under the uniform Beta(1, 1) prior."""
    s, f = _check_counts(successes, failures)
    return (1.0 + s) / (2.0 + s + f)


def random_policy(successes, failures, t, n, rng):
    s, _ = _check_counts(successes, failures)
    return rng.integers(0, s.shape[1], size=s.shape[0])


def greedy(successes, failures, t, n, rng):
    """Pull the arm with the highest posterior mean (an unpulled arm has mean 1/2)."""
    return _argmax_random_ties(posterior_mean(successes, failures), rng)


def make_eps_greedy(eps: float) -> Policy:
    def eps_greedy(successes, failures, t, n, rng):
        a = greedy(successes, failures, t, n, rng)
        explore = rng.random(a.shape[0]) < eps
        return np.where(explore, rng.integers(0, np.shape(successes)[1], size=a.shape[0]), a)

    eps_greedy.__name__ = f"eps_greedy({eps:g})"
    return eps_greedy


def make_ucb1(c: float = np.sqrt(2.0)) -> Policy:
    """UCB1 (Auer et al. 2002): pull every arm once, then argmax mean_a + c sqrt(ln t / N_a)."""

    def ucb1(successes, failures, t, n, rng):
        s, f = _check_counts(successes, failures)
        pulls = s + f
        mean = s / np.maximum(pulls, 1)
        bonus = c * np.sqrt(np.log(max(t, 1)) / np.maximum(pulls, 1))
        score = np.where(pulls == 0, np.inf, mean + bonus)
        return _argmax_random_ties(np.where(np.isinf(score), 1e9, score), rng)

    ucb1.__name__ = f"ucb1(c={c:g})"
    return ucb1


def thompson(successes, failures, t, n, rng):
    """Thompson sampling: draw p_a ~ Beta(1 + s_a, 1 + f_a) per arm, pull the argmax of the draw."""
    s, f = _check_counts(successes, failures)
    return np.argmax(rng.beta(1.0 + s, 1.0 + f), axis=1)


class WinStayLoseShift:
    """Memoryless: repeat the last arm after a success, switch to a random other arm after a failure.

    It needs only the last (action, reward) — exactly what an RL^2 input x_t shows — so it is the easy local
    optimum a recurrent policy finds before it learns to use its memory. (It reads the last pull off the
    change in the counts.)
    """

    def __init__(self):
        self._last = None

    def __call__(self, successes, failures, t, n, rng):
        s, f = _check_counts(successes, failures)
        N, k = s.shape
        if t == 0 or self._last is None:
            a = rng.integers(0, k, size=N)
        else:
            ds, df = s - self._last[0], f - self._last[1]
            prev = np.argmax(ds + df, axis=1)
            won = ds.sum(axis=1) > 0
            other = (prev + rng.integers(1, k, size=N)) % k if k > 1 else prev
            a = np.where(won, prev, other)
        self._last = (s.copy(), f.copy())
        return a


# --------------------------------------------------------------------- Bayes-optimal: DP over beliefs


class BayesOptimal:
    """The Bayes-optimal policy of the bandit POMDP, by dynamic programming over Beta counts.

    The belief is the tuple of counts ((s_1, f_1), ..., (s_k, f_k)); arms are exchangeable, so the value
    only depends on the *sorted* tuple. With m pulls left::

        V(b, 0) = 0,   Q(b, a) = p_a (1 + V(b + success_a)) + (1 - p_a) V(b + failure_a),   V = max_a Q

    with p_a = (1 + s_a) / (2 + s_a + f_a). ``value()`` is the expected total reward of the optimal
    policy over tasks drawn from the prior: the limit no meta-learner can beat on average.
    """

    def __init__(self, k: int, n: int):
        if k < 1 or n < 0:
            raise ValueError(f"need k >= 1 arms and n >= 0 pulls, got k={k}, n={n}")
        self.k, self.n = k, n
        self._V = lru_cache(maxsize=None)(self._value)

    def _value(self, counts: tuple) -> float:
        left = self.n - sum(s + f for s, f in counts)
        if left == 0:
            return 0.0
        best = 0.0
        for j, (s, f) in enumerate(counts):
            if j > 0 and counts[j - 1] == (s, f):
                continue  # identical arm: same Q
            best = max(best, self._q(counts, j))
        return best

    def _q(self, counts: tuple, j: int) -> float:
        s, f = counts[j]
        p = (1.0 + s) / (2.0 + s + f)
        up = tuple(sorted(counts[:j] + ((s + 1, f),) + counts[j + 1:]))
        down = tuple(sorted(counts[:j] + ((s, f + 1),) + counts[j + 1:]))
        return p * (1.0 + self._V(up)) + (1.0 - p) * self._V(down)

    def value(self, counts=None) -> float:
        """Optimal expected reward-to-go from `counts` (default: the prior, i.e. the whole trial)."""
        counts = tuple(sorted(counts)) if counts is not None else tuple((0, 0) for _ in range(self.k))
        return self._V(counts)

    def q_values(self, successes_row, failures_row) -> np.ndarray:
        """Q(b, a) for one task's counts (shape [k] each): an array [k]."""
        counts = tuple(zip(np.asarray(successes_row).tolist(), np.asarray(failures_row).tolist()))
        order = sorted(range(self.k), key=lambda a: counts[a])
        srt = tuple(counts[a] for a in order)
        q = np.empty(self.k)
        for pos, a in enumerate(order):
            q[a] = self._q(srt, pos)
        return q

    @property
    def n_beliefs(self) -> int:
        """How many distinct (sorted) beliefs the DP has visited so far."""
        return self._V.cache_info().currsize

    def __call__(self, successes, failures, t, n, rng):
        s, f = _check_counts(successes, failures)
        if n != self.n or s.shape[1] != self.k:
            raise ValueError(f"this table is for k={self.k}, n={self.n}; called with k={s.shape[1]}, n={n}")
        q = np.stack([self.q_values(s[i], f[i]) for i in range(s.shape[0])])
        return _argmax_random_ties(np.round(q, 12), rng)


# -------------------------------------------------------------------------- Gittins (finite horizon)


@cache
def gittins_table(n: int, iters: int = 40) -> np.ndarray:
    """Finite-horizon Gittins indices G[s, f, m] of a Beta(1 + s, 1 + f) arm with m pulls left (read-only:
    computed once per (n, iters) in a process, as a notebook asks for the same table in several cells).

    G is the known per-pull payoff lambda at which one is indifferent between retiring to lambda for all
    m pulls and pulling the unknown arm (keeping the option to retire later); found by bisection on
    V(s, f, m; lambda) = max(lambda m, p (1 + V(s+1, f, m-1)) + (1 - p) V(s, f+1, m-1)).
    """
    G = np.full((n + 1, n + 1, n + 1), np.nan)
    ds, df = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
    for m in range(1, n + 1):
        # every start belief (s0, f0) with s0 + f0 <= n - m as one batch; the DP runs on (s0 + ds, f0 + df)
        starts = [(s0, f0) for s0 in range(n - m + 1) for f0 in range(n - m + 1 - s0)]
        S0 = np.array([s for s, _ in starts])[:, None, None]
        F0 = np.array([f for _, f in starts])[:, None, None]
        p = (1.0 + S0 + ds) / (2.0 + S0 + F0 + ds + df)  # [Q, n+1, n+1]
        lo, hi = np.zeros(len(starts)), np.ones(len(starts))
        for _ in range(iters):
            lam = (lo + hi) / 2
            V = np.zeros_like(p)  # retire-or-pull value with j pulls left, j = 0 .. m-1
            for j in range(1, m):
                pull = p[:, :-1, :-1] * (1.0 + V[:, 1:, :-1]) + (1.0 - p[:, :-1, :-1]) * V[:, :-1, 1:]
                V = np.zeros_like(p)
                V[:, :-1, :-1] = np.maximum(lam[:, None, None] * j, pull)
            pull_first = p[:, 0, 0] * (1.0 + V[:, 1, 0]) + (1.0 - p[:, 0, 0]) * V[:, 0, 1]
            above = pull_first > lam * m  # pulling beats retiring: the index is above lambda
            lo, hi = np.where(above, lam, lo), np.where(above, hi, lam)
        for q, (s0, f0) in enumerate(starts):
            G[s0, f0, m] = (lo[q] + hi[q]) / 2
    G.setflags(write=False)
    return G


def make_gittins(n: int) -> Policy:
    """Pull the arm with the largest finite-horizon Gittins index G[s_a, f_a, n - t]."""
    G = gittins_table(n)

    def gittins(successes, failures, t, n_, rng):
        s, f = _check_counts(successes, failures)
        if n_ != n:
            raise ValueError(f"this Gittins table is for n={n}, called with n={n_}")
        return _argmax_random_ties(np.round(G[s, f, n - t], 9), rng)

    gittins.__name__ = "gittins"
    return gittins


# ---------------------------------------------------------------------------------------- evaluation


@dataclass
class TrialResult:
    """Per-task totals of a batch of trials: totals [n_tasks]; actions, rewards [n_tasks, n]."""

    totals: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray

    @property
    def mean(self) -> float:
        return float(self.totals.mean())

    @property
    def stderr(self) -> float:
        return float(self.totals.std(ddof=1) / np.sqrt(len(self.totals)))


def run_trials(policy: Policy, p: np.ndarray, n: int, rng: np.random.Generator) -> TrialResult:
    """Run `policy` for n pulls on each task (p: [n_tasks, k]); rewards r ~ Bernoulli(p[a])."""
    p = np.asarray(p, dtype=float)
    if p.ndim != 2:
        raise ValueError(f"p must have shape [n_tasks, k], got {p.shape}")
    N, k = p.shape
    s, f = np.zeros((N, k), dtype=int), np.zeros((N, k), dtype=int)
    rows = np.arange(N)
    u = rng.random((N, n))  # drawn up front: the same tasks and reward noise for every policy's rng state
    actions, rewards = np.zeros((N, n), dtype=int), np.zeros((N, n))
    for t in range(n):
        a = np.asarray(policy(s, f, t, n, rng))
        if a.shape != (N,):
            raise ValueError(f"policy must return [n_tasks]={N} actions, got shape {a.shape}")
        r = (u[:, t] < p[rows, a]).astype(int)
        s[rows, a] += r
        f[rows, a] += 1 - r
        actions[:, t], rewards[:, t] = a, r
    return TrialResult(rewards.sum(axis=1), actions, rewards)


UCB1_GRID = (0.05, 0.1, 0.2, 0.3, 0.5, 1.0, float(np.sqrt(2.0)))
EPS_GRID = (0.01, 0.02, 0.05, 0.1, 0.2)


def tune(factory, grid, k: int, n: int, seed: int, n_tasks: int = 4000) -> float:
    """The value in `grid` whose policy factory(value) earns the most on n_tasks tuning tasks (not the test tasks)."""
    rng = np.random.default_rng(seed)
    p = sample_tasks(rng, n_tasks, k)
    scores = [run_trials(factory(v), p, n, np.random.default_rng(seed + 1)).mean for v in grid]
    return float(grid[int(np.argmax(scores))])


def compare_baselines(k: int, n: int, n_tasks: int = 10_000, seed: int = 0, gittins: bool = True,
                      tune_tasks: int = 4000) -> tuple[dict, np.ndarray]:
    """The hand-made bandit algorithms on the same n_tasks tasks: ({name: (mean total, standard error)}, p).

    UCB1's c and epsilon-greedy's epsilon are tuned on other tasks (as in RL^2's Table 1). Gittins needs an index
    table that grows as n^3: leave it out for long horizons.
    """
    tune_seed = seed + 1000
    methods = {"random": random_policy}
    if gittins:
        methods["Gittins"] = make_gittins(n)
    methods["Thompson"] = thompson
    methods["UCB1"] = make_ucb1(tune(make_ucb1, UCB1_GRID, k, n, tune_seed, tune_tasks))
    methods["eps-greedy"] = make_eps_greedy(tune(make_eps_greedy, EPS_GRID, k, n, tune_seed, tune_tasks))
    methods["greedy"] = greedy
    p = sample_tasks(np.random.default_rng(seed), n_tasks, k)
    out = {}
    for name, policy in methods.items():
        res = run_trials(policy, p, n, np.random.default_rng(seed + 1))
        out[name] = (res.mean, res.stderr)
    return out, p


def fraction_of_the_way(value: float, random_value: float, optimal_value: float) -> float:
    """How far `value` is from random (0) to Bayes-optimal (1)."""
    return (value - random_value) / (optimal_value - random_value)
