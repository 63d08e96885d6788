"""Domain randomization (CAD2RL, "Key: Diversity") on the parameterised cart of `lecture_utils.envs.cart`.

- `param_ranges(width, two_sided)`: the simulator's ranges; width 0 is the single source setting, width 1
  reaches the "real" carts in `TARGET_PARAMS`, larger widths go beyond.
- `episode_returns`: run policies u = clip(theta . f(s)), f(s) = (x, v, v|v|), on many carts at once;
  `target_returns_each`: each policy on its own cart, on the fixed test starts.
- `train_es`: evolution strategies over the batched cart, many runs (widths x seeds) in one batch.
- `finetune`: random search in the target, the fine-tuning behind the k-shot protocol.

The functions that answer homework 01 live in `lecture_utils.dr_protocols` (so grading can hide them alone):
`sample_params` (log-uniform sampling in a range), `target_return` (the 0-shot protocol), `shot_curve` and
`shot_curves` (the k-shot protocol), `coverage_width`. They are still reachable here as `dr.sample_params`,
... : this module forwards those names to `dr_protocols` when they are first used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lecture_utils.envs.cart import MAX_DELAY, PARAM_NAMES, SOURCE_PARAMS, rollout, sample_starts

N_FEATURES = 3  # the policy's features: (x, v, v|v|)
# How far each parameter moves at width 1: a factor SPREAD^width (log scale) or SPREAD * width steps (delay).
SPREAD = np.array([3.0, 10.0, 3.0, 4.0])
LOG_SCALE = np.array([True, True, True, False])  # mass, friction, gain vary by factors; delay by steps
# Which way real hardware tends to differ from an idealised simulator: heavier, less friction, a weaker
# motor, a delayed actuator. One-sided ranges grow only that way; two-sided ranges grow both ways.
REALITY_DIRECTION = np.array([+1, -1, -1, +1])
# The "real" carts (target domain): never trained on, outside every range narrower than width ~0.92
# (`coverage_width(TARGET_PARAMS)`).
TARGET_PARAMS = np.array(
    [
        [2.2, 0.08, 0.50, 3.0],
        [2.6, 0.10, 0.60, 2.5],
        [1.8, 0.06, 0.45, 3.5],
        [2.4, 0.12, 0.55, 2.0],
        [2.0, 0.07, 0.40, 3.0],
    ]
)
EVAL_SEED = 12345  # the fixed start states every policy is evaluated on
N_EVAL = 32  # start states per target setting


def param_ranges(width: float, two_sided: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(low, high), each [4]: the simulator's parameter ranges at randomization `width` >= 0.

    Width 0 is the source setting alone. One-sided ranges grow from the source towards
    REALITY_DIRECTION; two-sided ranges grow both ways (delay cannot go below 0 either way).
    """
    if width < 0:
        raise ValueError(f"width must be >= 0, got {width}")
    up = np.where(LOG_SCALE, SOURCE_PARAMS * SPREAD**width, SOURCE_PARAMS + SPREAD * width)
    down = np.where(LOG_SCALE, SOURCE_PARAMS / SPREAD**width, SOURCE_PARAMS - SPREAD * width)
    if not two_sided:
        up = np.where(REALITY_DIRECTION > 0, up, SOURCE_PARAMS)
        down = np.where(REALITY_DIRECTION < 0, down, SOURCE_PARAMS)
    up[3] = min(up[3], MAX_DELAY - 1.0)  # the actuator buffer holds at most MAX_DELAY - 1 steps of delay
    return np.maximum(down, 0.0), up


def features(obs) -> np.ndarray:
    """Policy features f(s) = (x, v, v|v|): [B, 2] -> [B, 3]. v|v| lets the policy brake earlier at speed."""
    x, v = obs[..., 0], obs[..., 1]
    return np.stack([x, v, v * np.abs(v)], axis=-1)


def policy_action(theta, obs) -> np.ndarray:
    """Policy u = clip(theta . f(obs), -1, 1). theta: [B, 3], obs: [B, 2] -> u: [B]."""
    return np.clip(np.sum(theta * features(obs), axis=-1), -1.0, 1.0)


def episode_returns(theta, params, x0) -> np.ndarray:
    """Undiscounted return of one episode per row: theta [B, 3], params [B, 4], x0 [B] -> returns [B]."""
    theta, params, x0 = np.asarray(theta, float), np.asarray(params, float), np.asarray(x0, float)
    b = x0.shape[0]
    if theta.shape != (b, N_FEATURES) or params.shape != (b, len(PARAM_NAMES)) or x0.ndim != 1:
        raise ValueError(f"expected theta [B, 3], params [B, 4], x0 [B]; got {theta.shape}, {params.shape}, "
                         f"{x0.shape}")
    return rollout(params, x0, linear_policy(theta))


def linear_policy(theta):
    """`policy_action` for `rollout`: act(t, x, v) = theta . (x, v, v|v|) for B policies theta [B, 3] (rollout
    clips it), the same arithmetic as `policy_action` without stacking the features."""
    t0, t1, t2 = (np.ascontiguousarray(theta[:, j]) for j in range(N_FEATURES))
    return lambda t, x, v: t0 * x + t1 * v + t2 * (v * np.abs(v))


def target_returns_each(theta, params) -> np.ndarray:
    """Mean return of policy theta[b] on cart params[b] over the fixed test starts (N_EVAL starts from
    EVAL_SEED): theta [B, 3] (or one [3] for every cart), params [B, 4] -> [B]."""
    theta, params = np.atleast_2d(np.asarray(theta, float)), np.atleast_2d(np.asarray(params, float))
    b = params.shape[0]
    theta = np.broadcast_to(theta, (b, N_FEATURES))
    x0 = sample_starts(N_EVAL, np.random.default_rng(EVAL_SEED))
    ret = episode_returns(np.repeat(theta, N_EVAL, axis=0), np.repeat(params, N_EVAL, axis=0), np.tile(x0, b))
    return ret.reshape(b, N_EVAL).mean(axis=1)


def zero_shot_returns(thetas, target_params=TARGET_PARAMS) -> np.ndarray:
    """The 0-shot protocol (`target_return`) for many policies at once: thetas [..., 3] -> [...], each policy's
    mean return over every target setting [M, 4] x the fixed test starts (one batched rollout)."""
    thetas = np.asarray(thetas, float)
    target_params = np.atleast_2d(np.asarray(target_params, float))
    if thetas.shape[-1:] != (N_FEATURES,) or target_params.shape[1:] != (len(PARAM_NAMES),):
        raise ValueError(f"expected thetas [..., 3] and target_params [M, 4]; got {thetas.shape}, "
                         f"{target_params.shape}")
    flat, m = thetas.reshape(-1, N_FEATURES), target_params.shape[0]
    ret = target_returns_each(np.repeat(flat, m, axis=0), np.tile(target_params, (flat.shape[0], 1)))
    return ret.reshape(thetas.shape[:-1] + (m,)).mean(axis=-1)


def _simulators(rng_or_set, n: int, rng: np.random.Generator, sampler) -> np.ndarray:
    """n simulator settings [n, 4]: sampled from a (low, high) range, or drawn from a fixed [M, 4] set."""
    if isinstance(rng_or_set, np.ndarray) and rng_or_set.ndim == 2:
        return rng_or_set[rng.integers(rng_or_set.shape[0], size=n)]
    low, high = rng_or_set
    params = np.asarray(sampler(low, high, n, rng, LOG_SCALE), dtype=float)
    if params.shape != (n, len(PARAM_NAMES)):
        raise ValueError(f"the sampler returned shape {params.shape}, expected [{n}, {len(PARAM_NAMES)}]")
    return params


def train_es(ranges, seeds, generations: int = 40, pairs: int = 8, n_params: int = 16, sigma: float = 0.5,
             lr: float = 0.4, sampler=None, progress=None) -> np.ndarray:
    """Evolution strategies (antithetic, centred ranks), R runs side by side in one batched cart.

    ranges: list of R (low, high) pairs, or [M, 4] arrays of fixed settings to draw from; seeds: R ints.
    Each generation every run draws n_params simulators from its range (with `sampler`, which has the
    signature of `sample_params`; None: the library's `dr_protocols.sample_params`) and scores 2 * pairs
    perturbed policies on all of them.
    Returns theta: [R, 3], the trained policies (run r trained on ranges[r] with seeds[r]).
    `progress`, e.g. `lecture_utils.progress`, wraps the loop over generations (a live bar in JupyterLab).
    """
    if sampler is None:
        from lecture_utils.dr_protocols import sample_params as sampler
    r_runs = len(ranges)
    rngs = [np.random.default_rng(s) for s in seeds]
    theta = np.zeros((r_runs, N_FEATURES))
    ranks = np.linspace(-0.5, 0.5, 2 * pairs)
    loop = range(generations) if progress is None else progress(range(generations), desc="ES generations")
    for _ in loop:
        eps = np.stack([g.normal(size=(pairs, N_FEATURES)) for g in rngs])  # [R, N, D]
        params = np.stack([_simulators(r, n_params, g, sampler) for r, g in zip(ranges, rngs)])  # [R, S, P]
        x0 = np.stack([sample_starts(n_params, g) for g in rngs])  # [R, S]
        cand = theta[:, None] + sigma * np.concatenate([eps, -eps], axis=1)  # [R, 2N, D]
        shape = (r_runs, 2 * pairs, n_params)
        ret = episode_returns(np.broadcast_to(cand[:, :, None], shape + (N_FEATURES,)).reshape(-1, N_FEATURES),
                              np.broadcast_to(params[:, None], shape + (4,)).reshape(-1, 4),
                              np.broadcast_to(x0[:, None], shape).reshape(-1)).reshape(shape).mean(axis=2)
        order = np.argsort(np.argsort(ret, axis=1), axis=1)
        w = ranks[order]  # centred ranks: robust to the scale of returns
        grad = np.einsum("rn,rnd->rd", w[:, :pairs] - w[:, pairs:], eps) / (pairs * sigma)
        theta = theta + lr * grad
    return theta


def finetune(theta0, params, episodes: int, seed: int, step: float = 0.3, sigma: float = 0.3) -> np.ndarray:
    """Random search in the target, one episode per shot. B independent fine-tuning runs side by side.

    theta0: [B, 3] starting policies; params: [B, 4] each run's target cart. Every two shots try
    theta +- sigma * eps from the same start state and step towards the better one (ARS, one direction).
    Returns thetas: [episodes + 1, B, 3]; thetas[k] is the policy after k target episodes.
    """
    theta = np.array(theta0, dtype=float)
    params = np.asarray(params, float)
    b = theta.shape[0]
    rng = np.random.default_rng(seed)
    out = [theta.copy()]
    for k in range(1, episodes + 1):
        if k % 2 == 0:  # a pair of episodes is done: update
            eps = rng.normal(size=(b, N_FEATURES))
            x0 = sample_starts(b, rng)
            both = episode_returns(np.concatenate([theta + sigma * eps, theta - sigma * eps]),
                                   np.concatenate([params, params]), np.concatenate([x0, x0]))
            plus, minus = both[:b], both[b:]  # R(theta + sigma eps), R(theta - sigma eps): one batched call
            theta = theta + step * np.sign(plus - minus)[:, None] * eps
        out.append(theta.copy())
    return np.stack(out)


def episodes_to_reach(shots, curve, level: float) -> float:
    """The first k in shots where curve (shape [len(shots)]) reaches `level`; inf if it never does."""
    hit = np.nonzero(np.asarray(curve) >= level)[0]
    return float(shots[hit[0]]) if hit.size else float("inf")


@dataclass
class Sweep:
    """Policies trained by `train_sweep`: theta arrays of shape [W, S, 3] (widths x seeds) and [S, 3]."""

    widths: np.ndarray
    one_sided: np.ndarray
    two_sided: np.ndarray
    target_trained: np.ndarray


def train_sweep(widths, n_seeds: int = 3, generations: int = 60, progress=None) -> Sweep:
    """Train every (family, width, seed) policy, and the target-trained limit, in one batched ES run."""
    widths = np.asarray(widths, dtype=float)
    runs, seeds = [], []
    for two_sided in (False, True):
        for i, w in enumerate(widths):
            for s in range(n_seeds):
                runs.append(param_ranges(w, two_sided))
                seeds.append(1000 + 10 * i + s)  # the same seed for both families: width 0 is one policy
    runs += [TARGET_PARAMS] * n_seeds
    seeds += [5000 + s for s in range(n_seeds)]
    # A run is its (range, seed): train each distinct one once (width 0 is the same run in both families).
    # Runs do not interact in the batch, so this changes no number.
    distinct, index = [], []
    for rng_or_set, seed in zip(runs, seeds):
        same = [j for j, (r, s) in enumerate(distinct)
                if s == seed and all(np.array_equal(a, b) for a, b in zip(r, rng_or_set))]
        index.append(same[0] if same else len(distinct))
        if not same:
            distinct.append((rng_or_set, seed))
    theta = train_es([r for r, _ in distinct], [s for _, s in distinct], generations=generations,
                     progress=progress)[index]
    n_w = len(widths) * n_seeds
    shape = (len(widths), n_seeds, N_FEATURES)
    return Sweep(widths, theta[:n_w].reshape(shape), theta[n_w:2 * n_w].reshape(shape), theta[2 * n_w:])


_PROTOCOLS = ("sample_params", "target_return", "shot_curve", "shot_curves", "coverage_width")


def __getattr__(name: str):
    """`dr.sample_params`, `dr.target_return`, ...: forwarded to `lecture_utils.dr_protocols` on first use."""
    if name in _PROTOCOLS:
        from lecture_utils import dr_protocols

        return getattr(dr_protocols, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
