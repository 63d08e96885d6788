"""Packaging, set-up and tooling: environment.yml matches pyproject, ruff is clean, setup() seeds everything."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib

import numpy as np
import pytest

import lecture_utils
from tests.conftest import ROOT


def _pins(lines):
    out = {}
    for line in lines:
        m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s;]+)\s*$", line)
        if m:
            out[m.group(1).lower()] = m.group(2)
    return out


def test_environment_yml_matches_pyproject():
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = _pins(py["dependencies"] + py["optional-dependencies"]["dev"])
    assert all("==" in d for d in py["dependencies"]), "every runtime dependency is pinned"
    env_lines = []
    in_pip = False
    for line in (ROOT / "environment.yml").read_text().splitlines():
        if re.match(r"^\s*- pip:\s*$", line):
            in_pip = True
            continue
        if in_pip and re.match(r"^\s*- ", line):
            env_lines.append(line.strip()[2:])
    got = _pins(env_lines)
    assert got == wanted
    assert "python=3.11" in (ROOT / "environment.yml").read_text()
    assert wanted["torch"] == "2.13.0"


def test_ruff_is_clean():
    r = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_setup_seeds_numpy_torch_and_sets_threads():
    import torch

    rng1 = lecture_utils.setup(seed=3)
    a = (np.random.rand(), torch.rand(1).item(), rng1.random())
    rng2 = lecture_utils.setup(seed=3)
    b = (np.random.rand(), torch.rand(1).item(), rng2.random())
    assert a == b
    assert torch.get_num_threads() == 1
    with pytest.raises(ValueError, match="non-negative int"):
        lecture_utils.setup(seed=-1)


def test_progress_outside_a_notebook_is_silent(capsys):
    assert list(lecture_utils.progress(range(5), desc="x")) == [0, 1, 2, 3, 4]
    assert capsys.readouterr().out == ""


def test_timer_output_is_masked_by_the_sanitizer(capsys):
    import configparser

    with lecture_utils.timer("training"):
        pass
    out = capsys.readouterr().out
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "tests" / "nbval_sanitize.cfg")
    sec = cfg["timings"]
    assert re.sub(sec["regex"], sec["replace"], out) == "[training: TIME s]\n"


def test_cli_help_lists_subcommands():
    r = subprocess.run([sys.executable, "-m", "lecture_admin", "--help"], capture_output=True, text=True)
    assert r.returncode == 0
    for sub in ("lab", "release", "bench", "train"):
        assert sub in r.stdout


def test_course_py_rejects_unknown_command():
    r = subprocess.run([sys.executable, str(ROOT / "course.py"), "frobnicate"], capture_output=True, text=True)
    assert r.returncode == 2 and "unknown command" in r.stdout


@pytest.mark.slow
def test_bench_times_notebooks_and_writes_json(tmp_path):
    import shutil

    course = tmp_path / "c"
    (course / "notebooks").mkdir(parents=True)
    (course / "solutions").mkdir()
    shutil.copy(ROOT / "solutions" / "00_getting_started.ipynb", course / "solutions")
    out = tmp_path / "bench.json"
    r = subprocess.run([sys.executable, "-m", "lecture_admin", "bench", "--notebooks-only", "--json", str(out)],
                       cwd=course, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "solutions/00_getting_started.ipynb" in r.stdout and "total" in r.stdout
    data = json.loads(out.read_text())
    (nb,) = data["notebooks"]
    assert nb["ok"] and nb["seconds"] > 0 and nb["peak_mb"] > 50
    assert data["results"] == []


@pytest.mark.slow
def test_lecture_lab_serves_jupyterlab_headless(tmp_path):
    """`lecture lab --no-browser` (what `python3 course.py` runs) starts a JupyterLab server on notebooks/."""
    import os
    import signal
    import socket
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt"), "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg")}
    log = open(tmp_path / "lab.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "lecture_admin", "lab", "--no-browser", f"--port={port}",
         "--IdentityProvider.token=t0ken"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        deadline = time.time() + 90
        body = ""
        while time.time() < deadline and proc.poll() is None:
            try:
                url = f"http://127.0.0.1:{port}/api/contents/notebooks?token=t0ken"
                body = urllib.request.urlopen(url, timeout=2).read().decode()
                break
            except OSError:
                time.sleep(0.5)
        assert "00_getting_started.ipynb" in body, (tmp_path / "lab.log").read_text()[-2000:]
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/lab?token=t0ken", timeout=5).read().decode()
        assert "JupyterLab" in page
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()


def test_float64_block_restores_the_default_dtype():
    import torch

    import lecture_utils

    before = torch.get_default_dtype()
    with lecture_utils.float64():
        assert torch.zeros(1).dtype == torch.float64
    assert torch.get_default_dtype() == before


def test_the_schedule_names_real_tests():
    """tests/conftest.py orders the suite on its workers by name: a renamed file or notebook must not drop out of
    the order silently."""
    from tests import conftest
    from tests.test_student_bundle import HOMEWORK, NOTEBOOKS

    assert all((conftest.ROOT / rel).is_file() for rel in [*conftest.HEAVY, *conftest.SPREAD])
    ids = {f"test_student_bundle.py::{n[:3]}" for n in NOTEBOOKS} | {
        f"test_student_bundle_checks.py::{n[:3]}" for n in HOMEWORK}
    assert set(conftest.SPREAD_HEAVY) == ids
    assert conftest.schedule_key("tests/test_student_bundle_checks.py", "test_x[02_pretraining_finetuning.ipynb]") < \
        conftest.schedule_key("tests/test_student_bundle.py", "test_x[00_getting_started.ipynb]")
