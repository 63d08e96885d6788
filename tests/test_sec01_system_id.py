"""Section 01: system identification from one target episode (knowledge stored in a model)."""

import numpy as np

import lecture_utils.domain_randomization as dr
from lecture_utils import system_id as sid


def test_record_episode_shapes_and_replay_of_the_truth_is_exact():
    theta = np.array([[-6.0, -4.0, -1.0], [-3.0, -2.0, 0.0]])
    xs, us = sid.record_episode(theta, dr.TARGET_PARAMS[:2], np.array([1.0, -0.8]))
    assert xs.shape == (2, 101) and us.shape == (2, 100)
    np.testing.assert_allclose(xs[:, 0], [1.0, -0.8])
    err = sid.replay_error(xs[0], us[0], np.stack([dr.TARGET_PARAMS[0], dr.TARGET_PARAMS[2]]))
    assert err[0] == 0.0 and err[1] > 0.0


def test_identify_recovers_the_ratios_that_matter():
    theta = np.array([[-6.0, -4.0, -1.0]])
    true = dr.TARGET_PARAMS[1]
    xs, us = sid.record_episode(theta, true[None], np.array([1.2]))
    got = sid.identify(xs[0], us[0], n_candidates=4000, seed=0)
    assert got.shape == (4,)
    assert abs(got[2] / got[0] - true[2] / true[0]) < 0.1 * true[2] / true[0]  # k/m within 10 %
    assert sid.replay_error(xs[0], us[0], got[None])[0] < 1e-3


def test_one_shot_model_policy_shapes_and_quality():
    theta = dr.train_es([dr.param_ranges(0.0)], [0], generations=20)[0]
    ident, pols = sid.one_shot_model_policy(theta, dr.TARGET_PARAMS[:2], seeds=[0], generations=20)
    assert ident.shape == (1, 2, 4) and pols.shape == (1, 2, 3)
    assert dr.target_returns_each(pols[0], dr.TARGET_PARAMS[:2]).mean() > dr.target_return(theta, dr.TARGET_PARAMS[:2])
