"""The one set-up call every notebook makes, and progress/timing helpers that stay nbval-friendly."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import numpy as np

T = TypeVar("T")

DEFAULT_SEED = 0


def setup(seed: int = DEFAULT_SEED, threads: int = 1, float64: bool = False) -> np.random.Generator:
    """Seed Python, NumPy and torch, use `threads` torch threads, and apply the course's plot style.

    Returns a NumPy Generator seeded with `seed` for the notebook's own sampling.
    float64=True makes torch create float64 tensors by default (torch.set_default_dtype). Training loops
    amplify the last-bit differences between CPUs' float32 kernels into visibly different results; in
    float64 those differences stay far below printed precision, so every machine prints the same numbers.
    One torch thread (and one BLAS thread): on 2 busy cores the default thread pools slow small
    networks ~20x and small linear solves ~50x.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"setup(seed=...) expects a non-negative int, got {seed!r}")
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    random.seed(seed)
    np.random.seed(seed)
    import torch

    torch.manual_seed(seed)
    torch.set_default_dtype(torch.float64 if float64 else torch.float32)
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:
        pass  # can only be set once per process; re-running the cell is fine
    torch.use_deterministic_algorithms(True, warn_only=True)
    # NumPy's BLAS too: its thread pool makes a 100 x 100 solve ~50x slower on 2 busy cores.
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads)
    from lecture_utils.plotting import use_course_style

    use_course_style()
    return np.random.default_rng(seed)


@contextmanager
def float64():
    """`with lecture_utils.float64():` runs the block with torch's default dtype float64, then restores it.

    For a short training run whose printed result must be the same on every CPU: in float32, the last-bit
    differences between CPUs' kernels grow over the training loop into visible differences; in float64 they
    stay far below the printed precision.
    """
    import torch

    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(before)


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell"


def progress(iterable: Iterable[T], total: int | None = None, desc: str = "") -> Iterator[T]:
    """Wrap a long loop with a progress bar.

    In JupyterLab the bar is a live ipywidgets widget. Its text form (what nbval compares) is fixed
    when it is first displayed, so re-running a notebook gives the same stored text. Outside a
    notebook it is silent.
    """
    items = iterable
    if total is None:
        try:
            total = len(iterable)  # type: ignore[arg-type]
        except TypeError:
            total = 0
    if not _in_notebook() or total <= 0:
        yield from items
        return
    import ipywidgets as widgets
    from IPython.display import display

    bar = widgets.IntProgress(value=0, min=0, max=total, description=desc or "progress")
    label = widgets.Label(value=f"0/{total}")
    display(widgets.HBox([bar, label]))
    every = max(1, total // 100)
    for i, item in enumerate(items, start=1):
        yield item
        if i % every == 0 or i == total:
            bar.value = i
            label.value = f"{i}/{total}"
    bar.bar_style = "success"


@contextmanager
def timer(what: str = "took"):
    """Print `[<what>: 1.23 s]` after the block. tests/nbval_sanitize.cfg masks the number for nbval."""
    t0 = time.perf_counter()
    yield
    print(f"[{what}: {time.perf_counter() - t0:.2f} s]")
