"""lecture_utils.pomdp (the S = S_M x {1..n} construction, belief, planners) and lecture_utils.rl2 (+ trainer)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lecture_utils import bandits as bd
from lecture_utils import checkpoints, pomdp, rl2
from lecture_utils import safe_risky as sr

torch.set_num_threads(1)  # as lecture_utils.setup() does: tiny networks are much slower with a thread pool

# ------------------------------------------------------------------------------------------------ POMDP


@pytest.fixture(scope="module")
def fam():
    return pomdp.signpost_family()


def test_family_validates_shapes():
    with pytest.raises(ValueError, match="T \\[n, S, A, S\\]"):
        pomdp.TaskFamily(T=np.ones((2, 3, 2)), R=np.zeros((2, 3, 2)))
    with pytest.raises(ValueError, match="sum to 1"):
        pomdp.TaskFamily(T=np.ones((1, 2, 1, 2)), R=np.zeros((1, 2, 1)))


def test_augmented_state_space_and_observation(fam):
    S = pomdp.augmented_states(fam)
    assert S.shape == (fam.n_states * fam.n_tasks, 2)
    for s_M, i in [(0, 0), (3, 2), (fam.n_states - 1, 1)]:
        j = pomdp.state_index(fam, s_M, i)
        assert tuple(S[j]) == (s_M, i)
        assert pomdp.observe(fam, j) == s_M
    O = pomdp.observation_matrix(fam)
    assert O.shape == (len(S), fam.n_states) and np.all(O.sum(1) == 1)


def test_pomdp_transition_keeps_the_task_and_matches_each_task(fam):
    T = pomdp.pomdp_transition(fam)
    R = pomdp.pomdp_reward(fam)
    np.testing.assert_allclose(T.sum(-1), 1.0)
    for i in range(fam.n_tasks):
        for s_M in (0, fam.s0):
            j = pomdp.state_index(fam, s_M, i)
            rows = T[j][:, [pomdp.state_index(fam, t, i) for t in range(fam.n_states)]]
            np.testing.assert_array_equal(rows, fam.T[i, s_M])
            np.testing.assert_array_equal(R[j], fam.R[i, s_M])


def test_belief_update_bandit_matches_bayes_by_hand():
    P = np.array([[0.2, 0.5], [0.8, 0.5]])
    fam = pomdp.bandit_family(P)
    b = pomdp.belief_update(fam, fam.prior, 0, 0, 1.0, 0)
    np.testing.assert_allclose(b, [0.2, 0.8])
    b = pomdp.belief_update(fam, b, 0, 1, 0.0, 0)  # arm 1 says nothing about which task
    np.testing.assert_allclose(b, [0.2, 0.8])
    with pytest.raises(ValueError, match="shape"):
        pomdp.belief_update(fam, np.ones(3) / 3, 0, 0, 1.0, 0)


def test_belief_update_impossible_observation():
    fam = pomdp.bandit_family(np.array([[1.0], [1.0]]))
    with pytest.raises(ValueError, match="probability 0"):
        pomdp.belief_update(fam, fam.prior, 0, 0, 0.0, 0)


def test_sign_reveals_the_task(fam):
    sign_states = fam.info["sign_states"]
    for i in range(fam.n_tasks):
        into = np.argwhere(fam.T[i][..., sign_states[i]] > 0)
        assert len(into) > 0
        s, a = into[0]
        b = pomdp.belief_update(fam, fam.prior, s, a, 0.0, sign_states[i])
        np.testing.assert_array_equal(b, np.eye(fam.n_tasks)[i])


def test_bayes_optimal_planner_beats_greedy_on_long_trials_and_is_exact(fam):
    planner = pomdp.BayesOptimalPlanner(fam)
    H = 20
    v = planner.value(H)
    runs = [pomdp.run_trial(fam, planner, i, H, np.random.default_rng(0))["rewards"].sum() for i in range(3)]
    assert np.mean(runs) == pytest.approx(v)  # deterministic family: the simulation is the expectation
    greedy = np.mean([pomdp.run_trial(fam, pomdp.MostLikelyTask(fam, H), i, H, np.random.default_rng(0))
                      ["rewards"].sum() for i in range(3)])
    assert v >= greedy + 0.5
    # first move of the Bayes-optimal agent on a long trial: towards the sign
    assert pomdp.MOVE_NAMES[planner.act(fam.s0, fam.prior, H, None)] == "down"
    # with a known task, Bayes-optimal = the task's own optimum
    Q = pomdp.task_q_values(fam, H)
    assert planner.value(H, b=np.eye(3)[1]) == pytest.approx(Q[1, H, fam.s0].max())


def test_bandit_family_planner_by_hand():
    # two tasks, arm 1 pays 1/2 in both: pulling the informative arm 0 first is worth it with 2 pulls
    fam = pomdp.bandit_family(np.array([[0.9, 0.5], [0.1, 0.5]]))
    planner = pomdp.BayesOptimalPlanner(fam)
    # arm 0 pays w.p. 1/2; after a success b = (0.9, 0.1) and arm 0 pays 0.82; after a failure take arm 1 (0.5)
    assert planner.value(2) == pytest.approx(0.5 + 0.5 * 0.82 + 0.5 * 0.5)
    assert planner.value(1) == pytest.approx(0.5)
    assert planner.act(0, fam.prior, 2, None) == 0


def test_trial_record_shapes(fam):
    tr = pomdp.run_trial(fam, pomdp.PosteriorSampling(fam, 10), 0, 10, np.random.default_rng(1))
    assert tr["states"].shape == (11,) and tr["actions"].shape == (10,) and tr["beliefs"].shape == (11, 3)
    np.testing.assert_allclose(tr["beliefs"].sum(1), 1.0)


# ------------------------------------------------------------------------------------------------ RL^2


def test_rl2_inputs_shapes_and_first_step():
    x = rl2.rl2_inputs(torch.tensor([-1, 2]), torch.tensor([0.0, 1.0]), torch.tensor([0.0, 1.0]), k=3)
    assert x.shape == (2, 5)
    np.testing.assert_array_equal(x.numpy(), [[0, 0, 0, 0, 0], [0, 0, 1, 1, 1]])


def test_rl2_inputs_clear_errors():
    with pytest.raises(ValueError, match="integer"):
        rl2.rl2_inputs(torch.tensor([0.0]), torch.zeros(1), torch.zeros(1), k=2)
    with pytest.raises(ValueError, match=">= k"):
        rl2.rl2_inputs(torch.tensor([2]), torch.zeros(1), torch.zeros(1), k=2)


def test_policy_step_matches_sequence_and_checks_shapes():
    torch.manual_seed(0)
    pol = rl2.RL2Policy(k=3, hidden=8)
    ro = rl2.rollout_bandits(pol, torch.rand(5, 3), 4, torch.Generator().manual_seed(0))
    assert ro.actions.shape == ro.rewards.shape == (5, 4) and ro.inputs.shape == (5, 4, 6)
    logits, values, hidden = pol.sequence(ro.inputs)
    assert logits.shape == (5, 4, 3) and values.shape == (5, 4)
    torch.testing.assert_close(hidden, ro.hidden)  # the hidden state carried across pulls, recomputed in one call
    with pytest.raises(ValueError, match="k \\+ 3"):
        pol.step(torch.zeros(5, 4), pol.initial_state(5))
    with pytest.raises(ValueError, match="k=3"):
        rl2.rollout_bandits(pol, torch.rand(5, 2), 4)


def test_a2c_improves_a_trivial_family():
    # arm 1 always pays, arm 0 never: a few updates must move the policy to arm 1
    cfg = rl2.RL2Config(k=2, n=3, hidden=8, batch=64, iters=60, lr=1e-2, seed=0)
    pol, curve, _ = rl2.train_rl2(cfg, sample_tasks=lambda gen, batch, k: torch.tensor([[0.0, 1.0]] * batch))
    p = np.tile([0.0, 1.0], (200, 1))
    assert rl2.evaluate(pol, p, 3).mean() > 2.0
    assert len(curve) == 60


def test_agreement_with_bayes_shape():
    pol = rl2.RL2Policy(k=2, hidden=8)
    ro = rl2.rollout_bandits(pol, torch.rand(20, 2), 4, torch.Generator().manual_seed(0))
    agree = rl2.agreement_with_bayes(ro, bd.BayesOptimal(2, 4))
    assert agree.shape == (4,) and agree[0] == 1.0  # the first pull: both arms are optimal


def test_shipped_checkpoints_load_and_are_small():
    for k, n in rl2.TABLE_SETTINGS:
        path = checkpoints.rl2_path(k, n)
        assert path.stat().st_size < 100_000
        pol, cfg, info = checkpoints.load_rl2(k, n)
        assert (cfg.k, cfg.n) == (k, n) and len(info["curve"]) == cfg.iters
    with pytest.raises(FileNotFoundError, match="lecture train rl2"):
        checkpoints.load_rl2(7, 3)
    family = sr.SafeRiskyFamily()
    path = checkpoints.rl2_path(family.k, rl2.SAFE_RISKY_H, family="safe-risky")
    assert path.name == "rl2_safe_risky_k4_n20.pt" and path.stat().st_size < 100_000
    pol, cfg, info = checkpoints.load_rl2(family.k, rl2.SAFE_RISKY_H, family="safe-risky")
    assert (cfg.k, cfg.n) == (4, 20) and len(info["curve"]) == cfg.iters and info["family"]["m"] == 3
    with pytest.raises(ValueError, match="family must be"):
        checkpoints.rl2_path(2, 10, family="correlated")


def test_lecture_train_rl2_quick_regenerates_a_checkpoint(tmp_path, capsys):
    from lecture_admin.cli import main

    assert main(["train", "rl2", "--quick", "--setting", "2,5", "--out", str(tmp_path)]) == 0
    pol, cfg, info = checkpoints.load_rl2(2, 5, tmp_path)
    assert cfg.iters == 20 and len(info["curve"]) == 20
    assert "rl2 k=2 n=5" in capsys.readouterr().out


def test_compare_methods_table_row():
    row = rl2.compare_methods(2, 10, n_tasks=500)
    assert list(row) == ["random", "Gittins", "Thompson", "UCB1", "eps-greedy", "greedy", "RL^2", "Bayes-optimal"]
    assert row["Bayes-optimal"] == (pytest.approx(bd.BayesOptimal(2, 10).value()), 0.0)
    assert all(se > 0 for name, (_, se) in row.items() if name != "Bayes-optimal")
    # the shipped RL^2 is far above random on these tasks
    assert row["RL^2"][0] > row["random"][0] + 0.5
    base, p = bd.compare_baselines(5, 20, n_tasks=200, gittins=False, tune_tasks=100)
    assert "Gittins" not in base and p.shape == (200, 5)


def test_compare_safe_risky_rl2_near_the_limit_greedy_far_below():
    family = sr.SafeRiskyFamily()
    curves = {}
    row = rl2.compare_safe_risky(family, n_tasks=1000, curves=curves)
    assert list(row)[-2:] == ["RL^2", "Bayes-optimal"] and curves["RL^2"].shape == (rl2.SAFE_RISKY_H,)
    frac = {m: bd.fraction_of_the_way(v, row["random"][0], row["Bayes-optimal"][0]) for m, (v, _) in row.items()}
    assert frac["RL^2"] > 0.9 and frac["greedy"] < 0.4 and frac["eps-greedy"] < 0.65


def test_lecture_train_rl2_quick_safe_risky(tmp_path, capsys):
    from lecture_admin.cli import main

    assert main(["train", "rl2", "--quick", "--setting", "safe-risky", "--out", str(tmp_path)]) == 0
    pol, cfg, info = checkpoints.load_rl2(4, rl2.SAFE_RISKY_H, tmp_path, family="safe-risky")
    assert cfg.iters == 20 and cfg.entropy_start == 0.3
    assert "rl2 safe-risky k=4 H=20" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["train", "rl2", "--quick", "--setting", "two,arms", "--out", str(tmp_path)])
