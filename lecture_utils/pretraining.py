"""Pretraining and fine-tuning with an entropy-regularised policy gradient on the PlanarRunner (section 02).

Policies are small MLPs split into `features` (the representation) and `head` (logits over the 16 actions).
Every layer is an *ensemble* layer: `members` independent copies of the weights, shape [M, in, out],
so M runs (seeds, directions) train in one batched pass. Adam is element-wise, so the members train
exactly as M separate runs would. A layer with M = 1 broadcasts over any number of members (a shared
trunk, as in the Actor-Mimic student).

The loss (one member, batch of N rollouts of length T), `entropy_pg_loss` in `lecture_utils.policy_losses`
(which homework 02 asks for, so grading can hide it; `pt.entropy_pg_loss` forwards there), with the slide's
temperature alpha passed as `entropy_coef`:

    L(theta) = -1/(TN) sum_{t,i} log pi_theta(a_t^i | s_t^i) (G_t^i - b_t) - alpha/(TN) sum_{t,i} H(pi_theta(.|s_t^i))

with G_t the discounted reward-to-go and b_t its mean over the batch (all runners start in the same state).
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
from torch import nn

from lecture_utils.envs import planar_runner as pr


class EnsembleLinear(nn.Module):
    """`members` independent linear layers: x [M or 1, N, in] -> [M, N, out] (PyTorch's default init)."""

    def __init__(self, d_in: int, d_out: int, members: int = 1, zero: bool = False):
        super().__init__()
        bound = 1.0 / math.sqrt(d_in)
        self.weight = nn.Parameter(torch.empty(members, d_in, d_out).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(members, 1, d_out).uniform_(-bound, bound))
        if zero:
            nn.init.zeros_(self.weight)
            nn.init.zeros_(self.bias)

    @property
    def members(self) -> int:
        return self.weight.shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 2:  # [N, in]: one member
            x = x[None]
        if x.ndim != 3 or x.shape[-1] != self.weight.shape[1]:
            raise ValueError(f"expected input [members, N, {self.weight.shape[1]}], got {tuple(x.shape)}")
        if x.shape[0] == self.weight.shape[0]:  # x W + b in one kernel
            return torch.baddbmm(self.bias, x, self.weight)
        return torch.matmul(x, self.weight) + self.bias


class PolicyNet(nn.Module):
    """pi_theta(a | o) = softmax(head(features(o))). obs [M, N, 5] (or [N, 5]) -> logits [M, N, 16]."""

    def __init__(self, members: int = 1, hidden: int = 32, obs_dim: int = pr.OBS_DIM,
                 n_actions: int = pr.N_ACTIONS, head_members: int | None = None):
        super().__init__()
        self.hidden = hidden
        self.features = nn.Sequential(EnsembleLinear(obs_dim, hidden, members), nn.Tanh(),
                                      EnsembleLinear(hidden, hidden, members), nn.Tanh())
        self.head = EnsembleLinear(hidden, n_actions, members if head_members is None else head_members)

    @property
    def members(self) -> int:
        return max(self.features[0].members, self.head.members)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(obs))


class MLPPolicy(nn.Module):
    """A plain (single-member) policy network: obs [N, obs_dim] -> logits [N, n_actions]; `features` then `head`."""

    def __init__(self, obs_dim: int = pr.OBS_DIM, n_actions: int = pr.N_ACTIONS, hidden: int = 32):
        super().__init__()
        self.hidden = hidden
        self.features = nn.Sequential(nn.Linear(obs_dim, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh())
        self.head = nn.Linear(hidden, n_actions)

    members = 1  # so rollout_runners() and train_pg() treat it as a one-member ensemble

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(obs))


def _members(policy: nn.Module) -> int:
    return getattr(policy, "members", 1)


def replicate(module: nn.Module, members: int) -> nn.Module:
    """A copy of `module` whose every EnsembleLinear with 1 member is repeated to `members` members."""
    out = copy.deepcopy(module)
    for layer in out.modules():
        if isinstance(layer, EnsembleLinear) and layer.members == 1:
            layer.weight = nn.Parameter(layer.weight.detach().repeat(members, 1, 1))
            layer.bias = nn.Parameter(layer.bias.detach().repeat(members, 1, 1))
    return out


def select_members(module: nn.Module, index) -> nn.Module:
    """A copy of `module` keeping only members `index` (a list of ints) of every multi-member layer."""
    out = copy.deepcopy(module)
    for layer in out.modules():
        if isinstance(layer, EnsembleLinear) and layer.members > 1:
            layer.weight = nn.Parameter(layer.weight.detach()[index].clone())
            layer.bias = nn.Parameter(layer.bias.detach()[index].clone())
    return out


def stack(nets: list[nn.Module]) -> nn.Module:
    """One ensemble whose members are the members of `nets` in order (all with the same architecture)."""
    if not nets:
        raise ValueError("stack() needs at least one network")
    members = [n.members for n in nets]
    out = copy.deepcopy(nets[0])
    layers = [[m for m in n.modules() if isinstance(m, EnsembleLinear)] for n in nets]
    for j, layer in enumerate(m for m in out.modules() if isinstance(m, EnsembleLinear)):
        parts = [ls[j] if ls[j].members == n_m else replicate(ls[j], n_m) for ls, n_m in zip(layers, members)]
        layer.weight = nn.Parameter(torch.cat([q.weight.detach() for q in parts]).clone())
        layer.bias = nn.Parameter(torch.cat([q.bias.detach() for q in parts]).clone())
    return out


def new_head_policy(pretrained: PolicyNet, freeze: bool = True, members: int | None = None) -> PolicyNet:
    """Copy of `pretrained` with a new zero head (uniform policy at start); features frozen if `freeze`."""
    members = members or pretrained.members
    net = replicate(pretrained, members) if pretrained.members == 1 and members > 1 else copy.deepcopy(pretrained)
    net.head = EnsembleLinear(pretrained.hidden, pretrained.head.weight.shape[-1], members, zero=True)
    net.features.requires_grad_(not freeze)
    return net


def freeze_features_of(net: PolicyNet, members) -> PolicyNet:
    """Freeze the features of some members of an ensemble, in place: their gradients are zeroed, so Adam never moves
    them (its update is 0 for a parameter whose gradient is always 0). Lets a frozen-features run and a whole-network
    run train together in one ensemble. Returns `net`."""
    index = [int(m) for m in members]
    if any(not 0 <= m < net.members for m in index):
        raise ValueError(f"members must be in 0..{net.members - 1}, got {index}")
    mask = torch.ones(net.members, 1, 1)
    mask[index] = 0.0
    for layer in net.features:
        if isinstance(layer, EnsembleLinear):
            if layer.members != net.members:
                raise ValueError("freeze_features_of needs an ensemble whose features have one copy per member")
            layer.weight.register_hook(lambda g: g * mask)
            layer.bias.register_hook(lambda g: g * mask)
    return net


# ----------------------------------------------------------------------------- the policy gradient


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """H(pi) = -sum_a pi(a) log pi(a) of softmax(logits), over the last axis."""
    logp = torch.log_softmax(logits, dim=-1)
    return -(logp.exp() * logp).sum(-1)


# ----------------------------------------------------------------------------- rollouts and training


def _task_directions(d, members: int) -> torch.Tensor | None:
    """d: None (speed), an angle, or M angles -> None or [M, 2] unit vectors."""
    if d is None:
        return None
    angles = torch.as_tensor(d, dtype=torch.get_default_dtype()).reshape(-1)
    if angles.numel() == 1:
        angles = angles.expand(members)
    if angles.numel() != members:
        raise ValueError(f"give one direction or one per member ({members}), got {angles.numel()}")
    return pr.direction(angles)


@torch.no_grad()
def rollout_runners(policy: nn.Module, n_envs: int, d=None, members: int | None = None, greedy: bool = False):
    """Run `n_envs` runners per member for one episode.

    d: None (speed reward), an angle (radians) or one angle per member.
    Returns obs [T, M, N, 5], actions [T, M, N], rewards [T, M, N], states [T+1, M, N, 6].
    """
    return _rollout(policy, n_envs, d, members, greedy)[:4]


def _rollout(policy: nn.Module, n_envs: int, d=None, members: int | None = None, greedy: bool = False):
    """rollout_runners(), plus the logits [T, M, N, A] it sampled from, with their autograd graph when grad mode is
    on: training's loss needs log pi at exactly these states, so it needs no second forward pass."""
    M = members or _members(policy)
    dirs = _task_directions(d, M)
    env = pr.BatchedPlanarRunner(M * n_envs, None if dirs is None else dirs.repeat_interleave(n_envs, 0))
    obs, _ = env.reset()
    all_obs, all_a, all_r, all_s, all_logits = [], [], [], [env.state.reshape(M, n_envs, -1)], []
    for _ in range(env.horizon):
        o = obs.reshape(M, n_envs, -1)
        all_logits.append(policy(o))
        logits = all_logits[-1].detach()
        if not greedy:  # Gumbel-max trick: argmax(logits + Gumbel noise) ~ softmax(logits)
            logits = logits - torch.log(-torch.log(torch.rand_like(logits).clamp_min(1e-20)))
        a = logits.argmax(-1)
        obs, r, _, _, _ = env._step(a.reshape(-1))  # step() without its input checks: a is valid
        all_obs.append(o)
        all_a.append(a)
        all_r.append(r.reshape(M, n_envs))
        all_s.append(env.state.reshape(M, n_envs, -1))
    return torch.stack(all_obs), torch.stack(all_a), torch.stack(all_r), torch.stack(all_s), torch.stack(all_logits)


def train_pg(policy: nn.Module, iters: int, d=None, entropy_coef: float = 0.0, n_envs: int = 256,
             lr: float = 1e-2, gamma: float = 0.99, progress_desc: str | None = None, soft: bool = False,
             loss_fn=None) -> np.ndarray:
    """Train `policy` in place with the entropy-regularised PG; returns mean episode return [iters, M].

    entropy_coef: the entropy weight (the slide's temperature alpha), a float or one per member [M].
    loss_fn: optional replacement for `entropy_pg_loss` with the homework's signature
    (logits [T, N, A], actions [T, N], rewards [T, N], gamma, alpha) -> scalar; one member only
    (it receives entropy_coef as its `alpha`).
    """
    M = _members(policy)
    if loss_fn is not None and M != 1:
        raise ValueError(f"a custom loss_fn trains one member at a time, the policy has {M}")
    from lecture_utils.optim import Adam  # torch.optim.Adam's update, without its 2 s import of torch._dynamo

    params = [p for p in policy.parameters() if p.requires_grad]
    opt = Adam(params, lr=lr)
    curve = np.zeros((iters, M))
    steps = range(iters)
    if progress_desc:
        from lecture_utils import progress

        steps = progress(steps, desc=progress_desc)
    for i in steps:
        _, actions, rewards, _, logits = _rollout(policy, n_envs, d)  # logits [T, M, N, A] with their graph
        if loss_fn is None:
            from lecture_utils.policy_losses import entropy_pg_loss

            loss = entropy_pg_loss(logits, actions, rewards, gamma, entropy_coef, soft)
        else:
            r = rewards + entropy_coef * entropy(logits).detach() if soft else rewards  # the soft reward
            loss = loss_fn(logits[:, 0], actions[:, 0], r[:, 0], gamma, entropy_coef)
        opt.zero_grad()
        loss.backward()
        opt.step()
        curve[i] = rewards.sum(0).mean(-1).numpy()
    return curve


def evaluate(policy: nn.Module, d=None, n_envs: int = 1024, greedy: bool = False) -> np.ndarray:
    """Mean episode return per member: shape [M]."""
    _, _, rewards, _ = rollout_runners(policy, n_envs, d, greedy=greedy)
    return rewards.sum(0).mean(-1).numpy()


def running_directions(states: torch.Tensor) -> np.ndarray:
    """Direction (radians) of each runner's final displacement: states [T+1, ..., 6] -> [...]."""
    disp = states[-1, ..., 0:2] - states[0, ..., 0:2]
    return torch.atan2(disp[..., 1], disp[..., 0]).numpy()


def direction_entropy(angles: np.ndarray, bins: int = 16) -> float:
    """Entropy (nats) of the histogram of running directions over `bins` sectors; log(bins) = uniform."""
    counts, _ = np.histogram(np.asarray(angles).ravel(), bins=bins, range=(-np.pi, np.pi))
    p = counts / max(counts.sum(), 1)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


class OraclePolicy(nn.Module):
    """Hand-written expert for directions `angles` (one member each): alternate feet, turn closest to d.

    Not learned: it reads the heading off the compass in the observation. Use with greedy=True.
    """

    def __init__(self, angles, scale: float = 1.0):
        super().__init__()
        self.register_buffer("angles", torch.as_tensor(angles, dtype=torch.get_default_dtype()).reshape(-1))
        self.scale = scale  # logits are scale * (-angle error - 10 * stumble): larger = closer to greedy

    @property
    def members(self) -> int:
        return self.angles.numel()

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        theta = torch.atan2(obs[..., 1], obs[..., 0])  # [M, N]
        err = self.angles[:, None, None] - theta[..., None] - torch.tensor(pr.TURNS)
        turn_score = -torch.abs(torch.remainder(err + math.pi, 2 * math.pi) - math.pi)  # [M, N, 8]
        foot = torch.tensor([-1.0, 1.0]).repeat_interleave(pr.N_TURNS)  # foot of each action [16]
        stumble = (foot == obs[..., 4:5]).to(obs.dtype)  # same foot as last push
        return self.scale * (turn_score.repeat(1, 1, 2) - 10 * stumble)  # [M, N, 16]


def runner_oracle_return(d_angle: float, n_envs: int = 4096) -> float:
    """Mean return of OraclePolicy on direction d_angle: the reference "expert return"."""
    return float(evaluate(OraclePolicy([d_angle]), d_angle, n_envs=n_envs, greedy=True)[0])


def plot_trajectories(ax, states: torch.Tensor, n: int = 20, color=None, label: str | None = None,
                      opacity: float = 0.5):
    """Paths (x, y) of the first `n` runners of states [T+1, N, 6]."""
    xy = states[:, :n, 0:2].numpy()
    for i in range(xy.shape[1]):
        ax.plot(xy[:, i, 0], xy[:, i, 1], color=color, alpha=opacity, lw=1, label=label if i == 0 else None)
    ax.set_aspect("equal")


def finetune(inits: dict[str, nn.Module], angles, iters: int, n_envs: int = 128, lr: float = 1e-2,
             entropy_coef: float = 0.0, progress_desc: str | None = None) -> tuple[dict[str, np.ndarray], dict]:
    """Fine-tune every initial policy (each with S members = seeds) on every direction, all in one ensemble.

    inits: name -> policy with S members; angles: D directions (radians).
    Returns curves name -> [iters, D, S] and the trained policies name -> list of D policies (S members each).
    """
    names, angles = list(inits), [float(a) for a in angles]
    S = {inits[k].members for k in names}
    if len(S) != 1:
        raise ValueError(f"all initial policies need the same number of members (seeds), got {S}")
    S, D = S.pop(), len(angles)
    big = stack([inits[k] for k in names for _ in angles])
    d = torch.tensor([a for _ in names for a in angles]).repeat_interleave(S)
    curve = train_pg(big, iters, d, entropy_coef=entropy_coef, n_envs=n_envs, lr=lr, progress_desc=progress_desc)
    curves = {k: curve.reshape(iters, len(names), D, S)[:, i] for i, k in enumerate(names)}
    nets = {k: [select_members(big, list(range((i * D + j) * S, (i * D + j + 1) * S))) for j in range(D)]
            for i, k in enumerate(names)}
    return curves, nets


def finetune_run(init: nn.Module, angle: float, iters: int, seed: int, n_envs: int = 128, lr: float = 1e-2,
                 entropy_coef: float = 0.0) -> tuple[np.ndarray, nn.Module]:
    """Fine-tune a copy of `init` on direction `angle` (radians) from its own seed: (curve [iters, M], trained copy).

    The run draws its random numbers from `torch.manual_seed(seed)` alone, so one (initial policy, direction, seed)
    run gives the same curve whatever ran before it: a table of such runs (`lecture train sec02`) can be checked
    entry by entry by re-running one of them.
    """
    net = copy.deepcopy(init)
    torch.manual_seed(int(seed))
    curve = train_pg(net, iters, float(angle), entropy_coef=entropy_coef, n_envs=n_envs, lr=lr)
    return curve, net


def iterations_to_reach(curve: np.ndarray, target: float) -> np.ndarray:
    """First iteration at which each run's curve [iters, M] reaches `target` (iters if never): [M]."""
    curve = np.asarray(curve)
    hit = curve >= target
    return np.where(hit.any(0), hit.argmax(0), curve.shape[0])


def polar_histogram(ax, angles: np.ndarray, bins: int = 16, label: str | None = None, color=None):
    """Fraction of runners per direction sector on a polar axis `ax`."""
    counts, edges = np.histogram(np.asarray(angles).ravel(), bins=bins, range=(-np.pi, np.pi))
    frac = counts / max(counts.sum(), 1)
    ax.bar(edges[:-1], frac, width=edges[1] - edges[0], align="edge", alpha=0.6, label=label, color=color,
           edgecolor="k", linewidth=0.3)
    return frac


def __getattr__(name: str):
    """`pt.entropy_pg_loss`: forwarded to `lecture_utils.policy_losses` on first use (grading can hide that file)."""
    if name == "entropy_pg_loss":
        from lecture_utils import policy_losses

        return policy_losses.entropy_pg_loss
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
