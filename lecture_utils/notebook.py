"""The one set-up call every notebook makes, and progress/timing helpers that stay nbval-friendly."""

from __future__ import annotations

import functools
import importlib.abc
import importlib.util
import os
import random
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import numpy as np

T = TypeVar("T")

DEFAULT_SEED = 0


def setup(seed: int = DEFAULT_SEED, threads: int = 1, float64: bool = False) -> np.random.Generator:
    """Seed Python, NumPy and torch, use `threads` torch threads, and apply the course's plot style.

    torch is configured when the notebook imports it (at once if it already has): a section that never uses
    torch does not pay its import.

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
    configure = functools.partial(_configure_torch, seed=seed, float64=float64, threads=threads)
    _configure_torch_on_import(configure)
    # NumPy's BLAS too: its thread pool makes a 100 x 100 solve ~50x slower on 2 busy cores.
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads)
    from lecture_utils.plotting import use_course_style

    use_course_style()
    return np.random.default_rng(seed)


def _configure_torch(torch, seed: int, float64: bool, threads: int) -> None:
    torch.manual_seed(seed)
    torch.set_default_dtype(torch.float64 if float64 else torch.float32)
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:
        pass  # can only be set once per process; re-running the cell is fine
    _deterministic_torch(torch)


def _configure_torch_on_import(configure) -> None:
    """Run configure(torch) now if torch is imported, else right after the notebook's own `import torch`.

    Importing torch costs ~2.5 s of CPU; the numpy-only sections (00, 01, 03) never pay it. The hook wraps
    the loader of that one import and removes itself: every later import is Python's own.
    """
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _TorchImportHook)]
    if "torch" in sys.modules:
        configure(sys.modules["torch"])
    else:
        sys.meta_path.insert(0, _TorchImportHook(configure))


class _TorchImportHook(importlib.abc.MetaPathFinder):
    def __init__(self, configure):
        self.configure = configure

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "torch":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec("torch")
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module, configure = spec.loader.exec_module, self.configure

        def exec_then_configure(module):
            exec_module(module)
            configure(module)

        spec.loader.exec_module = exec_then_configure  # this spec's loader only: a fresh object per find_spec
        return spec


def _deterministic_torch(torch) -> None:
    """torch.use_deterministic_algorithms(True, warn_only=True), without its import of torch._inductor: that
    import (~3 s of CPU, more than the rest of torch) only sets a flag for torch.compile, which the course never
    uses. The eager kernels' flag is set directly; inductor's too if something has already imported it."""
    set_flag = getattr(torch._C, "_set_deterministic_algorithms", None)
    if set_flag is None:  # another torch version: the public call
        torch.use_deterministic_algorithms(True, warn_only=True)
        return
    set_flag(True, warn_only=True)
    inductor = sys.modules.get("torch._inductor.config")
    if inductor is not None:
        inductor.deterministic = True


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
