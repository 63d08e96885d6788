"""The successor-features widget demo: moving a slider changes the summary text (and redraws)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import ipywidgets as widgets  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from lecture_utils.envs.gridworld import FourRooms  # noqa: E402
from lecture_utils.widgets import sf_demo  # noqa: E402


@pytest.fixture(scope="module")
def env():
    return FourRooms()


def test_sf_demo_structure(env):
    demo = sf_demo(env, w0=(0.5, 0.5, 0.5), draw=False)
    assert isinstance(demo, widgets.VBox)
    assert len(demo.sliders) == env.d and all(isinstance(s, widgets.FloatSlider) for s in demo.sliders)
    assert isinstance(demo.summary, widgets.HTML) and isinstance(demo.output, widgets.Output)
    assert demo.sliders[0] in demo.children[0].children and demo.summary in demo.children
    assert "GPI return" in demo.summary.value and "optimal" in demo.summary.value


def test_changing_a_slider_changes_the_summary(env):
    demo = sf_demo(env, w0=(0.5, 0.5, 0.5), draw=False)
    before = demo.summary.value
    demo.sliders[1].value = -0.9
    after = demo.summary.value
    assert after != before
    demo.sliders[1].value = 0.5
    assert demo.summary.value == before  # a pure function of w'


def test_changing_a_slider_redraws_the_figure(env):
    demo = sf_demo(env, w0=(0.2, -0.3, 0.4))
    (before,) = demo.output.outputs
    assert before["output_type"] == "display_data" and "image/png" in before["data"]
    demo.sliders[2].value = -0.8
    (after,) = demo.output.outputs
    assert after["data"]["image/png"] != before["data"]["image/png"]
    assert "-0.80" in after["data"]["text/plain"]


def test_sf_demo_rejects_wrong_w0(env):
    with pytest.raises(ValueError, match=r"w0 must have shape \(3,\)"):
        sf_demo(env, w0=(1.0, 2.0), draw=False)


def test_summary_numbers_are_exact(env):
    from lecture_utils import sf_plots
    from lecture_utils import successor_features as sf

    policies, psis = sf.family(env, np.eye(3), 0.95)
    s = sf_plots.gpi_summary(env, policies, psis, np.array([1.0, -1.0, 0.3]), 0.95)
    assert s["random"] < s["gpi"] <= s["optimal"] + 1e-12
    assert np.all(s["family"] <= s["gpi"] + 1e-10)
