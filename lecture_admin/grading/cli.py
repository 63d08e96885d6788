"""`lecture grade` and `lecture autograder` (registered by lecture_admin/cli.py)."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from lecture_admin.grading.autograde import Limits


def _add_limits(p: argparse.ArgumentParser, defaults: Limits) -> None:
    g = p.add_argument_group("limits")
    g.add_argument("--cell-timeout", type=float, default=defaults.cell_timeout, metavar="S",
                   help=f"seconds per cell (default {defaults.cell_timeout:g})")
    g.add_argument("--total-timeout", type=float, default=defaults.total_timeout, metavar="S",
                   help=f"seconds per submission, restarts included (default {defaults.total_timeout:g})")
    g.add_argument("--memory-mb", type=float, default=defaults.memory_mb, metavar="MB",
                   help=f"memory for the kernel (default {defaults.memory_mb:g})")
    g.add_argument("--max-size-mb", type=float, default=defaults.max_size_mb, metavar="MB",
                   help=f"larger submission files are rejected (default {defaults.max_size_mb:g})")


def _limits(args) -> Limits:
    return Limits(cell_timeout=args.cell_timeout, total_timeout=args.total_timeout, memory_mb=args.memory_mb,
                  max_size_mb=args.max_size_mb)


def _safe_name(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "__", label.removesuffix(".ipynb")) + ".json"


def cmd_grade(args) -> int:
    from lecture_admin.grading.autograde import (
        collect_submissions,
        find_exercises_dir,
        grade_many,
        grade_submission,
        labels_for,
        load_homeworks,
        select_homework,
        write_gradebook,
        write_results_json,
    )

    limits = _limits(args)
    homeworks = load_homeworks(find_exercises_dir(args.exercises))
    homework = select_homework(homeworks, args.homework) if args.homework else None
    paths = collect_submissions(args.submissions)
    if not paths:
        print("lecture grade: no .ipynb submissions found", file=sys.stderr)
        return 2
    if len(paths) == 1 and not Path(args.submissions[0]).is_dir():
        result = grade_submission(paths[0], homework=homework, homeworks=homeworks, limits=limits)
        out = args.results or Path("results.json")
        write_results_json(result, out)
        print(result.report())
        print(f"wrote {out}")
        return 0

    out_dir = args.results or Path("grading-results")
    gradebook = args.gradebook or out_dir / "gradebook.csv"
    labels = labels_for(paths)

    def progress(done, total, r):
        print(f"[{done}/{total}] {r.submission}: {r.score:g}/{r.max_score:g} {r.status} ({r.seconds:.1f} s)",
              flush=True)

    results = grade_many(paths, jobs=args.jobs, progress=progress, homework=homework, homeworks=homeworks,
                         limits=limits)
    for label, r in zip(labels, results):
        write_results_json(r, out_dir / _safe_name(label))
    write_gradebook(results, gradebook)
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    print(f"graded {len(results)} submissions: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    print(f"wrote {gradebook} and {len(results)} results files in {out_dir}/")
    return 0


def cmd_autograder(args) -> int:
    from lecture_admin.grading.gradescope import GRADESCOPE_LIMITS, build_bundle

    root = Path(args.course) if args.course else None
    if root is None:
        from lecture_admin.cli import repo_root

        root = repo_root()
    limits = Limits(cell_timeout=args.cell_timeout, total_timeout=args.total_timeout, memory_mb=args.memory_mb,
                    max_size_mb=args.max_size_mb, file_mb=GRADESCOPE_LIMITS.file_mb)
    out = build_bundle(root, args.section, args.out, limits)
    print(f"wrote {out}: upload it as the Gradescope autograder (Ubuntu base image); see docs/grading.md")
    return 0


def add_subcommands(sub) -> None:
    s = sub.add_parser(
        "grade", help="grade homework submissions (results.json, gradebook CSV)",
        description="Grade submitted homework notebooks with nbval on copies: one file gives a Gradescope-format "
                    "results.json and a report; several (or folders) give one results file each and a gradebook CSV.")
    s.add_argument("submissions", nargs="+", type=Path, help="submitted .ipynb files or folders of them")
    s.add_argument("--results", type=Path, help="results.json for one submission (default ./results.json); "
                                                 "a folder for many (default ./grading-results)")
    s.add_argument("--gradebook", type=Path, help="gradebook CSV for many (default RESULTS/gradebook.csv)")
    s.add_argument("--jobs", "-j", type=int, default=1, help="grade this many submissions in parallel")
    s.add_argument("--homework", help="the homework they must be (e.g. 03); default: recognised from each file")
    s.add_argument("--exercises", type=Path, help="folder of released exercises (default: the course's exercises/)")
    _add_limits(s, Limits())
    s.set_defaults(func=cmd_grade)

    from lecture_admin.grading.gradescope import GRADESCOPE_LIMITS

    s = sub.add_parser("autograder", help="build the Gradescope autograder zip for one homework")
    s.add_argument("section", help="homework: section number (03) or notebook name")
    s.add_argument("--out", type=Path, required=True, help="the zip to write")
    s.add_argument("--course", type=Path, help="course folder (default: the current one)")
    _add_limits(s, GRADESCOPE_LIMITS)
    s.set_defaults(func=cmd_autograder)
