"""Headline numbers of section 01 (transfer and shots), recomputed with the lecture notebook's code and seeds."""

from __future__ import annotations

import numpy as np

import lecture_utils.domain_randomization as dr
from lecture_utils import system_id
from lecture_utils.envs.cart import SOURCE_PARAMS

WIDTHS = np.array([0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0])
SHOTS = [0, 1, 2, 4, 6, 10, 20, 30, 50, 75, 100, 125, 150, 200, 300]  # the notebook stops at 100


def results() -> list[dict]:
    sweep = dr.train_sweep(WIDTHS, n_seeds=3, generations=60)
    one_tgt = np.array([[dr.target_return(th) for th in row] for row in sweep.one_sided])
    two_tgt = np.array([[dr.target_return(th) for th in row] for row in sweep.two_sided])
    src_of = lambda th: dr.target_return(th, SOURCE_PARAMS)
    limit = float(np.mean([dr.target_return(th) for th in sweep.target_trained]))
    best = int(one_tgt.mean(axis=1).argmax())
    source_only, randomized = float(one_tgt[0].mean()), float(one_tgt[best].mean())
    starts = np.stack([np.zeros(3), sweep.one_sided[0, 0], sweep.one_sided[best, 0]])
    curves = dr.shot_curves(starts, dr.TARGET_PARAMS, SHOTS, seeds=[0, 1, 2]).mean(axis=1)
    # inf would not survive JSON: "never within 300 episodes" is reported as 301
    need = [min(dr.episodes_to_reach(SHOTS, c, 0.9 * limit), SHOTS[-1] + 1.0) for c in curves]
    _, model_policies = system_id.one_shot_model_policy(sweep.one_sided[0, 0], dr.TARGET_PARAMS, seeds=[0, 1, 2])
    one_shot_model = np.mean([dr.target_returns_each(p, dr.TARGET_PARAMS).mean() for p in model_policies])
    row = lambda name, value, ref, ref_name: {"section": "01", "name": name, "value": float(value),
                                              "reference": ref, "reference_name": ref_name}
    return [
        row("0-shot target return, source-only policy", source_only, limit, "target-trained policy (limit)"),
        row(f"0-shot target return, best randomized policy (w={WIDTHS[best]})", randomized, limit,
            "target-trained policy (limit)"),
        row("0-shot target return, best two-sided randomized policy", two_tgt.mean(axis=1).max(), limit,
            "target-trained policy (limit)"),
        row("fraction of the reality gap closed by randomization (0 shots)",
            (randomized - source_only) / (limit - source_only), 1.0, "all of it (target-trained)"),
        row("source return of the best randomized policy (cost of diversity)",
            np.mean([src_of(th) for th in sweep.one_sided[best]]),
            float(np.mean([src_of(th) for th in sweep.one_sided[0]])), "source-only policy on the source"),
        row("1-shot target return, system identification (model)", one_shot_model,
            limit, "target-trained policy (limit)"),
        row("target episodes to 90% of the limit, from scratch (301 = never)", need[0], ">100", "expected: most"),
        row("target episodes to 90% of the limit, from the source-only policy", need[1], "tens", "expected: some"),
        row("target episodes to 90% of the limit, from the randomized policy", need[2], 0.0, "expected: none"),
    ]
