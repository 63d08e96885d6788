"""`lecture train rl2 [--quick] [--out DIR] [--setting K,N ...]`: rebuild the RL^2 bandit checkpoints.

One checkpoint per (arms k, pulls n) setting of the section 04 table, each a few KB:
``lecture_utils/checkpoints/rl2_k{k}_n{n}.pt`` with the weights, the config and the learning curve; and
``rl2_safe_risky_k4_n20.pt`` for the family where greedy fails (`--setting safe-risky`, 1000 updates).
The full run (3000-5000 A2C updates per setting, one thread) took 5-9 minutes per setting on a busy shared
2-core machine (about 40-110 s of CPU time each); ``--quick`` trains 20 updates (a smoke test).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from lecture_utils.bandits import BayesOptimal, fraction_of_the_way, sample_tasks
from lecture_utils.checkpoints import DIR, rl2_path, save_rl2
from lecture_utils.rl2 import SAFE_RISKY_H, RL2Config, evaluate, safe_risky_sampler, train_rl2
from lecture_utils.safe_risky import SafeRiskyBayesOptimal, SafeRiskyFamily

# (k, n) -> number of A2C updates; the table's settings
SETTINGS: dict[tuple[int, int], int] = {(2, 10): 3000, (5, 10): 5000, (2, 20): 4000}
SAFE_RISKY_ITERS = 1000  # the family of section 6 (a safe arm, three risky arms), H = 20 pulls
# With the table's entropy bonus (0.05) A2C settles on the safe arm within ~150 updates (the risky arms' immediate
# expected reward, 0.3, is below the safe arm's 0.5) and never finds that trying them pays: 10.0 = greedy's value.
# A larger bonus (0.3, annealed to 0 as usual) keeps it trying risky arms until the GRU has learned to stay on one
# that paid.
SAFE_RISKY_ENTROPY = 0.3


def train_safe_risky(out: Path, quick: bool = False, seed: int = 0) -> Path:
    """RL^2 on lecture_utils.safe_risky.SafeRiskyFamily() with H = 20 pulls: rl2_safe_risky_k4_n20.pt."""
    family, H = SafeRiskyFamily(), SAFE_RISKY_H
    cfg = RL2Config(k=family.k, n=H, iters=20 if quick else SAFE_RISKY_ITERS, seed=seed,
                    entropy_start=SAFE_RISKY_ENTROPY)
    policy, curve, seconds = train_rl2(cfg, sample_tasks=safe_risky_sampler(family))
    p = family.sample(np.random.default_rng(12345), 4000)
    total = float(evaluate(policy, p, H, seed=1).mean())
    frac = fraction_of_the_way(total, family.random_value(H), SafeRiskyBayesOptimal(family, H).value())
    path = rl2_path(family.k, H, out, family="safe-risky")
    save_rl2(path, policy, cfg, curve, seconds, family=dict(p_safe=family.p_safe, p_good=family.p_good, m=family.m))
    print(f"rl2 safe-risky k={family.k} H={H}: {cfg.iters} updates in {seconds:.0f} s, total reward {total:.3f} "
          f"({frac:.2f} of the way from random to Bayes-optimal) -> {path}", flush=True)
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="lecture train rl2", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a few updates per setting (smoke test)")
    ap.add_argument("--out", type=Path, default=DIR, help="directory for rl2_k*_n*.pt")
    ap.add_argument("--setting", action="append",
                    help="K,N or safe-risky (repeatable; default: all table settings and safe-risky)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv or [])
    import torch

    torch.set_num_threads(1)
    settings, safe_risky = SETTINGS, True
    if args.setting:
        settings, safe_risky = {}, "safe-risky" in args.setting
        for s in args.setting:
            if s == "safe-risky":
                continue
            try:
                k, n = (int(v) for v in s.split(","))
            except ValueError:
                ap.error(f"--setting must be K,N (two ints) or safe-risky, got {s!r}")
            settings[(k, n)] = SETTINGS.get((k, n), 2000)
    args.out.mkdir(parents=True, exist_ok=True)
    for (k, n), iters in settings.items():
        cfg = RL2Config(k=k, n=n, iters=20 if args.quick else iters, seed=args.seed)
        policy, curve, seconds = train_rl2(cfg)
        p = sample_tasks(np.random.default_rng(12345), 4000, k)
        total = float(evaluate(policy, p, n, seed=1).mean())
        frac = fraction_of_the_way(total, n / 2, BayesOptimal(k, n).value())
        path = rl2_path(k, n, args.out)
        save_rl2(path, policy, cfg, curve, seconds)
        print(f"rl2 k={k} n={n}: {cfg.iters} updates in {seconds:.0f} s, total reward {total:.3f} "
              f"({frac:.2f} of the way from random to Bayes-optimal) -> {path}", flush=True)
    if safe_risky:
        train_safe_risky(args.out, args.quick, args.seed)
    return 0
