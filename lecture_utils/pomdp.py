"""Meta-RL posed as a POMDP: a family of MDPs M_1..M_n with a hidden task index.

The slide's construction, for a family of tabular MDPs M_i = (S_M, A, T_i, R_i) sharing S_M and A::

    S = S_M x {1..n},   s = (s_M, i),   O = S_M,   o = s_M

The task index i never changes within a trial, and the agent never sees it: it only sees s_M (and the
reward). What it can know about i is the belief b(i) = P(i | history), updated by Bayes' rule::

    b'(i)  proportional to  b(i) T_i(s' | s, a) P_i(r | s, a)

Rewards are Bernoulli: R[i, s, a] is the probability of r = 1 (0 or 1 for a deterministic reward).
Arrays: T [n, S, A, S], R [n, S, A], belief [n]. Task indices here are 0-based (the slides count 1..n).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np


@dataclass
class TaskFamily:
    """n tabular MDPs on one state space: T [n, S, A, S], R [n, S, A] (P(r = 1)), start state s0, prior [n]."""

    T: np.ndarray
    R: np.ndarray
    s0: int = 0
    prior: np.ndarray | None = None
    info: dict = field(default_factory=dict)  # layout for drawing, names

    def __post_init__(self):
        self.T, self.R = np.asarray(self.T, dtype=float), np.asarray(self.R, dtype=float)
        if self.T.ndim != 4 or self.T.shape[1] != self.T.shape[3] or self.R.shape != self.T.shape[:3]:
            raise ValueError(f"need T [n, S, A, S] and R [n, S, A], got {self.T.shape} and {self.R.shape}")
        if not np.allclose(self.T.sum(-1), 1.0):
            raise ValueError("every T_i(. | s, a) must sum to 1")
        if self.prior is None:
            self.prior = np.full(self.n_tasks, 1.0 / self.n_tasks)
        self.prior = np.asarray(self.prior, dtype=float)

    @property
    def n_tasks(self) -> int:
        return self.T.shape[0]

    @property
    def n_states(self) -> int:
        return self.T.shape[1]

    @property
    def n_actions(self) -> int:
        return self.T.shape[2]


# --------------------------------------------------------------------------- the POMDP construction


def augmented_states(fam: TaskFamily) -> np.ndarray:
    """S = S_M x {1..n} listed as rows (s_M, i): shape [S * n, 2]; row j is the state with index j."""
    s_M, i = np.meshgrid(np.arange(fam.n_states), np.arange(fam.n_tasks), indexing="ij")
    return np.stack([s_M.ravel(), i.ravel()], axis=1)


def state_index(fam: TaskFamily, s_M: int, i: int) -> int:
    """Index of s = (s_M, i) in augmented_states(fam)."""
    return s_M * fam.n_tasks + i


def pomdp_transition(fam: TaskFamily) -> np.ndarray:
    """T((s'_M, i') | (s_M, i), a) = T_i(s'_M | s_M, a) 1[i' = i]: shape [S n, A, S n]."""
    S, A, n = fam.n_states, fam.n_actions, fam.n_tasks
    T = np.zeros((S, n, A, S, n))
    for i in range(n):
        T[:, i, :, :, i] = fam.T[i]
    return T.reshape(S * n, A, S * n)


def pomdp_reward(fam: TaskFamily) -> np.ndarray:
    """R((s_M, i), a) = R_i(s_M, a): shape [S n, A]."""
    return fam.R.transpose(1, 0, 2).reshape(fam.n_states * fam.n_tasks, fam.n_actions)


def observation_matrix(fam: TaskFamily) -> np.ndarray:
    """O[(s_M, i), o] = 1[o = s_M]: the observation is the MDP state, the task index is hidden. [S n, S]."""
    aug = augmented_states(fam)
    O = np.zeros((len(aug), fam.n_states))
    O[np.arange(len(aug)), aug[:, 0]] = 1.0
    return O


def observe(fam: TaskFamily, s: int) -> int:
    """o = s_M for the augmented state with index s."""
    return int(augmented_states(fam)[s, 0])


# ------------------------------------------------------------------------------------------- belief


def belief_update(fam: TaskFamily, b: np.ndarray, s: int, a: int, r: float, s_next: int) -> np.ndarray:
    """Bayes' rule over the task index: b'(i) ∝ b(i) T_i(s' | s, a) P_i(r | s, a). Returns b' [n]."""
    b = np.asarray(b, dtype=float)
    if b.shape != (fam.n_tasks,):
        raise ValueError(f"belief must have shape [n_tasks] = [{fam.n_tasks}], got {b.shape}")
    p_r = fam.R[:, s, a] if r > 0.5 else 1.0 - fam.R[:, s, a]
    post = b * fam.T[:, s, a, s_next] * p_r
    z = post.sum()
    if z <= 0:
        raise ValueError("this transition has probability 0 under every task the belief allows")
    return post / z


def outcomes(fam: TaskFamily, b: np.ndarray, s: int, a: int):
    """The possible (s', r, probability, b') after action a in s under belief b."""
    p_r = np.stack([1.0 - fam.R[:, s, a], fam.R[:, s, a]], axis=-1)  # [n, 2]: P_i(r = 0), P_i(r = 1)
    lik = fam.T[:, s, a, :, None] * p_r[:, None, :]  # [n, S, 2]: T_i(s' | s, a) P_i(r | s, a)
    prob = np.tensordot(b, lik, axes=1)  # [S, 2]
    return [(s_next, float(r), float(prob[s_next, r]), b * lik[:, s_next, r] / prob[s_next, r])
            for s_next, r in zip(*np.nonzero(prob > 1e-12))]


# -------------------------------------------------------------------- policies that use the belief


class BayesOptimalPlanner:
    """Exact Bayes-optimal planning in the POMDP: dynamic programming over (s_M, belief, steps left).

    V(s, b, h) = max_a sum_{s', r} P(s', r | s, a, b) [r + V(s', b', h - 1)]. Beliefs are memoised after
    rounding; for families with deterministic dynamics and rewards there are at most 2^n of them.
    Among actions with the same expected total reward it prefers rewards sooner (a discounted tie-break),
    so it does not wait around when the horizon leaves slack.
    """

    def __init__(self, fam: TaskFamily, tie_gamma: float = 0.9):
        self.fam, self.tie_gamma = fam, tie_gamma
        self._V = lru_cache(maxsize=None)(self._value)

    @staticmethod
    def _key(b) -> tuple:
        return tuple(np.round(b, 12).tolist())

    def _best(self, q: np.ndarray) -> int:
        """q [A, 2] = (total, discounted): the best total, ties broken by the discounted value."""
        tied = np.flatnonzero(q[:, 0] >= q[:, 0].max() - 1e-9)
        return int(tied[np.argmax(q[tied, 1])])

    def _value(self, s: int, bkey: tuple, h: int) -> np.ndarray:
        if h == 0:
            return np.zeros(2)
        q = self._q(s, bkey, h)
        return q[self._best(q)]

    def _q(self, s: int, bkey: tuple, h: int) -> np.ndarray:
        b = np.array(bkey)
        q = np.zeros((self.fam.n_actions, 2))
        for a in range(self.fam.n_actions):
            for s_next, r, prob, b_next in outcomes(self.fam, b, s, a):
                v = self._V(s_next, self._key(b_next), h - 1)
                q[a, 0] += prob * (r + v[0])
                q[a, 1] += prob * (r + self.tie_gamma * v[1])
        return q

    def value(self, horizon: int, s: int | None = None, b=None) -> float:
        """Expected total reward of the Bayes-optimal policy over `horizon` steps (from the prior by default)."""
        s = self.fam.s0 if s is None else s
        return float(self._V(s, self._key(self.fam.prior if b is None else b), horizon)[0])

    def q_values(self, s, b, h) -> np.ndarray:
        """Expected total reward of each action, then acting Bayes-optimally: [A]."""
        return self._q(s, self._key(b), h)[:, 0]

    def act(self, s, b, h, rng) -> int:
        return self._best(self._q(s, self._key(b), h))


def task_q_values(fam: TaskFamily, horizon: int, gamma: float = 1.0) -> np.ndarray:
    """Q_i(s, a, h): optimal values with h steps left if the task were *known*: shape [n, horizon + 1, S, A].

    gamma < 1 makes sooner rewards worth more (it breaks ties between equally many goals in h steps).
    """
    n, S, A = fam.n_tasks, fam.n_states, fam.n_actions
    Q = np.zeros((n, horizon + 1, S, A))
    for h in range(1, horizon + 1):
        V = Q[:, h - 1].max(-1)  # [n, S]
        Q[:, h] = fam.R + gamma * np.einsum("isat,it->isa", fam.T, V)
    return Q


class MostLikelyTask:
    """Greedy (certainty-equivalent): act optimally for the most likely task i* = argmax_i b(i).

    It treats its best guess as the truth, so it never pays for information; it learns only by
    stumbling on evidence (reaching a cell where the goal is not).
    """

    def __init__(self, fam: TaskFamily, horizon: int, gamma: float = 0.95):
        self.Q = task_q_values(fam, horizon, gamma)

    def act(self, s, b, h, rng) -> int:
        q = self.Q[int(np.argmax(b)), h, s]
        return first_best(q)


class PosteriorSampling:
    """Posterior (Thompson) sampling: draw a task i ~ b, act optimally for M_i; redraw when i is ruled out
    or an episode ends."""

    def __init__(self, fam: TaskFamily, horizon: int, gamma: float = 0.95):
        self.fam, self.Q, self.i = fam, task_q_values(fam, horizon, gamma), None

    def act(self, s, b, h, rng) -> int:
        if self.i is None or b[self.i] == 0 or s == self.fam.s0:
            self.i = int(rng.choice(len(b), p=b))
        q = self.Q[self.i, h, s]
        return first_best(q)


def first_best(q: np.ndarray) -> int:
    """The first action whose value is within tolerance of the best (np.isclose(q, q.max(), atol=1e-9))."""
    top = q.max()
    return int(np.argmax(q >= top - (1e-9 + 1e-5 * abs(top))))


def run_trial(fam: TaskFamily, agent, task: int, horizon: int, rng: np.random.Generator) -> dict:
    """One trial of `horizon` steps in M_task. Returns states [H+1], actions [H], rewards [H], beliefs [H+1, n]."""
    s, b = fam.s0, fam.prior.copy()
    states, actions, rewards, beliefs = [s], [], [], [b]
    if hasattr(agent, "i"):
        agent.i = None
    for h in range(horizon, 0, -1):
        a = agent.act(s, b, h, rng)
        r = float(rng.random() < fam.R[task, s, a])
        s_next = int(rng.choice(fam.n_states, p=fam.T[task, s, a]))
        b = belief_update(fam, b, s, a, r, s_next)
        s = s_next
        states.append(s)
        actions.append(a)
        rewards.append(r)
        beliefs.append(b)
    return {"states": np.array(states), "actions": np.array(actions), "rewards": np.array(rewards),
            "beliefs": np.array(beliefs)}


# --------------------------------------------------------------------------------------- families


def bandit_family(P: np.ndarray) -> TaskFamily:
    """A bandit as a one-state MDP family: task i pays arm a with probability P[i, a]. P: [n, k]."""
    P = np.asarray(P, dtype=float)
    n, k = P.shape
    return TaskFamily(T=np.ones((n, 1, k, 1)), R=P[:, None, :], s0=0, info={"P": P})


MOVES = np.array([(-1, 0), (1, 0), (0, -1), (0, 1)])  # up, down, left, right
MOVE_NAMES = ("up", "down", "left", "right")

SIGNPOST_LAYOUT = (
    "####G####",
    "####.####",
    "####.####",
    "####.####",
    "G...S...G",
    "####.####",
    "####i####",
)


def signpost_family(layout=SIGNPOST_LAYOUT) -> TaskFamily:
    """Grid tasks where information costs steps: the goal is one of the cells marked G (one task per G).

    '#' is a wall. Reaching the goal pays r = 1, ends the episode and puts the agent back on the start S;
    the trial goes on.
    The signpost cell i reveals the goal: stepping on it leads to the MDP state "sign showing goal j" (one
    state of S_M per goal), so o = s_M tells the agent which task it is in, at the price of a detour.
    """
    rows, cols = len(layout), len(layout[0])
    cells = [(r, c) for r in range(rows) for c in range(cols) if layout[r][c] != "#"]
    goals = [(r, c) for r, c in cells if layout[r][c] == "G"]
    sign = next((r, c) for r, c in cells if layout[r][c] == "i")
    start = next((r, c) for r, c in cells if layout[r][c] == "S")
    n = len(goals)
    plain = [rc for rc in cells if rc != sign]
    index = {rc: j for j, rc in enumerate(plain)}  # S_M = plain cells + one "sign shows goal j" state per goal
    sign_states = [len(plain) + j for j in range(n)]
    S, A = len(plain) + n, len(MOVES)
    pos = plain + [sign] * n
    T = np.zeros((n, S, A, S))
    R = np.zeros((n, S, A))
    for i in range(n):
        for s in range(S):
            for a, (dr, dc) in enumerate(MOVES):
                r, c = pos[s][0] + dr, pos[s][1] + dc
                if not (0 <= r < rows and 0 <= c < cols) or layout[r][c] == "#":
                    r, c = pos[s]  # walls: stay
                if (r, c) == goals[i]:
                    T[i, s, a, index[start]] = 1.0  # goal reached: reward, episode ends, back to start
                    R[i, s, a] = 1.0
                elif (r, c) == sign:
                    T[i, s, a, sign_states[i]] = 1.0  # the signpost shows goal i: o = s_M reveals the task
                else:
                    T[i, s, a, index[(r, c)]] = 1.0
    info = {"layout": layout, "pos": pos, "goals": goals, "sign": sign, "start": start, "sign_states": sign_states}
    return TaskFamily(T=T, R=R, s0=index[start], info=info)


# ------------------------------------------------------------------------------------------- drawing


def draw_grid_trial(ax, fam: TaskFamily, trial: dict, task: int, steps: int | None = None, title: str = ""):
    """Draw the signpost grid (walls, goals, sign, start) and the path of `trial` in task `task`."""
    info = fam.info
    layout = info["layout"]
    rows, cols = len(layout), len(layout[0])
    walls = np.array([[ch == "#" for ch in row] for row in layout], dtype=float)
    ax.imshow(walls, cmap="Greys", vmin=0, vmax=1.4)
    for j, (r, c) in enumerate(info["goals"]):
        ax.text(c, r, "G" if j == task else "?", ha="center", va="center", fontsize=13,
                color="C2" if j == task else "0.5", fontweight="bold")
    ax.text(info["sign"][1], info["sign"][0], "i", ha="center", va="center", fontsize=13, color="C1",
            fontweight="bold")
    ax.text(info["start"][1], info["start"][0], "S", ha="center", va="center", fontsize=11, color="C0")
    states = trial["states"] if steps is None else trial["states"][: steps + 1]
    xy = np.array([info["pos"][s] for s in states], dtype=float)
    # a reward sends the agent back to S: break the line there instead of drawing the jump
    rewards = trial["rewards"][: len(states) - 1]
    jitter = 0.12 * np.sin(np.arange(len(xy)) * 0.7)[:, None]  # separate repeated passes a little
    start = 0
    for t in list(np.flatnonzero(rewards > 0)) + [len(states) - 1]:
        seg = xy[start: t + 1] + jitter[start: t + 1]
        if t < len(states) - 1 and rewards[t] > 0:
            goal = np.array(info["goals"][task], dtype=float)
            seg = np.vstack([seg, goal])
        ax.plot(seg[:, 1], seg[:, 0], color="C3", lw=1.5, alpha=0.8)
        start = t + 1
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    ax.set_xlim(-0.5, cols - 0.5)
    ax.set_ylim(rows - 0.5, -0.5)
    ax.set_title(title)
