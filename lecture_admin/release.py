"""`lecture release`: generate exercises/ from solutions/ (nbgrader's conventions).

In a solutions notebook:
- a *solution cell* is a code cell with one or more ``### BEGIN SOLUTION`` / ``### END SOLUTION``
  regions; each region becomes ``# YOUR CODE HERE`` + ``raise NotImplementedError()`` at the region's
  indentation (so a region inside a function keeps the signature and docstring), and its outputs are
  cleared;
- a *check cell* is a code cell that calls ``grade("N.M", ...)`` (the public self-check: it raises when
  the part fails, so nbval-lax and nbgrader both see the failure);
- a *written answer* is a markdown cell whose first line is ``<!-- written N.M: P points -->``: its text (the model
  answer and the rubric) stays in solutions/; released, it is nbgrader's manually graded answer cell with
  ``YOUR ANSWER HERE``;
- other markdown cells are read-only task text.

Released exercises carry no outputs at all: nothing the solutions computed is shown to the student.

Every cell gets nbgrader metadata (``grade_id``, ``grade``, ``solution``, ``locked``, ``points``,
``schema_version: 3``), so the exercises import into nbgrader unchanged.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import nbformat

from lecture_admin.ids import (
    BEGIN,
    END,
    STUB,
    WRITTEN_STUB,
    answer_grade_id,
    check_grade_id,
    check_ids,
    has_solution_marker,
    solution_grade_id,
    written_of,
)

NBFORMAT_MINOR = 5


class ReleaseError(ValueError):
    """A solutions notebook that cannot be released; the message names notebook and cell."""


@dataclass
class Part:
    exercise_id: str
    points: int
    title: str


def _where(path: Path, idx: int) -> str:
    return f"{path.name}, cell {idx + 1}"


def stub_source(source: str, where: str) -> str:
    """Replace every BEGIN/END SOLUTION region by an indented NotImplementedError stub."""
    out: list[str] = []
    inside = False
    indent = ""
    for lineno, line in enumerate(source.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith(BEGIN):
            if inside:
                raise ReleaseError(f"{where}: line {lineno}: '{BEGIN}' inside another solution region")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            out.extend(indent + s for s in STUB)
        elif stripped.startswith(END):
            if not inside:
                raise ReleaseError(f"{where}: line {lineno}: '{END}' without a matching '{BEGIN}'")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ReleaseError(f"{where}: '{BEGIN}' is never closed by '{END}'")
    return "\n".join(out)


def _part_for(exercise_id: str, where: str) -> Part:
    from lecture_utils.selfcheck.core import get_check

    try:
        chk = get_check(exercise_id)
    except KeyError as e:
        raise ReleaseError(f"{where}: {e.args[0]}") from None
    return Part(exercise_id, chk.points, chk.title)


def release_notebook(nb: nbformat.NotebookNode, path: Path) -> nbformat.NotebookNode:
    """Return the exercise version of solutions notebook `nb` (read from `path`, used in messages)."""
    out = copy.deepcopy(nb)
    out.nbformat, out.nbformat_minor = 4, max(NBFORMAT_MINOR, nb.get("nbformat_minor", 0))
    seen: dict[str, str] = {}
    solution_count: dict[str, int] = {}
    pending: list[int] = []  # solution cells waiting for the check cell that grades them
    n_checks = 0
    for idx, cell in enumerate(out.cells):
        where = _where(path, idx)
        src = cell.source
        meta = {"schema_version": 3}
        if cell.cell_type == "markdown" and written_of(src):
            eid, points = written_of(src)
            gid = answer_grade_id(eid)
            if gid in seen:
                raise ReleaseError(f"{where}: duplicate grade_id {gid!r} (also in {seen[gid]})")
            if len(src.strip().splitlines()) < 2:
                raise ReleaseError(f"{where}: written answer {eid} has no model answer or rubric under its marker")
            seen[gid] = where
            cell.source = WRITTEN_STUB
            meta.update(grade=True, solution=True, locked=False, grade_id=gid, points=points)
        elif cell.cell_type != "code":
            if has_solution_marker(src):
                raise ReleaseError(f"{where}: solution markers in a {cell.cell_type} cell (only code cells)")
            meta.update(grade=False, solution=False, locked=True, grade_id=f"cell_{idx + 1}")
        elif check_ids(src):
            if has_solution_marker(src):
                raise ReleaseError(f"{where}: solution markers in a check cell (one that calls grade)")
            ids = check_ids(src)
            if len(ids) != 1:
                raise ReleaseError(f"{where}: a check cell calls grade(\"N.M\", ...) exactly once, found {len(ids)}")
            part = _part_for(ids[0], where)
            gid = check_grade_id(part.exercise_id)
            if gid in seen:
                raise ReleaseError(f"{where}: duplicate grade_id {gid!r} (also in {seen[gid]})")
            seen[gid] = where
            meta.update(grade=True, solution=False, locked=True, grade_id=gid, points=part.points)
            n_checks += 1
            for j in pending:
                k = solution_count.get(part.exercise_id, 0)
                solution_count[part.exercise_id] = k + 1
                out.cells[j].metadata["nbgrader"]["grade_id"] = solution_grade_id(part.exercise_id, k)
            pending = []
        elif has_solution_marker(src):
            cell.source = stub_source(src, where)
            cell.outputs = []
            cell.execution_count = None
            meta.update(grade=False, solution=True, locked=False, grade_id=f"solution_cell_{idx + 1}")
            pending.append(idx)
        else:
            meta.update(grade=False, solution=False, locked=False, grade_id=f"cell_{idx + 1}")
        cell.metadata["nbgrader"] = meta
        if cell.cell_type == "code":
            cell.outputs = []  # released exercises show nothing the solutions computed
            cell.execution_count = None
    if pending:
        raise ReleaseError(f"{_where(path, pending[-1])}: a solution cell with no check cell after it")
    if n_checks == 0:
        raise ReleaseError(f"{path.name}: no check cells (a code cell calling grade(\"N.M\", ...)) found")
    return out


def render(nb: nbformat.NotebookNode) -> str:
    return nbformat.writes(nb, version=4) + "\n"


def release_all(root: Path, check_only: bool = False) -> list[str]:
    """Regenerate root/exercises from root/solutions. Returns the problems (check mode) or written files."""
    sol_dir, ex_dir = root / "solutions", root / "exercises"
    sols = sorted(sol_dir.glob("*.ipynb"))
    if not sols:
        raise ReleaseError(f"no solutions notebooks in {sol_dir}")
    report: list[str] = []
    expected_names = set()
    for sol in sols:
        try:
            nb = nbformat.read(sol, as_version=4)
        except Exception as e:  # not JSON / not a notebook
            raise ReleaseError(f"{sol.name}: not a readable notebook ({type(e).__name__}: {e})") from None
        text = render(release_notebook(nb, sol))
        target = ex_dir / sol.name
        expected_names.add(sol.name)
        if check_only:
            if not target.exists():
                report.append(f"{target.relative_to(root)}: missing (run `lecture release`)")
            elif target.read_text(encoding="utf-8") != text:
                report.append(f"{target.relative_to(root)}: differs from what `lecture release` generates")
        else:
            ex_dir.mkdir(exist_ok=True)
            if not target.exists() or target.read_text(encoding="utf-8") != text:
                target.write_text(text, encoding="utf-8")
                report.append(str(target.relative_to(root)))
    for extra in sorted(ex_dir.glob("*.ipynb")):
        if extra.name not in expected_names:
            if check_only:
                report.append(f"{extra.relative_to(root)}: has no solutions notebook")
            else:
                extra.unlink()
                report.append(f"removed {extra.relative_to(root)}")
    return report


@dataclass
class PartSummary:
    """One part of a homework as the README's table lists it (computed from the solutions notebook)."""

    exercise_id: str
    kind: str  # "code" (autograded) | "written" (graded by hand)
    points: int
    optional: bool
    title: str
    solution_lines: int  # non-blank, non-comment lines between the solution markers of the part's cells


def summarize(path: Path) -> list[PartSummary]:
    from lecture_admin.ids import written_of
    from lecture_utils.selfcheck.core import get_check

    nb = nbformat.read(path, as_version=4)
    out, pending = [], 0
    for cell in nb.cells:
        if cell.cell_type == "code" and check_ids(cell.source):
            chk = get_check(check_ids(cell.source)[0])
            out.append(PartSummary(chk.exercise_id, "code", chk.points, chk.optional, chk.title, pending))
            pending = 0
        elif cell.cell_type == "code" and has_solution_marker(cell.source):
            inside = False
            for line in cell.source.splitlines():
                s = line.strip()
                inside = (inside or s.startswith(BEGIN)) and not s.startswith(END)
                pending += inside and bool(s) and not s.startswith(("#", BEGIN))
        elif cell.cell_type == "markdown" and written_of(cell.source):
            eid, points = written_of(cell.source)
            out.append(PartSummary(eid, "written", points, False, "", 0))
    return out
