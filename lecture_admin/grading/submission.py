"""A submission: read and validate the file, recognise its homework, assemble the cells to run.

Every problem with the file itself becomes `InvalidSubmission` with one line that says what is wrong and
how to fix it; the grader never changes or removes the student's file (it only reads it).
Assembly follows nbgrader: locked cells come from the released notebook (edited ones are restored,
deleted ones put back), the student's own cells keep their place after the released cell they follow.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from lecture_admin.grading.homework import Homework
from lecture_admin.ids import exercise_of

_FILE_SECTION_RE = re.compile(r"^(\d+)_")


class InvalidSubmission(ValueError):
    """The file cannot be graded; the message says exactly why (shown to the student)."""


# ---------------------------------------------------------------- reading a submission


def read_submission(path: Path, max_size_mb: float) -> dict:
    """The submission as a dict with a list of cells, or InvalidSubmission saying what is wrong."""
    path = Path(path)
    if not path.exists():
        raise InvalidSubmission(f"{path.name}: file not found")
    if path.is_dir():
        raise InvalidSubmission(f"{path.name}: is a folder, not a notebook file")
    size = path.stat().st_size
    if size == 0:
        raise InvalidSubmission(f"{path.name}: the file is empty (0 bytes); save the notebook and upload it again")
    if size > max_size_mb * 1e6:
        raise InvalidSubmission(
            f"{path.name}: the file is {size / 1e6:.1f} MB, over the {max_size_mb:g} MB limit; clear the "
            "outputs (Edit > Clear Outputs of All Cells), save, and upload it again")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidSubmission(f"{path.name}: not a notebook: the file is not text (not UTF-8); "
                                "upload the .ipynb file itself") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise InvalidSubmission(f"{path.name}: not a notebook: the file is not valid JSON ({e.msg} at line "
                                f"{e.lineno}, column {e.colno})") from None
    if not isinstance(data, dict):
        raise InvalidSubmission(f"{path.name}: not a notebook: the JSON is a {type(data).__name__}, "
                                "a notebook is an object with 'cells'")
    if "nbformat" not in data:
        raise InvalidSubmission(f"{path.name}: not a notebook: the JSON has no 'nbformat' field "
                                f"(keys: {', '.join(sorted(map(str, data))[:6]) or 'none'})")
    version = data["nbformat"]
    if not isinstance(version, int):
        raise InvalidSubmission(f"{path.name}: not a notebook: 'nbformat' is {version!r}, not a number")
    if version < 4:
        raise InvalidSubmission(
            f"{path.name}: uses the old notebook format v{version} (IPython 3 or older); open it in JupyterLab, "
            "save it (that converts it to v4), and upload it again")
    if version > 4:
        raise InvalidSubmission(f"{path.name}: uses notebook format v{version}, newer than this grader reads (v4)")
    cells = data.get("cells")
    if not isinstance(cells, list):
        raise InvalidSubmission(f"{path.name}: not a valid notebook: no list of 'cells'")
    for i, cell in enumerate(cells, start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
            raise InvalidSubmission(f"{path.name}: not a valid notebook: cell {i} has no valid 'cell_type'")
        src = cell.get("source")
        if isinstance(src, list) and all(isinstance(s, str) for s in src):
            src = "".join(src)
        if not isinstance(src, str):
            raise InvalidSubmission(f"{path.name}: not a valid notebook: cell {i} has no text 'source'")
        cell["source"] = src
        meta = cell.get("metadata")
        cell["metadata"] = meta if isinstance(meta, dict) else {}
    return data


def _cell_keys(cell: dict) -> tuple[str | None, str | None]:
    nbg = cell.get("metadata", {}).get("nbgrader")
    gid = nbg.get("grade_id") if isinstance(nbg, dict) else None
    cid = cell.get("id")
    return (gid if isinstance(gid, str) else None, cid if isinstance(cid, str) else None)


def identify(sub: dict, homeworks: list[Homework], filename: str, expected: Homework | None) -> Homework:
    """Which released homework `sub` is (by its cells' ids), or InvalidSubmission."""
    ids = set()
    for cell in sub["cells"]:
        gid, cid = _cell_keys(cell)
        if gid and exercise_of(gid):
            ids.add("g:" + gid)
        if cid:
            ids.add("i:" + cid)
    overlap = {hw.key: len(ids & hw.distinctive_ids()) for hw in homeworks}
    if expected is not None and expected.key not in overlap:
        overlap[expected.key] = len(ids & expected.distinctive_ids())
    best = max(overlap.items(), key=lambda kv: kv[1], default=(None, 0))
    if expected is not None:
        if overlap.get(expected.key, 0) > 0 and overlap[expected.key] >= best[1]:
            return expected
        if best[1] > 0:
            raise InvalidSubmission(
                f"{filename}: this is the notebook of homework {best[0]}, not {expected.key}: upload your "
                f"{expected.path.name}")
        raise InvalidSubmission(
            f"{filename}: this is not the {expected.path.name} homework: none of its cells come from the released "
            f"notebook (their cell ids / nbgrader metadata are missing); start from exercises/{expected.path.name}, "
            "copy your answers into it, and upload it again")
    if best[1] > 0:
        return next(hw for hw in homeworks if hw.key == best[0])
    m = _FILE_SECTION_RE.match(Path(filename).name)
    if m:
        for hw in homeworks:
            if hw.section == m.group(1):
                raise InvalidSubmission(
                    f"{filename}: named like homework {hw.key} but none of its cells come from the released notebook "
                    f"(cell ids / nbgrader metadata missing); start from exercises/{hw.path.name} and copy your "
                    "answers into it")
    raise InvalidSubmission(f"{filename}: not one of the released homeworks "
                            f"({', '.join(h.key for h in homeworks) or 'none released'})")


# ---------------------------------------------------------------- assembling the notebook to run


@dataclass
class Unit:
    """One code cell of the notebook that is run."""

    source: str
    role: str  # "student" (runs) | "locked" (released, runs) | "check" (public self-check: not run by the grader)
    exercise_id: str | None = None
    origin: int | None = None  # 1-based index of the cell in the student's notebook


def _first_line(src: str) -> str:
    for line in src.splitlines():
        if line.strip() and not line.strip().startswith("#"):
            return line.strip()[:60]
    return (src.strip().splitlines() or ["(empty)"])[0][:60]


def assemble(sub: dict, hw: Homework) -> tuple[list[Unit], list[str], dict[str, list[str]], list[str]]:
    """The code cells to run, general messages, per-part notes, and notes for the instructor."""
    template = hw.nb.cells
    by_gid = {c.metadata.get("nbgrader", {}).get("grade_id"): i for i, c in enumerate(template)}
    by_cid = {c.get("id"): i for i, c in enumerate(template) if c.get("id")}
    part_of = {p.grade_id: p.exercise_id for p in hw.parts}
    placed: dict[int, tuple[int, dict]] = {}  # template index -> (student index, student cell)
    extras: dict[int, list[tuple[int, dict]]] = {}  # anchor template index (-1: top) -> student cells after it
    messages: list[str] = []
    part_notes: dict[str, list[str]] = {p.exercise_id: [] for p in hw.parts}
    instructor: list[str] = []
    anchor, order = -1, []
    for j, cell in enumerate(sub["cells"], start=1):
        gid, cid = _cell_keys(cell)
        t = by_gid.get(gid) if gid in by_gid else by_cid.get(cid)
        if t is not None and template[t].cell_type != cell["cell_type"]:
            t = None
        if t is not None and t not in placed:
            placed[t] = (j, cell)
            anchor = t
            order.append(t)
            continue
        if t is not None and template[t].metadata.get("nbgrader", {}).get("locked"):
            continue  # a copy of a locked cell: the released one runs once, in its place
        extras.setdefault(anchor, []).append((j, cell))
    if order != sorted(order):
        messages.append("some cells were moved: the notebook was graded in the released order of its cells")
    units: list[Unit] = []

    def add_student(j: int, cell: dict) -> None:
        if cell["cell_type"] == "code":
            units.append(Unit(cell["source"], "student", origin=j))

    for j, cell in extras.get(-1, []):
        add_student(j, cell)
    for t, tcell in enumerate(template):
        meta = tcell.metadata.get("nbgrader", {})
        gid = meta.get("grade_id")
        if tcell.cell_type == "code":
            if meta.get("grade"):
                eid = part_of[gid]
                mine = placed.get(t)
                if mine is None:
                    part_notes[eid].append("its check cell was missing: the released one was put back")
                elif mine[1]["source"].strip() != tcell.source.strip():
                    part_notes[eid].append("its check cell was edited: the released one was restored")
                units.append(Unit(tcell.source, "check", exercise_id=eid))
            elif meta.get("locked"):
                units.append(Unit(tcell.source, "locked", origin=None))
            elif t in placed:
                add_student(*placed[t])
            elif meta.get("solution"):
                eid = (exercise_of(gid) or ("", None))[1]
                if eid in part_notes:
                    part_notes[eid].append("its answer cell was deleted from the notebook")
        for j, cell in extras.get(t, []):
            add_student(j, cell)
    return units, messages, part_notes, instructor
