"""A released homework notebook: its graded parts, the reference every submission is restored against."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from lecture_admin.ids import exercise_of

_FILE_SECTION_RE = re.compile(r"^(\d+)_")


@dataclass(frozen=True)
class Part:
    exercise_id: str
    title: str
    points: int
    optional: bool  # extra credit: not counted in the maximum
    grade_id: str


@dataclass
class Homework:
    path: Path
    nb: nbformat.NotebookNode
    parts: list[Part]
    written: list[tuple[str, int]] = field(default_factory=list)  # (exercise id, points): graded by hand

    @property
    def key(self) -> str:
        return self.path.stem

    @property
    def section(self) -> str:
        m = _FILE_SECTION_RE.match(self.path.name)
        return m.group(1) if m else self.path.stem

    def distinctive_ids(self) -> set[str]:
        """Graded cells' grade ids and every cell id: what recognises a submission as this homework."""
        out = set()
        for cell in self.nb.cells:
            gid = cell.metadata.get("nbgrader", {}).get("grade_id", "")
            if exercise_of(gid):
                out.add("g:" + gid)
            if cell.get("id"):
                out.add("i:" + cell["id"])
        return out


def load_homework(path: Path) -> Homework:
    from lecture_utils.selfcheck.core import get_check

    nb = nbformat.read(path, as_version=4)
    parts, written = [], []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        kind_eid = exercise_of(meta.get("grade_id", ""))
        if meta.get("grade") and meta.get("solution") and cell.cell_type == "markdown" and kind_eid \
                and kind_eid[0] == "answer":
            written.append((kind_eid[1], int(meta.get("points", 0))))
        if meta.get("grade") and cell.cell_type == "code" and kind_eid and kind_eid[0] == "check":
            chk = get_check(kind_eid[1])
            parts.append(Part(kind_eid[1], chk.title, int(meta.get("points", chk.points)), chk.optional,
                              meta["grade_id"]))
    if not parts:
        raise SystemExit(f"{path}: no graded cells (is it a released exercise? run `lecture release`)")
    return Homework(Path(path), nb, parts, written)


def load_homeworks(exercises: Path) -> list[Homework]:
    return [load_homework(p) for p in sorted(Path(exercises).glob("*.ipynb"))]


def select_homework(homeworks: list[Homework], name: str) -> Homework:
    """`name` is a section number ("0", "00"), a notebook stem or a path to a released exercise."""
    if name.endswith(".ipynb") and Path(name).exists():
        return load_homework(Path(name))
    for hw in homeworks:
        if name in (hw.key, hw.path.name) or (name.isdigit() and hw.section.isdigit()
                                               and int(name) == int(hw.section)):
            return hw
    raise SystemExit(f"no released homework {name!r}; have: {', '.join(h.key for h in homeworks) or 'none'}")
