"""psi by a linear solve, Q' = w'^T psi, and GPI: the answers to homework 3.1-3.3.

Kept apart from successor_features.py (which re-exports them for the lecture as `sf.psi_linear_solve` ...)
so that the grader can mask this file alone: in the grading kernel these cannot be called in place of
your own code, while everything else of successor_features stays available.
"""

from __future__ import annotations

import numpy as np

from lecture_utils.successor_features import _check_gamma, _check_model, check_w, greedy, sa_transition


def psi_linear_solve(P, phi, pi, gamma) -> np.ndarray:
    """psi^pi = (I - gamma P^pi)^{-1} phi, shape [S, A, d]: the Bellman equation psi = phi + gamma P^pi psi."""
    P, phi = _check_model(P, phi)
    gamma = _check_gamma(gamma)
    S, A, d = phi.shape
    M = np.eye(S * A) - gamma * sa_transition(P, pi)
    return np.linalg.solve(M, phi.reshape(S * A, d)).reshape(S, A, d)


def q_from_psi(psi, w) -> np.ndarray:
    """Q = w^T psi over the last axis: psi [..., d], w [d] -> Q [...]."""
    psi = np.asarray(psi, dtype=float)
    return psi @ check_w(w, psi.shape[-1])


def gpi_q(psis, w) -> np.ndarray:
    """max_i w^T psi^{pi_i}(s, a) over a family psis [n, S, A, d] -> [S, A]."""
    psis = np.asarray(psis, dtype=float)
    if psis.ndim != 4:
        raise ValueError(f"psis must have shape [n_policies, S, A, d], got {psis.shape}")
    return q_from_psi(psis, w).max(axis=0)


def gpi_policy(psis, w) -> np.ndarray:
    """GPI: pi(s) = argmax_a max_i w^T psi^{pi_i}(s, a); actions [S]."""
    return greedy(gpi_q(psis, w))
