"""Hidden tests for homework 04 (see hidden/__init__.py).

4.1 and 4.4 take and return plain data: their public checks run remotely. 4.3 too, through a harness that
hands the prior over as a tuple (as the public check does; plain data arrives as a list). 4.2 takes a NumPy
Generator: a harness builds the generators in the kernel from seeds sent from here, makes the calls there and
returns the picks; determinism and the pick frequencies are checked here.

4.5 is graded on behaviour: the student's RL^2 training runs in the kernel on a task family drawn here (p_good,
p_bad, horizon, seed), its weights come back as arrays, and the agent is rebuilt and evaluated here (float64) on
fresh tasks; the credit is a band of the fraction of the way from a random policy's value to the Bayes-optimal one.
"""

from __future__ import annotations

import numpy as np

from lecture_admin.grading.hidden import Credit, Harness, band, behaviour, hidden
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


# ---------------------------------------------------------------- 4.5: RL^2 on correlated arms, graded on behaviour

_RL2_HARNESS = r"""
def __harness(fn, p_good, p_bad, horizon, seed):
    import numpy as np
    w = fn(p_good, p_bad, horizon, seed)
    if not isinstance(w, dict):
        return {"type": type(w).__name__}
    out = {}
    for k, v in w.items():
        if hasattr(v, "detach"):
            v = v.detach().cpu().double().numpy()
        try:
            out[str(k)] = np.asarray(v, dtype=np.float64)
        except (TypeError, ValueError):
            out[str(k)] = np.zeros(0)
    return {"type": "dict", "weights": out}
"""

# Bands of the fraction of the way from random to Bayes-optimal (4000 evaluation tasks: standard error ~0.01-0.02).
# Measured with the bench's 50 grading seeds (`lecture bench --behaviour --part 4.5 --seeds 50`), fraction of the
# way per seed, min / mean / max; seconds per grading on 2 shared, busy cores (about 6 s CPU of training):
#   solution               0.76 / 0.92 / 1.01   29 s   (median 0.95; 19 of 50 seeds settle at 0.76-0.90)
#   sign_flipped          -1.05 / -0.94 / -0.78  30 s
#   no_reward_in_input    -0.04 / -0.00 / 0.05   26 s
#   good_arm_always_arm_0 -0.05 / -0.01 / 0.04   22 s
# Full credit from 0.65 (0.11 below the solution's lowest), none below 0.35 (0.30 above the wrong versions' highest).
# A memoryless agent (hidden state reset every pull) can still win-stay-lose-shift: 0.32-0.71 on three families with
# a prototype of this solution, so mostly half credit.
RL2_BANDS = [(0.65, 1.0), (0.35, 0.5)]


def run_correlated_rl2(kernel, names: list[str]) -> Credit:
    from lecture_utils.selfcheck.sec04 import RL2_FULL, RL2_HALF, correlated_family, rl2_fraction

    assert [t for t, _ in RL2_BANDS] == [RL2_FULL, RL2_HALF]
    (name,) = names
    rng = case_rng(45)
    p_good, p_bad, horizon = correlated_family(rng)
    seed, eval_seed = (int(v) for v in rng.integers(1 << 31, size=2))
    out = Harness(kernel, name, _RL2_HARNESS, timeout=300.0)(p_good=p_good, p_bad=p_bad, horizon=horizon, seed=seed)
    if out.get("type") != "dict":
        raise CheckFailed(f"train_correlated_rl2 should return policy.state_dict() as a dict name -> array, got "
                          f"{out.get('type')}")
    frac, line = rl2_fraction(out["weights"], p_good, p_bad, horizon, eval_seed)
    credit = band(frac, RL2_BANDS)
    if credit == 0.0:
        raise CheckFailed(f"{line}: below {RL2_HALF:.2f}, no credit")
    return Credit(credit, f"{line}: {credit:.1f} of the points (bands {RL2_FULL:.2f} full, {RL2_HALF:.2f} half)")


hidden("4.5", library=("lecture_utils.rl2",), run=run_correlated_rl2)


def _wrong(old: str, new: str) -> str:
    """The solution's train_correlated_rl2 with one line changed (a documented wrong version)."""
    if old not in _RL2_REFERENCE:
        raise ValueError(f"wrong version: {old!r} is not in the reference")
    return _RL2_REFERENCE.replace(old, new)


# The solution's training function (kept in step with solutions/04_meta_rl_pomdp.ipynb by a test), from which the
# wrong versions are made by changing one line each.
_RL2_REFERENCE = r"""
def train_correlated_rl2(p_good, p_bad, horizon, seed, iters=300, batch=128):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    policy = CorrelatedRL2Policy().double()
    opt = torch.optim.Adam(policy.parameters(), lr=0.02)
    rows = torch.arange(batch)
    for it in range(iters):
        good = torch.randint(0, 2, (batch,), generator=gen)
        p = torch.full((batch, 2), float(p_bad), dtype=torch.float64)
        p[rows, good] = float(p_good)
        x = torch.zeros(batch, horizon, 4, dtype=torch.float64)
        actions = torch.zeros(batch, horizon, dtype=torch.long)
        rewards = torch.zeros(batch, horizon, dtype=torch.float64)
        h = None
        with torch.no_grad():
            for t in range(horizon):
                logits, h = policy(x[:, t:t + 1], h)
                p0 = torch.softmax(logits[:, 0], dim=-1)[:, 0]
                a = (torch.rand(batch, generator=gen, dtype=torch.float64) >= p0).long()
                r = (torch.rand(batch, generator=gen, dtype=torch.float64) < p[rows, a]).double()
                actions[:, t], rewards[:, t] = a, r
                if t + 1 < horizon:
                    x[rows, t + 1, a] = 1.0
                    x[:, t + 1, 2], x[:, t + 1, 3] = r, 1.0
        logp = torch.log_softmax(policy(x)[0], dim=-1)
        logp_a = logp.gather(-1, actions[..., None]).squeeze(-1)
        G = rewards.flip(1).cumsum(1).flip(1)
        adv = G - G.mean(0, keepdim=True)
        adv = adv / (adv.std() + 1e-8)
        entropy = -(logp.exp() * logp).sum(-1).mean()
        loss = -(logp_a * adv).mean() - 0.03 * (1 - it / iters) * entropy
        opt.zero_grad()
        loss.backward()
        opt.step()
    return {k: v.detach().numpy().copy() for k, v in policy.state_dict().items()}
"""

behaviour("4.5", notebook="04_meta_rl_pomdp.ipynb", names=("train_correlated_rl2",), wrong={
    # gradient descent on the return: the surrogate's sign flipped
    "sign_flipped": _wrong("loss = -(logp_a * adv).mean()", "loss = (logp_a * adv).mean()"),
    # the input carries the previous action and done flag but not the reward: nothing to infer the task from
    "no_reward_in_input": _wrong("x[:, t + 1, 2], x[:, t + 1, 3] = r, 1.0", "x[:, t + 1, 3] = 1.0"),
    # the hidden variable never varies in meta-training: arm 0 is always the good one
    "good_arm_always_arm_0": _wrong("good = torch.randint(0, 2, (batch,), generator=gen)",
                                    "good = torch.zeros(batch, dtype=torch.long)"),
})
