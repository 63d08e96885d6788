"""Section 02 headline numbers: the lecture notebook's experiments, re-run with the same lecture_utils code.

Same settings and seed as notebooks/02_pretraining_finetuning.ipynb; the notebook draws a few extra random
numbers before pretraining, so individual values differ slightly from its printed ones.
"""

from __future__ import annotations

import math

import numpy as np
import torch

import lecture_utils
from lecture_utils import actor_mimic as am
from lecture_utils import pretraining as pt

DIRECTIONS = [0.0, math.pi / 2, math.pi, -math.pi / 2]  # east, north, west, south
NEW_DIRECTION = math.pi / 4
SEEDS = 3
ITERS = 40


def _reach(curve: np.ndarray, d: float) -> np.ndarray:
    return pt.iterations_to_reach(curve, 0.9 * pt.runner_oracle_return(d)).astype(float)


def results() -> list[dict]:
    lecture_utils.setup(seed=0)
    S = SEEDS
    pretrained = pt.PolicyNet(members=2 * S)
    pt.train_pg(pretrained, iters=80, entropy_coef=torch.tensor([0.2] * S + [0.0] * S), n_envs=256, soft=True)
    maxent, collapsed = pt.select_members(pretrained, [0, 1, 2]), pt.select_members(pretrained, [3, 4, 5])
    H = [pt.direction_entropy(a) for a in pt.running_directions(pt.rollout_runners(pretrained, 2000)[3])]
    curves, finetuned = pt.finetune({"maxent": maxent, "collapsed": collapsed, "scratch": pt.PolicyNet(members=S)},
                                    DIRECTIONS, iters=ITERS)
    reach = {k: np.stack([_reach(v[:, j], d) for j, d in enumerate(DIRECTIONS)]) for k, v in curves.items()}

    experts = pt.stack([pt.select_members(net, [0]) for net in finetuned["scratch"]])
    student = am.make_student(n_tasks=len(DIRECTIONS))
    am.distill(student, experts, DIRECTIONS, iters=60)
    fraction = pt.evaluate(student, DIRECTIONS, n_envs=2048) / pt.evaluate(experts, DIRECTIONS, n_envs=2048)
    new_task, _ = pt.finetune({"am": am.student_features_policy(student, S), "scratch": pt.PolicyNet(members=S)},
                              [NEW_DIRECTION], iters=ITERS)
    new_reach = {k: _reach(v[:, 0], NEW_DIRECTION).mean() for k, v in new_task.items()}
    frozen = {k: pt.train_pg(net, ITERS, NEW_DIRECTION, n_envs=128)[-5:].mean()
              for k, net in {"am": am.student_features_policy(student, S, head="zero", freeze=True),
                             "maxent": pt.new_head_policy(maxent, freeze=True)}.items()}

    def row(name, value, reference, reference_name):
        return {"section": "02", "name": name, "value": float(value), "reference": reference,
                "reference_name": reference_name}

    budget = f"{ITERS} = not within budget"
    return [
        row("direction entropy of max-ent pretraining (nats, 16 sectors)", np.mean(H[:S]), float(np.log(16)),
            "uniform directions"),
        row("direction entropy of alpha=0 pretraining (nats)", np.mean(H[S:]), float(np.log(16)), "uniform directions"),
        row("fine-tune iters to 90% expert: max-ent pretrained (4 dirs)", reach["maxent"].mean(),
            float(reach["scratch"].mean()), "scratch, same budget"),
        row("fine-tune iters to 90% expert: collapsed, own dir (east)", reach["collapsed"][0].mean(),
            float(reach["scratch"][0].mean()), "scratch, same budget"),
        row("fine-tune iters to 90% expert: collapsed, opposite (west)", reach["collapsed"][2].mean(),
            float(reach["scratch"][2].mean()), f"scratch ({budget})"),
        row("fine-tune iters to 90% expert: scratch (4 dirs)", reach["scratch"].mean(), float(ITERS), "budget"),
        row("Actor-Mimic student/expert return, worst of 4 tasks", fraction.min(), 1.0, "expert"),
        row("Actor-Mimic student/expert return, mean of 4 tasks", fraction.mean(), 1.0, "expert"),
        row("new task (45 deg) iters to 90%: from Actor-Mimic features", new_reach["am"], float(new_reach["scratch"]),
            "scratch, same budget"),
        row("new task speed-up (scratch iters / Actor-Mimic iters)", new_reach["scratch"] / new_reach["am"], 1.0,
            "no gain"),
        row("new task, new head on frozen Actor-Mimic features: return", frozen["am"], float(frozen["maxent"]),
            "same on frozen max-ent features"),
    ]
