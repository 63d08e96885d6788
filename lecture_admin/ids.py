"""The homework conventions in one place: solution markers, check cells and nbgrader grade ids.

A *solution cell* holds ``### BEGIN SOLUTION`` / ``### END SOLUTION`` regions (nbgrader's markers). A *check
cell* calls ``grade("N.M", ...)`` exactly once; it is locked, and graded. Grade ids:
``check_3_1`` for the check cell of exercise 3.1, ``solution_3_1`` (then ``solution_3_1_b`` ...) for the
solution cells it grades, ``answer_3_5`` for a written answer, ``cell_N`` for everything else.

A *written answer* (graded by hand) is a markdown cell of the solutions notebook whose first line is
``<!-- written 3.5: 2 points -->``; the rest of the cell is the model answer and its rubric. Released, it becomes
nbgrader's manually graded answer cell (``solution: true, grade: true``) holding only ``YOUR ANSWER HERE``.
"""

from __future__ import annotations

import re

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
STUB = ["# YOUR CODE HERE", "raise NotImplementedError()"]
WRITTEN_RE = re.compile(r"^<!--\s*written\s+(\d+\.\d+)\s*:\s*(\d+)\s+points?\s*-->\s*$")
WRITTEN_STUB = "YOUR ANSWER HERE"
GRADE_RE = re.compile(r"""\bgrade\(\s*["'](\d+\.\d+)["']""")
_GRADE_ID_RE = re.compile(r"^(check|solution|answer)_(\d+)_(\d+)(?:_[a-z])?$")


def check_grade_id(exercise_id: str) -> str:
    return "check_" + exercise_id.replace(".", "_")


def solution_grade_id(exercise_id: str, k: int = 0) -> str:
    """The k-th solution cell (0, 1, ...) that exercise `exercise_id`'s check cell grades."""
    return "solution_" + exercise_id.replace(".", "_") + ("" if k == 0 else f"_{chr(ord('a') + k)}")


def exercise_of(grade_id: str) -> tuple[str, str] | None:
    """("check" | "solution" | "answer", "3.1") for a graded cell's grade id, else None."""
    m = _GRADE_ID_RE.match(grade_id or "")
    return (m.group(1), f"{int(m.group(2))}.{int(m.group(3))}") if m else None


def written_of(source: str) -> tuple[str, int] | None:
    """("3.5", 2) for a written-answer cell of a solutions notebook (its first line), else None."""
    m = WRITTEN_RE.match((source.splitlines() or [""])[0].strip())
    return (m.group(1), int(m.group(2))) if m else None


def answer_grade_id(exercise_id: str) -> str:
    return "answer_" + exercise_id.replace(".", "_")


def section_of(exercise_id: str) -> str:
    """"3.1" -> "03"."""
    return f"{int(exercise_id.split('.')[0]):02d}"


def check_ids(source: str) -> list[str]:
    """The exercise ids a code cell's source grades (a check cell has exactly one)."""
    return GRADE_RE.findall(source)


def has_solution_marker(source: str) -> bool:
    return BEGIN in source or END in source
