"""Section 05's demo: every control changes what is shown; bad arguments get one clear line."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from lecture_utils.demos import sec05  # noqa: E402


@pytest.fixture(scope="module")
def demo():
    torch.set_num_threads(1)
    return sec05.maml_demo()


def test_demo_structure(demo):
    import ipywidgets as widgets

    assert [type(c) for c in demo.controls] == [widgets.FloatSlider] * 3 + [widgets.IntSlider]
    assert all(not c.continuous_update for c in demo.controls)
    assert "MAML" in demo.summary.value and "pretrained" in demo.summary.value and "oracle" in demo.summary.value
    (out,) = demo.output.outputs
    assert "image/png" in out["data"] and demo.png
    r = demo.result()
    assert set(r["returns"]) == {"MAML", "pretrained"}
    assert r["returns"]["MAML"].shape == (4,) and r["paths"]["MAML"].shape == (4, 20, 101, 2)


@pytest.mark.parametrize("control, value", [("goal_x", -0.35), ("goal_y", 0.4), ("alpha", 1.0), ("steps", 3)])
def test_every_control_changes_summary_and_figure(demo, control, value):
    slider = getattr(demo, control)
    old_value, old_text, old_png = slider.value, demo.summary.value, demo.png
    slider.value = value
    assert demo.summary.value != old_text and demo.png != old_png
    slider.value = old_value
    assert demo.summary.value == old_text  # a pure function of the controls (fixed noise seed)


def test_adaptation_helps_maml_on_its_goal(demo):
    r = demo.result()["returns"]
    assert r["MAML"][1] > r["MAML"][0] + 10  # one step from MAML's theta is a large gain on any goal


def test_alpha_zero_changes_nothing():
    d = sec05.maml_demo(alpha=0.0, steps=3, draw_figure=False)
    r = d.result()["returns"]
    for name in ("MAML", "pretrained"):  # zero step size: the policy never moves, only sampling noise differs
        assert np.ptp(r[name]) < 5


@pytest.mark.parametrize("kwargs, match", [
    ({"seed": 7}, "seed must be one of the shipped training seeds"),
    ({"goal": (0.9, 0.0)}, r"goal must lie in the task family's square"),
    ({"goal": (0.1,)}, r"goal must be two numbers"),
    ({"steps": 4}, r"steps must be an integer in 0..3"),
    ({"alpha": -1.0}, r"alpha must lie in \[0, 2\]"),
    ({"n_traj": 0}, "n_traj must be a positive integer"),
])
def test_bad_arguments_get_one_clear_line(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sec05.maml_demo(draw_figure=False, **kwargs)


def test_bench_cases_contract():
    (name, d, interactions), = sec05.bench_cases()
    assert name.startswith("05") and len(interactions) == 4
    for act in interactions:
        before = d.summary.value
        act(d)
        assert d.summary.value != before and d.last_update_s > 0
