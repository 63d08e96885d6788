"""Successor features: psi^pi three ways (linear solve, Monte-Carlo, TD), Q = w^T psi, and GPI.

Shapes: S states, A actions, d reward features. P [S, A, S], phi [S, A, d], a policy pi [S, A]
(probabilities; an int array [S] of actions is accepted too), psi [S, A, d], a task w [d], Q [S, A].
Every function here works on the exact arrays of any finite MDP (e.g. `lecture_utils.envs.gridworld`).
"""

from __future__ import annotations

import numpy as np

Z99 = 2.5758293035489004  # two-sided 99% normal quantile


def below(err: float) -> str:
    """'< 1e-11' for err = 1.3e-12: the next power of ten above a round-off-sized error.

    Round-off digits differ between CPUs and BLAS builds; the power of ten does not, so a notebook that
    prints it stays identical under nbval on any machine.
    """
    err = float(err)
    if err == 0.0:
        return "= 0"
    return f"< 1e{int(np.floor(np.log10(err))) + 1}"


_CORE = ("psi_linear_solve", "q_from_psi", "gpi_q", "gpi_policy")


def _core():
    """The answers to homework 3.1-3.3 live in lecture_utils.sf_core, which the grader masks."""
    from lecture_utils import sf_core

    return sf_core


def __getattr__(name: str):
    if name in _CORE:  # sf.psi_linear_solve etc. keep working for the lecture
        return getattr(_core(), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ---------------------------------------------------------------- checking inputs


def _check_model(P, phi=None):
    P = np.asarray(P, dtype=float)
    if P.ndim != 3 or P.shape[0] != P.shape[2]:
        raise ValueError(f"P must have shape [S, A, S], got {P.shape}")
    if phi is not None:
        phi = np.asarray(phi, dtype=float)
        if phi.ndim != 3 or phi.shape[:2] != P.shape[:2]:
            raise ValueError(f"phi must have shape [S, A, d] = [{P.shape[0]}, {P.shape[1]}, d], got {phi.shape}")
    return P, phi


def _check_gamma(gamma) -> float:
    gamma = float(gamma)
    if not 0.0 <= gamma < 1.0:
        raise ValueError(f"gamma must be in [0, 1), got {gamma}")
    return gamma


def as_policy(pi, S: int, A: int) -> np.ndarray:
    """A policy as probabilities [S, A]; accepts actions [S] (deterministic) or probabilities [S, A]."""
    pi = np.asarray(pi)
    if pi.shape == (S,) and np.issubdtype(pi.dtype, np.integer):
        if pi.min() < 0 or pi.max() >= A:
            raise ValueError(f"actions must be in 0..{A - 1}")
        return np.eye(A)[pi]
    pi = pi.astype(float)
    if pi.shape != (S, A):
        raise ValueError(f"pi must be actions [{S}] (ints) or probabilities [{S}, {A}], got shape {pi.shape}")
    if np.any(pi < -1e-12) or not np.allclose(pi.sum(axis=1), 1.0):
        raise ValueError("pi[s] must be a probability distribution over actions for every state s")
    return pi


def check_w(w, d: int, name: str = "w") -> np.ndarray:
    w = np.asarray(w, dtype=float)
    if w.shape != (d,):
        raise ValueError(f"{name} must have shape ({d},) to match the {d} reward features, got {w.shape}")
    return w


# ---------------------------------------------------------------- the derivation


def sa_transition(P, pi) -> np.ndarray:
    """P^pi over state-action pairs: P^pi[(s, a), (s', a')] = P(s'|s, a) pi(a'|s'), shape [S*A, S*A]."""
    P, _ = _check_model(P)
    S, A, _ = P.shape
    pi = as_policy(pi, S, A)
    return (P[:, :, :, None] * pi[None, None, :, :]).reshape(S * A, S * A)


def policy_evaluation(P, r, pi, gamma, tol: float = 1e-13, max_iter: int = 100_000) -> np.ndarray:
    """Q^pi by iterating the Bellman expectation equation Q = r + gamma E_{s'}[sum_a' pi(a'|s') Q(s', a')].

    Direct evaluation of the reward r [S, A], without successor features; returns Q [S, A].
    """
    P, _ = _check_model(P)
    gamma = _check_gamma(gamma)
    S, A, _ = P.shape
    pi = as_policy(pi, S, A)
    r = np.asarray(r, dtype=float)
    P2 = P.reshape(S * A, S)
    Q = np.zeros((S, A))
    for _ in range(max_iter):
        Q_new = r + gamma * (P2 @ (pi * Q).sum(axis=1)).reshape(S, A)
        if np.max(np.abs(Q_new - Q)) < tol:
            return Q_new
        Q = Q_new
    return Q


def value_iteration(P, r, gamma, tol: float = 1e-12, max_iter: int = 100_000) -> np.ndarray:
    """Q* by iterating the Bellman optimality equation Q = r + gamma E_{s'}[max_a' Q(s', a')]; Q [S, A]."""
    P, _ = _check_model(P)
    gamma = _check_gamma(gamma)
    r = np.asarray(r, dtype=float)
    S, A, _ = P.shape
    P2 = P.reshape(S * A, S)  # one matrix-vector product per sweep
    Q = np.zeros((S, A))
    for _ in range(max_iter):
        Q_new = r + gamma * (P2 @ Q.max(axis=1)).reshape(S, A)
        if np.max(np.abs(Q_new - Q)) < tol:
            return Q_new
        Q = Q_new
    return Q


TIE_TOL = 1e-9


def greedy(Q) -> np.ndarray:
    """The greedy policy's actions [S] for Q [S, A] (ties: the first action).

    Values within TIE_TOL of the maximum count as ties, so round-off (which differs between CPUs' kernels)
    never decides between actions that are equally good in exact arithmetic.
    """
    Q = np.asarray(Q)
    return (Q >= Q.max(axis=-1, keepdims=True) - TIE_TOL).argmax(axis=-1)


def state_values(P, r, pi, gamma) -> np.ndarray:
    """V^pi [S] by the S x S linear solve V = r_pi + gamma P_pi V."""
    P, _ = _check_model(P)
    S, A, _ = P.shape
    pi = as_policy(pi, S, A)
    r_pi = (pi * np.asarray(r, dtype=float)).sum(axis=1)
    P_pi = np.einsum("sa,sat->st", pi, P)
    return np.linalg.solve(np.eye(S) - _check_gamma(gamma) * P_pi, r_pi)


def policy_return(env, pi, w, gamma) -> float:
    """Expected discounted return of pi on task w from the env's start distribution (exact)."""
    return float(env.start_dist @ state_values(env.P, env.reward(w), pi, gamma))


# ---------------------------------------------------------------- sampling estimates of psi


def _sample_actions(pi, states, rng):
    cdf = np.cumsum(pi[states], axis=1)
    u = rng.random((len(states), 1))
    return np.minimum((u > cdf).sum(axis=1), pi.shape[1] - 1)


def psi_monte_carlo(env, pi, gamma, s: int, a: int, n_episodes: int = 2000, horizon: int = 300, seed: int = 0):
    """Monte-Carlo estimate of psi^pi(s, a): average of sum_t gamma^t phi_t over rollouts.

    Returns (mean [d], half_width [d] of the 99% confidence interval, returns [n_episodes, d]).
    Rollouts are truncated at `horizon` (the bias is at most gamma^horizon per unit of feature).
    """
    if env.terminal[s]:
        raise ValueError(f"state {s} is an object cell (terminal): psi there is 0, start from a non-terminal state")
    rng = np.random.default_rng(seed)
    pi = as_policy(pi, env.n_states, env.n_actions)
    gamma = _check_gamma(gamma)
    states = np.full(n_episodes, s)
    actions = np.full(n_episodes, a)
    alive = np.ones(n_episodes, dtype=bool)
    G = np.zeros((n_episodes, env.d))
    for t in range(horizon):
        idx = np.flatnonzero(alive)
        if idx.size == 0:
            break
        s2, phi, term = env.sample_step(states[idx], actions[idx], rng)
        G[idx] += gamma**t * phi
        alive[idx[term]] = False
        states[idx] = s2
        actions[idx] = _sample_actions(pi, s2, rng)
    mean = G.mean(axis=0)
    half = Z99 * G.std(axis=0, ddof=1) / np.sqrt(n_episodes)
    return mean, half, G


def psi_td(env, pi, gamma, n_steps: int = 4000, n_walkers: int = 64, lr: float = 1.0,
           decay: float = 0.7, eval_every: int = 100, psi_exact=None, seed: int = 0):
    """TD(0) learning of psi^pi (SARSA-style): psi(s,a) += step [phi + gamma psi(s',a') - psi(s,a)].

    `n_walkers` parallel episodes with exploring starts (uniform (s, a) among non-terminal states);
    step size step = lr / n(s, a)^decay (the slide's alpha). If `psi_exact` is given, also returns the RMS error
    curve measured every `eval_every` steps: (psi [S, A, d], steps [K], rmse [K]).
    """
    rng = np.random.default_rng(seed)
    S, A, d = env.n_states, env.n_actions, env.d
    pi = as_policy(pi, S, A)
    gamma = _check_gamma(gamma)
    live = np.flatnonzero(~env.terminal)
    psi = np.zeros((S, A, d))
    visits = np.zeros((S, A))
    s = rng.choice(live, n_walkers)
    a = rng.integers(0, A, n_walkers)
    steps, errors = [], []
    for t in range(1, n_steps + 1):
        s2, phi, term = env.sample_step(s, a, rng)
        a2 = _sample_actions(pi, s2, rng)
        target = phi + gamma * psi[s2, a2] * (~term)[:, None]
        np.add.at(visits, (s, a), 1.0)
        step = lr / visits[s, a] ** decay
        np.add.at(psi, (s, a), step[:, None] * (target - psi[s, a]))
        # finished episodes restart from a random (s, a): exploring starts
        n_new = int(term.sum())
        s2[term] = rng.choice(live, n_new)
        a2[term] = rng.integers(0, A, n_new)
        s, a = s2, a2
        if psi_exact is not None and (t % eval_every == 0 or t == n_steps):
            steps.append(t * n_walkers)
            errors.append(float(np.sqrt(np.mean((psi[live] - psi_exact[live]) ** 2))))
    if psi_exact is None:
        return psi
    return psi, np.array(steps), np.array(errors)


# ---------------------------------------------------------------- transfer: GPI


def family(env, base_tasks, gamma):
    """Optimal policies (actions [n, S]) of the base tasks [n, d] and their successor features [n, S, A, d]."""
    base_tasks = np.atleast_2d(np.asarray(base_tasks, dtype=float))
    policies = np.stack([greedy(value_iteration(env.P, env.reward(w), gamma)) for w in base_tasks])
    psis = np.stack([_core().psi_linear_solve(env.P, env.phi, p, gamma) for p in policies])
    return policies, psis


def random_tasks(n: int, d: int, seed: int = 0) -> np.ndarray:
    """n new tasks w' with entries uniform in [-1, 1], shape [n, d]."""
    return np.random.default_rng(seed).uniform(-1.0, 1.0, size=(n, d))


def normalized(value, random_value, optimal_value):
    """(R - R_random) / (R_optimal - R_random): 0 = random policy, 1 = optimal."""
    return (np.asarray(value) - random_value) / (optimal_value - random_value)


def compare_on_tasks(env, policies, psis, tasks, gamma) -> dict:
    """Exact returns on each task w' [n, d] of: GPI, each family policy, the optimum, the uniform random policy.

    Returns arrays: gpi [n], family [n, n_policies], optimal [n], random [n].
    """
    uniform = np.full((env.n_states, env.n_actions), 1.0 / env.n_actions)
    out = {"gpi": [], "family": [], "optimal": [], "random": []}
    for w in tasks:
        r = env.reward(w)
        pi_gpi = _core().gpi_policy(psis, w)
        out["gpi"].append(policy_return(env, pi_gpi, w, gamma))
        out["family"].append([float(env.start_dist @ (psi @ w)[np.arange(env.n_states), p])
                              for p, psi in zip(policies, psis)])
        # policy iteration from the GPI policy: exact optimum in a few linear solves
        out["optimal"].append(policy_return(env, policy_iteration(env.P, r, gamma, pi_gpi)[0], w, gamma))
        out["random"].append(policy_return(env, uniform, w, gamma))
    return {k: np.array(v) for k, v in out.items()}


# ---------------------------------------------------------------- fine-tuning in the target task


def policy_iteration(P, r, gamma, pi0, max_iter: int = 100, values: list | None = None):
    """Policy iteration from actions pi0 [S]; returns (final actions [S], list of policies visited).

    At most `max_iter` improvements (optimal once it stops changing). If `values` is a list, V^pi [S] of
    every evaluated policy is appended to it.
    """
    P, _ = _check_model(P)
    S, A, _ = P.shape
    pi = np.asarray(pi0, dtype=int)
    visited = [pi]
    for _ in range(max_iter):
        V = state_values(P, r, pi, gamma)
        if values is not None:
            values.append(V)
        Q = r + gamma * P @ V
        better = greedy(Q)
        # keep the current action on ties so that the loop stops
        keep = Q[np.arange(S), pi] >= Q[np.arange(S), better] - 1e-12
        new = np.where(keep, pi, better)
        if np.array_equal(new, pi):
            break
        pi = new
        visited.append(pi)
    return pi, visited


def q_learning(env, w, gamma, Q0, n_steps: int = 3000, n_walkers: int = 16, lr: float = 0.5,
               epsilon: float = 0.2, eval_every: int = 100, seed: int = 0, decay: float = 0.0):
    """Tabular Q-learning on task w from Q0 [S, A]: one run of `q_learning_runs` (see there).

    Returns (Q [S, A], env_steps [K], returns [K]) with the exact return of the greedy policy every
    `eval_every` steps (step 0 included).
    """
    Q, steps, returns = q_learning_runs(env, [w], gamma, [Q0], [seed], n_steps=n_steps, n_walkers=n_walkers,
                                        lr=lr, epsilon=epsilon, eval_every=eval_every, decay=decay)
    return Q[0], steps, returns[0]


def q_learning_runs(env, tasks, gamma, Q0, seeds, n_steps: int = 3000, n_walkers: int = 16, lr: float = 0.5,
                    epsilon: float = 0.2, eval_every: int = 100, decay: float = 0.0):
    """R independent runs of tabular Q-learning at once: run r learns task tasks[r] from Q0[r] with seed seeds[r].

    tasks [R, d], Q0 [R, S, A]. Each run has `n_walkers` parallel episodes (epsilon-greedy; a walker that
    reaches an object restarts at a uniform non-terminal cell) and its own generator, from which it draws five
    uniforms per walker and step (explore?, random action, slip?, slipped action, restart cell): a run's
    numbers do not depend on which runs share the batch. Step size lr / n(s, a)^decay (the slide's alpha),
    n(s, a) = updates of the pair so far, this one included: decay = 0 is a constant step; 0.5 < decay <= 1
    averages the sampling noise out (Robbins-Monro).
    Returns (Q [R, S, A], env_steps [K], returns [R, K]): the exact return of each run's greedy policy every
    `eval_every` steps and at the end, step 0 included.
    """
    tasks = np.stack([check_w(w, env.d) for w in np.atleast_2d(np.asarray(tasks, dtype=float))])
    R, S, A = len(tasks), env.n_states, env.n_actions
    Q = np.array(Q0, dtype=float, copy=True)
    if Q.shape != (R, S, A) or len(seeds) != R:
        raise ValueError(f"Q0 must have shape ({R}, {S}, {A}) and seeds {R} entries, got {Q.shape} and {len(seeds)}")
    if n_steps < 1 or eval_every < 1:
        raise ValueError(f"n_steps and eval_every must be >= 1, got {n_steps} and {eval_every}")
    rngs = [np.random.default_rng(seed) for seed in seeds]
    live = np.flatnonzero(~env.terminal)
    s = np.stack([rng.choice(live, n_walkers) for rng in rngs])  # [R, W] current cells
    rows = np.arange(R)[:, None]
    Q_sa, Q_all = Q.reshape(R * S, A), Q.reshape(-1)  # views: row r * S + s is Q[r, s]
    n_updates = np.zeros(R * S * A)
    reward = (env.object_phi @ tasks.T).T  # [R, S]: w_r^T phi on entering each cell (phi is one-hot: exact)
    steps, returns = [0], [[policy_return(env, greedy(q), w, gamma) for q, w in zip(Q, tasks)]]
    for t0 in range(0, n_steps, eval_every):
        k = min(eval_every, n_steps - t0)
        for u in np.stack([rng.random((k, n_walkers, 5)) for rng in rngs], axis=1):  # u: [R, W, 5]
            a = np.where(u[..., 0] < epsilon, (u[..., 1] * A).astype(int), greedy(Q_sa[rows * S + s]))
            moved = np.where(u[..., 2] < env.slip, (u[..., 3] * A).astype(int), a)
            s2 = env.next_state[s, moved]
            term = env.terminal[s2]
            target = reward[rows, s2] + gamma * Q_sa[rows * S + s2].max(axis=-1) * ~term
            idx = ((rows * S + s) * A + a).ravel()
            np.add.at(n_updates, idx, 1.0)
            np.add.at(Q_all, idx, lr / n_updates[idx] ** decay * (target.ravel() - Q_all[idx]))
            s = np.where(term, live[(u[..., 4] * len(live)).astype(int)], s2)
        steps.append((t0 + k) * n_walkers)
        returns.append([policy_return(env, greedy(q), w, gamma) for q, w in zip(Q, tasks)])
    return Q, np.array(steps), np.array(returns).T


def finetune_curves(env, psis, tasks, gamma, n_iter: int = 10):
    """Normalized return after k = 0..n_iter policy-iteration steps on each task, from GPI and from scratch.

    Scratch starts from the policy that always takes action 0. Returns (from_gpi, from_scratch), each
    [n_tasks, n_iter + 1]; a run that has converged keeps its final value.
    """
    uniform = np.full((env.n_states, env.n_actions), 1.0 / env.n_actions)
    curves = {"gpi": [], "scratch": []}
    for w in tasks:
        r = env.reward(w)
        starts = {"gpi": _core().gpi_policy(psis, w), "scratch": np.zeros(env.n_states, dtype=int)}
        rand = policy_return(env, uniform, w, gamma)
        opt = policy_return(env, policy_iteration(env.P, r, gamma, starts["gpi"])[0], w, gamma)
        for k, p0 in starts.items():
            values: list = []
            visited = policy_iteration(env.P, r, gamma, p0, max_iter=n_iter, values=values)[1]
            rets = [float(env.start_dist @ V) for V in values]
            if len(visited) > len(values):  # the last improvement was not evaluated yet
                rets.append(policy_return(env, visited[-1], w, gamma))
            rets += [rets[-1]] * (n_iter + 1 - len(rets))
            curves[k].append(normalized(rets[: n_iter + 1], rand, opt))
    return np.array(curves["gpi"]), np.array(curves["scratch"])


def q_learning_curves(env, psis, tasks, gamma, n_steps: int = 1500, eval_every: int = 150, **kwargs):
    """Normalized return of Q-learning on each task, started from GPI's Q = max_i w'^T psi_i and from zeros.

    One run per task and start (seed = task index), all in one batch. Returns (env_steps [K],
    from_gpi [n_tasks, K], from_zero [n_tasks, K]).
    """
    tasks = np.atleast_2d(tasks)
    uniform = np.full((env.n_states, env.n_actions), 1.0 / env.n_actions)
    q_gpi = np.stack([_core().gpi_q(psis, w) for w in tasks])
    opt = np.array([policy_return(env, policy_iteration(env.P, env.reward(w), gamma, greedy(q))[0], w, gamma)
                    for q, w in zip(q_gpi, tasks)])
    rand = np.array([policy_return(env, uniform, w, gamma) for w in tasks])
    n = len(tasks)
    seeds = list(range(n)) * 2
    steps, rets = q_learning_runs(env, np.concatenate([tasks, tasks]), gamma,
                                  np.concatenate([q_gpi, np.zeros_like(q_gpi)]), seeds, n_steps=n_steps,
                                  eval_every=eval_every, **kwargs)[1:]
    curves = normalized(rets, np.concatenate([rand, rand])[:, None], np.concatenate([opt, opt])[:, None])
    return steps, curves[:n], curves[n:]
