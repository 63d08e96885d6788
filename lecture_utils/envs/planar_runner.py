"""PlanarRunner: a two-legged runner in the plane with a heading and momentum (section 02).

State ``s = (x, y, vx, vy, theta, leg)``. Each step the runner picks an action a = (turn, foot): it turns by one
of eight angles (multiples of 45 degrees, relative to its heading), slips a little (heading noise
eps ~ N(0, NOISE^2)), and pushes off with its left or right foot. A push only works if it alternates feet
(the gait); pushing twice with the same foot stumbles (no thrust). Velocity keeps momentum and has drag:

    theta' = theta + TURNS[turn] + eps
    v'     = (1 - DRAG) v + THRUST [foot != leg] (cos theta', sin theta')
    p'     = p + v',   leg' = foot   (leg = -1 left, +1 right, 0 standing)

Top speed is THRUST / DRAG = 1. The runner starts at rest at the origin facing east, so *where* it runs is
the policy's choice, and *running at all* needs the gait. Actions are relative turns and the heading drifts,
so running along d is a closed loop on the observation ``o = (cos theta, sin theta, v_forward, v_left, leg)``
(a compass, the velocity in the body frame, and which foot pushed last).

Rewards (on the new velocity v'):
- pretraining, "speed in any direction":  r = |v'|
- fine-tuning, "speed in direction d":    r = v' . d   (d a unit vector)

`step_dynamics` is the one dynamics function; `PlanarRunnerEnv` (Gymnasium, one runner, NumPy) and
`BatchedPlanarRunner` (torch, thousands of runners) both call it. Action index a = 8 * foot + turn.
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import torch

TURNS = tuple(k * math.pi / 4 for k in (-3, -2, -1, 0, 1, 2, 3, 4))
TURN_NAMES = ("right 135", "right 90", "right 45", "straight", "left 45", "left 90", "left 135", "turn back")
FEET = ("left", "right")
ACTION_NAMES = tuple(f"{t}, {f} foot" for f in FEET for t in TURN_NAMES)
N_TURNS = len(TURNS)
N_ACTIONS = N_TURNS * len(FEET)
OBS_DIM = 5
STATE_DIM = 6
THRUST = 0.25
DRAG = 0.25
NOISE = 0.15
HORIZON = 20
# Observation bounds: a compass, the body-frame velocity (|v| <= THRUST / DRAG, plus a margin for round-off), a leg.
OBS_HIGH = np.array([1.0, 1.0, 1.001 * THRUST / DRAG, 1.001 * THRUST / DRAG, 1.0], dtype=np.float32)


def direction(angle: float | torch.Tensor) -> torch.Tensor:
    """Unit vector(s) (cos angle, sin angle); angle in radians, shape [...] -> [..., 2]."""
    angle = torch.as_tensor(angle, dtype=torch.get_default_dtype())
    return torch.stack([torch.cos(angle), torch.sin(angle)], dim=-1)


def initial_state(n: int) -> torch.Tensor:
    """`n` runners standing at the origin facing east: shape [n, 6]."""
    return torch.zeros(n, STATE_DIM)


def step_dynamics(state: torch.Tensor, action: torch.Tensor, eps: torch.Tensor | None = None) -> torch.Tensor:
    """One step. state [B, 6] float, action [B] int in 0..15, eps [B] heading noise (None: 0) -> next state [B, 6]."""
    if state.ndim != 2 or state.shape[-1] != STATE_DIM:
        raise ValueError(f"state must have shape [batch, {STATE_DIM}], got {tuple(state.shape)}")
    if action.shape != state.shape[:1]:
        raise ValueError(f"action must have shape [{state.shape[0]}] (one per runner), got {tuple(action.shape)}")
    if action.dtype.is_floating_point or action.dtype == torch.bool:
        raise TypeError(f"actions are integers 0..{N_ACTIONS - 1}, got dtype {action.dtype}")
    if action.numel() and (int(action.min()) < 0 or int(action.max()) >= N_ACTIONS):
        raise ValueError(f"actions are integers 0..{N_ACTIONS - 1}, got values in [{int(action.min())}, "
                         f"{int(action.max())}]")
    return _dynamics(state, action, eps)


def _dynamics(state: torch.Tensor, action: torch.Tensor, eps: torch.Tensor | None) -> torch.Tensor:
    """step_dynamics() without its input checks, for actions a policy has just sampled (always valid)."""
    turns = torch.tensor(TURNS, dtype=state.dtype)
    theta = state[:, 4] + turns[action % N_TURNS]
    if eps is not None:
        theta = theta + eps
    theta = torch.remainder(theta + math.pi, 2 * math.pi) - math.pi  # keep theta in [-pi, pi)
    foot = (2 * (action // N_TURNS) - 1).to(state.dtype)  # -1 left, +1 right
    push = (foot != state[:, 5]).to(state.dtype)  # alternate feet, or stumble
    heading = torch.stack([torch.cos(theta), torch.sin(theta)], dim=-1)
    v = (1 - DRAG) * state[:, 2:4] + THRUST * push[:, None] * heading
    p = state[:, 0:2] + v
    return torch.cat([p, v, theta[:, None], foot[:, None]], dim=-1)


def observe(state: torch.Tensor) -> torch.Tensor:
    """o = (cos theta, sin theta, v_forward, v_left, leg): [..., 6] -> [..., 5]."""
    c, s = torch.cos(state[..., 4]), torch.sin(state[..., 4])
    vx, vy = state[..., 2], state[..., 3]
    return torch.stack([c, s, c * vx + s * vy, -s * vx + c * vy, state[..., 5]], dim=-1)


def reward(next_state: torch.Tensor, d: torch.Tensor | None = None) -> torch.Tensor:
    """r = |v'| if d is None (pretraining), else r = v' . d (fine-tuning). next_state [B, 6], d [2] or [B, 2]."""
    v = next_state[..., 2:4]
    if d is None:
        return v.norm(dim=-1)
    d = torch.as_tensor(d, dtype=v.dtype)
    if d.shape[-1] != 2:
        raise ValueError(f"direction d must have last dimension 2 (a unit vector), got shape {tuple(d.shape)}")
    return (v * d).sum(-1)


class BatchedPlanarRunner:
    """`num_envs` runners stepped together in torch (the vector API of `lecture_utils.envs`).

    `d`: None for the pretraining reward (speed), else directions of shape [2] or [num_envs, 2].
    reset(seed=None, options=None) -> (obs [num_envs, 5], {}); a seed gives the heading noise its own
    generator (without one, torch's global generator draws it).
    step(actions [num_envs] int) -> (obs, reward, terminated, truncated, {}), each [num_envs]: no runner
    terminates; all truncate together after `horizon` steps.
    """

    def __init__(self, num_envs: int, d: torch.Tensor | None = None, horizon: int = HORIZON):
        if num_envs < 1:
            raise ValueError(f"need at least one runner, got num_envs={num_envs}")
        self.num_envs, self.horizon = num_envs, horizon
        self.d = None if d is None else torch.as_tensor(d, dtype=torch.get_default_dtype()).expand(num_envs, 2)
        self.state = initial_state(num_envs)
        self.t = 0
        self._generator: torch.Generator | None = None

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[torch.Tensor, dict]:
        if seed is not None:
            self._generator = torch.Generator().manual_seed(seed)
        self.state, self.t = initial_state(self.num_envs), 0
        return observe(self.state), {}

    def step(self, actions: torch.Tensor):
        return self._step(actions, step_dynamics)

    def _step(self, actions: torch.Tensor, dynamics=_dynamics):
        """step(); by default without the input checks, for actions a policy has just sampled (always valid)."""
        eps = NOISE * torch.randn(self.num_envs, generator=self._generator)
        self.state = dynamics(self.state, actions, eps)
        self.t += 1
        r = reward(self.state, self.d)
        terminated = torch.zeros(self.num_envs, dtype=torch.bool)
        truncated = torch.full((self.num_envs,), self.t >= self.horizon)
        return observe(self.state), r, terminated, truncated, {}


class PlanarRunnerEnv(gym.Env):
    """One runner as a Gymnasium environment (NumPy in and out); same dynamics as the batched version.

    `d_angle`: None -> pretraining reward (speed in any direction); an angle in radians -> fine-tuning
    reward (velocity along d = (cos, sin) of that angle). `info["slip"]` is the step's heading noise.
    """

    metadata = {"render_modes": []}

    def __init__(self, d_angle: float | None = None, horizon: int = HORIZON):
        self.d = None if d_angle is None else direction(float(d_angle))
        self.horizon = horizon
        self.observation_space = gym.spaces.Box(-OBS_HIGH, OBS_HIGH, dtype=np.float32)
        self.action_space = gym.spaces.Discrete(N_ACTIONS)
        self.state = initial_state(1)
        self.t = 0

    def _obs(self) -> np.ndarray:
        return observe(self.state)[0].numpy().astype(np.float32)  # float32 even when torch defaults to float64

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.state, self.t = initial_state(1), 0
        return self._obs(), {"position": self.state[0, :2].numpy().copy()}

    def step(self, action):
        if isinstance(action, bool) or not isinstance(action, (int, np.integer)) or not 0 <= action < N_ACTIONS:
            raise ValueError(f"action must be an integer in 0..{N_ACTIONS - 1}, got {action!r}")
        eps = torch.tensor([NOISE * self.np_random.standard_normal()], dtype=self.state.dtype)
        self.state = step_dynamics(self.state, torch.tensor([int(action)]), eps)
        self.t += 1
        r = float(reward(self.state, self.d)[0])
        obs = self._obs()
        info = {"position": self.state[0, :2].numpy().copy(), "slip": float(eps[0])}
        return obs, r, False, self.t >= self.horizon, info
