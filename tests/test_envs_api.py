"""Every environment in lecture_utils.envs follows one convention: single envs are Gymnasium envs
(env_checker, registered ids); batched envs follow the documented subset of the vector API."""

import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

import lecture_utils.envs
from lecture_utils.envs import planar_runner as pr
from lecture_utils.envs.cart import HORIZON as CART_HORIZON
from lecture_utils.envs.cart import SOURCE_PARAMS, BatchedCart, CartEnv
from lecture_utils.envs.gridworld import FourRooms
from lecture_utils.envs.point_nav import BatchedPointNav, PointNavEnv

SINGLE_ENVS = {
    "cart": lambda: CartEnv(SOURCE_PARAMS),
    "cart, delayed": lambda: CartEnv([2.0, 0.1, 0.5, 2.5]),
    "planar runner, speed": lambda: pr.PlanarRunnerEnv(),
    "planar runner, direction": lambda: pr.PlanarRunnerEnv(d_angle=1.0),
    "four rooms": lambda: FourRooms(),
    "four rooms, task": lambda: FourRooms(w=[1.0, -1.0, 0.5], slip=0.3),
    "point nav, fixed goal": lambda: PointNavEnv(goal=(0.3, -0.2)),
    "point nav, sampled goal": lambda: PointNavEnv(),
}


@pytest.mark.parametrize("make", SINGLE_ENVS.values(), ids=SINGLE_ENVS.keys())
def test_every_single_env_passes_the_gymnasium_checker_without_warnings(make):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(make(), skip_render_check=True)


def test_planar_runner_obs_stay_float32_in_a_float64_session():
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        check_env(pr.PlanarRunnerEnv(d_angle=0.5), skip_render_check=True)
    finally:
        torch.set_default_dtype(before)


def test_every_single_env_is_registered():
    classes = {CartEnv, pr.PlanarRunnerEnv, FourRooms, PointNavEnv}
    registered = {gym.spec(env_id).entry_point for env_id in lecture_utils.envs.ENV_IDS}
    assert registered == {f"{c.__module__}:{c.__name__}" for c in classes}


@pytest.mark.parametrize("env_id", sorted(lecture_utils.envs.ENV_IDS))
def test_gymnasium_make_builds_each_registered_env(env_id):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env = gym.make(env_id)
        obs, info = env.reset(seed=0)
        assert env.observation_space.contains(obs) and isinstance(info, dict)
        obs, r, terminated, truncated, info = env.step(env.action_space.sample())
        assert env.observation_space.contains(obs) and isinstance(r, float)
        assert isinstance(terminated, bool) and isinstance(truncated, bool)
        env.close()


def test_registration_is_idempotent():
    import importlib

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        importlib.reload(lecture_utils.envs)


def _batched(name):
    if name == "cart":
        return BatchedCart(np.tile(SOURCE_PARAMS, (6, 1))), lambda: np.zeros(6), (6,), CART_HORIZON
    if name == "planar runner":
        return pr.BatchedPlanarRunner(6), lambda: torch.zeros(6, dtype=torch.long), (6,), pr.HORIZON
    env = BatchedPointNav(torch.tensor([[0.4, 0.4], [-0.4, 0.3]]), n_traj=3, horizon=7)
    return env, lambda: torch.zeros(2, 3, 2), (2, 3), 7


@pytest.mark.parametrize("name", ["cart", "planar runner", "point nav"])
def test_batched_envs_follow_the_vector_api(name):
    env, zeros, batch, horizon = _batched(name)
    assert env.num_envs == int(np.prod(batch))
    obs, info = env.reset(seed=0)
    assert tuple(obs.shape[: len(batch)]) == batch and info == {}
    for t in range(horizon):
        obs, r, terminated, truncated, info = env.step(zeros())
        assert tuple(r.shape) == tuple(terminated.shape) == tuple(truncated.shape) == batch and info == {}
        assert terminated.dtype in (bool, torch.bool) and truncated.dtype in (bool, torch.bool)
        assert bool(truncated.any()) == (t == horizon - 1)


def test_batched_seeds_make_resets_repeatable():
    cart = BatchedCart(np.tile(SOURCE_PARAMS, (4, 1)))
    np.testing.assert_array_equal(cart.reset(seed=3)[0], cart.reset(seed=3)[0])
    runner = pr.BatchedPlanarRunner(4)

    def first_obs(seed):
        runner.reset(seed=seed)
        return runner.step(torch.full((4,), 3))[0]

    assert torch.equal(first_obs(5), first_obs(5)) and not torch.equal(first_obs(5), first_obs(6))
