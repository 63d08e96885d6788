"""Section 02 helpers: ensemble policies, the entropy-regularised PG, fine-tuning, Actor-Mimic."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lecture_utils import actor_mimic as am
from lecture_utils import pretraining as pt
from lecture_utils.envs import planar_runner as pr
from lecture_utils.selfcheck.sec02 import _ref_pg_loss


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_policy_shapes_and_shared_trunk_broadcast():
    net = pt.PolicyNet(members=3, hidden=8)
    assert net(torch.randn(3, 5, pr.OBS_DIM)).shape == (3, 5, pr.N_ACTIONS)
    single = pt.PolicyNet(members=1, hidden=8)
    assert single(torch.randn(5, pr.OBS_DIM)).shape == (1, 5, pr.N_ACTIONS)
    student = am.make_student(n_tasks=4, hidden=8)  # one trunk, four heads
    assert student.members == 4 and student(torch.randn(4, 6, pr.OBS_DIM)).shape == (4, 6, pr.N_ACTIONS)
    with pytest.raises(ValueError, match="expected input"):
        net(torch.randn(3, 5, 7))


def test_members_are_independent():
    net = pt.PolicyNet(members=2, hidden=8)
    net(torch.randn(2, 4, pr.OBS_DIM))[0].sum().backward()  # a loss on member 0 only
    for p in net.parameters():
        assert p.grad[1].abs().max() == 0 and p.grad[0].abs().max() > 0


def test_stack_select_replicate_roundtrip():
    a, b = pt.PolicyNet(members=2, hidden=8), pt.PolicyNet(members=1, hidden=8)
    both = pt.stack([a, b])
    assert both.members == 3
    obs = torch.randn(1, 5, pr.OBS_DIM)
    torch.testing.assert_close(both(obs.expand(3, -1, -1))[2], b(obs)[0])
    torch.testing.assert_close(pt.select_members(both, [0, 1])(obs.expand(2, -1, -1)), a(obs.expand(2, -1, -1)))
    rep = pt.replicate(b, 4)
    assert rep.members == 4 and torch.equal(rep.head.weight[3], b.head.weight[0])


def test_new_head_policy_freezes_features_and_starts_uniform():
    pre = pt.PolicyNet(members=2, hidden=8)
    frozen = pt.new_head_policy(pre, freeze=True)
    assert all(not p.requires_grad for p in frozen.features.parameters())
    assert all(p.requires_grad for p in pre.parameters())  # the original stays trainable
    assert torch.all(frozen(torch.randn(2, 3, pr.OBS_DIM)) == 0)
    whole = pt.new_head_policy(pt.PolicyNet(members=1, hidden=8), freeze=False, members=3)
    assert whole.members == 3 and all(p.requires_grad for p in whole.parameters())


def test_reward_to_go_and_entropy_known_values():
    r = torch.tensor([[1.0], [2.0], [4.0]])
    from lecture_utils.returns import rewards_to_go

    torch.testing.assert_close(rewards_to_go(r, 0.5, time_dim=0), torch.tensor([[3.0], [4.0], [4.0]]))
    assert float(pt.entropy(torch.zeros(16))) == pytest.approx(math.log(16))
    assert float(pt.entropy(torch.tensor([50.0, 0.0, 0.0]))) == pytest.approx(0.0, abs=1e-6)


def test_entropy_pg_loss_matches_per_member_reference_and_entropy_coef_per_member():
    T, M, N, A = 4, 3, 6, 5
    logits, actions = torch.randn(T, M, N, A), torch.randint(0, A, (T, M, N))
    rewards, coefs = torch.randn(T, M, N), torch.tensor([0.0, 0.3, 1.0])
    got = pt.entropy_pg_loss(logits, actions, rewards, 0.9, coefs)
    want = sum(_ref_pg_loss(logits[:, m], actions[:, m], rewards[:, m], 0.9, float(coefs[m])) for m in range(M))
    torch.testing.assert_close(got, want)
    with pytest.raises(ValueError, match="expected logits"):
        pt.entropy_pg_loss(logits[0], actions, rewards, 0.9, 0.1)


def test_soft_entropy_pg_loss_adds_entropy_to_rewards():
    T, M, N, A = 3, 1, 5, 4
    logits, actions, rewards = torch.randn(T, M, N, A), torch.randint(0, A, (T, M, N)), torch.randn(T, M, N)
    soft = pt.entropy_pg_loss(logits, actions, rewards, 1.0, 0.5, soft=True)
    manual = pt.entropy_pg_loss(logits, actions, rewards + 0.5 * pt.entropy(logits), 1.0, 0.5)
    torch.testing.assert_close(soft, manual)


def test_oracle_is_near_top_speed_in_every_direction():
    for a in (0.0, 2.0, math.pi, -2.5):
        assert 16.0 < pt.runner_oracle_return(a, n_envs=256) < 17.0  # 20 steps, top speed 1, ~3.5 lost accelerating
    uniform = pt.PolicyNet(members=1)
    torch.nn.init.zeros_(uniform.head.weight), torch.nn.init.zeros_(uniform.head.bias)
    assert abs(pt.evaluate(uniform, 1.0, n_envs=512)[0]) < 0.5


def test_training_improves_and_finetune_shapes():
    net = pt.PolicyNet(members=2, hidden=16)
    curve = pt.train_pg(net, 10, n_envs=32, lr=3e-2)  # speed reward: learns the gait fast
    assert curve.shape == (10, 2) and np.all(curve[-3:].mean(0) > curve[:3].mean(0) + 2)
    curves, nets = pt.finetune({"a": pt.PolicyNet(members=2, hidden=8), "b": pt.PolicyNet(members=2, hidden=8)},
                               [0.0, 1.0, 2.0], iters=2, n_envs=8)
    assert curves["a"].shape == (2, 3, 2) and len(nets["b"]) == 3 and nets["b"][0].members == 2
    with pytest.raises(ValueError, match="same number of members"):
        pt.finetune({"a": pt.PolicyNet(members=2), "b": pt.PolicyNet(members=3)}, [0.0], iters=1)


def test_train_pg_with_a_custom_loss_and_mlp_policy():
    net = pt.MLPPolicy(hidden=8)
    curve = pt.train_pg(net, 2, entropy_coef=0.1, soft=True, n_envs=8, loss_fn=_ref_pg_loss)
    assert curve.shape == (2, 1)
    with pytest.raises(ValueError, match="one member"):
        pt.train_pg(pt.PolicyNet(members=2), 1, loss_fn=_ref_pg_loss)


def test_direction_statistics():
    uniform = np.linspace(-np.pi, np.pi, 1600, endpoint=False)
    assert pt.direction_entropy(uniform) == pytest.approx(math.log(16))
    assert pt.direction_entropy(np.zeros(50)) == 0.0
    states = torch.zeros(3, 2, 6)
    states[-1, :, 0:2] = torch.tensor([[0.0, 2.0], [-1.0, 0.0]])
    np.testing.assert_allclose(pt.running_directions(states), [math.pi / 2, math.pi])
    np.testing.assert_array_equal(pt.iterations_to_reach(np.array([[0, 5], [2, 6], [3, 7.0]]), 2.5), [2, 0])
    np.testing.assert_array_equal(pt.iterations_to_reach(np.zeros((4, 1)), 1.0), [4])


def test_policy_regression_loss_values_and_errors():
    logits = torch.randn(5, 4)
    ce = am.policy_regression_loss(logits, logits.clone(), tau=1.0)
    assert float(ce) == pytest.approx(float(pt.entropy(logits).mean()), rel=1e-5)  # CE(p, p) = H(p)
    sharp = am.policy_regression_loss(logits, logits, tau=0.01)  # expert ~ its argmax: CE = -log pi(argmax)
    want = -torch.log_softmax(logits, -1).max(-1).values.mean()
    assert float(sharp) == pytest.approx(float(want), rel=1e-4)
    with pytest.raises(ValueError, match="same shape"):
        am.policy_regression_loss(torch.zeros(3, 4), torch.zeros(4, 3))
    with pytest.raises(ValueError, match="positive"):
        am.policy_regression_loss(logits, logits, tau=0.0)


def test_distill_reduces_the_loss_and_student_features_policy():
    experts = pt.OraclePolicy([0.0, math.pi], scale=5.0)
    student = am.make_student(2, hidden=16)
    losses = am.distill(student, experts, [0.0, math.pi], iters=10, n_envs=16, lr=3e-2)
    assert losses[-3:].mean() < 0.8 * losses[:3].mean()
    with pytest.raises(ValueError, match="as many"):
        am.distill(am.make_student(3), experts, [0.0, math.pi], iters=1)
    obs = torch.randn(2, 3, pr.OBS_DIM)
    zero = am.student_features_policy(student, members=2, head="zero")
    assert torch.all(zero(obs) == 0)
    torch.testing.assert_close(zero.features(obs)[1], student.features(obs[1:])[0])
    mean = am.student_features_policy(student, members=2)  # head = average of the student's task heads
    want = student(obs[:1].expand(2, -1, -1)).mean(0)
    torch.testing.assert_close(mean(obs[:1].expand(2, -1, -1))[1], want)
    frozen = am.student_features_policy(student, members=2, freeze=True)
    assert all(not p.requires_grad for p in frozen.features.parameters()) and frozen.head.weight.requires_grad
    with pytest.raises(ValueError, match="'mean' or 'zero'"):
        am.student_features_policy(student, 2, head="old")


def test_distill_with_feature_regression():
    experts = pt.PolicyNet(members=2, hidden=8)
    losses = am.distill(am.make_student(2, hidden=8), experts, [0.0, 1.0], iters=3, n_envs=8, beta=0.5)
    assert losses.shape == (3,) and np.all(np.isfinite(losses))


def test_finetune_run_is_reproducible_from_its_seed_alone():
    init = pt.PolicyNet(members=1, hidden=8)
    a, net_a = pt.finetune_run(init, math.pi, 3, seed=7, n_envs=8)
    torch.rand(100)  # whatever ran before does not matter
    b, _ = pt.finetune_run(init, math.pi, 3, seed=7, n_envs=8)
    c, _ = pt.finetune_run(init, math.pi, 3, seed=8, n_envs=8)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (3, 1) and not np.array_equal(a, c)
    assert not torch.equal(net_a.head.weight, init.head.weight)  # a trained copy; the initial policy is untouched


def test_shipped_sec02_checkpoint_loads_and_is_small():
    from lecture_utils import checkpoints

    path = checkpoints.sec02_path()
    assert path.exists() and path.stat().st_size < 600_000
    ck = checkpoints.load_sec02()
    cfg = ck["config"]
    A, S, D = len(cfg["alphas"]), cfg["seeds"], len(cfg["directions"])
    assert not cfg["quick"] and ck["pretrained"].members == A * S and ck["experts"].members == 4
    assert ck["ft_curves"].shape == (A + 1, D, cfg["ft_iters"], S) and ck["reach"].shape == (A + 1, D, S)
    assert ck["pre_curve"].shape == (cfg["pre_iters"], A * S) and ck["mt_curve"].shape == (cfg["mt_iters"], 4)
    expert = ck["expert_return"]
    want = np.stack([[pt.iterations_to_reach(ck["ft_curves"][g, j], 0.9 * expert[j]) for j in range(D)]
                     for g in range(A + 1)])
    np.testing.assert_array_equal(ck["reach"], want)
    # same runner episodes for the multitask-RL control as for Actor-Mimic (experts' RL + distillation)
    assert cfg["mt_iters"] * 4 * cfg["ft_envs"] == 4 * cfg["ft_iters"] * cfg["ft_envs"] + \
        4 * cfg["distill_iters"] * cfg["distill_envs"]
    with pytest.raises(FileNotFoundError, match="lecture train sec02"):
        checkpoints.load_sec02("/nonexistent")


@pytest.mark.slow
def test_lecture_train_sec02_quick_writes_a_loadable_checkpoint(tmp_path):
    from lecture_admin.training import sec02 as trainer
    from lecture_utils import checkpoints

    dtype = torch.get_default_dtype()
    try:
        assert trainer.main(["--quick", "--out", str(tmp_path)]) == 0
    finally:
        torch.set_default_dtype(dtype)  # the trainer works in float64, as the notebook does
    ck = checkpoints.load_sec02(tmp_path)
    assert ck["config"]["quick"] and ck["ft_curves"].shape[2] == 2


@pytest.mark.slow
def test_one_entry_of_the_shipped_table_reruns_to_the_same_curve():
    """The table's runs each draw from their own seed: re-running (collapsed alpha = 0, west, seed 0) alone gives
    the stored curve (float64, as the trainer and the notebook run)."""
    from lecture_utils import checkpoints

    dtype = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        ck = checkpoints.load_sec02()
        cfg = ck["config"]
        g, j = cfg["alphas"].index(0.0), cfg["directions"].index(math.pi)
        curve, _ = pt.finetune_run(pt.select_members(ck["pretrained"], [g * cfg["seeds"]]), math.pi, cfg["ft_iters"],
                                   seed=checkpoints.table_seed(g, j, 0), n_envs=cfg["ft_envs"])
    finally:
        torch.set_default_dtype(dtype)
    np.testing.assert_allclose(curve[:, 0], ck["ft_curves"][g, j, :, 0], atol=1e-6)


def test_freeze_features_of_some_members():
    net = pt.stack([pt.new_head_policy(pt.PolicyNet(members=2, hidden=8)), pt.PolicyNet(members=1, hidden=8)])
    before = [p.detach().clone() for p in net.features.parameters()]
    pt.freeze_features_of(net, [0, 1])
    pt.train_pg(net, 3, 0.0, n_envs=8)
    for b, p in zip(before, net.features.parameters()):
        assert torch.equal(p[:2], b[:2]) and not torch.equal(p[2], b[2])
    assert not torch.equal(net.head.weight[0], torch.zeros_like(net.head.weight[0]))  # the heads train
    with pytest.raises(ValueError, match="members must be in"):
        pt.freeze_features_of(net, [3])
