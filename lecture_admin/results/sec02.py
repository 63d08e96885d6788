"""Section 02 headline numbers: the lecture notebook's experiments, with the same lecture_utils code and checkpoint.

The pretrained policies and the fine-tuning table come from the shipped checkpoint (`lecture train sec02` rebuilds
it); distillation, the new task and the frozen-feature runs are re-run live, with the notebook's settings and seeds
(the notebook draws a few extra random numbers first, so those values can differ slightly from its printed ones).
"""

from __future__ import annotations

import math

import numpy as np
import torch

import lecture_utils
from lecture_utils import actor_mimic as am
from lecture_utils import checkpoints
from lecture_utils import pretraining as pt


def results() -> list[dict]:
    lecture_utils.setup(seed=0, float64=True)
    ck = checkpoints.load_sec02()
    cfg, S = ck["config"], ck["config"]["seeds"]
    alphas, directions = cfg["alphas"], cfg["directions"]
    groups = [*alphas, "scratch"]
    reach = {k: ck["reach"][groups.index(k)].astype(float) for k in (0.2, 0.0, "scratch")}
    angles = pt.running_directions(pt.rollout_runners(ck["pretrained"], 1000)[3]).reshape(len(alphas), -1)
    H = {a: pt.direction_entropy(angles[alphas.index(a)]) for a in (0.2, 0.0)}
    east, west = directions.index(0.0), directions.index(math.pi)

    experts, expert_dirs = ck["experts"], cfg["expert_directions"]
    student = am.make_student(n_tasks=len(expert_dirs))
    am.distill(student, experts, expert_dirs, iters=cfg["distill_iters"], n_envs=cfg["distill_envs"],
               lr=cfg["distill_lr"])
    fraction = pt.evaluate(student, expert_dirs, n_envs=2048) / pt.evaluate(experts, expert_dirs, n_envs=2048)
    new_d, new_j = math.pi / 4, directions.index(math.pi / 4)
    target = 0.9 * ck["expert_return"][new_j]
    new_reach = {"scratch": reach["scratch"][new_j].mean(), "maxent": reach[0.2][new_j].mean()}
    maxent = pt.select_members(ck["pretrained"], [alphas.index(0.2) * S])
    inits = [am.student_features_policy(student, S), am.student_features_policy(ck["multitask"], S),
             am.student_features_policy(student, 1, head="zero"),
             am.student_features_policy(ck["multitask"], 1, head="zero"), pt.new_head_policy(maxent)]
    runs = pt.freeze_features_of(pt.stack(inits), [2 * S, 2 * S + 1, 2 * S + 2])  # the notebook's one ensemble
    torch.manual_seed(7)
    curve = pt.train_pg(runs, cfg["ft_iters"], new_d, n_envs=cfg["ft_envs"])
    new_reach["am"] = pt.iterations_to_reach(curve[:, :S], target).mean()
    new_reach["mt"] = pt.iterations_to_reach(curve[:, S:2 * S], target).mean()
    frozen = dict(zip(["am", "mt", "maxent"], curve[-5:, 2 * S:].mean(0)))

    def row(name, value, reference, reference_name):
        return {"section": "02", "name": name, "value": float(value), "reference": reference,
                "reference_name": reference_name}

    budget = f"{cfg['ft_iters']} = not within budget"
    return [
        row("direction entropy of max-ent pretraining (nats, 16 sectors)", H[0.2], float(np.log(16)),
            "uniform directions"),
        row("direction entropy of alpha=0 pretraining (nats)", H[0.0], float(np.log(16)), "uniform directions"),
        row("fine-tune iters to 90% expert: max-ent pretrained (8 dirs)", reach[0.2].mean(),
            float(reach["scratch"].mean()), "scratch, same budget"),
        row("fine-tune iters to 90% expert: collapsed, own dir (east)", reach[0.0][east].mean(),
            float(reach["scratch"][east].mean()), "scratch, same budget"),
        row("fine-tune iters to 90% expert: collapsed, opposite (west)", reach[0.0][west].mean(),
            float(reach["scratch"][west].mean()), f"scratch ({budget})"),
        row("fine-tune iters to 90% expert: scratch (8 dirs)", reach["scratch"].mean(), float(cfg["ft_iters"]),
            "budget"),
        row("Actor-Mimic student/expert return, worst of 4 tasks", fraction.min(), 1.0, "expert"),
        row("Actor-Mimic student/expert return, mean of 4 tasks", fraction.mean(), 1.0, "expert"),
        row("new task (45 deg) iters to 90%: from Actor-Mimic features", new_reach["am"], float(new_reach["scratch"]),
            "scratch, same budget"),
        row("new task (45 deg) iters to 90%: multitask-RL control", new_reach["mt"], float(new_reach["am"]),
            "Actor-Mimic (same net, tasks, episodes)"),
        row("new task (45 deg) iters to 90%: max-ent pretrained", new_reach["maxent"], float(new_reach["scratch"]),
            "scratch, same budget"),
        row("new task speed-up (scratch iters / Actor-Mimic iters)", new_reach["scratch"] / new_reach["am"], 1.0,
            "no gain"),
        row("new task, new head on frozen Actor-Mimic features: return", frozen["am"], float(frozen["maxent"]),
            "same on frozen max-ent features"),
        row("new task, new head on frozen multitask-RL features: return", frozen["mt"], float(frozen["am"]),
            "same on frozen Actor-Mimic features"),
    ]
