"""Hidden tests for homework 01 (see hidden/__init__.py).

1.2 - 1.4 take and return plain data (arrays, ints, floats, bools): their public checks run as they are, with
the student's functions called remotely, on the grader's cases. 1.1's check also passes `np.random.Generator`
seeds (the sampler must accept them): a generator is not plain data, so it travels as its bit generator's state
(a JSON string) and a small harness rebuilds the same generator in the kernel before calling the student's
`sample_params`. The answering functions live in `lecture_utils.dr_protocols`, masked in the grading kernel;
the rest of `lecture_utils.domain_randomization` (the cart, `train_es`, `finetune`, `target_returns_each`)
stays available to the student.
"""

from __future__ import annotations

import json

import numpy as np

from lecture_admin.grading.hidden import Credit, Harness, RemoteFunction, band, behaviour, hidden
from lecture_utils.selfcheck.core import CheckFailed, case_rng, get_check

LIBRARY = ("lecture_utils.dr_protocols",)

# Kernel side: rebuild a Generator from its state when the grader sent one, then call the student's sampler.
SAMPLER_HARNESS = '''
def __harness(fn, low, high, n, seed, log_scale, generator=None):
    import json as _json

    import numpy as _np

    if generator is not None:
        seed = _np.random.Generator(getattr(_np.random, generator["bit_generator"])())
        seed.bit_generator.state = _json.loads(generator["state"])
    return fn(low, high, n, seed, log_scale)
'''


class RemoteSampler:
    """The student's sample_params(low, high, n, seed, log_scale), with `seed` an int or a np.random.Generator."""

    def __init__(self, kernel, name: str):
        self.__name__ = name
        self._harness = Harness(kernel, name, SAMPLER_HARNESS, timeout=60.0)

    def __call__(self, low, high, n, seed, log_scale):
        generator = None
        if isinstance(seed, np.random.Generator):
            state = seed.bit_generator.state
            generator = {"bit_generator": state["bit_generator"], "state": json.dumps(state)}
            seed = None
        elif isinstance(seed, np.integer):
            seed = int(seed)
        return self._harness(low=low, high=high, n=int(n), seed=seed, log_scale=log_scale, generator=generator)


def run_sampler(kernel, names) -> None:
    """1.1: the public check's properties (ranges, log-uniform vs uniform, independence, same seed or same
    Generator -> same samples) on the grader's cases, with Generators rebuilt in the kernel."""
    get_check("1.1").fn(RemoteSampler(kernel, names[0]))


hidden("1.1", library=LIBRARY, run=run_sampler)
hidden("1.2", library=LIBRARY)  # plain data: the public check, remotely, on the grader's cases
hidden("1.3", library=LIBRARY)
hidden("1.4", library=LIBRARY)


# ---------------------------------------------------------------- 1.5 automatic domain randomization (behaviour)

def run_adr(kernel, names) -> Credit:
    """1.5: the student's ADR trains in the kernel with the grader's thresholds and seed; here, its ranges must
    be ADR's (each boundary inside the caps where the returned policy's return lies near [t_low, t_high]) and
    its policy is measured 0-shot on unseen carts the grader draws, relative to the source-only policy and a
    policy trained on those carts (both trained here). Bands: sec01.ADR_BANDS, 1.0 / 0.5 / 0.
    Measured on 50 grading seeds (lecture bench --behaviour --part 1.5, seeds 1000 + 7919 i): the solution's
    fraction min 0.61 / mean 0.86 / max 1.00 (full credit from 0.5); trains_on_the_source max 0.04 (credit from
    0.3); thresholds_swapped and fixed_width_dr fail (a)/(b) on every seed; boundary_not_pinned fails (a) on
    every seed (its lowest grown edge 7.7 or more below t_low; the solution's at least 0.1 above). About 4.5 s CPU
    per grading (two ADR runs of 0.8 s, the two reference ES runs, the evaluations)."""
    from lecture_utils.selfcheck.sec01 import ADR_BANDS, adr_case, adr_measure

    fn = RemoteFunction(kernel, names[0], timeout=120.0)
    frac, line = adr_measure(fn, adr_case(case_rng(505)))
    fraction = band(frac, ADR_BANDS)
    if fraction == 0.0:
        raise CheckFailed(line + f"; credit starts at {ADR_BANDS[-1][0]:.2f}")
    return Credit(fraction, line)


hidden("1.5", library=LIBRARY, run=run_adr)

_ADR = '''
import numpy as np
import lecture_utils.domain_randomization as dr
from lecture_utils.envs.cart import MAX_DELAY, SOURCE_PARAMS, sample_starts


def adr_train(seed, t_low, t_high, generations=60, step=0.08, max_width=2.0):
    rng = np.random.default_rng(seed)
    cap = np.array([max_width, max_width, max_width, (MAX_DELAY - 1) / dr.SPREAD[3]])
    width = np.zeros(4)

    def to_params(z):
        log_p = np.log(np.maximum(SOURCE_PARAMS, 1e-12)) + dr.REALITY_DIRECTION * z * np.log(dr.SPREAD)
        return np.where(dr.LOG_SCALE, np.exp(log_p), SOURCE_PARAMS + dr.SPREAD * z)

    pairs, n_train, n_bound, sigma, lr = 8, 16, 16, 0.5, 0.4
    ranks = np.linspace(-0.5, 0.5, 2 * pairs)
    theta = np.zeros(3)
    for _ in range(generations):
        eps = rng.normal(size=(pairs, 3))
        cand = theta + sigma * np.concatenate([eps, -eps])
        train = to_params(rng.uniform(size=(n_train, 4)) * width)
        z = rng.uniform(size=(4, n_bound, 4)) * width
        z[np.arange(4), :, np.arange(4)] = width[:, None]
        bound = to_params(z.reshape(-1, 4))
        x_train, x_bound = sample_starts(n_train, rng), sample_starts(4 * n_bound, rng)
        ret = dr.episode_returns(np.concatenate([np.repeat(cand, n_train, axis=0), np.tile(theta, (4 * n_bound, 1))]),
                                 np.concatenate([np.tile(train, (2 * pairs, 1)), bound]),
                                 np.concatenate([np.tile(x_train, 2 * pairs), x_bound]))
        r_cand = ret[: 2 * pairs * n_train].reshape(2 * pairs, n_train).mean(axis=1)
        r_bound = ret[2 * pairs * n_train:].reshape(4, n_bound).mean(axis=1)
        w = ranks[np.argsort(np.argsort(r_cand))]
        theta = theta + lr * (w[:pairs] - w[pairs:]) @ eps / (pairs * sigma)
        width = np.where(r_bound >= t_high, np.minimum(width + step, cap), width)
        width = np.where(r_bound < t_low, np.maximum(width - step, 0.0), width)
    ends = to_params(np.stack([np.zeros(4), width]))
    return theta, ends.min(axis=0), ends.max(axis=0)
'''


def _variant(old: str, new: str) -> str:
    if _ADR.count(old) != 1:
        raise ValueError(f"wrong version: {old!r} is not in the reference once")
    return _ADR.replace(old, new)


behaviour("1.5", notebook="01_transfer_and_shots.ipynb", names=("adr_train",), wrong={
    # widens where the policy fails and narrows where it copes: the ranges never leave the source
    "thresholds_swapped": _variant("width = np.where(r_bound >= t_high, np.minimum(width + step, cap), width)\n"
                                   "        width = np.where(r_bound < t_low, np.maximum(width - step, 0.0), width)",
                                   "width = np.where(r_bound < t_low, np.minimum(width + step, cap), width)\n"
                                   "        width = np.where(r_bound >= t_high, np.maximum(width - step, 0.0), width)"),
    # boundaries scored on carts drawn from the whole range, nothing pinned at the edge: the ranges overshoot
    "boundary_not_pinned": _variant("        z[np.arange(4), :, np.arange(4)] = width[:, None]\n", ""),
    # the ranges grow, but ES keeps training on the source cart alone
    "trains_on_the_source": _variant("train = to_params(rng.uniform(size=(n_train, 4)) * width)",
                                     "train = to_params(np.zeros((n_train, 4)))"),
    # plain domain randomization at one fixed width (the lecture's one-sided width 1), thresholds ignored
    "fixed_width_dr": _ADR + '''

def adr_train(seed, t_low, t_high, generations=60, step=0.08, max_width=2.0):
    low, high = dr.param_ranges(1.0)
    return dr.train_es([(low, high)], [seed], generations=generations, sampler=_sampler)[0], low, high


def _sampler(low, high, n, rng, log_scale):
    u = rng.uniform(size=(n, 4))
    lo, hi = np.log(np.maximum(low, 1e-12)), np.log(np.maximum(high, 1e-12))
    return np.where(log_scale, np.exp(lo + u * (hi - lo)), low + u * (high - low))
''',
})
