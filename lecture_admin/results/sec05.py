"""Section 05 headline numbers: sinusoid MSE after one step, 2D-navigation returns after 0-3 steps, training time."""

from __future__ import annotations

import torch


def results() -> list[dict]:
    from lecture_utils import checkpoints, maml, sinusoid
    from lecture_utils.maml import evaluate_seeds

    torch.set_num_threads(1)
    rows = []
    model, ckpt = checkpoints.load_sinusoid()
    # Finn et al. 2017, Fig. 3 (K=10): after one step MAML's error is several times below the pretrained model's
    relation = {"MAML": "< pretrained", "pretrained": "> MAML"}
    for name, key in (("MAML", "maml"), ("pretrained", "pretrained")):
        mse, _ = sinusoid.mse_after_steps(model, ckpt[key], n_tasks=200, k=10, steps=10, alpha=0.01, seed=1)
        rows.append({"section": "05", "name": f"sinusoid K=10: MSE after 1 step, {name}", "value": float(mse[1]),
                     "reference": relation[name], "reference_name": "MAML paper, Fig. 3 (K = 10, one step)"})
    rows.append({"section": "05", "name": "sinusoid: MAML meta-training time (s, 10k its)",
                 "value": float(ckpt["maml_seconds"]), "reference": "CPU minutes",
                 "reference_name": "the course's budget (COURSE.md)"})

    ckpt_rl = checkpoints.load_maml(0)[1]
    config = ckpt_rl["config"]
    evals = evaluate_seeds(seeds=checkpoints.MAML_SEEDS, steps=3)  # the paper's test goals and protocol
    for name, runs in evals.items():
        for k, paper in enumerate(maml.PAPER_POINT_NAV[name]):
            what = "oracle (straight to the seen goal)" if name == "oracle" else f"{name}, {k} steps (3 seeds)"
            rows.append({"section": "05", "name": f"2D nav return: {what}", "value": float(runs[:, k].mean()),
                         "reference": paper, "reference_name": "MAML paper (the same 40 test goals)"})
    steps = config.get("inner_steps", 1)
    rows.append({"section": "05", "name": f"2D nav: MAML meta-training CPU time (s, {config['iterations']} its, "
                                          f"{steps} inner step{'s' * (steps > 1)})",
                 "value": float(ckpt_rl.get("maml_cpu_seconds", ckpt_rl["maml_seconds"])), "reference": "CPU minutes",
                 "reference_name": "the course's budget (COURSE.md)"})
    return rows
