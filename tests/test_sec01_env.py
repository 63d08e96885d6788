"""Section 01: the parameterised cart (Gymnasium env and batched version share one dynamics)."""

import numpy as np
import pytest

from lecture_utils.envs.cart import (
    DT,
    HORIZON,
    MAX_DELAY,
    SOURCE_PARAMS,
    BatchedCart,
    CartEnv,
    cart_step,
    check_params,
    sample_starts,
)


def test_episode_truncates_after_horizon_and_is_seeded():
    env = CartEnv(SOURCE_PARAMS)
    obs1, _ = env.reset(seed=3)
    obs2, _ = env.reset(seed=3)
    assert np.array_equal(obs1, obs2) and obs1.dtype == np.float32
    assert 0.5 <= abs(obs1[0]) <= 1.5 and obs1[1] == 0
    for t in range(HORIZON):
        obs, r, terminated, truncated, _ = env.step(np.array([0.3], dtype=np.float32))
        assert not terminated and truncated == (t == HORIZON - 1)
        assert 0.0 <= r <= 1.0


def test_single_and_batched_envs_agree():
    params = np.array([[1.0, 0.5, 1.0, 0.0], [2.2, 0.08, 0.5, 3.0], [0.5, 1.0, 2.0, 1.5]])
    batched = BatchedCart(params)
    x0 = np.array([1.0, -0.7, 1.2])
    obs_b, _ = batched.reset(options={"x0": x0})
    singles = [CartEnv(p) for p in params]
    obs_s = np.array([e.reset(options={"x0": x})[0] for e, x in zip(singles, x0)])
    np.testing.assert_allclose(obs_s, obs_b, rtol=1e-6)
    rng = np.random.default_rng(0)
    for _ in range(50):
        u = rng.uniform(-1, 1, size=3)
        obs_b, r_b, term_b, trunc_b, _ = batched.step(u)
        assert not term_b.any() and not trunc_b.any()
        for i, e in enumerate(singles):
            o, r, *_ = e.step(np.array([u[i]], dtype=np.float32))
            np.testing.assert_allclose(o, obs_b[i], rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(r, r_b[i], rtol=1e-5, atol=1e-6)


def test_known_values_of_one_step():
    # no delay: v' = v + dt (k u - b v) / m, x' = x + dt v'
    x, v, hist, r = cart_step(np.array([0.5]), np.array([1.0]), np.zeros((1, MAX_DELAY)), np.array([0.4]),
                              np.array([[2.0, 0.5, 3.0, 0.0]]))
    v_want = 1.0 + DT * (3.0 * 0.4 - 0.5 * 1.0) / 2.0
    np.testing.assert_allclose(v, [v_want])
    np.testing.assert_allclose(x, [0.5 + DT * v_want])
    np.testing.assert_allclose(r, np.exp(-((0.5 + DT * v_want) / 0.2) ** 2))


def test_delay_shifts_the_action_and_interpolates():
    params = np.array([[1.0, 0.0, 1.0, 2.0], [1.0, 0.0, 1.0, 1.5]])
    x, v, hist = np.zeros(2), np.zeros(2), np.zeros((2, MAX_DELAY))
    speeds = []
    for t in range(4):
        x, v, hist, _ = cart_step(x, v, hist, np.array([1.0, 1.0]) if t == 0 else np.zeros(2), params)
        speeds.append(v.copy())
    # delay 2: the push arrives at step 2; delay 1.5: half at step 1, half at step 2
    np.testing.assert_allclose([s[0] for s in speeds], [0, 0, DT, DT])
    np.testing.assert_allclose([s[1] for s in speeds], [0, DT / 2, DT, DT])


def test_actions_are_clipped_and_state_stays_in_bounds():
    params = np.array([[0.1, 0.0, 9.0, 0.0]])
    x, v, hist = np.zeros(1), np.zeros(1), np.zeros((1, MAX_DELAY))
    for _ in range(200):
        x, v, hist, _ = cart_step(x, v, hist, np.array([50.0]), params)
        assert hist[0, 0] == 1.0
    env = CartEnv(params[0])
    assert env.observation_space.contains(np.array([x[0], v[0]], dtype=np.float32))


def test_sample_starts_range_and_signs():
    x0 = sample_starts(1000, np.random.default_rng(0))
    assert x0.shape == (1000,)
    assert np.all((np.abs(x0) >= 0.5) & (np.abs(x0) <= 1.5))
    assert 0.4 < np.mean(x0 > 0) < 0.6


@pytest.mark.parametrize(
    "params, msg",
    [([1.0, 0.5, 1.0], "shape"), ([0.0, 0.5, 1.0, 0.0], "positive"), ([1.0, -0.1, 1.0, 0.0], "friction"),
     ([1.0, 0.5, 1.0, MAX_DELAY], "delay"), ([1.0, np.nan, 1.0, 0.0], "NaN")],
)
def test_clear_errors_for_bad_params(params, msg):
    with pytest.raises(ValueError, match=msg):
        check_params(params)
    with pytest.raises(ValueError, match=msg):
        CartEnv(params)


def test_batched_reset_checks_shape():
    env = BatchedCart(np.tile(SOURCE_PARAMS, (3, 1)))
    with pytest.raises(ValueError, match=r"x0 must have shape \[3\]"):
        env.reset(options={"x0": np.zeros(2)})
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"actions must have shape \[3\]"):
        env.step(np.zeros(2))
    with pytest.raises(ValueError, match=r"\[B, 4\]"):
        BatchedCart(SOURCE_PARAMS)


def test_rollout_equals_stepping_cart_step_bit_for_bit():
    from lecture_utils.envs.cart import rollout

    rng = np.random.default_rng(4)
    b = 64
    params = np.column_stack([rng.uniform(0.3, 3, b), rng.uniform(0, 1, b), rng.uniform(0.3, 3, b),
                              rng.uniform(0, MAX_DELAY - 1, b)])
    params[:4, 3] = [0.0, 1.0, MAX_DELAY - 1, 2.5]  # integer delays and the longest one
    x0, gains = sample_starts(b, rng), rng.normal(size=(b, 2)) * 5
    policy = lambda t, x, v: gains[:, 0] * x + gains[:, 1] * v + 0.3 * np.sin(t)  # pushes into the walls too
    x, v, hist, total, xs = x0.copy(), np.zeros(b), np.zeros((b, MAX_DELAY)), np.zeros(b), []
    for t in range(HORIZON):
        x, v, hist, r = cart_step(x, v, hist, policy(t, x, v), params)
        total += r
        xs.append(x)
    seen = []
    got = rollout(params, x0, policy, on_step=lambda t, x, v: seen.append(x.copy()))
    assert np.array_equal(got, total) and np.array_equal(np.array(seen), np.array(xs))


def test_rollout_checks_shapes():
    from lecture_utils.envs.cart import rollout

    with pytest.raises(ValueError, match=r"params \[B, 4\] and x0 \[B\]"):
        rollout(np.tile(SOURCE_PARAMS, (3, 1)), np.zeros(2), lambda t, x, v: x)
