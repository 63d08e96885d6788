"""The domain-randomization functions that answer homework 01 (1.1 - 1.4), apart from the rest of the library.

`sample_params` (1.1), `target_return` (1.2, the 0-shot protocol), `shot_curve` and its batched form
`shot_curves` (1.3, the k-shot protocol), `coverage_width` (1.4). They live here, not in
`lecture_utils.domain_randomization`, so that grading can hide this file alone: the homework still uses the
cart, `train_es`, `finetune` and `target_returns_each` from `domain_randomization`. Outside grading they are
also reachable as `dr.sample_params`, `dr.target_return`, ... (that module forwards these names here).
"""

from __future__ import annotations

import numpy as np

from lecture_utils.domain_randomization import (
    EVAL_SEED,
    LOG_SCALE,
    N_EVAL,
    N_FEATURES,
    REALITY_DIRECTION,
    SOURCE_PARAMS,
    SPREAD,
    TARGET_PARAMS,
    episode_returns,
    finetune,
    target_returns_each,
)
from lecture_utils.envs.cart import sample_starts


def sample_params(low, high, n: int, seed, log_scale=LOG_SCALE) -> np.ndarray:
    """n parameter vectors, shape [n, P]: uniform in [low, high], or log-uniform where log_scale is True.

    low, high, log_scale: [P]. `seed` is an int or a np.random.Generator (same seed -> same samples).
    """
    low, high = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    log_scale = np.asarray(log_scale, dtype=bool)
    if low.ndim != 1 or low.shape != high.shape or log_scale.shape != low.shape:
        raise ValueError(f"low, high, log_scale must be 1-D of one length, got {low.shape}, {high.shape}, "
                         f"{log_scale.shape}")
    if np.any(low > high) or np.any(log_scale & (low <= 0)):
        raise ValueError("need low <= high, and low > 0 where log_scale")
    rng = np.random.default_rng(seed)
    u = rng.uniform(size=(n, low.shape[0]))
    safe_low, safe_high = np.where(log_scale, low, 1.0), np.where(log_scale, high, 1.0)
    log_sample = safe_low * (safe_high / safe_low) ** u  # exp(log low + u (log high - log low))
    return np.where(log_scale, log_sample, low + u * (high - low))


def target_return(theta, target_params=TARGET_PARAMS, n_episodes: int = N_EVAL, seed: int = EVAL_SEED) -> float:
    """0-shot protocol: mean return of policy theta [3] over every target setting [M, 4] x the same
    n_episodes start states (drawn once from `seed`), so every policy faces exactly the same test."""
    theta, target_params = np.asarray(theta, float), np.atleast_2d(np.asarray(target_params, float))
    m = target_params.shape[0]
    x0 = sample_starts(n_episodes, np.random.default_rng(seed))
    return float(np.mean(episode_returns(np.tile(theta, (m * n_episodes, 1)),
                                         np.repeat(target_params, n_episodes, axis=0), np.tile(x0, m))))


def shot_curve(theta0, target_params, shots, seed: int) -> np.ndarray:
    """k-shot protocol: mean target return after k target episodes, for each k in shots -> [len(shots)].

    Each target setting is fine-tuned on its own from theta0 (one batched `finetune` call), and the
    policy after k episodes on setting m is evaluated on setting m, on the fixed test starts.
    """
    target_params = np.atleast_2d(np.asarray(target_params, float))
    m = target_params.shape[0]
    thetas = finetune(np.tile(np.asarray(theta0, float), (m, 1)), target_params, max(shots), seed)
    return np.array([target_returns_each(thetas[k], target_params).mean() for k in shots])


def shot_curves(theta0, target_params, shots, seeds) -> np.ndarray:
    """shot_curve for B starting policies theta0 [B, 3] and several fine-tuning seeds, batched.

    Returns [B, len(seeds), len(shots)]: mean over the target settings of the return after k shots.
    """
    theta0, target_params = np.atleast_2d(np.asarray(theta0, float)), np.atleast_2d(np.asarray(target_params, float))
    b, m, n = theta0.shape[0], target_params.shape[0], len(seeds)
    out = np.empty((b, n, len(shots)))
    for j, seed in enumerate(seeds):
        thetas = finetune(np.repeat(theta0, m, axis=0), np.tile(target_params, (b, 1)), max(shots), seed)
        picked = thetas[list(shots)]  # [K, B * M, 3]
        ret = target_returns_each(picked.reshape(-1, N_FEATURES), np.tile(target_params, (len(shots) * b, 1)))
        out[:, j] = ret.reshape(len(shots), b, m).mean(axis=2).T
    return out


def coverage_width(target_params, two_sided: bool = False) -> float:
    """The smallest width w whose `param_ranges(w, two_sided)` contains every row of target_params [M, 4]
    (inf if no width does: a target on the wrong side of the source in a one-sided range)."""
    p = np.atleast_2d(np.asarray(target_params, float))
    if p.shape[1] != 4 or np.any(p[:, :3] <= 0):
        raise ValueError(f"target_params must be [M, 4] with positive mass, friction, gain; got shape {p.shape}")
    safe = np.where(LOG_SCALE, p, 1.0) / np.where(LOG_SCALE, SOURCE_PARAMS, 1.0)  # no log(0) for the delay
    step = np.where(LOG_SCALE, np.log(safe) / np.log(SPREAD), (p - SOURCE_PARAMS) / SPREAD)
    need = np.abs(step)
    if not two_sided:
        need = np.where(step * REALITY_DIRECTION < 0, np.inf, need)
    need[:, 3] = np.where(step[:, 3] < 0, np.inf, need[:, 3])  # delays below the source's never get covered
    return float(need.max())

