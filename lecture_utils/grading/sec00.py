"""Checks for the warm-up example (exercise 0.1): the discounted return."""

from __future__ import annotations

import numpy as np

from lecture_utils.grading.core import CheckFailed, call, check, expect_close


@check("0.1", "discounted return", points=1)
def check_discounted_return(discounted_return) -> None:
    rng = np.random.default_rng(1)
    for n in (1, 2, 7, 50):
        rewards = rng.normal(size=n)
        gamma = float(rng.uniform(0.5, 0.99))
        want = float(np.sum(gamma ** np.arange(n) * rewards))
        got = call(discounted_return, rewards.copy(), gamma)
        if np.ndim(got) != 0:
            raise CheckFailed(f"discounted_return should return one number, got shape {np.shape(got)}")
        expect_close(got, want, "discounted_return", case=f"{n} rewards, gamma={gamma:.2f}")
