"""Section 01: ranges, sampler, policy rollouts, ES, fine-tuning and the evaluation protocols."""

import numpy as np
import pytest

import lecture_utils.domain_randomization as dr
from lecture_utils.envs.cart import SOURCE_PARAMS, CartEnv


def test_width_zero_is_the_source_and_ranges_grow():
    low, high = dr.param_ranges(0.0)
    assert np.array_equal(low, SOURCE_PARAMS) and np.array_equal(high, SOURCE_PARAMS)
    prev = (low, high)
    for w in (0.25, 0.5, 1.0, 2.0):
        for two in (False, True):
            lo, hi = dr.param_ranges(w, two)
            assert np.all(lo <= SOURCE_PARAMS) and np.all(hi >= SOURCE_PARAMS)
        lo, hi = dr.param_ranges(w)
        assert np.all(lo <= prev[0]) and np.all(hi >= prev[1])
        prev = (lo, hi)
    lo, hi = dr.param_ranges(1.0)
    np.testing.assert_allclose(lo, [1.0, 0.05, 1 / 3, 0.0])
    np.testing.assert_allclose(hi, [3.0, 0.5, 1.0, 4.0])
    lo, hi = dr.param_ranges(1.0, two_sided=True)
    np.testing.assert_allclose(lo, [1 / 3, 0.05, 1 / 3, 0.0])
    np.testing.assert_allclose(hi, [3.0, 5.0, 3.0, 4.0])
    with pytest.raises(ValueError, match="width"):
        dr.param_ranges(-0.1)


def test_targets_lie_outside_narrow_ranges_and_inside_wide_ones():
    for w in (0.0, 0.25, 0.5):
        lo, hi = dr.param_ranges(w)
        inside = np.all((dr.TARGET_PARAMS >= lo) & (dr.TARGET_PARAMS <= hi), axis=1)
        assert not inside.any()
    lo, hi = dr.param_ranges(1.0)
    assert np.all((dr.TARGET_PARAMS >= lo) & (dr.TARGET_PARAMS <= hi))


def test_sample_params_shapes_bounds_seeding_and_log_scale():
    low, high = np.array([0.1, 0.0, 1.0]), np.array([10.0, 4.0, 1.0])
    log = np.array([True, False, True])
    s = dr.sample_params(low, high, 20000, 0, log)
    assert s.shape == (20000, 3)
    assert np.all(s >= low) and np.all(s <= high)
    np.testing.assert_array_equal(s, dr.sample_params(low, high, 20000, 0, log))
    assert not np.array_equal(s, dr.sample_params(low, high, 20000, 1, log))
    assert abs(np.median(s[:, 0]) - 1.0) < 0.1  # log-uniform on [0.1, 10]: median = geometric mean
    assert abs(np.median(s[:, 1]) - 2.0) < 0.1
    assert np.all(s[:, 2] == 1.0)
    with pytest.raises(ValueError, match="low <= high"):
        dr.sample_params(high, low, 3, 0, log)
    with pytest.raises(ValueError, match="1-D"):
        dr.sample_params(low, high[:2], 3, 0, log)


def test_episode_returns_match_the_gymnasium_env():
    theta = np.array([-5.0, -4.0, -1.0])
    params = np.array([2.2, 0.08, 0.5, 3.0])
    env = CartEnv(params)
    obs, _ = env.reset(options={"x0": 0.8})
    total, done = 0.0, False
    while not done:
        u = dr.policy_action(theta[None], obs[None].astype(float))
        obs, r, term, trunc, _ = env.step(u.astype(np.float32))
        total += r
        done = term or trunc
    got = dr.episode_returns(theta[None], params[None], np.array([0.8]))
    np.testing.assert_allclose(got, [total], rtol=1e-4)


def test_episode_returns_checks_shapes():
    with pytest.raises(ValueError, match=r"theta \[B, 3\]"):
        dr.episode_returns(np.zeros((2, 2)), np.tile(SOURCE_PARAMS, (2, 1)), np.ones(2))


def test_target_return_protocol_is_fixed_and_averages_settings():
    theta = np.array([-6.0, -5.0, -2.0])
    a = dr.target_return(theta)
    assert a == dr.target_return(theta)
    each = dr.target_returns_each(np.tile(theta, (5, 1)), dr.TARGET_PARAMS)
    np.testing.assert_allclose(each.mean(), a, rtol=1e-12)
    assert dr.target_return(np.zeros(3)) < 1.0  # doing nothing never reaches the goal


def test_es_improves_on_the_source_and_is_deterministic():
    ranges = [dr.param_ranges(0.0)] * 2
    th = dr.train_es(ranges, seeds=[0, 1], generations=15)
    assert th.shape == (2, 3)
    np.testing.assert_array_equal(th, dr.train_es(ranges, seeds=[0, 1], generations=15))
    assert all(dr.target_return(t, SOURCE_PARAMS) > 50 for t in th)


def test_es_rejects_a_sampler_with_the_wrong_shape():
    bad = lambda low, high, n, seed, log_scale: np.zeros((4, n))
    with pytest.raises(ValueError, match="sampler returned shape"):
        dr.train_es([dr.param_ranges(1.0)], seeds=[0], generations=1, sampler=bad)


def test_finetune_shapes_and_update_schedule():
    th = dr.finetune(np.zeros((3, 3)), dr.TARGET_PARAMS[:3], 5, seed=0)
    assert th.shape == (6, 3, 3)
    np.testing.assert_array_equal(th[0], th[1])  # one episode alone gives no update
    assert not np.array_equal(th[1], th[2])
    np.testing.assert_array_equal(th[2], th[3])


def test_shot_curve_and_batched_version_agree():
    theta0 = np.array([-4.0, -3.0, -1.0])
    shots = [0, 2, 6]
    one = dr.shot_curve(theta0, dr.TARGET_PARAMS[:2], shots, seed=4)
    assert one.shape == (3,)
    np.testing.assert_allclose(one[0], dr.target_return(theta0, dr.TARGET_PARAMS[:2]))
    np.testing.assert_allclose(dr.shot_curves(theta0, dr.TARGET_PARAMS[:2], shots, seeds=[4])[0, 0], one, rtol=1e-9)
    many = dr.shot_curves(np.stack([theta0, np.zeros(3)]), dr.TARGET_PARAMS[:2], shots, seeds=[4, 5])
    assert many.shape == (2, 2, 3)
    np.testing.assert_allclose(many[:, :, 0].std(axis=1), 0.0)  # 0 shots: no fine-tuning seed matters


def test_episodes_to_reach():
    assert dr.episodes_to_reach([0, 2, 5], [1.0, 3.0, 4.0], 2.5) == 2
    assert dr.episodes_to_reach([0, 2, 5], [1.0, 3.0, 4.0], 0.5) == 0
    assert np.isinf(dr.episodes_to_reach([0, 2, 5], [1.0, 3.0, 4.0], 9.0))


def test_coverage_width_is_the_narrowest_covering_range():
    for two in (False, True):
        w = dr.coverage_width(dr.TARGET_PARAMS, two)
        lo, hi = dr.param_ranges(w + 1e-9, two)
        assert np.all((dr.TARGET_PARAMS >= lo) & (dr.TARGET_PARAMS <= hi))
        lo, hi = dr.param_ranges(w - 1e-3, two)
        assert not np.all((dr.TARGET_PARAMS >= lo) & (dr.TARGET_PARAMS <= hi))
    lighter = np.array([[0.5, 0.5, 1.0, 0.0]])
    assert np.isinf(dr.coverage_width(lighter))
    np.testing.assert_allclose(dr.coverage_width(lighter, two_sided=True), np.log(2) / np.log(3))
    assert dr.coverage_width(SOURCE_PARAMS) == 0.0


def test_es_progress_wrapper_sees_every_generation():
    seen = []

    def progress(it, desc=""):
        for g in it:
            seen.append(desc)
            yield g

    dr.train_es([dr.param_ranges(0.5)], seeds=[0], generations=3, progress=progress)
    assert seen == ["ES generations"] * 3
