"""A cart on a track whose physics (mass, friction, actuator gain, actuator delay) are parameters.

The task: push the cart from where it starts to the goal x = 0 and keep it there. The policy sees the
position and velocity, never the physical parameters; so a policy tuned for one "simulator" setting can
fail on a "real" cart with different physics: the sim-to-real gap of section 01.

Two forms, one dynamics function (`cart_step`, whose physics is `integrate`):
- `CartEnv`: a Gymnasium environment for one parameter setting (passes `gymnasium.utils.env_checker`);
- `BatchedCart`: NumPy arrays of B carts, each with its own parameters, stepped at once (training speed).
`rollout` runs whole episodes of B carts for training: the same `integrate`, with the delay buffer kept as a
timeline of actions instead of a shifted history (no copy per step); tests check it equals `cart_step` bit for bit.

Parameters are a vector p = (mass, friction, gain, delay), shape [P] = [4] (or [B, 4] batched):
    acceleration = (gain * u_delayed - friction * velocity) / mass,
where u_delayed is the action issued `delay` steps ago (fractional delays interpolate between steps).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

PARAM_NAMES = ("mass", "friction", "gain", "delay")
SOURCE_PARAMS = np.array([1.0, 0.5, 1.0, 0.0])  # the "simulator" everything is tuned for
DT = 0.05  # seconds per step
HORIZON = 100  # steps per episode (5 s)
TRACK = 3.0  # the track ends at +-TRACK (a wall: the cart stops there)
MAX_SPEED = 10.0  # a speed limit keeps the state bounded (the observation space is a finite box)
MAX_DELAY = 6  # the longest actuator delay (steps) the action buffer can hold
GOAL_WIDTH = 0.2  # reward = exp(-(x / GOAL_WIDTH)^2): 1 at the goal, ~0 a cart-length away
START_RANGE = (0.5, 1.5)  # |x_0| is uniform in this range, sign random, v_0 = 0


def check_params(params, batched: bool = False) -> np.ndarray:
    """Validate physical parameters: shape [4] (or [B, 4] if batched), positive mass/gain, delay in range."""
    p = np.asarray(params, dtype=float)
    want = "[B, 4]" if batched else "[4]"
    if p.ndim != (2 if batched else 1) or p.shape[-1] != len(PARAM_NAMES):
        raise ValueError(f"params must have shape {want} = {PARAM_NAMES}, got shape {p.shape}")
    if not np.all(np.isfinite(p)):
        raise ValueError("params contain NaN or inf")
    if np.any(p[..., 0] <= 0) or np.any(p[..., 2] <= 0):
        raise ValueError("mass and gain must be positive")
    if np.any(p[..., 1] < 0):
        raise ValueError("friction must be non-negative")
    if np.any(p[..., 3] < 0) or np.any(p[..., 3] > MAX_DELAY - 1):
        raise ValueError(f"delay must lie in [0, {MAX_DELAY - 1}] steps")
    return p


def delayed_action(history, delay):
    """The action the actuator applies now. history: [B, MAX_DELAY], newest first; delay: [B] (steps, float)."""
    lo = np.floor(delay).astype(int)
    frac = delay - lo
    rows = np.arange(history.shape[0])
    hi = np.minimum(lo + 1, history.shape[1] - 1)
    return (1 - frac) * history[rows, lo] + frac * history[rows, hi]


def integrate(x, v, applied, mass, friction, gain):
    """The physics of one Euler step: x, v, applied (the delayed command), mass, friction, gain: [B].

    Returns (x', v', reward): v' = v + DT (gain applied - friction v) / mass, x' = x + DT v', walls at +-TRACK.
    """
    v = np.clip(v + DT * (gain * applied - friction * v) / mass, -MAX_SPEED, MAX_SPEED)
    x = x + DT * v
    wall = np.abs(x) >= TRACK
    x = np.clip(x, -TRACK, TRACK)
    v = np.where(wall, 0.0, v)
    return x, v, np.exp(-((x / GOAL_WIDTH) ** 2))


def cart_step(x, v, history, u, params):
    """One Euler step for B carts (the dynamics both environment forms share).

    x, v, u: [B]; history: [B, MAX_DELAY] past actions, newest first; params: [B, 4].
    Returns (x', v', history', reward), each [B] except history' [B, MAX_DELAY].
    """
    u = np.clip(u, -1.0, 1.0)
    history = np.concatenate([u[:, None], history[:, :-1]], axis=1)
    mass, friction, gain, delay = params[:, 0], params[:, 1], params[:, 2], params[:, 3]
    x, v, reward = integrate(x, v, delayed_action(history, delay), mass, friction, gain)
    return x, v, history, reward


def rollout(params, x0, act, horizon: int = HORIZON, on_step=None) -> np.ndarray:
    """Whole episodes of B carts from rest at x0 [B] (params [B, 4]); returns the summed rewards [B].

    act(t, x, v) -> u [B] chooses the commands (clipped to [-1, 1]); on_step(t, x, v), if given, sees the state
    after each step. The same physics as stepping `cart_step` (equal bit for bit), about 3x faster for large B:
    past commands sit on a timeline [horizon + MAX_DELAY - 1, B], so the delayed command is two gathers.
    """
    params, x = np.asarray(params, float), np.array(x0, dtype=float)
    if x.ndim != 1 or params.shape != (x.shape[0], len(PARAM_NAMES)):
        raise ValueError(f"rollout expects params [B, 4] and x0 [B]; got {params.shape} and {x.shape}")
    b = x.shape[0]
    mass, friction, gain, delay = (np.ascontiguousarray(params[:, j]) for j in range(4))
    lo = np.floor(delay).astype(np.intp)
    frac = delay - lo
    keep, hi = 1 - frac, np.minimum(lo + 1, MAX_DELAY - 1)
    # row MAX_DELAY - 1 + t of the timeline holds u_t; the rows above it are the empty (zero) history
    timeline = np.zeros((horizon + MAX_DELAY - 1, b))
    flat, rows = timeline.reshape(-1), np.arange(b)
    lo_at, hi_at = (MAX_DELAY - 1 - lo) * b + rows, (MAX_DELAY - 1 - hi) * b + rows  # u_{t-lo}, u_{t-hi} at t = 0
    v, total = np.zeros(b), np.zeros(b)
    for t in range(horizon):
        np.clip(act(t, x, v), -1.0, 1.0, out=timeline[MAX_DELAY - 1 + t])
        applied = keep * flat[lo_at + t * b] + frac * flat[hi_at + t * b]
        x, v, reward = integrate(x, v, applied, mass, friction, gain)
        total += reward
        if on_step is not None:
            on_step(t, x, v)
    return total


def sample_starts(n: int, rng: np.random.Generator) -> np.ndarray:
    """n start positions x_0 with |x_0| ~ U(START_RANGE) and a random sign; shape [n]."""
    return rng.uniform(*START_RANGE, size=n) * rng.choice([-1.0, 1.0], size=n)


class BatchedCart:
    """B carts with their own parameters, stepped together (the vector API of `lecture_utils.envs`).

    reset(seed=None, options=None) -> (obs [B, 2], {}): every cart at rest at `options["x0"]` ([B]), or at
    starts drawn with `sample_starts` from `seed`.
    step(u [B]) -> (obs [B, 2], reward [B], terminated [B], truncated [B], {}): no cart terminates; all
    truncate together after HORIZON steps.
    """

    def __init__(self, params):
        self.params = check_params(params, batched=True)
        self.num_envs = self.params.shape[0]

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        if options and "x0" in options:
            x0 = np.asarray(options["x0"], dtype=float)
        else:
            x0 = sample_starts(self.num_envs, np.random.default_rng(seed))
        if x0.shape != (self.num_envs,):
            raise ValueError(f"x0 must have shape [{self.num_envs}], got {x0.shape}")
        self.x, self.v = x0.copy(), np.zeros(self.num_envs)
        self.history = np.zeros((self.num_envs, MAX_DELAY))
        self.t = 0
        return self.obs(), {}

    def obs(self) -> np.ndarray:
        return np.stack([self.x, self.v], axis=1)

    def step(self, actions):
        """actions: [B] forces in [-1, 1] (clipped)."""
        u = np.asarray(actions, dtype=float)
        if u.shape != (self.num_envs,):
            raise ValueError(f"actions must have shape [{self.num_envs}] (one force per cart), got {u.shape}")
        self.x, self.v, self.history, r = cart_step(self.x, self.v, self.history, u, self.params)
        self.t += 1
        terminated = np.zeros(self.num_envs, dtype=bool)
        truncated = np.full(self.num_envs, self.t >= HORIZON)
        return self.obs(), r, terminated, truncated, {}


class CartEnv(gym.Env):
    """One cart as a Gymnasium environment. Observation (x, v); action u in [-1, 1]; 100 steps per episode."""

    metadata = {"render_modes": []}

    def __init__(self, params=SOURCE_PARAMS):
        self.params = check_params(params)[None, :]
        high = np.array([TRACK, MAX_SPEED], dtype=np.float32)
        self.observation_space = gym.spaces.Box(-high, high, dtype=np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)

    def _obs(self):
        return np.array([self.x[0], self.v[0]], dtype=np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        x0 = options["x0"] if options and "x0" in options else sample_starts(1, self.np_random)[0]
        self.x, self.v = np.array([float(x0)]), np.zeros(1)
        self.history = np.zeros((1, MAX_DELAY))
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        u = np.asarray(action, dtype=float).reshape(1)
        self.x, self.v, self.history, r = cart_step(self.x, self.v, self.history, u, self.params)
        self.t += 1
        return self._obs(), float(r[0]), False, self.t >= HORIZON, {}
