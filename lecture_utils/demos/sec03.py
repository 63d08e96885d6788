"""Section 03's demo: sliders for the new task w' redraw the GPI policy (`lecture_utils.widgets.sf_demo`)."""

from __future__ import annotations

from lecture_utils.widgets import sf_demo


def bench_cases():
    demo = sf_demo()

    def move_w0(d):
        "w'[a] slider moved"
        d.sliders[0].value = -0.4

    def move_w2(d):
        "w'[c] slider moved"
        d.sliders[2].value = 0.9

    return [("03 GPI on a new task w'", demo, [move_w0, move_w2])]
