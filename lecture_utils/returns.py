"""The discounted return-to-go, written once for the whole course (and the answer to homework 00, so the
grader masks this file there: write 0.1 and 0.2 yourself)."""

from __future__ import annotations

import torch


def rewards_to_go(rewards: torch.Tensor, gamma: float, time_dim: int = -1) -> torch.Tensor:
    """G_t = sum_{t' >= t} gamma^(t' - t) r_t' along `time_dim` (default: the last); same shape as rewards."""
    r = rewards.movedim(time_dim, -1)
    out = torch.empty_like(r)
    running = torch.zeros_like(r[..., 0])
    for t in range(r.shape[-1] - 1, -1, -1):
        running = r[..., t] + gamma * running
        out[..., t] = running
    return out.movedim(-1, time_dim)
