"""Typed grading results and their reports: Gradescope's results.json, the gradebook CSV, a text report."""

from __future__ import annotations

import csv
import enum
import json
import os
from dataclasses import dataclass, field
from pathlib import Path


class PartStatus(enum.Enum):
    PASSED = "passed"
    PARTIAL = "partial credit"
    FAILED = "failed"
    NOT_ATTEMPTED = "not attempted"
    MISSING = "missing"  # the function the part asks for is not defined
    LIBRARY = "uses the course library"  # called a course function that answers the part
    ERROR = "error"  # the grader could not test it (kernel died, timed out)


class Status(enum.Enum):
    GRADED = "graded"
    INVALID = "invalid notebook"
    TIMED_OUT = "timed out"
    ERROR = "grader error"


@dataclass
class PartResult:
    exercise_id: str
    title: str
    points: int
    optional: bool = False
    score: float = 0.0
    status: PartStatus = PartStatus.FAILED
    message: str = ""  # one line for the student: what to fix


@dataclass
class GradeResult:
    submission: str
    homework: str | None = None
    status: Status = Status.GRADED
    parts: list[PartResult] = field(default_factory=list)
    manual: list[tuple[str, int]] = field(default_factory=list)  # written answers (id, points), graded by hand
    messages: list[str] = field(default_factory=list)  # for the student
    notes: list[str] = field(default_factory=list)  # for the instructor
    missing_protections: list[str] = field(default_factory=list)
    seconds: float = 0.0
    kernel_peak_mb: float = 0.0  # the grading kernel's peak resident memory

    @property
    def score(self) -> float:
        return float(sum(p.score for p in self.parts))

    @property
    def bonus(self) -> float:
        return float(sum(p.score for p in self.parts if p.optional))

    @property
    def max_score(self) -> float:
        return float(sum(p.points for p in self.parts if not p.optional))

    def to_gradescope(self) -> dict:
        tests = [{
            "name": f"Exercise {p.exercise_id}: {p.title}" + (" (extra credit)" if p.optional else ""),
            "number": p.exercise_id,
            "score": p.score,
            "max_score": 0.0 if p.optional else float(p.points),
            "status": "passed" if p.status is PartStatus.PASSED else "failed",  # partial credit: score says how much
            "output": f"{p.status.value}: {p.message}" if p.message else p.status.value,
            "visibility": "visible",
            **({"tags": ["extra credit"]} if p.optional else {}),
        } for p in self.parts]
        tests += [{"name": f"Written answer {q} ({pts} points, graded by hand)", "number": q, "score": 0.0,
                   "max_score": 0.0, "output": f"graded by hand: {pts} points, not part of this score",
                   "visibility": "visible", "tags": ["graded by hand"]} for q, pts in self.manual]
        head = f"{self.homework or 'submission'}: {_fmt(self.score)}/{_fmt(self.max_score)} points"
        if self.bonus:
            head += f" (including {_fmt(self.bonus)} extra credit)"
        return {
            "score": self.score,
            "max_score": self.max_score,
            "execution_time": int(round(self.seconds)),
            "output": "\n".join([head + f" [{self.status.value}]", *self.messages]),
            "visibility": "visible",
            "stdout_visibility": "hidden",
            "tests": tests,
            "extra_data": {"status": self.status.value, "notes": self.notes, "bonus": self.bonus,
                           "missing_protections": self.missing_protections,
                           "kernel_peak_mb": round(self.kernel_peak_mb)},
        }

    def report(self) -> str:
        lines = [f"{self.submission}: {_fmt(self.score)}/{_fmt(self.max_score)} points [{self.status.value}] "
                 f"({self.seconds:.1f} s)"]
        lines += [f"  {m}" for m in self.messages]
        for p in self.parts:
            extra = " (extra credit)" if p.optional else ""
            lines.append(f"  {p.exercise_id:>5}  {_fmt(p.score)}/{p.points}{extra}  {p.status.value}"
                         + (f" -- {p.message}" if p.message else ""))
        lines += [f"  {q:>5}  -/{pts}  written answer, graded by hand" for q, pts in self.manual]
        lines += [f"  note: {n}" for n in self.notes]
        if self.missing_protections:
            lines.append(f"  sandbox: missing {', '.join(self.missing_protections)}")
        return "\n".join(lines)


def _fmt(x: float) -> str:
    return f"{x:g}"


def write_results_json(result: GradeResult, path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(result.to_gradescope(), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def spreadsheet_safe(value: str) -> str:
    """A field a spreadsheet would read as a formula (=, +, -, @, tab, CR first) is quoted with a leading '."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def write_gradebook(results: list[GradeResult], path: Path) -> None:
    part_ids: list[str] = []
    optional: set[str] = set()
    manual: list[tuple[str, int]] = []
    for r in results:
        for p in r.parts:
            if p.exercise_id not in part_ids:
                part_ids.append(p.exercise_id)
            if p.optional:
                optional.add(p.exercise_id)
        manual += [q for q in r.manual if q not in manual]
    key = lambda s: tuple(int(x) for x in s.split("."))  # noqa: E731
    part_ids.sort(key=key)
    heads = [f"{i} (extra credit)" if i in optional else i for i in part_ids]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        written = [f"{q} (written, {pts} points)" for q, pts in manual]
        w.writerow(["submission", "homework", *heads, *written, "total", "bonus", "max_score", "status", "sandbox",
                    "seconds", "message"])
        for r in results:
            scores = {p.exercise_id: _fmt(p.score) for p in r.parts}
            msg = "; ".join([*r.messages, *r.notes])[:500]
            sandbox = "full" if not r.missing_protections else "missing: " + ", ".join(r.missing_protections)
            row = [r.submission, r.homework or "", *[scores.get(i, "") for i in part_ids],
                   *["graded by hand" if q in r.manual else "" for q in manual], _fmt(r.score), _fmt(r.bonus),
                   _fmt(r.max_score), r.status.value, sandbox, f"{r.seconds:.1f}", msg]
            w.writerow([spreadsheet_safe(str(v)) for v in row])
