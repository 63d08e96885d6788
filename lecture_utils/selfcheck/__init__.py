"""Public self-checks for the homework notebooks (see core.py for the convention)."""

from lecture_utils.selfcheck.core import (
    Check,
    CheckFailed,
    PartFailed,
    StudentError,
    as_array,
    call,
    check,
    expect_close,
    expect_shape,
    format_line,
    get_check,
    grade,
    run_check,
)

__all__ = [
    "Check",
    "CheckFailed",
    "PartFailed",
    "StudentError",
    "as_array",
    "call",
    "check",
    "expect_close",
    "expect_shape",
    "format_line",
    "get_check",
    "grade",
    "run_check",
]
