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
