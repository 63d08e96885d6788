"""The Gradescope bundle: layout, and its run_autograder against a folder laid out like /autograder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from lecture_admin.grading.gradescope import extract_bundle
from tests.conftest import ROOT

WARMUP = "00_getting_started.ipynb"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    out = tmp_path_factory.mktemp("bundle") / "hw00.zip"
    r = subprocess.run([sys.executable, "-m", "lecture_utils", "autograder", "00", "--out", str(out)], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return out


def autograder_dir(tmp_path: Path, bundle: Path) -> Path:
    ag = tmp_path / "autograder"
    extract_bundle(bundle, ag / "source")
    shutil.copy2(ag / "source" / "run_autograder", ag / "run_autograder")  # Gradescope copies it there
    (ag / "submission").mkdir()
    return ag


def run_autograder(ag: Path, python: str = sys.executable) -> dict:
    env = {**os.environ, "AUTOGRADER_ROOT": str(ag), "AUTOGRADER_PYTHON": python}
    r = subprocess.run([str(ag / "run_autograder")], env=env, capture_output=True, text=True, timeout=600, cwd=ag)
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads((ag / "results" / "results.json").read_text())


def test_bundle_layout(bundle, tmp_path):
    with zipfile.ZipFile(bundle) as z:
        infos = {i.filename: i for i in z.infolist()}
    for script in ("setup.sh", "run_autograder"):
        assert script in infos, sorted(infos)[:10]
        assert (infos[script].external_attr >> 16) & 0o111, f"{script} is not executable"
    for name in ("autograder.json", f"exercises/{WARMUP}", "course/pyproject.toml",
                 "course/lecture_admin/grading/core.py", "course/lecture_admin/grading/sec00.py"):
        assert name in infos
    assert not any("__pycache__" in n for n in infos)
    src = extract_bundle(bundle, tmp_path / "src")
    assert subprocess.run(["bash", "-n", str(src / "setup.sh")]).returncode == 0
    assert subprocess.run(["bash", "-n", str(src / "run_autograder")]).returncode == 0
    config = json.loads((src / "autograder.json").read_text())
    assert config["homework"] == f"exercises/{WARMUP}" and config["limits"]["memory_mb"] <= 700


def test_run_autograder_grades_the_submission(bundle, tmp_path):
    ag = autograder_dir(tmp_path, bundle)
    shutil.copy2(ROOT / "solutions" / WARMUP, ag / "submission" / WARMUP)
    res = run_autograder(ag)
    assert res["score"] == res["max_score"] == sum(t["max_score"] for t in res["tests"]) > 0, res
    assert [t["status"] for t in res["tests"]] == ["passed"] * len(res["tests"])


def test_run_autograder_without_a_notebook_still_writes_valid_results(bundle, tmp_path):
    ag = autograder_dir(tmp_path, bundle)
    (ag / "submission" / "answers.py").write_text("print('hi')\n")
    res = run_autograder(ag)
    assert res["score"] == 0 and "no .ipynb notebook in your submission (found: answers.py)" in res["output"]
    assert all(t["score"] == 0 for t in res["tests"]) and res["tests"]


def test_run_autograder_writes_results_even_when_python_is_broken(bundle, tmp_path):
    ag = autograder_dir(tmp_path, bundle)
    res = run_autograder(ag, python=str(tmp_path / "no-such-python"))
    assert res["score"] == 0 and "could not run" in res["output"]
