"""Section 04 headline numbers: RL^2 vs the Bayes-optimal limit, the k = 5, n = 10 row of RL^2's Table 1, and the
family where greedy fails (a safe arm and three risky arms, H = 20 pulls: every method against the Bayes-optimal limit).

Computed by the same code as the notebook's tables (lecture_utils.rl2.compare_methods, compare_safe_risky) on the
shipped checkpoints.
"""

from __future__ import annotations

from lecture_utils.bandits import compare_baselines, fraction_of_the_way
from lecture_utils.checkpoints import load_rl2
from lecture_utils.rl2 import (
    PAPER_K5_N10,
    PAPER_K5_N100,
    SAFE_RISKY_H,
    TABLE_SETTINGS,
    compare_methods,
    compare_safe_risky,
)
from lecture_utils.safe_risky import SafeRiskyFamily

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
    long_row, _ = compare_baselines(5, 100, n_tasks=2000, gittins=False, tune_tasks=1000)  # as in the notebook
    for method in ("Thompson", "UCB1"):
        rows.append({"section": "04", "name": f"k=5 n=100: {method}, expected total reward",
                     "value": long_row[method][0], "reference": PAPER_K5_N100[method],
                     "reference_name": "Duan et al. 2016, Table 1"})
    rows.extend(safe_risky_rows())
    return rows


def safe_risky_rows() -> list[dict]:
    """The greedy-fails setting (notebook section 6): each method's expected total reward, the Bayes-optimal limit
    as its reference, and the fraction of the way from random to that limit."""
    family, H = SafeRiskyFamily(), SAFE_RISKY_H
    table = compare_safe_risky(family, H)  # as in the notebook: the same 10,000 tasks for every method
    lo, hi = table["random"][0], table["Bayes-optimal"][0]
    setting = f"safe + {family.m} risky arms, H={H}"
    rows = []
    for method, (mean, _) in table.items():
        frac = fraction_of_the_way(mean, lo, hi)
        rows.append({"section": "04", "name": f"{setting}: {method}, total reward ({frac:.2f} of the way)",
                     "value": mean, "reference": hi,
                     "reference_name": "Bayes-optimal (exact DP); aim: RL^2 >= 0.9 of the way, greedy far below"})
    _, cfg, info = load_rl2(family.k, H, family="safe-risky")
    rows.append({"section": "04", "name": f"{setting}: RL^2 training time (s, {cfg.iters} updates)",
                 "value": float(info["seconds"]), "reference": "minutes",
                 "reference_name": "`lecture train rl2 --setting safe-risky`, 1 thread"})
    return rows
