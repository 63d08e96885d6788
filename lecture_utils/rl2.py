"""RL^2 (Duan et al. 2016): a recurrent policy whose hidden state is the learned belief, trained across tasks.

The policy sees, at every step t, what happened at step t - 1: the action (one-hot), the reward and the
done flag, and keeps its GRU hidden state h across the episodes of one task (a bandit pull is one
episode). The hidden state is reset only when a new task begins. Trained by A2C over a batch of tasks,
its weights theta *are* f_theta: an algorithm that maps the experience of a new MDP M_i to behaviour.

Shapes: B tasks in parallel, k arms, n pulls per trial, H hidden units.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn


def rl2_inputs(prev_action: torch.Tensor, prev_reward: torch.Tensor, prev_done: torch.Tensor, k: int) -> torch.Tensor:
    """The RL^2 input x_t = [one_hot(a_{t-1}), r_{t-1}, d_{t-1}]: shape [B, k + 2].

    prev_action: [B] long, -1 where there is no previous step (the first step of a task: all zeros).
    prev_reward, prev_done: [B] float.
    """
    prev_action = torch.as_tensor(prev_action)
    if prev_action.ndim != 1 or prev_action.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"prev_action must be a [B] integer tensor, got shape {tuple(prev_action.shape)}, "
                         f"dtype {prev_action.dtype}")
    if int(prev_action.max()) >= k:
        raise ValueError(f"prev_action has an action >= k={k}")
    one_hot = torch.zeros(prev_action.shape[0], k)
    has_prev = prev_action >= 0
    one_hot[has_prev, prev_action[has_prev].long()] = 1.0
    r = torch.as_tensor(prev_reward, dtype=torch.get_default_dtype()).reshape(-1, 1)
    d = torch.as_tensor(prev_done, dtype=torch.get_default_dtype()).reshape(-1, 1)
    return torch.cat([one_hot, r, d], dim=1)


class RL2Policy(nn.Module):
    """GRU policy. Input x_t [B, k + 3]: the RL^2 input and the time feature t / n; hidden state h [B, H].

    ``step`` acts one step at a time (while collecting experience); ``sequence`` re-runs a whole trial
    [B, n, k + 3] in one call (for the gradient) and gives logits [B, n, k] and values [B, n].
    """

    def __init__(self, k: int, hidden: int = 48):
        super().__init__()
        self.k, self.hidden = k, hidden
        self.gru = nn.GRU(k + 3, hidden, batch_first=True)
        self.pi = nn.Linear(hidden, k)
        self.v = nn.Linear(hidden, 1)

    def initial_state(self, batch: int) -> torch.Tensor:
        return torch.zeros(batch, self.hidden)

    def _check(self, x: torch.Tensor, ndim: int) -> None:
        if x.ndim != ndim or x.shape[-1] != self.k + 3:
            want = "[B, k + 3]" if ndim == 2 else "[B, n, k + 3]"
            raise ValueError(f"x must have shape {want} with k + 3 = {self.k + 3}, got {tuple(x.shape)}")

    def step(self, x: torch.Tensor, h: torch.Tensor):
        """x [B, k + 3], h [B, H] -> logits [B, k], value [B], new h [B, H]."""
        self._check(x, 2)
        out, h = self.gru(x[:, None], h[None])
        out = out[:, 0]
        return self.pi(out), self.v(out).squeeze(-1), h[0]

    def sequence(self, xs: torch.Tensor):
        """xs [B, n, k + 3] from a fresh hidden state -> logits [B, n, k], values [B, n], hidden [B, n, H]."""
        self._check(xs, 3)
        out, _ = self.gru(xs)
        return self.pi(out), self.v(out).squeeze(-1), out


@dataclass
class Rollout:
    """One trial per task. actions, rewards, means [B, n]; inputs [B, n, k + 3]; hidden [B, n, H] (no grad)."""

    actions: torch.Tensor
    rewards: torch.Tensor
    means: torch.Tensor  # p[a_t], the expected reward of each pull (known in meta-training only)
    inputs: torch.Tensor
    hidden: torch.Tensor = field(repr=False)  # the learned belief, for plots


@torch.no_grad()
def rollout_bandits(policy: RL2Policy, p: torch.Tensor, n: int, generator: torch.Generator | None = None,
            greedy: bool = False) -> Rollout:
    """Run n pulls on each of the B bandit tasks p [B, k]; the hidden state carries over all pulls of a task."""
    B, k = p.shape
    if k != policy.k:
        raise ValueError(f"policy is for k={policy.k} arms, tasks have k={k}")
    h = policy.initial_state(B)  # a new task: fresh hidden state ...
    a_prev = torch.full((B,), -1, dtype=torch.long)  # ... and no previous action, reward or done
    r_prev, d_prev = torch.zeros(B), torch.zeros(B)
    rows = torch.arange(B)
    out = {key: [] for key in ("a", "r", "m", "x", "h")}
    for t in range(n):
        x = torch.cat([rl2_inputs(a_prev, r_prev, d_prev, k), torch.full((B, 1), t / n)], dim=1)
        logits, _, h = policy.step(x, h)
        if greedy:
            a = logits.argmax(dim=1)
        else:
            a = torch.multinomial(torch.softmax(logits, dim=1), 1, generator=generator).squeeze(1)
        r = (torch.rand(B, generator=generator, dtype=p.dtype) < p[rows, a]).to(p.dtype)
        for key, val in (("a", a), ("r", r), ("m", p[rows, a]), ("x", x), ("h", h)):
            out[key].append(val)
        a_prev, r_prev, d_prev = a, r, torch.ones(B)  # a pull is a one-step episode: done after each
    st = lambda key: torch.stack(out[key], dim=1)
    return Rollout(st("a"), st("r"), st("m"), st("x"), st("h"))


@dataclass
class RL2Config:
    k: int = 2
    n: int = 10
    hidden: int = 48
    batch: int = 256  # parallel tasks per update
    iters: int = 1500
    lr: float = 3e-3
    entropy_start: float = 0.05  # entropy bonus, annealed linearly to 0: without it some seeds lock onto one arm
    value_coef: float = 0.5
    expected_reward: bool = True  # returns built from p[a] (see a2c_loss)
    normalize_advantages: bool = True
    task_critic: bool = True  # baseline from a critic that sees p (see TaskCritic)
    lr_decay: bool = True  # lr annealed linearly to 0: the last updates polish instead of jitter
    seed: int = 0


class TaskCritic(nn.Module):
    """A baseline for meta-training only, which also sees the task p: V(h_t, p, t/n). [B, n, H], [B, k] -> [B, n].

    Knowing p removes the task-to-task spread of returns from the advantage (an "informed critic"); the policy
    itself never sees p, and at test time there is no critic at all.
    """

    def __init__(self, k: int, hidden: int, width: int = 64):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(k + hidden + 1, width), nn.Tanh(), nn.Linear(width, 1))

    def forward(self, hidden: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        B, n, _ = hidden.shape
        t = torch.arange(n, dtype=torch.get_default_dtype()).expand(B, n)[..., None] / n
        return self.net(torch.cat([hidden, p[:, None, :].expand(B, n, -1), t], dim=-1)).squeeze(-1)


def a2c_loss(policy: RL2Policy, ro: Rollout, entropy_coef: float, value_coef: float = 0.5,
             expected_reward: bool = True, normalize: bool = True, critic: TaskCritic | None = None,
             p: torch.Tensor | None = None) -> torch.Tensor:
    """A2C on one batch of trials: -log pi(a_t | h_t) A_t + value_coef (G_t - V_t)^2 - entropy_coef H[pi(. | h_t)].

    G_t = sum_{t' >= t} r_t' (undiscounted reward-to-go), A_t = G_t - V(h_t). expected_reward: build G_t from
    p[a_t'] instead of the sampled r_t' (same expected gradient, less noise; the agent still *sees* only
    sampled rewards). normalize: advantages scaled to mean 0, std 1 over the batch. critic: use a TaskCritic
    (which sees the tasks p [B, k]) as the baseline instead of the policy's own value head.
    """
    logits, values, hidden = policy.sequence(ro.inputs)
    if critic is not None:
        values = critic(hidden.detach(), p)
    logp_all = torch.log_softmax(logits, dim=-1)
    log_probs = logp_all.gather(-1, ro.actions[..., None]).squeeze(-1)
    entropy = -(logp_all.exp() * logp_all).sum(-1)
    r = ro.means if expected_reward else ro.rewards
    G = r.flip(1).cumsum(1).flip(1)
    adv = (G - values).detach()
    if normalize:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    return -(log_probs * adv).mean() + value_coef * (G - values).pow(2).mean() - entropy_coef * entropy.mean()


def train_rl2(cfg: RL2Config, progress=None, time_budget: float | None = None, sample_tasks=None):
    """Meta-train an RL2Policy on bandit tasks p ~ U[0, 1]^k. Returns (policy, curve, seconds).

    curve: total reward per trial, averaged over each update's batch (a float per update): the learning curve.
    sample_tasks(generator, batch, k) -> p [batch, k] replaces the uniform task distribution.
    """
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    policy = RL2Policy(cfg.k, cfg.hidden)
    critic = TaskCritic(cfg.k, cfg.hidden) if cfg.task_critic else None
    params = list(policy.parameters()) + (list(critic.parameters()) if critic is not None else [])
    opt = torch.optim.Adam(params, lr=cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda it: 1.0 - it / cfg.iters if cfg.lr_decay else 1.0)
    curve = []
    t0 = time.perf_counter()
    its = range(cfg.iters) if progress is None else progress(range(cfg.iters))
    for it in its:
        p = torch.rand(cfg.batch, cfg.k, generator=gen) if sample_tasks is None else sample_tasks(gen, cfg.batch, cfg.k)
        ro = rollout_bandits(policy, p, cfg.n, gen)
        frac = it / max(cfg.iters - 1, 1)
        entropy_coef = cfg.entropy_start * max(0.0, 1.0 - frac / 0.8)  # annealed to 0 at 80% of training
        loss = a2c_loss(policy, ro, entropy_coef, cfg.value_coef, cfg.expected_reward, cfg.normalize_advantages,
                        critic, p)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        curve.append(float(ro.rewards.sum(1).mean()))
        if time_budget is not None and time.perf_counter() - t0 > time_budget:
            break
    return policy, np.array(curve), time.perf_counter() - t0


@torch.no_grad()
def evaluate(policy: RL2Policy, p: np.ndarray, n: int, seed: int = 0, greedy: bool = False) -> np.ndarray:
    """Total reward of each task's trial: p [n_tasks, k] -> [n_tasks]."""
    gen = torch.Generator().manual_seed(seed)
    ro = rollout_bandits(policy, torch.as_tensor(p, dtype=torch.get_default_dtype()), n, gen, greedy=greedy)
    return ro.rewards.sum(1).numpy()


# ------------------------------------------------------------------------- the table (RL^2's Table 1)

# Duan et al. 2016, Table 1 (p ~ U[0, 1]), expected total reward for k = 5 arms, n = 10 and n = 100 pulls
PAPER_K5_N10 = {"random": 5.0, "Gittins": 6.6, "Thompson": 5.7, "UCB1": 6.7, "eps-greedy": 6.6, "greedy": 6.6,
                "RL^2": 6.7}
PAPER_K5_N100 = {"Gittins": 78.3, "Thompson": 74.7, "UCB1": 78.0, "RL^2": 78.7}
TABLE_SETTINGS = ((2, 10), (2, 20), (5, 10))


def compare_methods(k: int, n: int, n_tasks: int = 10_000, seed: int = 0, rl2_dir=None) -> dict:
    """Every method of the table on the same n_tasks tasks: {name: (mean total reward, standard error)}.

    UCB1's c and epsilon-greedy's epsilon are tuned on other tasks, as in the paper. The Bayes-optimal entry
    is the exact DP value (an expectation over the prior: no sampling error).
    """
    from lecture_utils import bandits as bd

    out, p = bd.compare_baselines(k, n, n_tasks, seed)
    from lecture_utils.checkpoints import load_rl2

    policy, _, _ = load_rl2(k, n, rl2_dir)
    totals = evaluate(policy, p, n, seed=seed + 1)
    out["RL^2"] = (float(totals.mean()), float(totals.std(ddof=1) / np.sqrt(n_tasks)))
    out["Bayes-optimal"] = (bd.BayesOptimal(k, n).value(), 0.0)
    return out


def agreement_with_bayes(ro: Rollout, opt) -> np.ndarray:
    """Per pull t: the fraction of tasks where RL^2's action is a Bayes-optimal one for the counts so far. [n]."""
    actions, rewards = ro.actions.numpy(), ro.rewards.numpy()
    B, n = actions.shape
    s, f = np.zeros((B, opt.k), dtype=int), np.zeros((B, opt.k), dtype=int)
    agree = np.zeros(n)
    rows = np.arange(B)
    for t in range(n):
        for j in range(B):
            q = opt.q_values(s[j], f[j])
            agree[t] += q[actions[j, t]] >= q.max() - 1e-9
        s[rows, actions[:, t]] += rewards[:, t].astype(int)
        f[rows, actions[:, t]] += 1 - rewards[:, t].astype(int)
    return agree / B


# --------------------------------------------------------------- the family where greedy fails (section 6)

SAFE_RISKY_H = 20  # pulls per task of the shipped safe-risky checkpoint


def safe_risky_sampler(family):
    """train_rl2's `sample_tasks` for a lecture_utils.safe_risky.SafeRiskyFamily:
    (generator, batch, k) -> p [batch, k]."""
    P = torch.as_tensor(family.P, dtype=torch.get_default_dtype())

    def sample(generator, batch, k):
        if k != family.k:
            raise ValueError(f"the family has k = {family.k} arms, the config k = {k}")
        return P[torch.randint(0, family.m, (batch,), generator=generator)]

    return sample


def compare_safe_risky(family, H: int = SAFE_RISKY_H, n_tasks: int = 10_000, seed: int = 0, rl2_dir=None,
                       curves: dict | None = None) -> dict:
    """lecture_utils.safe_risky.compare_safe_risky plus the shipped RL^2 agent: {name: (mean total, s.e.)}.
    `curves`, if given, receives each method's mean reward at every pull ([H] arrays)."""
    from lecture_utils import safe_risky
    from lecture_utils.checkpoints import load_rl2

    out, p = safe_risky.compare_safe_risky(family, H, n_tasks, seed, curves=curves)
    policy, _, _ = load_rl2(family.k, H, rl2_dir, family="safe-risky")
    gen = torch.Generator().manual_seed(seed + 1)
    rewards = rollout_bandits(policy, torch.as_tensor(p, dtype=torch.get_default_dtype()), H, gen).rewards.numpy()
    totals = rewards.sum(1)
    out["RL^2"] = (float(totals.mean()), float(totals.std(ddof=1) / np.sqrt(n_tasks)))
    if curves is not None:
        curves["RL^2"] = rewards.mean(axis=0)
    out["Bayes-optimal"] = out.pop("Bayes-optimal")  # the limit last
    return out
