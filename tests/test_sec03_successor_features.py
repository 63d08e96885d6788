"""Unit tests for the four-rooms gridworld and lecture_utils.successor_features (section 03)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from lecture_utils import sf_plots  # noqa: E402
from lecture_utils import successor_features as sf  # noqa: E402
from lecture_utils.envs.gridworld import FourRooms  # noqa: E402

GAMMA = 0.95


@pytest.fixture(scope="module")
def env():
    return FourRooms()


@pytest.fixture(scope="module")
def fam(env):
    return sf.family(env, np.eye(env.d), GAMMA)


def uniform(env):
    return np.full((env.n_states, env.n_actions), 1.0 / env.n_actions)


# ---------------------------------------------------------------- the environment


def test_model_shapes_and_rows(env):
    S, A, d = env.n_states, env.n_actions, env.d
    assert (S, A, d) == (104, 4, 3)
    assert env.P.shape == (S, A, S) and env.phi.shape == (S, A, d)
    sums = env.P.sum(axis=2)
    np.testing.assert_allclose(sums[~env.terminal], 1.0)
    np.testing.assert_allclose(sums[env.terminal], 0.0)
    assert env.terminal.sum() == 6 and np.all(env.phi[env.terminal] == 0)
    np.testing.assert_allclose(env.start_dist.sum(), 1.0)
    assert np.all(env.start_dist[env.terminal] == 0)


def test_known_transition_next_to_an_object(env):
    s = env.index[(1, 2)]  # right of the top-left 'a'
    left = 3
    # intended move with prob 0.9 + slip 0.1 * 1/4 for the random direction that happens to be "left"
    np.testing.assert_allclose(env.phi[s, left], [0.925, 0, 0])
    np.testing.assert_allclose(env.P[s, 0, s], 0.9 + 0.025)  # up bumps into the wall: stay


def test_no_slip_is_deterministic():
    env = FourRooms(slip=0.0)
    assert set(np.unique(env.P)) <= {0.0, 1.0}


def test_gym_api_and_rollout(env):
    obs, info = env.reset(seed=3)
    assert env.observation_space.contains(obs) and not env.terminal[obs]
    assert isinstance(info["cell"][0], int)
    env.w = np.array([1.0, 2.0, 3.0])
    total, done, steps = 0.0, False, 0
    while not done and steps < 5000:
        obs, r, done, truncated, info = env.step(env.action_space.sample())
        assert r == pytest.approx(info["phi"] @ env.w) and not truncated
        total += r
        steps += 1
    assert done and total in (1.0, 2.0, 3.0)
    env.w = np.ones(3)
    o1 = env.reset(seed=5)[0]
    assert o1 == env.reset(seed=5)[0]
    obs, _ = env.reset(seed=0, options={"state": env.index[(1, 2)]})
    assert obs == env.index[(1, 2)]


def test_env_clear_errors(env):
    with pytest.raises(ValueError, match=r"w must have shape \(3,\)"):
        env.reward([1.0, 2.0])
    with pytest.raises(ValueError, match="slip"):
        FourRooms(slip=1.5)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action must be in 0..3"):
        env.step(7)
    with pytest.raises(RuntimeError, match="reset"):
        FourRooms().step(0)


def test_draw_one_call(env):
    fig, ax = plt.subplots()
    env.draw(ax, values=np.arange(env.n_states, dtype=float), policy=np.zeros(env.n_states, dtype=int),
             title="t", colorbar=True)
    env.draw(ax, policy=uniform(env))
    with pytest.raises(ValueError, match="values must have shape"):
        env.draw(ax, values=np.zeros(3))
    with pytest.raises(ValueError, match="policy must be"):
        env.draw(ax, policy=np.zeros((2, 2)))
    plt.close(fig)


# ---------------------------------------------------------------- the derivation


def test_psi_solve_matches_direct_evaluation(env):
    pi = uniform(env)
    psi = sf.psi_linear_solve(env.P, env.phi, pi, GAMMA)
    assert psi.shape == (env.n_states, env.n_actions, env.d)
    for w in (np.array([1.0, 0, 0]), np.array([0.3, -1.2, 0.7])):
        Q = sf.policy_evaluation(env.P, env.reward(w), pi, GAMMA)
        assert np.abs(Q - sf.q_from_psi(psi, w)).max() < 1e-8
    # psi is a discounted probability of ending on each object type: in [0, 1], summing to <= 1
    assert psi.min() >= -1e-12 and psi.sum(axis=2).max() <= 1 + 1e-12


def test_psi_known_values_gamma_zero_and_tiny_mdp():
    P = np.array([[[0.0, 1.0]], [[0.0, 1.0]]])  # 2 states, 1 action, state 1 absorbing
    phi = np.array([[[1.0]], [[2.0]]])
    psi = sf.psi_linear_solve(P, phi, np.ones((2, 1)), 0.5)
    np.testing.assert_allclose(psi[:, 0, 0], [1 + 0.5 * 4.0, 4.0])  # psi(1) = 2 / (1 - 0.5)
    np.testing.assert_allclose(sf.psi_linear_solve(P, phi, np.ones((2, 1)), 0.0), phi)


def test_psi_accepts_action_arrays(env, fam):
    policies, psis = fam
    np.testing.assert_allclose(sf.psi_linear_solve(env.P, env.phi, np.eye(4)[policies[0]], GAMMA), psis[0])


def test_sf_clear_errors(env):
    with pytest.raises(ValueError, match=r"gamma must be in \[0, 1\)"):
        sf.psi_linear_solve(env.P, env.phi, uniform(env), 1.0)
    with pytest.raises(ValueError, match="phi must have shape"):
        sf.psi_linear_solve(env.P, env.phi[:, :2], uniform(env), GAMMA)
    with pytest.raises(ValueError, match="pi must be"):
        sf.psi_linear_solve(env.P, env.phi, np.ones((3, 4)) / 4, GAMMA)
    with pytest.raises(ValueError, match="probability distribution"):
        sf.psi_linear_solve(env.P, env.phi, np.ones((env.n_states, 4)), GAMMA)
    with pytest.raises(ValueError, match=r"w must have shape \(3,\)"):
        sf.q_from_psi(np.zeros((5, 4, 3)), np.zeros(4))
    with pytest.raises(ValueError, match=r"\[n_policies, S, A, d\]"):
        sf.gpi_policy(np.zeros((5, 4, 3)), np.zeros(3))


def test_monte_carlo_interval_contains_exact(env):
    pi = uniform(env)
    psi = sf.psi_linear_solve(env.P, env.phi, pi, GAMMA)
    inside = []
    for i, cell in enumerate([(2, 2), (9, 3), (4, 8)]):
        s = env.index[cell]
        mean, half, G = sf.psi_monte_carlo(env, pi, GAMMA, s, 1, n_episodes=1500, seed=i)
        assert G.shape == (1500, 3) and half.shape == (3,)
        inside.append(np.abs(mean - psi[s, 1]) <= half)
    assert np.sum(inside) >= 7  # 9 intervals at 99%: a miss or two is allowed by chance, not many
    with pytest.raises(ValueError, match="terminal"):
        sf.psi_monte_carlo(env, pi, GAMMA, env.index[(4, 9)], 0)


def test_td_error_falls(env):
    pi = uniform(env)
    psi = sf.psi_linear_solve(env.P, env.phi, pi, GAMMA)
    est, steps, rmse = sf.psi_td(env, pi, GAMMA, n_steps=600, psi_exact=psi, eval_every=100)
    assert est.shape == psi.shape and len(steps) == len(rmse) == 6
    assert rmse[-1] < 0.75 * rmse[0]


def test_value_iteration_equals_policy_iteration(env):
    w = np.array([0.5, -0.2, 0.9])
    r = env.reward(w)
    Q_star = sf.value_iteration(env.P, r, GAMMA)
    pi_opt, visited = sf.policy_iteration(env.P, r, GAMMA, np.zeros(env.n_states, dtype=int))
    np.testing.assert_allclose(sf.state_values(env.P, r, pi_opt, GAMMA), Q_star.max(axis=1), atol=1e-9)
    assert len(visited) > 1


def test_greedy_on_q_prime_is_not_optimal(env):
    pi_a = sf.greedy(sf.value_iteration(env.P, env.reward([1.0, 0, 0]), GAMMA))
    w_ab = np.array([1.0, 0.9, 0.0])
    greedy = sf.greedy(sf.q_from_psi(sf.psi_linear_solve(env.P, env.phi, pi_a, GAMMA), w_ab))
    opt = sf.greedy(sf.value_iteration(env.P, env.reward(w_ab), GAMMA))
    r_pi, r_greedy, r_opt = (sf.policy_return(env, p, w_ab, GAMMA) for p in (pi_a, greedy, opt))
    assert r_pi <= r_greedy + 1e-12  # policy improvement
    assert r_greedy < r_opt - 0.01  # ... but not optimal


# ---------------------------------------------------------------- GPI


def test_gpi_hand_example():
    # two policies, one state, two actions: policy 0 is good at action 0, policy 1 at action 1
    psis = np.array([[[[1.0, 0.0], [0.0, 0.0]]], [[[0.0, 0.0], [0.0, 2.0]]]])  # [2, 1, 2, 2]
    assert sf.gpi_policy(psis, np.array([1.0, 0.0]))[0] == 0
    assert sf.gpi_policy(psis, np.array([1.0, 1.0]))[0] == 1
    np.testing.assert_allclose(sf.gpi_q(psis, np.array([1.0, 1.0])), [[1.0, 2.0]])


def test_gpi_never_worse_than_family_and_near_optimal(env, fam):
    policies, psis = fam
    tasks = sf.random_tasks(30, env.d, seed=11)
    res = sf.compare_on_tasks(env, policies, psis, tasks, GAMMA)
    assert res["family"].shape == (30, 3)
    assert np.all(res["gpi"][:, None] >= res["family"] - 1e-10)
    assert np.all(res["optimal"] >= res["gpi"] - 1e-10)
    assert sf.normalized(res["gpi"], res["random"], res["optimal"]).mean() > 0.9


def test_family_policies_optimal_for_base_tasks(env, fam):
    policies, psis = fam
    for k in range(env.d):
        w = np.eye(env.d)[k]
        Q_star = sf.value_iteration(env.P, env.reward(w), GAMMA)
        np.testing.assert_allclose(sf.q_from_psi(psis[k], w).max(axis=1), Q_star.max(axis=1), atol=1e-8)


def test_finetune_curves(env, fam):
    _, psis = fam
    from_gpi, from_scratch = sf.finetune_curves(env, psis, sf.random_tasks(5, env.d, seed=2), GAMMA, n_iter=8)
    assert from_gpi.shape == from_scratch.shape == (5, 9)
    np.testing.assert_allclose(from_gpi[:, -1], 1.0, atol=1e-9)
    assert from_gpi[:, 0].mean() > from_scratch[:, 0].mean()


def test_q_learning_shapes(env, fam):
    _, psis = fam
    w = np.array([0.5, -0.5, 0.2])
    Q, steps, rets = sf.q_learning(env, w, GAMMA, sf.gpi_q(psis, w), n_steps=50, eval_every=25)
    assert Q.shape == (env.n_states, env.n_actions) and steps.tolist() == [0, 400, 800] and rets.shape == (3,)


def test_gpi_figure(env, fam):
    policies, psis = fam
    fig = sf_plots.draw_gpi_vs_optimal(env, policies, psis, np.array([0.2, -0.4, 0.9]), GAMMA)
    assert len(fig.axes) == 3  # two panels and a colour bar
    plt.close(fig)


def test_q_learning_curves_shapes(env, fam):
    _, psis = fam
    steps, from_gpi, from_zero = sf.q_learning_curves(env, psis, sf.random_tasks(2, env.d, seed=4), GAMMA,
                                                      n_steps=40, eval_every=20)
    assert steps.tolist() == [0, 320, 640] and from_gpi.shape == from_zero.shape == (2, 3)
    assert from_gpi[:, 0].mean() > from_zero[:, 0].mean()


def test_below_power_of_ten():
    assert sf.below(1.3e-12) == "< 1e-11" and sf.below(3.3e-16) == "< 1e-15" and sf.below(0.0) == "= 0"
    assert sf.below(0.5) == "< 1e0"


def test_greedy_treats_round_off_differences_as_ties():
    """CPUs' kernels differ in the last bits: greedy must not let those bits pick the action."""
    assert sf.greedy(np.array([[1.0, 1.0 + 1e-12, 0.5]]))[0] == 0
    assert sf.greedy(np.array([[1.0, 1.0 + 1e-6, 0.5]]))[0] == 1


def test_q_learning_decaying_step_size_runs_and_stays_near_gpi_start():
    env = FourRooms(slip=0.1)
    _, psis = sf.family(env, np.eye(env.d), 0.95)
    w = np.array([0.5, -0.3, 0.8])
    _, _, returns = sf.q_learning(env, w, 0.95, sf.gpi_q(psis, w), n_steps=300, lr=0.5, decay=0.7,
                                  epsilon=0.1, eval_every=100)
    assert returns.shape == (4,) and np.all(np.isfinite(returns))
