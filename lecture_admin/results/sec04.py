"""Section 04 headline numbers: RL^2 vs the Bayes-optimal limit, and the k = 5, n = 10 row of RL^2's Table 1.

Computed by the same code as the notebook's table (lecture_utils.rl2.compare_methods) on the shipped checkpoints.
"""

from __future__ import annotations

from lecture_utils.bandits import compare_baselines, fraction_of_the_way
from lecture_utils.checkpoints import load_rl2
from lecture_utils.rl2 import PAPER_K5_N10, PAPER_K5_N100, TABLE_SETTINGS, compare_methods

AIM = "RL^2 near Bayes-optimal as in Duan et al. 2016, Table 1"


def results() -> list[dict]:
    rows = []
    for k, n in TABLE_SETTINGS:  # Duan et al. 2016, Table 1: RL^2 close to the Gittins / Bayes-optimal values
        table = compare_methods(k, n)
        lo, hi = table["random"][0], table["Bayes-optimal"][0]
        for method in ("RL^2", "Thompson", "UCB1"):
            rows.append({"section": "04", "name": f"k={k} n={n}: {method}, fraction random->Bayes-optimal",
                         "value": fraction_of_the_way(table[method][0], lo, hi),
                         "reference": 0.9 if method == "RL^2" else "-",
                         "reference_name": AIM if method == "RL^2" else "for comparison"})
        _, cfg, info = load_rl2(k, n)
        rows.append({"section": "04", "name": f"k={k} n={n}: RL^2 training time (s, {cfg.iters} updates)",
                     "value": float(info["seconds"]), "reference": "minutes",
                     "reference_name": "`lecture train rl2`, 1 thread"})
        if (k, n) == (5, 10):
            for method, (mean, _) in table.items():
                rows.append({"section": "04", "name": f"k=5 n=10: {method}, expected total reward",
                             "value": mean, "reference": PAPER_K5_N10.get(method, PAPER_K5_N10["Gittins"]),
                             "reference_name": "Duan et al. 2016, Table 1" + (
                                 "" if method in PAPER_K5_N10 else " (Gittins)")})
    long_row, _ = compare_baselines(5, 100, n_tasks=4000, gittins=False, tune_tasks=1000)  # as in the notebook
    for method in ("Thompson", "UCB1"):
        rows.append({"section": "04", "name": f"k=5 n=100: {method}, expected total reward",
                     "value": long_row[method][0], "reference": PAPER_K5_N100[method],
                     "reference_name": "Duan et al. 2016, Table 1"})
    return rows
