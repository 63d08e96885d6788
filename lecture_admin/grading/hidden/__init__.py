"""Hidden tests: what decides a part's score, run in the grader's own process.

The student's code runs only in the sandboxed kernel. A hidden test calls the student's functions there
through `RemoteFunction` proxies: the arguments go in as plain data (numbers, strings, arrays), the result
comes back as plain data, and the test compares it with references computed here, which the kernel never
loads. The cases come from the seed the instructor sets at grading time (`use_case_seed`), so reading
this code, or the public self-checks, does not give the answers.

Most parts reuse their public check (lecture_utils.selfcheck) with remote functions: the same properties,
other cases. A part whose arguments are not plain data (torch modules, generators, in-place updates)
registers its own test here, with a harness that builds those objects inside the kernel from plain data
and returns plain results.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Callable
from dataclasses import dataclass

from lecture_utils.selfcheck.core import StudentError

# Exceptions a student's function may raise on purpose (a check may ask for ValueError): re-raised here.
_PASS_THROUGH = {e.__name__: e for e in (ValueError, TypeError, IndexError, KeyError, AssertionError,
                                         NotImplementedError, ZeroDivisionError)}
MASK_MESSAGE = "is not available when grading: write this part yourself instead of calling the course's copy"


class RemoteError(StudentError):
    """The student's function raised in the kernel (or the call failed): one line for the student."""

    def __init__(self, line: str, ename: str = ""):
        super().__init__(line)
        self.ename = ename


class RemoteFunction:
    """A student's function, called in the sandboxed kernel on plain data."""

    def __init__(self, kernel, name: str, timeout: float = 60.0):
        self.kernel, self.__name__, self.timeout = kernel, name, timeout

    def __call__(self, *args, **kwargs):
        return self.kernel_eval(f"{self.__name__}(*__args, **__kwargs)", {"__args": list(args), "__kwargs": kwargs})

    def kernel_eval(self, expr: str, env: dict):
        reply = self.kernel.evaluate(expr, timeout=self.timeout, env=env)
        if reply.ok:
            return reply.value
        ename = getattr(reply, "ename", "") or ""
        if ename in _PASS_THROUGH and ename != "AssertionError":
            raise _PASS_THROUGH[ename](reply.error.split(": ", 1)[-1])
        raise RemoteError(f"{self.__name__} raised {reply.error}" if ename else f"{self.__name__}: {reply.error}",
                          ename)


class Harness(RemoteFunction):
    """Kernel-side code of ours that builds non-plain arguments, calls the student's function, returns plain data.

    `code` defines `def __harness(fn, **kw)`; it runs in the kernel (the student can change it there, and so
    only changes what they are compared on: the references are computed here).
    """

    def __init__(self, kernel, name: str, code: str, timeout: float = 120.0):
        super().__init__(kernel, name, timeout)
        self.code = code

    def __call__(self, **kw):
        return self.kernel_eval(f"(exec(__code, globals()), __harness({self.__name__}, **__kw))[1]",
                                {"__code": self.code, "__kw": kw})


@dataclass(frozen=True)
class Credit:
    """What a behaviour-graded part's hidden test returns: the fraction of the part's points earned (a band of
    partial credit, 0..1) and one line for the student saying what was measured. Returning None is full credit;
    raising CheckFailed is none."""

    fraction: float
    message: str

    def __post_init__(self):
        if not 0.0 <= self.fraction <= 1.0:
            raise ValueError(f"credit fraction {self.fraction} is not in [0, 1]")


def band(value: float, bands: list[tuple[float, float]]) -> float:
    """The credit of `value` under `bands`: [(threshold, fraction), ...] sorted by threshold, highest first;
    the first threshold that value reaches gives the fraction (0 if none). NaN earns nothing."""
    if value != value:  # NaN
        return 0.0
    for threshold, fraction in bands:
        if value >= threshold:
            return fraction
    return 0.0


@dataclass(frozen=True)
class HiddenPart:
    exercise_id: str
    library: tuple[str, ...] = ()  # course modules that answer the part: masked in the grading kernel
    run: Callable | None = None  # run(kernel, names) -> None | Credit, raises CheckFailed; None: the public check


_REGISTRY: dict[str, HiddenPart] = {}


@dataclass(frozen=True)
class Behaviour:
    """A behaviour-graded part: which solutions notebook defines it, the names its check passes, and documented
    wrong versions (name -> code that redefines those names), for the tests and `lecture bench --behaviour`."""

    notebook: str
    names: tuple[str, ...]
    wrong: dict


BEHAVIOUR: dict[str, Behaviour] = {}


def behaviour(exercise_id: str, notebook: str, names: tuple[str, ...], wrong: dict[str, str]) -> None:
    if len(wrong) < 3:
        raise ValueError(f"behaviour part {exercise_id}: document at least 3 plausible wrong versions")
    BEHAVIOUR[exercise_id] = Behaviour(notebook, tuple(names), dict(wrong))


def hidden(exercise_id: str, library: tuple[str, ...] = (), run: Callable | None = None) -> HiddenPart:
    part = HiddenPart(exercise_id, tuple(library), run)
    _REGISTRY[exercise_id] = part
    return part


def hidden_part(exercise_id: str) -> HiddenPart:
    section = int(exercise_id.split(".")[0])
    importlib.import_module(f"{__name__}.sec{section:02d}")
    try:
        return _REGISTRY[exercise_id]
    except KeyError:
        raise KeyError(f"no hidden test for exercise {exercise_id}") from None


def argument_names(check_source: str, exercise_id: str) -> list[str]:
    """The names a check cell passes to grade("N.M", a, b, ...): the student's functions for that part."""
    for node in ast.walk(ast.parse(check_source)):
        if (isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "grade"
                and node.args and isinstance(node.args[0], ast.Constant) and node.args[0].value == exercise_id):
            return [a.id for a in node.args[1:] if isinstance(a, ast.Name)]
    raise ValueError(f"the released check cell of {exercise_id} does not call grade({exercise_id!r}, ...)")


def run_part(kernel, exercise_id: str, names: list[str], timeout: float = 60.0) -> Credit | None:
    """Run the hidden test of one part: None when it passes in full, a Credit for partial credit; raises
    CheckFailed / StudentError when it earns nothing."""
    from lecture_utils.selfcheck.core import get_check

    part = hidden_part(exercise_id)
    if part.run is not None:
        out = part.run(kernel, names)
        if out is not None and not isinstance(out, Credit):
            raise TypeError(f"hidden test {exercise_id} returned {type(out).__name__}, not a Credit or None")
        return out
    get_check(exercise_id).fn(*(RemoteFunction(kernel, n, timeout) for n in names))
    return None
