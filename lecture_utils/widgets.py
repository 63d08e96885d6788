"""Interactive demos (ipywidgets). `sf_demo`: sliders for the new task w' redraw the GPI policy.

The demo is plain ipywidgets: one FloatSlider per reward feature, an HTML line summarising the returns,
and an Output widget holding a matplotlib figure, all redrawn by `observe` when a slider changes.
Built on `lecture_utils.demos.Demo` (the other sections' demos are in `lecture_utils.demos`).
"""

from __future__ import annotations

import html

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure

from lecture_utils import sf_plots
from lecture_utils import successor_features as sf


def summary_html(s: dict, names: str = "abc") -> str:
    """One line: GPI vs best single family policy vs optimal vs random (exact returns)."""
    best = int(np.argmax(s["family"]))
    denom = s["optimal"] - s["random"]
    norm = (s["gpi"] - s["random"]) / denom if abs(denom) > 1e-12 else 1.0
    return (
        f"<b>GPI return {s['gpi']:.3f}</b> &nbsp;|&nbsp; best single policy (pi_{best + 1}, optimal for "
        f"'{html.escape(names[best])}') {s['family'][best]:.3f} &nbsp;|&nbsp; optimal {s['optimal']:.3f} "
        f"&nbsp;|&nbsp; uniform random {s['random']:.3f} &nbsp;|&nbsp; GPI normalized {norm:.3f}"
    )


def sf_demo(env=None, gamma: float = 0.95, base_tasks=None, w0=(0.8, -0.6, 0.5), draw: bool = True):
    """Sliders for the components of w' -> GPI policy + values next to the optimal policy, redrawn live.

    env: a FourRooms (default: a new one); base_tasks [n, d] define the family (default: one-hot tasks).
    Returns a `lecture_utils.demos.Demo` with attributes `sliders`, `summary` (HTML), `output` (Output) and
    `update()` (redraw for the current slider values). `draw=False` skips the figure (for tests).
    """
    from lecture_utils.demos import Demo

    if env is None:
        from lecture_utils.envs.gridworld import FourRooms

        env = FourRooms()
    base_tasks = np.eye(env.d) if base_tasks is None else np.asarray(base_tasks, dtype=float)
    policies, psis = sf.family(env, base_tasks, gamma)
    w0 = sf.check_w(w0, env.d, "w0")
    sliders = [
        widgets.FloatSlider(value=float(x), min=-1.0, max=1.0, step=0.05, description=f"w'[{name}]",
                            continuous_update=False, readout_format=".2f")
        for x, name in zip(w0, env.object_types)
    ]

    def render(demo):
        w = np.array([s.value for s in sliders])
        s = sf_plots.gpi_summary(env, policies, psis, w, gamma)
        if not draw:
            return None, summary_html(s, env.object_types), ""
        fig = Figure(figsize=(8.4, 4.0))  # not a pyplot figure: nothing leaks into the cell's outputs
        sf_plots.draw_gpi_vs_optimal(env, policies, psis, w, gamma, summary=s, fig=fig)
        alt = "GPI vs optimal policy, " + sf_plots.task_label(w, env.object_types)
        return fig, summary_html(s, env.object_types), alt

    box = Demo(sliders, render)
    box.sliders = sliders
    return box
