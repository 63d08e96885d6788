"""Hidden tests of homework 05 (torch: harnesses build the objects in the kernel): pass on the solution under
three grading seeds, fail on the stubs and on plausible wrong answers. The FakeKernel round-trips through JSON."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.func import functional_call

from lecture_admin.grading.hidden import hidden_part
from tests.grading_fakes import defining_cells as _defining_cells
from tests.grading_fakes import outcome

NB = "05_maml.ipynb"
PARTS = {"5.1": "inner_step", "5.2": "maml_loss", "5.3": "reinforce_loss"}


# ---------------------------------------------------------------- helpers (FakeKernel runs, namespaces)

ROOT = Path(__file__).resolve().parent.parent


def defining_cells(folder: str, names: list[str]) -> dict:
    return _defining_cells(ROOT / folder / NB, names)


@pytest.fixture(scope="module")
def sol():
    return defining_cells("solutions", list(PARTS.values()))


def test_library_masks_leave_the_demo_imports_alone():
    import sys

    assert hidden_part("5.1").library == ("lecture_utils.maml",)
    assert hidden_part("5.2").library == ("lecture_utils.sinusoid_maml", "lecture_utils.maml")
    assert hidden_part("5.3").library == ("lecture_utils.policy_gradient",)
    # The demo cells import lecture_utils.sinusoid: it must not pull in a masked module.
    masked = ("lecture_utils.maml", "lecture_utils.sinusoid_maml", "lecture_utils.policy_gradient")
    saved = {m: sys.modules.pop(m) for m in (*masked, "lecture_utils.sinusoid", "lecture_utils.maml_reach")
             if m in sys.modules}
    try:
        import lecture_utils.maml_reach  # noqa: F401 - the 5.4 demo's evaluation
        import lecture_utils.sinusoid  # noqa: F401

        assert not any(m in sys.modules for m in masked)
    finally:
        sys.modules.update(saved)


@pytest.mark.parametrize("eid", sorted(PARTS))
def test_solution_passes(grading_seed, sol, eid):
    assert outcome(sol, eid, PARTS[eid]) == "passed"


@pytest.mark.parametrize("eid", sorted(PARTS))
def test_stub_fails(eid):
    assert outcome(defining_cells("exercises", [PARTS[eid]]), eid, PARTS[eid]) == "not attempted"


def _fails(eid, ns, contains=None):
    if callable(ns):
        ns = {PARTS[eid]: ns}
    msg = outcome(ns, eid, PARTS[eid])
    assert msg.startswith("failed"), msg
    if contains:
        assert contains in msg, msg


# ---------------------------------------------------------------- 5.1


def _ok_step(params, loss, alpha, first_order=False):
    grads = torch.autograd.grad(loss, list(params.values()), create_graph=not first_order)
    return {k: p - alpha * (g.detach() if first_order else g) for (k, p), g in zip(params.items(), grads)}


def _detached_inner_gradient(params, loss, alpha, first_order=False):
    grads = torch.autograd.grad(loss, list(params.values()))
    return {k: p - alpha * g for (k, p), g in zip(params.items(), grads)}


def _in_place(params, loss, alpha, first_order=False):
    grads = torch.autograd.grad(loss, list(params.values()))
    with torch.no_grad():
        for p, g in zip(params.values(), grads):
            p -= alpha * g
    return params


def _wrong_sign(params, loss, alpha, first_order=False):
    grads = torch.autograd.grad(loss, list(params.values()), create_graph=not first_order)
    return {k: p + alpha * g for (k, p), g in zip(params.items(), grads)}


def _cut_from_theta(params, loss, alpha, first_order=False):
    grads = torch.autograd.grad(loss, list(params.values()), create_graph=not first_order)
    return {k: (p - alpha * g).detach().requires_grad_(True) for (k, p), g in zip(params.items(), grads)}


def _ignores_first_order(params, loss, alpha, first_order=False):
    return _ok_step(params, loss, alpha)


def _first_order_detaches_everything(params, loss, alpha, first_order=False):
    out = _ok_step(params, loss, alpha, first_order)
    return {k: v.detach() for k, v in out.items()} if first_order else out


def _returns_a_list(params, loss, alpha, first_order=False):
    return list(_ok_step(params, loss, alpha, first_order).values())


@pytest.mark.parametrize("wrong,says", [
    (_detached_inner_gradient, "first-order approximation"),
    (_in_place, "in place"),
    (_wrong_sign, "theta'"),
    (_cut_from_theta, "not connected"),
    (_ignores_first_order, "first_order=True"),
    (_first_order_detaches_everything, "first_order=True theta' must still depend"),
    (_returns_a_list, "should return a dict"),
], ids=lambda x: x.__name__.strip("_") if callable(x) else "")
def test_inner_step_wrong_answers_fail(one_seed, wrong, says):
    _fails("5.1", wrong, contains=says)


def test_inner_step_reference_passes(one_seed):
    assert outcome({"inner_step": _ok_step}, "5.1", "inner_step") == "passed"


# ---------------------------------------------------------------- 5.2


def _task_loss(model, params, x, y):
    return ((functional_call(model, params, (x,)) - y) ** 2).mean()


def _maml(step=_ok_step, reduce=torch.mean, at_theta=False, swap=False, shared=False):
    def maml_loss(model, params, tasks, alpha):
        if shared:
            support = torch.stack([_task_loss(model, params, *s) for s, _ in tasks]).mean()
            adapted = step(params, support, alpha)
        losses = []
        for s, q in tasks:
            s, q = (q, s) if swap else (s, q)
            if not shared:
                adapted = step(params, _task_loss(model, params, *s), alpha)
            losses.append(_task_loss(model, params if at_theta else adapted, *q))
        return reduce(torch.stack(losses))

    return maml_loss


@pytest.mark.parametrize("wrong", [
    _maml(step=_detached_inner_gradient),  # first-order meta-gradient
    _maml(reduce=torch.sum),  # sums over tasks
    _maml(at_theta=True),  # query loss at theta, not theta'
    _maml(swap=True),  # adapts on the query set, scores the support set
    _maml(shared=True),  # one theta' for all tasks
], ids=["first_order", "sum_over_tasks", "query_at_theta", "support_query_swapped", "one_shared_theta_prime"])
def test_maml_loss_wrong_answers_fail(one_seed, wrong):
    _fails("5.2", wrong)


def test_maml_loss_first_order_fails_on_the_gradient_not_the_value(one_seed):
    _fails("5.2", _maml(step=_detached_inner_gradient), contains="gradient of your meta-loss")


def test_maml_loss_returning_a_float_fails(one_seed):
    _fails("5.2", lambda model, params, tasks, alpha: _maml()(model, params, tasks, alpha).item(),
           contains="scalar tensor")


def test_maml_loss_reference_passes(one_seed):
    assert outcome({"maml_loss": _maml()}, "5.2", "maml_loss") == "passed"


# ---------------------------------------------------------------- 5.3


def _rtg(rewards, gamma):
    G, running = torch.zeros_like(rewards), torch.zeros(rewards.shape[0], dtype=rewards.dtype)
    for t in reversed(range(rewards.shape[1])):
        running = rewards[:, t] + gamma * running
        G[:, t] = running
    return G


def _reinforce(baseline=True, discount=True, sign=-1.0, reward_to_go=True, scalar_baseline=False):
    def reinforce_loss(log_probs, rewards, gamma):
        G = _rtg(rewards, gamma if discount else 1.0)
        if not reward_to_go:
            G = G[:, :1].expand_as(G)
        if baseline:
            G = G - (G.mean() if scalar_baseline else G.mean(0, keepdim=True))
        return sign * (log_probs * G.detach()).mean()

    return reinforce_loss


@pytest.mark.parametrize("wrong", [
    _reinforce(baseline=False), _reinforce(discount=False), _reinforce(sign=1.0), _reinforce(reward_to_go=False),
    _reinforce(scalar_baseline=True),
], ids=["missing_baseline", "no_discounting", "wrong_sign", "whole_return_not_reward_to_go", "one_scalar_baseline"])
def test_reinforce_loss_wrong_answers_fail(one_seed, wrong):
    _fails("5.3", wrong)


def test_reinforce_loss_detached_fails(one_seed):
    _fails("5.3", lambda lp, r, g: _reinforce()(lp.detach(), r, g), contains="differentiable")


def test_reinforce_loss_reference_passes(one_seed):
    assert outcome({"reinforce_loss": _reinforce()}, "5.3", "reinforce_loss") == "passed"


# ---------------------------------------------------------------- 5.4 (behaviour-graded: meta-training in bands)

REACH = ["meta_train_reach"]


@pytest.fixture(scope="module")
def reach_sol():
    from lecture_admin.grading.behaviour import defining_namespace

    return defining_namespace(ROOT / "solutions" / NB, REACH)


def _reach_credit(ns, seed):
    from lecture_admin.grading.behaviour import credit
    from lecture_utils.selfcheck.core import use_case_seed

    try:
        return credit(ns, "5.4", REACH, seed)
    finally:
        use_case_seed(None)


def _wrong_ns(reach_sol, variant):
    from lecture_admin.grading.hidden import BEHAVIOUR

    ns = dict(reach_sol)
    exec(compile(BEHAVIOUR["5.4"].wrong[variant], f"<wrong {variant}>", "exec"), ns)  # noqa: S102
    return ns


def _wrong_variants():
    from lecture_admin.grading.hidden import BEHAVIOUR, hidden_part

    hidden_part("5.4")  # registers BEHAVIOUR["5.4"]
    return sorted(BEHAVIOUR["5.4"].wrong)


def test_meta_train_reach_registration():
    from lecture_admin.grading.hidden import BEHAVIOUR
    from lecture_utils.selfcheck.answers import ANSWERS

    assert hidden_part("5.4").library == ("lecture_utils.maml", "lecture_utils.policy_gradient")
    assert ANSWERS["5.4"] == hidden_part("5.4").library
    assert BEHAVIOUR["5.4"].names == tuple(REACH) and len(BEHAVIOUR["5.4"].wrong) >= 3


@pytest.mark.slow
# One grading seed here (each behaviour test trains the solution in full); `lecture bench --behaviour` grades it
# on 50 seeds, which is where the seed-to-seed spread is measured.
@pytest.mark.parametrize("seed", (2024,))
def test_meta_train_reach_solution_full_credit(reach_sol, seed):
    fraction, message = _reach_credit(reach_sol, seed)
    assert fraction == 1.0, message


def test_meta_train_reach_stub_not_attempted():
    from lecture_admin.grading.behaviour import defining_namespace

    ns = defining_namespace(ROOT / "exercises" / NB, REACH)
    assert _reach_credit(ns, 11) == (0.0, "not attempted")


@pytest.mark.slow
@pytest.mark.parametrize("variant", _wrong_variants())
def test_meta_train_reach_wrong_versions_earn_nothing(reach_sol, variant):
    fraction, message = _reach_credit(_wrong_ns(reach_sol, variant), 2024)
    assert fraction == 0.0, message


def test_meta_train_reach_wrong_return_types_fail(reach_sol):
    ns = dict(reach_sol)
    ns["meta_train_reach"] = lambda *a, **k: [1.0, 2.0]
    assert _reach_credit(ns, 11) == (0.0, 'meta_train_reach should return a dict {"P": array [D, D], "z": array [D]}, '
                                          "got list")
    ns["meta_train_reach"] = lambda goals, *a, **k: {"P": np.eye(goals.shape[1]), "z": np.zeros(3)}
    assert "has shape (3,), expected (8,)" in _reach_credit(ns, 11)[1]
    ns["meta_train_reach"] = lambda goals, *a, **k: {"P": torch.eye(goals.shape[1]) * np.nan,
                                                       "z": torch.zeros(goals.shape[1])}
    assert "non-finite" in _reach_credit(ns, 11)[1]


def test_meta_train_reach_worse_than_pretrained_earns_nothing(reach_sol):
    ns = dict(reach_sol)
    ns["meta_train_reach"] = lambda goals, *a, **k: {"P": np.eye(goals.shape[1]), "z": np.zeros(goals.shape[1])}
    fraction, message = _reach_credit(ns, 11)
    assert fraction == 0.0 and "closes -0." in message  # P = I, z = 0: worse than the pretrained baseline


def test_meta_train_reach_bands_give_partial_credit(reach_sol, monkeypatch):
    """Between the thresholds the grader returns a Credit with the measured line; the bands themselves."""
    from lecture_admin.grading.hidden import sec05 as hidden05
    from lecture_utils.selfcheck import sec05 as public

    monkeypatch.setattr(hidden05, "reach_credit", lambda *a: (0.5, "closes 0.30 of the pretrained gap"))
    ns = dict(reach_sol)
    ns["meta_train_reach"] = lambda goals, *a, **k: {"P": np.eye(goals.shape[1]), "z": np.zeros(goals.shape[1])}
    assert _reach_credit(ns, 11) == (0.5, "closes 0.30 of the pretrained gap")
    assert [public._band(v, public.REACH_BANDS) for v in (0.9, 0.5, 0.3, 0.25, 0.1, -1.0, float("nan"))] == [
        1.0, 1.0, 0.5, 0.5, 0.0, 0.0, 0.0]


# The public check: passes on the solution, fails on the stub and on every documented wrong version.


@pytest.mark.slow
def test_meta_train_reach_public_check_passes_on_the_solution(reach_sol):
    from lecture_utils.selfcheck.core import run_check

    passed, line, _ = run_check("5.4", reach_sol["meta_train_reach"])
    assert passed, line


def test_meta_train_reach_public_check_stub():
    from lecture_admin.grading.behaviour import defining_namespace
    from lecture_utils.selfcheck.core import run_check

    ns = defining_namespace(ROOT / "exercises" / NB, REACH)
    passed, line, _ = run_check("5.4", ns["meta_train_reach"])
    assert not passed and "not attempted" in line


@pytest.mark.slow
@pytest.mark.parametrize("variant", _wrong_variants())
def test_meta_train_reach_public_check_fails_on_wrong_versions(reach_sol, variant):
    from lecture_utils.selfcheck.core import run_check

    passed, line, _ = run_check("5.4", _wrong_ns(reach_sol, variant)["meta_train_reach"])
    assert not passed, line
