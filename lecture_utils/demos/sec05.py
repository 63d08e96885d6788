"""Section 05's demo: put the goal anywhere, choose the inner step size alpha and the number of adaptation
steps, and watch MAML's and the pretrained policy's trajectories before and after adapting to that goal.

Both initialisations come from the shipped checkpoint of one training seed; they adapt with the notebook's
test protocol (`lecture_utils.maml.paper_test_step_sizes`: alpha for the first step, alpha / 2 for the later
ones), each step a REINFORCE step on `n_traj` fresh trajectories. A change of goal or alpha runs the 0-3 steps
for both policies at once (one batch of 2 tasks, a few tenths of a second); the steps slider only redraws.
"""

from __future__ import annotations

from functools import lru_cache

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.figure import Figure

METHODS = ("MAML", "pretrained")
COLORS = {"MAML": "C0", "pretrained": "C1"}  # the notebook's COLORS: one colour per method
MAX_STEPS = 3
TICKS = (-0.5, 0.0, 0.5)  # few ticks: tick labels are most of a redraw's cost
SHOWN_PATHS = 5  # trajectories drawn per panel (all n_traj enter the returns)


def _check_goal(goal) -> tuple[float, float]:
    from lecture_utils.envs.point_nav import GOAL_HIGH, GOAL_LOW

    g = np.asarray(goal, dtype=float)
    if g.shape != (2,) or not np.all(np.isfinite(g)):
        raise ValueError(f"goal must be two numbers (x, y), got {goal!r}")
    if np.any(g < GOAL_LOW) or np.any(g > GOAL_HIGH):
        raise ValueError(f"goal must lie in the task family's square [{GOAL_LOW}, {GOAL_HIGH}]^2, got {tuple(g)}")
    return float(g[0]), float(g[1])


def adaptation_on_goal(policy, inits: dict, goal, alpha: float, n_traj: int = 20, seed: int = 0,
                       gamma: float = 0.99) -> dict:
    """Adapt every initialisation in `inits` to one goal for 0..3 steps (all in one batch).

    Returns {"returns": {method: [4] average return after k steps}, "paths": {method: [4, n_traj, H + 1, 2]}}.
    """
    from lecture_utils.maml import adapt_rl, paper_test_step_sizes

    names = list(inits)
    stacked = {k: torch.stack([inits[n][k].detach() for n in names]) for k in inits[names[0]]}
    goals = torch.tensor([goal] * len(names), dtype=torch.float32)
    rets, kept, _ = adapt_rl(policy, stacked, goals, n_traj, paper_test_step_sizes(alpha, MAX_STEPS), MAX_STEPS,
                             gamma, torch.Generator().manual_seed(seed), keep=True, batched=True)
    return {"returns": {n: rets[:, i].numpy() for i, n in enumerate(names)},
            "paths": {n: np.stack([b["positions"][i].numpy() for b in kept]) for i, n in enumerate(names)}}


def draw(fig, result: dict, goal, steps: int, alpha: float) -> None:
    """Paths of each method before (grey) and after `steps` steps (its colour), returns in the titles.

    Two panels with few ticks and no legend: tick labels and legends are most of what a redraw costs.
    """
    from lecture_utils.envs.point_nav import plot_paths

    axes = fig.subplots(1, 2)
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.13, top=0.9, wspace=0.25)  # (tight_layout draws twice)
    for ax, name in zip(axes, METHODS):
        paths, r = result["paths"][name], result["returns"][name]
        if steps > 0:
            plot_paths(ax, paths[0, :SHOWN_PATHS], color="0.7")
        plot_paths(ax, paths[steps, :SHOWN_PATHS], goal, color=COLORS[name])
        ax.set(xlim=(-0.65, 0.65), ylim=(-0.65, 0.65), xticks=TICKS, yticks=TICKS, xlabel="x position",
               ylabel="y position")
        ax.set_title(f"{name}: return {r[0]:.1f} (grey, theta)\n-> {r[steps]:.1f} after {steps} "
                     f"step{'s' * (steps != 1)} (colour)", fontsize=10)


def summary_html(result: dict, goal, steps: int, alpha: float, oracle: float) -> str:
    """One line: each method's return before and after `steps` steps, and the oracle's."""
    parts = [f"<b>{name}</b> {result['returns'][name][0]:.1f} &rarr; <b>{result['returns'][name][steps]:.1f}</b>"
             for name in METHODS]
    return (f"goal ({goal[0]:.2f}, {goal[1]:.2f}), alpha = {alpha:.2f} (later steps alpha/2), "
            f"{steps} step{'s' * (steps != 1)}: average return before &rarr; after: " + " &nbsp;|&nbsp; ".join(parts)
            + f" &nbsp;|&nbsp; oracle (sees the goal) {oracle:.1f}")


def maml_demo(seed: int = 0, goal=(0.3, -0.2), alpha: float | None = None, steps: int = 1, n_traj: int = 20,
              draw_figure: bool = True):
    """Sliders for the goal (x, y), alpha and the number of adaptation steps (0-3) -> MAML's and the
    pretrained policy's trajectories and returns on that goal.

    seed: which shipped training seed's checkpoint (`checkpoints.MAML_SEEDS`); alpha: the first step's size
    (default: the meta-training alpha). Returns a `lecture_utils.demos.Demo` with attributes `goal_x`,
    `goal_y`, `alpha`, `steps` (the sliders) and `result()` (the current adaptation, a dict).
    """
    from lecture_utils import checkpoints
    from lecture_utils.demos import Demo
    from lecture_utils.maml import point_nav_oracle_return

    if seed not in checkpoints.MAML_SEEDS:
        raise ValueError(f"seed must be one of the shipped training seeds {checkpoints.MAML_SEEDS}, got {seed!r}")
    goal = _check_goal(goal)
    if not isinstance(steps, (int, np.integer)) or not 0 <= steps <= MAX_STEPS:
        raise ValueError(f"steps must be an integer in 0..{MAX_STEPS}, got {steps!r}")
    if not isinstance(n_traj, (int, np.integer)) or n_traj < 1:
        raise ValueError(f"n_traj must be a positive integer, got {n_traj!r}")
    policy, ckpt = checkpoints.load_maml(seed)
    alpha = float(ckpt["config"]["alpha"] if alpha is None else alpha)
    if not 0.0 <= alpha <= 2.0:
        raise ValueError(f"alpha must lie in [0, 2], got {alpha}")
    inits = {name: ckpt[key] for name, key in zip(METHODS, ("maml", "pretrained"))}

    @lru_cache(maxsize=64)
    def adapted(x: float, y: float, a: float) -> dict:  # the slow part: cached, so the steps slider only redraws
        return adaptation_on_goal(policy, inits, (x, y), a, n_traj, seed=seed, gamma=ckpt["config"]["gamma"])

    def slider(value, lo, hi, step, description):
        return widgets.FloatSlider(value=value, min=lo, max=hi, step=step, description=description,
                                   continuous_update=False, readout_format=".2f")

    goal_x = slider(goal[0], -0.5, 0.5, 0.05, "goal x")
    goal_y = slider(goal[1], -0.5, 0.5, 0.05, "goal y")
    alpha_slider = slider(alpha, 0.0, 1.5, 0.05, "alpha")
    steps_slider = widgets.IntSlider(value=int(steps), min=0, max=MAX_STEPS, description="steps",
                                     continuous_update=False)

    def current():
        return adapted(round(goal_x.value, 4), round(goal_y.value, 4), round(alpha_slider.value, 4))

    def render(demo):
        g, k, a = (goal_x.value, goal_y.value), steps_slider.value, alpha_slider.value
        result = current()
        oracle = float(point_nav_oracle_return(torch.tensor([g], dtype=torch.float32))[0])
        text = summary_html(result, g, k, a, oracle)
        if not draw_figure:
            return None, text, ""
        fig = Figure(figsize=(9.5, 4.4), dpi=72)  # not a pyplot figure: nothing leaks into the cell's outputs
        draw(fig, result, g, k, a)
        return fig, text, f"MAML vs pretrained on goal ({g[0]:.2f}, {g[1]:.2f}), alpha {a:.2f}, {k} steps"

    demo = Demo([goal_x, goal_y, alpha_slider, steps_slider], render, figure_height="400px",
                rows=[[goal_x, goal_y], [alpha_slider, steps_slider]])
    demo.goal_x, demo.goal_y, demo.alpha, demo.steps = goal_x, goal_y, alpha_slider, steps_slider
    demo.result = current
    return demo


def bench_cases():
    demo = maml_demo()

    def move_goal_x(d):
        "goal x slider moved (adapts both policies)"
        d.goal_x.value = -0.35

    def move_goal_y(d):
        "goal y slider moved (adapts both policies)"
        d.goal_y.value = 0.4

    def move_alpha(d):
        "alpha slider moved (adapts both policies)"
        d.alpha.value = 1.0

    def move_steps(d):
        "steps slider moved (redraw only)"
        d.steps.value = 3

    return [("05 MAML vs pretrained on a chosen goal", demo, [move_goal_x, move_goal_y, move_alpha, move_steps])]
