"""The losses that answer homework 02, apart from the rest of the library so that grading can hide this file alone.

- `entropy_pg_loss` (2.1): the entropy-regularised policy-gradient loss of `lecture_utils.pretraining` (its docstring);
- `policy_regression_loss` (2.2): Actor-Mimic's policy-regression loss (`lecture_utils.actor_mimic`).

The homework's experiments still use `pretraining` (networks, rollouts, `train_pg`) and `actor_mimic`
(`make_student`, `distill`) with the student's losses. Outside grading the losses are also reachable as
`pt.entropy_pg_loss` and `am.policy_regression_loss` (those modules forward these names here).
"""

from __future__ import annotations

import torch

from lecture_utils.returns import rewards_to_go


def entropy_pg_loss(logits: torch.Tensor, actions: torch.Tensor, rewards: torch.Tensor, gamma: float,
                    entropy_coef: float | torch.Tensor, soft: bool = False) -> torch.Tensor:
    """Entropy-regularised policy-gradient loss L(theta), summed over members (module docstring).

    logits [T, M, N, A], actions [T, M, N] (int), rewards [T, M, N]; entropy_coef (the slide's
    temperature alpha) a float or one per member [M].
    soft=True adds entropy_coef * H(pi(.|s_t)) to every reward first (maximum-entropy RL's soft return).
    """
    if logits.ndim != 4 or actions.shape != logits.shape[:3] or rewards.shape != logits.shape[:3]:
        raise ValueError(f"expected logits [T, M, N, A] with actions and rewards [T, M, N], got "
                         f"{tuple(logits.shape)}, {tuple(actions.shape)}, {tuple(rewards.shape)}")
    coef = torch.as_tensor(entropy_coef, dtype=logits.dtype).reshape(-1)  # [1] or [M]
    log_pi = torch.log_softmax(logits, dim=-1)  # [T, M, N, A], once for both terms
    H = -(log_pi.exp() * log_pi).sum(-1)  # [T, M, N]: pretraining.entropy(logits)
    if soft:
        rewards = rewards + coef[:, None] * H.detach()
    G = rewards_to_go(rewards, gamma, time_dim=0)
    adv = G - G.mean(dim=2, keepdim=True)  # b_t: the batch mean of G_t (per member)
    logp = log_pi.gather(-1, actions[..., None])[..., 0]
    per_member = -(logp * adv).mean(dim=(0, 2)) - coef * H.mean(dim=(0, 2))
    return per_member.sum()


def policy_regression_loss(student_logits: torch.Tensor, expert_logits: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
    """Mean over states of -sum_a softmax(expert_logits / tau)_a log softmax(student_logits)_a.

    student_logits, expert_logits: [..., A] (same shape) -> scalar. No gradient flows into the expert.
    """
    if student_logits.shape != expert_logits.shape:
        raise ValueError(f"student and expert logits must have the same shape, got {tuple(student_logits.shape)} "
                         f"and {tuple(expert_logits.shape)}")
    if tau <= 0:
        raise ValueError(f"the temperature tau must be positive, got {tau}")
    pi_expert = torch.softmax(expert_logits.detach() / tau, dim=-1)
    return -(pi_expert * torch.log_softmax(student_logits, dim=-1)).sum(-1).mean()
