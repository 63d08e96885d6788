"""lecture_utils.bandits: Beta belief, the Bayes-optimal DP, Gittins, the baselines, the evaluation loop."""

from __future__ import annotations

import itertools
from functools import cache

import numpy as np
import pytest

from lecture_utils import bandits as bd
from lecture_utils import safe_risky as sr
from lecture_utils.bandit_belief import beta_update


def test_beta_update_moves_only_the_pulled_arm():
    a, b = np.ones((3, 2)), np.ones((3, 2))
    a2, b2 = beta_update(a, b, np.array([0, 1, 1]), np.array([1, 0, 1]))
    np.testing.assert_array_equal(a2, [[2, 1], [1, 1], [1, 2]])
    np.testing.assert_array_equal(b2, [[1, 1], [1, 2], [1, 1]])
    np.testing.assert_array_equal(a, 1)  # inputs untouched


def test_beta_update_rejects_wrong_shapes():
    with pytest.raises(ValueError, match="n_tasks"):
        beta_update(np.ones(2), np.ones(2), np.array([0]), np.array([1]))


def test_posterior_mean_of_the_uniform_prior_is_one_half():
    np.testing.assert_allclose(bd.posterior_mean(np.zeros((1, 3)), np.zeros((1, 3))), 0.5)
    with pytest.raises(ValueError, match="shape"):
        bd.posterior_mean(np.zeros(3), np.zeros(3))


def _brute_force_value(k, n):
    """Bayes-optimal value without the sorted-tuple symmetry: an independent reference."""

    @cache
    def V(counts, left):
        if left == 0:
            return 0.0
        best = 0.0
        for a in range(k):
            s, f = counts[2 * a], counts[2 * a + 1]
            p = (1 + s) / (2 + s + f)
            up, down = list(counts), list(counts)
            up[2 * a] += 1
            down[2 * a + 1] += 1
            best = max(best, p * (1 + V(tuple(up), left - 1)) + (1 - p) * V(tuple(down), left - 1))
        return best

    return V((0,) * (2 * k), n)


@pytest.mark.parametrize("k,n", [(1, 5), (2, 1), (2, 6), (3, 4)])
def test_bayes_optimal_value_matches_brute_force(k, n):
    assert bd.BayesOptimal(k, n).value() == pytest.approx(_brute_force_value(k, n), abs=1e-12)


def test_bayes_optimal_known_values():
    assert bd.BayesOptimal(1, 7).value() == pytest.approx(3.5)  # one arm: no choice, E[p] = 1/2 per pull
    assert bd.BayesOptimal(2, 1).value() == pytest.approx(0.5)
    # two pulls: pull an arm; on success (1/2) pull it again (mean 2/3), else the other (1/2)
    assert bd.BayesOptimal(2, 2).value() == pytest.approx(0.5 + 0.5 * 2 / 3 + 0.5 * 0.5)
    assert bd.BayesOptimal(5, 10).value() == pytest.approx(6.66, abs=0.01)  # beside the paper's Gittins 6.6


def test_bayes_optimal_is_an_upper_bound_and_its_policy_attains_it():
    k, n = 2, 8
    opt = bd.BayesOptimal(k, n)
    p = bd.sample_tasks(np.random.default_rng(0), 6000, k)
    sim = bd.run_trials(opt, p, n, np.random.default_rng(1))
    assert abs(sim.mean - opt.value()) < 3 * sim.stderr + 0.01
    for policy in (bd.greedy, bd.thompson, bd.make_ucb1(), bd.random_policy):
        res = bd.run_trials(policy, p, n, np.random.default_rng(1))
        assert res.mean <= opt.value() + 3 * res.stderr


def test_bayes_optimal_q_values_and_errors():
    opt = bd.BayesOptimal(2, 3)
    q = opt.q_values(np.array([2, 0]), np.array([0, 0]))  # arm 0: two successes already... with 3 pulls
    assert q.shape == (2,)
    with pytest.raises(ValueError, match="k=2, n=3"):
        opt(np.zeros((1, 3), int), np.zeros((1, 3), int), 0, 3, np.random.default_rng(0))
    with pytest.raises(ValueError, match="k >= 1"):
        bd.BayesOptimal(0, 3)


def test_gittins_index_properties():
    G = bd.gittins_table(6)
    # one pull left: the index is the posterior mean
    for s, f in itertools.product(range(4), range(2)):
        assert G[s, f, 1] == pytest.approx((1 + s) / (2 + s + f), abs=1e-6)
    # more pulls left: the option value of learning raises the index above the mean
    assert G[0, 0, 6] > G[0, 0, 3] > G[0, 0, 1] == pytest.approx(0.5, abs=1e-6)
    assert G[2, 0, 3] > G[0, 2, 3]


def test_gittins_is_near_bayes_optimal_for_two_arms():
    p = bd.sample_tasks(np.random.default_rng(3), 6000, 2)
    res = bd.run_trials(bd.make_gittins(10), p, 10, np.random.default_rng(4))
    assert res.mean == pytest.approx(bd.BayesOptimal(2, 10).value(), abs=3 * res.stderr + 0.02)


def test_policies_return_valid_actions_and_ucb_tries_every_arm_first():
    rng = np.random.default_rng(0)
    s, f = np.zeros((4, 3), int), np.zeros((4, 3), int)
    for policy in (bd.random_policy, bd.greedy, bd.thompson, bd.make_eps_greedy(0.5), bd.make_ucb1()):
        a = policy(s, f, 0, 5, rng)
        assert a.shape == (4,) and a.min() >= 0 and a.max() < 3
    s[:, 0], f[:, 1] = 5, 0
    f[:, 1] = 1  # arm 2 never pulled
    assert np.all(bd.make_ucb1()(s, f, 6, 10, rng) == 2)


def test_greedy_breaks_ties_at_random():
    a = bd.greedy(np.zeros((2000, 2), int), np.zeros((2000, 2), int), 0, 5, np.random.default_rng(0))
    assert 0.45 < a.mean() < 0.55


def test_run_trials_shapes_and_errors():
    p = np.array([[1.0, 0.0], [0.0, 1.0]])
    res = bd.run_trials(lambda s, f, t, n, rng: np.zeros(2, int), p, 5, np.random.default_rng(0))
    np.testing.assert_array_equal(res.totals, [5, 0])
    assert res.actions.shape == res.rewards.shape == (2, 5)
    with pytest.raises(ValueError, match="n_tasks, k"):
        bd.run_trials(bd.greedy, np.ones(3), 5, np.random.default_rng(0))
    with pytest.raises(ValueError, match="actions"):
        bd.run_trials(lambda s, f, t, n, rng: 0, p, 5, np.random.default_rng(0))


def test_tune_and_fraction():
    assert bd.tune(bd.make_eps_greedy, (0.0, 0.9), 2, 10, seed=0, n_tasks=2000) == 0.0
    assert bd.fraction_of_the_way(7.0, 5.0, 9.0) == 0.5


def test_win_stay_lose_shift():
    p = np.array([[1.0, 0.0], [0.0, 0.0]])
    res = bd.run_trials(bd.WinStayLoseShift(), p, 6, np.random.default_rng(0))
    # task 0: once on arm 0 it stays forever; task 1: it alternates
    a0 = list(res.actions[0])
    first = a0.index(0)
    assert all(a == 0 for a in a0[first:])
    assert all(res.actions[1, t] != res.actions[1, t + 1] for t in range(5))
    two = bd.run_trials(bd.WinStayLoseShift(), bd.sample_tasks(np.random.default_rng(1), 8000, 2), 10,
                        np.random.default_rng(2))
    assert 5.7 < two.mean < 5.9  # between random (5) and Bayes-optimal (6.02)


# ------------------------------------------------------------------- the safe/risky family (where greedy fails)


def test_safe_risky_family_posterior_by_hand():
    fam = sr.SafeRiskyFamily(0.5, 0.9, 3)
    assert fam.k == 4 and fam.P.shape == (3, 4) and np.all(fam.P[:, 0] == 0.5)
    s = np.array([[0, 0, 0, 0], [4, 0, 1, 0]])
    f = np.array([[1, 2, 0, 0], [0, 0, 3, 5]])
    b = fam.posterior(s, f)
    np.testing.assert_allclose(b[0], np.array([0.01, 1.0, 1.0]) / 2.01)  # (1 - 0.9)^f_i, normalised
    np.testing.assert_allclose(b[1], [0.0, 1.0, 0.0])  # risky arm 2 paid once: it is the good one
    np.testing.assert_allclose(fam.predictive(s, f)[1], [0.5, 0.0, 0.9, 0.0])
    tasks = fam.sample(np.random.default_rng(0), 3000)
    assert set(map(tuple, tasks)) == set(map(tuple, fam.P))
    for bad in ({"p_safe": 0.9, "p_good": 0.5}, {"p_good": 1.0}, {"m": 1}):
        with pytest.raises(ValueError, match="p_safe < p_good < 1"):
            sr.SafeRiskyFamily(**bad)
    with pytest.raises(ValueError, match="this family has k = 4"):
        fam.posterior(np.zeros((1, 3)), np.zeros((1, 3)))


def test_safe_risky_bayes_optimal_value_by_hand_and_by_simulation():
    fam = sr.SafeRiskyFamily(0.5, 0.9, 3)
    assert sr.SafeRiskyBayesOptimal(fam, 1).value() == pytest.approx(0.5)  # one pull: the safe arm
    # two pulls: trying a risky arm (0.3 * (1 + 0.9) + 0.7 * 0.5 = 0.92) does not pay; the safe arm twice does
    assert sr.SafeRiskyBayesOptimal(fam, 2).value() == pytest.approx(1.0)
    # three pulls: a risky arm first; after its failure a second one (good with probability 1 / 2.1), after that
    # failure too the third (good with probability 1 / 1.2: its mean 0.75 beats the safe arm)
    hit = 0.9 / 2.1
    assert sr.SafeRiskyBayesOptimal(fam, 3).value() == pytest.approx(0.3 * (1 + 2 * 0.9)
                                                                     + 0.7 * (hit * 1.9 + (1 - hit) * 0.9 / 1.2))
    opt = sr.SafeRiskyBayesOptimal(fam, 12)
    sim = bd.run_trials(opt, fam.sample(np.random.default_rng(1), 3000), 12, np.random.default_rng(2))
    assert abs(sim.mean - opt.value()) < 3 * sim.stderr
    g = bd.run_trials(sr.family_greedy(fam), fam.sample(np.random.default_rng(1), 500), 12, np.random.default_rng(2))
    assert np.all(g.actions == 0)  # greedy never tries a risky arm
    with pytest.raises(ValueError, match="k=4, H=12"):
        opt(np.zeros((2, 4), int), np.zeros((2, 4), int), 0, 10, np.random.default_rng(0))
    with pytest.raises(ValueError, match="H >= 1"):
        sr.SafeRiskyBayesOptimal(fam, 0)


def test_compare_safe_risky_greedy_fails_bayes_optimal_does_not():
    fam = sr.SafeRiskyFamily()
    curves = {}
    out, p = sr.compare_safe_risky(fam, 20, n_tasks=1000, tune_tasks=500, curves=curves)
    assert list(out) == ["random", "greedy", "eps-greedy", "UCB1", "Thompson (Beta)", "posterior sampling",
                         "Bayes-optimal"] and p.shape == (1000, 4)
    frac = {m: bd.fraction_of_the_way(v, out["random"][0], out["Bayes-optimal"][0]) for m, (v, _) in out.items()}
    assert frac["greedy"] < 0.4 and frac["eps-greedy"] < 0.65 and frac["posterior sampling"] > 0.9
    assert set(curves) == set(out) - {"Bayes-optimal"} and all(c.shape == (20,) for c in curves.values())
    assert set(bd.COLORS) >= set(out)
