"""Section 02's demo: a slider for the entropy weight alpha of pretraining.

For each alpha, `lecture train sec02` pretrained 3 runners (speed in any direction) and fine-tuned each on 8 target
directions (the checkpoint's table). The demo shows, for the alpha on the slider, where the pretrained policies run
(the polar histogram of their final displacement directions, computed when the demo is built) and how many
fine-tuning iterations each target direction then needs to reach 90% of the expert's return (from the table),
next to learning from scratch. Moving the slider only redraws: nothing trains.
"""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure

ALPHA_COLOR = "C0"  # the max-ent pretrained policy's colour in notebook 02
SCRATCH_COLOR = "gray"


def direction_table(ck: dict, n_envs: int = 1000) -> np.ndarray:
    """Running directions [alphas, seeds * n_envs] of the checkpoint's pretrained policies (one rollout each)."""
    from lecture_utils import pretraining as pt

    if not isinstance(n_envs, int) or n_envs < 1:
        raise ValueError(f"n_envs must be a positive int, got {n_envs!r}")
    A, S = len(ck["config"]["alphas"]), ck["config"]["seeds"]
    angles = pt.running_directions(pt.rollout_runners(ck["pretrained"], n_envs)[3])  # [A * S, n_envs]
    return angles.reshape(A, S * n_envs)


def entropy_demo(ck: dict | None = None, angles: np.ndarray | None = None, alpha: float = 0.2, draw: bool = True):
    """Slider over the checkpoint's entropy weights -> direction histogram + fine-tuning cost per direction.

    ck: `lecture_utils.checkpoints.load_sec02()` (loaded if None); angles: `direction_table(ck)` (computed if None).
    Returns a `lecture_utils.demos.Demo` with `slider` (the SelectionSlider), `summary`, `output`, `update()`.
    """
    from lecture_utils import pretraining as pt
    from lecture_utils.demos import Demo

    if ck is None:
        from lecture_utils.checkpoints import load_sec02

        ck = load_sec02()
    alphas = [float(a) for a in ck["config"]["alphas"]]
    if alpha not in alphas:
        raise ValueError(f"alpha must be one of the pretrained entropy weights {alphas}, got {alpha!r}")
    angles = direction_table(ck) if angles is None else np.asarray(angles)
    if angles.ndim != 2 or angles.shape[0] != len(alphas):
        raise ValueError(f"angles must have one row per entropy weight ({len(alphas)}), got shape {angles.shape}")
    reach = np.asarray(ck["reach"], dtype=float).mean(-1)  # [alphas + scratch, directions]
    budget = int(ck["config"]["ft_iters"])
    degrees = np.round(np.degrees(ck["config"]["directions"])).astype(int)
    order = np.argsort(degrees)
    entropies = [pt.direction_entropy(a) for a in angles]
    edges = np.linspace(-np.pi, np.pi, 17)
    fractions = [np.histogram(a, bins=edges)[0] / a.size for a in angles]  # what pt.polar_histogram draws
    rmax = 1.1 * max(f.max() for f in fractions)
    figure: dict = {}
    slider = widgets.SelectionSlider(options=[(f"{a:g}", a) for a in alphas], value=alpha,
                                     description="entropy weight alpha", continuous_update=False,
                                     style={"description_width": "initial"},
                                     layout=widgets.Layout(width="420px"))

    def render(demo):
        i = alphas.index(slider.value)
        r, scratch = reach[i], reach[-1]
        slowest = int(np.argmax(r))
        text = (f"<b>alpha = {slider.value:g}</b>: direction entropy {entropies[i]:.2f} nats (uniform: "
                f"{np.log(16):.2f}) &nbsp;|&nbsp; <b>fine-tuning iterations to 90% of the expert</b>, mean over "
                f"{len(r)} directions: {r.mean():.1f} (slowest {degrees[slowest]} deg: {r[slowest]:.1f}; "
                f"{budget} = not reached) &nbsp;|&nbsp; scratch: {scratch.mean():.1f}")
        if not draw:
            return None, text, ""
        if not figure:  # the figure is built once; an interaction only changes bar heights and titles
            fig = Figure(figsize=(9.0, 3.6), dpi=80)
            fig.subplots_adjust(left=0.03, right=0.98, bottom=0.16, top=0.82, wspace=0.3)
            ax = fig.add_subplot(1, 2, 1, projection="polar")
            hist_bars = ax.bar(edges[:-1], np.zeros(16), width=edges[1] - edges[0], align="edge", alpha=0.6,
                               color=ALPHA_COLOR, edgecolor="k", linewidth=0.3)
            ax.set_ylim(0, rmax), ax.set_yticks([]), ax.set_xticks(np.radians(np.arange(0, 360, 90)))
            ax2 = fig.add_subplot(1, 2, 2)
            reach_bars = ax2.bar(np.arange(len(r)), np.zeros(len(r)), color=ALPHA_COLOR, alpha=0.7,
                                 label="pretrained with this alpha")
            ax2.plot(np.arange(len(r)), scratch[order], "o--", color=SCRATCH_COLOR, label="scratch")
            ax2.axhline(budget, color="k", ls=":", lw=1, label="budget (not reached)")
            ax2.set_xticks(np.arange(len(r)), [str(d) for d in degrees[order]])
            ax2.set_ylim(0, budget * 1.4)  # room for the legend above the budget line
            ax2.set_xlabel("target direction d (deg)"), ax2.set_ylabel("iterations to 90% of expert")
            ax2.set_title(f"fine-tuning cost per direction (mean of {ck['config']['seeds']} seeds)", fontsize=9)
            ax2.legend(fontsize=7, loc="upper center", ncol=3)
            figure.update(fig=fig, ax=ax, hist=hist_bars, reach=reach_bars)
        fig = figure["fig"]
        for bar, h in zip(figure["hist"], fractions[i]):
            bar.set_height(h)
        for bar, h in zip(figure["reach"], r[order]):
            bar.set_height(h)
        figure["ax"].set_title(f"where the pretrained runners go (alpha = {slider.value:g})", fontsize=9, pad=10)
        return fig, text, f"entropy weight {slider.value:g}: direction histogram and fine-tuning cost"

    demo = Demo([slider], render)
    demo.slider = slider
    return demo


def bench_cases():
    demo = entropy_demo()

    def to_zero(d):
        "alpha slider moved to 0 (collapsed)"
        d.slider.value = 0.0

    def to_half(d):
        "alpha slider moved to 0.5"
        d.slider.value = 0.5

    return [("02 entropy weight of pretraining", demo, [to_zero, to_half])]
