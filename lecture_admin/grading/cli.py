"""`lecture grade` and `lecture autograder` (added to the `lecture` command by lecture_admin/cli.py)."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from lecture_admin.grading.limits import Limits


def _add_limits(p: argparse.ArgumentParser, defaults: Limits) -> None:
    g = p.add_argument_group("limits")
    g.add_argument("--cell-timeout", type=float, default=defaults.cell_timeout, metavar="S",
                   help=f"seconds per cell (default {defaults.cell_timeout:g})")
    g.add_argument("--total-timeout", type=float, default=defaults.total_timeout, metavar="S",
                   help=f"seconds to run a submission's cells, restarts included (default {defaults.total_timeout:g})")
    g.add_argument("--memory-mb", type=int, default=defaults.memory_mb, metavar="MB",
                   help=f"address space of the grading kernel (default {defaults.memory_mb})")
    g.add_argument("--max-size-mb", type=float, default=defaults.max_size_mb, metavar="MB",
                   help=f"larger submission files are rejected (default {defaults.max_size_mb:g})")


def _limits(args) -> Limits:
    return Limits(cell_timeout=args.cell_timeout, total_timeout=args.total_timeout, memory_mb=args.memory_mb,
                  max_size_mb=args.max_size_mb)


def _safe_name(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "__", label.removesuffix(".ipynb")) + ".json"


def collect_submissions(paths: list[Path]) -> list[Path]:
    out = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(q for q in p.rglob("*.ipynb") if ".ipynb_checkpoints" not in q.parts)
        elif p.exists():
            out.append(p)
        else:
            raise SystemExit(f"lecture grade: {p}: no such file or folder")
    return out


def labels_for(paths: list[Path]) -> list[str]:
    """Short unique names: the file name, or as many parent folders as needed (alice/00_x.ipynb)."""
    parts = [Path(p).resolve().parts for p in paths]
    depth = 1
    while depth < max((len(p) for p in parts), default=1):
        labels = ["/".join(p[-depth:]) for p in parts]
        if len(set(labels)) == len(labels):
            return labels
        depth += 1
    return ["/".join(p) for p in parts]


def cmd_grade(args) -> int:
    from lecture_admin.grading.grader import grade_many
    from lecture_admin.grading.homework import load_homeworks, select_homework
    from lecture_admin.grading.results import write_gradebook, write_results_json
    from lecture_admin.paths import exercises_dir

    homeworks = load_homeworks(exercises_dir(args.exercises))
    homework = select_homework(homeworks, args.homework) if args.homework else None
    paths = collect_submissions(args.submissions)
    if not paths:
        print("lecture grade: no .ipynb submissions found", file=sys.stderr)
        return 2
    single = len(paths) == 1 and not Path(args.submissions[0]).is_dir()
    out_dir = args.results or (Path("results.json") if single else Path("grading-results"))
    labels = labels_for(paths)

    def progress(done, total, r):
        if not single:
            print(f"[{done}/{total}] {r.submission}: {r.score:g}/{r.max_score:g} {r.status.value} "
                  f"({r.seconds:.1f} s)", flush=True)

    results_dir = out_dir.resolve().parent if single else out_dir.resolve()
    results_dir.mkdir(parents=True, exist_ok=True)
    results = grade_many(paths, homeworks, jobs=args.jobs, seed=args.seed, progress=progress, labels=labels,
                         homework=homework, limits=_limits(args), hide=(results_dir,))
    if single:
        write_results_json(results[0], out_dir)
        print(results[0].report())
        print(f"wrote {out_dir}")
        return 0
    gradebook = args.gradebook or out_dir / "gradebook.csv"
    names = [_safe_name(label) for label in labels]
    for name, r in zip(names, results):
        write_results_json(r, out_dir / name)
    write_gradebook(results, gradebook)
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status.value] = counts.get(r.status.value, 0) + 1
    print(f"graded {len(results)} submissions: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    print(f"wrote {gradebook} and {len(results)} results files (e.g. {names[0]}, Gradescope's results.json "
          f"format) in {out_dir}/")
    return 0


def cmd_autograder(args) -> int:
    from lecture_admin.grading.gradescope import build_bundle
    from lecture_admin.paths import repo_root

    root = Path(args.course) if args.course else repo_root()
    out = build_bundle(root, args.section, args.out, _limits(args), seed=args.seed)
    print(f"wrote {out}: upload it as the Gradescope autograder (Ubuntu base image); see docs/grading.md")
    return 0


def add_subcommands(sub) -> None:
    s = sub.add_parser(
        "grade", help="grade homework submissions (results.json, gradebook CSV)",
        description="Grade submitted homework notebooks: each runs in a sandboxed kernel, and hidden tests in "
                    "the grader decide each part. One file gives a Gradescope-format results.json and a report; "
                    "several (or folders) give one results file each and a gradebook CSV.")
    s.add_argument("submissions", nargs="+", type=Path, help="submitted .ipynb files or folders of them")
    s.add_argument("--results", type=Path, help="results.json for one submission (default ./results.json); "
                                                 "a folder for many (default ./grading-results)")
    s.add_argument("--gradebook", type=Path, help="gradebook CSV for many (default RESULTS/gradebook.csv)")
    s.add_argument("--jobs", "-j", type=int, default=1, help="grade this many submissions in parallel")
    s.add_argument("--homework", help="the homework they must be (e.g. 03); default: recognised from each file")
    s.add_argument("--exercises", type=Path, help="folder of released exercises (default: the course's exercises/)")
    s.add_argument("--seed", type=int, default=None,
                   help="seed of the hidden test cases (default: LECTURE_GRADING_SEED, else a fresh random one); "
                        "never store it in the repository")
    _add_limits(s, Limits())
    s.set_defaults(func=cmd_grade)

    s = sub.add_parser("autograder", help="build the Gradescope autograder zip for one homework")
    s.add_argument("section", help="homework: section number (03) or notebook name")
    s.add_argument("--out", type=Path, required=True, help="the zip to write")
    s.add_argument("--course", type=Path, help="course folder (default: the current one)")
    s.add_argument("--seed", type=int, default=None, help="seed of the hidden cases, stored in the zip only "
                                                          "(default: a fresh random one)")
    _add_limits(s, Limits())
    s.set_defaults(func=cmd_autograder)
