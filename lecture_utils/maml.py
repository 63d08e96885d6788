"""MAML (Finn et al. 2017) with parameters as dicts and the inner step as a pure function.

    inner step (slides):  f_theta(M_i) = theta + alpha grad J_i(theta)      (= theta - alpha grad L_i(theta))
    meta update (slides): theta <- theta + beta sum_i grad_theta J_i[theta + alpha grad J_i(theta)]

The meta-gradient flows *through* the inner step: d theta'_i / d theta = I - alpha Hessian L_i(theta),
so the inner gradient must be taken with ``create_graph=True``. The first-order variant (FOMAML) drops
the Hessian term by treating the inner gradient as a constant.
Each task i gets its own adapted parameters theta'_i.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Params = dict[str, torch.Tensor]


def _check_params(params) -> None:
    if not isinstance(params, dict) or not params:
        raise TypeError(f"params must be a non-empty dict name -> tensor, got {type(params).__name__}")
    for k, v in params.items():
        if not isinstance(v, torch.Tensor):
            raise TypeError(f"params[{k!r}] must be a torch.Tensor, got {type(v).__name__}")


def inner_step(params: Params, loss: torch.Tensor, alpha: float, first_order: bool = False) -> Params:
    """theta' = theta - alpha grad_theta loss, as a new dict (params are not modified).

    Second order (default): the result stays a differentiable function of theta (create_graph=True).
    first_order=True: the gradient is detached, so d theta'/d theta = I (FOMAML).
    `loss` may be a sum over tasks of per-task losses when params carry a leading task dimension:
    each task's slice of the gradient then only sees its own loss.
    """
    _check_params(params)
    if not isinstance(loss, torch.Tensor) or loss.ndim != 0:
        raise ValueError(f"loss must be a scalar tensor, got {getattr(loss, 'shape', type(loss).__name__)}")
    names = list(params)
    grads = torch.autograd.grad(loss, [params[k] for k in names], create_graph=not first_order,
                                allow_unused=True)
    out = {}
    for k, g in zip(names, grads):
        if g is None:
            g = torch.zeros_like(params[k])
        out[k] = params[k] - alpha * (g.detach() if first_order else g)
    return out


def meta_gradient(params: Params, meta_loss_fn: Callable[[Params], torch.Tensor]) -> Params:
    """grad_theta of a scalar meta-loss (e.g. sum_i L_i(theta'_i)) as a dict like params."""
    _check_params(params)
    loss = meta_loss_fn(params)
    names = list(params)
    grads = torch.autograd.grad(loss, [params[k] for k in names], allow_unused=True)
    return {k: torch.zeros_like(params[k]) if g is None else g for k, g in zip(names, grads)}


def functional_inner_step(loss_fn: Callable[[Params], torch.Tensor], params: Params, alpha: float,
                          first_order: bool = False) -> Params:
    """The same step written with torch.func: theta' = theta - alpha * torch.func.grad(loss_fn)(theta).

    Pure (no .backward, no requires_grad bookkeeping), so it composes with torch.func.grad (second order
    for free) and torch.func.vmap (one theta'_i per task).
    """
    g = torch.func.grad(loss_fn)(params)
    if first_order:
        g = {k: v.detach() for k, v in g.items()}
    return {k: params[k] - alpha * g[k] for k in params}


def functional_meta_gradient(support_loss_fn: Callable[[Params], torch.Tensor],
                             query_loss_fn: Callable[[Params], torch.Tensor], params: Params, alpha: float,
                             first_order: bool = False) -> Params:
    """grad_theta L^query(theta - alpha grad_theta L^support(theta)) for one task, with torch.func."""

    def meta_loss(p: Params) -> torch.Tensor:
        return query_loss_fn(functional_inner_step(support_loss_fn, p, alpha, first_order))

    return torch.func.grad(meta_loss)(params)


def finite_difference_gradient(params: Params, loss_fn: Callable[[Params], torch.Tensor],
                               eps: float = 1e-5, n_coords: int | None = None,
                               generator: torch.Generator | None = None) -> tuple[Params, Params]:
    """Central differences (L(theta + eps e_j) - L(theta - eps e_j)) / 2 eps on coordinates of theta.

    n_coords=None: every coordinate. Otherwise n_coords random coordinates per tensor. Returns
    (gradient estimates, 0/1 masks saying which coordinates were estimated). Use float64 params.
    """
    est, mask = {}, {}
    base = {k: v.detach().clone() for k, v in params.items()}
    for k, v in base.items():
        g = torch.zeros_like(v)
        m = torch.zeros_like(v)
        n = v.numel()
        if n_coords is None or n_coords >= n:
            idx = torch.arange(n)
        else:
            idx = torch.randperm(n, generator=generator)[:n_coords]
        for j in idx.tolist():
            vals = []
            for sgn in (1.0, -1.0):
                p = dict(base)
                pk = v.clone().reshape(-1)
                pk[j] += sgn * eps
                p[k] = pk.reshape(v.shape)
                with torch.enable_grad():  # loss_fn may need autograd for its own inner step
                    p = {kk: vv.clone().requires_grad_(True) for kk, vv in p.items()}
                    vals.append(loss_fn(p).detach().item())
            g.view(-1)[j] = (vals[0] - vals[1]) / (2 * eps)
            m.view(-1)[j] = 1.0
        est[k], mask[k] = g, m
    return est, mask


def flat(d: Params, mask: Params | None = None) -> torch.Tensor:
    """Concatenate a dict of tensors (optionally only the masked entries) into one detached vector."""
    if mask is None:
        return torch.cat([v.detach().reshape(-1) for v in d.values()])
    return torch.cat([d[k].detach().reshape(-1)[mask[k].reshape(-1) > 0] for k in d])


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    """Cosine similarity of two vectors."""
    return float(torch.dot(a, b) / (a.norm() * b.norm() + 1e-30))


# ---------------------------------------------------------------- MAML for RL (2D point navigation)


def maml_rl_loss(model, params: Params, goals: torch.Tensor, n_traj: int, alpha, gamma: float = 0.99,
                 generator: torch.Generator | None = None, first_order: bool = False, steps: int = 1):
    """The MAML meta-loss over a batch of navigation tasks (one per goal), policy-gradient inner steps.

    For every task i: sample n_traj trajectories with theta, theta'_i = theta - alpha grad L_i(theta)
    (REINFORCE surrogate), sample n_traj more with theta'_i, and score L_i(theta'_i). Returns
    (mean_i L_i(theta'_i) -- differentiable in theta --, returns before [T], returns after one step [T]).
    steps > 1: keep stepping (theta''_i, ...) and average the scores after every step, each step
    differentiable through the ones before it. alpha: one step size, or one per step (step k uses alpha[k]).
    """
    from lecture_utils.policy_gradient import average_return, batch_params, per_task_pg_loss, rollout_point_nav

    alphas = _step_sizes(alpha, steps)
    theta = batch_params(params, len(goals))  # one copy per task: each task gets its own theta'_i
    batch = pre = rollout_point_nav(model, theta, goals, n_traj, generator)
    outer, after = 0.0, None
    for a in alphas:
        theta = inner_step(theta, per_task_pg_loss(model, theta, batch, gamma).sum(), a, first_order)
        batch = rollout_point_nav(model, theta, goals, n_traj, generator)
        outer = outer + per_task_pg_loss(model, theta, batch, gamma).mean() / steps
        after = average_return(batch["rewards"]) if after is None else after
    return outer, average_return(pre["rewards"]), after


def _step_sizes(alpha, steps: int) -> list[float]:
    """One step size per step: alpha repeated, or the sequence alpha itself (which must have `steps` entries)."""
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    alphas = [float(a) for a in alpha] if isinstance(alpha, (list, tuple)) else [float(alpha)] * steps
    if len(alphas) != steps:
        raise ValueError(f"alpha must be one step size or {steps} of them (one per step), got {len(alphas)}")
    return alphas


def adapt_rl(model, params: Params, goals: torch.Tensor, n_traj: int, alpha, steps: int,
             gamma: float = 0.99, generator: torch.Generator | None = None, keep: bool = False,
             batched: bool = False, samples_per_step: int | None = None):
    """Evaluate fast adaptation: for each goal, `steps` policy-gradient steps from theta, n_traj rollouts each.

    alpha: one step size for every step, or a sequence of `steps` step sizes (step k uses alpha[k]).
    batched=True: params already carry a leading [T] dimension (a different theta per goal).
    samples_per_step: sample each step by a budget of this many environment steps per goal, n_traj copies of the
    environment side by side (rollout_point_nav_budget; the paper's test: n_traj=40, samples_per_step=4000), so
    episodes that end early at the goal are replaced by new ones; None: exactly n_traj trajectories per step.
    Returns returns [steps + 1, T] (average return with theta, theta', theta'', ...) and, if keep=True,
    also the list of rollouts (dicts of tensors) and the list of parameter dicts (batched over goals)
    at every step.
    """
    from lecture_utils.policy_gradient import (
        average_return,
        batch_params,
        per_task_pg_loss,
        rollout_point_nav,
        rollout_point_nav_budget,
    )

    def sample(theta: Params) -> dict:
        if samples_per_step is None:
            return rollout_point_nav(model, theta, goals, n_traj, generator)
        return rollout_point_nav_budget(model, theta, goals, samples_per_step, n_traj, generator)

    alphas = [float(a) for a in alpha] if isinstance(alpha, (list, tuple)) else [float(alpha)] * steps
    if len(alphas) != steps:
        raise ValueError(f"alpha must be one step size or {steps} of them (one per step), got {len(alphas)}")
    from lecture_utils.adaptation import adapt

    rets, kept = [], []

    def pg_loss(_step: int, theta: Params) -> torch.Tensor:  # sample with theta_k, record it, step on it
        batch = sample(theta)
        rets.append(average_return(batch["rewards"], batch.get("episodes")))
        kept.append(batch)
        return per_task_pg_loss(model, theta, batch, gamma).sum()

    thetas = adapt(params if batched else batch_params(params, len(goals)), pg_loss, alphas)
    last = sample(thetas[-1])  # the adapted policy, measured
    rets.append(average_return(last["rewards"], last.get("episodes")))
    kept.append(last)
    out = torch.stack(rets)
    return (out, kept, [{n: v.detach() for n, v in th.items()} for th in thetas]) if keep else out


def point_nav_oracle_return(goals: torch.Tensor, horizon: int | None = None) -> torch.Tensor:
    """Return of the policy that sees the goal and moves straight to it at full speed: [T]."""
    from lecture_utils.envs.point_nav import HORIZON, BatchedPointNav

    env = BatchedPointNav(goals, 1, horizon or HORIZON)
    o, _ = env.reset()
    total = torch.zeros(len(goals), 1)
    for _ in range(env.horizon):
        o, r, *_ = env.step(env.goals[:, None, :] - o)
        total += r
    return total[:, 0]


# Average return on 2D navigation (40 goals) after 0, 1, 2, 3 policy-gradient steps, from the MAML paper's
# released result files (Finn et al. 2017, Fig. 5 / rllab maml_examples).
PAPER_POINT_NAV = {
    "MAML": (-40.4, -11.7, -3.33, -3.23),
    "pretrained": (-40.8, -19.7, -11.7, -8.47),
    "random init": (-82.7, -58.0, -53.8, -46.8),
    "oracle": (-2.29,),
}


def paper_test_goals() -> torch.Tensor:
    """The 40 test goals of the MAML paper's evaluation script, [40, 2].

    maml_examples/test_maml_point.py draws them with `np.random.seed(1)` then
    `np.random.uniform(-0.5, 0.5, size=(40, 2))`; NumPy's legacy generator reproduces them exactly.
    """
    import numpy as np

    return torch.tensor(np.random.RandomState(1).uniform(-0.5, 0.5, size=(40, 2)), dtype=torch.float32)


PAPER_SAMPLES_PER_STEP = 4000  # test_maml_point.py: VPG(batch_size=4000, max_path_length=100)


def paper_test_step_sizes(alpha: float, steps: int) -> tuple[float, ...]:
    """The paper's test protocol: the first step with the meta-training step size alpha, later steps alpha / 2.

    (test_maml_point.py runs VPG with init_learning_rate = alpha for the first update and a learning rate of
    alpha / 2 after it; every step samples PAPER_SAMPLES_PER_STEP = 4,000 environment steps with 40 environments side
    by side, i.e. 40 trajectories of 100 steps while no episode ends early, more once episodes end at the goal:
    see rollout_point_nav_budget.)
    """
    return tuple(alpha if k == 0 else alpha / 2 for k in range(steps))


def compare_adaptation(model, methods: dict[str, Params], alpha, steps: int = 3, n_goals: int = 40,
                       n_traj: int = 20, seeds=(0, 1, 2), gamma: float = 0.99,
                       goals: torch.Tensor | None = None,
                       samples_per_step: int | None = None) -> dict[str, torch.Tensor]:
    """Average return over n_goals new goals after 0..steps inner steps, for every initialisation in `methods`.

    alpha: one step size, or one per step (see paper_test_step_sizes). Each evaluation seed draws its own
    goals (the same for every method) unless `goals` [n_goals, 2] is given, which every seed then reuses
    (with its own sampling noise); all seeds' goals run as one batch of tasks. samples_per_step: as adapt_rl
    (None: n_traj trajectories per step; 4000: the paper's budget of environment steps). Also returns the "oracle"
    (moves straight to the goal it sees). Values: tensors [n_seeds, steps + 1] (oracle: [n_seeds, 1]).
    """
    from lecture_utils.envs.point_nav import sample_goals

    if goals is not None:
        goals = torch.as_tensor(goals, dtype=torch.float32)
        if goals.ndim != 2 or goals.shape[1] != 2:
            raise ValueError(f"goals must have shape [n_goals, 2], got {tuple(goals.shape)}")
        n_goals = len(goals)
        goals = goals.repeat(len(seeds), 1)
    else:
        goals = torch.cat([sample_goals(n_goals, torch.Generator().manual_seed(10_000 + s)) for s in seeds])
    out = {}
    for name, params in methods.items():  # one batch of n_seeds x n_goals tasks per method
        gen = torch.Generator().manual_seed(20_000 + seeds[0])  # the same noise for every method
        rets = adapt_rl(model, params, goals, n_traj, alpha, steps, gamma, gen, samples_per_step=samples_per_step)
        out[name] = rets.reshape(steps + 1, len(seeds), n_goals).mean(-1).T.contiguous()
    out["oracle"] = point_nav_oracle_return(goals).reshape(len(seeds), n_goals).mean(1, keepdim=True)
    return out


EVAL_METHODS = ("MAML", "pretrained", "random init")
CHECKPOINT_KEYS = {"MAML": "maml", "pretrained": "pretrained"}


def evaluate_seeds(seeds=None, steps: int = 3, n_traj: int = 40, goals: torch.Tensor | None = None,
                   step_sizes=None, methods=EVAL_METHODS,
                   samples_per_step: int | None = PAPER_SAMPLES_PER_STEP) -> dict[str, torch.Tensor]:
    """MAML, pretrained and random init of every shipped training seed, adapted on the same new goals.

    Defaults follow the paper's test protocol: its 40 test goals (paper_test_goals), every step sampled as the
    paper's VPG did (samples_per_step = 4,000 environment steps, n_traj = 40 environments side by side; see
    rollout_point_nav_budget), step sizes alpha, alpha / 2, alpha / 2 (paper_test_step_sizes), the checkpoint's own
    gamma. samples_per_step=None: exactly n_traj trajectories per step instead.
    methods: any of "MAML", "pretrained" and "random init" (a fresh network, seeded by the training seed).
    Returns {method: average return [n_seeds, steps + 1]} plus "oracle" [n_seeds, 1].
    """
    from lecture_utils import checkpoints

    unknown = [m for m in methods if m not in CHECKPOINT_KEYS and m != "random init"]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; choose from {[*CHECKPOINT_KEYS, 'random init']}")
    goals = paper_test_goals() if goals is None else goals
    runs: dict[str, list] = {}
    for seed in checkpoints.MAML_SEEDS if seeds is None else seeds:
        policy, ckpt = checkpoints.load_maml(seed)
        config = ckpt["config"]
        chosen = {}
        for name in methods:
            if name == "random init":
                chosen[name] = checkpoints.random_init(config, seed=seed + 1)
            elif CHECKPOINT_KEYS[name] not in ckpt:
                raise ValueError(f"the checkpoint of training seed {seed} has no {name!r} parameters")
            else:
                chosen[name] = ckpt[CHECKPOINT_KEYS[name]]
        alphas = step_sizes or paper_test_step_sizes(config["alpha"], steps)
        ev = compare_adaptation(policy, chosen, alpha=alphas, steps=steps, n_traj=n_traj, seeds=(0,),
                                gamma=config["gamma"], goals=goals, samples_per_step=samples_per_step)
        for name, r in ev.items():
            runs.setdefault(name, []).append(r[0])
    return {name: torch.stack(r) for name, r in runs.items()}
