"""Checks for homework 03 (successor features): psi by linear solve, Q' from psi and w', GPI actions."""

from __future__ import annotations

import numpy as np

from lecture_utils.selfcheck.core import CheckFailed, call, case_rng, check, expect_close, expect_shape


def random_mdp(rng: np.random.Generator, S: int, A: int, d: int, terminal: bool = False):
    """A random MDP: P [S, A, S] (rows sum to 1, or 0 for a terminal last state), phi [S, A, d], pi [S, A]."""
    P = rng.dirichlet(np.full(S, 0.5), size=(S, A))
    phi = rng.normal(size=(S, A, d))
    if terminal and S > 1:
        P[-1] = 0.0
        phi[-1] = 0.0
    pi = rng.dirichlet(np.ones(A), size=S)
    return P, phi, pi


def reference_psi(P, phi, pi, gamma):
    S, A, d = phi.shape
    P_pi = (P[:, :, :, None] * pi[None, None]).reshape(S * A, S * A)
    return np.linalg.solve(np.eye(S * A) - gamma * P_pi, phi.reshape(S * A, d)).reshape(S, A, d)


CASES_3_1 = [  # (S, A, d, gamma, terminal)
    (1, 1, 1, 0.5, False),
    (3, 2, 2, 0.9, False),
    (5, 4, 3, 0.0, False),
    (7, 3, 1, 0.99, True),
    (12, 4, 5, 0.95, True),
    (20, 2, 3, 0.3, False),
]


@check("3.1", "psi by linear solve", points=3)
def check_psi_linear_solve(psi_linear_solve) -> None:
    rng = case_rng(301)
    for S, A, d, gamma, terminal in CASES_3_1:
        P, phi, pi = random_mdp(rng, S, A, d, terminal)
        case = f"S={S}, A={A}, d={d}, gamma={gamma}"
        got = call(psi_linear_solve, P.copy(), phi.copy(), pi.copy(), gamma)
        want = reference_psi(P, phi, pi, gamma)
        psi = expect_shape(got, (S, A, d), f"psi ({case})")
        expect_close(psi, want, "psi", rtol=1e-6, atol=1e-8, case=case)


@check("3.2", "Q' from psi and w'", points=2)
def check_q_from_psi(q_from_psi) -> None:
    rng = case_rng(302)
    for shape in [(4, 2, 3), (9, 4, 1), (6, 3, 5), (2, 7, 5, 4)]:
        psi = rng.normal(size=shape)
        w = rng.normal(size=shape[-1])
        case = f"psi of shape {shape}, w' of shape {w.shape}"
        got = call(q_from_psi, psi.copy(), w.copy())
        expect_shape(got, shape[:-1], f"Q' ({case})")
        expect_close(got, psi @ w, "Q'", case=case)
    # A w' that does not match psi's d must be refused with a message that names the shapes.
    psi = rng.normal(size=(5, 4, 3))
    for bad in (rng.normal(size=4), rng.normal(size=2)):
        try:
            q_from_psi(psi.copy(), bad.copy())
        except NotImplementedError:
            raise
        except ValueError as e:
            msg = str(e)
            if str(bad.shape) not in msg or "3" not in msg:
                raise CheckFailed(
                    f"for psi [5, 4, 3] and w' of shape {bad.shape} the ValueError should give both shapes, "
                    f"e.g. \"w' has shape {bad.shape}, expected (3,)\"; yours said: {msg[:120]!r}") from None
            continue
        except Exception as e:
            raise CheckFailed(f"for w' of shape {bad.shape} and psi [5, 4, 3] raise ValueError, "
                              f"not {type(e).__name__}") from None
        raise CheckFailed(f"q_from_psi accepted w' of shape {bad.shape} for psi with d = 3 features: raise ValueError")


@check("3.3", "GPI action selection", points=3)
def check_gpi_policy(gpi_policy) -> None:
    rng = case_rng(303)
    for n, S, A, d in [(1, 4, 2, 2), (3, 6, 4, 3), (5, 10, 3, 4), (2, 1, 5, 1), (8, 15, 4, 3)]:
        psis = rng.normal(size=(n, S, A, d))
        w = rng.normal(size=d)
        case = f"{n} policies, S={S}, A={A}, d={d}"
        got = call(gpi_policy, psis.copy(), w.copy())
        acts = expect_shape(got, (S,), f"actions ({case})")
        if not np.all(np.isfinite(acts)) or not np.all(acts == np.round(acts)):
            raise CheckFailed(f"actions ({case}) must be integers, one per state")
        acts = acts.astype(int)
        if acts.min() < 0 or acts.max() >= A:
            raise CheckFailed(f"actions ({case}) must lie in 0..{A - 1}, got values in {acts.min()}..{acts.max()}")
        gpi_q = (psis @ w).max(axis=0)  # [S, A]
        best = gpi_q.max(axis=1)
        chosen = gpi_q[np.arange(S), acts]
        wrong = int(np.sum(chosen < best - 1e-9))
        if wrong:
            raise CheckFailed(f"({case}) in {wrong} of {S} states the action does not maximise "
                              "max_i w'^T psi^{pi_i}(s, a)")



def td_case(rng: np.random.Generator, S: int, A: int, d: int, done: bool):
    """One TD-update case: psi, the transition (s, a, phi_t, s', a'), gamma, the step size, and psi after it."""
    psi = rng.normal(size=(S, A, d))
    s, a, s2, a2 = (int(x) for x in rng.integers(0, [S, A, S, A]))
    if s == s2 and a == a2:
        s2 = (s + 1) % S
    phi_t = rng.normal(size=d)
    gamma, alpha = float(rng.uniform(0.5, 0.99)), float(rng.uniform(0.05, 0.9))
    want = psi.copy()
    want[s, a] += alpha * (phi_t + (0.0 if done else gamma) * psi[s2, a2] - psi[s, a])
    return psi, s, a, phi_t, s2, a2, gamma, alpha, want


@check("3.4", "TD update for psi (optional)", points=1, optional=True)
def check_td_update(td_update) -> None:
    rng = case_rng(304)
    for S, A, d, done in [(3, 2, 2, False), (6, 4, 3, True), (5, 3, 1, False), (8, 4, 4, False)]:
        psi, s, a, phi_t, s2, a2, gamma, alpha, want = td_case(rng, S, A, d, done)
        got = psi.copy()
        call(td_update, got, s, a, phi_t.copy(), s2, a2, done, gamma, alpha)
        case = f"S={S}, A={A}, d={d}, done={done}"
        expect_close(got, want, "psi after td_update (updated in place)", case=case)


# ---------------------------------------------------------------- 3.5: successor features from experience
#
# A task family the student never sees the model of: S states, A actions; each (s, a) leads to one of 3 next
# states; entering s' gives the feature G[s'] (sparse, non-negative) and ends the episode with probability
# beta[s'] (a quarter of the states are exits). The student gets reward-free transitions of a uniformly random
# behaviour policy, the family (the optimal policies of the base tasks e_1..e_d), and for each of K new tasks a
# few labelled transitions (features and a noisy reward phi . w'). The references (exact psi, returns, the
# best the data allow) are computed here from the model.

SF_NOISE = 0.1  # standard deviation of the observed rewards around phi . w'
# Credit of one task family (3.5): each measure in bands, the part's credit is the lowest band of the three.
# Measured over 50 grading seeds x 2 families (lecture bench --behaviour --part 3.5): see hidden/sec03.py.
SF_PSI_BANDS = [(0.08, 1.0), (0.12, 0.5)]  # psi's relative error above what batch TD on the same data reaches
SF_W_BANDS = [(0.05, 1.0), (0.15, 0.5)]  # w''s relative error above least squares on the same labels
SF_GAP_BANDS = [(0.15, 1.0), (0.30, 0.5)]  # normalized return lost by GPI with yours vs with the exact psi, w'


def _sf_model(case: dict):
    """Expected features phi(s, a) [S, A, d] and the continuing transition matrix P (1 - beta) [S, A, S]."""
    return case["P"] @ case["G"], case["P"] * (1.0 - case["beta"])[None, None, :]


def _sf_value_iteration(Pc, r, gamma, tol: float = 1e-12, max_iter: int = 10_000) -> np.ndarray:
    Q = np.zeros_like(r)
    for _ in range(max_iter):
        Q_new = r + gamma * Pc @ Q.max(axis=1)
        if np.max(np.abs(Q_new - Q)) < tol:
            return Q_new
        Q = Q_new
    return Q


def _sf_return(Pc, r, pi, gamma) -> float:
    """Exact discounted return of pi [S, A] from a uniformly random start state."""
    S = r.shape[0]
    P_pi = np.einsum("sa,sat->st", pi, Pc)
    return float(np.linalg.solve(np.eye(S) - gamma * P_pi, (pi * r).sum(axis=1)).mean())


def sf_experience_case(rng: np.random.Generator, S: int = 20, A: int = 4, d: int = 4, n_tasks: int = 5,
                       n_data: int = 20_000, n_labels: int = 200, n_walkers: int = 50) -> dict:
    """One task family for 3.5: the model (grader's side) and what the student's function receives."""
    P = np.zeros((S, A, S))
    for s in range(S):
        for a in range(A):
            P[s, a, rng.choice(S, 3, replace=False)] = rng.dirichlet(np.ones(3))
    G = rng.random((S, d)) * (rng.random((S, d)) < 0.35)
    beta = np.zeros(S)
    exits = rng.choice(S, max(1, S // 4), replace=False)
    beta[exits] = rng.uniform(0.5, 1.0, len(exits))
    gamma = float(np.round(rng.uniform(0.85, 0.95), 3))
    case = {"P": P, "G": G, "beta": beta, "gamma": gamma, "W_new": rng.uniform(-1.0, 1.0, (n_tasks, d))}
    phi_sa, Pc = _sf_model(case)
    case["policies"] = np.stack([np.eye(A)[_sf_value_iteration(Pc, phi_sa @ w, gamma).argmax(axis=1)]
                                 for w in np.eye(d)])
    # reward-free experience: n_walkers episodes at a time, uniformly random actions, restarts anywhere
    s = rng.integers(0, S, n_walkers)
    cols: dict[str, list] = {k: [] for k in ("s", "a", "phi", "s_next", "done")}
    for _ in range(n_data // n_walkers):
        a = rng.integers(0, A, n_walkers)
        cdf = np.cumsum(P[s, a], axis=1)
        s2 = np.minimum((rng.random((n_walkers, 1)) > cdf).sum(axis=1), S - 1)
        done = rng.random(n_walkers) < beta[s2]
        for k, v in zip(cols, (s, a, G[s2], s2, done)):
            cols[k].append(v)
        s = np.where(done, rng.integers(0, S, n_walkers), s2)
    case["data"] = {k: np.concatenate(v) for k, v in cols.items()}
    # a few labelled transitions per new task: the features observed and a noisy reward phi . w'
    idx = rng.integers(0, len(case["data"]["s"]), (n_tasks, n_labels))
    phi_l = case["data"]["phi"][idx]
    r = np.einsum("kmd,kd->km", phi_l, case["W_new"]) + SF_NOISE * rng.normal(size=(n_tasks, n_labels))
    case["reward_data"] = {"phi": phi_l, "r": r}
    return case


def sf_batch_reference(case: dict):
    """What the data allow: psi by batch TD on the transitions (its fixed point, the empirical model's linear
    solve) and w' by least squares on the labels. The yardstick of 3.5, never the answer's source."""
    data, pis, gamma = case["data"], case["policies"], case["gamma"]
    n, S, A = pis.shape
    d = data["phi"].shape[1]
    sa = data["s"] * A + data["a"]
    counts = np.maximum(np.bincount(sa, minlength=S * A), 1).astype(float)
    phi_hat = np.stack([np.bincount(sa, data["phi"][:, j], S * A) for j in range(d)], axis=1) / counts[:, None]
    C = np.zeros((S * A, S))
    np.add.at(C, (sa, data["s_next"]), 1.0 - data["done"])
    C /= counts[:, None]
    psis = np.stack([np.linalg.solve(np.eye(S * A) - gamma * (C[:, :, None] * pi[None]).reshape(S * A, S * A),
                                     phi_hat).reshape(S, A, d) for pi in pis])
    W = np.stack([np.linalg.lstsq(p, r, rcond=None)[0] for p, r in zip(case["reward_data"]["phi"],
                                                                     case["reward_data"]["r"])])
    return psis, W


def sf_experience_measure(case: dict, psis, W) -> dict:
    """psi's and w''s relative errors above the data's best, and the normalized return GPI loses."""
    phi_sa, Pc = _sf_model(case)
    gamma, pis = case["gamma"], case["policies"]
    S, A, _ = phi_sa.shape
    def p_pi(pi):
        return (Pc[:, :, :, None] * pi[None, None]).reshape(S * A, S * A)

    exact = np.stack([np.linalg.solve(np.eye(S * A) - gamma * p_pi(pi), phi_sa.reshape(S * A, -1)).reshape(phi_sa.shape)
                      for pi in pis])
    ref_psis, ref_W = sf_batch_reference(case)

    def psi_err(p):
        return float(np.sqrt(np.mean((p - exact) ** 2) / np.mean(exact ** 2)))

    def w_err(w):
        return float(np.mean(np.linalg.norm(w - case["W_new"], axis=1) / np.linalg.norm(case["W_new"], axis=1)))

    lost = scale = 0.0
    for w, w_hat in zip(case["W_new"], W):
        r = phi_sa @ w
        optimal = _sf_return(Pc, r, np.eye(A)[_sf_value_iteration(Pc, r, gamma).argmax(axis=1)], gamma)
        rand = _sf_return(Pc, r, np.full((S, A), 1.0 / A), gamma)
        gpi_exact = _sf_return(Pc, r, np.eye(A)[(exact @ w).max(axis=0).argmax(axis=1)], gamma)
        gpi_yours = _sf_return(Pc, r, np.eye(A)[(psis @ w_hat).max(axis=0).argmax(axis=1)], gamma)
        lost += gpi_exact - gpi_yours
        scale += optimal - rand
    return {"psi_excess": psi_err(psis) - psi_err(ref_psis), "psi_floor": psi_err(ref_psis),
            "w_excess": w_err(W) - w_err(ref_W), "w_floor": w_err(ref_W), "gap": lost / scale}


def _below(value: float, bands) -> float:
    """The credit of a measure where smaller is better: bands [(upper limit, fraction), ...], tightest first."""
    if not np.isfinite(value):
        return 0.0
    return next((f for limit, f in bands if value <= limit), 0.0)


def sf_experience_credit(m: dict) -> tuple[float, str]:
    """(credit of one task family, the one line that says why) from sf_experience_measure's numbers."""
    parts = [(_below(m["psi_excess"], SF_PSI_BANDS),
              f"your psi's relative error is {m['psi_floor'] + m['psi_excess']:.3f}, batch TD on the same "
              f"transitions reaches {m['psi_floor']:.3f}: check the TD target (the policy's next action, gamma, "
              "done) and that the updates converge"),
             (_below(m["w_excess"], SF_W_BANDS),
              f"your w' estimates have relative error {m['w_floor'] + m['w_excess']:.3f}, least squares on the "
              f"same labelled transitions reaches {m['w_floor']:.3f}: solve phi w' = r in the least-squares sense"),
             (_below(m["gap"], SF_GAP_BANDS),
              f"GPI with your psi and w' loses {m['gap']:.3f} of the normalized return (random 0, optimal 1) "
              "that GPI with the exact psi and w' earns")]
    worst = min(parts, key=lambda p: p[0])
    return worst[0], worst[1]


def sf_experience_outputs(got, case: dict):
    """The student's (psis, W) as arrays of the right shapes, or CheckFailed naming what is off."""
    n, S, A = case["policies"].shape
    K, d = case["W_new"].shape
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise CheckFailed("learn_sf_from_experience should return a pair (psis, W)")
    psis = expect_shape(got[0], (n, S, A, d), "psis")
    W = expect_shape(got[1], (K, d), "W")
    for name, x in (("psis", psis), ("W", W)):
        if not np.all(np.isfinite(x)):
            raise CheckFailed(f"{name} contains NaN or inf")
    return psis, W


def sf_experience_inputs(case: dict) -> tuple:
    """The student's arguments: (data, policies, gamma, reward_data), plain arrays (copies)."""
    data = {k: v.copy() for k, v in case["data"].items()}
    return data, case["policies"].copy(), case["gamma"], {k: v.copy() for k, v in case["reward_data"].items()}


@check("3.5", "successor features from experience", points=8)
def check_sf_from_experience(learn_sf_from_experience) -> None:
    rng = case_rng(305)
    for S, d in [(20, 4), (16, 3)]:
        case = sf_experience_case(rng, S=S, d=d)
        psis, W = sf_experience_outputs(call(learn_sf_from_experience, *sf_experience_inputs(case)), case)
        fraction, why = sf_experience_credit(sf_experience_measure(case, psis, W))
        if fraction < 1.0:
            raise CheckFailed(f"(S={S}, d={d}) {why}")
