"""Hidden tests for homework 05 (see hidden/__init__.py).

Every part takes torch objects (parameter dicts, models, losses with graphs), so each has a harness: the
grader sends the MLP's weights, the data and the step size as float64 arrays; the harness (kernel side)
builds the model, the parameter dict and the loss, calls the student's function and returns values and
gradients as arrays; the references are computed here with the public check's helpers. The harness imports
nothing from the course (lecture_utils.selfcheck.sec05 is masked in the kernel).
"""

from __future__ import annotations

import numpy as np
import torch

from lecture_admin.grading.hidden import Credit, Harness, behaviour, hidden
from lecture_utils.selfcheck.core import CheckFailed, case_rng, expect_close
from lecture_utils.selfcheck.sec05 import (
    _data,
    _mlp,
    _mse,
    _ref_maml_loss,
    _ref_reinforce,
    _ref_step,
    maml_case,
    reach_case,
    reach_credit,
    reach_params,
)

# Kernel side, shared by the harnesses: the Tanh MLP of the public check, rebuilt from its weights (float64).
_BUILD = r'''
def __h_build(weights):
    import torch
    from torch import nn
    names = list(weights)
    d_in, h = weights["0.weight"].shape[1], weights["0.weight"].shape[0]
    model = nn.Sequential(nn.Linear(d_in, h), nn.Tanh(), nn.Linear(h, h), nn.Tanh(), nn.Linear(h, 1)).double()
    params = {k: torch.tensor(weights[k], dtype=torch.float64).requires_grad_(True) for k in names}
    return model, params


def __h_mse(model, params, x, y):
    import torch
    from torch.func import functional_call
    return ((functional_call(model, params, (torch.as_tensor(x),)) - torch.as_tensor(y)) ** 2).mean()


def __h_grad(out, params):
    """d out / d params as {name: array}; None if out is not a tensor with a graph back to params."""
    import torch
    if not isinstance(out, torch.Tensor) or not out.requires_grad or out.numel() != 1:
        return None
    gs = torch.autograd.grad(out.reshape(()), list(params.values()), allow_unused=True)
    if all(g is None for g in gs):
        return None  # a graph, but not back to params
    return {k: (torch.zeros_like(p) if g is None else g).detach().numpy() for (k, p), g in zip(params.items(), gs)}


def __h_tensor(t):
    """A plain description of a value the student returned where a tensor was expected."""
    import torch
    if not isinstance(t, torch.Tensor):
        return {"type": type(t).__name__}
    return {"type": "Tensor", "shape": list(t.shape), "value": t.detach().double().numpy(),
            "requires_grad": bool(t.requires_grad)}
'''


def _params_np(params: dict) -> dict:
    return {k: v.detach().numpy().copy() for k, v in params.items()}


def _grad_np(loss, params: dict) -> dict:
    gs = torch.autograd.grad(loss, list(params.values()), allow_unused=True)
    return {k: (torch.zeros_like(p) if g is None else g).detach().numpy() for (k, p), g in zip(params.items(), gs)}


def _flat(d: dict, keys) -> np.ndarray:
    return np.concatenate([np.asarray(d[k], dtype=float).reshape(-1) for k in keys])


def _close(got: np.ndarray, want: np.ndarray, rtol: float = 1e-6, atol: float = 1e-9) -> bool:
    return got.shape == want.shape and bool(np.all(np.isfinite(got))) and np.allclose(got, want, rtol=rtol, atol=atol)


def _expect_tensor(desc: dict, name: str, where: str) -> np.ndarray:
    if desc["type"] != "Tensor" or desc["shape"] != []:
        got = desc.get("shape", desc["type"])
        raise CheckFailed(f"{name} should return a scalar tensor, got {got} ({where})")
    return np.asarray(desc["value"], dtype=float)


# ---------------------------------------------------------------- 5.1 inner_step

_INNER_HARNESS = _BUILD + r'''
def __harness(fn, weights, xs, ys, xq, yq, alpha):
    import torch
    out = {}
    for mode, first_order in (("second", False), ("first", True)):
        model, params = __h_build(weights)
        before = {k: v.detach().clone() for k, v in params.items()}
        loss = __h_mse(model, params, xs, ys)
        adapted = fn(params, loss, alpha) if not first_order else fn(params, loss, alpha, first_order=True)
        r = {"modified": sorted(k for k in params if not torch.equal(params[k].detach(), before[k]))}
        if not isinstance(adapted, dict):
            r["type"] = type(adapted).__name__
            out[mode] = r
            continue
        r["type"] = "dict"
        r["keys"] = [str(k) for k in adapted]
        r["values"] = {str(k): __h_tensor(v) for k, v in adapted.items()}
        if set(adapted) == set(params) and all(isinstance(v, torch.Tensor) for v in adapted.values()):
            try:
                outer = __h_mse(model, adapted, xq, yq)
            except Exception as e:
                r["outer_error"] = f"{type(e).__name__}: {e}"[:200]
            else:
                r["connected"] = bool(outer.requires_grad)
                r["meta_grad"] = __h_grad(outer, params)
        out[mode] = r
    return out
'''


def _check_adapted(r: dict, keys: list, shapes: dict, name: str) -> None:
    if r["modified"]:
        raise CheckFailed(f"inner_step changed params[{r['modified'][0]!r}] in place; return new tensors instead")
    if r["type"] != "dict":
        raise CheckFailed(f"{name} should return a dict name -> tensor like params, got {r['type']}")
    if set(r["keys"]) != set(keys):
        raise CheckFailed(f"{name} returned keys {sorted(r['keys'])}, expected the keys of params {sorted(keys)}")
    for k in keys:
        v = r["values"][k]
        if v["type"] != "Tensor":
            raise CheckFailed(f"{name}[{k!r}] should be a torch.Tensor, got {v['type']}")
        if tuple(v["shape"]) != shapes[k]:
            raise CheckFailed(f"{name}[{k!r}] has shape {tuple(v['shape'])}, expected {shapes[k]}")
    if "outer_error" in r:
        raise CheckFailed(f"a loss at the parameters {name} returned could not be computed: {r['outer_error']}")


def run_inner_step(kernel, names: list[str]) -> None:
    (name,) = names
    harness = Harness(kernel, name, _INNER_HARNESS)
    rng = case_rng(51)
    for case in range(4):
        d_in = int(rng.integers(1, 4))
        model, params = _mlp(rng, d_in)
        xs, ys = _data(rng, int(rng.integers(4, 12)), d_in)
        xq, yq = _data(rng, 15, d_in)
        alpha = float(rng.uniform(0.05, 0.5))
        where = f"case {case}, alpha={alpha:.2f}"
        keys, shapes = list(params), {k: tuple(v.shape) for k, v in params.items()}

        want = _ref_step(params, _mse(model, params, xs, ys), alpha)
        want_g = _flat(_grad_np(_mse(model, want, xq, yq), params), keys)
        fo = _ref_step(params, _mse(model, params, xs, ys), alpha, first_order=True)
        fo_g = _flat(_grad_np(_mse(model, fo, xq, yq), params), keys)

        out = harness(weights=_params_np(params), xs=xs.numpy(), ys=ys.numpy(), xq=xq.numpy(), yq=yq.numpy(),
                      alpha=alpha)
        for mode, label in (("second", "inner_step"), ("first", "inner_step(..., first_order=True)")):
            r = out[mode]
            _check_adapted(r, keys, shapes, label)
            what = "theta'" if mode == "second" else "first-order theta'"
            for k in keys:
                expect_close(r["values"][k]["value"], want[k].detach().numpy(), f"{what}[{k!r}]", rtol=1e-6,
                             atol=1e-9, case=where)
            if not r.get("connected") or r.get("meta_grad") is None:
                if mode == "second":
                    raise CheckFailed(f"theta' is not connected to theta ({where}): no gradient can flow back "
                                      "through it")
                raise CheckFailed(f"with first_order=True theta' must still depend on theta (as theta - alpha * g) "
                                  f"({where})")
            got_g = _flat(r["meta_grad"], keys)
            if mode == "second" and not _close(got_g, want_g):
                if _close(got_g, fo_g):
                    raise CheckFailed(f"the meta-gradient through theta' equals the first-order approximation "
                                      f"({where}): the inner gradient must itself stay differentiable (keep its "
                                      "graph)")
                err = float(np.max(np.abs(got_g - want_g))) if got_g.shape == want_g.shape else float("nan")
                raise CheckFailed(f"the gradient of a loss at theta' with respect to theta is off by {err:.3g} "
                                  f"({where})")
            if mode == "first" and not _close(got_g, fo_g):
                raise CheckFailed(f"with first_order=True the gradient through theta' should treat the inner "
                                  f"gradient as a constant ({where})")


hidden("5.1", library=("lecture_utils.maml",), run=run_inner_step)


# ---------------------------------------------------------------- 5.2 maml_loss

_MAML_HARNESS = _BUILD + r'''
def __harness(fn, weights, tasks, alpha):
    import torch
    model, params = __h_build(weights)
    t = lambda a: torch.tensor(a, dtype=torch.float64)
    tasks = [((t(xs), t(ys)), (t(xq), t(yq))) for (xs, ys), (xq, yq) in tasks]
    loss = fn(model, params, tasks, alpha)
    return {"loss": __h_tensor(loss), "grad": __h_grad(loss, params)}
'''


def run_maml_loss(kernel, names: list[str]) -> None:
    (name,) = names
    harness = Harness(kernel, name, _MAML_HARNESS)
    rng = case_rng(52)
    for case in range(3):
        model, params, tasks, alpha, where = maml_case(rng, case)
        keys = list(params)

        out = harness(weights=_params_np(params), alpha=alpha,
                      tasks=[[[a.numpy() for a in s], [a.numpy() for a in q]] for s, q in tasks])
        value = _expect_tensor(out["loss"], "maml_loss", where)
        want = _ref_maml_loss(model, params, tasks, alpha)
        expect_close(value, want.detach().numpy(), "meta-loss", rtol=1e-6, atol=1e-9, case=where)
        if out["grad"] is None:
            raise CheckFailed(f"the meta-loss is not a differentiable function of theta ({where})")
        got_g, want_g = _flat(out["grad"], keys), _flat(_grad_np(want, params), keys)
        err = float(np.max(np.abs(got_g - want_g)))
        scale = float(np.max(np.abs(want_g)))
        if not np.isfinite(err) or err > 1e-6 * max(1.0, scale):
            raise CheckFailed(f"the gradient of your meta-loss with respect to theta is off by {err:.3g} (largest "
                              f"component {scale:.3g}; {where})")


hidden("5.2", library=("lecture_utils.sinusoid_maml", "lecture_utils.maml"), run=run_maml_loss)


# ---------------------------------------------------------------- 5.3 reinforce_loss

_REINFORCE_HARNESS = _BUILD + r'''
def __harness(fn, log_probs, rewards, gamma):
    import torch
    lp = torch.tensor(log_probs, dtype=torch.float64).requires_grad_(True)
    loss = fn(lp, torch.tensor(rewards, dtype=torch.float64), gamma)
    return {"loss": __h_tensor(loss), "grad": __h_grad(loss, {"log_probs": lp})}
'''


def run_reinforce_loss(kernel, names: list[str]) -> None:
    (name,) = names
    harness = Harness(kernel, name, _REINFORCE_HARNESS)
    rng = case_rng(53)
    for n, h in [(4, 6), (10, 1), (2, 17), (7, 30), (1, 5), (5, 12)]:
        gamma = float(rng.uniform(0.5, 0.99))
        rewards = torch.tensor(rng.normal(-1, 1, size=(n, h)))
        log_probs = torch.tensor(rng.normal(-1, 0.5, size=(n, h)), requires_grad=True)
        where = f"N={n} trajectories, H={h} steps, gamma={gamma:.2f}"
        out = harness(log_probs=log_probs.detach().numpy(), rewards=rewards.numpy(), gamma=gamma)
        value = _expect_tensor(out["loss"], "reinforce_loss", where)
        want = _ref_reinforce(log_probs, rewards, gamma)
        expect_close(value, want.detach().numpy(), "surrogate loss", rtol=1e-6, atol=1e-9, case=where)
        if out["grad"] is None:
            raise CheckFailed(f"the loss must be differentiable in log_probs ({where})")
        (w,) = torch.autograd.grad(want, log_probs)
        expect_close(out["grad"]["log_probs"], w.numpy(), "gradient of the loss with respect to log_probs",
                     rtol=1e-6, atol=1e-9, case=where)


hidden("5.3", library=("lecture_utils.policy_gradient",), run=run_reinforce_loss)


# ---------------------------------------------------------------- 5.4 meta_train_reach (behaviour-graded)

# Kernel side: call the student's meta-training on the grader's training goals; hand back P and z as arrays.
_REACH_HARNESS = r'''
def __harness(fn, train_goals, alpha, sigma, n_samples, seed):
    import numpy as np
    out = fn(train_goals, alpha, sigma, n_samples, seed)
    if not isinstance(out, dict):
        return {"type": type(out).__name__}
    res = {"type": "dict", "keys": sorted(str(k) for k in out)}
    for k in ("P", "z"):
        if k in out:
            v = out[k]
            if hasattr(v, "detach"):
                v = v.detach().cpu().numpy()
            try:
                res[k] = np.asarray(v, dtype=np.float64)
            except (TypeError, ValueError):
                res[k] = type(v).__name__
    return res
'''

# Bands: lecture_utils.selfcheck.sec05.REACH_BANDS, on the fraction of the pretrained baseline's one-step gap to
# the oracle that the student's initialisation closes: full credit from 0.5, half from 0.25, none below.
# Measured on 50 grading seeds (`lecture bench --behaviour --part 5.4 --seeds 50`, seeds 1000 + 7919 i):
#   solution                            gap closed 0.71 / 0.77 / 0.81 (min / mean / max)  credit 1.00 on all 50
#   no_inner_step                       -0.31 / -0.15 / -0.00                               credit 0 on all 50
#   inner_step_ascends_the_loss         -0.44 / -0.28 / -0.19                               credit 0 on all 50
#   outer_loss_on_pre_update_actions    -1.3e5 / -5.0e4 / -1.8e4 (diverges)                 credit 0 on all 50
#   adapted_params_cut_from_theta       -0.64 / -0.22 / 0.01 (theta never moves)            credit 0 on all 50
# (first-order MAML, not a wrong version, closes as much as second order here: see question 5.6.)
# Cost: one grading = one student training (about 2-3 s on a free core, 300 meta-iterations) + the baseline
# (500 exact Adam steps) + 2 x 20 sampled inner steps on 200 goals: 3-4 s; 14.5 s wall on the shared, loaded
# 2-core machine of the bench.


def run_meta_train_reach(kernel, names: list[str]) -> Credit | None:
    from lecture_utils.maml_reach import REACH_ALPHA, REACH_SAMPLES, REACH_SIGMA

    (name,) = names
    harness = Harness(kernel, name, _REACH_HARNESS, timeout=120.0)
    train, test, seed, eval_seed = reach_case(case_rng(54))
    out = harness(train_goals=train, alpha=REACH_ALPHA, sigma=REACH_SIGMA, n_samples=REACH_SAMPLES, seed=seed)
    if out.get("type") != "dict":
        raise CheckFailed(f'meta_train_reach should return a dict {{"P": array [D, D], "z": array [D]}}, got '
                          f'{out.get("type")}')
    P, z = reach_params({k: out.get(k) for k in out["keys"]}, train.shape[1])
    fraction, line = reach_credit(P, z, train, test, eval_seed)
    if fraction == 0.0:
        raise CheckFailed(line)
    return None if fraction == 1.0 else Credit(fraction, line)


hidden("5.4", library=("lecture_utils.maml", "lecture_utils.policy_gradient"), run=run_meta_train_reach)

# Plausible wrong meta-training loops (the solution's loop with one mistake each), exec'd over the solution cell.
_REACH_WRONG = r'''
def meta_train_reach(train_goals, alpha, sigma, n_samples, seed=0, first_order=False, n_iters=300,
                     tasks_per_batch=10, lr=0.02):
    import numpy as np
    import torch
    gen = torch.Generator().manual_seed(seed)
    goals = torch.as_tensor(np.asarray(train_goals, dtype=np.float64))
    T, D = tasks_per_batch, goals.shape[1]
    P = torch.eye(D, dtype=torch.float64, requires_grad=True)
    z = torch.zeros(D, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([P, z], lr=lr)

    def sample(mu):
        return (mu[:, None, :] + sigma * torch.randn(T, n_samples, D, generator=gen, dtype=torch.float64)).detach()

    def surrogate(mu, actions, g):
        log_prob = -((actions - mu[:, None, :]) ** 2).sum(-1) / (2 * sigma**2)
        rewards = -((actions - g[:, None, :]) ** 2).sum(-1)
        advantages = (rewards - rewards.mean(1, keepdim=True)).detach()
        return -(log_prob * advantages).mean(1)

    for _ in range(n_iters):
        g = goals[torch.randint(len(goals), (T,), generator=gen)]
        P_i, z_i = P.expand(T, D, D), z.expand(T, D)
        mu = torch.einsum("...ij,...j->...i", P_i, z_i)
        actions = sample(mu)
        inner = surrogate(mu, actions, g)
        if MISTAKE == "no_inner_step":
            outer = inner.mean()
        else:
            gP, gz = torch.autograd.grad(inner.sum(), [P_i, z_i], create_graph=True)
            sign = -1.0 if MISTAKE == "ascends" else 1.0
            P_a, z_a = P_i - sign * alpha * gP, z_i - sign * alpha * gz
            if MISTAKE == "cut":
                P_a, z_a = P_a.detach().requires_grad_(True), z_a.detach().requires_grad_(True)
            mu_a = torch.einsum("...ij,...j->...i", P_a, z_a)
            outer = surrogate(mu_a, actions if MISTAKE == "reuse" else sample(mu_a), g).mean()
        opt.zero_grad()
        outer.backward()
        opt.step()
    return {"P": P.detach().numpy().copy(), "z": z.detach().numpy().copy()}
'''

behaviour("5.4", notebook="05_maml.ipynb", names=("meta_train_reach",), wrong={
    # forgot the inner step: the policy-gradient loss at theta on all goals (pretraining, not MAML)
    "no_inner_step": 'MISTAKE = "no_inner_step"\n' + _REACH_WRONG,
    # theta' = theta + alpha grad L: the inner step climbs the surrogate loss (descends the return)
    "inner_step_ascends_the_loss": 'MISTAKE = "ascends"\n' + _REACH_WRONG,
    # the outer loss scores theta'_i on the actions sampled from theta, not on fresh ones from theta'_i
    "outer_loss_on_pre_update_actions": 'MISTAKE = "reuse"\n' + _REACH_WRONG,
    # theta' detached and made a new leaf: the outer loss has no path back to theta, which never moves
    "adapted_params_cut_from_theta": 'MISTAKE = "cut"\n' + _REACH_WRONG,
})
