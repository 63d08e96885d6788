"""Adam without `torch.optim`: the same update, bit for bit, minus a 2 s import.

The first `torch.optim` optimizer a process builds imports `torch._dynamo` (torch.compile's tracer: about 2 s of
CPU, more than the rest of a lecture's training loop) only to mark its `step` "not to be compiled". The course never
compiles, so its training loops (section 02) use this class instead. It is torch's own single-tensor Adam (the one
`torch.optim.Adam` runs on CPU tensors), written out with the same tensor operations in the same order, so the
parameters it produces are identical to `torch.optim.Adam`'s (`tests/test_optim.py` checks it):

    m <- beta1 m + (1 - beta1) g,    v <- beta2 v + (1 - beta2) g^2,
    theta <- theta - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
"""

from __future__ import annotations

import torch


class Adam:
    """Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8): `zero_grad()` and `step()` as in `torch.optim.Adam`
    (no weight decay, no amsgrad). A parameter whose `.grad` is None is skipped, as torch does."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.params = list(params)
        if not self.params:
            raise ValueError("Adam got an empty parameter list")
        if not all(isinstance(p, torch.Tensor) for p in self.params):
            raise TypeError("Adam's params must be tensors (e.g. module.parameters())")
        if not lr > 0 or not 0 <= betas[0] < 1 or not 0 <= betas[1] < 1 or not eps >= 0:
            raise ValueError(f"need lr > 0, betas in [0, 1) and eps >= 0, got lr={lr}, betas={betas}, eps={eps}")
        self.lr, self.betas, self.eps = float(lr), (float(betas[0]), float(betas[1])), float(eps)
        self.state: dict[int, tuple[torch.Tensor, torch.Tensor, list[int]]] = {}

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        beta1, beta2 = self.betas
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            if i not in self.state:
                self.state[i] = (torch.zeros_like(p, memory_format=torch.preserve_format),
                                 torch.zeros_like(p, memory_format=torch.preserve_format), [0])
            exp_avg, exp_avg_sq, count = self.state[i]
            count[0] += 1
            grad, step = p.grad, float(count[0])
            exp_avg.lerp_(grad, 1 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            bias_correction1 = 1 - beta1**step
            bias_correction2 = 1 - beta2**step
            step_size = self.lr / bias_correction1
            denom = (exp_avg_sq.sqrt() / bias_correction2**0.5).add_(self.eps)
            p.addcdiv_(exp_avg, denom, value=-step_size)
