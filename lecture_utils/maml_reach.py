"""A cheap MAML-RL task family for homework 05, part 5.4: reaching a hidden goal with a Gaussian policy.

    action a in R^D,  pi_theta(a) = N(P z, sigma^2 I),  theta = (P [D, D], z [D]),  reward r(a) = -||a - g||^2

Every task is a goal g. The goals of a family lie on a hidden 2-D plane of R^D (g = c + U w, w ~ N(0, s^2 I)):
the agent learns its goal only through rewards. The expected return has a closed form,
J_g(theta) = -||P z - g||^2 - D sigma^2, so evaluation needs no rollouts after the adaptation step.

This module evaluates an initialisation the way the homework grades it: one *sampled* policy-gradient step per
goal (REINFORCE with the mean-reward baseline, n_samples actions, the homework's surrogate with H = 1),
written out in closed form with NumPy, then the exact expected return of the adapted policy. It does not
meta-train anything (that is the exercise).
"""

from __future__ import annotations

import numpy as np

REACH_DIM = 8  # D
REACH_SIGMA = 0.3  # policy standard deviation (fixed)
REACH_SAMPLES = 20  # actions sampled per task for the inner step
REACH_ALPHA = 0.05  # inner step size
N_GOALS = 200  # goals per split of a family


def reach_family(rng: np.random.Generator, dim: int = REACH_DIM, n_goals: int = N_GOALS):
    """(train_goals, test_goals), each [n_goals, dim]: goals c + U w on a random 2-D plane, w ~ N(0, s^2 I)."""
    basis, _ = np.linalg.qr(rng.normal(size=(dim, 2)))
    center = rng.normal(0.0, 0.5 / np.sqrt(dim), size=dim)
    scale = rng.uniform(0.8, 1.2)

    def draw(n):
        return center + scale * rng.normal(size=(n, 2)) @ basis.T

    return draw(n_goals), draw(n_goals)


def expected_return(P, z, goals, sigma: float = REACH_SIGMA) -> np.ndarray:
    """J_g = -||P z - g||^2 - D sigma^2 for every goal: P [D, D] or [T, D, D], z [D] or [T, D] -> [T]."""
    P, z, goals = np.asarray(P, float), np.asarray(z, float), np.asarray(goals, float)
    mu = np.einsum("...ij,...j->...i", P, z)
    return -((mu - goals) ** 2).sum(-1) - goals.shape[-1] * sigma**2


def oracle_return(dim: int = REACH_DIM, sigma: float = REACH_SIGMA) -> float:
    """The best any policy with this sigma can do: its mean on the goal."""
    return -dim * sigma**2


def adapted_return(P, z, goals, alpha: float = REACH_ALPHA, sigma: float = REACH_SIGMA,
                   n_samples: int = REACH_SAMPLES, draws: int = 20, seed: int = 0) -> tuple[float, float]:
    """(mean return before adapting, mean expected return after one sampled policy-gradient step), over goals.

    Per goal: n_samples actions a_n ~ N(P z, sigma^2 I), rewards r_n, advantages A_n = r_n - mean(r);
    the surrogate L = -(1/N) sum_n log pi(a_n) A_n has gradient
    dL/dmu = -(1/N) sum_n A_n (a_n - mu) / sigma^2, so dL/dP = dL/dmu z^T and dL/dz = P^T dL/dmu;
    theta' = theta - alpha grad L. The post-step return is exact; it is averaged over `draws` sample draws.
    """
    P, z, goals = np.asarray(P, float), np.asarray(z, float), np.asarray(goals, float)
    rng = np.random.default_rng(seed)
    T, D = goals.shape
    mu = P @ z
    after = []
    for _ in range(draws):
        a = mu + sigma * rng.normal(size=(T, n_samples, D))
        r = -((a - goals[:, None, :]) ** 2).sum(-1)
        adv = r - r.mean(1, keepdims=True)
        g_mu = -(adv[..., None] * (a - mu)).mean(1) / sigma**2  # [T, D]
        P2 = P[None] - alpha * g_mu[:, :, None] * z[None, None, :]
        z2 = z[None] - alpha * g_mu @ P
        after.append(expected_return(P2, z2, goals, sigma).mean())
    return float(expected_return(P, z, goals, sigma).mean()), float(np.mean(after))


def pretrained_init(train_goals, iters: int = 500, lr: float = 0.02) -> tuple[np.ndarray, np.ndarray]:
    """The non-meta-learned baseline: (P, z) from P = I, z = 0, trained on all goals jointly (exact gradient of
    the average expected return, Adam) -- the mean action ends on the average goal."""
    import torch

    goals = torch.as_tensor(np.asarray(train_goals, float))
    D = goals.shape[1]
    P = torch.eye(D, dtype=torch.float64, requires_grad=True)
    z = torch.zeros(D, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([P, z], lr=lr)
    for _ in range(iters):
        loss = ((P @ z - goals) ** 2).sum(-1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return P.detach().numpy(), z.detach().numpy()


def gap_closed(after: float, baseline_after: float, dim: int = REACH_DIM, sigma: float = REACH_SIGMA) -> float:
    """(after - baseline_after) / (oracle - baseline_after): the fraction of the baseline's remaining gap to the
    oracle that an initialisation closes after one step (1 = perfect, 0 = no better than the baseline)."""
    return (after - baseline_after) / (oracle_return(dim, sigma) - baseline_after)
