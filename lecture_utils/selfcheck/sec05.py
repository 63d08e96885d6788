"""Checks for homework 05 (MAML): the functional inner step, the MAML meta-loss, the REINFORCE surrogate.

Every check builds its own seeded cases (random MLPs, regression tasks, trajectories) in float64.
"""

from __future__ import annotations

import numpy as np

from lecture_utils.selfcheck.core import CheckFailed, LazyModule, call, case_rng, check, expect_close

torch = LazyModule("torch")  # imported by the first check that runs: see LazyModule
nn = LazyModule("torch.nn")


def _mlp(rng: np.random.Generator, d_in: int = 1) -> tuple[nn.Module, dict]:
    h = int(rng.integers(3, 9))
    torch.manual_seed(int(rng.integers(1 << 30)))
    model = nn.Sequential(nn.Linear(d_in, h), nn.Tanh(), nn.Linear(h, h), nn.Tanh(), nn.Linear(h, 1)).double()
    params = {k: v.detach().clone().requires_grad_(True) for k, v in model.named_parameters()}
    return model, params


def _data(rng: np.random.Generator, n: int, d_in: int = 1):
    x = torch.tensor(rng.uniform(-2, 2, size=(n, d_in)))
    y = torch.tensor(np.sin(2 * x.numpy().sum(1, keepdims=True)) + rng.normal(0, 0.1, size=(n, 1)))
    return x, y


def _mse(model, params, x, y):
    return ((torch.func.functional_call(model, params, (x,)) - y) ** 2).mean()


def _ref_step(params, loss, alpha, first_order=False):
    grads = torch.autograd.grad(loss, list(params.values()), create_graph=not first_order)
    return {k: p - alpha * (g.detach() if first_order else g) for (k, p), g in zip(params.items(), grads)}


def _flat_grad(loss, params):
    return torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, list(params.values()))])


def _expect_param_dict(got, params, name):
    if not isinstance(got, dict):
        raise CheckFailed(f"{name} should return a dict name -> tensor like params, got {type(got).__name__}")
    if set(got) != set(params):
        raise CheckFailed(f"{name} returned keys {sorted(got)}, expected the keys of params {sorted(params)}")
    for k in params:
        if not isinstance(got[k], torch.Tensor):
            raise CheckFailed(f"{name}[{k!r}] should be a torch.Tensor, got {type(got[k]).__name__}")
        if got[k].shape != params[k].shape:
            raise CheckFailed(f"{name}[{k!r}] has shape {tuple(got[k].shape)}, expected {tuple(params[k].shape)}")


@check("5.1", "functional inner step", points=2)
def check_inner_step(inner_step) -> None:
    rng = case_rng(51)
    for case in range(4):
        d_in = int(rng.integers(1, 4))
        model, params = _mlp(rng, d_in)
        before = {k: v.detach().clone() for k, v in params.items()}
        xs, ys = _data(rng, int(rng.integers(4, 12)), d_in)
        xq, yq = _data(rng, 15, d_in)
        alpha = float(rng.uniform(0.05, 0.5))
        where = f"case {case}, alpha={alpha:.2f}"

        adapted = call(inner_step, params, _mse(model, params, xs, ys), alpha)
        _expect_param_dict(adapted, params, "inner_step")
        for k in params:
            if not torch.equal(params[k].detach(), before[k]):
                raise CheckFailed(f"inner_step changed params[{k!r}] in place; return new tensors instead")
        want = _ref_step(params, _mse(model, params, xs, ys), alpha)
        for k in params:
            expect_close(adapted[k].detach(), want[k].detach(), f"theta'[{k!r}]", rtol=1e-6, atol=1e-9, case=where)

        # The meta-gradient d L(theta') / d theta must flow through the inner gradient (second order).
        outer = _mse(model, adapted, xq, yq)
        if not outer.requires_grad:
            raise CheckFailed(f"theta' is not connected to theta ({where}): no gradient can flow back through it")
        got_g = _flat_grad(outer, params)
        want_g = _flat_grad(_mse(model, want, xq, yq), params)
        fo = _ref_step(params, _mse(model, params, xs, ys), alpha, first_order=True)
        fo_g = _flat_grad(_mse(model, fo, xq, yq), params)
        if not torch.allclose(got_g, want_g, rtol=1e-6, atol=1e-9):
            if torch.allclose(got_g, fo_g, rtol=1e-6, atol=1e-9):
                raise CheckFailed(f"the meta-gradient through theta' equals the first-order approximation ({where}): "
                                  "the inner gradient must itself stay differentiable (keep its graph)")
            err = float((got_g - want_g).abs().max())
            raise CheckFailed(f"the gradient of a loss at theta' with respect to theta is off by {err:.3g} ({where})")

        # first_order=True: same theta', but d theta' / d theta = I.
        adapted_fo = call(inner_step, params, _mse(model, params, xs, ys), alpha, first_order=True)
        _expect_param_dict(adapted_fo, params, "inner_step(..., first_order=True)")
        for k in params:
            expect_close(adapted_fo[k].detach(), want[k].detach(), f"first-order theta'[{k!r}]", rtol=1e-6,
                         atol=1e-9, case=where)
        outer_fo = _mse(model, adapted_fo, xq, yq)
        if not outer_fo.requires_grad:
            raise CheckFailed(f"with first_order=True theta' must still depend on theta (as theta - alpha * g) "
                              f"({where})")
        if not torch.allclose(_flat_grad(outer_fo, params), fo_g, rtol=1e-6, atol=1e-9):
            raise CheckFailed(f"with first_order=True the gradient through theta' should treat the inner gradient "
                              f"as a constant ({where})")


def _ref_maml_loss(model, params, tasks, alpha):
    losses = []
    for (xs, ys), (xq, yq) in tasks:
        adapted = _ref_step(params, _mse(model, params, xs, ys), alpha)
        losses.append(_mse(model, adapted, xq, yq))
    return torch.stack(losses).mean()


def maml_case(rng: np.random.Generator, case: int):
    """One meta-loss case: a random MLP, 2-5 shifted regression tasks ((support), (query)), alpha, a label."""
    model, params = _mlp(rng)
    n_tasks = int(rng.integers(2, 6))
    tasks = []
    for _ in range(n_tasks):
        shift = float(rng.uniform(-1, 1))
        (xs, ys), (xq, yq) = _data(rng, int(rng.integers(3, 11))), _data(rng, 10)
        tasks.append(((xs, ys + shift), (xq, yq + shift)))
    alpha = float(rng.uniform(0.2, 0.6))
    return model, params, tasks, alpha, f"case {case}: {n_tasks} tasks, alpha={alpha:.2f}"


@check("5.2", "MAML meta-loss over a batch of tasks", points=3)
def check_maml_loss(maml_loss) -> None:
    rng = case_rng(52)
    for case in range(3):
        model, params, tasks, alpha, where = maml_case(rng, case)

        got = call(maml_loss, model, params, tasks, alpha)
        if not isinstance(got, torch.Tensor) or got.ndim != 0:
            got_what = getattr(got, "shape", type(got).__name__)
            raise CheckFailed(f"maml_loss should return a scalar tensor, got {got_what}")
        want = _ref_maml_loss(model, params, tasks, alpha)
        expect_close(got.detach(), want.detach(), "meta-loss", rtol=1e-6, atol=1e-9, case=where)
        if not got.requires_grad:
            raise CheckFailed(f"the meta-loss is not a differentiable function of theta ({where})")

        # Its gradient against central finite differences of the meta-loss, on 30 random coordinates of theta.
        got_g = _flat_grad(got, params)
        eps = 1e-5
        base = {k: v.detach() for k, v in params.items()}
        coords = [(k, j) for k, v in base.items() for j in range(v.numel())]
        picked = sorted(rng.choice(len(coords), size=min(30, len(coords)), replace=False).tolist())
        got_g = got_g[picked]
        fd = []
        for k, j in (coords[i] for i in picked):
            vals = []
            for sgn in (1.0, -1.0):
                pk = base[k].clone().reshape(-1)
                pk[j] += sgn * eps
                p = {kk: (pk.reshape(vv.shape) if kk == k else vv).clone().requires_grad_(True)
                     for kk, vv in base.items()}
                vals.append(_ref_maml_loss(model, p, tasks, alpha).detach().item())
            fd.append((vals[0] - vals[1]) / (2 * eps))
        fd = torch.tensor(fd, dtype=torch.float64)
        err = float((got_g - fd).abs().max())
        scale = float(fd.abs().max())
        if err > 1e-6 * max(1.0, scale):
            raise CheckFailed(f"the gradient of your meta-loss differs from finite differences by {err:.3g} "
                              f"(largest component {scale:.3g}; {where})")


def _ref_reinforce(log_probs, rewards, gamma):
    n, h = rewards.shape
    G = torch.zeros_like(rewards)
    running = torch.zeros(n, dtype=rewards.dtype)
    for t in range(h - 1, -1, -1):
        running = rewards[:, t] + gamma * running
        G[:, t] = running
    A = G - G.mean(0, keepdim=True)
    return -(log_probs * A).mean()


@check("5.3", "REINFORCE surrogate loss with a baseline", points=2)
def check_reinforce_loss(reinforce_loss) -> None:
    rng = case_rng(53)
    for n, h in [(4, 6), (10, 1), (2, 17), (7, 30), (1, 5)]:
        gamma = float(rng.uniform(0.5, 0.99))
        rewards = torch.tensor(rng.normal(-1, 1, size=(n, h)))
        log_probs = torch.tensor(rng.normal(-1, 0.5, size=(n, h)), requires_grad=True)
        where = f"N={n} trajectories, H={h} steps, gamma={gamma:.2f}"
        got = call(reinforce_loss, log_probs, rewards.clone(), gamma)
        if not isinstance(got, torch.Tensor) or got.ndim != 0:
            raise CheckFailed(f"reinforce_loss should return a scalar tensor, got "
                              f"{getattr(got, 'shape', type(got).__name__)} ({where})")
        want = _ref_reinforce(log_probs, rewards, gamma)
        expect_close(got.detach(), want.detach(), "surrogate loss", rtol=1e-6, atol=1e-9, case=where)
        if not got.requires_grad:
            raise CheckFailed(f"the loss must be differentiable in log_probs ({where})")
        (g,) = torch.autograd.grad(got, log_probs)
        (w,) = torch.autograd.grad(want, log_probs)
        expect_close(g, w, "gradient of the loss with respect to log_probs", rtol=1e-6, atol=1e-9, case=where)



# ---------------------------------------------------------------- 5.4 MAML-RL meta-training (behaviour-graded)

# Bands on the fraction of the pretrained baseline's one-step gap to the oracle that the student's initialisation
# closes (lecture_utils.maml_reach.gap_closed), on the test goals of the case's task family.
# Measured over 50 grading seeds (lecture bench --behaviour --part 5.4): the solution closes 0.71-0.81, the
# documented wrong versions at most 0.01 (the table is in the grader's hidden tests). Full credit from 0.5, half
# from 0.25.
REACH_BANDS = [(0.5, 1.0), (0.25, 0.5)]


def _band(value: float, bands) -> float:
    """As lecture_admin.grading.hidden.band (the student layer cannot import it): NaN earns nothing."""
    return next((fraction for threshold, fraction in bands if value == value and value >= threshold), 0.0)


def reach_case(rng: np.random.Generator):
    """A task family for 5.4: (train_goals, test_goals, seed for the student's training, seed for evaluation)."""
    from lecture_utils.maml_reach import reach_family

    train, test = reach_family(rng)
    return train, test, int(rng.integers(1 << 16)), int(rng.integers(1 << 16))


def reach_params(out, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """The (P, z) a student's meta_train_reach returned, validated: a dict with "P" [D, D] and "z" [D], finite."""
    from lecture_utils.selfcheck.core import as_array

    if not isinstance(out, dict):
        raise CheckFailed(f'meta_train_reach should return a dict {{"P": array [D, D], "z": array [D]}}, got '
                          f"{type(out).__name__}")
    got = []
    for k, shape in (("P", (dim, dim)), ("z", (dim,))):
        if k not in out:
            raise CheckFailed(f'meta_train_reach returned keys {sorted(map(str, out))}: it needs "P" and "z"')
        v = as_array(out[k], f'meta_train_reach(...)["{k}"]')
        if v.shape != shape:
            raise CheckFailed(f'meta_train_reach(...)["{k}"] has shape {v.shape}, expected {shape}')
        if not np.all(np.isfinite(v)):
            raise CheckFailed(f'meta_train_reach(...)["{k}"] has non-finite entries: the meta-training diverged')
        got.append(v)
    return got[0], got[1]


def reach_credit(P, z, train, test, eval_seed: int) -> tuple[float, str]:
    """(credit fraction, one line): the mean return on the test goals after one sampled policy-gradient step
    from (P, z), against the pretrained baseline's under the same step and the same sample draws."""
    from lecture_utils.maml_reach import REACH_ALPHA, adapted_return, gap_closed, oracle_return, pretrained_init

    _, after = adapted_return(P, z, test, seed=eval_seed)
    _, base_after = adapted_return(*pretrained_init(train), test, seed=eval_seed)
    closed = gap_closed(after, base_after)
    fraction = _band(closed, REACH_BANDS)
    line = (f"after one policy-gradient step (alpha={REACH_ALPHA}) on {len(test)} new goals your initialisation "
            f"returns {after:.3g}, the pretrained one {base_after:.3g}, the oracle {oracle_return():.3g}: it closes "
            f"{closed:.2f} of the pretrained gap (full credit from {REACH_BANDS[0][0]}, half from "
            f"{REACH_BANDS[1][0]})")
    return fraction, line


@check("5.4", "MAML-RL meta-training on the reaching task", points=6)
def check_meta_train_reach(meta_train_reach) -> None:
    from lecture_utils.maml_reach import REACH_ALPHA, REACH_SAMPLES, REACH_SIGMA

    train, test, seed, eval_seed = reach_case(case_rng(54))
    out = call(meta_train_reach, train.copy(), REACH_ALPHA, REACH_SIGMA, REACH_SAMPLES, seed)
    P, z = reach_params(out, train.shape[1])
    fraction, line = reach_credit(P, z, train, test, eval_seed)
    if fraction < 1.0:
        raise CheckFailed(line)
