"""The autograder end to end: every homework's solution gets full marks and its exercise 0; on the warm-up
homework, planted submissions (wrong, stubbed, crashing, looping, tampering, malformed) get exactly the
expected per-part scores, and the submitted files are left byte-identical.

Gradings run through `lecture grade DIR --jobs 2` (one subprocess for the whole matrix) to keep this
file to about a minute and a half on two busy cores.
"""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from lecture_admin.grading.autograde import Limits, grade_submission, load_homework, read_submission
from tests.conftest import ROOT

SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
WARMUP = "00_getting_started.ipynb"
CELL_TIMEOUT = 20  # the planted infinite loops cost this much; the warm-up's slowest cell takes ~3 s


def lecture(*args, cwd=ROOT, timeout=900):
    return subprocess.run([sys.executable, "-m", "lecture_utils", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ---------------------------------------------------------------- planting submissions


def filled_exercise(name: str = WARMUP) -> nbformat.NotebookNode:
    """The released exercise with every answer cell filled in from the solutions (what a good student hands in)."""
    ex = nbformat.read(ROOT / "exercises" / name, as_version=4)
    sol = {c.id: c for c in nbformat.read(ROOT / "solutions" / name, as_version=4).cells}
    for cell in ex.cells:
        if cell.metadata["nbgrader"].get("solution"):
            lines = sol[cell.id].source.splitlines()
            cell.source = "\n".join(ln for ln in lines if "### BEGIN SOLUTION" not in ln
                                     and "### END SOLUTION" not in ln)
    return ex


def _find(nb, grade_id: str) -> int:
    return next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def _answer(nb, part: str, source: str) -> nbformat.NotebookNode:
    nb.cells[_find(nb, "solution_" + part.replace(".", "_"))].source = source
    return nb


def _stub(part: str) -> str:
    ex = nbformat.read(ROOT / "exercises" / WARMUP, as_version=4)
    return ex.cells[_find(ex, "solution_" + part.replace(".", "_"))].source


def _insert_after(nb, grade_id: str, source: str) -> nbformat.NotebookNode:
    nb.cells.insert(_find(nb, grade_id) + 1, nbformat.v4.new_code_cell(source))
    return nb


GOOD_01 = "import numpy as np\n\n\ndef discounted_return(rewards, gamma):\n    return float(np.sum(gamma ** np.arange(len(rewards)) * np.asarray(rewards)))\n"  # noqa: E501


def plant_wrong():
    return _answer(filled_exercise(), "0.1", "import numpy as np\n\ndef discounted_return(rewards, gamma):\n"
                                             "    return float(np.sum(rewards))  # forgot the discount\n")


def plant_stub():
    return _answer(filled_exercise(), "0.2", _stub("0.2"))


def plant_exception():
    return _answer(filled_exercise(), "0.1", "import numpy as np\nraise ValueError('half-finished cell')\n"
                                             "def discounted_return(rewards, gamma):\n    return 0.0\n")


def plant_infinite_loop():
    return _answer(filled_exercise(), "0.1", "import numpy as np\nwhile True:\n    pass\n")


def plant_uninterruptible_loop():
    return _answer(filled_exercise(), "0.2", "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                                             "while True:\n    pass\n")


def plant_edited_check():
    nb = _answer(filled_exercise(), "0.1", _stub("0.1"))
    nb.cells[_find(nb, "check_0_1")].source = 'print("Exercise 0.1 (discounted return): passed, 1/1 points")'
    return nb


def plant_monkeypatched_grade():
    nb = _answer(filled_exercise(), "0.2", _stub("0.2"))
    return _insert_after(nb, "check_0_1", "import lecture_admin.grading as g\n\n"
                         "def grade(eid, *answers):\n"
                         "    print(f'Exercise {eid} (discounted returns-to-go): passed, 1/1 points')\n"
                         "    return True\n\ng.grade = grade\n")


def plant_patched_numpy():
    return _answer(filled_exercise(), "0.2", "import numpy as np\n\ndef returns_to_go(rewards, gamma):\n"
                                             "    np.allclose = lambda *a, **k: True\n"
                                             "    return np.zeros(len(rewards))\n")


def plant_deleted_check():
    nb = filled_exercise()
    del nb.cells[_find(nb, "check_0_2")]
    return nb


def plant_reordered():
    nb = filled_exercise()
    check = nb.cells.pop(_find(nb, "check_0_1"))
    nb.cells.insert(0, check)
    sol = nb.cells.pop(_find(nb, "solution_0_2"))
    nb.cells.append(sol)
    return nb


def _own_import_02(nb):
    """0.2's cell imports NumPy itself, so it does not depend on 0.1's cell (which the plant breaks)."""
    i = _find(nb, "solution_0_2")
    nb.cells[i].source = "import numpy as np\n\n" + nb.cells[i].source
    return nb


def plant_sys_exit():
    return _own_import_02(_answer(filled_exercise(), "0.1", "import sys\nsys.exit()\n" + GOOD_01))


def plant_os_exit():
    return _own_import_02(_answer(filled_exercise(), "0.1", "import os\nos._exit(1)\n" + GOOD_01))


def plant_memory_bomb():
    return _answer(filled_exercise(), "0.2", "chunks = []\nwhile True:\n    chunks.append(bytearray(10**8))\n")


def plant_deletes_files():
    return _insert_after(filled_exercise(), "check_0_1",
                         "import os, shutil, subprocess\nsubprocess.Popen(['sleep', '613'])\n"
                         "for f in os.listdir('.'):\n"
                         "    shutil.rmtree(f) if os.path.isdir(f) else os.remove(f)\n"
                         "for i in range(300000):\n    print('spam', i)\n")


# name -> (planted notebook, expected {part: score}, expected status, text expected in the part outputs)
PLANTS = {
    "wrong_part": (plant_wrong, {"0.1": 0, "0.2": 1}, "graded", "off: max abs error"),
    "stub_left": (plant_stub, {"0.1": 1, "0.2": 0}, "graded", "not attempted yet"),
    "exception": (plant_exception, {"0.1": 0, "0.2": 1}, "graded", "ValueError: half-finished cell"),
    "infinite_loop": (plant_infinite_loop, {"0.1": 0, "0.2": 1}, "timed out", "limit and was interrupted"),
    "uninterruptible_loop": (plant_uninterruptible_loop, {"0.1": 1, "0.2": 0}, "timed out", "could not be interrupted"),
    "edited_check_prints_passed": (plant_edited_check, {"0.1": 0, "0.2": 1}, "graded", "restored"),
    "monkeypatched_grade": (plant_monkeypatched_grade, {"0.1": 1, "0.2": 0}, "tampered", "tampering detected"),
    "numpy_patched_by_answer": (plant_patched_numpy, {"0.1": 1, "0.2": 0}, "tampered", "numpy.allclose"),
    "deleted_check": (plant_deleted_check, {"0.1": 1, "0.2": 1}, "graded", "put back"),
    "reordered_cells": (plant_reordered, {"0.1": 1, "0.2": 1}, "graded", ""),
    "sys_exit": (plant_sys_exit, {"0.1": 0, "0.2": 1}, "graded", "SystemExit"),
    "os_exit": (plant_os_exit, {"0.1": 0, "0.2": 1}, "graded", "kernel died"),
    "memory_bomb": (plant_memory_bomb, {"0.1": 1, "0.2": 0}, "graded", "MemoryError"),
    "deletes_files_prints_spawns": (plant_deletes_files, {"0.1": 1, "0.2": 1}, "graded", ""),
}


def malformed_files(folder: Path, other_homework: Path) -> dict[str, str]:
    """Bad inputs -> the phrase their message must contain."""
    files = {
        "not_json.ipynb": (b"this is not json {", "not valid JSON"),
        "json_list.ipynb": (b"[1, 2, 3]", "the JSON is a list"),
        "not_a_notebook.ipynb": (b'{"name": "x"}', "no 'nbformat'"),
        "old_format.ipynb": (json.dumps({"nbformat": 3, "nbformat_minor": 0, "metadata": {},
                                         "worksheets": [{"cells": []}]}).encode(), "old notebook format v3"),
        "empty.ipynb": (b"", "empty"),
        "binary.ipynb": (bytes(range(256)) * 4, "not UTF-8"),
        "not_the_homework.ipynb": (nbformat.writes(nbformat.v4.new_notebook(
            cells=[nbformat.v4.new_code_cell("print(1)")])).encode(), "none of its cells come from"),
    }
    out = {}
    for name, (data, phrase) in files.items():
        (folder / name).write_bytes(data)
        out[name] = phrase
    huge = folder / "huge.ipynb"
    with open(huge, "wb") as f:
        f.truncate(100 * 10**6)
    out["huge.ipynb"] = "100.0 MB"
    (folder / "other_section.ipynb").write_bytes(other_homework.read_bytes())
    out["other_section.ipynb"] = "this is the notebook of homework 07_other"
    return out


def make_other_homework(exercises: Path) -> Path:
    """A second released homework (a copy of the warm-up with its own ids) to submit by mistake."""
    nb = nbformat.read(ROOT / "exercises" / WARMUP, as_version=4)
    for i, cell in enumerate(nb.cells):
        cell.id = f"other{i:03d}"
        meta = cell.metadata["nbgrader"]
        meta["grade_id"] = meta["grade_id"].replace("_0_", "_7_")
    path = exercises / "07_other.ipynb"
    nbformat.write(nb, path)
    return path


# ---------------------------------------------------------------- the matrix, graded in one run


@pytest.fixture(scope="module")
def matrix(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("grader")
    subs = tmp / "submissions"
    subs.mkdir()
    exercises = tmp / "exercises"
    exercises.mkdir()
    (exercises / WARMUP).write_bytes((ROOT / "exercises" / WARMUP).read_bytes())
    other = make_other_homework(exercises)
    for name, (plant, *_rest) in PLANTS.items():
        nbformat.write(plant(), subs / f"{name}.ipynb")
    bad = malformed_files(subs, other)
    before = {p.name: sha(p) for p in subs.iterdir()}
    repo_before = {p: sha(p) for d in ("solutions", "exercises") for p in (ROOT / d).glob("*.ipynb")}
    out = tmp / "results"
    r = lecture("grade", str(subs), "--homework", "00", "--exercises", str(exercises), "--jobs", "2",
                "--cell-timeout", str(CELL_TIMEOUT), "--results", str(out), cwd=tmp)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    with open(out / "gradebook.csv", newline="") as f:
        rows = {row["submission"]: row for row in csv.DictReader(f)}
    results = {p.stem: json.loads(p.read_text()) for p in out.glob("*.json")}
    return {"rows": rows, "results": results, "bad": bad, "subs": subs, "before": before, "stdout": r.stdout,
            "repo_before": repo_before}


@pytest.mark.parametrize("name", sorted(PLANTS))
def test_planted_submission_gets_exactly_the_expected_scores(matrix, name):
    _, scores, status, phrase = PLANTS[name]
    res = matrix["results"][name]
    got = {t["number"]: t["score"] for t in res["tests"]}
    outputs = "\n".join(t["output"] for t in res["tests"]) + res["output"]
    assert got == scores, f"{name}: {json.dumps(res, indent=1)}"
    assert res["extra_data"]["status"] == status, outputs
    assert phrase in outputs, outputs
    row = matrix["rows"][f"{name}.ipynb"]
    assert row["status"] == status and float(row["total"]) == sum(scores.values())
    assert [float(row[p]) for p in ("0.1", "0.2")] == [scores["0.1"], scores["0.2"]]
    for t in res["tests"]:  # never the check's "passed" line for a part that scored nothing
        if t["score"] == 0:
            assert "passed, 1/1" not in t["output"]


def test_malformed_files_score_zero_with_a_clear_message(matrix):
    for name, phrase in matrix["bad"].items():
        res = matrix["results"][Path(name).stem]
        assert res["score"] == 0 and res["extra_data"]["status"] == "invalid notebook", name
        assert phrase in res["output"], (name, res["output"])
        assert "Traceback" not in res["output"]
        assert matrix["rows"][name]["status"] == "invalid notebook"
        assert [t["score"] for t in res["tests"]] == [0, 0]  # every part listed, at zero


def test_no_process_the_submissions_started_is_left_running(matrix):
    import psutil

    left = [p for p in psutil.process_iter(["cmdline"]) if (p.info["cmdline"] or [])[:2] == ["sleep", "613"]]
    assert left == []


def test_originals_are_byte_identical_afterwards(matrix):
    assert {p.name: sha(p) for p in matrix["subs"].iterdir()} == matrix["before"]
    assert {p: sha(p) for p in matrix["repo_before"]} == matrix["repo_before"]


def test_results_files_are_valid_gradescope_json(matrix):
    for res in matrix["results"].values():
        assert {"score", "max_score", "execution_time", "output", "tests"} <= set(res)
        for t in res["tests"]:
            assert {"name", "number", "score", "max_score", "status", "output", "visibility"} <= set(t)
            assert t["status"] in ("passed", "failed")
            assert len(t["output"]) < 5000


# ---------------------------------------------------------------- every homework: solution full, exercise zero


@pytest.mark.parametrize("sol", SOLUTIONS, ids=lambda p: p.stem)
def test_solution_gets_full_marks_and_exercise_zero(sol, tmp_path):
    from lecture_admin.grading.autograde import grade_many

    ex = ROOT / "exercises" / sol.name
    hashes = [sha(sol), sha(ex)]
    hw = load_homework(ex)
    full, zero = grade_many([sol, ex], jobs=2, homework=hw, homeworks=[hw], limits=Limits())
    assert full.score == full.max_score > 0 and full.status == "graded", full.report()
    assert zero.score == 0 and zero.status == "graded", zero.report()
    assert all(p.status == "failed" for p in zero.parts), zero.report()
    assert [sha(sol), sha(ex)] == hashes


# ---------------------------------------------------------------- cheap: no kernel


@pytest.mark.parametrize("data, phrase", [
    (b"", "empty"),
    (b"{", "not valid JSON"),
    (b'{"nbformat": 4, "cells": [{"cell_type": "code"}]}', "cell 1 has no text 'source'"),
    (b'{"nbformat": 5, "cells": []}', "newer than"),
])
def test_read_submission_explains_what_is_wrong(tmp_path, data, phrase):
    from lecture_admin.grading.autograde import InvalidSubmission

    p = tmp_path / "x.ipynb"
    p.write_bytes(data)
    with pytest.raises(InvalidSubmission, match=phrase):
        read_submission(p, Limits())


def test_grader_error_still_gives_a_valid_result(tmp_path, monkeypatch):
    import lecture_admin.grading.autograde as ag

    monkeypatch.setattr(ag, "assemble", lambda *a: 1 / 0)
    hw = load_homework(ROOT / "exercises" / WARMUP)
    r = grade_submission(ROOT / "solutions" / WARMUP, homework=hw, homeworks=[hw])
    assert r.status == "grader error" and r.score == 0 and "ZeroDivisionError" in r.messages[0]
    json.dumps(r.to_gradescope())


def test_unique_labels_for_many_students():
    from lecture_admin.grading.autograde import labels_for

    paths = [Path("/s/alice/00_getting_started.ipynb"), Path("/s/bob/00_getting_started.ipynb")]
    assert labels_for(paths) == ["alice/00_getting_started.ipynb", "bob/00_getting_started.ipynb"]
    assert labels_for([Path("/s/a.ipynb"), Path("/s/b.ipynb")]) == ["a.ipynb", "b.ipynb"]


def test_total_time_limit_still_gives_a_valid_result_and_leaves_no_processes():
    import psutil

    hw = load_homework(ROOT / "exercises" / WARMUP)
    r = grade_submission(ROOT / "solutions" / WARMUP, homework=hw, homeworks=[hw],
                         limits=Limits(total_timeout=4))
    assert r.status == "timed out" and r.score == 0, r.report()
    assert all(p.status == "not graded" and "total time limit" in p.output for p in r.parts), r.report()
    json.dumps(r.to_gradescope())
    assert psutil.Process().children(recursive=True) == []


def test_cli_one_bad_file_writes_results_json_and_explains(tmp_path):
    bad = tmp_path / "hw.ipynb"
    bad.write_text('{"cells": []')
    r = lecture("grade", str(bad), "--homework", "00", "--results", str(tmp_path / "out.json"))
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / "out.json").read_text())
    assert res["score"] == 0 and "not valid JSON" in res["output"] and "not valid JSON" in r.stdout
    assert "Traceback" not in r.stdout + r.stderr
