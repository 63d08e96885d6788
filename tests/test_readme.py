"""The README's checkable statements stay true: every path it names exists, every `lecture` subcommand and
option it shows exists, and the trainers it names are the ones `lecture train --help` lists."""

from __future__ import annotations

import functools
import re
from pathlib import Path

from lecture_admin.cli import _trainers, build_parser

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
# The README and the instructor's and student's pages: the same facts, checked the same way.
DOCS = {name: (ROOT / name).read_text(encoding="utf-8")
        for name in ("README.md", "docs/walkthrough.md", "docs/grading.md", "docs/site.md") if (ROOT / name).exists()}
PATH_RE = re.compile(r"`((?:notebooks|exercises|solutions|docs|tests|lecture_utils|lecture_admin|\.ci)/[^`*<>\s]*)`")


def readme_paths(text: str) -> list[str]:
    return sorted({m.group(1).split("::")[0].rstrip("/") for m in PATH_RE.finditer(text)})


def missing_paths(text: str) -> list[str]:
    out = []
    for p in readme_paths(text):
        if "NN" in p or "<" in p:
            continue
        if not (ROOT / p).exists() and not list(ROOT.glob(p)):
            out.append(p)
    return out


def test_every_path_the_readme_names_exists():
    assert readme_paths(README), "the README names files"
    assert {name: missing_paths(text) for name, text in DOCS.items()} == {name: [] for name in DOCS}


def test_the_paths_test_can_fail():
    assert missing_paths("see `docs/no_such_file.md` and `tests/test_layers.py`") == ["docs/no_such_file.md"]


def _subcommands() -> dict[str, set[str]]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return {name: {o for a in p._actions for o in a.option_strings} for name, p in sub.choices.items()}


def unknown_commands(text: str) -> list[str]:
    subs = _subcommands()
    bad = []
    for m in re.finditer(r"`lecture ([a-z]+)((?: [^`]*)?)`", text):
        name, rest = m.group(1), m.group(2)
        if name not in subs:
            bad.append(f"lecture {name}")
            continue
        known = subs[name]
        trainer = re.match(r" ([a-z0-9_]+)", rest) if name == "train" else None
        if trainer:  # `lecture train NAME --opt`: the options are the trainer's own (its argparse --help)
            known = known | _trainer_options(trainer.group(1))
        bad += [f"lecture {name} {opt}" for opt in re.findall(r"(--[a-z][a-z-]*)", rest) if opt not in known]
    return bad


@functools.cache
def _trainer_options(trainer: str) -> set[str]:
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "lecture_admin", "train", trainer, "--help"], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    return set(re.findall(r"(--[a-z][a-z-]*)", r.stdout)) if r.returncode == 0 else set()


def test_every_lecture_command_the_readme_shows_exists():
    assert {name: unknown_commands(text) for name, text in DOCS.items()} == {name: [] for name in DOCS}


def test_the_commands_test_can_fail():
    assert unknown_commands("run `lecture grade x --jobs 2 --frobnicate` and `lecture fly`") == [
        "lecture grade --frobnicate", "lecture fly"]
    assert unknown_commands("`lecture train maml --std-lr-scale 10` and `lecture train maml --no-such-flag`") == [
        "lecture train --no-such-flag"]


def test_trainers_named_in_the_readme_are_the_trainers():
    m = re.search(r"lists the trainers \(([^)]*)\)", README)
    assert m, "the README says which trainers `lecture train --help` lists"
    named = set(re.findall(r"`([a-z0-9_]+)`", m.group(1).split(";")[0]))
    assert named == set(_trainers())


def _homework_rows(text: str) -> dict[str, tuple[str, str]]:
    """{part id: (points cell, lines cell)} from the README's homework table."""
    rows = {}
    for line in text.splitlines():
        m = re.match(r"^\| \**(\d+\.\d+)\** \| ([^|]+) \| ([^|]+) \|", line)
        if m:
            rows[m.group(1)] = (m.group(2).strip(), m.group(3).strip())
    return rows


def _expected_rows() -> dict[str, tuple[str, str]]:
    from lecture_admin.release import summarize

    out = {}
    for nb in sorted((ROOT / "solutions").glob("*.ipynb")):
        for p in summarize(nb):
            points = f"{p.points}, written" if p.kind == "written" else (
                f"{p.points}, optional" if p.optional else str(p.points))
            out[p.exercise_id] = (points, "–" if p.kind == "written" else str(p.solution_lines))
    return out


def test_the_homework_table_matches_the_solutions():
    assert _homework_rows(README) == _expected_rows()


def test_the_homework_table_test_can_fail():
    text = README.replace("| 3.2 | 2 | 5 |", "| 3.2 | 3 | 5 |")
    assert _homework_rows(text) != _expected_rows()
