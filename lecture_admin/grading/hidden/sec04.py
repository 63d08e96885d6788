"""Hidden tests for homework 04 (see hidden/__init__.py).

4.1 and 4.4 take and return plain data: their public checks run remotely. 4.3 too, through a harness that
hands the prior over as a tuple (as the public check does; plain data arrives as a list). 4.2 takes a NumPy
Generator: a harness builds the generators in the kernel from seeds sent from here, makes the calls there and
returns the picks; determinism and the pick frequencies are checked here.
"""

from __future__ import annotations

import numpy as np

from lecture_admin.grading.hidden import Harness, hidden
from lecture_utils.selfcheck.core import CheckFailed, case_rng, get_check

# beta_update answers 4.1 (moved out of lecture_utils.bandits, whose policies and trials the demo cells use).
# Not masked, because the homework's demo cell imports them from lecture_utils.bandits: `thompson` (a batched
# Thompson policy) and `BayesOptimal` (the DP of 4.3 for the uniform prior).
hidden("4.1", library=("lecture_utils.bandit_belief",))
hidden("4.4")


# ---------------------------------------------------------------- 4.2: Thompson sampling with the caller's rng

_THOMPSON_HARNESS = r'''
def __harness(fn, alpha, beta, same_seeds, stream_seed, n_calls):
    import numpy as np
    alpha, beta = np.asarray(alpha, dtype=float), np.asarray(beta, dtype=float)

    def arm(a):
        if np.ndim(a) != 0:
            return repr(a)[:80]
        try:
            f = float(a)
        except (TypeError, ValueError):
            return repr(a)[:80]
        return int(f) if f.is_integer() else repr(a)[:80]

    first = [arm(fn(alpha.copy(), beta.copy(), np.random.default_rng(s))) for s in same_seeds]
    second = [arm(fn(alpha.copy(), beta.copy(), np.random.default_rng(s))) for s in same_seeds]
    gen = np.random.default_rng(stream_seed)
    picks = []
    for _ in range(n_calls):
        a = arm(fn(alpha.copy(), beta.copy(), gen))
        if isinstance(a, str):
            return {"first": first, "second": second, "bad": a}
        picks.append(a)
    return {"first": first, "second": second, "picks": np.array(picks, dtype=np.int64)}
'''

N_CALLS = 3000
N_SAME = 20  # seeds, each given to two calls: the same seed must give the same arm
TOLERANCE = 0.04  # max |frequency - P(arm is best)|: > 4 standard errors at N_CALLS calls


def run_thompson(kernel, names: list[str]) -> None:
    from lecture_utils.selfcheck.sec04 import _p_best

    (name,) = names
    harness = Harness(kernel, name, _THOMPSON_HARNESS)
    rng = case_rng(42)
    for _ in range(3):
        k = int(rng.integers(2, 5))
        alpha = tuple(float(v) for v in rng.integers(1, 8, size=k))
        beta = tuple(float(v) for v in rng.integers(1, 8, size=k))
        same_seeds = [int(v) for v in rng.integers(1 << 31, size=N_SAME)]
        stream_seed = int(rng.integers(1 << 31))
        where = f"alpha={alpha}, beta={beta}"
        out = harness(alpha=np.array(alpha), beta=np.array(beta), same_seeds=same_seeds, stream_seed=stream_seed,
                      n_calls=N_CALLS)
        for a in [*out["first"], *out["second"], out.get("bad", 0)]:
            if isinstance(a, str) or not 0 <= a < k:
                raise CheckFailed(f"thompson_action should return one arm index in 0..{k - 1}, got {a} ({where})")
        if out["first"] != out["second"]:
            raise CheckFailed("thompson_action gave different arms for the same seed: draw every random number "
                              "from the `rng` argument (not np.random)")
        picks = np.asarray(out["picks"], dtype=int)
        if picks.shape != (N_CALLS,) or picks.min() < 0 or picks.max() >= k:
            raise CheckFailed(f"thompson_action should return one arm index in 0..{k - 1} ({where})")
        freq = np.bincount(picks, minlength=k) / N_CALLS
        err = float(np.max(np.abs(freq - _p_best(alpha, beta))))
        if err > TOLERANCE:
            raise CheckFailed(f"the arms are picked with the wrong frequencies ({where}): Thompson sampling picks "
                              f"each arm with the posterior probability that it is best; max difference {err:.3f}")


hidden("4.2", run=run_thompson)


# ---------------------------------------------------------------- 4.3: the prior as a tuple

_TUPLE_HARNESS = r'''
def __harness(fn, prior, horizon):
    return fn(tuple(prior), horizon)
'''


class _PriorAsTuple(Harness):
    """bayes_optimal_value(prior, horizon) called in the kernel with prior a tuple, as in the public check."""

    def __call__(self, prior, horizon):
        return super().__call__(prior=list(prior), horizon=horizon)


def run_bayes_optimal_value(kernel, names: list[str]) -> None:
    (name,) = names
    get_check("4.3").fn(_PriorAsTuple(kernel, name, _TUPLE_HARNESS))


hidden("4.3", run=run_bayes_optimal_value)
