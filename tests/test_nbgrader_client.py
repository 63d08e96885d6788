"""nbgrader 0.9.6 as a real client: its own generate_assignment + autograde give the same scores as `lecture grade`.

nbgrader is not a course dependency (students never install it). It lives in a separate, clean venv cached in
the test cache outside the repository (tests/client_venvs.py: nbgrader 0.9.6 + the course; the pins of
pyproject.toml hold: they do not conflict with nbgrader's requirements). Built once, reused while
pyproject.toml is unchanged; skipped with the reason when it cannot be built (no package index).

For each homework below, two honest submissions made from the released exercise: all right (the solution's
code) and partly right (the first part right, every other stub returning 0: what a wrong answer earns is shown
part by part); and a third that fakes a pass (replaces `grade` in an answer cell): nbgrader gives it every point, and
`lecture grade` none -- the limit of nbgrader that docs/grading.md describes.
nbgrader runs them in a course folder laid out as it expects (source/, submitted/<student>/<assignment>/),
with nbgrader's command line; the scores come from its gradebook (Python API, per grade cell) and its
`export` CSV (the totals). `lecture grade --jobs 1` grades the same files. Every non-optional part must score
the same in both, and what we expect.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from lecture_admin.grading.homework import load_homework
from lecture_admin.ids import BEGIN, END, exercise_of
from tests.client_venvs import cached_venv, record_timing, venv_key
from tests.conftest import ROOT

NBGRADER = "nbgrader==0.9.6"
# Homework 03 has every kind of cell: graded parts, an optional part, a behaviour-graded part, written answers.
# (00 ran here too until the suite's time budget asked for one: it adds nothing 03 does not exercise.)
HOMEWORKS = ["03_successor_features"]
# (An all-wrong student ran here too until the suite's time budget asked: carol's wrong parts show the same.)
STUDENTS = {"alice": "right", "carol": "partly", "mallory": "faker"}
HONEST = ("alice", "carol")
# What nbgrader cannot stop: the tests run in the student's process, so an answer cell can replace them.
FAKE_PASS = ("import lecture_utils.selfcheck as _selfcheck\n"
             "_selfcheck.grade = lambda exercise_id, *answers: print(f'Exercise {exercise_id}: passed')\n\n")



@pytest.fixture(scope="session")
def nbgrader_python() -> Path:
    key = venv_key(NBGRADER, (ROOT / "pyproject.toml").read_bytes())
    try:
        py, built = cached_venv("nbgrader", key, [[NBGRADER, str(ROOT)]],
                                refresh=["--no-deps", "--force-reinstall", str(ROOT)])
    except (RuntimeError, subprocess.SubprocessError, OSError) as e:
        pytest.skip(f"cannot build the nbgrader venv here: {str(e)[:300]}")
    if built:
        record_timing("nbgrader venv build (s)", built)
    return py


# ---------------------------------------------------------------- the submissions


def _solution_part(cell) -> str | None:
    meta = cell.metadata.get("nbgrader", {})
    kind = exercise_of(meta.get("grade_id", "")) if meta.get("solution") else None
    return kind[1] if kind and kind[0] == "solution" else None


def _right(solution_source: str) -> str:
    """The solution cell's code without nbgrader's markers (what a student who got it right would write)."""
    return "\n".join(ln for ln in solution_source.splitlines() if ln.strip() not in (BEGIN, END))


def _wrong(exercise_source: str) -> str:
    """The released stub, answering 0 instead of raising NotImplementedError."""
    assert "raise NotImplementedError()" in exercise_source, exercise_source
    return re.sub(r"^[ \t]*# YOUR CODE HERE\n", "", exercise_source, flags=re.M).replace(
        "raise NotImplementedError()", "return 0")


def make_submission(name: str, kind: str) -> tuple[nbformat.NotebookNode, dict[str, bool]]:
    """A filled-in copy of the released exercise `name` and, per part, whether it is answered right.

    right: the solution's code; wrong: every stub returns 0; partly: the first part right, the rest wrong;
    faker: wrong, and the first answer cell replaces `grade` by one that prints a pass.
    """
    nb = nbformat.read(ROOT / "exercises" / f"{name}.ipynb", as_version=4)
    sol = {c.get("id"): c for c in nbformat.read(ROOT / "solutions" / f"{name}.ipynb", as_version=4).cells}
    parts = [p for p in dict.fromkeys(_solution_part(c) for c in nb.cells) if p]
    right = {p: kind == "right" or (kind == "partly" and p == parts[0]) for p in parts}
    for cell in nb.cells:
        if kind == "right" and cell.metadata.get("nbgrader", {}).get("grade_id", "").startswith("answer_"):
            cell.source = "My answer, in my own words."  # alice answers the written questions; the others do not
        part = _solution_part(cell)
        if part is None or cell.cell_type != "code":
            continue
        cell.source = _right(sol[cell.get("id")].source) if right[part] else _wrong(cell.source)
        if kind == "faker" and part == parts[0]:
            cell.source = FAKE_PASS + cell.source
    return nb, right


def expected_scores(name: str, right: dict[str, bool]) -> dict[str, float]:
    hw = load_homework(ROOT / "exercises" / f"{name}.ipynb")
    return {p.exercise_id: float(p.points if right.get(p.exercise_id) else 0) for p in hw.parts if not p.optional}


# ---------------------------------------------------------------- nbgrader, for real

NBGRADER_CONFIG = """\
c = get_config()
c.CourseDirectory.course_id = "course"
c.CourseDirectory.root = {root!r}
c.CourseDirectory.db_url = "sqlite:///{root}/gradebook.db"
c.Execute.timeout = 300
"""

GRADEBOOK_DUMP = """\
import json, sys
from nbgrader.api import Gradebook
out = {}
with Gradebook(sys.argv[1]) as gb:
    for sub in gb.assignment_submissions(sys.argv[2]):
        out[sub.student_id] = {g.name: [g.score, g.max_score, g.auto_score] for nb in sub.notebooks for g in nb.grades}
print(json.dumps(out))
"""


def nbgrader_env(py: Path, home: Path) -> dict[str, str]:
    """The nbgrader venv, activated (nbgrader runs its `alembic` from PATH); no PYTHONPATH, no user-wide Jupyter
    config or kernels (the venv's own python3 kernel runs the notebooks)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "JUPYTER_PATH", "PYTHONHOME")}
    env.update(VIRTUAL_ENV=str(py.parent.parent), PATH=f"{py.parent}{os.pathsep}{env.get('PATH', '')}",
               JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_DATA_DIR=str(home / "data"),
               JUPYTER_RUNTIME_DIR=str(home / "runtime"), JUPYTER_PREFER_ENV_PATH="1", IPYTHONDIR=str(home / "ipy"))
    return env


def run_nbgrader(py: Path, course: Path, env: dict, *args: str, timeout: float = 1200) -> str:
    r = subprocess.run([str(py), "-m", "nbgrader", *args], cwd=course, env=env, capture_output=True, text=True,
                       timeout=timeout)
    assert r.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r.stdout + r.stderr


def nbgrader_scores(py: Path, course: Path, assignment: str, name: str, env: dict) -> tuple[dict, dict, float]:
    """generate_assignment, then autograde every submission (one run); per student {grade_id: score}, totals, and
    the seconds autograde took."""
    src = course / "source" / assignment
    src.mkdir(parents=True)
    shutil.copy2(ROOT / "exercises" / f"{name}.ipynb", src / f"{name}.ipynb")
    (course / "nbgrader_config.py").write_text(NBGRADER_CONFIG.format(root=str(course)))
    run_nbgrader(py, course, env, "generate_assignment", assignment, "--force")
    assert (course / "release" / assignment / f"{name}.ipynb").is_file()
    t0 = time.perf_counter()  # autograde adds the students to its database
    log = run_nbgrader(py, course, env, "autograde", assignment, "--force")
    seconds = time.perf_counter() - t0
    for student in STUDENTS:
        assert (course / "autograded" / student / assignment / f"{name}.ipynb").is_file(), log[-3000:]
    dump = subprocess.run([str(py), "-c", GRADEBOOK_DUMP, f"sqlite:///{course}/gradebook.db", assignment],
                          env=env, capture_output=True, text=True, timeout=120, cwd=course)
    assert dump.returncode == 0, dump.stderr
    per_cell = json.loads(dump.stdout)
    run_nbgrader(py, course, env, "export", "--to", str(course / "grades.csv"))
    with open(course / "grades.csv", newline="") as f:
        totals = {row["student_id"]: row for row in csv.DictReader(f) if row["assignment"] == assignment}
    return per_cell, totals, seconds


# ---------------------------------------------------------------- lecture grade, same files


def lecture_grade(folder: Path, section: str, out: Path) -> tuple[dict[str, dict[str, float]], float]:
    """`lecture grade --jobs 1` on every submission (one run, timed); per student {part: score}."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "lecture_admin", "grade", *(str(folder / s) for s in STUDENTS),
                        "--jobs", "1", "--homework", section, "--results", str(out)],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    seconds = time.perf_counter() - t0
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    scores = {}
    for student in STUDENTS:  # results named after the folders: alice__03_x.json
        [res] = [json.loads(p.read_text()) for p in out.glob(f"{student}__*.json")]
        scores[student] = {t["number"]: t["score"] for t in res["tests"] if "status" in t}
    return scores, seconds


@pytest.mark.slow
@pytest.mark.parametrize("name", HOMEWORKS)
def test_nbgrader_autograde_agrees_with_lecture_grade(name, nbgrader_python, tmp_path):
    section = name.split("_")[0]
    assignment = f"hw{section}"
    course = tmp_path / "course"
    subs = tmp_path / "lecture"
    expected = {}
    for student, kind in STUDENTS.items():
        nb, right = make_submission(name, kind)
        expected[student] = expected_scores(name, right)
        for folder in (course / "submitted" / student / assignment, subs / student):
            folder.mkdir(parents=True)
            nbformat.write(nb, folder / f"{name}.ipynb")

    per_cell, totals, nbg_seconds = nbgrader_scores(nbgrader_python, course, assignment, name,
                                                    nbgrader_env(nbgrader_python, tmp_path / "jupyter"))
    lec, lec_seconds = lecture_grade(subs, section, tmp_path / "results")
    record_timing(f"{name}: nbgrader autograde, {len(STUDENTS)} submissions (s)", nbg_seconds)
    record_timing(f"{name}: lecture grade --jobs 1, {len(STUDENTS)} submissions (s)", lec_seconds)

    table = []
    for student in HONEST:
        nbg = {exercise_of(gid)[1]: score for gid, (score, _mx, _auto) in per_cell[student].items()
               if exercise_of(gid) and exercise_of(gid)[0] == "check"}
        for part, want in expected[student].items():
            table.append((student, part, want, nbg.get(part), lec[student].get(part)))
        # nbgrader's export CSV: the same total as its per-cell grades
        assert float(totals[student]["raw_score"]) == pytest.approx(sum(nbg.values())), totals[student]
    print(f"\n{name}: student part expected nbgrader lecture-grade")
    for row in table:
        print("  " + " ".join(map(str, row)))
    wrong = [row for row in table if not (row[2] == row[3] == row[4])]
    assert not wrong, f"(student, part, expected, nbgrader, lecture grade) that disagree: {wrong}"
    # and the totals over the non-optional parts
    for student in HONEST:
        assert sum(r[3] for r in table if r[0] == student) == sum(expected[student].values())

    # Written answers: nbgrader holds each as a manually graded cell worth its points: an answered one waits for a
    # grader (no autograde score), one left as released gets 0 automatically. `lecture grade` lists them as graded
    # by hand, outside the autograded score.
    written = load_homework(ROOT / "exercises" / f"{name}.ipynb").written
    for student in HONEST:
        manual = {exercise_of(gid)[1]: (mx, auto) for gid, (_score, mx, auto) in per_cell[student].items()
                  if exercise_of(gid) and exercise_of(gid)[0] == "answer"}
        auto = None if STUDENTS[student] == "right" else 0.0
        assert manual == {q: (float(pts), auto) for q, pts in written}, (student, manual)

    # The faked pass: nbgrader awards every point (the check cells ran without error), `lecture grade` none
    # (its hidden tests run in the grader's process and call the student's functions, which answer 0).
    full = {p: float(pts) for p, pts in expected_scores(name, dict.fromkeys(expected["alice"], True)).items()}
    faked = {exercise_of(gid)[1]: score for gid, (score, _mx, _auto) in per_cell["mallory"].items()
             if exercise_of(gid) and exercise_of(gid)[0] == "check"}
    print(f"  mallory (fakes a pass): nbgrader {faked}, lecture grade {lec['mallory']}")
    assert {p: faked.get(p) for p in full} == full
    assert all(lec["mallory"][p] == 0 for p in full), lec["mallory"]


def test_submissions_are_what_they_claim():
    """The generator itself (no nbgrader): right = the solution's code, wrong = `return 0` stubs."""
    fake, right = make_submission("00_getting_started", "faker")
    assert right == {"0.1": False, "0.2": False}
    assert [c.source for c in fake.cells if _solution_part(c)][0].startswith(FAKE_PASS)
    nb, right = make_submission("00_getting_started", "partly")
    assert right == {"0.1": True, "0.2": False}
    code = [c.source for c in nb.cells if _solution_part(c)]
    assert "np.sum(gamma" in code[0] and BEGIN not in code[0]
    assert "NotImplementedError" not in code[1] and "YOUR CODE" not in code[1]
    env = {}
    exec(compile(code[1], "answer", "exec"), env)  # a well-formed answer, just wrong
    assert env["returns_to_go"]([1.0, 2.0], 0.5) == 0
    for name in HOMEWORKS:  # every answer cell of every kind compiles
        for kind in ("right", "wrong", "faker"):
            nb, _ = make_submission(name, kind)
            for c in nb.cells:
                if _solution_part(c):
                    compile(c.source, f"{name}/{kind}", "exec")
