"""2D point navigation, the MAML paper's meta-RL task (Finn et al. 2017, section 5.3).

A point starts at the origin and must reach a goal drawn uniformly from [-0.5, 0.5]^2 that it cannot
see. Observation: its position (2,). Action: a displacement (2,), clipped to [-0.1, 0.1] per axis.
Reward: minus the Euclidean distance to the goal after the move. Horizon: 100 steps. As in the paper's
released code, the episode ends early (terminated) once the point is within 0.01 of the goal on both axes:
no more cost accrues, so reaching the goal *and stopping there* pays.
The goal is the task M_i: the agent learns it only through the rewards.

`PointNavEnv` is a Gymnasium environment (one task); `BatchedPointNav` runs n_tasks x n_traj copies as
torch tensors with the same dynamics (what training and evaluation use).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch

GOAL_LOW, GOAL_HIGH = -0.5, 0.5
MAX_ACTION = 0.1
HORIZON = 100
GOAL_TOLERANCE = 0.01  # |x - goal_x| and |y - goal_y| both below this: the episode ends


def sample_goals(n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """n goals uniform in [-0.5, 0.5]^2, shape [n, 2] (float32)."""
    u = torch.rand(n, 2, generator=generator)
    return GOAL_LOW + (GOAL_HIGH - GOAL_LOW) * u


class PointNavEnv(gym.Env):
    """One 2D navigation task (Gymnasium API). `goal` fixes the task; otherwise `reset` draws one."""

    metadata = {"render_modes": []}

    def __init__(self, goal=None, horizon: int = HORIZON):
        bound = MAX_ACTION * horizon  # the farthest the point can get from the origin on each axis
        self.observation_space = gym.spaces.Box(-bound, bound, shape=(2,), dtype=np.float32)
        self.action_space = gym.spaces.Box(-MAX_ACTION, MAX_ACTION, shape=(2,), dtype=np.float32)
        self.horizon = int(horizon)
        self._fixed_goal = None if goal is None else self._check_goal(goal)
        self.goal = self._fixed_goal
        self.pos = np.zeros(2, dtype=np.float32)
        self.t = 0

    @staticmethod
    def _check_goal(goal) -> np.ndarray:
        g = np.asarray(goal, dtype=np.float32)
        if g.shape != (2,):
            raise ValueError(f"goal must have shape (2,), got {g.shape}")
        return g

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if options and "goal" in options:
            self.goal = self._check_goal(options["goal"])
        elif self._fixed_goal is not None:
            self.goal = self._fixed_goal
        else:
            self.goal = self.np_random.uniform(GOAL_LOW, GOAL_HIGH, size=2).astype(np.float32)
        self.pos = np.zeros(2, dtype=np.float32)
        self.t = 0
        return self.pos.copy(), {"goal": self.goal.copy()}

    def step(self, action):
        a = np.asarray(action, dtype=np.float32)
        if a.shape != (2,):
            raise ValueError(f"action must have shape (2,), got {a.shape}")
        self.pos = (self.pos + np.clip(a, -MAX_ACTION, MAX_ACTION)).astype(np.float32)
        self.t += 1
        reward = -float(np.linalg.norm(self.pos - self.goal))
        terminated = bool(np.all(np.abs(self.pos - self.goal) < GOAL_TOLERANCE))
        truncated = self.t >= self.horizon and not terminated
        return self.pos.copy(), reward, terminated, truncated, {"goal": self.goal.copy()}


class BatchedPointNav:
    """n_tasks x n_traj independent copies; goals [n_tasks, 2] (the vector API of `lecture_utils.envs`,
    with the batch laid out as [n_tasks, n_traj]: num_envs = n_tasks * n_traj).

    reset(seed=None, options=None) -> (obs [n_tasks, n_traj, 2], {}) (the dynamics are deterministic:
    `seed` is accepted for the common API and unused).
    step(actions [n_tasks, n_traj, 2]) -> (obs, reward, terminated, truncated, {}), the last three
    [n_tasks, n_traj]. No autoreset: a copy whose episode has terminated (within GOAL_TOLERANCE of its goal)
    stays put, gets reward 0 and keeps terminated=True; the others truncate after `horizon` steps.
    """

    def __init__(self, goals: torch.Tensor, n_traj: int, horizon: int = HORIZON):
        goals = torch.as_tensor(goals, dtype=torch.float32)
        if goals.ndim != 2 or goals.shape[1] != 2:
            raise ValueError(f"goals must have shape [n_tasks, 2], got {tuple(goals.shape)}")
        self.goals = goals
        self.n_tasks, self.n_traj, self.horizon = goals.shape[0], int(n_traj), int(horizon)
        self.num_envs = self.n_tasks * self.n_traj
        self.reset()

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[torch.Tensor, dict]:
        self.pos = torch.zeros(self.n_tasks, self.n_traj, 2)
        self._terminated = torch.zeros(self.n_tasks, self.n_traj, dtype=torch.bool)
        self.t = 0
        return self.pos.clone(), {}

    def step(self, actions: torch.Tensor):
        if actions.shape != self.pos.shape:
            raise ValueError(f"actions must have shape {tuple(self.pos.shape)}, got {tuple(actions.shape)}")
        self._advance(actions)
        truncated = ~self._terminated & (self.t >= self.horizon)
        return self.pos.clone(), self._reward, self._terminated.clone(), truncated, {}

    def _advance(self, actions: torch.Tensor) -> None:
        """The dynamics: move, reward, terminate. Every update makes new tensors (never in place), so the
        rollout loop may keep self.pos, self._reward and self._terminated of each step without copying them."""
        alive = ~self._terminated  # a terminated copy stays put and earns 0
        self.pos, reward, at_goal = point_nav_dynamics(self.pos, alive[..., None] * actions, self.goals[:, None, :])
        self._reward = reward * alive
        self._terminated = self._terminated | at_goal
        self.t += 1


def point_nav_dynamics(pos: torch.Tensor, actions: torch.Tensor, goals: torch.Tensor):
    """One step of the task, batched: the move clipped to [-MAX_ACTION, MAX_ACTION] per axis, the reward
    -||s' - g||, and whether s' is within GOAL_TOLERANCE of the goal on both axes (the episode ends).
    Returns (s' [..., 2], reward [...], at_goal [...]); new tensors, nothing in place."""
    nxt = pos + actions.clamp(-MAX_ACTION, MAX_ACTION)
    offset = nxt - goals
    return nxt, -torch.linalg.norm(offset, dim=-1), (offset.abs() < GOAL_TOLERANCE).all(-1)


def plot_paths(ax, positions, goal=None, color=None, label: str | None = None, opacity: float = 0.5):
    """Draw paths positions [N, H + 1, 2] (from the origin), the goal as a star, and the goal square."""
    from matplotlib.patches import Rectangle

    positions = np.asarray(positions)
    if positions.ndim != 3 or positions.shape[-1] != 2:
        raise ValueError(f"positions must have shape [n_traj, H + 1, 2], got {positions.shape}")
    for n, path in enumerate(positions):
        (line,) = ax.plot(path[:, 0], path[:, 1], color=color, alpha=opacity, lw=1, label=label if n == 0 else None)
        color = line.get_color()
    if goal is not None:
        g = np.asarray(goal)
        ax.plot(g[0], g[1], marker="*", ms=14, color="k", zorder=5)
    ax.add_patch(Rectangle((GOAL_LOW, GOAL_LOW), GOAL_HIGH - GOAL_LOW, GOAL_HIGH - GOAL_LOW, fill=False, ls=":",
                           color="gray"))
    ax.plot(0, 0, "ko", ms=4)
    ax.set_aspect("equal")
    return color
