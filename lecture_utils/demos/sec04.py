"""Section 04's demo: play the bandit yourself.

A hidden two-armed Bernoulli task p ~ U[0, 1]^2 and a trial of H pulls. Click an arm: see the reward, watch
the Beta beliefs sharpen, and beside them what three agents would pull next *from your belief*: the
Bayes-optimal policy (the DP of section 3), Thompson sampling (the probability it picks each arm) and the
shipped RL^2 network (its softmax, after your history has been fed through its GRU). Each agent also plays the
same task on its own, one pull per click, and the figure shows the running regret of each next to yours.

Precomputed when the demo is built: the DP table (a few hundred beliefs) and the RL^2 checkpoint. A click is
one Bayes update, one GRU step per agent, and a redraw.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from lecture_utils import bandits as bd
from lecture_utils import rl2

AGENTS = ("Bayes-optimal", "Thompson", "RL^2")
COLORS = bd.COLORS  # one colour per method, as in the notebook's figures


class BanditGame:
    """The state of one game: the hidden task, your counts and pulls, and each agent playing alongside.

    Pure Python/NumPy/torch (no widgets): `pull(arm)` and `new_task()` change it; `advice()` and `regret()` read it.
    """

    def __init__(self, H: int = 10, seed: int = 0, policy=None):
        if not isinstance(H, (int, np.integer)) or H < 1:
            raise ValueError(f"H must be a positive int (pulls per task), got {H!r}")
        if policy is None:
            from lecture_utils.checkpoints import load_rl2

            policy, _, _ = load_rl2(2, H)
        if policy.k != 2:
            raise ValueError(f"the RL^2 policy must be for k = 2 arms, got k = {policy.k}")
        self.H, self.policy = int(H), policy
        self.optimal = bd.BayesOptimal(2, self.H)
        self.optimal.value()  # fills the DP table once
        self.rng = np.random.default_rng(seed)
        self.task_number = 0
        self.new_task()

    # ------------------------------------------------------------------------------------ game moves

    def new_task(self) -> None:
        """A fresh hidden task; your counts and every agent start over."""
        self.task_number += 1
        self.p = bd.sample_tasks(self.rng, 1, 2)[0]
        self.task_rng = np.random.default_rng(self.rng.integers(2**31))
        self.you = self._player()
        self.agents = {name: self._player() for name in AGENTS}
        self.last = None  # (arm, reward) of your last pull

    def _player(self) -> dict:
        return {"s": np.zeros(2, dtype=int), "f": np.zeros(2, dtype=int), "arms": [], "rewards": [],
                "h": self.policy.initial_state(1), "x": self._x(-1, 0.0, 0.0, 0)}

    def _x(self, a: int, r: float, d: float, t: int) -> torch.Tensor:
        base = rl2.rl2_inputs(torch.tensor([a]), torch.tensor([r]), torch.tensor([d]), 2)
        return torch.cat([base, torch.full((1, 1), t / self.H)], dim=1)

    @property
    def t(self) -> int:
        return len(self.you["arms"])

    @property
    def over(self) -> bool:
        return self.t >= self.H

    def _apply(self, pl: dict, arm: int) -> float:
        r = float(self.task_rng.random() < self.p[arm])
        (pl["s"] if r else pl["f"])[arm] += 1
        with torch.no_grad():  # the RL^2 belief of this history: one GRU step on what the last pull was
            _, _, pl["h"] = self.policy.step(pl["x"], pl["h"])
        pl["arms"].append(arm)
        pl["rewards"].append(r)
        pl["x"] = self._x(arm, r, 1.0, len(pl["arms"]))
        return r

    def pull(self, arm: int) -> float:
        """Your pull of `arm` (0 or 1); each agent then makes its own next pull. Returns your reward."""
        if arm not in (0, 1):
            raise ValueError(f"arm must be 0 or 1, got {arm!r}")
        if self.over:
            raise ValueError(f"the trial is over ({self.H} pulls): start a new task")
        for name, pl in self.agents.items():
            self._apply(pl, self._agent_action(name, pl))
        r = self._apply(self.you, arm)
        self.last = (arm, r)
        return r

    # -------------------------------------------------------------------------------------- reading

    def _rl2_probs(self, pl: dict) -> np.ndarray:
        with torch.no_grad():
            logits, _, _ = self.policy.step(pl["x"], pl["h"])
        probs = torch.softmax(logits[0].double(), dim=0).numpy()
        return probs / probs.sum()

    def _agent_action(self, name: str, pl: dict) -> int:
        if name == "Bayes-optimal":
            q = self.optimal.q_values(pl["s"], pl["f"]) if len(pl["arms"]) < self.H else np.zeros(2)
            best = np.flatnonzero(q >= q.max() - 1e-9)
            return int(self.task_rng.choice(best))
        if name == "Thompson":
            return int(np.argmax(self.task_rng.beta(1 + pl["s"], 1 + pl["f"])))
        return int(self.task_rng.choice(2, p=self._rl2_probs(pl)))

    def advice(self) -> dict:
        """What each agent would pull next from *your* history: {name: (probability of arm 0, of arm 1)}, and
        'q': the Bayes-optimal expected reward of the rest of the trial after each arm."""
        if self.over:
            raise ValueError(f"the trial is over ({self.H} pulls): no next pull")
        s, f = self.you["s"], self.you["f"]
        q = self.optimal.q_values(s, f)
        best = q >= q.max() - 1e-9
        draws = np.random.default_rng(0).beta(1 + s, 1 + f, size=(4000, 2))
        p_ts = np.bincount(np.argmax(draws, axis=1), minlength=2) / len(draws)
        return {"Bayes-optimal": best / best.sum(), "Thompson": p_ts, "RL^2": self._rl2_probs(self.you),
                "q": q}

    def regret(self, pl: dict) -> np.ndarray:
        """Running (expected) regret after each pull: sum_t (max_a p_a - p_{a_t}). [pulls + 1], starting at 0."""
        gap = self.p.max() - self.p[np.asarray(pl["arms"], dtype=int)]
        return np.concatenate([[0.0], np.cumsum(gap)])


def beta_pdf(x: np.ndarray, a: float, b: float) -> np.ndarray:
    """The Beta(a, b) density at x (a, b >= 1)."""
    log_norm = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
    x = np.clip(x, 1e-9, 1.0 - 1e-9)
    return np.exp(log_norm + (a - 1) * np.log(x) + (b - 1) * np.log1p(-x))


def render_game(game: BanditGame, fig=None):
    """Two panels: your Beta beliefs (left) and the running regret of you and each agent (right)."""
    from matplotlib.figure import Figure

    fig = fig or Figure(figsize=(8.0, 3.2))
    ax_b, ax_r = fig.subplots(1, 2)
    x = np.linspace(0.0, 1.0, 201)
    for arm, c in zip((0, 1), ("tab:olive", "tab:brown")):
        a, b = 1 + game.you["s"][arm], 1 + game.you["f"][arm]
        ax_b.plot(x, beta_pdf(x, a, b), color=c, label=f"arm {arm}: Beta({a}, {b})")
        if game.over:
            ax_b.axvline(game.p[arm], color=c, ls=":", lw=1)
    ax_b.set_ylim(0.0, None)
    ax_b.set(xlabel="p of the arm", ylabel="belief density", title=f"your belief after {game.t} pulls"
             + (" (dotted: the true p)" if game.over else ""))
    ax_b.legend(loc="upper left", fontsize=8)
    for name, pl in [("you", game.you), *game.agents.items()]:
        reg = game.regret(pl)
        ax_r.plot(np.arange(len(reg)), reg, "o-", ms=3, color=COLORS[name], label=name.replace("RL^2", "RL$^2$"),
                  lw=2.5 if name == "you" else 1.2)
    ax_r.set(xlabel="pull t", ylabel="regret (expected reward lost)", xlim=(0, game.H),
             title="running regret on this task")
    ax_r.legend(loc="upper left", fontsize=8)
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.15, top=0.9, wspace=0.25)
    return fig


def summary_html(game: BanditGame) -> str:
    if game.last is None:
        head = f"Task {game.task_number}: two arms with hidden p. Pull 0 of {game.H}."
    else:
        arm, r = game.last
        total = int(sum(game.you["rewards"]))
        head = (f"Task {game.task_number}: you pulled arm {arm}, <b>reward {int(r)}</b>. Pull {game.t} of {game.H}, "
                f"total {total}.")
    if game.over:
        head += (f" Trial over: p = ({game.p[0]:.2f}, {game.p[1]:.2f}); your regret "
                 f"{game.regret(game.you)[-1]:.2f}, " + ", ".join(
                     f"{n} {game.regret(pl)[-1]:.2f}" for n, pl in game.agents.items()) + ". Press 'new task'.")
        return head
    adv = game.advice()
    q = adv["q"]
    nxt = " &nbsp;|&nbsp; ".join(f"{n}: arm 0 {adv[n][0]:.0%}, arm 1 {adv[n][1]:.0%}" for n in AGENTS)
    return (f"{head}<br>Next pull from your belief &mdash; {nxt} &nbsp;(Bayes-optimal expected rest of the trial: "
            f"arm 0 {q[0]:.2f}, arm 1 {q[1]:.2f})")


def bandit_demo(H: int = 10, seed: int = 0, draw: bool = True, policy=None):
    """Play a two-armed bandit: buttons 'new task', 'pull arm 0', 'pull arm 1'; a `lecture_utils.demos.Demo`.

    Attributes: `game` (BanditGame), `arm_buttons`, `reset_button`, `summary`, `output`, `update()`.
    `draw=False` skips the figure (for tests).
    """
    import ipywidgets as widgets

    from lecture_utils.demos import Demo

    game = BanditGame(H, seed, policy)
    arm_buttons = [widgets.Button(description=f"pull arm {a}", button_style="info") for a in (0, 1)]
    reset_button = widgets.Button(description="new task", button_style="warning")

    def render(demo):
        for b in arm_buttons:
            b.disabled = game.over
        if not draw:
            return None, summary_html(game), ""
        fig = render_game(game)
        return fig, summary_html(game), f"bandit game after {game.t} pulls"

    demo = Demo([reset_button, *arm_buttons], render, figure_height="380px")

    def on_pull(arm):
        def handler(_button=None):
            if not game.over:
                game.pull(arm)
                demo.update()
        return handler

    def on_reset(_button=None):
        game.new_task()
        demo.update()

    for a, b in enumerate(arm_buttons):
        b.on_click(on_pull(a))
    reset_button.on_click(on_reset)
    demo.game, demo.arm_buttons, demo.reset_button = game, arm_buttons, reset_button
    return demo


def bench_cases():
    demo = bandit_demo()

    def pull0(d):
        "clicked 'pull arm 0'"
        d.arm_buttons[0].click()

    def pull1(d):
        "clicked 'pull arm 1'"
        d.arm_buttons[1].click()

    def reset(d):
        "clicked 'new task'"
        d.reset_button.click()

    return [("04 play the bandit", demo, [pull0, pull1, pull1, reset])]
