"""Single-task experts for homework 02's Actor-Mimic part: one `pt.MLPPolicy` per running direction, each with its
own feature width, so every expert has a feature space of its own (as the paper's separately trained DQNs do).

An expert's two tanh layers are random projections of the observation (its "features": they keep everything the
observation says, the velocity included, not only what steering needs); its linear head is fitted by least squares
to the logits of `pt.OraclePolicy` for its direction on states the oracle visits. Cheap and deterministic: no RL.
"""

from __future__ import annotations

import numpy as np
import torch

from lecture_utils import pretraining as pt
from lecture_utils.envs import planar_runner as pr


def _oracle_states(angle: float, n: int, gen: torch.Generator) -> torch.Tensor:
    """Observations [20 * n, 5] of a softly greedy oracle (scale 3, sampled) running along `angle`."""
    oracle = pt.OraclePolicy([angle], scale=3.0)
    env = pr.BatchedPlanarRunner(n, pr.direction(angle))
    obs, _ = env.reset(seed=int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
    out = []
    for _ in range(env.horizon):
        out.append(obs)
        logits = oracle(obs[None])[0]
        u = torch.rand(logits.shape, generator=gen).clamp_min(1e-20)
        obs = env.step((logits - torch.log(-torch.log(u))).argmax(-1))[0]
    return torch.cat(out)


@torch.no_grad()
def make_experts(angles, hiddens, seed: int = 0, scale: float = 5.0) -> list[pt.MLPPolicy]:
    """One expert `pt.MLPPolicy(hidden=hiddens[k])` per direction angles[k] (radians); logits ~ the oracle's x scale."""
    if len(angles) != len(hiddens):
        raise ValueError(f"one feature width per expert: {len(angles)} directions, {len(hiddens)} widths")
    gen = torch.Generator().manual_seed(seed)
    experts = []
    for angle, hidden in zip(angles, hiddens):
        net = pt.MLPPolicy(hidden=int(hidden))
        dtype = net.head.weight.dtype
        for layer, fan_in in [(net.features[0], pr.OBS_DIM), (net.features[2], int(hidden))]:
            layer.weight.copy_(torch.randn(layer.weight.shape, generator=gen, dtype=dtype) * 1.5 / np.sqrt(fan_in))
            layer.bias.copy_(torch.randn(layer.bias.shape, generator=gen, dtype=dtype) * 0.3)
        obs = _oracle_states(float(angle), 256, gen).to(dtype)
        target = pt.OraclePolicy([float(angle)], scale=scale)(obs[None])[0]
        h = torch.cat([net.features(obs), torch.ones(len(obs), 1, dtype=dtype)], 1)
        sol = torch.linalg.lstsq(h.double(), target.double()).solution.to(dtype)  # [hidden + 1, 16]
        net.head.weight.copy_(sol[:-1].T)
        net.head.bias.copy_(sol[-1])
        experts.append(net)
    return experts
