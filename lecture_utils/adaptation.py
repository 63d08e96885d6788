"""Test-time fast adaptation: plain SGD steps from a (meta-learned) initialisation, no graph kept.

Every evaluation path of the course adapts through `adapt` (sinusoid regression, MAML-RL point navigation); the
differentiable inner step that meta-*training* backpropagates through is `lecture_utils.maml.inner_step`, which a
homework asks the student to write. Neither module imports the other, so grading can mask the MAML modules while
the demos that evaluate adaptation keep working.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

Params = dict[str, torch.Tensor]


def sgd_step(params: Params, loss: torch.Tensor, alpha: float) -> Params:
    """theta - alpha grad loss, as new leaf tensors that require grad (no graph back to params)."""
    names = list(params)
    grads = torch.autograd.grad(loss, [params[k] for k in names], allow_unused=True)
    return {k: (params[k] - alpha * (torch.zeros_like(params[k]) if g is None else g)).detach().requires_grad_(True)
            for k, g in zip(names, grads)}


def adapt(params: Params, loss_fn: Callable[[int, Params], torch.Tensor], alphas: Sequence[float]) -> list[Params]:
    """[theta_0, theta_1, ..., theta_K]: K = len(alphas) SGD steps, step k on loss_fn(k, theta_k) with alphas[k].

    theta_0 is a fresh leaf copy of params (params are never modified). `loss_fn` gets the step number so that a
    caller can record what it sampled with each theta (e.g. the rollouts of a policy-gradient step).
    """
    thetas = [{k: v.detach().clone().requires_grad_(True) for k, v in params.items()}]
    for k, alpha in enumerate(alphas):
        thetas.append(sgd_step(thetas[-1], loss_fn(k, thetas[-1]), float(alpha)))
    return thetas
