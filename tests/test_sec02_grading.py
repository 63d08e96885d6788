"""Homework 02 checks: pass on the solutions, fail on the generated stubs and on plausible wrong answers."""

from __future__ import annotations

import copy

import nbformat
import pytest
import torch
from torch import nn

from lecture_admin.release import BEGIN
from tests.grading_harness import ROOT, assert_fails, assert_passes

NB = "02_pretraining_finetuning.ipynb"


def _definitions(folder: str) -> dict:
    """Run only the set-up cell and the answer cells of a homework notebook (not its experiments)."""
    nb = nbformat.read(ROOT / folder / NB, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    ns: dict = {"__name__": "__homework__"}
    for cell in code[:1] + [c for c in code if BEGIN in c.source or c.metadata.get("nbgrader", {}).get("solution")]:
        exec(compile(cell.source, NB, "exec"), ns)
    return ns


@pytest.fixture(scope="module")
def sol():
    return _definitions("solutions")


@pytest.fixture(scope="module")
def stub():
    return _definitions("exercises")


def test_solutions_pass(sol):
    assert_passes("2.1", sol["entropy_regularised_pg_loss"])
    assert_passes("2.2", sol["policy_regression_loss"])
    assert_passes("2.3", sol["new_head_on_frozen_features"])


@pytest.mark.parametrize("eid, name", [("2.1", "entropy_regularised_pg_loss"), ("2.2", "policy_regression_loss"),
                                       ("2.3", "new_head_on_frozen_features")])
def test_stubs_fail(stub, eid, name):
    assert_fails(eid, stub[name], contains="not attempted")


# ----------------------------------------------------------------------------- 2.1 wrong answers


def _pg(logits, actions, rewards, gamma, alpha, *, discount=True, baseline=True, sign=1.0, reduce="mean",
        to_go=True, detach_entropy=False):
    T = rewards.shape[0]
    g = gamma if discount else 1.0
    G = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in reversed(range(T)):
        running = rewards[t] + g * running
        G[t] = running
    if not to_go:
        G = G[:1].expand_as(G)
    adv = G - G.mean(dim=1, keepdim=True) if baseline else G
    logp_all = torch.log_softmax(logits, -1)
    logp = logp_all.gather(-1, actions[..., None])[..., 0]
    la = logp_all.detach() if detach_entropy else logp_all
    H = -(la.exp() * la).sum(-1)
    agg = torch.mean if reduce == "mean" else torch.sum
    return -agg(logp * adv) - sign * alpha * agg(H)


@pytest.mark.parametrize("kwargs, contains", [
    ({"discount": False}, "off"),
    ({"baseline": False}, "off"),
    ({"sign": -1.0}, "off"),
    ({"reduce": "sum"}, "off"),
    ({"to_go": False}, "off"),
    ({"detach_entropy": True}, "gradient"),
])
def test_pg_loss_wrong_answers(kwargs, contains):
    assert_passes("2.1", _pg)  # the parametrised reference itself is right
    assert_fails("2.1", lambda *a: _pg(*a, **kwargs), contains=contains)


def test_pg_loss_wrong_types():
    assert_fails("2.1", lambda *a: float(_pg(*a).detach()), contains="torch tensor")
    assert_fails("2.1", lambda *a: _pg(*a).detach(), contains="requires_grad")
    assert_fails("2.1", lambda lg, ac, r, g, al: _pg(lg, ac, r, g, al) * torch.ones(2), contains="scalar")


# ----------------------------------------------------------------------------- 2.2 wrong answers


def _pr(student, expert, tau=1.0, *, reverse=False, use_tau=True, tau_mult=False, reduce="mean", detach=True, dim=-1,
        kl=False):
    e = expert.detach() if detach else expert
    scaled = e * tau if tau_mult else (e / tau if use_tau else e)
    if reverse:
        pi_s = torch.softmax(student, dim)
        out = -(pi_s * torch.log_softmax(scaled, dim)).sum(-1)
    else:
        pi_e = torch.softmax(scaled, dim)
        out = -(pi_e * torch.log_softmax(student, dim)).sum(-1)
        if kl:
            out = out + (pi_e * torch.log(pi_e)).sum(-1)
    return out.mean() if reduce == "mean" else out.sum()


def test_policy_regression_accepts_kl():
    assert_passes("2.2", _pr)
    assert_passes("2.2", lambda s, e, tau=1.0: _pr(s, e, tau, kl=True))


@pytest.mark.parametrize("kwargs, contains", [
    ({"reverse": True}, "off"),
    ({"use_tau": False}, "off"),
    ({"tau_mult": True}, "off"),
    ({"reduce": "sum"}, "off"),
    ({"dim": 0}, "off"),
    ({"detach": False}, "expert"),
])
def test_policy_regression_wrong_answers(kwargs, contains):
    assert_fails("2.2", lambda s, e, tau=1.0: _pr(s, e, tau, **kwargs), contains=contains)


# ----------------------------------------------------------------------------- 2.3 wrong answers


def _head(pretrained, n_actions, *, copy_features=True, freeze=True, zero=True, bias=True, new_trunk=False,
          old_head=False):
    features = copy.deepcopy(pretrained.features) if copy_features else pretrained.features
    if new_trunk:
        features = copy.deepcopy(features)
        for p in features.parameters():
            nn.init.normal_(p)
    if freeze:
        features.requires_grad_(False)
    if old_head:
        return nn.Sequential(features, copy.deepcopy(pretrained.head))
    head = nn.Linear(pretrained.head.in_features, n_actions, bias=bias)
    if zero:
        nn.init.zeros_(head.weight)
        if bias:
            nn.init.zeros_(head.bias)
    return nn.Sequential(features, head)


@pytest.mark.parametrize("kwargs, contains", [
    ({"freeze": False}, "trainable parameters"),
    ({"copy_features": False}, "frozen in place"),
    ({"zero": False}, "logits should all be 0"),
    ({"bias": False}, "trainable parameters"),
    ({"new_trunk": True}, "features differ"),
    ({"old_head": True}, None),
])
def test_new_head_wrong_answers(kwargs, contains):
    assert_passes("2.3", _head)
    assert_fails("2.3", lambda p, n: _head(p, n, **kwargs), contains=contains)


def test_new_head_wrong_types():
    assert_fails("2.3", lambda p, n: None, contains="nn.Module")
    assert_fails("2.3", lambda p, n: nn.Sequential(copy.deepcopy(p.features).requires_grad_(False),
                                                   nn.Linear(p.head.in_features, n + 1)), contains="expected logits")


def test_checks_leave_the_global_rng_alone(sol):
    torch.manual_seed(5)
    want = torch.rand(3)
    torch.manual_seed(5)
    assert_passes("2.3", sol["new_head_on_frozen_features"])
    assert torch.equal(torch.rand(3), want)
