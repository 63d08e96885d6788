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
class HiddenPart:
    exercise_id: str
    library: tuple[str, ...] = ()  # course modules that answer the part: masked in the grading kernel
    run: Callable | None = None  # run(kernel, names) -> None, raises CheckFailed; None: the public check, remotely


_REGISTRY: dict[str, HiddenPart] = {}


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


def run_part(kernel, exercise_id: str, names: list[str], timeout: float = 60.0) -> None:
    """Run the hidden test of one part; returns when it passes, raises CheckFailed / StudentError otherwise."""
    from lecture_utils.selfcheck.core import get_check

    part = hidden_part(exercise_id)
    if part.run is not None:
        part.run(kernel, names)
        return
    get_check(exercise_id).fn(*(RemoteFunction(kernel, n, timeout) for n in names))
