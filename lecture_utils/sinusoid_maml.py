"""The MAML meta-loss on sinusoid regression (Finn et al. 2017, section 5.1), batched over tasks.

Kept apart from lecture_utils.sinusoid because it answers homework part 5.2: the grader masks this module
(and lecture_utils.maml) in the student's kernel, while the sinusoid tasks, model and evaluation of
lecture_utils.sinusoid stay importable for the homework's demo cells.
"""

from __future__ import annotations

import torch
from torch import nn

from lecture_utils.maml import inner_step
from lecture_utils.sinusoid import Params, batch_params, mse


def maml_loss(model: nn.Module, params: Params, support, query, alpha: float, steps: int = 1,
              first_order: bool = False) -> torch.Tensor:
    """(1/n) sum_i L_i(theta'_i) with theta'_i = theta - alpha grad L_i(theta) on task i's support set."""
    xs, ys = support
    theta = batch_params(params, xs.shape[0])
    for _ in range(steps):
        theta = inner_step(theta, mse(model, theta, xs, ys).sum(), alpha, first_order)
    return mse(model, theta, *query).mean()
