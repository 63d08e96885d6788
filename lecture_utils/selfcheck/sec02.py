"""Checks for homework 02: entropy-regularised PG loss, Actor-Mimic policy regression, new head on frozen features."""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from lecture_utils.selfcheck.core import CheckFailed, call, check, expect_close

# ----------------------------------------------------------------------------- references (never shown to students)


def _ref_pg_loss(logits, actions, rewards, gamma, alpha):
    T = rewards.shape[0]
    G = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in range(T - 1, -1, -1):
        running = rewards[t] + gamma * running
        G[t] = running
    adv = G - G.mean(dim=1, keepdim=True)
    logp_all = torch.log_softmax(logits, dim=-1)
    logp = logp_all.gather(-1, actions[..., None])[..., 0]
    H = -(logp_all.exp() * logp_all).sum(-1)
    return -(logp * adv).mean() - alpha * H.mean()


def _ref_policy_regression(student_logits, expert_logits, tau):
    pi_e = torch.softmax(expert_logits / tau, dim=-1)
    ce = -(pi_e * torch.log_softmax(student_logits, dim=-1)).sum(-1).mean()
    h_e = -(pi_e * torch.log(pi_e)).sum(-1).mean()
    return ce, ce - h_e  # cross-entropy, KL (same gradient in the student's logits)


def _scalar_loss(out, name: str) -> torch.Tensor:
    if not isinstance(out, torch.Tensor):
        raise CheckFailed(f"{name} should return a torch tensor (to backpropagate), got {type(out).__name__}")
    if out.numel() != 1 or out.ndim > 1:
        raise CheckFailed(f"{name} should return a scalar (the mean loss), got shape {tuple(out.shape)}")
    if not out.requires_grad:
        raise CheckFailed(f"{name}'s result does not depend on the logits through autograd (requires_grad is False)")
    return out.reshape(())


# ----------------------------------------------------------------------------- 2.1


@check("2.1", "entropy-regularised policy-gradient loss", points=2)
def check_pg_loss(entropy_regularised_pg_loss) -> None:
    gen = torch.Generator().manual_seed(21)
    cases = [(1, 6, 3), (5, 8, 4), (12, 32, 16), (7, 3, 2)]
    for T, N, A in cases:
        logits = (2 * torch.randn(T, N, A, generator=gen)).requires_grad_(True)
        actions = torch.randint(0, A, (T, N), generator=gen)
        rewards = torch.randn(T, N, generator=gen) + torch.linspace(0, 1, T)[:, None]
        gamma = float(torch.empty(1).uniform_(0.5, 0.97, generator=gen))
        alpha = float(torch.empty(1).uniform_(0.05, 0.8, generator=gen))
        case = f"T={T}, N={N}, A={A}, gamma={gamma:.2f}, alpha={alpha:.2f}"
        want = _ref_pg_loss(logits, actions, rewards, gamma, alpha)
        (want_grad,) = torch.autograd.grad(want, logits)
        got = call(entropy_regularised_pg_loss, logits, actions.clone(), rewards.clone(), gamma, alpha)
        got = _scalar_loss(got, "entropy_regularised_pg_loss")
        expect_close(got.detach().numpy(), want.detach().numpy(), "the loss value", rtol=1e-4, atol=1e-5, case=case)
        (got_grad,) = torch.autograd.grad(got, logits, allow_unused=True)
        if got_grad is None:
            raise CheckFailed(f"the loss has no gradient with respect to the logits ({case})")
        expect_close(got_grad.numpy(), want_grad.numpy(), "the gradient of the loss with respect to the logits",
                     rtol=1e-4, atol=1e-6, case=case)


# ----------------------------------------------------------------------------- 2.2


@check("2.2", "Actor-Mimic policy-regression loss", points=2)
def check_policy_regression(policy_regression_loss) -> None:
    gen = torch.Generator().manual_seed(22)
    for N, A, tau in [(4, 3, 1.0), (50, 16, 0.5), (17, 5, 2.0), (1, 8, 0.1)]:
        student = (1.5 * torch.randn(N, A, generator=gen)).requires_grad_(True)
        expert = (3 * torch.randn(N, A, generator=gen)).requires_grad_(True)
        case = f"{N} states, {A} actions, tau={tau}"
        ce, kl = _ref_policy_regression(student, expert.detach(), tau)
        (want_grad,) = torch.autograd.grad(ce, student)
        ce, kl = float(ce.detach()), float(kl.detach())
        got = call(policy_regression_loss, student, expert, tau)
        got = _scalar_loss(got, "policy_regression_loss")
        g = float(got.detach())
        if not np.isfinite(g):
            raise CheckFailed(f"the loss is not finite ({case})")
        if not (np.isclose(g, ce, rtol=1e-4, atol=1e-5) or np.isclose(g, kl, rtol=1e-4, atol=1e-5)):
            off = min(abs(g - ce), abs(g - kl))
            raise CheckFailed(f"the loss value is off ({case}): abs error {off:.3g} from the cross-entropy "
                              "(or the KL divergence) from the expert's distribution to the student's")
        grad_s, grad_e = torch.autograd.grad(got, [student, expert], allow_unused=True)
        if grad_s is None:
            raise CheckFailed(f"the loss has no gradient with respect to the student's logits ({case})")
        expect_close(grad_s.numpy(), want_grad.numpy(), "the gradient with respect to the student's logits",
                     rtol=1e-4, atol=1e-6, case=case)
        if grad_e is not None and float(grad_e.abs().max()) > 0:
            raise CheckFailed("the loss sends gradient into the expert's logits: the expert is a fixed target "
                              "(detach it)")


# ----------------------------------------------------------------------------- 2.3


def _pretrained(obs_dim: int, n_actions: int, hidden: int, seed: int):
    from lecture_utils.pretraining import MLPPolicy

    torch.manual_seed(seed)
    net = MLPPolicy(obs_dim, n_actions, hidden)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return net


@check("2.3", "a new head on frozen features", points=2)
def check_new_head(new_head_on_frozen_features) -> None:
    state = torch.random.get_rng_state()
    try:
        for obs_dim, n_old, n_new, hidden, seed in [(5, 16, 16, 32, 0), (3, 4, 7, 8, 1), (6, 2, 3, 20, 2)]:
            _check_new_head_case(new_head_on_frozen_features, obs_dim, n_old, n_new, hidden, seed)
    finally:
        torch.random.set_rng_state(state)


def _check_new_head_case(fn, obs_dim, n_old, n_new, hidden, seed) -> None:
    pre = _pretrained(obs_dim, n_old, hidden, seed)
    before = copy.deepcopy(pre.state_dict())
    case = f"obs_dim={obs_dim}, hidden={hidden}, {n_new} new actions"
    new = call(fn, pre, n_new)
    if not isinstance(new, nn.Module):
        raise CheckFailed(f"return an nn.Module (the new policy), got {type(new).__name__}")
    obs = torch.randn(11, obs_dim, generator=torch.Generator().manual_seed(seed))
    out = call(new, obs, what="your new policy")
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (11, n_new):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise CheckFailed(f"the new policy maps obs [11, {obs_dim}] to {shape}, expected logits [11, {n_new}] ({case})")
    if float(out.detach().abs().max()) > 1e-6:
        raise CheckFailed(f"the new policy's logits should all be 0 at the start (a zero-initialised head), "
                          f"max |logit| = {float(out.detach().abs().max()):.3g} ({case})")
    trainable = sum(p.numel() for p in new.parameters() if p.requires_grad)
    want = hidden * n_new + n_new
    if trainable != want:
        raise CheckFailed(f"the new policy has {trainable} trainable parameters, expected {want}: only a new "
                          f"linear head (feature size {hidden} -> {n_new} actions, with bias) should train ({case})")
    # its features are the pretrained features
    feats = [m for m in new.modules() if isinstance(m, nn.Linear)]
    if len(feats) < 3:
        raise CheckFailed(f"the new policy should contain the pretrained feature layers and a new head ({case})")
    # gradients: a loss on the new policy reaches the head only, and the pretrained net stays intact
    opt = torch.optim.SGD([p for p in new.parameters() if p.requires_grad], lr=0.5)
    target = torch.randint(0, n_new, (11,), generator=torch.Generator().manual_seed(seed + 1))
    loss = nn.functional.cross_entropy(call(new, obs, what="your new policy"), target)
    loss.backward()
    grads = [p.grad for p in new.parameters() if p.requires_grad]
    if not grads or all(g is None or float(g.abs().max()) == 0 for g in grads):
        raise CheckFailed(f"a loss on the new policy gives no gradient to its head ({case})")
    opt.step()
    with torch.no_grad():
        out2 = new(obs)
        h_pre = pre.features(obs)
        logits_from_pre = h_pre @ _head_weight(new, hidden, n_new).T + _head_bias(new, n_new)
    if float((out2 - logits_from_pre).abs().max()) > 1e-5:
        raise CheckFailed(f"after a training step the new policy's features differ from the pretrained features: "
                          f"they should be the pretrained ones, frozen ({case})")
    for name, p in pre.named_parameters():
        if not p.requires_grad:
            raise CheckFailed(f"the pretrained network's parameter {name!r} was frozen in place: copy the features "
                              "before freezing them, the pretrained network must stay trainable")
        if not torch.equal(p.detach(), before[name]):
            raise CheckFailed(f"the pretrained network's parameter {name!r} changed: it must stay as it was")


def _head_weight(new: nn.Module, hidden: int, n_new: int) -> torch.Tensor:
    heads = [m for m in new.modules() if isinstance(m, nn.Linear) and m.weight.requires_grad]
    if len(heads) != 1 or tuple(heads[0].weight.shape) != (n_new, hidden):
        raise CheckFailed(f"expected exactly one trainable nn.Linear({hidden}, {n_new}) head")
    return heads[0].weight


def _head_bias(new: nn.Module, n_new: int) -> torch.Tensor:
    heads = [m for m in new.modules() if isinstance(m, nn.Linear) and m.weight.requires_grad]
    return heads[0].bias if heads[0].bias is not None else torch.zeros(n_new)
