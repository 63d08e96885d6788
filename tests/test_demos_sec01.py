"""Section 01's live demo: width slider, ranges toggle and target picker each change what the demo shows."""

import numpy as np
import pytest

import lecture_utils.domain_randomization as dr
from lecture_utils.demos.sec01 import ALL_FIVE, bench_cases, precompute, randomization_demo, target_presets


@pytest.fixture(scope="module")
def sweep():
    return dr.train_sweep(np.array([0.0, 1.0, 2.0]), n_seeds=2, generations=4)


def test_each_control_changes_the_summary_and_the_figure(sweep):
    demo = randomization_demo(sweep)
    assert demo.png and "w = 1, one-sided" in demo.summary.value
    seen = {(demo.summary.value, demo.png)}
    for change in (lambda: setattr(demo.width, "value", 2.0), lambda: setattr(demo.family, "value", "two-sided"),
                   lambda: setattr(demo.target, "value", demo.target.options[1])):
        change()
        now = (demo.summary.value, demo.png)
        assert now[0] not in {s for s, _ in seen} and now[1] not in {p for _, p in seen}
        seen.add(now)
    assert demo.last_update_s > 0


def test_the_table_is_the_zero_shot_protocol(sweep):
    table = precompute(sweep, target_presets())
    got = table["target"]["one-sided"][ALL_FIVE]  # [W, S]
    np.testing.assert_allclose(got, dr.zero_shot_returns(sweep.one_sided), rtol=1e-12)
    want = [[dr.target_return(th) for th in row] for row in sweep.two_sided]
    np.testing.assert_allclose(table["target"]["two-sided"][ALL_FIVE], want, rtol=1e-12)
    np.testing.assert_allclose(table["source"]["one-sided"],
                               dr.zero_shot_returns(sweep.one_sided, dr.SOURCE_PARAMS), rtol=1e-12)


def test_the_summary_says_when_the_target_lies_outside_the_range(sweep):
    demo = randomization_demo(sweep, width=0.0, draw_figure=False)
    assert "mass ✗" in demo.summary.value and demo.png == ""
    demo.width.value = 2.0
    assert "✗" not in demo.summary.value  # w = 2 covers every real cart


@pytest.mark.parametrize("kwargs, msg", [({"width": 0.3}, "width must be one of"),
                                         ({"family": "both"}, "family must be one of"),
                                         ({"target": "cart 9"}, "target must be one of")])
def test_bad_arguments_get_a_clear_error(sweep, kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        randomization_demo(sweep, draw_figure=False, **kwargs)
    with pytest.raises(ValueError, match="dr.train_sweep"):
        randomization_demo(np.zeros((3, 3)))


def test_bench_cases_contract(monkeypatch, sweep):
    monkeypatch.setattr(dr, "train_sweep", lambda *a, **k: sweep)
    (name, demo, interactions), = bench_cases()
    for act in interactions:
        before = demo.summary.value
        act(demo)
        assert demo.summary.value != before and act.__doc__
