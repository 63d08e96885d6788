"""Sinusoid regression, MAML's warm-up problem (Finn et al. 2017, section 5.1).

Task M_i: y = A sin(x - phase), A ~ U[0.1, 5], phase ~ U[0, pi], x ~ U[-5, 5]; K examples per task.
Model: an MLP 1 -> 40 -> 40 -> 1 (ReLU). Every function takes a batch of tasks at once: parameters
with a leading task dimension are vmapped over (one theta'_i per task), data are [n_tasks, K, 1].

The MAML meta-loss is in lecture_utils.sinusoid_maml (it answers homework part 5.2, so the grader masks it);
this module adapts with lecture_utils.adaptation (plain SGD steps) and never imports lecture_utils.maml, so the
homework's demo cells can use it while grading masks the MAML modules.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.func import functional_call, vmap

from lecture_utils.adaptation import adapt

Params = dict[str, torch.Tensor]

AMP_RANGE = (0.1, 5.0)
PHASE_RANGE = (0.0, math.pi)
X_RANGE = (-5.0, 5.0)


def sample_tasks(n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """n tasks: amplitudes [n] and phases [n]."""
    amp = AMP_RANGE[0] + (AMP_RANGE[1] - AMP_RANGE[0]) * torch.rand(n, generator=generator)
    phase = PHASE_RANGE[0] + (PHASE_RANGE[1] - PHASE_RANGE[0]) * torch.rand(n, generator=generator)
    return amp, phase


def sample_data(amp: torch.Tensor, phase: torch.Tensor, k: int, generator: torch.Generator | None = None):
    """K examples of each task: x, y of shape [n, K, 1]."""
    x = X_RANGE[0] + (X_RANGE[1] - X_RANGE[0]) * torch.rand(len(amp), k, 1, generator=generator)
    return x, target(amp, phase, x)


def target(amp: torch.Tensor, phase: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """y = A sin(x - phase) for x [n, m, 1]."""
    return amp[:, None, None] * torch.sin(x - phase[:, None, None])


def make_model(hidden: int = 40) -> nn.Module:
    return nn.Sequential(nn.Linear(1, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))


def batch_params(params: Params, n: int) -> Params:
    """theta copied once per task (a differentiable expand): every tensor gets a leading [n] dimension."""
    return {k: v.unsqueeze(0).expand(n, *v.shape) for k, v in params.items()}


def predict(model: nn.Module, params: Params, x: torch.Tensor) -> torch.Tensor:
    """f_theta_i(x_i) for every task: params batched over tasks, x [n, m, 1] -> [n, m, 1]."""
    if x.ndim != 3 or x.shape[-1] != 1:
        raise ValueError(f"x must have shape [n_tasks, m, 1], got {tuple(x.shape)}")
    return vmap(lambda p, xi: functional_call(model, p, (xi,)))(params, x)


def mse(model: nn.Module, params: Params, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-task mean squared error [n]."""
    return ((predict(model, params, x) - y) ** 2).mean(dim=(1, 2))


def pretrain_loss(model: nn.Module, params: Params, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The multi-task baseline: one network fit to all tasks' data at once."""
    return mse(model, batch_params(params, x.shape[0]), x, y).mean()


def train(kind: str, iterations: int, seed: int = 0, meta_batch: int = 25, k: int = 10, alpha: float = 0.01,
          lr: float = 1e-3, hidden: int = 40, log_every: int = 100, progress=None):
    """Train MAML (kind="maml") or the pretrained baseline (kind="pretrained") with Adam.

    Returns (model, params, history) with history a list of (iteration, training loss).
    """
    if kind not in ("maml", "pretrained"):
        raise ValueError(f"kind must be 'maml' or 'pretrained', got {kind!r}")
    from lecture_utils.sinusoid_maml import maml_loss  # here, not at the top: see the module docstring

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed + 1000)
    model = make_model(hidden)
    params = {n: p.detach().clone().requires_grad_(True) for n, p in model.named_parameters()}
    opt = torch.optim.Adam(params.values(), lr=lr)  # the outer optimiser (beta = lr)
    history = []
    its = range(iterations) if progress is None else progress(range(iterations))
    for it in its:
        amp, phase = sample_tasks(meta_batch, gen)
        if kind == "maml":
            loss = maml_loss(model, params, sample_data(amp, phase, k, gen), sample_data(amp, phase, k, gen), alpha)
        else:
            loss = pretrain_loss(model, params, *sample_data(amp, phase, k, gen))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if it % log_every == 0 or it == iterations - 1:
            history.append((it, float(loss.detach())))
    return model, {n: p.detach() for n, p in params.items()}, history


def mse_after_steps(model: nn.Module, params: Params, n_tasks: int = 100, k: int = 10, steps: int = 10,
                    alpha: float = 0.01, seed: int = 0, n_query: int = 100, shared: bool = False):
    """Mean over n_tasks new tasks of the MSE on n_query points after 0..steps SGD steps on K examples.

    shared=True shows the pitfall: one theta' adapted to the mean of all tasks' support losses instead
    of one theta'_i per task. Returns (mse [steps + 1] averaged over tasks, per-task mse [steps + 1, n_tasks]).
    """
    gen = torch.Generator().manual_seed(seed)
    amp, phase = sample_tasks(n_tasks, gen)
    xs, ys = sample_data(amp, phase, k, gen)
    xq, yq = sample_data(amp, phase, n_query, gen)
    per_task_params = (lambda th: th) if not shared else (lambda th: batch_params(th, n_tasks))

    def support_loss(_step: int, theta: Params) -> torch.Tensor:
        losses = mse(model, per_task_params(theta), xs, ys)
        return losses.mean() if shared else losses.sum()

    thetas = adapt(params if shared else batch_params(params, n_tasks), support_loss, [alpha] * steps)
    with torch.no_grad():
        per_task = torch.stack([mse(model, per_task_params(theta), xq, yq) for theta in thetas])
    return per_task.mean(1), per_task


def plot_adaptation(ax, model: nn.Module, inits: dict[str, Params], amp: float, phase: float, k: int = 10,
                    alpha: float = 0.01, steps: int = 1, seed: int = 0, colors: dict[str, str] | None = None) -> None:
    """One task: the true curve, its K examples, and each initialisation's fit after `steps` steps on them.

    colors: optional name -> matplotlib colour, so each initialisation keeps its colour across figures.
    """
    gen = torch.Generator().manual_seed(seed)
    a, p = torch.tensor([float(amp)]), torch.tensor([float(phase)])
    xs, ys = sample_data(a, p, k, gen)
    grid = torch.linspace(*X_RANGE, 200)[None, :, None]
    ax.plot(grid[0, :, 0], target(a, p, grid)[0, :, 0], color="k", lw=2, label="true task")
    ax.plot(xs[0, :, 0], ys[0, :, 0], "k^", ms=7, label=f"K={k} examples")
    for name, params in inits.items():
        theta = adapt(batch_params(params, 1), lambda _k, th: mse(model, th, xs, ys).sum(), [alpha] * steps)[-1]
        with torch.no_grad():
            ax.plot(grid[0, :, 0], predict(model, theta, grid)[0, :, 0], ls="--", label=f"{name}, {steps} step",
                    color=(colors or {}).get(name))
    ax.set_xlabel("x")
