"""The `lecture` command (also `python -m lecture_utils`)."""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from pathlib import Path


def repo_root() -> Path:
    """The course folder: the one holding notebooks/ and solutions/ (cwd first, then the package's)."""
    for cand in (Path.cwd(), *Path.cwd().parents, Path(__file__).resolve().parent.parent):
        if (cand / "solutions").is_dir() and (cand / "notebooks").is_dir():
            return cand
    raise SystemExit("lecture: cannot find the course folder (one with notebooks/ and solutions/); cd into it")


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
    from lecture_utils.release import ReleaseError, release_all

    root = repo_root()
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
    from lecture_utils.bench import run

    return run(repo_root(), json_path=args.json, skip_notebooks=args.results_only,
               skip_results=args.notebooks_only, sections=args.section)


def cmd_execute(args) -> int:
    from lecture_utils.execute import execute_notebook

    status = 0
    for p in args.notebooks:
        ex = execute_notebook(Path(p), write=True)
        print(f"{p}: {'ok' if ex.ok else 'FAILED: ' + ex.error} ({ex.seconds:.1f} s, {ex.peak_mb:.0f} MB)")
        status |= 0 if ex.ok else 1
    return status


def _trainers() -> dict[str, str]:
    import lecture_utils.training as pkg

    return {m.name: f"{pkg.__name__}.{m.name}" for m in pkgutil.iter_modules(pkg.__path__)}


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
    s.set_defaults(func=cmd_release)

    s = sub.add_parser("bench", help="time every notebook and print the headline results")
    s.add_argument("--json", type=Path, help="also write the numbers to this file")
    s.add_argument("--results-only", action="store_true", help="skip executing the notebooks")
    s.add_argument("--notebooks-only", action="store_true", help="skip the headline results")
    s.add_argument("--section", action="append", help="only this results module (e.g. sec03); repeatable")
    s.set_defaults(func=cmd_bench)

    s = sub.add_parser("execute", help="execute notebooks in place (store outputs), as committed")
    s.add_argument("notebooks", nargs="+")
    s.set_defaults(func=cmd_execute)

    s = sub.add_parser("train", help="rebuild a shipped checkpoint (see `lecture train --help`)")
    s.add_argument("name", help="trainer name (a module in lecture_utils/training)")
    s.add_argument("rest", nargs=argparse.REMAINDER, help="options for the trainer")
    s.set_defaults(func=cmd_train)

    _add_plugins(sub)
    return p


def _add_plugins(sub) -> None:
    """Subcommands that live in their own modules (grading) register here if present."""
    for modname in ("lecture_utils.grading.cli",):
        try:
            mod = importlib.import_module(modname)
        except ModuleNotFoundError as e:
            if e.name == modname:
                continue
            raise
        mod.add_subcommands(sub)


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
