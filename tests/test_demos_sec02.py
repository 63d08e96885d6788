"""Section 02's demo: the entropy-weight slider redraws the direction histogram and the fine-tuning costs."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import ipywidgets as widgets  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from lecture_utils.checkpoints import load_sec02  # noqa: E402
from lecture_utils.demos import sec02  # noqa: E402


@pytest.fixture(scope="module")
def ck():
    return load_sec02()


@pytest.fixture(scope="module")
def angles(ck):
    return sec02.direction_table(ck, n_envs=50)


def test_structure_and_options(ck, angles):
    demo = sec02.entropy_demo(ck, angles, draw=False)
    assert isinstance(demo.slider, widgets.SelectionSlider) and demo.slider.continuous_update is False
    assert [v for _, v in demo.slider.options] == [float(a) for a in ck["config"]["alphas"]]
    assert demo.slider.value == 0.2 and "alpha = 0.2" in demo.summary.value
    assert angles.shape == (len(ck["config"]["alphas"]), ck["config"]["seeds"] * 50)


def test_every_alpha_changes_summary_and_figure(ck, angles):
    demo = sec02.entropy_demo(ck, angles)
    seen_text, seen_png = {demo.summary.value}, {demo.png}
    for _, alpha in demo.slider.options:
        if alpha == demo.slider.value:
            continue
        demo.slider.value = alpha
        assert f"alpha = {alpha:g}" in demo.summary.value
        seen_text.add(demo.summary.value)
        seen_png.add(demo.png)
    n = len(demo.slider.options)
    assert len(seen_text) == n and len(seen_png) == n
    assert demo.output.outputs[0]["data"]["image/png"] == demo.png


def test_summary_numbers_come_from_the_table(ck, angles):
    demo = sec02.entropy_demo(ck, angles, alpha=0.0, draw=False)
    reach = np.asarray(ck["reach"], float).mean(-1)
    i = ck["config"]["alphas"].index(0.0)
    assert f"mean over 8 directions: {reach[i].mean():.1f}" in demo.summary.value
    assert f"scratch: {reach[-1].mean():.1f}" in demo.summary.value


def test_bad_arguments_get_clear_errors(ck, angles):
    with pytest.raises(ValueError, match="alpha must be one of"):
        sec02.entropy_demo(ck, angles, alpha=0.3)
    with pytest.raises(ValueError, match="one row per entropy weight"):
        sec02.entropy_demo(ck, angles[:2])
    with pytest.raises(ValueError, match="n_envs must be a positive int"):
        sec02.direction_table(ck, n_envs=0)


def test_bench_cases_interact():
    (name, demo, interactions), = sec02.bench_cases()
    before = demo.summary.value
    for act in interactions:
        act(demo)
        assert demo.summary.value != before
        before = demo.summary.value
