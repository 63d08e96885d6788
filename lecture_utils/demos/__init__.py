"""Live demos for class: the audience moves a control, the slide's idea answers at once.

One module per section (`sec01`, `sec02`, `sec04`, `sec05`; section 03's is `lecture_utils.widgets.sf_demo`).
Each builds a `Demo`: controls on top, a one-line summary, a figure, redrawn by `update()` whenever a
control changes. What is slow (training, tables) is computed once when the demo is built; an interaction
only evaluates (the budget is 0.5 s on 2 cores, measured by `lecture bench --demos`).

A `Demo` also renders without a live kernel: its display bundle carries a PNG of the figure as it was
last drawn, so a saved notebook, GitHub or the course website shows the default state as a static image,
while JupyterLab (which prefers the widget) shows the live demo.

Each section module defines `bench_cases()`: [(name, demo, [interaction, ...])], where an interaction is a
function of the demo that changes one control the way a student would (the control's observer redraws).
"""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Callable, Sequence

import ipywidgets as widgets


def figure_png(fig) -> str:
    """A matplotlib Figure as base64 PNG."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def png_output(png: str, alt: str) -> dict:
    """A base64 PNG as one nbformat display_data output (PNG + a text fallback)."""
    return {"output_type": "display_data", "metadata": {},
            "data": {"image/png": png, "text/plain": f"<figure: {alt}>"}}


class Demo(widgets.VBox):
    """Controls, a summary line and a figure. `render(demo)` returns (matplotlib Figure or None, summary
    HTML, alt text); it is called on every change of a control's value (buttons call `update` themselves).

    Attributes: `controls`, `summary` (HTML), `output` (Output), `update()`, `last_update_s` (seconds the
    last redraw took), `png` (the last figure, base64)."""

    def __init__(self, controls: Sequence[widgets.Widget], render: Callable, *, figure_height: str = "420px",
                 rows: Sequence[Sequence[widgets.Widget]] | None = None):
        self.controls = list(controls)
        self.summary = widgets.HTML(value="")
        self.output = widgets.Output(layout=widgets.Layout(min_height=figure_height))
        self._render = render
        self.png = ""
        self.last_update_s = 0.0
        top = [widgets.HBox(list(r)) for r in rows] if rows is not None else [widgets.HBox(self.controls)]
        super().__init__([*top, self.summary, self.output])
        for control in self.controls:
            if not isinstance(control, widgets.Button):
                control.observe(self.update, names="value")
        self.update()

    def update(self, change=None) -> None:
        t0 = time.perf_counter()
        fig, text, alt = self._render(self)
        self.summary.value = text
        if fig is not None:
            self.png = figure_png(fig)
            # Written into the Output widget's state (not `with output:`), so the demo behaves the same in
            # JupyterLab, under nbclient/nbval and in plain Python.
            self.output.outputs = (png_output(self.png, alt),)
        self.last_update_s = time.perf_counter() - t0

    def _repr_mimebundle_(self, **kwargs):
        data = super()._repr_mimebundle_(**kwargs)
        if data is not None and self.png:
            data["image/png"] = self.png  # the static view: the default state, for renderers without widgets
        return data


def time_interactions(cases) -> list[dict]:
    """Run each case's interactions once; seconds from the control's change to the redrawn output."""
    rows = []
    for name, demo, interactions in cases:
        for i, act in enumerate(interactions):
            t0 = time.perf_counter()
            act(demo)
            rows.append({"demo": name, "interaction": getattr(act, "__doc__", None) or f"#{i + 1}",
                         "seconds": time.perf_counter() - t0})
    return rows
