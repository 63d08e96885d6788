"""Hidden tests for homework 01 (see hidden/__init__.py).

1.2 - 1.4 take and return plain data (arrays, ints, floats, bools): their public checks run as they are, with
the student's functions called remotely, on the grader's cases. 1.1's check also passes `np.random.Generator`
seeds (the sampler must accept them): a generator is not plain data, so it travels as its bit generator's state
(a JSON string) and a small harness rebuilds the same generator in the kernel before calling the student's
`sample_params`. The answering functions live in `lecture_utils.dr_protocols`, masked in the grading kernel;
the rest of `lecture_utils.domain_randomization` (the cart, `train_es`, `finetune`, `target_returns_each`)
stays available to the student.
"""

from __future__ import annotations

import json

import numpy as np

from lecture_admin.grading.hidden import Harness, hidden
from lecture_utils.selfcheck.core import get_check

LIBRARY = ("lecture_utils.dr_protocols",)

# Kernel side: rebuild a Generator from its state when the grader sent one, then call the student's sampler.
SAMPLER_HARNESS = '''
def __harness(fn, low, high, n, seed, log_scale, generator=None):
    import json as _json

    import numpy as _np

    if generator is not None:
        seed = _np.random.Generator(getattr(_np.random, generator["bit_generator"])())
        seed.bit_generator.state = _json.loads(generator["state"])
    return fn(low, high, n, seed, log_scale)
'''


class RemoteSampler:
    """The student's sample_params(low, high, n, seed, log_scale), with `seed` an int or a np.random.Generator."""

    def __init__(self, kernel, name: str):
        self.__name__ = name
        self._harness = Harness(kernel, name, SAMPLER_HARNESS, timeout=60.0)

    def __call__(self, low, high, n, seed, log_scale):
        generator = None
        if isinstance(seed, np.random.Generator):
            state = seed.bit_generator.state
            generator = {"bit_generator": state["bit_generator"], "state": json.dumps(state)}
            seed = None
        elif isinstance(seed, np.integer):
            seed = int(seed)
        return self._harness(low=low, high=high, n=int(n), seed=seed, log_scale=log_scale, generator=generator)


def run_sampler(kernel, names) -> None:
    """1.1: the public check's properties (ranges, log-uniform vs uniform, independence, same seed or same
    Generator -> same samples) on the grader's cases, with Generators rebuilt in the kernel."""
    get_check("1.1").fn(RemoteSampler(kernel, names[0]))


hidden("1.1", library=LIBRARY, run=run_sampler)
hidden("1.2", library=LIBRARY)  # plain data: the public check, remotely, on the grader's cases
hidden("1.3", library=LIBRARY)
hidden("1.4", library=LIBRARY)
