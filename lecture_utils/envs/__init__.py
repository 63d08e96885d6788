"""Environments: Gymnasium single environments and batched (vectorised) versions of the same dynamics.

Single environments are `gymnasium.Env`s (each passes `gymnasium.utils.env_checker.check_env`) and are
registered on `import lecture_utils.envs`, so `gymnasium.make(id)` builds them:

    lecture_utils/Cart-v0          cart.CartEnv               (section 01; kwargs: params)
    lecture_utils/PlanarRunner-v0  planar_runner.PlanarRunnerEnv  (section 02; kwargs: d_angle, horizon)
    lecture_utils/FourRooms-v0     gridworld.FourRooms        (section 03; kwargs: w, slip)
    lecture_utils/PointNav-v0      point_nav.PointNavEnv      (section 05; kwargs: goal, horizon)

Batched versions (`BatchedCart` NumPy, `BatchedPlanarRunner` and `BatchedPointNav` torch) follow the subset
of Gymnasium's vector API below, with arrays/tensors whose leading dimensions are the batch:

    num_envs                                   how many copies run side by side
    reset(*, seed=None, options=None)       -> (obs, info)
    step(actions)                           -> (obs, reward, terminated, truncated, info)

- reward, terminated, truncated have the batch shape ([num_envs], or [n_tasks, n_traj] for point
  navigation, where num_envs = n_tasks * n_traj); terminated and truncated are booleans.
- No autoreset: every copy starts together at `reset` and the episode ends together after the horizon
  (truncated). A copy that terminates early (point navigation's goal) stays put with reward 0 and keeps
  terminated=True until the next `reset`.
- `options` carries what a single env's `reset(options=...)` would (`BatchedCart`: {"x0": start positions
  [B]}); `info` is {} (per-copy data lives in attributes such as `state`, `goals`).
- `seed` seeds the randomness the batched env itself draws (cart starts, runner slips); deterministic
  dynamics (point navigation) accept and ignore it.
"""

import gymnasium as gym

ENV_IDS = {
    "lecture_utils/Cart-v0": "lecture_utils.envs.cart:CartEnv",
    "lecture_utils/PlanarRunner-v0": "lecture_utils.envs.planar_runner:PlanarRunnerEnv",
    "lecture_utils/FourRooms-v0": "lecture_utils.envs.gridworld:FourRooms",
    "lecture_utils/PointNav-v0": "lecture_utils.envs.point_nav:PointNavEnv",
}

for _id, _entry_point in ENV_IDS.items():
    if _id not in gym.registry:  # importing twice (reload, a notebook re-run) must not warn
        gym.register(id=_id, entry_point=_entry_point)
