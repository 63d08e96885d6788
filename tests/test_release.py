"""`lecture release`: exercises are generated from solutions, stubbed, nbgrader-tagged, and fail unfilled."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from lecture_admin.release import ReleaseError, release_all, release_notebook, stub_source
from tests.conftest import ROOT, run_nbval_lax

SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))


def lecture(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "lecture_admin", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.slow
def test_release_check_passes_on_repo():
    r = lecture("release", "--check")
    assert r.returncode == 0, r.stderr


def make_course(tmp_path: Path) -> Path:
    course = tmp_path / "course"
    for d in ("solutions", "exercises", "notebooks"):
        shutil.copytree(ROOT / d, course / d, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "kernel-*"))
    return course


@pytest.mark.slow
def test_hand_edit_of_an_exercise_fails_the_check(tmp_path):
    course = make_course(tmp_path)
    ex = sorted((course / "exercises").glob("*.ipynb"))[0]
    nb = nbformat.read(ex, as_version=4)
    nb.cells[-1].source += "\n# edited by hand"
    nbformat.write(nb, ex)
    r = lecture("release", "--check", cwd=course)
    assert r.returncode == 1
    assert ex.name in r.stderr and "differs" in r.stderr
    # and regeneration repairs it
    assert lecture("release", cwd=course).returncode == 0
    assert lecture("release", "--check", cwd=course).returncode == 0


@pytest.mark.slow
def test_missing_and_extra_exercise_are_reported(tmp_path):
    course = make_course(tmp_path)
    ex = sorted((course / "exercises").glob("*.ipynb"))[0]
    ex.rename(course / "exercises" / "99_stray.ipynb")
    r = lecture("release", "--check", cwd=course)
    assert r.returncode == 1
    assert "missing" in r.stderr and "99_stray.ipynb: has no solutions notebook" in r.stderr


def test_stub_keeps_signature_docstring_and_indentation():
    src = 'def f(x):\n    """Doc."""\n    ### BEGIN SOLUTION\n    return x + 1\n    ### END SOLUTION\n\nY = 2'
    out = stub_source(src, "t")
    assert out == 'def f(x):\n    """Doc."""\n    # YOUR CODE HERE\n    raise NotImplementedError()\n\nY = 2'


def test_top_level_region_and_two_regions():
    src = "### BEGIN SOLUTION\na = 1\n### END SOLUTION\nb = 2\n  ### BEGIN SOLUTION\n  c\n  ### END SOLUTION"
    out = stub_source(src, "t")
    assert out.splitlines() == ["# YOUR CODE HERE", "raise NotImplementedError()", "b = 2",
                                "  # YOUR CODE HERE", "  raise NotImplementedError()"]


def _nb(*cells):
    return new_notebook(cells=list(cells), metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                    "language": "python"}})


CHECK = 'from lecture_utils.selfcheck import grade\n\ngrade("0.1", discounted_return)'
SOL = "def discounted_return(r, g):\n    ### BEGIN SOLUTION\n    return 0.0\n    ### END SOLUTION"


@pytest.mark.parametrize(
    "cells, message",
    [
        ([new_code_cell("### BEGIN SOLUTION\nx = 1"), new_code_cell(CHECK)], "never closed"),
        ([new_code_cell("x = 1\n### END SOLUTION"), new_code_cell(CHECK)], "without a matching"),
        ([new_code_cell("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION"), new_code_cell(CHECK)],
         "inside another"),
        ([new_code_cell(SOL), new_code_cell(CHECK), new_code_cell(SOL), new_code_cell(CHECK)],
         "duplicate grade_id 'check_0_1'"),
        ([new_markdown_cell("### BEGIN SOLUTION\nx\n### END SOLUTION"), new_code_cell(CHECK)],
         "solution markers in a markdown cell"),
        ([new_code_cell(CHECK + "\n### BEGIN SOLUTION\n### END SOLUTION")], "solution markers in a check cell"),
        ([new_code_cell(SOL)], "no check cell after it"),
        ([new_code_cell(SOL), new_code_cell('grade("9.9", f)')], "no check"),
    ],
)
def test_malformed_solutions_give_a_clear_error_naming_notebook_and_cell(cells, message):
    with pytest.raises(ReleaseError) as e:
        release_notebook(_nb(*cells), Path("solutions/07_bad.ipynb"))
    assert message in str(e.value)
    assert "07_bad.ipynb" in str(e.value)


@pytest.mark.slow
def test_malformed_marker_cli_error_names_notebook_and_cell(tmp_path):
    course = make_course(tmp_path)
    nbformat.write(_nb(new_code_cell("x = 1"), new_code_cell("### BEGIN SOLUTION\nx = 1"), new_code_cell(CHECK)),
                   course / "solutions" / "99_bad.ipynb")
    r = lecture("release", cwd=course)
    assert r.returncode == 2
    assert "99_bad.ipynb, cell 2" in r.stderr and "never closed" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.slow
def test_not_a_notebook_is_a_clear_error(tmp_path):
    course = make_course(tmp_path)
    (course / "solutions" / "99_bad.ipynb").write_text("{not json")
    r = lecture("release", cwd=course)
    assert r.returncode == 2 and "99_bad.ipynb: not a readable notebook" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("sol", SOLUTIONS, ids=lambda p: p.stem)
def test_nbgrader_metadata(sol):
    ex = nbformat.read(ROOT / "exercises" / sol.name, as_version=4)
    ids = [c.metadata["nbgrader"]["grade_id"] for c in ex.cells]
    assert len(ids) == len(set(ids))
    checks = [c for c in ex.cells if c.metadata["nbgrader"]["grade"]]
    assert checks, "every homework has graded parts"
    for c in ex.cells:
        meta = c.metadata["nbgrader"]
        assert meta["schema_version"] == 3
        if meta["grade"] and c.cell_type == "markdown":  # a written answer, graded by hand
            assert meta["solution"] and not meta["locked"] and meta["points"] > 0
            assert c.source == "YOUR ANSWER HERE" and meta["grade_id"].startswith("answer_")
            continue
        if meta["grade"]:
            assert meta["locked"] and meta["points"] > 0 and "grade(" in c.source
        if c.cell_type == "code":
            assert c.outputs == [] and c.execution_count is None, "released exercises carry no outputs"
        if meta["solution"]:
            assert "raise NotImplementedError()" in c.source and c.outputs == []
            assert "BEGIN SOLUTION" not in c.source


def test_release_all_writes_then_is_idempotent(tmp_path):
    course = make_course(tmp_path)
    shutil.rmtree(course / "exercises")
    written = release_all(course)
    assert len(written) == len(SOLUTIONS)
    assert release_all(course) == []
    assert release_all(course, check_only=True) == []


@pytest.mark.slow
def test_saved_wrong_work_still_fails_the_self_check(tmp_path):
    """JupyterLab autosaves: a homework executed with a wrong answer and saved must still fail nbval-lax
    (the check cell raises; nbval-lax does not compare against stored outputs)."""
    from nbclient import NotebookClient

    nb = nbformat.read(ROOT / "exercises" / "00_getting_started.ipynb", as_version=4)
    for c in nb.cells:
        if c.metadata["nbgrader"].get("solution"):
            c.source = c.source.replace("raise NotImplementedError()", "return 0.0")
    NotebookClient(nb, timeout=120, allow_errors=True, resources={"metadata": {"path": str(ROOT)}}).execute()
    saved = tmp_path / "00_getting_started.ipynb"
    nbformat.write(nb, saved)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors and all(o["ename"] == "PartFailed" for o in errors)
    assert errors[0]["traceback"] == [errors[0]["traceback"][0]], "the student sees one line, no traceback"
    outcomes = run_nbval_lax(saved, tmp_path)
    code = [c for c in nb.cells if c.cell_type == "code"]
    checks = [i for i, c in enumerate(code) if c.metadata["nbgrader"]["grade"]]
    for i in checks:
        [key] = [k for k in outcomes if k.endswith(f"Cell {i}")]
        assert outcomes[key] == "failed", f"saved wrong work passed check cell {i}"


def test_exercises_are_what_release_generates():
    """The quick lane's release check, in process (the CLI form is test_release_check_passes_on_repo)."""
    assert release_all(ROOT, check_only=True) == []


WRITTEN = "<!-- written 0.3: 2 points -->\nThe model answer.\n\n**Rubric:** 1 point for X, 1 point for Y."


def test_written_answer_is_released_as_an_nbgrader_manual_cell_without_the_model_answer():
    out = release_notebook(_nb(new_code_cell(SOL), new_code_cell(CHECK), new_markdown_cell("Explain X."),
                               new_markdown_cell(WRITTEN)), Path("solutions/00_x.ipynb"))
    cell = out.cells[3]
    assert cell.source == "YOUR ANSWER HERE" and "model answer" not in nbformat.writes(out)
    assert cell.metadata["nbgrader"] == {"schema_version": 3, "grade": True, "solution": True, "locked": False,
                                         "grade_id": "answer_0_3", "points": 2}
    assert out.cells[2].metadata["nbgrader"]["locked"] is True  # the question stays read-only


@pytest.mark.parametrize("cells, message", [
    ([new_markdown_cell(WRITTEN), new_markdown_cell(WRITTEN), new_code_cell(SOL), new_code_cell(CHECK)],
     "duplicate grade_id 'answer_0_3'"),
    ([new_markdown_cell("<!-- written 0.3: 2 points -->"), new_code_cell(SOL), new_code_cell(CHECK)],
     "has no model answer or rubric"),
])
def test_malformed_written_answers_are_clear_errors(cells, message):
    with pytest.raises(ReleaseError, match=message):
        release_notebook(_nb(*cells), Path("solutions/07_bad.ipynb"))
