"""`lecture bench --grading`: what grading costs, per homework and for a class.

Per homework: executing the solutions notebook (nbclient, plain kernel) against grading it as a submission
(sandboxed kernel + hidden tests), on one core (the grader and kernel pinned to CPU 0, as Gradescope's
half-CPU box gives at most one), the overhead ratio and the kernel's peak memory. Then a class of 12
homework-00 submissions (right, wrong, unfinished) graded with --jobs 2.
"""

from __future__ import annotations

import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

import nbformat

from lecture_admin.execute import execute_notebook
from lecture_admin.grading.grader import grade_many
from lecture_admin.grading.homework import load_homeworks


def _class_of(n: int, root: Path, dest: Path) -> list[Path]:
    ex = root / "exercises" / "00_getting_started.ipynb"
    out = []
    for i in range(n):
        kind = ("right", "wrong", "unfinished")[i % 3]
        if kind == "right":
            src = nbformat.read(root / "solutions" / ex.name, as_version=4)
            released = nbformat.read(ex, as_version=4)
            for cell, rel in zip(src.cells, released.cells):
                cell.metadata = rel.metadata
        else:
            src = nbformat.read(ex, as_version=4)
            if kind == "wrong":
                for cell in src.cells:
                    cell.source = cell.source.replace("raise NotImplementedError()", "return 0.0")
        path = dest / f"student{i:02d}" / ex.name
        path.parent.mkdir(parents=True)
        nbformat.write(src, path)
        out.append(path)
    return out


def run_grading_bench(root: Path, sections: list[str] | None = None) -> list[dict]:
    homeworks = load_homeworks(root / "exercises")
    rows = []
    pin = hasattr(os, "sched_setaffinity")
    before = os.sched_getaffinity(0) if pin else None
    print(f"{'homework':<28} {'execute s':>10} {'grade s':>9} {'overhead':>9} {'kernel MB':>10}  score")
    try:
        if pin:
            os.sched_setaffinity(0, {min(before)})  # one core, inherited by the kernels started from here
        for hw in homeworks:
            if sections and hw.section not in sections:
                continue
            sol = root / "solutions" / hw.path.name
            ex = execute_notebook(sol)
            with tempfile.TemporaryDirectory() as tmp:
                sub = Path(tmp) / hw.path.name
                shutil.copy(sol, sub)
                t0 = time.perf_counter()
                [r] = grade_many([sub], homeworks, jobs=1, homework=hw)
                seconds = time.perf_counter() - t0
            row = {"homework": hw.key, "execute_s": ex.seconds, "grade_s": seconds,
                   "overhead": seconds / ex.seconds - 1, "kernel_peak_mb": r.kernel_peak_mb,
                   "score": r.score, "max_score": r.max_score, "missing": r.missing_protections}
            rows.append(row)
            print(f"{hw.key:<28} {ex.seconds:10.1f} {seconds:9.1f} {row['overhead']:9.2f} {r.kernel_peak_mb:10.0f}"
                  f"  {r.score:g}/{r.max_score:g}", flush=True)
    finally:
        if pin:
            os.sched_setaffinity(0, before)
    with tempfile.TemporaryDirectory() as tmp:
        subs = _class_of(12, root, Path(tmp))
        t0 = time.perf_counter()
        results = grade_many(subs, homeworks, jobs=2)
        seconds = time.perf_counter() - t0
    scores = sorted(r.score for r in results)
    print(f"a class of 12 homework-00 submissions, --jobs 2: {seconds:.1f} s (scores {scores})")
    rows.append({"homework": "class of 12 (00), --jobs 2", "grade_s": seconds, "scores": scores})
    grader_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kernel_mb = max((r.get("kernel_peak_mb", 0) for r in rows), default=0)
    print(f"peak memory: grader {grader_mb:.0f} MB + kernel {kernel_mb:.0f} MB = {grader_mb + kernel_mb:.0f} MB "
          "(Gradescope's default box: 768 MB)")
    rows.append({"homework": "peak memory", "grader_mb": grader_mb, "kernel_mb": kernel_mb})
    return rows
