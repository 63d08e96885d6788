"""Policy gradient (REINFORCE with a baseline) for a Gaussian MLP policy, with parameters as a dict.

    grad J(theta) ~= 1/(N H) sum_n sum_t grad log pi_theta(a_t | s_t) (G_t - b_t),   G_t = sum_{t'>=t} gamma^(t'-t) r_t'

Parameters are explicit dicts (``torch.func.functional_call``) so that MAML can push them through an
inner step; a leading task dimension on every tensor of the dict means "one policy per task" and the
forward pass is vmapped over it.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.func import functional_call, vmap

from lecture_utils.envs.point_nav import HORIZON, BatchedPointNav
from lecture_utils.returns import rewards_to_go  # noqa: F401 - part of this module's API

Params = dict[str, torch.Tensor]


ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU}


class GaussianMLPPolicy(nn.Module):
    """pi_theta(a | s) = N(mu_theta(s), diag(exp(log_std))^2); mu is an MLP with tanh hidden layers.

    action_scale: the environment receives action_scale * a (like rllab's `normalize` wrapper, which maps
    policy actions in [-1, 1] to the action box); log-probabilities are those of the unscaled a.
    """

    def __init__(self, obs_dim: int = 2, act_dim: int = 2, hidden: tuple[int, ...] = (64, 64),
                 init_std: float = 0.1, out_scale: float = 0.1, action_scale: float = 1.0,
                 activation: str = "tanh"):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        self.action_scale = float(action_scale)
        layers: list[nn.Module] = []
        d = obs_dim
        for h in hidden:
            layers += [nn.Linear(d, h), ACTIVATIONS[activation]()]
            d = h
        last = nn.Linear(d, act_dim)
        with torch.no_grad():  # start near a zero-mean policy: exploration comes from the std
            last.weight.mul_(out_scale)
            last.bias.zero_()
        layers.append(last)
        self.mu = nn.Sequential(*layers)
        self.log_std = nn.Parameter(torch.full((act_dim,), math.log(init_std)))

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """obs [..., obs_dim] -> (mean [..., act_dim], log_std [act_dim])."""
        return self.mu(obs), self.log_std

    def forward_batched(self, params: Params, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One policy per task: params with a leading [T] dim; obs [T, ..., obs_dim] -> (mean, log_std [T, act_dim]).

        The same as vmap(functional_call) over tasks (to float32 rounding), written with batched matmuls (~5x
        faster on a CPU); without autograd (rollouts) tanh is evaluated as 2 sigmoid(2x) - 1 (twice as fast).
        """
        h = obs.reshape(obs.shape[0], -1, obs.shape[-1])
        for i, layer in enumerate(self.mu):
            if isinstance(layer, nn.Linear):
                w, b = params[f"mu.{i}.weight"], params[f"mu.{i}.bias"]
                h = torch.baddbmm(b[:, None, :], h, w.transpose(1, 2))
            elif isinstance(layer, nn.Tanh) and not torch.is_grad_enabled():
                h = torch.sigmoid(h * 2).mul_(2).sub_(1)  # = tanh(h), which ATen's CPU kernel is 2x slower at
            else:
                h = layer(h)
        return h.reshape(*obs.shape[:-1], h.shape[-1]), params["log_std"]


def init_params(model: nn.Module) -> Params:
    """The model's parameters as a fresh dict of leaf tensors that require grad (theta)."""
    return {k: v.detach().clone().requires_grad_(True) for k, v in model.named_parameters()}


def batch_params(params: Params, n_tasks: int) -> Params:
    """One copy of theta per task: every tensor gets a leading [n_tasks] dimension (differentiable)."""
    return {k: v.unsqueeze(0).expand(n_tasks, *v.shape) for k, v in params.items()}


def policy_forward(model: nn.Module, params: Params, obs: torch.Tensor, batched: bool):
    """(mean, log_std) of pi_theta at obs. batched=True: params and obs have a leading task dimension."""
    if batched:
        if isinstance(model, GaussianMLPPolicy):
            return model.forward_batched(params, obs)
        return vmap(lambda p, o: functional_call(model, p, (o,)))(params, obs)
    return functional_call(model, params, (obs,))


def log_prob(model: nn.Module, params: Params, obs: torch.Tensor, actions: torch.Tensor,
             batched: bool = True) -> torch.Tensor:
    """log pi_theta(a | s) summed over action dims: obs, actions [..., d] -> [...]."""
    mean, log_std = policy_forward(model, params, obs, batched)
    if batched:
        log_std = log_std.reshape(log_std.shape[0], *([1] * (mean.ndim - 2)), log_std.shape[-1])
    z = (actions - mean) * torch.exp(-log_std)
    return (-0.5 * z**2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)


def _rollout_mean(model: nn.Module, params: Params):
    """obs [T, N, d] -> mu_theta_i(obs) [T, N, act_dim] without autograd, for a rollout's many small steps.

    For a GaussianMLPPolicy: `forward_batched`'s operations, identical results, with the per-layer lookups done once
    and the tanh computed in place (a rollout step is mostly per-operation overhead).
    """
    if not isinstance(model, GaussianMLPPolicy):
        return lambda o: policy_forward(model, params, o, batched=True)[0]
    layers = []
    for i, layer in enumerate(model.mu):
        if isinstance(layer, nn.Linear):
            layers.append((params[f"mu.{i}.bias"][:, None, :], params[f"mu.{i}.weight"].transpose(1, 2)))
        elif isinstance(layer, nn.Tanh):
            layers.append(None)
        else:
            layers.append(layer)

    def mean_of(o: torch.Tensor) -> torch.Tensor:
        h = o
        for layer in layers:
            if layer is None:  # tanh(h) = 2 sigmoid(2h) - 1, as forward_batched without autograd
                h = h.mul_(2).sigmoid_().mul_(2).sub_(1)
            elif isinstance(layer, tuple):
                h = torch.baddbmm(layer[0], h, layer[1])
            else:
                h = layer(h)
        return h

    return mean_of


@torch.no_grad()
def rollout_point_nav(model: nn.Module, params: Params, goals: torch.Tensor, n_traj: int,
            generator: torch.Generator | None = None, horizon: int = HORIZON,
            deterministic: bool = False) -> dict[str, torch.Tensor]:
    """Sample n_traj trajectories per goal with pi_theta_i for goal i (params batched over goals).

    Returns obs [T, N, H, 2] (the state each action was taken in), actions [T, N, H, 2] (unclipped
    samples, whose log-probability the gradient uses; the env gets model.action_scale (default 1) times
    them and clips), rewards [T, N, H] (0 after the episode terminated at the goal), mask [T, N, H]
    (1 for the steps taken before termination: the only ones the policy gradient may use) and
    positions [T, N, H + 1, 2] (the path, starting at the origin; it stays put after termination).
    """
    env = BatchedPointNav(goals, n_traj, horizon)
    scale = getattr(model, "action_scale", 1.0)
    o, _ = env.reset()
    terminated = torch.zeros(env.n_tasks, n_traj, dtype=torch.bool)
    obs, acts, rews, alive = [], [], [], []
    mean_of = _rollout_mean(model, params)
    std = torch.exp(policy_forward(model, params, o, batched=True)[1])[:, None, :]  # state-independent sigma
    for _ in range(horizon):
        mean = mean_of(o)
        a = mean
        if not deterministic:
            noise = torch.randn(mean.shape, generator=generator)
            a = mean + std * noise
        obs.append(o)
        acts.append(a)
        alive.append((~terminated).float())
        env._advance(a if scale == 1.0 else scale * a)  # env.step without its defensive copies (nothing is in place)
        o, terminated = env.pos, env._terminated
        rews.append(env._reward)
    obs_t = torch.stack(obs, 2)
    return {"obs": obs_t, "actions": torch.stack(acts, 2), "rewards": torch.stack(rews, 2), "goals": env.goals,
            "mask": torch.stack(alive, 2), "positions": torch.cat([obs_t, o[:, :, None, :]], 2)}


@torch.no_grad()
def rollout_point_nav_budget(model: nn.Module, params: Params, goals: torch.Tensor, n_steps: int, n_envs: int,
                             generator: torch.Generator | None = None,
                             horizon: int = HORIZON) -> dict[str, torch.Tensor]:
    """Sample by a budget of environment steps per goal, as rllab's VectorizedSampler (the MAML paper's code).

    For each goal, n_envs copies of the environment run side by side; a copy whose episode ends (at the goal, or
    after `horizon` steps) starts a new one at once. Sampling stops, per goal, after the first step at which the
    *finished* episodes hold at least n_steps steps; the episodes still running are dropped. So when episodes end
    early at the goal, a step's batch holds more (short) episodes than n_envs, and the average over the finished
    episodes weighs short ones more than their share (rllab's AverageReturn). The MAML paper tests with
    batch_size = 4,000 steps and max_path_length = 100: n_envs = 40, n_steps = 4000.
    Returns the keys of rollout_point_nav, padded to the largest number of episodes N of any goal (obs, actions,
    rewards, mask [T, N, H], positions), plus "episodes" [T, N] (1 for a real episode, 0 for padding).
    """
    if not isinstance(n_steps, int) or n_steps < 1 or not isinstance(n_envs, int) or n_envs < 1:
        raise ValueError(f"n_steps and n_envs must be positive integers, got {n_steps!r} and {n_envs!r}")
    goals = torch.as_tensor(goals, dtype=torch.float32)
    if goals.ndim != 2 or goals.shape[1] != 2:
        raise ValueError(f"goals must have shape [n_tasks, 2], got {tuple(goals.shape)}")
    from lecture_utils.envs.point_nav import point_nav_dynamics

    T, E = len(goals), n_envs
    scale = getattr(model, "action_scale", 1.0)
    std = torch.exp(policy_forward(model, params, torch.zeros(T, 1, goals.shape[1]), batched=True)[1])[:, None, :]
    sub = torch.arange(T)  # the goals still sampling (a goal whose budget is spent is dropped from the batch)
    mean_of, goals_sub, std_sub = _rollout_mean(model, params), goals[:, None, :], std
    pos, t_in = torch.zeros(T, E, 2), torch.zeros(T, E, dtype=torch.long)
    finished = torch.zeros(T, dtype=torch.long)  # steps in the finished episodes of each goal in `sub`
    segments, rec = [], []  # runs of steps with the same goals sampling: (goals, [per step (obs, a, r, next, t, done)])
    while len(sub):
        mean = mean_of(pos)
        a = mean + std_sub * torch.randn(mean.shape, generator=generator)
        nxt, reward, at_goal = point_nav_dynamics(pos, scale * a, goals_sub)  # the environment's own step
        t_next = t_in + 1
        done = at_goal | (t_next >= horizon)  # a copy whose episode ends starts a new one (rllab's sampler)
        rec.append((pos, a, reward, nxt, t_in, done))
        finished = finished + (t_next * done).sum(1)
        pos, t_in = nxt.masked_fill(done[..., None], 0.0), t_next.masked_fill(done, 0)
        still = finished < n_steps
        if not bool(still.all()):
            segments.append((sub, rec))
            rec = []
            sub, pos, t_in, goals_sub, std_sub = sub[still], pos[still], t_in[still], goals_sub[still], std_sub[still]
            finished = finished[still]
            mean_of = _rollout_mean(model, {k: v[sub] for k, v in params.items()}) if len(sub) else None
    S = sum(len(steps) for _, steps in segments)
    keys = ("obs", "actions", "rewards", "next", "t", "done")
    r = {"obs": torch.zeros(T, E, S, 2), "actions": torch.zeros(T, E, S, 2), "rewards": torch.zeros(T, E, S),
         "next": torch.zeros(T, E, S, 2), "t": torch.zeros(T, E, S, dtype=torch.long),
         "done": torch.zeros(T, E, S, dtype=torch.bool)}
    start = 0
    for g, steps in segments:  # into [T, E, S, ...]: S steps of the side-by-side copies
        for k, values in zip(keys, zip(*steps)):
            r[k][g, :, start:start + len(steps)] = torch.stack(values, 2)
        start += len(steps)
    ends = r["done"].long()  # the episodes that finished while their goal was still sampling
    kept_per_env = ends.sum(2)  # [T, E]
    episode = ends.cumsum(2) - ends  # which episode of its copy each step belongs to
    keep = episode < kept_per_env[..., None]
    first = kept_per_env.cumsum(1) - kept_per_env  # each copy's episodes are numbered after the previous copies'
    n_eps = kept_per_env.sum(1)
    N = int(n_eps.max())
    ti, ei, si = keep.nonzero(as_tuple=True)
    ni, hi = first[ti, ei] + episode[ti, ei, si], r["t"][ti, ei, si]
    out = {"obs": torch.zeros(T, N, horizon, 2), "actions": torch.zeros(T, N, horizon, 2),
           "rewards": torch.zeros(T, N, horizon), "mask": torch.zeros(T, N, horizon),
           "positions": torch.zeros(T, N, horizon, 2)}
    for k, src in (("obs", "obs"), ("actions", "actions"), ("rewards", "rewards"), ("positions", "next")):
        out[k][ti, ni, hi] = r[src][ti, ei, si]
    out["mask"][ti, ni, hi] = 1.0
    length = out["mask"].sum(-1).long()  # [T, N]; 0 for padding
    last = out["positions"].gather(2, (length - 1).clamp_min(0)[..., None, None].expand(T, N, 1, 2))
    after = out["mask"] == 0  # the point stays where its episode ended
    out["positions"] = torch.cat([torch.zeros(T, N, 1, 2),
                                  torch.where(after[..., None], last, out["positions"])], 2)
    out["episodes"] = (length > 0).float()
    out["goals"] = goals
    return out


def advantages(rewards: torch.Tensor, gamma: float, normalize: bool = False) -> torch.Tensor:
    """A_t = G_t - b_t with the time-dependent baseline b_t = mean over trajectories of G_t.

    rewards [..., N, H] -> [..., N, H]. normalize=True rescales each task's advantages to mean 0, std 1.
    """
    if rewards.ndim < 2:
        raise ValueError(f"rewards must have shape [..., n_traj, horizon], got {tuple(rewards.shape)}")
    G = rewards_to_go(rewards, gamma)
    A = G - G.mean(dim=-2, keepdim=True)
    if normalize:
        flat = A.flatten(-2)
        A = ((flat - flat.mean(-1, keepdim=True)) / (flat.std(-1, keepdim=True) + 1e-8)).reshape(A.shape)
    return A


def reinforce_loss(log_probs: torch.Tensor, rewards: torch.Tensor, gamma: float = 0.99,
                   normalize: bool = False) -> torch.Tensor:
    """Surrogate loss L = -mean_{n,t} log pi(a_t|s_t) (G_t - b_t); its gradient is -grad J.

    log_probs, rewards [..., N, H] -> loss [...] (one per task). The advantages carry no gradient.
    """
    if log_probs.shape != rewards.shape:
        raise ValueError(f"log_probs {tuple(log_probs.shape)} and rewards {tuple(rewards.shape)} must match")
    A = advantages(rewards.detach(), gamma, normalize)
    return -(log_probs * A).mean(dim=(-2, -1))


def average_return(rewards: torch.Tensor, episodes: torch.Tensor | None = None) -> torch.Tensor:
    """Undiscounted return per trajectory averaged over trajectories: rewards [..., N, H] -> [...].

    episodes [..., N]: 1 for the real trajectories of a padded batch (rollout_point_nav_budget), which alone count.
    """
    if episodes is None:
        return rewards.sum(-1).mean(-1)
    return (rewards.sum(-1) * episodes).sum(-1) / episodes.sum(-1).clamp_min(1.0)


def linear_feature_baseline(obs: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor | None = None,
                            reg: float = 1e-5, time: torch.Tensor | None = None) -> torch.Tensor:
    """b(s_t, t): a least-squares fit of the reward-to-go on features of the state and time, per task.

    The MAML paper's code uses this baseline (rllab's LinearFeatureBaseline): features
    [s, s^2, t/100, (t/100)^2, (t/100)^3, 1], fitted by ridge regression on the task's own batch. Because
    -||s - g||^2 is linear in (s, s^2), it can tell a trajectory that has wandered off from one near the goal,
    which a time-only baseline cannot: lower variance, and still no bias (it does not depend on the action).
    obs [T, N, H, d], returns [T, N, H], mask [T, N, H] (steps to fit on) -> baseline [T, N, H], no gradient.
    time [T, N, H]: each entry's step within its episode, if not its index along H (a packed batch).
    """
    if obs.ndim != 4 or returns.shape != obs.shape[:-1]:
        raise ValueError(f"obs [T, N, H, d] and returns [T, N, H] expected, got {tuple(obs.shape)} and "
                         f"{tuple(returns.shape)}")
    obs, returns = obs.detach().double(), returns.detach().double()
    mask = torch.ones_like(returns) if mask is None else mask.detach().double()
    T, N, H, _ = obs.shape
    t = (torch.arange(H, dtype=torch.float64) if time is None else time.double()).expand(T, N, H)[..., None] / 100
    o = obs.clamp(-10, 10)
    X = torch.cat([o, o**2, t, t**2, t**3, torch.ones_like(t)], -1)  # [T, N, H, F]
    Xm = (X * mask[..., None]).reshape(T, N * H, -1)
    gram = Xm.transpose(1, 2) @ Xm + reg * torch.eye(X.shape[-1], dtype=torch.float64)
    w = torch.linalg.solve(gram, Xm.transpose(1, 2) @ (returns * mask).reshape(T, N * H, 1))  # [T, F, 1]
    return (X.reshape(T, N * H, -1) @ w).reshape(T, N, H).to(torch.float32)


def per_task_pg_loss(model: nn.Module, params: Params, batch: dict[str, torch.Tensor], gamma: float = 0.99,
            normalize: bool = True, baseline: str = "linear") -> torch.Tensor:
    """REINFORCE surrogate of a rollout batch under (batched) params: one loss per task [T].

    L_i = -(1 / #steps) sum_{n,t} log pi(a_t|s_t) A_t over the steps actually taken (batch["mask"]: steps
    after an episode terminated carry nothing, as rllab's variable-length paths). A_t = G_t - b: with
    baseline="linear" (default, as the MAML paper's code) b = linear_feature_baseline; with "time" b_t is
    the mean reward-to-go at time t (the homework's `reinforce_loss`). normalize: A rescaled to mean 0,
    std 1 over each task's steps (rllab's center_adv).
    """
    if baseline not in ("linear", "time"):
        raise ValueError(f'baseline must be "linear" or "time", got {baseline!r}')
    if "episodes" in batch:  # a padded batch (rollout_point_nav_budget): evaluate the policy on the steps taken only
        return _packed_pg_loss(model, params, batch, gamma, normalize, baseline)
    n_tasks, per_task = batch["rewards"].shape[0], batch["rewards"][0].numel()
    chunk = max(1, CHUNK_STEPS // max(1, per_task))
    if n_tasks <= chunk:
        return _per_task_pg_loss(model, params, batch, gamma, normalize, baseline)
    keys = [k for k in ("obs", "actions", "rewards", "mask") if k in batch]  # every task's loss is its own:
    return torch.cat([_per_task_pg_loss(model, {k: v[s:s + chunk] for k, v in params.items()},  # same numbers
                                        {k: batch[k][s:s + chunk] for k in keys}, gamma, normalize, baseline)
                      for s in range(0, n_tasks, chunk)])


# per_task_pg_loss evaluates the policy on at most this many steps (tasks x trajectories x horizon) at once: a large
# batch (e.g. 40 goals x 40 trajectories) in chunks of whole tasks keeps each chunk's activations in the CPU's cache
# (forward and backward about 1.5x faster, bit-identical: no task's computation mixes with another's)
CHUNK_STEPS = 32_000


def _per_task_pg_loss(model: nn.Module, params: Params, batch: dict[str, torch.Tensor], gamma: float,
                      normalize: bool, baseline: str) -> torch.Tensor:
    lp = log_prob(model, params, batch["obs"], batch["actions"], batched=True)
    A, mask, taken = _pg_advantages(batch, gamma, normalize, baseline)
    return -(lp * A * mask).sum(dim=(-2, -1)) / taken


def _packed_pg_loss(model: nn.Module, params: Params, batch: dict[str, torch.Tensor], gamma: float,
                    normalize: bool, baseline: str) -> torch.Tensor:
    """_per_task_pg_loss of a padded batch, computed on each task's taken steps only (packed first)."""
    if baseline != "linear":
        A, mask, taken = _pg_advantages(batch, gamma, normalize, baseline)
        return -(log_prob(model, params, batch["obs"], batch["actions"], batched=True) * A * mask).sum((-2, -1)) / taken
    mask = batch["mask"]
    T, N, H = mask.shape
    flat = mask.reshape(T, N * H)
    order = torch.sort(flat, dim=1, descending=True, stable=True).indices[:, : int(flat.sum(1).max())]
    pick = lambda x: x.reshape(T, N * H, *x.shape[3:]).gather(  # noqa: E731
        1, order.reshape(*order.shape, *([1] * (x.ndim - 3))).expand(*order.shape, *x.shape[3:]))[:, None]
    G = rewards_to_go(batch["rewards"].detach(), gamma)
    step = torch.arange(H, dtype=torch.float32).expand(T, N, H)
    obs, m = pick(batch["obs"]), pick(mask)  # [T, 1, S(, d)]: every task's steps, then padding
    A = (pick(G) - linear_feature_baseline(obs, pick(G), m, time=pick(step))) * m
    taken = m.sum(dim=(-2, -1)).clamp_min(1.0)
    if normalize:
        A = _normalized(A, m, taken)
    actions, chunk = pick(batch["actions"]), max(1, CHUNK_STEPS // obs.shape[2])  # cache-sized chunks of tasks
    lp = torch.cat([log_prob(model, {k: v[i:i + chunk] for k, v in params.items()}, obs[i:i + chunk],
                             actions[i:i + chunk], batched=True) for i in range(0, T, chunk)])
    return -(lp * A * m).sum(dim=(-2, -1)) / taken


def _pg_advantages(batch: dict[str, torch.Tensor], gamma: float, normalize: bool, baseline: str):
    """(advantages [T, N, H] (zero on steps not taken), mask [T, N, H], steps taken per task [T]), no gradient."""
    rewards = batch["rewards"].detach()
    mask = batch.get("mask")
    mask = torch.ones_like(rewards) if mask is None else mask
    G = rewards_to_go(rewards, gamma)
    if baseline == "linear":
        b = linear_feature_baseline(batch["obs"], G, mask)
    else:
        b = G.mean(dim=-2, keepdim=True)
    taken = mask.sum(dim=(-2, -1)).clamp_min(1.0)  # [T]
    A = (G - b) * mask
    return (_normalized(A, mask, taken) if normalize else A), mask, taken


def _normalized(A: torch.Tensor, mask: torch.Tensor, taken: torch.Tensor) -> torch.Tensor:
    """Advantages rescaled to mean 0, std 1 over each task's steps taken (rllab's center_adv)."""
    mean = A.sum(dim=(-2, -1)) / taken
    centred = (A - mean[:, None, None]) * mask
    std = (centred.pow(2).sum(dim=(-2, -1)) / taken).sqrt()
    return centred / (std[:, None, None] + 1e-8)
