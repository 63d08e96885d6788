"""A homework's life, end to end, with the real commands: release, the student bundle, six students submit
(all right, all wrong, one part right, the unfilled stub, a broken file, a hostile one), the class is graded
with --jobs 2, and the gradebook and every results.json say what each student should fix."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
HW = "03_successor_features.ipynb"
pytestmark = pytest.mark.slow

WRONG = {
    "solution_3_1": "import numpy as np\n\n"
                    "def psi_linear_solve(P, phi, pi, gamma):\n    return np.asarray(phi, float)\n",
    "solution_3_2": "def q_from_psi(psi, w):\n    return psi.sum(-1)\n",
    "solution_3_3": "import numpy as np\n\ndef gpi_policy(psis, w):\n    return np.zeros(psis.shape[1], dtype=int)\n",
}
HOSTILE = ("import os, pathlib\nfor p in pathlib.Path('/').glob('*/*/*.ipynb'):\n    pass\n"
           "from lecture_utils import successor_features as sf\n"
           "psi_linear_solve = sf.psi_linear_solve\nq_from_psi = sf.q_from_psi\ngpi_policy = sf.gpi_policy\n")


def _lecture(*args, cwd=ROOT, timeout=900):
    r = subprocess.run([sys.executable, "-m", "lecture_admin", *args], cwd=cwd, capture_output=True, text=True,
                       timeout=timeout)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    return r.stdout


def _from_bundle(bundle: Path, dest: Path, replace: dict[str, str], solution_for: tuple[str, ...] = ()) -> None:
    nb = nbformat.read(bundle / "exercises" / HW, as_version=4)
    sol = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source
           for c in nbformat.read(ROOT / "exercises" / HW, as_version=4).cells}
    solved = nbformat.read(ROOT / "solutions" / HW, as_version=4)
    for i, cell in enumerate(nb.cells):
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in replace:
            cell.source = replace[gid]
        elif gid in solution_for:
            cell.source = solved.cells[i].source  # the student wrote the reference answer
    assert sol  # the released notebook is the template
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dest)


def test_a_homework_from_release_to_gradebook(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("the grading sandbox needs root (CI and Gradescope run as root)")
    assert "up to date" in _lecture("release", "--check")
    bundle = tmp_path / "handout"
    _lecture("release", "--student", str(bundle))
    assert not (bundle / "solutions").exists()

    cls = tmp_path / "submitted"
    parts = ("solution_3_1", "solution_3_2", "solution_3_3", "solution_3_4")
    _from_bundle(bundle, cls / "ana" / HW, {}, solution_for=parts)
    _from_bundle(bundle, cls / "ben" / HW, WRONG)
    _from_bundle(bundle, cls / "cai" / HW, {}, solution_for=("solution_3_1",))
    _from_bundle(bundle, cls / "dee" / HW, {})
    (cls / "eve").mkdir()
    (cls / "eve" / HW).write_text('{"cells": [')
    _from_bundle(bundle, cls / "fay" / HW, {"solution_3_1": HOSTILE})
    before = {p: p.read_bytes() for p in cls.rglob("*.ipynb")}

    out = tmp_path / "results"
    log = _lecture("grade", str(cls), "--homework", "03", "--jobs", "2", "--results", str(out), "--seed", "4242")
    assert "graded 6 submissions" in log
    rows = {r["submission"].split("/")[0]: r for r in csv.DictReader(open(out / "gradebook.csv"))}
    assert set(rows) == {"ana", "ben", "cai", "dee", "eve", "fay"}
    total = {k: float(r["total"]) for k, r in rows.items()}
    assert total == {"ana": 9, "ben": 0, "cai": 3, "dee": 0, "eve": 0, "fay": 0}, total
    assert rows["ana"]["bonus"] == "1" and rows["ana"]["max_score"] == "16"  # 3.4 is extra credit; 3.5 unanswered
    assert rows["eve"]["status"] == "invalid notebook" and all(r["sandbox"] == "full" for k, r in rows.items()
                                                              if k != "eve")

    def feedback(name: str) -> dict[str, str]:
        data = json.loads((out / f"{name}__{HW.removesuffix('.ipynb')}.json").read_text())
        return {t["number"]: t["output"] for t in data["tests"]} | {"_": data["output"]}

    assert feedback("ana")["3.1"] == "passed"
    assert "off" in feedback("ben")["3.1"] or "expected" in feedback("ben")["3.1"]  # how far off, not the answer
    assert "not attempted" in feedback("dee")["3.2"]
    assert "not valid JSON" in feedback("eve")["_"]
    assert "course's own copy" in feedback("fay")["3.1"]
    assert {p: p.read_bytes() for p in cls.rglob("*.ipynb")} == before, "the grader never changes a submission"
