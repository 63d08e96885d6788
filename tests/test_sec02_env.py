"""PlanarRunner (section 02): one dynamics function behind the Gymnasium and the batched versions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lecture_utils.envs import planar_runner as pr


def test_gym_and_batched_share_the_dynamics():
    env = pr.PlanarRunnerEnv(d_angle=0.3)
    obs, info = env.reset(seed=4)
    assert env.observation_space.contains(obs) and np.all(info["position"] == 0)
    state = pr.initial_state(1)
    actions = [5, 11, 3, 10, 2, 7, 15, 0]
    for a in actions:
        obs, r, terminated, truncated, info = env.step(a)
        state = pr.step_dynamics(state, torch.tensor([a]), torch.tensor([info["slip"]]))
        np.testing.assert_allclose(obs, pr.observe(state)[0].numpy(), atol=1e-6)
        np.testing.assert_allclose(r, float(pr.reward(state, pr.direction(0.3))[0]), atol=1e-6)
    assert not terminated and not truncated


def test_gym_reset_seed_reproduces_and_truncates_at_horizon():
    def run(seed):
        env = pr.PlanarRunnerEnv()
        env.reset(seed=seed)
        out = [env.step(3 + 8 * (t % 2)) for t in range(pr.HORIZON)]
        return np.array([o[0] for o in out]), out[-1][3]

    a, trunc = run(1)
    b, _ = run(1)
    c, _ = run(2)
    assert trunc and np.array_equal(a, b) and not np.array_equal(a, c)


def test_top_speed_with_alternating_feet_and_stumbling():
    state = pr.initial_state(2)
    for t in range(60):  # runner 0 alternates feet, runner 1 always pushes with the left foot
        a = torch.tensor([3 + 8 * (t % 2), 3])
        state = pr.step_dynamics(state, a)
    speed = state[:, 2:4].norm(dim=-1)
    assert speed[0] == pytest.approx(pr.THRUST / pr.DRAG, abs=1e-4)  # top speed 1
    assert speed[1] == pytest.approx(0.0, abs=1e-6)  # first push works, then only stumbles; drag stops it
    assert state[0, 1].abs() < 1e-4 and state[0, 0] > 40  # ran east in a straight line


def test_turns_are_relative_to_heading_and_observation_is_body_frame():
    s = pr.step_dynamics(pr.initial_state(1), torch.tensor([5]))  # left 90 with the left foot: now facing north
    assert float(s[0, 4]) == pytest.approx(math.pi / 2)
    np.testing.assert_allclose(s[0, 2:4].numpy(), [0.0, pr.THRUST], atol=1e-7)
    o = pr.observe(s)[0].numpy()
    np.testing.assert_allclose(o, [0.0, 1.0, pr.THRUST, 0.0, -1.0], atol=1e-6)  # forward speed, no sideways
    s2 = pr.step_dynamics(s, torch.tensor([15]))  # turn back, right foot: heading wraps into [-pi, pi)
    assert -math.pi <= float(s2[0, 4]) < math.pi


def test_rewards():
    s = torch.tensor([[0.0, 0.0, 0.6, 0.8, 0.0, 1.0]])
    assert float(pr.reward(s)) == pytest.approx(1.0)
    assert float(pr.reward(s, pr.direction(0.0))) == pytest.approx(0.6)
    assert float(pr.reward(s, pr.direction(math.pi))) == pytest.approx(-0.6)
    with pytest.raises(ValueError, match="last dimension 2"):
        pr.reward(s, torch.ones(3))


def test_batched_env_api():
    env = pr.BatchedPlanarRunner(7, pr.direction(1.0))
    obs, _ = env.reset()
    assert obs.shape == (7, pr.OBS_DIM)
    for _ in range(pr.HORIZON):
        obs, r, term, trunc, _ = env.step(torch.randint(0, pr.N_ACTIONS, (7,)))
    assert r.shape == (7,) and not term.any() and trunc.all()
    with pytest.raises(ValueError, match="at least one"):
        pr.BatchedPlanarRunner(0)


@pytest.mark.parametrize(
    "state, action, err, msg",
    [
        (torch.zeros(3, 5), torch.zeros(3, dtype=torch.long), ValueError, "shape \\[batch, 6\\]"),
        (torch.zeros(3, 6), torch.zeros(2, dtype=torch.long), ValueError, "one per runner"),
        (torch.zeros(3, 6), torch.zeros(3), TypeError, "integers"),
        (torch.zeros(3, 6), torch.tensor([0, 1, 16]), ValueError, "0..15"),
    ],
)
def test_step_dynamics_rejects_bad_input(state, action, err, msg):
    with pytest.raises(err, match=msg):
        pr.step_dynamics(state, action)


def test_gym_rejects_bad_actions():
    env = pr.PlanarRunnerEnv()
    env.reset(seed=0)
    for bad in (16, -1, 2.5, True):
        with pytest.raises(ValueError, match="integer in 0..15"):
            env.step(bad)
    assert env.action_space.n == 16 and len(pr.ACTION_NAMES) == 16
