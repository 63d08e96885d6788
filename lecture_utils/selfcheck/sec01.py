"""Checks for homework 01 (transfer and shots): the domain-randomization sampler, the 0-shot and k-shot
evaluation protocols, and the narrowest range that covers the target domain."""

from __future__ import annotations

import numpy as np

import lecture_utils.domain_randomization as dr
from lecture_utils.envs.cart import sample_starts
from lecture_utils.selfcheck.core import CheckFailed, as_array, call, case_rng, check, expect_close, expect_shape


def _fraction_of_range(s, low, high, log):
    """Where each sample lies in its range, 0 at low and 1 at high (in log space for log columns)."""
    if log:
        return np.log(s / low) / np.log(high / low)
    return (s - low) / (high - low)


@check("1.1", "domain-randomization sampler", points=2)
def check_sampler(sample_params) -> None:
    rng = case_rng(101)
    for p, n in ((1, 5), (3, 4000), (4, 1), (6, 5000)):
        low = rng.uniform(0.1, 1.0, p)
        high = low * rng.uniform(20.0, 60.0, p)  # wide ranges: uniform and log-uniform differ a lot
        log = np.arange(p) % 2 == 0 if p > 1 else np.array([bool(rng.integers(2))])
        seed = int(rng.integers(1_000_000))
        args = (low.copy(), high.copy(), n)
        case = f"P={p} parameters, n={n}"
        s = expect_shape(call(sample_params, *args, seed, log.copy()), (n, p), f"sample_params(..., n={n}) [{case}]")
        if not np.all(np.isfinite(s)):
            raise CheckFailed(f"samples contain NaN or inf ({case})")
        if np.any(s < low * (1 - 1e-9)) or np.any(s > high * (1 + 1e-9)):
            raise CheckFailed(f"some samples lie outside [low, high] ({case})")
        again = as_array(call(sample_params, *args, seed, log.copy()), "sample_params")
        if not np.array_equal(s, again):
            raise CheckFailed(f"the same seed gave different samples ({case}): draw from np.random.default_rng(seed)")
        other = as_array(call(sample_params, *args, seed + 1, log.copy()), "sample_params")
        if n * p > 1 and np.array_equal(s, other):
            raise CheckFailed(f"different seeds gave identical samples ({case})")
        g1, g2 = np.random.default_rng(seed), np.random.default_rng(seed)
        if not np.array_equal(as_array(call(sample_params, *args, g1, log.copy()), "sample_params"),
                              as_array(call(sample_params, *args, g2, log.copy()), "sample_params")):
            raise CheckFailed(f"two Generators with the same seed gave different samples ({case})")
        if n < 1000:
            continue
        q = np.stack([_fraction_of_range(s[:, j], low[j], high[j], log[j]) for j in range(p)], axis=1)
        for j in range(p):
            kind = "log-uniform (log_scale=True)" if log[j] else "uniform (log_scale=False)"
            qj = q[:, j]
            ok = abs(qj.mean() - 0.5) < 0.04 and abs(np.mean(qj < 0.25) - 0.25) < 0.04 and np.mean(qj > 0.9) > 0.06
            if not ok:
                raise CheckFailed(f"column {j} should be {kind} between low and high, but its samples are not "
                                  f"spread evenly ({'in log space' if log[j] else 'in linear space'}) ({case})")
        corr = np.corrcoef(q.T)[np.triu_indices(p, 1)]
        if np.max(np.abs(corr)) > 0.1:
            raise CheckFailed(f"columns are correlated (|corr| up to {np.max(np.abs(corr)):.2f}): draw every "
                              f"parameter independently ({case})")
    low, high = np.array([0.5, 2.0, 0.0]), np.array([0.5, 8.0, 3.0])
    s = expect_shape(call(sample_params, low.copy(), high.copy(), 50, 7, np.array([True, True, False])), (50, 3),
                     "sample_params (a range with low == high)")
    if not np.allclose(s[:, 0], 0.5):
        raise CheckFailed("a parameter with low == high must always take that value")


@check("1.2", "0-shot evaluation protocol", points=1)
def check_target_return(target_return) -> None:
    rng = case_rng(202)
    low, high = dr.param_ranges(1.5)
    for m, n in ((1, 1), (2, 5), (4, 16), (3, 8)):
        theta = rng.normal(0.0, 3.0, size=3) - np.array([4.0, 3.0, 1.0])
        params = dr.sample_params(low, high, m, rng)
        seed = int(rng.integers(100_000))
        got = call(target_return, theta.copy(), params.copy(), n, seed)
        if np.ndim(got) != 0:
            raise CheckFailed(f"target_return should return one number, got shape {np.shape(got)}")
        want = dr.target_return(theta, params, n, seed)
        expect_close(got, want, "target_return", rtol=1e-6, atol=1e-6, case=f"{m} target settings, {n} episodes")


@check("1.3", "k-shot evaluation protocol", points=2)
def check_shot_curve(shot_curve) -> None:
    rng = case_rng(303)
    low, high = dr.param_ranges(1.0)
    for m, shots in ((1, [0, 2, 4]), (3, [0, 1, 2, 5, 8]), (2, [0, 6])):
        theta0 = rng.normal(0.0, 2.0, size=3) - np.array([3.0, 3.0, 0.0])
        params = dr.sample_params(low, high, m, rng)
        seed = int(rng.integers(100_000))
        got = call(shot_curve, theta0.copy(), params.copy(), list(shots), seed)
        want = dr.shot_curve(theta0, params, shots, seed)
        case = f"{m} target settings, shots={shots}"
        g = expect_shape(got, want.shape, f"shot_curve [{case}]")
        if not np.isclose(g[0], want[0], rtol=1e-6, atol=1e-6):
            raise CheckFailed(f"the 0-shot value is off by {abs(g[0] - want[0]):.3g} ({case}): with 0 shots the "
                              "policy is theta0 itself, evaluated on each target setting")
        if not np.allclose(g, want, rtol=1e-6, atol=1e-6):
            raise CheckFailed(f"0 shots is right but the values after k > 0 shots are off (max abs error "
                              f"{np.max(np.abs(g - want)):.3g}, {case}): use one batched dr.finetune call for all "
                              "settings, take thetas[k], and evaluate thetas[k, m] on setting m only")


def _random_targets(rng, m, wrong_side: bool, delay_heavy: bool = False) -> np.ndarray:
    """m target settings [m, 4] on the reality side of the source (one entry flipped if wrong_side)."""
    w = rng.uniform(0.05, 1.8, size=(m, 4))
    if delay_heavy:  # the delay is what needs the widest range
        w[:, :3] *= 0.3
    log_p = np.log(dr.SOURCE_PARAMS[:3]) + dr.REALITY_DIRECTION[:3] * w[:, :3] * np.log(dr.SPREAD[:3])
    p = np.concatenate([np.exp(log_p), np.minimum(dr.SPREAD[3] * w[:, 3:] * 0.6, 5.0)], axis=1)
    if wrong_side:
        i, j = rng.integers(m), rng.integers(3)
        p[i, j] = dr.SOURCE_PARAMS[j] ** 2 / p[i, j]  # mirror it to the other side of the source
    return p


@check("1.4", "narrowest range covering the target", points=2)
def check_coverage_width(coverage_width) -> None:
    rng = case_rng(404)
    for m, wrong_side, delay_heavy in ((1, False, False), (4, False, False), (3, True, False), (5, False, False),
                                       (2, True, False), (3, False, True)):
        p = _random_targets(rng, m, wrong_side, delay_heavy)
        for two_sided in (False, True):
            case = f"{m} target settings, two_sided={two_sided}"
            got = call(coverage_width, p.copy(), two_sided)
            if np.ndim(got) != 0:
                raise CheckFailed(f"coverage_width should return one number, got shape {np.shape(got)} ({case})")
            want = dr.coverage_width(p, two_sided)
            if np.isinf(want) or np.isinf(float(got)):
                if float(got) != want:
                    raise CheckFailed(f"coverage_width is {float(got):.3g} ({case}), but "
                                      + ("no width covers this target" if np.isinf(want) else "a finite width does"))
                continue
            expect_close(got, want, "coverage_width", rtol=1e-6, atol=1e-9, case=case)


# ---------------------------------------------------------------- 1.5 automatic domain randomization

ADR_CAP = np.array([2.0, 2.0, 2.0, 1.25])  # largest width per parameter (the delay: 5 steps = MAX_DELAY - 1)
ADR_MARGIN = 8.0  # how far above t_high the measured return at an edge below its cap may lie (ADR's own noise)
# ... and how far below t_low at a grown edge. Measured on 50 grading seeds: the solution's lowest edge is at least
# 0.1 above t_low, an ADR that scores its edges on carts drawn from the whole range (nothing pinned) 7.7 below.
ADR_MARGIN_LOW = 4.0
# Credit from the fraction of the way the policy gets from the source-only policy to one trained on the unseen
# carts themselves. Measured over 50 grading seeds (lecture bench --behaviour --part 1.5): the solution's fraction
# is 0.61 .. 1.00 (mean 0.86), the source-only-trained wrong version's at most 0.04.
ADR_BANDS = [(0.5, 1.0), (0.3, 0.5)]
ADR_SHIFT = 10.0  # the second run's thresholds are this much higher ...
ADR_RESPONSE = 0.2  # ... and its ranges' total width must be at least this much narrower


def adr_widths(low, high) -> np.ndarray:
    """The width of each returned range towards reality, in the lecture's units (log_SPREAD factors, or
    SPREAD delay steps); NaN where a range does not start at the source or grows the wrong way."""
    src = dr.SOURCE_PARAMS
    edge = np.where(dr.REALITY_DIRECTION > 0, high, low)
    other = np.where(dr.REALITY_DIRECTION > 0, low, high)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(dr.LOG_SCALE, np.log(edge / src) / np.log(dr.SPREAD) * dr.REALITY_DIRECTION,
                     (edge - src) / dr.SPREAD)
    return np.where(np.isclose(other, src, rtol=1e-6, atol=1e-9) & (w > -1e-9), np.maximum(w, 0.0), np.nan)


def adr_physics(z) -> np.ndarray:
    """Widths z [N, 4] (towards reality) -> physics [N, 4]."""
    z = np.asarray(z, float)
    log_p = np.log(np.maximum(dr.SOURCE_PARAMS, 1e-12)) + dr.REALITY_DIRECTION * z * np.log(dr.SPREAD)
    return np.where(dr.LOG_SCALE, np.exp(log_p), dr.SOURCE_PARAMS + dr.SPREAD * z)


def adr_case(rng) -> dict:
    """One grading case: the ADR thresholds, the seed, and unseen 'real' carts on the reality side."""
    t_high = float(np.round(rng.uniform(38.0, 48.0), 1))
    lo = rng.uniform(0.3, 0.6, size=4)
    z = lo + rng.uniform(size=(24, 4)) * 0.45
    return {"seed": int(rng.integers(1_000_000)), "t_low": t_high - 10.0, "t_high": t_high,
            "unseen": adr_physics(z), "ref_seed": int(rng.integers(1_000_000)), "eval_seed": int(rng.integers(1 << 30))}


def _adr_run(adr_train, seed: int, t_low: float, t_high: float):
    out = call(adr_train, seed, t_low, t_high)
    if not isinstance(out, (tuple, list)) or len(out) != 3:
        raise CheckFailed("adr_train should return (theta, low, high)")
    theta = expect_shape(out[0], (3,), "theta")
    low, high = expect_shape(out[1], (4,), "low"), expect_shape(out[2], (4,), "high")
    if not (np.all(np.isfinite(theta)) and np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
        raise CheckFailed("theta, low or high contain NaN or inf")
    w = adr_widths(low, high)
    if np.any(np.isnan(w)):
        j = int(np.flatnonzero(np.isnan(w))[0])
        raise CheckFailed(f"the {dr.PARAM_NAMES[j]} range [{low[j]:.3g}, {high[j]:.3g}] should start at the source "
                          f"value {dr.SOURCE_PARAMS[j]:.3g} and grow towards reality only")
    if np.any(w > ADR_CAP + 1e-6):
        j = int(np.argmax(w - ADR_CAP))
        raise CheckFailed(f"the {dr.PARAM_NAMES[j]} range has width {w[j]:.2f}, beyond the cap {ADR_CAP[j]:.2f}")
    return theta, w


def adr_measure(adr_train, case: dict) -> tuple[float, str]:
    """Train with the student's ADR (twice: the case's thresholds, then ones ADR_SHIFT higher); raise CheckFailed
    where the ranges do not behave like ADR's; otherwise return the fraction of the way from the source-only
    policy to the unseen-carts policy (first run), and one line about it."""
    t_low, t_high = case["t_low"], case["t_high"]
    theta, w = _adr_run(adr_train, case["seed"], t_low, t_high)
    rng = np.random.default_rng(case["eval_seed"])
    n = 128
    for j in range(4):  # the defining property of ADR: a range only grew while the policy coped at its edge (so a
        # grown edge is not far below t_low, even at its cap), and it stopped below its cap because it did not cope
        # any more (so it is not far above t_high)
        z = rng.uniform(size=(n, 4)) * w
        z[:, j] = w[j]
        r = float(dr.episode_returns(np.tile(theta, (n, 1)), adr_physics(z), sample_starts(n, rng)).mean())
        too_low = w[j] > 0.05 and r < t_low - ADR_MARGIN_LOW
        too_high = w[j] < ADR_CAP[j] - 0.05 and r > t_high + ADR_MARGIN
        if too_low or too_high:
            side = "below t_low" if too_low else "above t_high"
            raise CheckFailed(f"at your {dr.PARAM_NAMES[j]} boundary ({w[j]:.2f} widths) the policy returns {r:.1f}, "
                              f"far {side} (t_low={t_low:g}, t_high={t_high:g}): ADR should have "
                              + ("narrowed" if too_low else "widened") + " that range")
    if np.all(w < 0.05):
        raise CheckFailed("no range grew: the policy copes at the source, so its boundaries should have widened")
    _, w_hard = _adr_run(adr_train, case["seed"], t_low + ADR_SHIFT, t_high + ADR_SHIFT)
    if np.sum(w) - np.sum(w_hard) < ADR_RESPONSE:
        raise CheckFailed(f"with thresholds {ADR_SHIFT:g} higher your ranges should narrow, but their total width went "
                          f"from {np.sum(w):.2f} to {np.sum(w_hard):.2f}: let each boundary's return decide its width")
    src, target = dr.train_es([dr.SOURCE_PARAMS[None], case["unseen"]], [case["ref_seed"], case["ref_seed"] + 1],
                              generations=60)
    r_src, r_tgt, r_you = (float(dr.target_returns_each(t, case["unseen"]).mean()) for t in (src, target, theta))
    frac = (r_you - r_src) / max(r_tgt - r_src, 1e-9)
    return frac, (f"0-shot return on unseen carts {r_you:.1f}: {frac:.2f} of the way from the source-only policy "
                  f"({r_src:.1f}) to one trained on those carts ({r_tgt:.1f})")


@check("1.5", "automatic domain randomization", points=6)
def check_adr(adr_train) -> None:
    frac, line = adr_measure(adr_train, adr_case(case_rng(505)))
    if frac < ADR_BANDS[0][0]:
        raise CheckFailed(line + f"; full credit needs {ADR_BANDS[0][0]:.2f}")
