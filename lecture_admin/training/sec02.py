"""`lecture train sec02 [--quick] [--out DIR]`: rebuild notebook 02's pretrained runners and fine-tuning table.

Writes ``lecture_utils/checkpoints/sec02_runner.pt`` (about 200 KB), all in float64 from seed 0:

1. **Pretraining** (speed in any direction, soft entropy-regularised PG): one PolicyNet ensemble with
   ``len(ALPHAS) x SEEDS`` members, entropy weight ALPHAS[i] for members i*SEEDS .. (i+1)*SEEDS-1, 80 iterations
   of 256 runners. The notebook loads these instead of spending ~15 s of class time on them.
2. **Fine-tuning table**: every pretrained policy and SEEDS random networks (scratch), fine-tuned with the plain
   PG (no entropy) on each of 8 directions (every 45 deg), 40 iterations of 128 runners, one run per
   (policy, direction, seed) from its own torch seed (`checkpoints.table_seed`), so the notebook re-runs one entry
   and gets the same curve. Stored: every curve and the iterations to 90% of the hand-written expert's return.
   The live demo of notebook 02 (the entropy-weight slider) shows this table.
3. **Actor-Mimic's experts**: the scratch runs on 0, 90, 180 and -90 deg, seed 0.
4. **The multitask-RL control** for Actor-Mimic: the same student network (one trunk, four heads) trained by the
   same PG directly on the experts' four direction rewards, for as many runner episodes as Actor-Mimic spends
   (4 experts x 40 iterations x 128 runners + 30 distillation iterations x 4 tasks x 128 runners = 70 iterations
   x 4 tasks x 128 runners).

One thread; about 3 minutes of CPU on a busy 2-core machine. ``--quick``: 2 iterations everywhere (a smoke test).
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch

ALPHAS = (0.0, 0.02, 0.05, 0.1, 0.2, 0.5)
SEEDS = 3
PRE_ITERS, PRE_ENVS = 80, 256
FT_ITERS, FT_ENVS = 40, 128
DIRECTIONS = tuple(k * math.pi / 4 for k in (0, 1, 2, 3, 4, -3, -2, -1))  # 0, 45, ..., 180, -135, ..., -45 deg
EXPERT_DIRECTIONS = (0.0, math.pi / 2, math.pi, -math.pi / 2)  # east, north, west, south: table columns 0, 2, 4, 6
DISTILL_ITERS, DISTILL_ENVS, DISTILL_LR = 30, 128, 2e-2  # the notebook's distillation
MT_ITERS = (len(EXPERT_DIRECTIONS) * FT_ITERS * FT_ENVS + len(EXPERT_DIRECTIONS) * DISTILL_ITERS * DISTILL_ENVS) \
    // (len(EXPERT_DIRECTIONS) * FT_ENVS)  # same runner episodes as Actor-Mimic: 70


def build(quick: bool = False, seed: int = 0) -> dict:
    import lecture_utils
    from lecture_utils import actor_mimic as am
    from lecture_utils import pretraining as pt
    from lecture_utils.checkpoints import table_seed

    lecture_utils.setup(seed=seed, float64=True)
    t0 = time.process_time()
    pre_iters, ft_iters, mt_iters = (2, 2, 2) if quick else (PRE_ITERS, FT_ITERS, MT_ITERS)
    S, A = SEEDS, len(ALPHAS)
    pretrained = pt.PolicyNet(members=A * S)
    pre_curve = pt.train_pg(pretrained, pre_iters, entropy_coef=torch.tensor(ALPHAS).repeat_interleave(S),
                            n_envs=PRE_ENVS, soft=True)
    print(f"pretrained {A * S} policies ({time.process_time() - t0:.0f} s CPU); final speed return per alpha:",
          np.round(pre_curve[-1].reshape(A, S).mean(1), 2), flush=True)
    scratch = pt.PolicyNet(members=S)
    inits = [pt.select_members(pretrained, list(range(i * S, (i + 1) * S))) for i in range(A)] + [scratch]
    expert_return = np.array([pt.runner_oracle_return(d) for d in DIRECTIONS])
    curves = np.zeros((A + 1, len(DIRECTIONS), ft_iters, S))
    experts = {}
    for g, init in enumerate(inits):
        for j, d in enumerate(DIRECTIONS):
            for s in range(S):
                curve, net = pt.finetune_run(pt.select_members(init, [s]), d, ft_iters, table_seed(g, j, s),
                                             n_envs=FT_ENVS)
                curves[g, j, :, s] = curve[:, 0]
                if g == A and s == 0 and d in EXPERT_DIRECTIONS:
                    experts[d] = net
        print(f"fine-tuned {'scratch' if g == A else f'alpha = {ALPHAS[g]}'} on {len(DIRECTIONS)} directions "
              f"({time.process_time() - t0:.0f} s CPU)", flush=True)
    reach = np.stack([[pt.iterations_to_reach(curves[g, j], 0.9 * expert_return[j]) for j in range(len(DIRECTIONS))]
                      for g in range(A + 1)])
    torch.manual_seed(seed + 1)
    multitask = am.make_student(n_tasks=len(EXPERT_DIRECTIONS))
    mt_curve = pt.train_pg(multitask, mt_iters, list(EXPERT_DIRECTIONS), n_envs=FT_ENVS)
    print(f"multitask-RL control: final return per task {np.round(mt_curve[-1], 2)} "
          f"({time.process_time() - t0:.0f} s CPU)", flush=True)
    config = {"alphas": list(ALPHAS), "seeds": S, "pre_iters": pre_iters, "pre_envs": PRE_ENVS, "ft_iters": ft_iters,
              "ft_envs": FT_ENVS, "directions": list(DIRECTIONS), "expert_directions": list(EXPERT_DIRECTIONS),
              "distill_iters": DISTILL_ITERS, "distill_envs": DISTILL_ENVS, "distill_lr": DISTILL_LR,
              "mt_iters": mt_iters, "seed": seed,
              "quick": quick}
    return {"config": config, "pretrained": pretrained.state_dict(), "pre_curve": torch.tensor(pre_curve),
            "scratch": scratch.state_dict(), "ft_curves": torch.tensor(curves), "reach": torch.tensor(reach),
            "expert_return": torch.tensor(expert_return),
            "experts": pt.stack([experts[d] for d in EXPERT_DIRECTIONS]).state_dict(),
            "multitask": multitask.state_dict(), "mt_curve": torch.tensor(mt_curve),
            "seconds": time.process_time() - t0}


def main(argv: list[str] | None = None) -> int:
    from lecture_utils.checkpoints import DIR, sec02_path

    ap = argparse.ArgumentParser(prog="lecture train sec02", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 iterations everywhere (smoke test)")
    ap.add_argument("--out", type=Path, default=DIR, help="directory for sec02_runner.pt")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv or [])
    ck = build(args.quick, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    path = sec02_path(args.out)
    torch.save(ck, path)
    reach = ck["reach"].numpy().mean(-1)
    for g, name in enumerate([f"alpha = {a}" for a in ALPHAS] + ["scratch"]):
        print(f"{name:14s} iterations to 90% per direction: {np.round(reach[g], 1)}  mean {reach[g].mean():.1f}")
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KB, {ck['seconds']:.0f} s CPU)")
    return 0
