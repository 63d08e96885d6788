"""Checks for the warm-up homework: the discounted return (0.1) and the returns-to-go (0.2)."""

from __future__ import annotations

import numpy as np

from lecture_utils.selfcheck.core import CheckFailed, call, case_rng, check, expect_close


@check("0.1", "discounted return", points=1)
def check_discounted_return(discounted_return) -> None:
    rng = case_rng(1)
    for n in (1, 2, 7, 50):
        rewards = rng.normal(size=n)
        gamma = float(rng.uniform(0.5, 0.99))
        want = float(np.sum(gamma ** np.arange(n) * rewards))
        got = call(discounted_return, rewards.copy(), gamma)
        if np.ndim(got) != 0:
            raise CheckFailed(f"discounted_return should return one number, got shape {np.shape(got)}")
        expect_close(got, want, "discounted_return", case=f"{n} rewards, gamma={gamma:.2f}")


@check("0.2", "discounted returns-to-go", points=1)
def check_returns_to_go(returns_to_go) -> None:
    rng = case_rng(2)
    for n in (1, 3, 20):
        rewards = rng.normal(size=n)
        gamma = float(rng.uniform(0.5, 0.99))
        want = np.array([np.sum(gamma ** np.arange(n - t) * rewards[t:]) for t in range(n)])
        got = call(returns_to_go, rewards.copy(), gamma)
        expect_close(got, want, "returns_to_go", case=f"{n} rewards, gamma={gamma:.2f}")
