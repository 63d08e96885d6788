"""Section 05 library code: point navigation, REINFORCE, the MAML inner step and meta-gradient, sinusoids."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env
from torch import nn
from torch.func import functional_call

from lecture_utils import maml, sinusoid
from lecture_utils.envs.point_nav import MAX_ACTION, BatchedPointNav, PointNavEnv, sample_goals
from lecture_utils.policy_gradient import (
    GaussianMLPPolicy,
    advantages,
    batch_params,
    init_params,
    linear_feature_baseline,
    log_prob,
    per_task_pg_loss,
    reinforce_loss,
    rewards_to_go,
    rollout_point_nav,
)
from tests.conftest import ROOT

# ---------------------------------------------------------------- environment


def test_point_nav_is_a_gymnasium_env_with_clipping_and_distance_reward():
    env = PointNavEnv(goal=(0.3, -0.2))
    check_env(env, skip_render_check=True)
    obs, info = env.reset(seed=0)
    assert np.allclose(obs, 0) and np.allclose(info["goal"], [0.3, -0.2])
    obs, r, term, trunc, _ = env.step(np.array([1.0, -0.05]))
    assert np.allclose(obs, [MAX_ACTION, -0.05])  # clipped per axis
    assert r == pytest.approx(-math.hypot(0.3 - 0.1, -0.2 + 0.05), rel=1e-6)
    assert not term and not trunc
    for _ in range(99):
        *_, trunc, _ = env.step(np.zeros(2))
    assert trunc


def test_point_nav_episode_terminates_within_tolerance_of_the_goal():
    env = PointNavEnv(goal=(0.2, -0.1))
    env.reset(seed=0)
    for _ in range(1):
        _, _, term, trunc, _ = env.step(np.array([0.1, -0.05]))
    assert not term  # 0.1 away on x
    _, r, term, trunc, _ = env.step(np.array([0.095, -0.045]))  # within 0.005 of the goal on both axes
    assert term and not trunc and r == pytest.approx(-math.hypot(0.005, 0.005), abs=1e-6)
    env.reset()
    _, _, term, _, _ = env.step(np.array([0.1, -0.1]))  # x within 0.1 but not 0.01; y exact
    assert not term


def test_batched_env_freezes_terminated_copies_with_zero_reward():
    goals = torch.tensor([[0.05, 0.0]])
    benv = BatchedPointNav(goals, n_traj=2)
    benv.reset()
    _, r, term, trunc, _ = benv.step(torch.tensor([[[0.05, 0.0], [0.0, 0.0]]]))  # copy 0 lands on the goal
    assert term.tolist() == [[True, False]] and r[0, 0].item() == pytest.approx(0.0, abs=1e-7)
    assert not trunc.any()
    obs, r, term, _, _ = benv.step(torch.tensor([[[0.1, 0.1], [0.05, 0.0]]]))
    assert torch.allclose(obs[0, 0], goals[0]) and r[0, 0].item() == 0.0  # no move, no cost after the end
    assert term.tolist() == [[True, True]]  # terminated stays True: no autoreset
    benv.reset()
    *_, term, _, _ = benv.step(torch.zeros(1, 2, 2))
    assert not term.any()


def test_rollout_masks_the_steps_after_termination_and_pg_loss_ignores_them():
    torch.manual_seed(0)
    model = GaussianMLPPolicy(hidden=(4,), init_std=1e-3, out_scale=0.0, action_scale=1.0)
    params = init_params(model)
    with torch.no_grad():
        params["mu.2.bias"].copy_(torch.tensor([0.1, 0.0]))  # always move +0.1 along x
    theta = batch_params(params, 2)
    goals = torch.tensor([[0.3, 0.0], [-0.4, 0.2]])  # goal 0 reached after 3 steps, goal 1 never
    b = rollout_point_nav(model, theta, goals, n_traj=2, generator=torch.Generator().manual_seed(1), horizon=6)
    assert b["mask"][0].tolist() == [[1, 1, 1, 0, 0, 0]] * 2 and b["mask"][1].eq(1).all()
    assert b["rewards"][0, :, 3:].eq(0).all()
    assert torch.allclose(b["positions"][0, :, -1], goals[0].expand(2, 2), atol=0.01)
    before = per_task_pg_loss(model, theta, b)
    later = dict(b, actions=b["actions"].clone())
    later["actions"][0, :, 3:] += 5.0  # what the policy "did" after the episode ended must not matter
    assert torch.allclose(per_task_pg_loss(model, theta, later), before)


def test_linear_feature_baseline_fits_returns_that_are_quadratic_in_the_state():
    gen = torch.Generator().manual_seed(0)
    obs = torch.rand(2, 5, 7, 2, generator=gen) - 0.5
    goal = torch.tensor([0.3, -0.2])
    t = torch.arange(7.0) / 100
    target = -((obs - goal) ** 2).sum(-1) + 2 * t  # in the span of [s, s^2, t, t^2, t^3, 1]
    b = linear_feature_baseline(obs, target)
    assert b.shape == target.shape and torch.allclose(b, target, atol=1e-3)  # (ridge 1e-5: not exact)
    mask = torch.ones_like(target)
    mask[:, :, 4:] = 0  # steps after termination are not fitted: garbage there changes nothing
    garbage = target.clone()
    garbage[:, :, 4:] = 1e3
    assert torch.allclose(linear_feature_baseline(obs, garbage, mask), b, atol=1e-3)
    with pytest.raises(ValueError, match="expected"):
        linear_feature_baseline(obs[0], target[0])


def test_pg_loss_with_the_time_baseline_is_the_homework_reinforce_loss():
    torch.manual_seed(0)
    model = GaussianMLPPolicy(hidden=(8,), init_std=1.0, out_scale=1.0, action_scale=MAX_ACTION)
    theta = batch_params(init_params(model), 3)
    goals = sample_goals(3, torch.Generator().manual_seed(0))
    b = rollout_point_nav(model, theta, goals, n_traj=4, generator=torch.Generator().manual_seed(1), horizon=12)
    assert b["mask"].eq(1).all()  # nobody reaches a goal in 12 random steps here
    lp = log_prob(model, theta, b["obs"], b["actions"])
    want = reinforce_loss(lp, b["rewards"], 0.9)
    assert torch.allclose(per_task_pg_loss(model, theta, b, 0.9, normalize=False, baseline="time"), want, atol=1e-6)
    linear = per_task_pg_loss(model, theta, b, 0.9, normalize=False)
    assert linear.shape == (3,) and not torch.allclose(linear, want)
    with pytest.raises(ValueError, match="baseline must be"):
        per_task_pg_loss(model, theta, b, baseline="mean")


def test_point_nav_draws_goals_in_the_square_and_rejects_bad_shapes():
    env = PointNavEnv()
    goals = np.array([env.reset(seed=s)[1]["goal"] for s in range(50)])
    assert goals.min() >= -0.5 and goals.max() <= 0.5
    with pytest.raises(ValueError, match="action must have shape"):
        env.step(np.zeros(3))
    with pytest.raises(ValueError, match="goal must have shape"):
        PointNavEnv(goal=(1.0, 2.0, 3.0))
    g = sample_goals(1000, torch.Generator().manual_seed(0))
    assert g.shape == (1000, 2) and g.abs().max() <= 0.5


def test_batched_env_matches_the_gymnasium_env():
    goals = torch.tensor([[0.2, 0.1], [-0.4, 0.3]])
    benv = BatchedPointNav(goals, n_traj=3)
    benv.reset()
    acts = torch.randn(2, 3, 2, generator=torch.Generator().manual_seed(0)) * 0.2
    _, r, *_ = benv.step(acts)
    for i in range(2):
        env = PointNavEnv(goal=goals[i].numpy())
        env.reset()
        _, ri, *_ = env.step(acts[i, 1].numpy())
        assert r[i, 1].item() == pytest.approx(ri, abs=1e-6)
    with pytest.raises(ValueError, match="actions must have shape"):
        benv.step(torch.zeros(3, 2, 2))
    with pytest.raises(ValueError, match="goals must have shape"):
        BatchedPointNav(torch.zeros(4), 2)


# ---------------------------------------------------------------- policy gradient


def test_rewards_to_go_and_baseline_known_values():
    r = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 1.0]])
    G = rewards_to_go(r, 0.5)
    assert torch.allclose(G, torch.tensor([[1 + 1 + 0.75, 2 + 1.5, 3.0], [0.25, 0.5, 1.0]]))
    A = advantages(r, 0.5)
    assert torch.allclose(A.sum(0), torch.zeros(3))  # baseline = mean over trajectories
    An = advantages(r, 0.5, normalize=True)
    assert An.mean().abs() < 1e-6 and (An.std() - 1).abs() < 1e-5
    with pytest.raises(ValueError, match="n_traj, horizon"):
        advantages(torch.zeros(5), 0.9)


def test_reinforce_gradient_is_unbiased_for_a_gaussian_bandit():
    # one-step "trajectories", reward -(a - 1)^2 with a ~ N(mu, 1): dJ/dmu = -2 (mu - 1)
    mu = torch.tensor(0.3, requires_grad=True)
    gen = torch.Generator().manual_seed(0)
    a = mu.detach() + torch.randn(20000, 1, generator=gen)
    lp = -0.5 * (a - mu) ** 2
    loss = reinforce_loss(lp, -((a - 1) ** 2), gamma=1.0)
    (g,) = torch.autograd.grad(loss, mu)
    assert -g.item() == pytest.approx(-2 * (0.3 - 1), rel=0.05)
    with pytest.raises(ValueError, match="must match"):
        reinforce_loss(torch.zeros(2, 3), torch.zeros(3, 2))


def test_log_prob_matches_torch_distributions_and_rollout_shapes():
    torch.manual_seed(0)
    model = GaussianMLPPolicy(init_std=0.3)
    theta = batch_params(init_params(model), 2)
    goals = torch.tensor([[0.1, 0.2], [0.3, -0.4]])
    b = rollout_point_nav(model, theta, goals, n_traj=4, generator=torch.Generator().manual_seed(1), horizon=7)
    assert b["obs"].shape == (2, 4, 7, 2) and b["actions"].shape == (2, 4, 7, 2)
    assert b["rewards"].shape == (2, 4, 7) and b["positions"].shape == (2, 4, 8, 2)
    lp = log_prob(model, theta, b["obs"], b["actions"])
    mean = model.mu(b["obs"])
    want = torch.distributions.Normal(mean, 0.3).log_prob(b["actions"]).sum(-1)
    assert torch.allclose(lp, want, atol=1e-5)
    # the same seed gives the same rollouts
    b2 = rollout_point_nav(model, theta, goals, n_traj=4, generator=torch.Generator().manual_seed(1), horizon=7)
    assert torch.equal(b["rewards"], b2["rewards"])


def test_rollout_scales_actions_like_rllab_normalize():
    torch.manual_seed(0)
    model = GaussianMLPPolicy(hidden=(4,), init_std=1.0, out_scale=1.0, action_scale=MAX_ACTION)
    theta = batch_params(init_params(model), 1)
    goals = torch.tensor([[0.2, -0.3]])
    b = rollout_point_nav(model, theta, goals, n_traj=3, generator=torch.Generator().manual_seed(1), horizon=5)
    moves = b["positions"].diff(dim=2)
    assert torch.allclose(moves, (MAX_ACTION * b["actions"]).clamp(-MAX_ACTION, MAX_ACTION), atol=1e-6)
    assert GaussianMLPPolicy().action_scale == 1.0  # default: the env gets the sampled action itself


# ---------------------------------------------------------------- MAML


def _tiny():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(1, 5), nn.Tanh(), nn.Linear(5, 1)).double()
    params = {k: v.detach().clone().requires_grad_(True) for k, v in model.named_parameters()}
    x = torch.linspace(-1, 1, 7, dtype=torch.float64)[:, None]
    return model, params, x, torch.sin(3 * x), torch.cos(2 * x)


def test_inner_step_is_pure_and_keeps_the_graph():
    model, params, x, y, yq = _tiny()
    loss_fn = lambda p, t: ((functional_call(model, p, (x,)) - t) ** 2).mean()
    before = {k: v.detach().clone() for k, v in params.items()}
    adapted = maml.inner_step(params, loss_fn(params, y), 0.1)
    assert all(torch.equal(params[k].detach(), before[k]) for k in params)
    g = torch.autograd.grad(loss_fn(params, y), list(params.values()))
    for (k, p), gk in zip(params.items(), g):
        assert torch.allclose(adapted[k], p - 0.1 * gk)
    meta = lambda p, fo=False: loss_fn(maml.inner_step(p, loss_fn(p, y), 0.1, fo), yq)
    second = maml.flat(maml.meta_gradient(params, meta))
    first = maml.flat(maml.meta_gradient(params, lambda p: meta(p, True)))
    fd, mask = maml.finite_difference_gradient(params, meta, eps=1e-6)
    assert torch.allclose(second, maml.flat(fd, mask), atol=1e-8)
    assert not torch.allclose(first, second, atol=1e-4)  # the Hessian term matters
    # torch.func version gives the same second-order meta-gradient
    func = maml.functional_meta_gradient(lambda p: loss_fn(p, y), lambda p: loss_fn(p, yq), params, 0.1)
    assert torch.allclose(maml.flat(func), second, atol=1e-12)
    func_fo = maml.functional_meta_gradient(lambda p: loss_fn(p, y), lambda p: loss_fn(p, yq), params, 0.1, True)
    assert torch.allclose(maml.flat(func_fo), first, atol=1e-12)


def test_inner_step_clear_errors():
    _, params, *_ = _tiny()
    with pytest.raises(TypeError, match="dict"):
        maml.inner_step([1, 2], torch.tensor(0.0), 0.1)
    with pytest.raises(ValueError, match="scalar"):
        maml.inner_step(params, torch.zeros(3), 0.1)


def test_batched_inner_step_gives_each_task_its_own_theta_prime():
    model = sinusoid.make_model(8).double()
    params = {k: v.detach().clone().requires_grad_(True) for k, v in model.named_parameters()}
    amp, phase = sinusoid.sample_tasks(3, torch.Generator().manual_seed(0))
    xs, ys = (t.double() for t in sinusoid.sample_data(amp, phase, 5, torch.Generator().manual_seed(1)))
    theta = sinusoid.batch_params(params, 3)
    adapted = maml.inner_step(theta, sinusoid.mse(model, theta, xs, ys).sum(), 0.05)
    for i in range(3):  # the same as adapting task i alone
        one = maml.inner_step(params, ((functional_call(model, params, (xs[i],)) - ys[i]) ** 2).mean(), 0.05)
        assert all(torch.allclose(adapted[k][i], one[k]) for k in params)


def test_sinusoid_maml_training_reduces_one_step_error():
    model, params, hist = sinusoid.train("maml", 150, seed=0, meta_batch=10, lr=1e-2)
    assert len(hist) >= 2
    mse, per_task = sinusoid.mse_after_steps(model, params, n_tasks=50, steps=2, seed=3)
    assert per_task.shape == (3, 50)
    assert mse[1] < 0.7 * mse[0]
    shared, _ = sinusoid.mse_after_steps(model, params, n_tasks=50, steps=1, seed=3, shared=True)
    assert shared[1] > mse[1]
    with pytest.raises(ValueError, match="kind"):
        sinusoid.train("reptile", 1)
    with pytest.raises(ValueError, match="n_tasks, m, 1"):
        sinusoid.predict(model, sinusoid.batch_params(params, 2), torch.zeros(2, 5))


def test_maml_rl_loss_and_adaptation_shapes():
    torch.manual_seed(0)
    model = GaussianMLPPolicy(hidden=(8,), init_std=1.0, out_scale=1.0)
    theta = init_params(model)
    goals = sample_goals(3, torch.Generator().manual_seed(0))
    loss, before, after = maml.maml_rl_loss(model, theta, goals, 4, 0.5, generator=torch.Generator().manual_seed(1))
    assert loss.ndim == 0 and before.shape == (3,) and after.shape == (3,)
    grads = maml.meta_gradient(theta, lambda p: maml.maml_rl_loss(model, p, goals, 4, 0.5,
                                                                  generator=torch.Generator().manual_seed(1))[0])
    assert set(grads) == set(theta) and all(torch.isfinite(g).all() for g in grads.values())
    loss2, _, after2 = maml.maml_rl_loss(model, theta, goals, 4, 0.5, generator=torch.Generator().manual_seed(1),
                                         steps=2)
    assert loss2.ndim == 0 and torch.equal(after2, after)  # the same first step, then one more
    rets = maml.adapt_rl(model, theta, goals, 4, 0.5, steps=2, generator=torch.Generator().manual_seed(2))
    assert rets.shape == (3, 3)
    assert (maml.point_nav_oracle_return(goals) > rets.max()).all()
    ev = maml.compare_adaptation(model, {"a": theta}, 0.5, steps=1, n_goals=2, n_traj=2, seeds=(0, 1))
    assert ev["a"].shape == (2, 2) and ev["oracle"].shape == (2, 1)
    fixed = torch.tensor([[0.1, 0.2], [-0.3, 0.4], [0.0, -0.1]])
    ev = maml.compare_adaptation(model, {"a": theta}, (0.5, 0.25), steps=2, n_traj=2, seeds=(0, 1), goals=fixed)
    assert ev["a"].shape == (2, 3) and torch.allclose(ev["oracle"][0], ev["oracle"][1])  # the same goals
    with pytest.raises(ValueError, match="one per step"):
        maml.adapt_rl(model, theta, goals, 2, (0.5,), steps=2)
    with pytest.raises(ValueError, match="goals must have shape"):
        maml.compare_adaptation(model, {"a": theta}, 0.5, steps=1, goals=torch.zeros(3))


# ---------------------------------------------------------------- checkpoints


@pytest.mark.slow
@pytest.mark.parametrize("name", ["maml", "sinusoid"])
def test_train_command_regenerates_a_quick_checkpoint(name, tmp_path):
    out = tmp_path / f"{name}.pt"
    r = subprocess.run([sys.executable, "-m", "lecture_admin", "train", name, "--quick", "--out", str(out)],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    ckpt = torch.load(out, weights_only=True)
    shipped = torch.load(ROOT / "lecture_utils" / "checkpoints" / out.name.replace("maml", "maml_point_nav"),
                         weights_only=True)
    for kind in ("maml", "pretrained"):
        assert {k: v.shape for k, v in ckpt[kind].items()} == {k: v.shape for k, v in shipped[kind].items()}


def test_shipped_rl_checkpoints_match_the_documented_command():
    from lecture_admin.training import maml as maml_training
    from lecture_utils import checkpoints
    from lecture_utils.maml import evaluate_seeds

    for seed in checkpoints.MAML_SEEDS:
        path = checkpoints.maml_path(seed)
        assert path.exists(), f"missing {path.name}: run `lecture train maml --seed {seed}`"
        policy, ckpt = checkpoints.load_maml(path=path)
        assert ckpt["seed"] == seed
        assert {**maml_training.LEGACY_DEFAULTS, **ckpt["config"]} == maml_training.CONFIG
    ev = evaluate_seeds(seeds=(0,), steps=1, n_traj=2, goals=torch.tensor([[0.1, 0.2], [0.3, 0.0]]),
                        samples_per_step=200)
    assert set(ev) == {"MAML", "pretrained", "random init", "oracle"}
    assert ev["MAML"].shape == (1, 2) and ev["oracle"].shape == (1, 1)


def test_paper_test_protocol():
    goals = maml.paper_test_goals()
    assert goals.shape == (40, 2) and goals.abs().max() <= 0.5
    assert goals[0].tolist() == pytest.approx([-0.082978, 0.220324], abs=1e-6)  # np.random.seed(1); uniform(-.5, .5)
    assert maml.paper_test_step_sizes(0.5, 3) == (0.5, 0.25, 0.25)


def test_maml_rl_loss_takes_one_step_size_per_inner_step():
    torch.manual_seed(0)
    model = GaussianMLPPolicy(hidden=(8,), init_std=1.0, out_scale=1.0)
    theta = init_params(model)
    goals = sample_goals(2, torch.Generator().manual_seed(0))
    run = lambda alpha: maml.maml_rl_loss(model, theta, goals, 3, alpha, generator=torch.Generator().manual_seed(1),
                                          steps=2)
    same, listed = run(0.5), run((0.5, 0.5))
    assert torch.equal(same[0], listed[0])  # a scalar alpha means that alpha at every step
    assert not torch.equal(run((0.5, 0.25))[0], same[0]) and torch.equal(run((0.5, 0.25))[2], same[2])
    with pytest.raises(ValueError, match="one per step"):
        run((0.5,))
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        maml.maml_rl_loss(model, theta, goals, 3, 0.5, steps=0)


def test_training_step_sizes_follow_the_config():
    from lecture_admin.training.maml import CONFIG, train_step_sizes

    assert train_step_sizes({**CONFIG, "inner_steps": 3, "later_alpha_scale": 0.5}) == (0.5, 0.25, 0.25)
    assert train_step_sizes({**CONFIG, "inner_steps": 1}) == (CONFIG["alpha"],)
    assert train_step_sizes({"alpha": 0.5}) == (0.5,)  # checkpoints from before the field existed


def test_evaluate_seeds_chooses_methods_and_rejects_unknown_ones():
    from lecture_utils.maml import evaluate_seeds

    goals = torch.tensor([[0.1, 0.2]])
    ev = evaluate_seeds(seeds=(0,), steps=1, n_traj=2, goals=goals, methods=("MAML",), samples_per_step=None)
    assert set(ev) == {"MAML", "oracle"}
    with pytest.raises(ValueError, match="unknown method"):
        evaluate_seeds(seeds=(0,), steps=1, n_traj=2, goals=goals, methods=("MAML", "Reptile"))


def test_notebook_evaluation_is_evaluate_seeds_row_for_training_seed_0():
    """Notebook 05 runs the paper protocol with adapt_rl in front of the reader (seed 20_000, step sizes alpha,
    alpha/2, alpha/2, the paper's goals, a budget of environment steps per step) and cites it as evaluate_seeds' row
    for training seed 0 (lecture bench)."""
    from lecture_utils import checkpoints
    from lecture_utils.maml import evaluate_seeds

    goals = maml.paper_test_goals()
    ev = evaluate_seeds(seeds=(0,), steps=3, n_traj=3, methods=("MAML", "pretrained"), samples_per_step=300)
    policy, ckpt = checkpoints.load_maml(0)
    alphas = maml.paper_test_step_sizes(ckpt["config"]["alpha"], 3)
    for name, key in (("MAML", "maml"), ("pretrained", "pretrained")):
        rets, _, thetas = maml.adapt_rl(policy, ckpt[key], goals, n_traj=3, alpha=alphas, steps=3,
                                        generator=torch.Generator().manual_seed(20_000), keep=True,
                                        samples_per_step=300)
        assert torch.equal(rets.mean(1), ev[name][0])
        assert len(thetas) == 4 and thetas[1]["log_std"].shape == (40, 2)
    assert torch.equal(maml.point_nav_oracle_return(goals).mean(0, keepdim=True), ev["oracle"][0])


def test_rollout_fast_path_equals_the_policy_forward_and_env_step():
    """rollout_point_nav's lean loop (cached layer views, in-place tanh, env._advance) gives bit-identical results
    to stepping BatchedPointNav.step with GaussianMLPPolicy.forward_batched."""
    from lecture_utils.envs.point_nav import BatchedPointNav

    torch.manual_seed(0)
    model = GaussianMLPPolicy(hidden=(16, 16), init_std=1.0, out_scale=1.0, action_scale=0.1)
    goals = torch.tensor([[0.02, 0.01], [-0.3, 0.2]])
    theta = batch_params(init_params(model), 2)
    b = rollout_point_nav(model, theta, goals, n_traj=3, generator=torch.Generator().manual_seed(1), horizon=30)
    env, gen = BatchedPointNav(goals, 3, 30), torch.Generator().manual_seed(1)
    o, _ = env.reset()
    with torch.no_grad():
        for t in range(30):
            mean, log_std = model.forward_batched(theta, o)
            a = mean + torch.exp(log_std)[:, None, :] * torch.randn(mean.shape, generator=gen)
            assert torch.equal(b["obs"][:, :, t], o) and torch.equal(b["actions"][:, :, t], a)
            o, r, *_ = env.step(0.1 * a)
            assert torch.equal(b["rewards"][:, :, t], r)


@pytest.mark.parametrize("chunk_steps", [1, 24, 36])
def test_pg_loss_in_chunks_of_tasks_is_bit_identical(monkeypatch, chunk_steps):
    """per_task_pg_loss splits a large batch into chunks of whole tasks (cache-sized): same losses, same gradients,
    also through a differentiable inner step (MAML's second order)."""
    import lecture_utils.policy_gradient as pg

    torch.manual_seed(0)
    model = GaussianMLPPolicy(hidden=(16, 16), init_std=1.0, out_scale=1.0, action_scale=0.1)
    goals = sample_goals(5, torch.Generator().manual_seed(2))
    theta = {k: v.unsqueeze(0).repeat(5, *[1] * v.ndim).requires_grad_(True) for k, v in init_params(model).items()}
    batch = rollout_point_nav(model, theta, goals, n_traj=3, generator=torch.Generator().manual_seed(1), horizon=4)

    def run():
        loss = pg.per_task_pg_loss(model, theta, batch)
        g = torch.autograd.grad(loss.sum(), list(theta.values()), create_graph=True)
        return [loss, *g, *torch.autograd.grad(sum(x.pow(2).sum() for x in g), list(theta.values()))]

    whole = run()
    monkeypatch.setattr(pg, "CHUNK_STEPS", chunk_steps)  # 12 steps a task: chunks of 1, 2 or 3 of the 5 tasks
    assert all(torch.equal(a, b) for a, b in zip(whole, run()))


def test_budget_sampler_without_early_ends_is_the_fixed_count_rollout():
    """rollout_point_nav_budget (the paper's sampler): with goals out of reach every episode runs the full horizon,
    so a budget of n_envs * horizon steps gives exactly n_envs episodes, the same ones as rollout_point_nav."""
    from lecture_utils.policy_gradient import average_return, rollout_point_nav_budget

    torch.manual_seed(0)
    model = GaussianMLPPolicy(hidden=(16, 16), init_std=1.0, out_scale=1.0, action_scale=0.1)
    goals = torch.tensor([[10.0, 10.0], [-10.0, 5.0]])
    theta = batch_params(init_params(model), 2)
    fixed = rollout_point_nav(model, theta, goals, 3, torch.Generator().manual_seed(1), horizon=20)
    budget = rollout_point_nav_budget(model, theta, goals, 60, 3, torch.Generator().manual_seed(1), horizon=20)
    for k in ("obs", "actions", "rewards", "mask", "positions"):
        assert torch.equal(fixed[k], budget[k]), k
    assert budget["episodes"].tolist() == [[1.0] * 3] * 2
    assert torch.equal(average_return(budget["rewards"], budget["episodes"]), average_return(fixed["rewards"]))
    with pytest.raises(ValueError, match="positive integers"):
        rollout_point_nav_budget(model, theta, goals, 0, 3)
    with pytest.raises(ValueError, match="goals must have shape"):
        rollout_point_nav_budget(model, theta, torch.zeros(2), 60, 3)


def test_budget_sampler_replaces_episodes_that_end_at_the_goal():
    """Episodes that end at the goal are replaced by new ones until the finished episodes hold the budget; only
    finished episodes are kept; the loss on the padded batch equals the loss on every step (packing is exact)."""
    import lecture_utils.policy_gradient as pg
    from lecture_utils.envs.point_nav import GOAL_TOLERANCE

    torch.manual_seed(0)
    model = GaussianMLPPolicy(hidden=(16, 16), init_std=0.05, out_scale=0.0, action_scale=0.1)
    goals = torch.tensor([[0.0, 0.0], [0.003, -0.002], [0.3, 0.3]])  # the first two end at once, the third never
    theta = {k: v.unsqueeze(0).repeat(3, *[1] * v.ndim).requires_grad_(True) for k, v in init_params(model).items()}
    b = pg.rollout_point_nav_budget(model, theta, goals, 50, 4, torch.Generator().manual_seed(3), horizon=25)
    length = b["mask"].sum(-1)
    n_eps = b["episodes"].sum(1)
    assert n_eps[0] >= 50 / 4 and n_eps[2] == 4  # 4 envs x 25 steps >= 50 steps: one round of full episodes
    assert (length.sum(1) >= 50).all() and ((length > 0) == (b["episodes"] > 0)).all()
    ends = b["positions"][torch.arange(3)[:, None], torch.arange(b["mask"].shape[1]), length.long()]
    reached = ((ends - goals[:, None]).abs() < GOAL_TOLERANCE).all(-1)
    assert ((length == 25) | reached | (b["episodes"] == 0)).all()
    packed = pg.per_task_pg_loss(model, theta, b)
    plain = pg._per_task_pg_loss(model, theta, b, 0.99, True, "linear")
    assert torch.allclose(packed, plain, atol=1e-6)
    g1 = torch.autograd.grad(packed.sum(), list(theta.values()))
    g2 = torch.autograd.grad(plain.sum(), list(theta.values()))
    assert all(torch.allclose(x, y, atol=1e-5) for x, y in zip(g1, g2))
