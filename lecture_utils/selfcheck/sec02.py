"""Checks for homework 02: entropy-regularised PG loss, Actor-Mimic policy regression, new head on frozen features."""

from __future__ import annotations

import copy

import numpy as np

from lecture_utils.selfcheck.core import CheckFailed, LazyModule, call, check, expect_close

torch = LazyModule("torch")  # imported by the first check that runs: see LazyModule
nn = LazyModule("torch.nn")

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


# ----------------------------------------------------------------------------- 2.4

AM_HIDDEN = 32  # the student's trunk: obs 5 -> 32 -> 32 (tanh), one head 32 -> 16 per task
AM_KEYS = ("W1", "b1", "W2", "b2", "W_heads", "b_heads", "W_maps", "b_maps")
# Bands (fraction of the part's points); credit is the lowest of the three. Measured (lecture bench --behaviour
# --part 2.4 --seeds 50): the solution earns full credit on all 50 seeds; on the first 6 its lowest task's return
# ratio is 0.97..0.99, its lowest map R^2 0.81..0.93, its speed-up 2.1..2.5. Every documented wrong version earns
# 0 on all 50: return ratio <= 0.51 (trunk not trained 0.25..0.51, expert 0 for every head <= -0.40, no policy term
# ~0, W2 transposed <= 0.27) or map R^2 <= -0.10 (no feature term -7.9..-2.3, W2 transposed -0.9..-0.1).
AM_RETURN_BANDS = [(0.90, 1.0), (0.75, 0.5)]  # min over tasks of student / expert return
AM_R2_BANDS = [(0.60, 1.0), (0.30, 0.5)]  # min over tasks of the R^2 of f_i(h_student(s)) against h_E_i(s)
AM_SPEEDUP_BANDS = [(1.35, 1.0), (1.15, 0.5)]  # iterations to 80% of the expert, scratch / Actor-Mimic start
AM_TRANSFER = dict(seeds=4, iters=30, n_envs=64, target=0.8)


def _am_case(rng: np.random.Generator) -> dict:
    """K = 3 running directions (about 120 degrees apart, random offset), one feature width per expert, the
    experts' seed, and a new direction between two of the tasks (for the transfer)."""
    K = 3
    offset = float(rng.uniform(-np.pi, np.pi))
    angles = [offset + 2 * np.pi * k / K + float(rng.uniform(-0.15, 0.15)) for k in range(K)]
    widths = [int(w) for w in rng.integers(16, 49, K)]
    j = int(rng.integers(K))
    new_angle = angles[j] + np.pi / K + float(rng.uniform(-0.25, 0.25))
    return {"angles": angles, "widths": widths, "expert_seed": int(rng.integers(2**31 - 1)),
            "new_angle": float(new_angle), "seed": int(rng.integers(2**31 - 1))}


def _am_plain(x):
    """The student's result as numpy (float64): tensors detached, dicts and lists kept."""
    if isinstance(x, dict):
        return {k: _am_plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_am_plain(v) for v in x]
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().double().numpy()
    return x


def _am_weights(out, widths) -> dict:
    """Validate the student's returned weights (one line per problem); float64 arrays."""
    K = len(widths)
    if not isinstance(out, dict):
        raise CheckFailed(f"actor_mimic should return a dict of weights with keys {', '.join(AM_KEYS)}, "
                          f"got {type(out).__name__}")
    missing = [k for k in AM_KEYS if k not in out]
    if missing:
        raise CheckFailed(f"actor_mimic's result is missing the weights {', '.join(missing)}")
    H, A, D = AM_HIDDEN, 16, 5
    shapes = {"W1": (D, H), "b1": (H,), "W2": (H, H), "b2": (H,), "W_heads": (K, H, A), "b_heads": (K, A)}
    w = {}
    for k, shape in shapes.items():
        try:
            a = np.asarray(_am_plain(out[k]), dtype=np.float64)
        except (TypeError, ValueError):
            raise CheckFailed(f"weights {k!r} are not an array of numbers") from None
        if a.shape != shape:
            raise CheckFailed(f"weights {k!r} have shape {a.shape}, expected {shape} ({K} tasks, trunk width {H})")
        w[k] = a
    for k, sub in (("W_maps", lambda h: (H, h)), ("b_maps", lambda h: (h,))):
        maps = out[k]
        if not isinstance(maps, (list, tuple)) or len(maps) != K:
            raise CheckFailed(f"{k!r} should be a list with one array per expert ({K}), got {type(maps).__name__}")
        w[k] = []
        for i, (m, h) in enumerate(zip(maps, widths)):
            a = np.asarray(_am_plain(m), dtype=np.float64)
            if a.shape != sub(h):
                raise CheckFailed(f"{k}[{i}] has shape {a.shape}, expected {sub(h)}: the map f_{i} goes from the "
                                  f"student's {H} features to expert {i}'s {h}")
            w[k].append(a)
    if not all(np.isfinite(v).all() for v in [*[w[k] for k in shapes], *w["W_maps"], *w["b_maps"]]):
        raise CheckFailed("actor_mimic returned weights that are not finite (NaN or inf): the training diverged")
    return w


def _am_student(w: dict):
    """The student network rebuilt from plain weights: pt.PolicyNet(1 trunk, K heads), x @ W + b."""
    from lecture_utils.pretraining import PolicyNet

    K = w["W_heads"].shape[0]
    net = PolicyNet(members=1, hidden=AM_HIDDEN, head_members=K)
    t = lambda a: torch.tensor(a, dtype=torch.get_default_dtype())  # noqa: E731
    net.load_state_dict({"features.0.weight": t(w["W1"])[None], "features.0.bias": t(w["b1"])[None, None],
                         "features.2.weight": t(w["W2"])[None], "features.2.bias": t(w["b2"])[None, None],
                         "head.weight": t(w["W_heads"]), "head.bias": t(w["b_heads"])[:, None]})
    return net


def _am_band(value: float, bands) -> float:
    if value != value:
        return 0.0
    return next((f for thr, f in bands if value >= thr), 0.0)


def am_measure(w: dict, experts, case: dict, transfer: bool = True) -> dict:
    """What 2.4 is graded on, measured here (never in the student's code): per task the student's return over the
    expert's, per task the R^2 of the student's maps on states the student visits, and the speed-up of fine-tuning
    the student's trunk (with the mean of its heads) on the new direction over a network from scratch."""
    from lecture_utils import pretraining as pt
    from lecture_utils.actor_mimic import student_features_policy

    angles = case["angles"]
    net = _am_student(w)
    out = {}
    with torch.random.fork_rng(), torch.no_grad():
        torch.manual_seed(case["seed"])
        ret_s = pt.evaluate(net, angles, n_envs=1024)
        ret_e = np.array([pt.evaluate(e, a, n_envs=1024)[0] for e, a in zip(experts, angles)])
        out["ratio"] = ret_s / ret_e
        obs = pt.rollout_runners(net, 256, angles)[0]  # [T, K, N, 5]
        r2 = []
        for k, e in enumerate(experts):
            o = obs[:, k].reshape(-1, obs.shape[-1])
            h = net.features(o[None])[0].double().numpy()
            he = e.features(o).double().numpy()
            pred = h @ w["W_maps"][k] + w["b_maps"][k]
            r2.append(1.0 - ((pred - he) ** 2).sum() / max(((he - he.mean(0)) ** 2).sum(), 1e-12))
        out["r2"] = np.array(r2)
    if transfer:
        cfg = AM_TRANSFER
        with torch.random.fork_rng():
            torch.manual_seed(case["seed"] + 1)
            inits = {"am": student_features_policy(net, cfg["seeds"]), "scratch": pt.PolicyNet(members=cfg["seeds"])}
            curves, _ = pt.finetune(inits, [case["new_angle"]], iters=cfg["iters"], n_envs=cfg["n_envs"])
            target = cfg["target"] * pt.runner_oracle_return(case["new_angle"], n_envs=1024)
        its = {k: pt.iterations_to_reach(v[:, 0], target).mean() for k, v in curves.items()}
        out["iters"] = its
        out["speedup"] = float(its["scratch"] / max(its["am"], 1.0))
    return out


def am_credit(m: dict) -> tuple[float, str]:
    """(fraction, one line) from am_measure's result: the lowest of the three bands."""
    ratio, r2 = float(np.min(m["ratio"])), float(np.min(m["r2"]))
    parts = [_am_band(ratio, AM_RETURN_BANDS), _am_band(r2, AM_R2_BANDS)]
    line = (f"student / expert return per task {np.array2string(np.round(m['ratio'], 2), separator=', ')} "
            f"(full credit from {AM_RETURN_BANDS[0][0]:.2f}), R^2 of your feature maps "
            f"{np.array2string(np.round(m['r2'], 2), separator=', ')} (full credit from {AM_R2_BANDS[0][0]:.2f})")
    if "speedup" in m:
        parts.append(_am_band(m["speedup"], AM_SPEEDUP_BANDS))
        line += (f", fine-tuning on a new direction reaches 80% of the expert in {m['iters']['am']:.1f} iterations "
                 f"from your student vs {m['iters']['scratch']:.1f} from scratch: speed-up "
                 f"{m['speedup']:.2f} (full credit from {AM_SPEEDUP_BANDS[0][0]:.2f})")
    return min(parts), line


AM_PUBLIC_CASE = {"angles": [0.2, 0.2 + 2 * np.pi / 3, 0.2 - 2 * np.pi / 3], "widths": [24, 32, 40],
                  "expert_seed": 24, "new_angle": 0.2 + np.pi / 3, "seed": 2024}


@check("2.4", "Actor-Mimic with feature regression, then transfer", points=6)
def check_actor_mimic(actor_mimic) -> None:
    from lecture_utils.sec02_experts import make_experts

    case = AM_PUBLIC_CASE
    experts = make_experts(case["angles"], case["widths"], seed=case["expert_seed"])
    with torch.random.fork_rng():
        torch.manual_seed(case["seed"])
        out = call(actor_mimic, copy.deepcopy(experts), list(case["angles"]))
    w = _am_weights(out, case["widths"])
    m = am_measure(w, experts, case, transfer=False)
    fraction, line = am_credit(m)
    if fraction == 1.0:
        m = am_measure(w, experts, case, transfer=True)
        fraction, line = am_credit(m)
    if fraction < 1.0:
        raise CheckFailed(("partial credit only: " if fraction > 0 else "") + line)
