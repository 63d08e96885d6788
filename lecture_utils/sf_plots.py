"""Figures for the successor-features section (the gridworld itself draws with `env.draw`)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from lecture_utils import successor_features as sf


def task_label(w, names="abc") -> str:
    return "w' = (" + ", ".join(f"{x:+.2f}" for x in np.asarray(w)) + f") on objects ({', '.join(names)})"


def gpi_summary(env, policies, psis, w, gamma) -> dict:
    """Exact returns on task w of GPI, each family policy, the optimum and the uniform random policy.

    policies: actions [n, S] of the family; psis [n, S, A, d] their successor features.
    """
    r = env.reward(w)
    pi_gpi = sf.gpi_policy(psis, w)
    pi_opt, _ = sf.policy_iteration(env.P, r, gamma, pi_gpi)
    uniform = np.full((env.n_states, env.n_actions), 1.0 / env.n_actions)
    # Q'^{pi_i} = w'^T psi^{pi_i}: each family policy evaluated on the new task, no new learning
    fam = [float(env.start_dist @ (psi @ w)[np.arange(env.n_states), p]) for p, psi in zip(policies, psis)]
    return {
        "pi_gpi": pi_gpi, "pi_opt": pi_opt,
        "V_gpi": sf.state_values(env.P, r, pi_gpi, gamma), "V_opt": sf.state_values(env.P, r, pi_opt, gamma),
        "gpi": sf.policy_return(env, pi_gpi, w, gamma), "optimal": sf.policy_return(env, pi_opt, w, gamma),
        "random": sf.policy_return(env, uniform, w, gamma), "family": np.array(fam),
    }


def draw_gpi_vs_optimal(env, policies, psis, w, gamma, summary: dict | None = None, fig=None):
    """Two panels: the GPI policy (arrows) on its values V^GPI, next to the optimal policy on V*."""
    s = summary if summary is not None else gpi_summary(env, policies, psis, w, gamma)
    if fig is None:
        fig = plt.figure(figsize=(8.4, 4.0))
    axes = fig.subplots(1, 2)
    lo = min(s["V_gpi"].min(), s["V_opt"].min())
    hi = max(s["V_gpi"].max(), s["V_opt"].max(), lo + 1e-6)
    env.draw(axes[0], values=s["V_gpi"], policy=s["pi_gpi"], vmin=lo, vmax=hi,
             title=f"GPI policy, return {s['gpi']:.3f}", arrow_color="w")
    im = env.draw(axes[1], values=s["V_opt"], policy=s["pi_opt"], vmin=lo, vmax=hi,
                  title=f"optimal policy, return {s['optimal']:.3f}", arrow_color="w")
    fig.colorbar(im, ax=axes, fraction=0.03, pad=0.02, label="V(s)")
    fig.suptitle(task_label(w, env.object_types), fontsize=10)
    return fig
