"""Actor-Mimic (Parisotto et al. 2016): distil several single-task experts into one multi-task student.

The student has one shared trunk (the features) and one head per task. Its policy-regression loss is
the cross-entropy from each expert's action distribution to the student's, on states s of task i:

    L_policy(theta) = - sum_a pi_{E_i}(a | s) log pi_theta(a | s, i),   pi_{E_i} = softmax(expert logits / tau)

(the paper's experts are DQNs, pi_E = softmax(Q_E / tau); ours are policies, so their logits play Q's role).
The optional feature-regression loss pulls the student's features h_theta(s), through a per-task linear
map f_i, onto the expert's features h_{E_i}(s):  L_feature = || f_i(h_theta(s)) - h_{E_i}(s) ||^2.

`policy_regression_loss` (homework 02 asks for it) lives in `lecture_utils.policy_losses`, so grading can hide it
alone; `am.policy_regression_loss` forwards there.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from lecture_utils.optim import Adam
from lecture_utils.pretraining import EnsembleLinear, PolicyNet, rollout_runners


def make_student(n_tasks: int, hidden: int = 32) -> PolicyNet:
    """A multi-task student: one shared trunk (1 member) and `n_tasks` heads. obs [K, N, 5] -> logits [K, N, 16]."""
    return PolicyNet(members=1, hidden=hidden, head_members=n_tasks)


def distill(student: PolicyNet, experts: nn.Module, task_angles, iters: int = 60, n_envs: int = 128,
            lr: float = 1e-2, tau: float = 1.0, beta: float = 0.0, loss_fn=None) -> np.ndarray:
    """Train `student` (K heads) to mimic `experts` (K members), on states the student itself visits.

    task_angles: K running directions (radians), expert k is the expert of task k.
    beta > 0 adds the feature-regression loss with learned per-task maps f_i (experts need `.features`, `.head`).
    loss_fn: optional replacement for `policy_regression_loss` (same signature).
    Returns the loss per iteration [iters].
    """
    K = experts.members
    if student.members != K or len(task_angles) != K:
        raise ValueError(f"need as many student heads, experts and tasks, got {student.members}, {K}, "
                         f"{len(task_angles)}")
    maps = EnsembleLinear(student.hidden, experts.hidden, K) if beta > 0 else None
    params = list(student.parameters()) + (list(maps.parameters()) if beta > 0 else [])
    opt = Adam(params, lr=lr)  # torch.optim.Adam's update, without its 2 s import of torch._dynamo
    losses = np.zeros(iters)
    for i in range(iters):
        obs, _, _, _ = rollout_runners(student, n_envs, task_angles)  # [T, K, N, 5]: the student's own states
        T, _, N, D = obs.shape
        o = obs.permute(1, 0, 2, 3).reshape(K, T * N, D)
        h_student = student.features(o).expand(K, -1, -1)
        with torch.no_grad():
            h_expert = experts.features(o) if beta > 0 else None
            expert_logits = experts.head(h_expert) if beta > 0 else experts(o)
        if loss_fn is None:
            from lecture_utils.policy_losses import policy_regression_loss as loss_fn
        loss = loss_fn(student.head(h_student), expert_logits, tau)
        if beta > 0:
            loss = loss + beta * ((maps(h_student) - h_expert) ** 2).sum(-1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses[i] = loss.item()
    return losses


def student_features_policy(student: PolicyNet, members: int, head: str = "mean", freeze: bool = False) -> PolicyNet:
    """A new single-task policy (`members` copies) starting from the student's trunk (frozen if `freeze`).

    head="mean": the new head is the average of the student's task heads: it keeps what every task shares
    (the gait) and no task's direction. head="zero": a zero head (uniform policy at the start).
    """
    from lecture_utils.pretraining import new_head_policy

    if head not in ("mean", "zero"):
        raise ValueError(f"head must be 'mean' or 'zero', got {head!r}")
    trunk_only = PolicyNet(members=1, hidden=student.hidden)
    trunk_only.features.load_state_dict(student.features.state_dict())
    net = new_head_policy(trunk_only, freeze=freeze, members=members)
    if head == "mean":
        with torch.no_grad():
            net.head.weight.copy_(student.head.weight.mean(0, keepdim=True).expand_as(net.head.weight))
            net.head.bias.copy_(student.head.bias.mean(0, keepdim=True).expand_as(net.head.bias))
    return net


def __getattr__(name: str):
    """`am.policy_regression_loss`: forwarded to `lecture_utils.policy_losses` on first use."""
    if name == "policy_regression_loss":
        from lecture_utils import policy_losses

        return policy_losses.policy_regression_loss
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
