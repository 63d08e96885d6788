"""The Beta-Bernoulli belief update (Bayes' rule for Bernoulli arms), batched over tasks.

Kept apart from lecture_utils.bandits because it answers homework part 4.1: the grader masks this module
in the student's kernel, while the bandit tasks, policies and trials of lecture_utils.bandits stay
importable for the homework's demo cells.
"""

from __future__ import annotations

import numpy as np


def beta_update(prior_a: np.ndarray, prior_b: np.ndarray, actions: np.ndarray, rewards: np.ndarray):
    """Bayes' rule for Bernoulli arms with Beta(prior_a, prior_b) beliefs (the slide's Beta(alpha, beta)):
    the pulled arm gets a += r, b += 1 - r.

    prior_a, prior_b: [n_tasks, k]; actions: [n_tasks] ints; rewards: [n_tasks] in {0, 1}.
    Returns the posterior (a, b) as new copies.
    """
    a, b = np.array(prior_a, dtype=float), np.array(prior_b, dtype=float)
    actions, rewards = np.asarray(actions), np.asarray(rewards, dtype=float)
    if a.ndim != 2 or a.shape != b.shape or actions.shape != (a.shape[0],):
        raise ValueError(f"expected prior_a, prior_b [n_tasks, k] and actions [n_tasks]; got {a.shape}, "
                         f"{b.shape}, {actions.shape}")
    rows = np.arange(a.shape[0])
    a[rows, actions] += rewards
    b[rows, actions] += 1.0 - rewards
    return a, b
