"""lecture_utils.optim.Adam gives exactly torch.optim.Adam's parameters (it only skips torch.optim's import)."""

from __future__ import annotations

import pytest
import torch

from lecture_utils.optim import Adam


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_adam_matches_torch_bit_for_bit(dtype):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(5, 32), torch.nn.Tanh(), torch.nn.Linear(32, 16)).to(dtype)
    twin = torch.nn.Sequential(torch.nn.Linear(5, 32), torch.nn.Tanh(), torch.nn.Linear(32, 16)).to(dtype)
    twin.load_state_dict(net.state_dict())
    net[0].bias.requires_grad_(True)
    ours, theirs = Adam(net.parameters(), lr=1e-2), torch.optim.Adam(twin.parameters(), lr=1e-2)
    for step in range(30):
        x = torch.randn(64, 5, dtype=dtype)
        for model, opt in ((net, ours), (twin, theirs)):
            opt.zero_grad()
            loss = model(x).pow(2).mean() + (model[2].weight.sum() if step % 3 else 0.0)
            if step == 4:  # one step where a parameter has no gradient: both skip it
                loss = model[2](model[1](model[0](x).detach())).pow(2).mean()
            loss.backward()
            opt.step()
    for a, b in zip(net.parameters(), twin.parameters()):
        assert torch.equal(a, b)


def test_adam_bad_input():
    with pytest.raises(ValueError, match="empty"):
        Adam([])
    with pytest.raises(ValueError, match="lr > 0"):
        Adam([torch.zeros(2, requires_grad=True)], lr=-1.0)
    with pytest.raises(TypeError, match="tensors"):
        Adam([1.0])
