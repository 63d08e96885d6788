"""The `lecture` command (also `python -m lecture_utils`)."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import sys
from pathlib import Path

from lecture_admin.paths import repo_root


def cmd_lab(args) -> int:
    root = repo_root()
    headless = args.no_browser or os.environ.get("COURSE_NO_BROWSER", "") not in ("", "0")
    argv = [
        sys.executable, "-m", "jupyterlab",
        f"--ServerApp.root_dir={root}",
        "--LabApp.default_url=/lab/tree/notebooks",
        f"--ServerApp.port={args.port}",
        f"--ServerApp.ip={args.ip}",
    ]
    if headless:
        argv.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        argv.append("--allow-root")  # containers and CI run as root; JupyterLab refuses without it
    argv += args.extra
    print(f"[lecture lab] JupyterLab on {root / 'notebooks'} (Ctrl-C twice to stop)", flush=True)
    os.execv(sys.executable, argv)
    return 0  # pragma: no cover


def cmd_release(args) -> int:
    from lecture_admin.release import ReleaseError, release_all

    root = repo_root()
    if args.student:
        from lecture_admin.bundle import build_student_bundle

        entries = build_student_bundle(root, args.student)
        print(f"wrote the student bundle to {args.student}: {', '.join(p.name for p in entries)}")
        return 0
    try:
        report = release_all(root, check_only=args.check)
    except ReleaseError as e:
        print(f"lecture release: error: {e}", file=sys.stderr)
        return 2
    if args.check:
        if report:
            for line in report:
                print(f"lecture release --check: {line}", file=sys.stderr)
            return 1
        print("exercises/ is up to date with solutions/")
        return 0
    for line in report:
        print(f"wrote {line}" if not line.startswith("removed") else line)
    if not report:
        print("exercises/ already up to date")
    return 0


def cmd_bench(args) -> int:
    from lecture_admin.bench import run

    if args.behaviour:
        from lecture_admin.grading.behaviour import run_behaviour_bench

        return run_behaviour_bench(repo_root(), seeds=args.seeds, parts=args.part, json_path=args.json)
    if args.site:
        import tempfile

        from lecture_admin import site

        with tempfile.TemporaryDirectory() as tmp:
            r = site.build(repo_root(), Path(tmp))
        print(f"lecture site: {r['seconds']:.1f} s wall on {os.cpu_count()} cores (budget 60 s), {r['pages']} pages, "
              f"{r['files']} files, {r['bytes'] / 1e6:.1f} MB")
        if args.json:
            Path(args.json).write_text(json.dumps({"site": {k: r[k] for k in ("seconds", "bytes", "files", "pages")}},
                                                  indent=2) + "\n")
        return 0
    if args.demos:
        from lecture_admin.bench_demos import run_demo_bench

        return run_demo_bench(json_path=args.json, sections=args.section)

    return run(repo_root(), json_path=args.json, skip_notebooks=args.results_only,
               skip_results=args.notebooks_only, sections=args.section, grading=args.grading)


def cmd_execute(args) -> int:
    from lecture_admin.execute import execute_notebook

    status = 0
    for p in args.notebooks:
        ex = execute_notebook(Path(p), write=True)
        print(f"{p}: {'ok' if ex.ok else 'FAILED: ' + ex.error} ({ex.seconds:.1f} s, {ex.peak_mb:.0f} MB; "
              f"kernel CPU time {ex.cpu_seconds:.1f} s)")
        status |= 0 if ex.ok else 1
    return status


def cmd_slides(args) -> int:
    from lecture_admin import slides

    root = repo_root()
    try:
        if args.annotate or args.check:
            paths = [Path(p) for p in args.targets] or slides.lecture_notebooks(root)
            report = slides.annotate_paths(paths, check=args.check)
            for line in report:
                print(line, file=sys.stderr if args.check else sys.stdout)
            if not args.check:
                for p in paths:
                    import json

                    print(f"  {Path(p).name}: {slides.summary(json.loads(Path(p).read_text()))}")
            return 1 if args.check and report else 0
        if len(args.targets) != 1:
            print("lecture slides: give one notebook (e.g. `lecture slides 03`), or --annotate/--check",
                  file=sys.stderr)
            return 2
        nb = slides.find_notebook(root, args.targets[0])
        out = args.out or root / "build" / "slides"
        html = slides.export(nb, out)
    except slides.SlidesError as e:
        print(f"lecture slides: error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {html} (reveal.js, MathJax and scripts in {html.parent / '_static'}: works offline)")
    if args.no_browser:
        print(f"present it: python -m http.server --bind 127.0.0.1 --directory {html.parent} 8000, then open "
              f"http://127.0.0.1:8000/{html.name} (f: full screen, s: speaker notes, Esc: overview)")
        return 0
    return slides.present(html, port=args.port)


def cmd_site(args) -> int:
    from lecture_admin import site

    root = repo_root()
    out = (args.out or root / "build" / "site").resolve()
    r = site.build(root, out, jobs=args.jobs, quiet=not args.verbose)
    print(f"built the course website in {r['seconds']:.1f} s: {r['pages']} pages, {r['files']} files, "
          f"{r['bytes'] / 1e6:.1f} MB in {r['html']} (open index.html; works offline)")
    if args.publish:
        site.publish(Path(r["html"]), root, remote=args.remote, push=not args.no_push)
        print(f"published to the gh-pages branch{'' if args.no_push else ' of ' + args.remote}")
    return 0


def _trainers() -> dict[str, str]:
    import lecture_admin.training as pkg

    mods = [m.name for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_")]
    return {name: f"{pkg.__name__}.{name}" for name in mods}


def cmd_train(args) -> int:
    trainers = _trainers()
    if args.name not in trainers:
        print(f"lecture train: unknown trainer {args.name!r}; choose from {sorted(trainers)}", file=sys.stderr)
        return 2
    return importlib.import_module(trainers[args.name]).main(args.rest)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lecture", description="Transfer and Meta Learning course tools")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("lab", help="open JupyterLab on notebooks/ (what `python3 course.py` runs)",
                       epilog="Other options are passed to JupyterLab, e.g. --IdentityProvider.token=TOKEN")
    s.add_argument("--no-browser", action="store_true", help="start the server only (or COURSE_NO_BROWSER=1)")
    s.add_argument("--port", type=int, default=8888)
    s.add_argument("--ip", default="127.0.0.1")
    s.set_defaults(func=cmd_lab, extra=[])  # unknown options (e.g. --IdentityProvider.token=...) go to JupyterLab

    s = sub.add_parser("release", help="regenerate exercises/ from solutions/")
    s.add_argument("--check", action="store_true", help="exit 1 if exercises/ is not what release generates")
    s.add_argument("--student", type=Path, metavar="DIR",
                   help="write what students receive to DIR: lecture notebooks, exercises, lecture_utils, a README")
    s.set_defaults(func=cmd_release)

    s = sub.add_parser("bench", help="time every notebook and print the headline results")
    s.add_argument("--json", type=Path, help="also write the numbers to this file")
    s.add_argument("--results-only", action="store_true", help="skip executing the notebooks")
    s.add_argument("--notebooks-only", action="store_true", help="skip the headline results")
    s.add_argument("--section", action="append", help="only this results module (e.g. sec03); repeatable")
    s.add_argument("--grading", action="store_true",
                   help="what grading costs: each homework's solution executed vs graded on one core, its peak "
                        "memory, and a class of 12 graded with --jobs 2")
    s.add_argument("--behaviour", action="store_true",
                   help="each behaviour-graded part's credit on many grading seeds, for the solution and every "
                        "documented wrong version (how its thresholds were set)")
    s.add_argument("--demos", action="store_true",
                   help="each section's live demo: its build time and the seconds from an interaction to the "
                        "redrawn output (budget 0.5 s)")
    s.add_argument("--site", action="store_true",
                   help="build the course website once (into a temporary folder): its build time and size")
    s.add_argument("--seeds", type=int, default=50, help="grading seeds for --behaviour (default 50)")
    s.add_argument("--part", action="append", help="only this part for --behaviour (e.g. 3.5); repeatable")
    s.set_defaults(func=cmd_bench)

    s = sub.add_parser("execute", help="execute notebooks in place (store outputs), as committed")
    s.add_argument("notebooks", nargs="+")
    s.set_defaults(func=cmd_execute)

    s = sub.add_parser("slides", help="present a lecture notebook as a reveal.js slide show (offline), or annotate "
                                      "the notebooks' slide metadata",
                       description="`lecture slides 03` exports notebooks/03_*.ipynb to build/slides/ and serves it "
                                   "on 127.0.0.1 (Ctrl-C stops). `lecture slides --annotate` sets every lecture "
                                   "notebook's slide types by the rules in lecture_admin/slides.py.")
    s.add_argument("targets", nargs="*", help="a section (03), a notebook name or path; with --annotate/--check: "
                                              "notebooks (default: every lecture notebook)")
    s.add_argument("--annotate", action="store_true", help="write the slide metadata into the notebooks")
    s.add_argument("--check", action="store_true",
                   help="exit 1 if any notebook's slide metadata differs from the rules")
    s.add_argument("--out", type=Path, help="export folder (default build/slides)")
    s.add_argument("--no-browser", action="store_true", help="export only, print the path")
    s.add_argument("--port", type=int, default=0, help="port to serve on (default: a free one)")
    s.set_defaults(func=cmd_slides)

    s = sub.add_parser("site", help="build the course website (static HTML, offline) from the committed notebooks")
    s.add_argument("--out", type=Path, help="output folder (default build/site; the pages go to OUT/html)")
    s.add_argument("--jobs", type=int, default=2, help="parallel Sphinx workers (default 2)")
    s.add_argument("--verbose", action="store_true", help="show Sphinx's progress")
    s.add_argument("--publish", action="store_true",
                   help="then commit the site to the gh-pages branch and push it (GitHub Pages)")
    s.add_argument("--remote", default="origin", help="remote for --publish (default origin)")
    s.add_argument("--no-push", action="store_true", help="with --publish: update the gh-pages branch only")
    s.set_defaults(func=cmd_site)

    names = ", ".join(sorted(_trainers()))
    s = sub.add_parser("train", help=f"rebuild a shipped checkpoint: {names}",
                       description=f"Rebuild a shipped checkpoint. Trainers: {names}. "
                                   "`lecture train NAME --help` gives a trainer's options.")
    s.add_argument("name", help=f"trainer name: {names}")
    s.add_argument("rest", nargs=argparse.REMAINDER, help="options for the trainer")
    s.set_defaults(func=cmd_train)

    from lecture_admin.grading.cli import add_subcommands

    add_subcommands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        if args.command != "lab":
            parser.error(f"unrecognized arguments: {' '.join(unknown)}")
        args.extra = unknown
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
