"""Hidden tests for homework 02 (see hidden/__init__.py).

Every part takes torch objects (tensors with gradients, modules), so each has a harness: the grader sends plain
arrays, the harness builds the tensors or the pretrained network in the kernel, calls the student's function,
and returns plain results (values, gradients, parameter counts, outputs before and after a training step).
The references are computed here, on cases drawn from the grading seed (`case_rng`).

Library: `lecture_utils.policy_losses` (entropy_pg_loss answers 2.1, policy_regression_loss 2.2) is masked in the
grading kernel; `pretraining` and `actor_mimic` (networks, rollouts, training loops) stay available. 2.3 has
no course function that answers it (`pt.new_head_policy` builds ensemble heads, which fail the part).

2.4 is graded on behaviour: the student's Actor-Mimic loop trains in the kernel on the grader's experts (fresh
directions and feature widths from the grading seed), returns plain weight arrays, and the student network is rebuilt
and measured here (return per task, R^2 of the feature maps, fine-tuning speed-up on a new direction). `am.distill`
cannot answer it (it needs one ensemble of equally wide experts and keeps its maps), and with policy_losses masked
it would not run without the student's own 2.2 loss anyway.
"""

from __future__ import annotations

import numpy as np
import torch

from lecture_admin.grading.hidden import Credit, Harness, behaviour, hidden
from lecture_utils.selfcheck.core import CheckFailed, case_rng, expect_close
from lecture_utils.selfcheck.sec02 import (
    _am_case,
    _am_weights,
    _ref_pg_loss,
    _ref_policy_regression,
    am_credit,
    am_measure,
)

LIBRARY = ("lecture_utils.policy_losses",)

_SCALAR_RESULT = '''
def __scalar(out, wrt):
    import torch as _torch

    res = {"type": type(out).__name__}
    if not isinstance(out, _torch.Tensor):
        return res
    res.update(shape=list(out.shape), requires_grad=bool(out.requires_grad))
    if out.numel() != 1 or out.ndim > 1:
        return res
    out = out.reshape(())
    res["value"] = float(out.detach())
    if out.requires_grad:
        grads = _torch.autograd.grad(out, wrt, allow_unused=True)
        res["grads"] = [None if g is None else g.detach().numpy() for g in grads]
    return res
'''

PG_HARNESS = _SCALAR_RESULT + '''
def __harness(fn, logits, actions, rewards, gamma, alpha):
    import numpy as _np
    import torch as _torch

    logits = _torch.tensor(_np.asarray(logits, dtype=_np.float32), requires_grad=True)
    actions = _torch.tensor(_np.asarray(actions, dtype=_np.int64))
    rewards = _torch.tensor(_np.asarray(rewards, dtype=_np.float32))
    a0, r0 = actions.clone(), rewards.clone()
    res = __scalar(fn(logits, actions, rewards, gamma, alpha), [logits])
    res["inputs_changed"] = not (_torch.equal(actions, a0) and _torch.equal(rewards, r0))
    return res
'''

PR_HARNESS = _SCALAR_RESULT + '''
def __harness(fn, student_logits, expert_logits, tau):
    import numpy as _np
    import torch as _torch

    student = _torch.tensor(_np.asarray(student_logits, dtype=_np.float32), requires_grad=True)
    expert = _torch.tensor(_np.asarray(expert_logits, dtype=_np.float32), requires_grad=True)
    e0 = expert.detach().clone()
    res = __scalar(fn(student, expert, tau), [student, expert])
    res["inputs_changed"] = not _torch.equal(expert.detach(), e0)
    return res
'''

HEAD_HARNESS = '''
def __harness(fn, obs_dim, n_old, hidden, n_new, weights, obs, target, lr):
    import numpy as _np
    import torch as _torch
    from torch import nn as _nn

    from lecture_utils.pretraining import MLPPolicy

    pre = MLPPolicy(obs_dim, n_old, hidden)
    pre.load_state_dict({k: _torch.tensor(_np.asarray(v, dtype=_np.float32)) for k, v in weights.items()})
    obs = _torch.tensor(_np.asarray(obs, dtype=_np.float32))
    new = fn(pre, n_new)
    res = {"type": type(new).__name__, "is_module": isinstance(new, _nn.Module)}
    if not res["is_module"]:
        return res
    out = new(obs)
    res["out_type"] = type(out).__name__
    if not isinstance(out, _torch.Tensor):
        return res
    res["out0"] = out.detach().numpy()
    res["trainable"] = int(sum(p.numel() for p in new.parameters() if p.requires_grad))
    res["n_linear"] = sum(isinstance(m, _nn.Linear) for m in new.modules())
    heads = [m for m in new.modules() if isinstance(m, _nn.Linear) and m.weight.requires_grad]
    res["heads"] = [list(m.weight.shape) + [m.bias is not None] for m in heads]
    params = [p for p in new.parameters() if p.requires_grad]
    if not params or tuple(out.shape) != (obs.shape[0], n_new):
        return res
    opt = _torch.optim.SGD(params, lr=lr)
    loss = _nn.functional.cross_entropy(new(obs), _torch.tensor(_np.asarray(target, dtype=_np.int64)))
    loss.backward()
    res["head_grad"] = float(max((p.grad.abs().max() for p in params if p.grad is not None), default=0.0))
    res["pre_grads"] = [n for n, p in pre.named_parameters() if p.grad is not None and float(p.grad.abs().max()) > 0]
    opt.step()
    with _torch.no_grad():
        res["out1"] = new(obs).numpy()
    if len(heads) == 1:
        res["head_weight"] = heads[0].weight.detach().numpy()
        res["head_bias"] = None if heads[0].bias is None else heads[0].bias.detach().numpy()
    res["pre_after"] = {k: v.detach().numpy() for k, v in pre.state_dict().items()}
    res["pre_frozen"] = [n for n, p in pre.named_parameters() if not p.requires_grad]
    return res
'''


def _loss_result(res: dict, name: str, case: str) -> float:
    """The checks of the public _scalar_loss, on the harness's plain report."""
    if res["type"] != "Tensor":
        raise CheckFailed(f"{name} should return a torch tensor (to backpropagate), got {res['type']}")
    if "value" not in res:
        raise CheckFailed(f"{name} should return a scalar (the mean loss), got shape {tuple(res['shape'])}")
    if not res["requires_grad"]:
        raise CheckFailed(f"{name}'s result does not depend on the logits through autograd (requires_grad is False)")
    if not np.isfinite(res["value"]):
        raise CheckFailed(f"{name} is not finite ({case})")
    if res.get("inputs_changed"):
        raise CheckFailed(f"{name} changed its arguments in place ({case}): the caller still needs them, "
                          "compute on copies (e.g. out-of-place operations)")
    return float(res["value"])


# ----------------------------------------------------------------------------- 2.1


def _pg_cases(rng):
    sizes = [(1, 4, 3), (int(rng.integers(4, 12)), int(rng.integers(6, 20)), int(rng.integers(2, 9))),
             (int(rng.integers(15, 30)), int(rng.integers(20, 40)), 16), (int(rng.integers(2, 6)), 2, 2)]
    for i, (T, N, A) in enumerate(sizes):
        logits = (rng.normal(0.0, 2.0, (T, N, A))).astype(np.float32)
        actions = rng.integers(0, A, (T, N))
        rewards = (rng.normal(size=(T, N)) + np.linspace(0, 1, T)[:, None] + rng.normal()).astype(np.float32)
        gamma = (0.0, float(rng.uniform(0.5, 0.97)), 1.0, float(rng.uniform(0.3, 0.9)))[i]
        alpha = float(rng.uniform(0.05, 0.8))
        yield logits, actions, rewards, gamma, alpha


def run_pg_loss(kernel, names) -> None:
    """2.1: value and gradient w.r.t. the logits against the reference, on the grader's batches (gamma 0 and
    1 included), and the actions and rewards are left as they were."""
    harness = Harness(kernel, names[0], PG_HARNESS)
    for logits, actions, rewards, gamma, alpha in _pg_cases(case_rng(2101)):
        T, N, A = logits.shape
        case = f"T={T}, N={N}, A={A}, gamma={gamma:.2f}, alpha={alpha:.2f}"
        res = harness(logits=logits, actions=actions, rewards=rewards, gamma=gamma, alpha=alpha)
        got = _loss_result(res, "entropy_regularised_pg_loss", case)
        ref_logits = torch.tensor(logits, requires_grad=True)
        want = _ref_pg_loss(ref_logits, torch.tensor(actions), torch.tensor(rewards), gamma, alpha)
        (want_grad,) = torch.autograd.grad(want, ref_logits)
        expect_close(got, float(want.detach()), "the loss value", rtol=1e-4, atol=1e-5, case=case)
        got_grad = res["grads"][0]
        if got_grad is None:
            raise CheckFailed(f"the loss has no gradient with respect to the logits ({case})")
        expect_close(got_grad, want_grad.numpy(), "the gradient of the loss with respect to the logits",
                     rtol=1e-4, atol=1e-6, case=case)


# ----------------------------------------------------------------------------- 2.2


def run_policy_regression(kernel, names) -> None:
    """2.2: the value (cross-entropy or KL), the gradient w.r.t. the student's logits, no gradient into the
    expert's logits, on the grader's batches and temperatures."""
    harness = Harness(kernel, names[0], PR_HARNESS)
    rng = case_rng(2202)
    cases = [(1, int(rng.integers(3, 9)), float(rng.uniform(0.1, 0.3))),
             (int(rng.integers(20, 60)), 16, float(rng.uniform(0.4, 0.9))),
             (int(rng.integers(5, 20)), int(rng.integers(2, 6)), float(rng.uniform(1.5, 3.0))), (7, 4, 1.0)]
    for n, a, tau in cases:
        student = rng.normal(0.0, 1.5, (n, a)).astype(np.float32)
        expert = rng.normal(0.0, 3.0, (n, a)).astype(np.float32)
        case = f"{n} states, {a} actions, tau={tau:.2f}"
        res = harness(student_logits=student, expert_logits=expert, tau=tau)
        got = _loss_result(res, "policy_regression_loss", case)
        ref_student = torch.tensor(student, requires_grad=True)
        ce, kl = _ref_policy_regression(ref_student, torch.tensor(expert), tau)
        (want_grad,) = torch.autograd.grad(ce, ref_student)
        ce, kl = float(ce.detach()), float(kl.detach())
        if not (np.isclose(got, ce, rtol=1e-4, atol=1e-5) or np.isclose(got, kl, rtol=1e-4, atol=1e-5)):
            raise CheckFailed(f"the loss value is off ({case}): abs error {min(abs(got - ce), abs(got - kl)):.3g} "
                              "from the cross-entropy (or the KL divergence) from the expert's distribution to the "
                              "student's")
        grad_s, grad_e = res["grads"]
        if grad_s is None:
            raise CheckFailed(f"the loss has no gradient with respect to the student's logits ({case})")
        expect_close(grad_s, want_grad.numpy(), "the gradient with respect to the student's logits",
                     rtol=1e-4, atol=1e-6, case=case)
        if grad_e is not None and float(np.abs(grad_e).max()) > 0:
            raise CheckFailed("the loss sends gradient into the expert's logits: the expert is a fixed target "
                              "(detach it)")


# ----------------------------------------------------------------------------- 2.3


def _pretrained_weights(rng, obs_dim: int, n_old: int, hidden: int) -> dict[str, np.ndarray]:
    shapes = {"features.0.weight": (hidden, obs_dim), "features.0.bias": (hidden,),
              "features.2.weight": (hidden, hidden), "features.2.bias": (hidden,),
              "head.weight": (n_old, hidden), "head.bias": (n_old,)}
    return {k: (rng.normal(0.0, 1.0, s) / np.sqrt(s[-1] if len(s) > 1 else 4.0)).astype(np.float32)
            for k, s in shapes.items()}


def _features(w: dict[str, np.ndarray], obs: np.ndarray) -> np.ndarray:
    h = np.tanh(obs.astype(np.float64) @ w["features.0.weight"].T + w["features.0.bias"])
    return np.tanh(h @ w["features.2.weight"].T + w["features.2.bias"])


def run_new_head(kernel, names) -> None:
    """2.3: a pretrained MLPPolicy with the grader's weights is built in the kernel; the new policy must output
    zero logits [N, n_new], train exactly one new Linear(hidden, n_new) head (with bias), and after one SGD step
    on a cross-entropy loss its head must be the step the grader computes from the pretrained features (so the
    features are the pretrained ones, frozen), while the pretrained network is unchanged and still trainable."""
    harness = Harness(kernel, names[0], HEAD_HARNESS)
    rng = case_rng(2303)
    cases = [(int(rng.integers(3, 8)), 16, 16, 32), (int(rng.integers(2, 6)), int(rng.integers(2, 6)),
                                                     int(rng.integers(6, 12)), int(rng.integers(8, 24))),
             (int(rng.integers(4, 9)), int(rng.integers(2, 5)), int(rng.integers(2, 5)), int(rng.integers(10, 30)))]
    lr = 0.5
    for obs_dim, n_old, n_new, hidden_size in cases:
        w = _pretrained_weights(rng, obs_dim, n_old, hidden_size)
        n = int(rng.integers(9, 20))
        obs = rng.normal(0.0, 1.0, (n, obs_dim)).astype(np.float32)
        target = rng.integers(0, n_new, n)
        case = f"obs_dim={obs_dim}, hidden={hidden_size}, {n_new} new actions"
        res = harness(obs_dim=obs_dim, n_old=n_old, hidden=hidden_size, n_new=n_new, weights=w, obs=obs,
                      target=target, lr=lr)
        if not res["is_module"]:
            raise CheckFailed(f"return an nn.Module (the new policy), got {res['type']}")
        if res.get("out_type") != "Tensor" or tuple(np.shape(res["out0"])) != (n, n_new):
            shape = tuple(np.shape(res["out0"])) if "out0" in res else res.get("out_type")
            raise CheckFailed(f"the new policy maps obs [{n}, {obs_dim}] to {shape}, expected logits "
                              f"[{n}, {n_new}] ({case})")
        if float(np.abs(res["out0"]).max()) > 1e-6:
            raise CheckFailed(f"the new policy's logits should all be 0 at the start (a zero-initialised head), "
                              f"max |logit| = {float(np.abs(res['out0']).max()):.3g} ({case})")
        want = hidden_size * n_new + n_new
        if res["trainable"] != want:
            raise CheckFailed(f"the new policy has {res['trainable']} trainable parameters, expected {want}: only a "
                              f"new linear head (feature size {hidden_size} -> {n_new} actions, with bias) should "
                              f"train ({case})")
        if res["n_linear"] < 3:
            raise CheckFailed(f"the new policy should contain the pretrained feature layers and a new head ({case})")
        if res["heads"] != [[n_new, hidden_size, True]]:
            raise CheckFailed(f"expected exactly one trainable nn.Linear({hidden_size}, {n_new}) head with a bias "
                              f"({case})")
        if res["head_grad"] == 0:
            raise CheckFailed(f"a loss on the new policy gives no gradient to its head ({case})")
        if res["pre_grads"]:
            raise CheckFailed(f"a loss on the new policy sent gradient into the pretrained network "
                              f"({', '.join(res['pre_grads'])}): copy its features ({case})")
        # one SGD step from a zero head: logits 0 -> softmax uniform; grad W = (p - onehot)^T h / n
        h = _features(w, obs)
        delta = (np.full((n, n_new), 1.0 / n_new) - np.eye(n_new)[target]) / n
        w1, b1 = -lr * delta.T @ h, -lr * delta.sum(0)
        expect_close(res["head_weight"], w1, "the new head's weights after one training step", rtol=1e-3, atol=1e-5,
                     case=f"{case}: the head sees the pretrained features")
        expect_close(res["head_bias"], b1, "the new head's bias after one training step", rtol=1e-3, atol=1e-5,
                     case=case)
        expect_close(res["out1"], h @ w1.T + b1, "the new policy's logits after one training step", rtol=1e-3,
                     atol=1e-5, case=f"{case}: its features should be the pretrained ones, frozen")
        if res["pre_frozen"]:
            raise CheckFailed(f"the pretrained network's parameter {res['pre_frozen'][0]!r} was frozen in place: copy "
                              "the features before freezing them, the pretrained network must stay trainable")
        for k, v in w.items():
            if not np.array_equal(np.asarray(res["pre_after"][k], dtype=np.float32), v):
                raise CheckFailed(f"the pretrained network's parameter {k!r} changed: it must stay as it was")


hidden("2.1", library=LIBRARY, run=run_pg_loss)
hidden("2.2", library=LIBRARY, run=run_policy_regression)
hidden("2.3", run=run_new_head)


# ----------------------------------------------------------------------------- 2.4

AM_HARNESS = '''
def __harness(fn, angles, widths, expert_weights, seed):
    import numpy as _np
    import torch as _torch

    from lecture_utils.pretraining import MLPPolicy

    experts = []
    for h, w in zip(widths, expert_weights):
        e = MLPPolicy(hidden=int(h))
        e.load_state_dict({k: _torch.tensor(_np.asarray(v), dtype=_torch.get_default_dtype()) for k, v in w.items()})
        experts.append(e)
    _torch.manual_seed(int(seed))
    out = fn(experts, [float(a) for a in angles])

    def plain(x):
        if isinstance(x, dict):
            return {str(k): plain(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [plain(v) for v in x]
        if isinstance(x, _torch.Tensor):
            return x.detach().cpu().double().numpy()
        if isinstance(x, _np.ndarray):
            return x.astype(_np.float64) if x.dtype.kind in "fiub" else x.tolist()
        if x is None or isinstance(x, (bool, int, float, str, _np.generic)):
            return x
        return type(x).__name__
    return plain(out)
'''


def run_actor_mimic(kernel, names):
    """2.4, graded on behaviour. The grader draws 3 directions, expert feature widths and expert weights
    (`make_experts`, built here and sent as arrays), the kernel builds the experts and runs the student's
    `actor_mimic(experts, task_angles)` (the student's default hyperparameters), and the trained weights come
    back as arrays. Here: the student network is rebuilt and rolled out (return per task over the expert's),
    the student's feature maps are scored (R^2 against the experts' features on states the student visits),
    and the student's trunk is fine-tuned on a new direction against scratch (speed-up to 80% of the expert).
    Credit: the lowest of the three bands (selfcheck.sec02: AM_*_BANDS); the transfer only runs when the first
    two earn something."""
    from lecture_utils.sec02_experts import make_experts

    case = _am_case(case_rng(2404))
    experts = make_experts(case["angles"], case["widths"], seed=case["expert_seed"])
    weights = [{k: v.detach().numpy() for k, v in e.state_dict().items()} for e in experts]
    out = Harness(kernel, names[0], AM_HARNESS)(angles=case["angles"], widths=case["widths"],
                                                expert_weights=weights, seed=case["seed"])
    w = _am_weights(out, case["widths"])
    m = am_measure(w, experts, case, transfer=False)
    fraction, line = am_credit(m)
    if fraction > 0:
        fraction, line = am_credit(am_measure(w, experts, case, transfer=True))
    if fraction == 0:
        raise CheckFailed(line)
    return None if fraction == 1.0 else Credit(fraction, line)


# A reference implementation with knobs: the documented wrong versions below are this with one thing wrong.
_AM_TEMPLATE = """
import torch
from torch import nn
from lecture_utils import pretraining as pt


def actor_mimic(experts, task_angles, beta=0.1, iters=40, n_envs=64, lr=1e-2, tau=1.0):
    K = len(experts)
    student = pt.PolicyNet(members=1, hidden=32, head_members=K)
    maps = [nn.Linear(32, e.hidden) for e in experts]
    params = {params}
    opt = torch.optim.Adam(params, lr=lr)
    for _ in range(iters):
        obs = {states}
        obs = obs.transpose(0, 1).reshape(K, -1, obs.shape[-1])
        h = student.features(obs).expand(K, -1, -1)
        logits = student.head(h)
        loss = 0.0
        for k in range(K):
            with torch.no_grad():
                h_e = experts[k].features(obs[k])
                target = experts[{teacher}].head(experts[{teacher}].features(obs[k]))
            pi_e = torch.softmax(target / tau, dim=-1)
            loss = loss + {w_policy} * -(pi_e * torch.log_softmax(logits[k], dim=-1)).sum(-1).mean()
            loss = loss + {w_feature} * ((maps[k](h[k]) - h_e) ** 2).sum(-1).mean()
        opt.zero_grad()
        (loss / K).backward()
        opt.step()
    f = lambda t: t.detach().numpy().copy()
    return {{"W1": f(student.features[0].weight[0]), "b1": f(student.features[0].bias[0, 0]),
            "W2": f(student.features[2].weight[0]{w2}), "b2": f(student.features[2].bias[0, 0]),
            "W_heads": f(student.head.weight), "b_heads": f(student.head.bias[:, 0]),
            "W_maps": [f(m.weight.T) for m in maps], "b_maps": [f(m.bias) for m in maps]}}
"""
_AM_RIGHT = dict(params="list(student.parameters()) + [p for f in maps for p in f.parameters()]",
                 states="pt.rollout_runners(student, n_envs, task_angles)[0]", teacher="k", w_policy="1.0",
                 w_feature="beta", w2="")


def _am_wrong(**change) -> str:
    return _AM_TEMPLATE.format(**{**_AM_RIGHT, **change})


AM_WRONG = {
    "no feature-regression term (the maps never train)": _am_wrong(w_feature="0.0"),
    "every task's head imitates expert 0": _am_wrong(teacher="0"),
    "feature regression only (no policy-regression term)": _am_wrong(w_policy="0.0"),
    "the shared trunk is not trained (only the heads and maps)":
        _am_wrong(params="list(student.head.parameters()) + [p for f in maps for p in f.parameters()]"),
    "W2 returned transposed (nn.Linear's [out, in] layout)": _am_wrong(w2=".T"),
}
# Not a wrong version: states of a uniform random policy instead of the student's own still earn credit on some
# seeds (return ratio 0.93-0.95, map R^2 0.17-0.80 on 3 seeds): the runner's states are too easy to cover.

hidden("2.4", library=LIBRARY, run=run_actor_mimic)
behaviour("2.4", notebook="02_pretraining_finetuning.ipynb", names=("actor_mimic", "policy_regression_loss"),
          wrong=AM_WRONG)
