"""A stand-in for the sandboxed kernel, for unit tests of hidden tests: the same evaluate() contract, in process.

Arguments and results go through a JSON round trip, as they do between the grader and the real kernel, so a
hidden test that works here sends and receives plain data only. Not a sandbox: never for real grading.
"""

from __future__ import annotations

from lecture_admin.grading.behaviour import LocalKernel as FakeKernel  # the one in-process kernel stand-in

__all__ = ["FakeKernel", "defining_cells", "outcome", "solution_namespace"]


def solution_namespace(notebook, skip_checks: bool = True) -> dict:
    """Execute a notebook's code cells (not its check cells) into a fresh namespace, as a student's kernel would."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    ns: dict = {"__name__": "__main__"}
    for cell in nb.cells:
        if cell.cell_type != "code" or (skip_checks and "grade(" in cell.source):
            continue
        src = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
        exec(compile(src, str(notebook), "exec"), ns)  # noqa: S102 - test helper
    return ns


# ---------------------------------------------------------------- shared by tests/test_hidden_secNN.py

SEEDS = (11, 2024, 987654321)  # three grading seeds


def defining_cells(notebook, names: list[str]) -> dict:
    """A namespace from the notebook's import-only cells and the cells that define `names` (fast: no demos)."""
    import re

    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    ns: dict = {"__name__": "__main__"}
    for cell in nb.cells:
        if cell.cell_type != "code" or "grade(" in cell.source:
            continue
        lines = [ln for ln in cell.source.splitlines() if ln.strip()]
        imports_only = bool(lines) and all(re.match(r"(import|from) \w", ln) for ln in lines)
        defines = any(re.search(rf"^def {n}\(", cell.source, re.M) for n in names)
        if (imports_only and "lecture_utils" not in cell.source) or defines:
            exec(compile(cell.source, str(notebook), "exec"), ns)  # noqa: S102 - test helper
    return ns


def outcome(ns: dict, exercise_id: str, name: str) -> str:
    """'passed', 'not attempted', or 'failed: <message>' of the hidden test on a FakeKernel."""
    from lecture_admin.grading.hidden import run_part
    from lecture_utils.selfcheck.core import CheckFailed, StudentError

    try:
        run_part(FakeKernel(dict(ns)), exercise_id, [name])
    except NotImplementedError:
        return "not attempted"
    except (CheckFailed, StudentError) as e:
        return f"failed: {e}"
    return "passed"
