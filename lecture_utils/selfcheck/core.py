"""Public self-checks: a registry of check functions and `grade`, which runs one in the student's notebook.

A check cell in a homework notebook is exactly::

    from lecture_utils.selfcheck import grade
    grade("3.1", psi_linear_solve)

It prints one line, ``Exercise 3.1 (psi by linear solve): passed``, or raises `PartFailed` whose whole
traceback is one line that says what is wrong without giving the answer. So "every cell ran without an
error" means "every part passes its public checks", for ``pytest --nbval-lax`` (the self-check) and for
nbgrader's autograde alike. These checks are feedback only: the score comes from the hidden tests that the
instructor's grader runs in its own process (lecture_admin/grading), never from anything printed here.

Checks live in ``lecture_utils/selfcheck/secNN.py`` (exercise "3.1" -> module ``sec03``) and register
themselves with the ``@check`` decorator. A check receives the student's objects, generates its own
cases (seeded), and raises ``CheckFailed`` with a helpful message when something is wrong.
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


class LazyModule:
    """A module imported on its first attribute access: `torch = LazyModule("torch")`.

    Registering a section's checks (the release, the README's tables, a homework without torch) then does not pay
    torch's ~2.5 s import; the first check that uses torch imports it.
    """

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr: str):
        return getattr(importlib.import_module(self._name), attr)

_ID_RE = re.compile(r"^(\d+)\.(\d+)$")


class CheckFailed(AssertionError):
    """Raised by a check when the student's answer is wrong; the message is shown to the student."""


class StudentError(Exception):
    """The student's code raised while the check called it."""


@dataclass(frozen=True)
class Check:
    exercise_id: str
    title: str
    points: int
    fn: Callable[..., None]
    optional: bool = False  # extra credit

    @property
    def grade_id(self) -> str:
        return "check_" + self.exercise_id.replace(".", "_")


_REGISTRY: dict[str, Check] = {}
_CASE_SEED: int | None = None  # None: the public, fixed cases; the grader sets its own (see use_case_seed)


def case_rng(tag: int) -> np.random.Generator:
    """The random generator a check draws its cases from: fixed in the student's self-check; in the grader's
    own process, derived from the seed the instructor sets at grading time (so the cases are not known)."""
    return np.random.default_rng(tag if _CASE_SEED is None else (_CASE_SEED, tag))


def use_case_seed(seed: int | None) -> None:
    global _CASE_SEED
    _CASE_SEED = seed


def check(exercise_id: str, title: str, points: int, optional: bool = False):
    """Register a check function for `exercise_id` ("section.part", e.g. "3.1")."""
    if not _ID_RE.match(exercise_id):
        raise ValueError(f"exercise ids look like '3.1', got {exercise_id!r}")
    if not isinstance(points, int) or points <= 0:
        raise ValueError(f"points must be a positive int, got {points!r}")

    def deco(fn):
        existing = _REGISTRY.get(exercise_id)
        if existing is not None and existing.fn.__qualname__ != fn.__qualname__:
            raise ValueError(f"exercise {exercise_id} is registered twice ({existing.fn.__qualname__})")
        _REGISTRY[exercise_id] = Check(exercise_id, title, points, fn, optional)
        return fn

    return deco


def section_module(exercise_id: str) -> str:
    m = _ID_RE.match(str(exercise_id))
    if not m:
        raise ValueError(f"exercise ids look like '3.1', got {exercise_id!r}")
    return f"lecture_utils.selfcheck.sec{int(m.group(1)):02d}"


def get_check(exercise_id: str) -> Check:
    """The registered check for `exercise_id`, importing its section's module on first use."""
    if exercise_id not in _REGISTRY:
        modname = section_module(exercise_id)
        try:
            importlib.import_module(modname)
        except ModuleNotFoundError as e:
            if e.name == modname:
                raise KeyError(f"no checks exist for section of exercise {exercise_id!r}") from None
            raise
    try:
        chk = _REGISTRY[exercise_id]
    except KeyError:
        raise KeyError(f"no check is registered for exercise {exercise_id!r}") from None
    return chk


def format_line(chk: Check, passed: bool, detail: str = "") -> str:
    status = "passed the public checks" if passed else "failed"
    line = f"Exercise {chk.exercise_id} ({chk.title}): {status}"
    if detail:
        # One line, bounded: a failure message never floods the report.
        detail = " ".join(str(detail).split())
        if len(detail) > 400:
            detail = detail[:397] + "..."
        line += f" -- {detail}"
    return line


def run_check(exercise_id: str, *answers) -> tuple[bool, str, Check]:
    """Run a check; returns (passed, message, check). Never raises for a wrong or unfinished answer."""
    chk = get_check(exercise_id)
    try:
        chk.fn(*answers)
    except NotImplementedError:
        return False, "not attempted yet: replace `raise NotImplementedError()` with your code", chk
    except CheckFailed as e:
        return False, str(e), chk
    except StudentError as e:
        return False, str(e), chk
    except Exception as e:  # the student's code raised somewhere the check did not wrap
        return False, f"your code raised {type(e).__name__}: {e}", chk
    return True, "", chk


class PartFailed(Exception):
    """A failed or unattempted part. IPython shows only its one line (no traceback) to the student."""

    def __init__(self, line: str):
        super().__init__(line)
        self.line = line

    def _render_traceback_(self) -> list[str]:
        return [self.line]


def grade(exercise_id: str, *answers) -> None:
    """Run the public checks of `exercise_id` on the student's answers.

    Passed: prints one "passed" line. Failed or not attempted: raises PartFailed with one line that says
    what is wrong, so the cell errors (nbval-lax and nbgrader both count that as a failed part).
    """
    from lecture_utils.selfcheck.answers import answer_modules_used

    for fn in answers:
        for mod in answer_modules_used(fn, exercise_id):
            print(f"note: {getattr(fn, '__name__', 'your answer')} uses {mod}, which is not available when "
                  "grading (that part would score 0): write it yourself")
    passed, msg, chk = run_check(exercise_id, *answers)
    line = format_line(chk, passed, msg)
    if not passed:
        raise PartFailed(line)
    print(line)


# ---------------------------------------------------------------- helpers for writing checks


def call(fn, *args, what: str | None = None, **kwargs):
    """Call the student's `fn`; its exceptions become a StudentError that names the call.

    NotImplementedError passes through unchanged (the "not attempted yet" message).
    """
    if not callable(fn):
        raise CheckFailed(f"expected a function, got {type(fn).__name__}")
    try:
        return fn(*args, **kwargs)
    except (NotImplementedError, StudentError):
        raise
    except Exception as e:
        name = what or getattr(fn, "__name__", "your function")
        raise StudentError(f"{name} raised {type(e).__name__}: {e}") from None


def as_array(x, name: str) -> np.ndarray:
    """Convert a student's result (NumPy array, torch tensor, list) to a float NumPy array."""
    if x is None:
        raise CheckFailed(f"{name} is None: did you forget to `return` it?")
    torch = sys.modules.get("torch")  # a tensor exists only once torch is imported: never import it here (~2.5 s)
    if torch is not None and isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    try:
        return np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise CheckFailed(f"{name} should be an array of numbers, got {type(x).__name__}") from None


def expect_shape(x, shape: tuple, name: str) -> np.ndarray:
    arr = as_array(x, name)
    if arr.shape != tuple(shape):
        raise CheckFailed(f"{name} has shape {arr.shape}, expected {tuple(shape)}")
    return arr


def expect_close(got, want, name: str, rtol: float = 1e-5, atol: float = 1e-7, case: str = "") -> None:
    """Shape, finiteness and value check with a message that gives the size of the error, not the answer."""
    want = np.asarray(want, dtype=float)
    g = expect_shape(got, want.shape, name)
    where = f" ({case})" if case else ""
    if not np.all(np.isfinite(g)):
        raise CheckFailed(f"{name}{where} contains NaN or inf")
    if not np.allclose(g, want, rtol=rtol, atol=atol):
        err = float(np.max(np.abs(g - want)))
        raise CheckFailed(f"{name}{where} is off: max abs error {err:.3g} (tolerance {atol + rtol:.1g})")


