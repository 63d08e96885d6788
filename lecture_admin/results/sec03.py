"""Headline numbers of section 03 (successor features), computed by the code the notebook runs."""

from __future__ import annotations

import numpy as np

from lecture_utils import successor_features as sf
from lecture_utils.envs.gridworld import FourRooms

GAMMA = 0.95
N_TASKS = 200  # the notebook's 200 random new tasks (seed 1)


def _row(name, value, reference, reference_name):
    return {"section": "03", "name": name, "value": float(value), "reference": reference,
            "reference_name": reference_name}


def results() -> list[dict]:
    env = FourRooms()
    rng = np.random.default_rng(0)
    pi = np.full((env.n_states, env.n_actions), 1.0 / env.n_actions)
    w = np.array([1.0, 0.0, 0.0])
    psi = sf.psi_linear_solve(env.P, env.phi, pi, GAMMA)
    q_err = np.abs(sf.policy_evaluation(env.P, env.reward(w), pi, GAMMA) - sf.q_from_psi(psi, w)).max()

    # Monte-Carlo: coverage of the 99% intervals over 50 random (s, a) pairs x 3 features
    live = np.flatnonzero(~env.terminal)
    inside = []
    for i in range(50):
        s, a = int(rng.choice(live)), int(rng.integers(env.n_actions))
        mean, half, _ = sf.psi_monte_carlo(env, pi, GAMMA, s, a, n_episodes=2000, seed=i)
        inside.extend(np.abs(mean - psi[s, a]) <= half)

    _, _, td_rmse = sf.psi_td(env, pi, GAMMA, n_steps=5000, psi_exact=psi, seed=0)

    # Counter-example: greedy on Q'^pi vs the optimum (value iteration) for w' = (1, 0.9, 0)
    pi_a = sf.greedy(sf.value_iteration(env.P, env.reward(w), GAMMA))
    w_ab = np.array([1.0, 0.9, 0.0])
    greedy = sf.greedy(sf.q_from_psi(sf.psi_linear_solve(env.P, env.phi, pi_a, GAMMA), w_ab))
    optimal = sf.greedy(sf.value_iteration(env.P, env.reward(w_ab), GAMMA))

    policies, psis = sf.family(env, np.eye(env.d), GAMMA)
    tasks = sf.random_tasks(N_TASKS, env.d, seed=1)
    res = sf.compare_on_tasks(env, policies, psis, tasks, GAMMA)
    norm_gpi = sf.normalized(res["gpi"], res["random"], res["optimal"])
    norm_best = sf.normalized(res["family"].max(axis=1), res["random"], res["optimal"])
    never_worse = np.all(res["gpi"][:, None] >= res["family"] - 1e-10, axis=1)
    from_gpi, from_scratch = sf.finetune_curves(env, psis, tasks, GAMMA, n_iter=10)
    steps = lambda c: np.argmax(c >= 1 - 1e-9, axis=1).mean()  # noqa: E731
    ql_steps, ql_gpi, ql_zero = sf.q_learning_curves(env, psis, tasks[:10], GAMMA, lr=0.2, epsilon=0.1)

    return [
        _row("max |Q^pi - w^T psi^pi| (direct evaluation vs SF)", q_err, 1e-8, "upper bound"),
        _row("MC psi: fraction of 99% intervals containing exact (150)", np.mean(inside), 0.99, "nominal coverage"),
        _row("TD psi: RMS error after 320k transitions", td_rmse[-1], 0.0, "exact (linear solve)"),
        _row("counter-example: return of greedy on Q'^pi", sf.policy_return(env, greedy, w_ab, GAMMA),
             sf.policy_return(env, optimal, w_ab, GAMMA), "optimal (value iteration)"),
        _row(f"GPI mean normalized return ({N_TASKS} new tasks)", norm_gpi.mean(), 0.95, "aim (1 = optimal)"),
        _row("best single family policy, mean normalized return", norm_best.mean(), float(norm_gpi.mean()),
             "GPI (must not be lower)"),
        _row("GPI min normalized return over tasks", norm_gpi.min(), 1.0, "optimal"),
        _row("fraction of tasks with GPI >= every family policy", never_worse.mean(), 1.0, "GPI theorem"),
        _row("policy-iteration steps to optimal, from GPI", steps(from_gpi), float(steps(from_scratch)),
             "from scratch"),
        _row(f"Q-learning from GPI: normalized return after {ql_steps[-1]} steps", ql_gpi[:, -1].mean(),
             float(ql_zero[:, -1].mean()), "Q-learning from scratch"),
    ]
