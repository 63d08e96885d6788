"""The Beta-Bernoulli belief update (Bayes' rule for Bernoulli arms), batched over tasks.

Kept apart from lecture_utils.bandits because it answers homework part 4.1: the grader masks this module
in the student's kernel, while the bandit tasks, policies and trials of lecture_utils.bandits stay
importable for the homework's demo cells.
"""

from __future__ import annotations

import numpy as np


def beta_update(alpha: np.ndarray, beta: np.ndarray, actions: np.ndarray, rewards: np.ndarray):
    """Bayes' rule for Bernoulli arms with Beta beliefs: the pulled arm gets alpha += r, beta += 1 - r.

    alpha, beta: [n_tasks, k]; actions: [n_tasks] ints; rewards: [n_tasks] in {0, 1}. Returns new copies.
    """
    alpha, beta = np.array(alpha, dtype=float), np.array(beta, dtype=float)
    actions, rewards = np.asarray(actions), np.asarray(rewards, dtype=float)
    if alpha.ndim != 2 or alpha.shape != beta.shape or actions.shape != (alpha.shape[0],):
        raise ValueError(f"expected alpha, beta [n_tasks, k] and actions [n_tasks]; got {alpha.shape}, "
                         f"{beta.shape}, {actions.shape}")
    rows = np.arange(alpha.shape[0])
    alpha[rows, actions] += rewards
    beta[rows, actions] += 1.0 - rewards
    return alpha, beta
