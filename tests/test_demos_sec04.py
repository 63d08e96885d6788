"""Section 04's demo (play the bandit): each button changes the game, the summary and the figure; bad input is
refused with one line; the agents' advice matches the library's policies."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from lecture_utils import bandits as bd  # noqa: E402
from lecture_utils.demos import sec04  # noqa: E402


@pytest.fixture(scope="module")
def policy():
    from lecture_utils.checkpoints import load_rl2

    return load_rl2(2, 10)[0]


def test_each_button_changes_summary_and_figure(policy):
    demo = sec04.bandit_demo(policy=policy)
    (fig0,) = demo.output.outputs
    text0 = demo.summary.value
    assert "Next pull from your belief" in text0 and "Bayes-optimal" in text0 and "RL^2" in text0
    for button in (*demo.arm_buttons, demo.reset_button):
        before_text, (before_fig,) = demo.summary.value, demo.output.outputs
        button.click()
        (after_fig,) = demo.output.outputs
        assert demo.summary.value != before_text
        assert after_fig["data"]["image/png"] != before_fig["data"]["image/png"]
    assert demo.game.t == 0 and fig0["data"]["image/png"]  # the reset started a new task
    before = demo.summary.value
    demo.reset_button.click()  # a reset before any pull still shows that a new task began
    assert demo.summary.value != before and "Task 3" in demo.summary.value


def test_a_trial_ends_after_H_pulls_and_the_buttons_are_disabled(policy):
    demo = sec04.bandit_demo(H=10, draw=False, policy=policy)
    for _ in range(10):
        demo.arm_buttons[1].click()
    assert demo.game.over and all(b.disabled for b in demo.arm_buttons)
    assert "Trial over" in demo.summary.value and "new task" in demo.summary.value
    demo.arm_buttons[0].click()  # ignored
    assert demo.game.t == 10
    demo.reset_button.click()
    assert demo.game.t == 0 and not any(b.disabled for b in demo.arm_buttons)
    with pytest.raises(ValueError, match="trial is over"):
        g = demo.game
        for _ in range(11):
            g.pull(0)


def test_agents_play_alongside_and_regret_is_consistent(policy):
    game = sec04.BanditGame(H=10, seed=3, policy=policy)
    for arm in (0, 1, 1, 0, 1):
        game.pull(arm)
    assert game.t == 5 and all(len(pl["arms"]) == 5 for pl in game.agents.values())
    reg = game.regret(game.you)
    gap = game.p.max() - game.p.min()
    assert reg[0] == 0 and np.all(np.diff(reg) >= 0) and np.isclose(reg[-1], gap * sum(
        a != int(np.argmax(game.p)) for a in game.you["arms"]))
    adv = game.advice()
    for name in sec04.AGENTS:
        assert np.isclose(adv[name].sum(), 1.0)
    q = bd.BayesOptimal(2, 10).q_values(game.you["s"], game.you["f"])
    assert np.allclose(adv["q"], q)


def test_bad_arguments_are_refused_in_one_line(policy):
    with pytest.raises(ValueError, match="H must be a positive int"):
        sec04.BanditGame(H=0, policy=policy)
    game = sec04.BanditGame(policy=policy)
    with pytest.raises(ValueError, match="arm must be 0 or 1"):
        game.pull(2)


def test_bench_cases_drive_the_demo():
    (name, demo, interactions), = sec04.bench_cases()
    assert name.startswith("04")
    for act in interactions:
        before = demo.summary.value
        act(demo)
        assert demo.summary.value != before
