"""Where the course's folders are: one search, used by every instructor command."""

from __future__ import annotations

from pathlib import Path


def repo_root() -> Path:
    """The course folder: the one holding notebooks/ and solutions/ (cwd and its parents first, then the package's)."""
    for cand in (Path.cwd(), *Path.cwd().parents, Path(__file__).resolve().parent.parent):
        if (cand / "solutions").is_dir() and (cand / "notebooks").is_dir():
            return cand
    raise SystemExit("lecture: cannot find the course folder (one with notebooks/ and solutions/); cd into it")


def exercises_dir(explicit: Path | None = None) -> Path:
    """The released exercises to grade against (explicit, else the course's exercises/)."""
    d = Path(explicit) if explicit else repo_root() / "exercises"
    if not d.is_dir() or not any(d.glob("*.ipynb")):
        raise SystemExit(f"lecture: no released exercises in {d} (run `lecture release`, or pass --exercises)")
    return d
