"""Section 01's demo: how wide to randomise? A slider for the training width, a picker for the target cart.

For the policies of the notebook's sweep (`dr.train_sweep`: every width x family x seed, trained once when
the notebook runs), the demo shows the 0-shot return on the chosen target cart next to the return on the
source: what diversity buys and what it costs. A second panel puts the target's physics against the
training range at that width. Building it evaluates every policy on every cart once (~0.1 s); an
interaction only looks values up and redraws.
"""

from __future__ import annotations

import html

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure

import lecture_utils.domain_randomization as dr
from lecture_utils.envs.cart import PARAM_NAMES, SOURCE_PARAMS

FAMILIES = ("one-sided", "two-sided")
# One colour per method, as in notebook 01's COLORS.
COLORS = {"source-only": "C1", "one-sided": "C0", "two-sided": "C4", "target-trained": "k", "real carts": "C3"}
ALL_FIVE = "the five real carts (the notebook's test)"


def target_presets() -> dict[str, np.ndarray]:
    """The carts the picker offers: name -> params [M, 4]. The five real carts (together and one by one),
    the source itself, and three 'what if the real cart were ...' carts: beyond the real carts in delay or
    friction, and one on the other side of the source (lighter), where one-sided ranges point the wrong way."""
    presets = {ALL_FIVE: dr.TARGET_PARAMS}
    for i, p in enumerate(dr.TARGET_PARAMS):
        presets[f"real cart {i}: m={p[0]:g}, b={p[1]:g}, k={p[2]:g}, d={p[3]:g}"] = p[None]
    presets["the source (simulator) itself"] = SOURCE_PARAMS[None]
    presets["what if: a longer delay, d=5 (m=2.2, b=0.08, k=0.5)"] = np.array([[2.2, 0.08, 0.5, 5.0]])
    presets["what if: a slipperier cart, b=0.01 (m=2.2, k=0.5, d=3)"] = np.array([[2.2, 0.01, 0.5, 3.0]])
    presets["what if: a lighter cart than the simulator, m=0.4 (b=0.5, k=1, d=0)"] = np.array([[0.4, 0.5, 1.0, 0.0]])
    return presets


def _check_sweep(sweep) -> None:
    if not isinstance(sweep, dr.Sweep):
        raise ValueError(f"sweep must be the result of dr.train_sweep (a dr.Sweep), got {type(sweep).__name__}")


def precompute(sweep, presets: dict[str, np.ndarray]) -> dict:
    """Every policy of the sweep on every preset cart and on the source (the slow part, done once).

    Returns {"target": {family: {preset: [W, S]}}, "source": {family: [W, S]}, "limit": {preset: float}}.
    """
    _check_sweep(sweep)
    carts = np.concatenate([SOURCE_PARAMS[None], *presets.values()])  # [C, 4]
    both = np.stack([sweep.one_sided, sweep.two_sided])  # [2, W, S, 3]
    each = dr.target_returns_each(np.repeat(both.reshape(-1, 3), len(carts), axis=0),
                                  np.tile(carts, (both[..., 0].size, 1))).reshape(both.shape[:3] + (len(carts),))
    limit_each = dr.target_returns_each(np.repeat(sweep.target_trained, len(carts), axis=0),
                                        np.tile(carts, (len(sweep.target_trained), 1))).reshape(-1, len(carts))
    out = {"target": {f: {} for f in FAMILIES}, "source": {}, "limit": {}}
    for fi, family in enumerate(FAMILIES):
        out["source"][family] = each[fi, :, :, 0]
    start = 1
    for name, p in presets.items():
        cols = slice(start, start + len(p))
        for fi, family in enumerate(FAMILIES):
            out["target"][family][name] = each[fi, :, :, cols].mean(axis=-1)  # mean over the preset's carts
        out["limit"][name] = float(limit_each[:, cols].mean())
        start += len(p)
    return out


def _inside(p, low, high) -> list[bool]:
    return [bool(lo - 1e-12 <= x <= hi + 1e-12) for x, lo, hi in zip(p, low, high)]


def summary_html(width: float, family: str, target: str, table: dict, params: np.ndarray) -> str:
    """The one-line answer: target and source return at this width, against the source-only policy."""
    tgt, src = table["target"][family][target], table["source"][family]
    i = int(np.flatnonzero(np.isclose(table["widths"], width))[0])
    gain, cost = tgt[i].mean() - tgt[0].mean(), src[0].mean() - src[i].mean()
    low, high = dr.param_ranges(width, family == "two-sided")
    inside = np.array([_inside(p, low, high) for p in params]).all(axis=0)
    marks = " ".join(f"{n} {'✓' if ok else '✗'}" for n, ok in zip(PARAM_NAMES, inside))
    return (f"<b>w = {width:g}, {family} ranges</b>, target: {html.escape(target)}<br>"
            f"0-shot return on the target <b>{tgt[i].mean():.1f}</b> ± {tgt[i].std():.1f} "
            f"(source-only {tgt[0].mean():.1f}; trained on the five real carts {table['limit'][target]:.1f}) "
            f"&nbsp;|&nbsp; return on the source <b>{src[i].mean():.1f}</b> (source-only {src[0].mean():.1f})<br>"
            f"diversity bought <b>{gain:+.1f}</b> on the target and cost <b>{cost:.1f}</b> on the source. "
            f"Target inside the training range: {marks}")


class DemoFigure:
    """The demo's figure, drawn by blitting: axes, ticks, labels and legend are rendered once per family (the
    'background'); an interaction moves only the data artists and draws them over it (~5x faster than
    redrawing the figure). `show(...)` returns the figure itself; its `savefig(file, format="png")` writes the
    blitted canvas (what `lecture_utils.demos.Demo` calls).

    Left: return on the target and on the source against the width, the chosen width marked.
    Right: the target's k/m and delay against the training range at that width.
    """

    def __init__(self, widths, colors: dict):
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        self.widths, self.colors = np.asarray(widths, float), colors
        self.fig = Figure(figsize=(10, 3.8))  # not pyplot: nothing leaks into the notebook's outputs
        self.canvas = FigureCanvasAgg(self.fig)
        self.fig.subplots_adjust(left=0.06, right=0.99, bottom=0.13, top=0.92, wspace=0.2)
        ax1, ax2 = self.ax1, self.ax2 = self.fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.25, 1]})
        zeros = np.zeros_like(self.widths)
        (self.tgt,) = ax1.plot(self.widths, zeros, "-", label="0-shot return on the target")
        (self.src,) = ax1.plot(self.widths, zeros, "--", label="return on the source")
        self.limit = ax1.axhline(0.0, color=colors["target-trained"], ls=":",
                                 label="trained on the five real carts")
        (self.dots,) = ax1.plot([0.0, 0.0], [0.0, 0.0], "o", ms=8)
        self.vline = ax1.axvline(0.0, color="0.6", lw=0.8)
        self.arrow = ax1.annotate("", xy=(0, 0), xytext=(0, 0), arrowprops={"arrowstyle": "<->", "color": "0.4"})
        ax1.set(xlabel="randomization width w", ylabel="return (0 target episodes)", ylim=(0, 100))
        ax1.legend(fontsize=7, loc="upper center", ncol=3)  # above every return (the highest is below 90)
        (self.range_edge,) = ax2.plot([], [], lw=1)
        self.stars = ax2.scatter([1.0], [0.0], marker="*", s=160, color=colors["real carts"], zorder=3,
                                 label="target cart(s)")
        ax2.scatter([1.0], [0.0], marker="s", color="k", zorder=3, label="source")
        ax2.set(xscale="log", xlim=(0.04, 25), ylim=(-0.4, 5.4), xlabel="motor gain / mass  (k / m)",
                ylabel="delay d (steps)", title="The target's physics against the training range")
        self.range_text = ax2.text(0.03, 0.97, "", transform=ax2.transAxes, va="top", fontsize=9)
        ax2.legend(fontsize=7, loc="upper right")
        self.moving = [self.range_edge, self.tgt, self.src, self.limit, self.vline, self.dots, self.arrow,
                       self.stars, self.range_text]
        for artist in self.moving:
            artist.set_animated(True)  # left out of the background, drawn by `show`
        self.patches = []  # the std bands and the range: new each time
        self.backgrounds = {}
        for family in FAMILIES:  # both backgrounds now: switching families costs no more than moving the slider
            self._background(family)

    def _background(self, family: str):
        if family not in self.backgrounds:
            self.ax1.set_title(f"{family} ranges: what diversity buys and what it costs")
            for handle in self.ax1.get_legend().legend_handles[:2]:
                handle.set_color(self.colors[family])
            self.canvas.draw()
            self.backgrounds[family] = self.canvas.copy_from_bbox(self.fig.bbox)
        return self.backgrounds[family]

    def show(self, width: float, family: str, target: str, table: dict, params: np.ndarray):
        widths, c = self.widths, self.colors[family]
        i = int(np.flatnonzero(np.isclose(widths, width))[0])
        tgt, src = table["target"][family][target], table["source"][family]
        for patch in self.patches:
            patch.remove()
        self.patches = []
        for line, runs in ((self.tgt, tgt), (self.src, src)):
            mean, std = runs.mean(axis=1), runs.std(axis=1)
            line.set_ydata(mean)
            line.set_color(c)
            self.patches.append(self.ax1.fill_between(widths, mean - std, mean + std, color=c, alpha=0.15, lw=0))
        self.dots.set_data([width, width], [tgt[i].mean(), src[i].mean()])
        self.dots.set_color(c)
        self.limit.set_ydata([table["limit"][target]] * 2)
        self.vline.set_xdata([width, width])
        self.arrow.xy, self.arrow.xyann = (width, tgt[i].mean()), (width, src[i].mean())
        low, high = dr.param_ranges(width, family == "two-sided")
        km, d = (low[2] / high[0], high[2] / low[0]), (low[3], high[3])
        self.patches.append(self.ax2.fill_between(km, [d[0]] * 2, [d[1]] * 2, color=c, alpha=0.25, lw=0))
        self.range_edge.set_data([km[0], km[1], km[1], km[0], km[0]], [d[0], d[0], d[1], d[1], d[0]])
        self.range_edge.set_color(c)
        self.range_text.set_text(f"{family} training range, w = {width:g}")
        self.range_text.set_color(c)
        self.stars.set_offsets(np.column_stack([params[:, 2] / params[:, 0], params[:, 3]]))
        for patch in self.patches:
            patch.set_animated(True)
        self.canvas.restore_region(self._background(family))
        for artist in self.patches + self.moving:
            artist.axes.draw_artist(artist)
        return self

    def savefig(self, file, format: str = "png") -> None:
        """The blitted canvas as an image file (what `Demo` stores and shows)."""
        from PIL import Image

        Image.fromarray(np.asarray(self.canvas.buffer_rgba())).save(file, format=format)


def randomization_demo(sweep, colors: dict | None = None, width: float = 1.0, family: str = "one-sided",
                       target: str = ALL_FIVE, draw_figure: bool = True):
    """The section's live demo: a SelectionSlider for the training width (the sweep's widths), toggles for
    one-/two-sided ranges, a dropdown of target carts (`target_presets`). Returns a `lecture_utils.demos.Demo`
    with attributes `width`, `family`, `target` (the controls) and `table` (the precomputed returns)."""
    from lecture_utils.demos import Demo

    _check_sweep(sweep)
    widths = [float(w) for w in sweep.widths]
    if not any(np.isclose(width, w) for w in widths):
        raise ValueError(f"width must be one of the sweep's widths {widths}, got {width!r}")
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
    presets = target_presets()
    if target not in presets:
        raise ValueError(f"target must be one of {list(presets)}, got {target!r}")
    colors = {**COLORS, **(colors or {})}
    table = precompute(sweep, presets)
    table["widths"] = np.asarray(widths)
    style = {"description_width": "initial"}
    w_slider = widgets.SelectionSlider(options=[(f"{w:g}", w) for w in widths],
                                       value=widths[int(np.argmin(np.abs(np.array(widths) - width)))],
                                       description="training width w", continuous_update=False, style=style,
                                       layout=widgets.Layout(width="420px"))
    fam = widgets.ToggleButtons(options=list(FAMILIES), value=family, description="ranges", style=style)
    pick = widgets.Dropdown(options=list(presets), value=target, description="target cart", style=style,
                            layout=widgets.Layout(width="520px"))

    panels = DemoFigure(widths, colors) if draw_figure else None

    def render(demo):
        w, f, t = w_slider.value, fam.value, pick.value
        params = presets[t]
        text = summary_html(w, f, t, table, params)
        if not draw_figure:
            return None, text, ""
        fig = panels.show(w, f, t, table, params)
        return fig, text, f"0-shot return against width ({f}), w = {w:g}, target: {t}"

    demo = Demo([w_slider, fam, pick], render, rows=[[w_slider], [fam], [pick]], figure_height="390px")
    demo.width, demo.family, demo.target, demo.table = w_slider, fam, pick, table
    return demo


def bench_cases():
    sweep = dr.train_sweep(np.array([0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0]), n_seeds=3, generations=60)
    demo = randomization_demo(sweep)

    def wider(d):
        "width slider moved one step wider"
        d.width.index = (d.width.index + 1) % len(d.width.options)

    def two_sided(d):
        "ranges switched to two-sided"
        d.family.value = "two-sided"

    def other_target(d):
        "target cart picked: a lighter cart"
        d.target.value = [name for name in d.target.options if "lighter" in name][0]

    return [("01 domain randomization width", demo, [wider, two_sided, other_target])]
