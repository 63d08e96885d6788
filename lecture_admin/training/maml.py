"""`lecture train maml [--quick] [--out PATH] [--seed S] [--iterations N]`: MAML and its baseline on 2D navigation.

Trains, from the same random initialisation,
- MAML: theta <- theta - beta * Adam[grad_theta (1/T) sum_i L_i(theta - alpha grad L_i(theta))], one
  REINFORCE inner step per task (second order through the inner step);
- the multi-task pretrained policy: Adam on (1/T) sum_i L_i(theta) (the same tasks, no inner step);
and saves both parameter dicts, the config and the training curves to lecture_utils/checkpoints/maml_point_nav.pt
(seed 0) or maml_point_nav_seed{S}.pt (a few tens of KB each). The outer optimiser is Adam with the gradient norm
clipped and the learning rate decayed along a cosine (the paper used TRPO). As in the paper's code, the policy acts in
units of the action box (the environment gets 0.1 * a, so sigma = 1 means moves with a spread of 0.1 rather than
saturated random +-0.1 jumps), episodes end within 0.01 of the goal, and the policy gradient uses a linear feature
baseline (lecture_utils.policy_gradient.per_task_pg_loss).
`--inner-steps K --later-alpha-scale 0.5` meta-trains through K inner steps with the test protocol's step sizes
(alpha, then alpha / 2), the meta-loss averaging the score after each step (about K times the cost per iteration).
`--std-lr-scale` (default 10) lets the policy's log_std learn 10x faster than the weights. Adam moves each
parameter by about beta per iteration, so with beta = 3e-3 for every parameter (`--std-lr-scale 1`, the checkpoints
made before this default: LEGACY_DEFAULTS) log_std can hardly leave its initial 0 in 300 iterations, and the adapted
policy keeps sigma ~ 0.82 (in units of the action box): after it has found the goal it jitters around it until it
lands within 0.01 and the episode ends. With 10x, sigma falls to about 0.45. On the paper's test protocol
(`lecture_utils.maml.evaluate_seeds`: its 40 goals, steps of alpha, alpha/2, alpha/2, each sampling 4,000 environment
steps as its VPG did, mean of the 3 training seeds) the return after 1 / 2 / 3 steps goes from -9.83 / -4.33 / -3.84
to -9.66 / -3.12 / -2.33 (means over 4 evaluation-noise seeds; the paper: -11.7 / -3.33 / -3.23). The test's
sampling matters as much: with exactly 40 episodes per step (the course's protocol before it sampled as the paper
did) the same 10x checkpoints give -10.07 / -3.80 / -3.46.
The pretrained baseline keeps one learning rate for all its parameters: trained for its own return with 10x, its
sigma collapses to about 0.1 (seed 0) and a policy-gradient step of size alpha, which scales as 1 / sigma, then
overshoots (about -100 after one step on the paper's test, against about -19 with one rate; the paper's
pretrained: -19.7).
The shipped checkpoints: `lecture train maml --seed S` for S in 0, 1, 2 (about 3 CPU minutes each, MAML and
pretrained).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import torch

from lecture_utils.checkpoints import make_maml_policy, maml_path


@dataclass(frozen=True)
class MAMLNavConfig:
    """Every value of a `lecture train maml` run; stored in the checkpoint (asdict) and read back by evaluation."""

    hidden: tuple[int, ...] = (64, 64)
    init_std: float = 1.0  # in units of the action box: the env gets action_scale * a
    out_scale: float = 1.0
    action_scale: float = 0.1  # policy actions ~[-1, 1] -> moves of at most 0.1 (rllab's `normalize`, as the paper)
    n_tasks: int = 20  # meta-batch
    n_traj: int = 20  # trajectories per task per step
    alpha: float = 0.5  # the slide's alpha: inner step size
    inner_steps: int = 1  # inner steps during meta-training; the meta-loss averages the score after each
    later_alpha_scale: float = 1.0  # steps after the first use alpha * this (0.5: the paper's test protocol)
    beta: float = 3e-3  # the slide's beta: Adam learning rate (outer)
    std_lr_scale: float = 10.0  # MAML's log_std learns at beta * this, the weights (and the pretrained policy) at beta
    beta_schedule: str = "cosine"  # beta decays to 0 over the run (the last iterate is a stable one), or "constant"
    max_grad_norm: float = 1.0  # the outer gradient's norm is clipped to this (keeps Adam's steps stable)
    gamma: float = 0.99
    iterations: int = 300


CONFIG = asdict(MAMLNavConfig())  # the shipped checkpoints' config, as stored in them
# fields added after checkpoints were written, with the value that reproduces the older trainer (what an older
# checkpoint without the field was trained with)
LEGACY_DEFAULTS = {"std_lr_scale": 1.0}
QUICK = {"iterations": 3, "n_tasks": 4, "n_traj": 5}


def train_step_sizes(config: dict) -> tuple[float, ...]:
    """The inner step sizes of meta-training: alpha, then alpha * later_alpha_scale for every later step."""
    scale = config.get("later_alpha_scale", 1.0)
    return tuple(config["alpha"] * (1.0 if k == 0 else scale) for k in range(config.get("inner_steps", 1)))


def train(kind: str, config: dict, seed: int, log=print, init: dict | None = None) -> tuple[dict, list]:
    """Train "maml" or "pretrained"; returns (params, history of (iteration, return before, return after)).

    init: start from these parameters (the architecture of `config`) instead of a fresh initialisation.
    """
    from lecture_utils.envs.point_nav import sample_goals
    from lecture_utils.maml import maml_rl_loss
    from lecture_utils.policy_gradient import (
        average_return,
        batch_params,
        init_params,
        per_task_pg_loss,
        rollout_point_nav,
    )

    torch.manual_seed(seed)
    model = make_maml_policy(config)
    theta = init_params(model)
    if init is not None:  # continue from given parameters (the same architecture)
        theta = {k: init[k].detach().clone().requires_grad_(True) for k in theta}
    std_scale = config.get("std_lr_scale", 1.0) if kind == "maml" else 1.0  # the baseline: one rate (docstring)
    opt = torch.optim.Adam([{"params": [v for k, v in theta.items() if k != "log_std"]},
                            {"params": [theta["log_std"]], "lr": config["beta"] * std_scale}], lr=config["beta"])
    sched = None
    if config.get("beta_schedule", "constant") == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=config["iterations"])
    gen = torch.Generator().manual_seed(seed + 1)
    history = []
    t0 = time.perf_counter()
    for it in range(config["iterations"]):
        goals = sample_goals(config["n_tasks"], gen)
        if kind == "maml":
            loss, before, after = maml_rl_loss(model, theta, goals, config["n_traj"], train_step_sizes(config),
                                               config["gamma"], gen, steps=config.get("inner_steps", 1))
            after = float(after.mean())
        else:
            tb = batch_params(theta, len(goals))
            batch = rollout_point_nav(model, tb, goals, config["n_traj"], gen)
            loss = per_task_pg_loss(model, tb, batch, config["gamma"]).mean()
            before, after = average_return(batch["rewards"]), float("nan")
        opt.zero_grad()
        loss.backward()
        if config.get("max_grad_norm"):
            torch.nn.utils.clip_grad_norm_(theta.values(), config["max_grad_norm"])
        opt.step()
        if sched is not None:
            sched.step()
        history.append((it, float(before.mean()), after))
        if it % 25 == 0 or it == config["iterations"] - 1:
            adapted = f", after one step {after:7.2f}" if kind == "maml" else ""
            log(f"  {kind} it {it:4d}: return {history[-1][1]:7.2f}{adapted} ({time.perf_counter() - t0:.0f} s)")
    return {k: v.detach().clone() for k, v in theta.items()}, history


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="lecture train maml", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a few iterations on a few tasks (to test the command)")
    p.add_argument("--out", type=Path, default=None, help="default: lecture_utils/checkpoints/maml_point_nav*.pt")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--iterations", type=int, default=None)
    p.add_argument("--alpha", type=float, default=None, help=f"inner step size (default {CONFIG['alpha']})")
    p.add_argument("--beta", type=float, default=None, help=f"Adam learning rate (default {CONFIG['beta']})")
    p.add_argument("--inner-steps", dest="inner_steps", type=int, default=None,
                   help=f"inner steps during meta-training (default {CONFIG['inner_steps']})")
    p.add_argument("--later-alpha-scale", dest="later_alpha_scale", type=float, default=None,
                   help="step size of inner steps 2, 3, ... as a multiple of alpha "
                        f"(default {CONFIG['later_alpha_scale']})")
    p.add_argument("--std-lr-scale", dest="std_lr_scale", type=float, default=None,
                   help="the policy's log_std learns at beta times this (default "
                        f"{CONFIG['std_lr_scale']}; 10 lowers the adapted policy's noise, see the docstring)")
    p.add_argument("--n-traj", dest="n_traj", type=int, default=None,
                   help=f"trajectories per task per inner step (default {CONFIG['n_traj']})")
    p.add_argument("--beta-schedule", dest="beta_schedule", choices=("cosine", "constant"), default=None,
                   help=f"outer learning-rate schedule (default {CONFIG['beta_schedule']})")
    args = p.parse_args(argv)
    cfg = replace(MAMLNavConfig(), **(QUICK if args.quick else {}))
    given = {f.name: getattr(args, f.name) for f in fields(cfg) if getattr(args, f.name, None) is not None}
    cfg = replace(cfg, **given)
    config = asdict(cfg)
    args.out = args.out or maml_path(args.seed)
    torch.set_num_threads(1)
    out = {"config": config, "seed": args.seed}
    for kind in ("maml", "pretrained"):
        print(f"training {kind} ({config['iterations']} iterations, {config['n_tasks']} tasks x "
              f"{config['n_traj']} trajectories)", flush=True)
        t0, c0 = time.perf_counter(), time.process_time()
        out[kind], out[f"{kind}_history"] = train(kind, config, args.seed, log=lambda s: print(s, flush=True))
        out[f"{kind}_seconds"] = time.perf_counter() - t0
        out[f"{kind}_cpu_seconds"] = time.process_time() - c0  # what a quiet machine's wall time is
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(out, args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KB)")
    return 0
