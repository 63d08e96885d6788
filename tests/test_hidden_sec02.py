"""Hidden tests of homework 02, through FakeKernel (plain data in and out, as with the real kernel): the
solution passes under several grading seeds, the stub fails with NotImplementedError, and named plausible wrong
answers fail."""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
from torch import nn

from lecture_admin.grading.hidden import hidden_part, run_part
from lecture_utils.selfcheck.core import CheckFailed, StudentError, use_case_seed
from tests.grading_fakes import FakeKernel

ROOT = Path(__file__).resolve().parent.parent
NB = "02_pretraining_finetuning.ipynb"
PARTS = {"2.1": "entropy_regularised_pg_loss", "2.2": "policy_regression_loss", "2.3": "new_head_on_frozen_features"}
SEEDS = [7, 2024, 913_577]


def definitions(path: Path) -> dict:
    """The notebook's imports and function definitions only (no demo cells, no check cells)."""
    ns: dict = {"__name__": "__main__"}
    for cell in nbformat.read(path, as_version=4).cells:
        src = cell.source
        if (cell.cell_type == "code" and "grade(" not in src and "timer(" not in src  # no demo (timed) cells
                and ("def " in src or src.lstrip().startswith("import"))):
            exec(compile(src, str(path), "exec"), ns)  # noqa: S102 - test helper
    return ns


@pytest.fixture(scope="module")
def solution():
    return definitions(ROOT / "solutions" / NB)


@pytest.fixture(scope="module")
def stub():
    return definitions(ROOT / "exercises" / NB)


@pytest.fixture
def grading_seed():
    yield use_case_seed
    use_case_seed(None)


def run_with(ns: dict, eid: str, **override) -> None:
    run_part(FakeKernel({**ns, **override}), eid, [PARTS[eid]])


def assert_fails(ns: dict, eid: str, wrong) -> None:
    with pytest.raises((CheckFailed, StudentError)):
        run_with(ns, eid, **{PARTS[eid]: wrong})


def test_registration():
    assert hidden_part("2.1").library == hidden_part("2.2").library == ("lecture_utils.policy_losses",)
    assert hidden_part("2.3").library == ()
    assert all(hidden_part(e).run is not None for e in PARTS)  # torch objects: every part has a harness


def test_the_answers_are_not_in_the_unmasked_library():
    import lecture_utils.actor_mimic as am
    import lecture_utils.policy_losses as pl
    import lecture_utils.pretraining as pt

    assert "entropy_pg_loss" not in vars(pt) and "policy_regression_loss" not in vars(am)
    assert pt.entropy_pg_loss is pl.entropy_pg_loss  # forwarded
    assert am.policy_regression_loss is pl.policy_regression_loss


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("eid", list(PARTS))
def test_solution_passes(solution, grading_seed, eid, seed):
    grading_seed(seed)
    run_with(solution, eid)


@pytest.mark.parametrize("eid", list(PARTS))
def test_stub_is_not_attempted(stub, grading_seed, eid):
    grading_seed(SEEDS[0])
    with pytest.raises(NotImplementedError):
        run_with(stub, eid)


# ----------------------------------------------------------------------------- 2.1 wrong losses


def _pg(logits, actions, rewards, gamma, alpha, *, sign=1.0, ent_sign=-1.0, baseline_dim=1, shift=False,
        detach_logp=False, use_sum=False, in_place=False, no_baseline=False):
    T = rewards.shape[0]
    G = rewards if in_place else torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in reversed(range(T)):
        running = rewards[t] + gamma * running
        G[t] = running
    if shift:  # off by one: G_t from r_{t+1} on
        G = torch.cat([G[1:], torch.zeros_like(G[:1])])
    adv = G if no_baseline else G - G.mean(dim=baseline_dim, keepdim=True)
    logp_all = torch.log_softmax(logits, dim=-1)
    logp = logp_all.gather(-1, actions[..., None]).squeeze(-1)
    if detach_logp:
        logp = logp.detach()
    H = -(logp_all.exp() * logp_all).sum(-1)
    reduce = torch.sum if use_sum else torch.mean
    return -sign * reduce(logp * adv) + ent_sign * alpha * reduce(H)


WRONG_PG = {
    "sign flip of the policy-gradient term": lambda *a: _pg(*a, sign=-1.0),
    "entropy added to the loss instead of subtracted": lambda *a: _pg(*a, ent_sign=+1.0),
    "baseline averaged over time instead of the batch": lambda *a: _pg(*a, baseline_dim=0),
    "off-by-one reward-to-go (starts at r_{t+1})": lambda *a: _pg(*a, shift=True),
    "no baseline": lambda *a: _pg(*a, no_baseline=True),
    "sum instead of mean": lambda *a: _pg(*a, use_sum=True),
    "reward-to-go written into the caller's rewards": lambda *a: _pg(*a, in_place=True),
    "log-probabilities detached (only the entropy has gradient)": lambda *a: _pg(*a, detach_logp=True),
    "returns a Python float": lambda *a: float(_pg(*a).detach()),
}


@pytest.mark.parametrize("name", list(WRONG_PG))
def test_wrong_pg_losses_fail(solution, grading_seed, name):
    grading_seed(SEEDS[1])
    assert_fails(solution, "2.1", WRONG_PG[name])


# ----------------------------------------------------------------------------- 2.2 wrong losses


def _pr(student, expert, tau=1.0, *, detach=True, reverse=False, tau_on_student=False, axis=-1, use_sum=False):
    e = expert.detach() if detach else expert
    if reverse:  # KL(student || expert)
        logp_s = torch.log_softmax(student, dim=-1)
        return (logp_s.exp() * (logp_s - torch.log_softmax(e / tau, dim=-1))).sum(-1).mean()
    pi_e = torch.softmax((e if tau_on_student else e / tau), dim=axis)
    logp_s = torch.log_softmax(student / tau if tau_on_student else student, dim=axis)
    per_state = -(pi_e * logp_s).sum(-1)
    return per_state.sum() if use_sum else per_state.mean()


WRONG_PR = {
    "expert not detached (gradient into the expert)": lambda s, e, tau=1.0: _pr(s, e, tau, detach=False),
    "reversed KL (student to expert)": lambda s, e, tau=1.0: _pr(s, e, tau, reverse=True),
    "temperature on the student's logits": lambda s, e, tau=1.0: _pr(s, e, tau, tau_on_student=True),
    "softmax over the states axis": lambda s, e, tau=1.0: _pr(s, e, tau, axis=0),
    "sum over states instead of mean": lambda s, e, tau=1.0: _pr(s, e, tau, use_sum=True),
    "temperature ignored": lambda s, e, tau=1.0: _pr(s, e, 1.0),
    "sign flip": lambda s, e, tau=1.0: -_pr(s, e, tau),
}


@pytest.mark.parametrize("name", list(WRONG_PR))
def test_wrong_policy_regression_losses_fail(solution, grading_seed, name):
    grading_seed(SEEDS[1])
    assert_fails(solution, "2.2", WRONG_PR[name])


# ----------------------------------------------------------------------------- 2.3 wrong policies


def _zero_head(hidden, n):
    head = nn.Linear(hidden, n)
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    return head


def _no_copy(pretrained, n_actions):
    pretrained.features.requires_grad_(False)  # freezes the caller's network in place
    return nn.Sequential(pretrained.features, _zero_head(pretrained.head.in_features, n_actions))


def _not_frozen(pretrained, n_actions):
    return nn.Sequential(copy.deepcopy(pretrained.features), _zero_head(pretrained.head.in_features, n_actions))


def _first_layer_only_frozen(pretrained, n_actions):
    features = copy.deepcopy(pretrained.features)
    features[0].requires_grad_(False)
    return nn.Sequential(features, _zero_head(pretrained.head.in_features, n_actions))


def _default_init_head(pretrained, n_actions):
    features = copy.deepcopy(pretrained.features).requires_grad_(False)
    return nn.Sequential(features, nn.Linear(pretrained.head.in_features, n_actions))


def _head_without_bias(pretrained, n_actions):
    features = copy.deepcopy(pretrained.features).requires_grad_(False)
    head = nn.Linear(pretrained.head.in_features, n_actions, bias=False)
    nn.init.zeros_(head.weight)
    return nn.Sequential(features, head)


def _fresh_random_features(pretrained, n_actions):
    features = copy.deepcopy(pretrained.features).requires_grad_(False)
    with torch.no_grad():
        for p in features.parameters():
            p.normal_()  # re-initialised: not the pretrained features
    return nn.Sequential(features, _zero_head(pretrained.head.in_features, n_actions))


def _features_detached_wrongly(pretrained, n_actions):
    """Shares the pretrained weights, blocks their gradient with no_grad, but leaves them trainable in place."""
    class Policy(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = pretrained.features
            self.head = _zero_head(pretrained.head.in_features, n_actions)

        def forward(self, obs):
            with torch.no_grad():
                h = self.features(obs)
            return self.head(h)

    return Policy()


WRONG_HEAD = {
    "no copy: the caller's features frozen in place": _no_copy,
    "features not frozen": _not_frozen,
    "only the first feature layer frozen": _first_layer_only_frozen,
    "head with PyTorch's default (random) init": _default_init_head,
    "head without bias": _head_without_bias,
    "re-initialised (not pretrained) features": _fresh_random_features,
    "shared, still-trainable pretrained features": _features_detached_wrongly,
    "returns the pretrained network": lambda pretrained, n_actions: pretrained,
}


@pytest.mark.parametrize("name", list(WRONG_HEAD))
def test_wrong_new_heads_fail(solution, grading_seed, name):
    grading_seed(SEEDS[1])
    assert_fails(solution, "2.3", WRONG_HEAD[name])


# ----------------------------------------------------------------------------- 2.4, graded on behaviour


AM_NAMES = ["actor_mimic", "policy_regression_loss"]


@pytest.fixture(scope="module")
def am_solution():
    from lecture_admin.grading.behaviour import defining_namespace

    return defining_namespace(ROOT / "solutions" / NB, AM_NAMES)


@pytest.fixture(scope="module")
def am_stub():
    from lecture_admin.grading.behaviour import defining_namespace

    return defining_namespace(ROOT / "exercises" / NB, AM_NAMES)


def _am_credit(ns: dict, seed: int) -> tuple[float, str]:
    from lecture_admin.grading.behaviour import credit

    try:
        return credit(ns, "2.4", AM_NAMES, seed)
    finally:
        use_case_seed(None)


def _am_wrong(ns: dict, name: str) -> dict:
    from lecture_admin.grading.hidden import BEHAVIOUR

    out = dict(ns)
    exec(compile(BEHAVIOUR["2.4"].wrong[name], f"<wrong version {name}>", "exec"), out)  # noqa: S102 - test helper
    return out


def _am_public(ns: dict) -> tuple[bool, str]:
    from lecture_utils.selfcheck import run_check

    passed, line, _ = run_check("2.4", ns["actor_mimic"])
    return passed, line


def _am_wrong_names() -> list[str]:
    from lecture_admin.grading.hidden import BEHAVIOUR, hidden_part

    hidden_part("2.4")
    return list(BEHAVIOUR["2.4"].wrong)


def test_actor_mimic_registration():
    from lecture_admin.grading.hidden import BEHAVIOUR
    from lecture_utils.selfcheck.answers import ANSWERS

    part = hidden_part("2.4")
    assert part.run is not None and part.library == ("lecture_utils.policy_losses",)
    assert ANSWERS["2.4"] == ("lecture_utils.policy_losses",)
    spec = BEHAVIOUR["2.4"]
    assert spec.notebook == NB and spec.names[0] == "actor_mimic" and len(spec.wrong) >= 3


def test_actor_mimic_is_not_in_the_library():
    """am.distill needs one ensemble of equal experts and keeps its maps to itself: it cannot answer 2.4."""
    import inspect

    import lecture_utils.actor_mimic as am

    assert "beta" in inspect.signature(am.distill).parameters
    assert inspect.signature(am.distill).return_annotation in (np.ndarray, "np.ndarray")


def test_actor_mimic_stub_is_not_attempted(am_stub):
    assert _am_credit(am_stub, SEEDS[0]) == (0.0, "not attempted")
    passed, line = _am_public(am_stub)
    assert not passed and "not attempted" in line


@pytest.mark.slow
# One grading seed here (each behaviour test trains the solution in full); `lecture bench --behaviour` grades it
# on 50 seeds, which is where the seed-to-seed spread is measured.
@pytest.mark.parametrize("seed", SEEDS[1:2])
def test_actor_mimic_solution_full_credit(am_solution, seed):
    assert _am_credit(am_solution, seed) == (1.0, "passed")


@pytest.mark.slow
def test_actor_mimic_public_check_passes_on_the_solution(am_solution):
    passed, line = _am_public(am_solution)
    assert passed, line


@pytest.mark.slow
@pytest.mark.parametrize("name", _am_wrong_names())
def test_actor_mimic_wrong_versions_earn_nothing(am_solution, name):
    ns = _am_wrong(am_solution, name)
    fraction, message = _am_credit(ns, SEEDS[1])
    assert fraction == 0.0, message
    passed, line = _am_public(ns)
    assert not passed and "partial credit" not in line, line
