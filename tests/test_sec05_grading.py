"""Homework 05 checks: pass on the solutions, fail on the stubs and on plausible wrong answers."""

from __future__ import annotations

import pytest
import torch
from torch.func import functional_call

from lecture_utils.maml import inner_step as ref_inner_step
from tests.grading_harness import assert_fails, assert_passes, exercise_ns, solution_ns

NB = "05_maml.ipynb"


@pytest.fixture(scope="module")
def sol():
    return solution_ns(NB, upto="5.3")


@pytest.fixture(scope="module")
def ex():
    return exercise_ns(NB, upto="5.3")


def test_solutions_pass(sol):
    assert_passes("5.1", sol["inner_step"])
    assert_passes("5.2", sol["maml_loss"])
    assert_passes("5.3", sol["reinforce_loss"])


def test_stubs_fail_as_not_attempted(ex):
    for eid, name in (("5.1", "inner_step"), ("5.2", "maml_loss"), ("5.3", "reinforce_loss")):
        assert_fails(eid, ex[name], contains="not attempted")


# ---------------------------------------------------------------- 5.1 wrong answers


def step_without_graph(params, loss, alpha, first_order=False):
    grads = torch.autograd.grad(loss, list(params.values()))
    return {k: p - alpha * g for (k, p), g in zip(params.items(), grads)}


def step_plus(params, loss, alpha, first_order=False):
    grads = torch.autograd.grad(loss, list(params.values()), create_graph=not first_order)
    return {k: p + alpha * g for (k, p), g in zip(params.items(), grads)}


def step_ignores_first_order(params, loss, alpha, first_order=False):
    return ref_inner_step(params, loss, alpha)


def step_detaches_theta(params, loss, alpha, first_order=False):
    grads = torch.autograd.grad(loss, list(params.values()), create_graph=not first_order)
    if first_order:
        return {k: (p - alpha * g).detach() for (k, p), g in zip(params.items(), grads)}
    return {k: p - alpha * g for (k, p), g in zip(params.items(), grads)}


def step_in_place(params, loss, alpha, first_order=False):
    grads = torch.autograd.grad(loss, list(params.values()))
    with torch.no_grad():
        for p, g in zip(params.values(), grads):
            p -= alpha * g
    return params


def step_returns_list(params, loss, alpha, first_order=False):
    return list(ref_inner_step(params, loss, alpha, first_order).values())


def test_inner_step_wrong_answers():
    assert_fails("5.1", step_without_graph, contains="first-order approximation")
    assert_fails("5.1", step_plus, contains="theta'")
    assert_fails("5.1", step_ignores_first_order, contains="first_order=True")
    assert_fails("5.1", step_detaches_theta, contains="first_order=True")
    assert_fails("5.1", step_in_place, contains="in place")
    assert_fails("5.1", step_returns_list, contains="dict")


def test_inner_step_reference_passes():
    assert_passes("5.1", ref_inner_step)


# ---------------------------------------------------------------- 5.2 wrong answers


def _mse(model, params, x, y):
    return ((functional_call(model, params, (x,)) - y) ** 2).mean()


def maml_shared_theta_prime(model, params, tasks, alpha):
    """The pitfall: one theta' adapted to the summed support losses of all tasks."""
    support = sum(_mse(model, params, xs, ys) for (xs, ys), _ in tasks)
    adapted = ref_inner_step(params, support, alpha)
    return torch.stack([_mse(model, adapted, xq, yq) for _, (xq, yq) in tasks]).mean()


def maml_query_at_theta(model, params, tasks, alpha):
    return torch.stack([_mse(model, params, xq, yq) for _, (xq, yq) in tasks]).mean()


def maml_support_twice(model, params, tasks, alpha):
    out = []
    for (xs, ys), _ in tasks:
        adapted = ref_inner_step(params, _mse(model, params, xs, ys), alpha)
        out.append(_mse(model, adapted, xs, ys))
    return torch.stack(out).mean()


def maml_first_order(model, params, tasks, alpha):
    out = []
    for (xs, ys), (xq, yq) in tasks:
        adapted = ref_inner_step(params, _mse(model, params, xs, ys), alpha, first_order=True)
        out.append(_mse(model, adapted, xq, yq))
    return torch.stack(out).mean()


def maml_sum(model, params, tasks, alpha):
    return maml_first_order(model, params, tasks, alpha) * 0 + len(tasks) * maml_reference(model, params, tasks, alpha)


def maml_reference(model, params, tasks, alpha):
    out = []
    for (xs, ys), (xq, yq) in tasks:
        adapted = ref_inner_step(params, _mse(model, params, xs, ys), alpha)
        out.append(_mse(model, adapted, xq, yq))
    return torch.stack(out).mean()


def maml_value_only(model, params, tasks, alpha):
    return maml_reference(model, params, tasks, alpha).detach()


def test_maml_loss_wrong_answers():
    assert_fails("5.2", maml_shared_theta_prime, contains="meta-loss")
    assert_fails("5.2", maml_query_at_theta, contains="meta-loss")
    assert_fails("5.2", maml_support_twice, contains="meta-loss")
    assert_fails("5.2", maml_sum, contains="meta-loss")
    assert_fails("5.2", maml_first_order, contains="finite differences")
    assert_fails("5.2", maml_value_only, contains="differentiable")


def test_maml_loss_reference_passes():
    assert_passes("5.2", maml_reference)


# ---------------------------------------------------------------- 5.3 wrong answers


def _rtg(rewards, gamma):
    G = torch.zeros_like(rewards)
    running = torch.zeros(rewards.shape[0], dtype=rewards.dtype)
    for t in reversed(range(rewards.shape[1])):
        running = rewards[:, t] + gamma * running
        G[:, t] = running
    return G


def rl_no_baseline(log_probs, rewards, gamma):
    return -(log_probs * _rtg(rewards, gamma)).mean()


def rl_total_return(log_probs, rewards, gamma):
    G = _rtg(rewards, gamma)[:, :1].expand_as(rewards)
    return -(log_probs * (G - G.mean(0, keepdim=True))).mean()


def rl_no_discount(log_probs, rewards, gamma):
    G = _rtg(rewards, 1.0)
    return -(log_probs * (G - G.mean(0, keepdim=True))).mean()


def rl_plus(log_probs, rewards, gamma):
    G = _rtg(rewards, gamma)
    return (log_probs * (G - G.mean(0, keepdim=True))).mean()


def rl_sum(log_probs, rewards, gamma):
    G = _rtg(rewards, gamma)
    return -(log_probs * (G - G.mean(0, keepdim=True))).sum()


def rl_baseline_over_time(log_probs, rewards, gamma):
    G = _rtg(rewards, gamma)
    return -(log_probs * (G - G.mean(1, keepdim=True))).mean()


def rl_reference(log_probs, rewards, gamma):
    G = _rtg(rewards, gamma)
    return -(log_probs * (G - G.mean(0, keepdim=True))).mean()


def test_reinforce_loss_wrong_answers():
    for wrong in (rl_no_baseline, rl_total_return, rl_no_discount, rl_plus, rl_sum, rl_baseline_over_time):
        assert_fails("5.3", wrong, contains="surrogate loss")


def test_reinforce_loss_matches_the_library():
    from lecture_utils.policy_gradient import reinforce_loss

    assert_passes("5.3", rl_reference)
    assert_passes("5.3", lambda lp, r, g: reinforce_loss(lp, r, g))
