"""Four-rooms gridworld with reward features (Barreto et al. 2017 style), for successor features.

Every transition carries a reward-feature vector phi in R^d (d = number of object types): stepping onto
an object of type k gives phi = e_k and ends the episode; every other step gives phi = 0. A task is a
weight vector w, and its reward is R = w^T phi. Moves slip: with probability `slip` the agent moves in a
uniformly random direction instead of the chosen one.

The exact model is exposed as arrays for the linear algebra:
    P    [S, A, S]  transition probabilities (rows of terminal object cells are all zero),
    phi  [S, A, d]  expected reward features phi(s, a) = E[phi_t | s_t = s, a_t = a],
and a Gymnasium-style `reset(seed=...)` / `step(a)` (plus a batched `sample_step`) for rollouts.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

LAYOUT = (
    "#############",
    "#a....#....b#",
    "#.....#.....#",
    "#...........#",
    "#.....#..c..#",
    "#..c..#.....#",
    "##.####.....#",
    "#.....###.###",
    "#.b...#.....#",
    "#.....#.....#",
    "#...........#",
    "#.....#....a#",
    "#############",
)
OBJECT_TYPES = "abc"
OBJECT_COLORS = ("tab:red", "tab:blue", "tab:orange")
ACTIONS = ("up", "right", "down", "left")
MOVES = np.array([(-1, 0), (0, 1), (1, 0), (0, -1)])


class FourRooms(gym.Env):
    """Four rooms, d object types; object cells are terminal. States are the free cells (Discrete(S)).

    Attributes: n_states S, n_actions A (=4), d, P [S, A, S], phi [S, A, d], cells [S, 2] (row, col),
    object_phi [S, d] (the feature received on entering each cell), terminal [S] bool,
    start_dist [S] (uniform over non-object cells), w [d] (the task used by `step`'s reward).
    """

    metadata = {"render_modes": []}

    def __init__(self, w=None, slip: float = 0.1, layout=LAYOUT, object_types: str = OBJECT_TYPES):
        if not 0.0 <= slip <= 1.0:
            raise ValueError(f"slip must be in [0, 1], got {slip}")
        self.layout = tuple(layout)
        self.object_types = object_types
        self.slip = float(slip)
        self.d = len(object_types)
        cells = [(r, c) for r, row in enumerate(self.layout) for c, ch in enumerate(row) if ch != "#"]
        self.cells = np.array(cells)
        self.index = {cell: i for i, cell in enumerate(cells)}
        self.n_states, self.n_actions = len(cells), len(ACTIONS)
        S, A, d = self.n_states, self.n_actions, self.d
        self.object_phi = np.zeros((S, d))
        for i, (r, c) in enumerate(cells):
            ch = self.layout[r][c]
            if ch in object_types:
                self.object_phi[i, object_types.index(ch)] = 1.0
        self.terminal = self.object_phi.sum(axis=1) > 0
        # Deterministic move table, then the slip mixture.
        nxt = np.empty((S, A), dtype=int)
        for i, (r, c) in enumerate(cells):
            for a, (dr, dc) in enumerate(MOVES):
                nxt[i, a] = self.index.get((r + dr, c + dc), i)  # bumping into a wall: stay
        self.next_state = nxt
        move = np.zeros((S, A, S))
        move[np.arange(S)[:, None], np.arange(A)[None, :], nxt] = 1.0
        self.P = (1 - self.slip) * move + self.slip * move.mean(axis=1, keepdims=True)
        self.P[self.terminal] = 0.0  # the episode has ended: no more transitions, no more features
        self.phi = self.P @ self.object_phi  # phi(s, a) = sum_s' P(s'|s, a) phi(s')
        self.start_dist = (~self.terminal).astype(float) / (~self.terminal).sum()
        self.w = np.ones(d) if w is None else self._check_w(w)
        self.observation_space = gym.spaces.Discrete(S)
        self.action_space = gym.spaces.Discrete(A)
        self._state: int | None = None

    def _check_w(self, w) -> np.ndarray:
        w = np.asarray(w, dtype=float)
        if w.shape != (self.d,):
            raise ValueError(f"w must have shape ({self.d},) (one weight per object type), got {w.shape}")
        return w

    def cell(self, state: int) -> tuple[int, int]:
        """(row, col) of a state index."""
        r, c = self.cells[state]
        return int(r), int(c)

    def reward(self, w=None) -> np.ndarray:
        """Expected reward r(s, a) = w^T phi(s, a), shape [S, A]."""
        return self.phi @ (self.w if w is None else self._check_w(w))

    # ---------------------------------------------------------------- Gymnasium API

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start in a uniformly random non-object cell, or in `options["state"]`."""
        super().reset(seed=seed)
        if options and "state" in options:
            self._state = int(options["state"])
        else:
            self._state = int(self.np_random.choice(self.n_states, p=self.start_dist))
        return self._state, {"cell": self.cell(self._state)}

    def step(self, action):
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        if not self.action_space.contains(int(action)):
            raise ValueError(f"action must be in 0..{self.n_actions - 1}, got {action}")
        rng = self.np_random
        moved = int(rng.integers(self.n_actions)) if rng.random() < self.slip else int(action)
        self._state = int(self.next_state[self._state, moved])
        phi = self.object_phi[self._state].copy()
        info = {"phi": phi, "cell": self.cell(self._state)}
        return self._state, float(phi @ self.w), bool(self.terminal[self._state]), False, info

    def sample_step(self, states, actions, rng: np.random.Generator):
        """Batched transition: states, actions [B] -> (next_states [B], phi [B, d], terminated [B])."""
        states, actions = np.asarray(states), np.asarray(actions)
        moved = np.where(rng.random(states.shape) < self.slip, rng.integers(0, self.n_actions, states.shape),
                         actions)
        s2 = self.next_state[states, moved]
        return s2, self.object_phi[s2], self.terminal[s2]

    # ---------------------------------------------------------------- drawing

    def draw(self, ax, values=None, policy=None, title: str | None = None, vmin=None, vmax=None,
             colorbar: bool = False, arrow_color: str = "k"):
        """Walls, objects, optional values [S] as a heat map and a policy as arrows.

        `policy`: actions [S] (int) or probabilities [S, A] (the most likely action is drawn).
        Returns the image (for a colour bar).
        """
        H, W = len(self.layout), len(self.layout[0])
        grid = np.full((H, W), np.nan)
        if values is not None:
            values = np.asarray(values, dtype=float)
            if values.shape != (self.n_states,):
                raise ValueError(f"values must have shape ({self.n_states},), got {values.shape}")
            grid[self.cells[:, 0], self.cells[:, 1]] = values
        else:
            grid[self.cells[:, 0], self.cells[:, 1]] = 0.0
        cmap = "viridis" if values is not None else "Greys"
        import matplotlib.pyplot as plt

        cm = plt.get_cmap(cmap).with_extremes(bad="0.25")  # walls
        im = ax.imshow(grid, cmap=cm, vmin=vmin if values is not None else 0,
                       vmax=vmax if values is not None else 1)
        if policy is not None:
            acts = _policy_actions(policy, self.n_states, self.n_actions)
            live = ~self.terminal
            dr, dc = MOVES[acts[live]].T
            ax.quiver(self.cells[live, 1], self.cells[live, 0], dc, -dr, color=arrow_color, scale=1.0,
                      scale_units="xy", angles="xy", pivot="middle", width=0.006, headwidth=4, headlength=4)
        for i in np.flatnonzero(self.terminal):
            k = int(np.argmax(self.object_phi[i]))
            r, c = self.cells[i]
            ax.scatter([c], [r], s=120, marker="o", color=OBJECT_COLORS[k % len(OBJECT_COLORS)],
                       edgecolors="white", linewidths=1.5, zorder=3)
            ax.text(c, r, self.object_types[k], ha="center", va="center", color="white", fontsize=7,
                    fontweight="bold", zorder=4)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        if title:
            ax.set_title(title)
        if colorbar and values is not None:
            ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
        return im


def _policy_actions(policy, S: int, A: int) -> np.ndarray:
    policy = np.asarray(policy)
    if policy.shape == (S,):
        return policy.astype(int)
    if policy.shape == (S, A):
        return policy.argmax(axis=1)
    raise ValueError(f"policy must be actions [{S}] or probabilities [{S}, {A}], got shape {policy.shape}")
