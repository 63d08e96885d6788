"""`lecture train sinusoid [--quick] [--out PATH] [--seed S] [--iterations N]`: MAML's sinusoid warm-up.

Trains a 1-40-40-1 ReLU MLP two ways with Adam (lr 1e-3), 25 tasks per iteration, K = 10 examples:
MAML (one inner SGD step, alpha = 0.01, second order) and the pretrained baseline (regression on all
tasks' data at once). Saves both parameter dicts to lecture_utils/checkpoints/sinusoid.pt (~30 KB).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from lecture_utils.checkpoints import sinusoid_path


@dataclass(frozen=True)
class SinusoidConfig:
    """Finn et al.'s sinusoid set-up; stored in the checkpoint (asdict)."""

    iterations: int = 10000
    meta_batch: int = 25  # tasks per iteration
    k: int = 10  # examples per task (K-shot)
    alpha: float = 0.01  # the slide's alpha: inner SGD step
    lr: float = 1e-3  # Adam, outer (the slide's beta)
    hidden: int = 40


CONFIG = asdict(SinusoidConfig())
QUICK = {"iterations": 5, "meta_batch": 4}


def main(argv: list[str] | None = None) -> int:
    from lecture_utils.sinusoid import train

    p = argparse.ArgumentParser(prog="lecture train sinusoid", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a few iterations (to test the command)")
    p.add_argument("--out", type=Path, default=sinusoid_path())
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--iterations", type=int, default=None)
    args = p.parse_args(argv)
    cfg = replace(SinusoidConfig(), **(QUICK if args.quick else {}))
    if args.iterations is not None:
        cfg = replace(cfg, iterations=args.iterations)
    config = asdict(cfg)
    torch.set_num_threads(1)
    out = {"config": config, "seed": args.seed}
    for kind in ("maml", "pretrained"):
        t0 = time.perf_counter()
        print(f"training {kind} ({config['iterations']} iterations)", flush=True)
        _, params, history = train(kind, config["iterations"], seed=args.seed, meta_batch=config["meta_batch"],
                                   k=config["k"], alpha=config["alpha"], lr=config["lr"], hidden=config["hidden"],
                                   log_every=max(1, config["iterations"] // 50))
        out[kind], out[f"{kind}_history"] = params, history
        out[f"{kind}_seconds"] = time.perf_counter() - t0
        print(f"  {kind}: final training loss {history[-1][1]:.3f} ({out[f'{kind}_seconds']:.0f} s)", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(out, args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KB)")
    return 0
