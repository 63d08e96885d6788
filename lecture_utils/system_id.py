"""Knowledge stored in a *model*: identify a real cart's physics from one episode, then train in simulation.

One target episode (the "1 shot") records positions x_0..x_T and the commands u_0..u_{T-1}. Replaying the
same commands in N candidate simulators and keeping the one whose positions match best identifies the
physics that matter (k/m, b/m and the delay); a policy trained on that simulator is the 1-shot policy.
"""

from __future__ import annotations

import numpy as np

from lecture_utils.domain_randomization import N_FEATURES, param_ranges, policy_action
from lecture_utils.dr_protocols import sample_params
from lecture_utils.envs.cart import rollout


def record_episode(theta, params, x0):
    """Run policies theta [B, 3] on carts params [B, 4] from x0 [B]; returns positions [B, T+1], actions [B, T]."""
    theta, params = np.asarray(theta, float), np.asarray(params, float)
    xs, us = [np.asarray(x0, float).copy()], []

    def act(t, x, v):
        us.append(policy_action(theta, np.stack([x, v], axis=1)))
        return us[-1]

    rollout(params, xs[0], act, on_step=lambda t, x, v: xs.append(x.copy()))
    return np.stack(xs, axis=1), np.stack(us, axis=1)


def replay_error(xs, us, candidates) -> np.ndarray:
    """Mean squared position error of each candidate simulator [N, 4] replaying one episode (xs [T+1], us [T])."""
    n = candidates.shape[0]
    err = np.zeros(n)

    def add_error(t, x, v):
        err[:] += (x - xs[t + 1]) ** 2

    rollout(candidates, np.full(n, xs[0]), lambda t, x, v: np.full(n, us[t]), horizon=us.shape[0], on_step=add_error)
    return err / us.shape[0]


def identify(xs, us, n_candidates: int = 4000, seed: int = 0) -> np.ndarray:
    """The candidate physics [4] (drawn from the widest two-sided range) that best replays the episode."""
    low, high = param_ranges(2.0, two_sided=True)
    candidates = sample_params(low, high, n_candidates, seed)
    return candidates[np.argmin(replay_error(np.asarray(xs, float), np.asarray(us, float), candidates))]




def one_shot_model_policy(theta, target_params, seeds, generations: int = 60):
    """The 1-shot protocol with a model: for each target setting [M, 4] and seed, run policy theta [3] once
    (start drawn from the seed), identify the physics, train a policy by ES on the identified simulator.

    Returns (identified [S, M, 4], policies [S, M, 3]); policies[s, m] is meant for target setting m.
    """
    from lecture_utils.domain_randomization import train_es
    from lecture_utils.envs.cart import sample_starts

    target_params = np.atleast_2d(np.asarray(target_params, float))
    m = target_params.shape[0]
    ident = []
    for s in seeds:
        x0 = sample_starts(m, np.random.default_rng(s))
        xs, us = record_episode(np.tile(np.asarray(theta, float), (m, 1)), target_params, x0)
        ident.append([identify(xs[i], us[i], seed=1000 * s + i) for i in range(m)])
    ident = np.array(ident)  # [S, M, 4]
    runs = [p[None] for p in ident.reshape(-1, 4)]  # each run trains on its one identified simulator
    policies = train_es(runs, seeds=[7000 + i for i in range(len(runs))], generations=generations)
    return ident, policies.reshape(len(seeds), m, N_FEATURES)
