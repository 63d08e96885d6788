"""Helpers for the tests that prove every graded check can fail (stub, wrong answers) and can pass."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib
import nbformat

from lecture_admin.ids import check_ids
from lecture_utils.selfcheck import run_check

ROOT = Path(__file__).resolve().parent.parent


def notebook_namespace(path: Path, upto_exercise: str | None = None) -> dict:
    """Execute a homework notebook's code cells (not its check cells) in a fresh namespace.

    Stops before the check cell of `upto_exercise` if given. IPython magics are skipped; figures use Agg.
    """
    matplotlib.use("Agg")
    nb = nbformat.read(path, as_version=4)
    ns: dict = {"__name__": "__homework__"}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        ids = check_ids(cell.source)
        if ids:
            if upto_exercise is not None and upto_exercise in ids:
                break
            continue
        src = "\n".join(line for line in cell.source.splitlines() if not re.match(r"\s*[%!]", line))
        try:
            exec(compile(src, f"{path.name}", "exec"), ns)
        except NotImplementedError:  # a demo cell that uses an unfinished part (the stub's own cells run on)
            continue
    import matplotlib.pyplot as plt

    plt.close("all")
    return ns


def solution_ns(section_file: str, upto: str | None = None) -> dict:
    return notebook_namespace(ROOT / "solutions" / section_file, upto)


def exercise_ns(section_file: str, upto: str | None = None) -> dict:
    return notebook_namespace(ROOT / "exercises" / section_file, upto)


def assert_passes(exercise_id: str, *answers) -> None:
    passed, msg, _ = run_check(exercise_id, *answers)
    assert passed, f"check {exercise_id} should pass but said: {msg}"


def assert_fails(exercise_id: str, *answers, contains: str | None = None) -> str:
    passed, msg, _ = run_check(exercise_id, *answers)
    assert not passed, f"check {exercise_id} passed a wrong answer"
    if contains is not None:
        assert contains in msg, f"check {exercise_id} failure message {msg!r} lacks {contains!r}"
    return msg
