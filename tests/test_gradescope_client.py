"""Gradescope, really: the bundle `lecture autograder` builds, installed by its own setup.sh and run by its own
run_autograder in a folder laid out as Gradescope's /autograder; results.json checked against Gradescope's spec.

setup.sh runs for real (AUTOGRADER_OFFLINE=1: the machine's configured package index only) through a local
proxy that records every host contacted and refuses any but the configured index's. Its venv is kept in the
test cache (tests/client_venvs.py: outside the repository) between test runs while the bundle's pyproject.toml
and setup.sh are unchanged: setup.sh still runs every time, and then only reinstalls the course over the pins.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import socket
import socketserver
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import nbformat
import pytest

from lecture_admin.grading.gradescope import extract_bundle
from tests.client_venvs import CACHE_DIR, STAMP, record_timing, venv_key
from tests.conftest import ROOT
from tests.test_nbgrader_client import make_submission

WARMUP = "00_getting_started.ipynb"
CACHE = CACHE_DIR / "gradescope"  # <CACHE>/autograder is the /autograder of these tests (outside the repository)



# ---------------------------------------------------------------- Gradescope's results.json spec

VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}
TOP_KEYS = {"score", "execution_time", "output", "output_format", "test_output_format", "test_name_format",
            "visibility", "stdout_visibility", "extra_data", "tests", "leaderboard"}
# Not in Gradescope's spec, which ignores it; `lecture grade` writes the same file and its readers use it.
TOP_EXTRA = {"max_score"}
TEST_KEYS = {"score", "max_score", "status", "name", "name_format", "number", "output", "output_format", "tags",
             "visibility", "extra_data"}


def _num(x) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def gradescope_problems(res) -> list[str]:
    """What in a results.json does not follow https://gradescope-autograders.readthedocs.io/en/latest/specs/."""
    if not isinstance(res, dict):
        return ["not a JSON object"]
    bad = [f"unknown top-level key {k!r}" for k in sorted(set(res) - TOP_KEYS - TOP_EXTRA)]
    tests = res.get("tests", [])
    if not isinstance(tests, list):
        return bad + ["tests is not a list"]
    if not tests and "score" not in res:
        bad.append("neither a score nor tests[]")
    if "score" in res and not _num(res["score"]):
        bad.append("score is not a number")
    if not (isinstance(res.get("execution_time"), int) and res["execution_time"] >= 0):
        bad.append("execution_time is not a whole number of seconds")
    if not isinstance(res.get("output"), str) or not res["output"].strip():
        bad.append("no top-level output")
    for k in ("visibility", "stdout_visibility"):
        if k in res and res[k] not in VISIBILITY:
            bad.append(f"{k} {res[k]!r}")
    if "extra_data" in res and not isinstance(res["extra_data"], dict):
        bad.append("extra_data is not an object")
    for i, t in enumerate(tests):
        where = f"tests[{i}]"
        if not isinstance(t, dict):
            bad.append(f"{where} is not an object")
            continue
        bad += [f"{where}: unknown key {k!r}" for k in sorted(set(t) - TEST_KEYS)]
        written = "graded by hand" in (t.get("tags") or [])  # a written answer: 0 points, no pass/fail of its own
        bad += [f"{where}: no {k}" for k in ("name", "score", "max_score", "status", "output", "visibility")
                if k not in t and not (written and k == "status")]
        if not isinstance(t.get("name", ""), str) or not isinstance(t.get("output", ""), str):
            bad.append(f"{where}: name/output not text")
        if not (_num(t.get("score", 0)) and _num(t.get("max_score", 0))):
            bad.append(f"{where}: score/max_score not numbers")
        if t.get("status", "passed") not in ("passed", "failed"):
            bad.append(f"{where}: status {t['status']!r}")
        if t.get("visibility", "visible") not in VISIBILITY:
            bad.append(f"{where}: visibility {t['visibility']!r}")
        if "tags" in t and not (isinstance(t["tags"], list) and all(isinstance(s, str) for s in t["tags"])):
            bad.append(f"{where}: tags not a list of strings")
        if "number" in t and not isinstance(t["number"], str):
            bad.append(f"{where}: number not a string")
    if _num(res.get("score")) and abs(res["score"] - sum(t.get("score", 0) for t in tests)) > 1e-9:
        bad.append("score is not the sum of the tests' scores")
    return bad


def test_the_spec_checker_catches_what_it_should():
    good = {"score": 1.0, "execution_time": 3, "output": "x", "visibility": "visible",
            "tests": [{"name": "a", "score": 1.0, "max_score": 1.0, "status": "passed", "output": "ok",
                       "visibility": "visible", "number": "0.1"}]}
    assert gradescope_problems(good) == []
    assert gradescope_problems({**good, "score": "1"}) == ["score is not a number"]
    assert gradescope_problems({**good, "score": 2.0}) == ["score is not the sum of the tests' scores"]
    assert gradescope_problems({**good, "execution_time": 1.5}) == ["execution_time is not a whole number of seconds"]
    assert gradescope_problems({**good, "tests": [{**good["tests"][0], "status": "ok"}]}) == ["tests[0]: status 'ok'"]
    missing = gradescope_problems({**good, "tests": [{"score": 1.0}]})
    assert missing[:2] == ["tests[0]: no name", "tests[0]: no max_score"]
    assert gradescope_problems({**good, "grade": 1}) == ["unknown top-level key 'grade'"]
    assert gradescope_problems({"output": "x", "execution_time": 0}) == ["neither a score nor tests[]"]


# ---------------------------------------------------------------- a proxy that records every host contacted


class _Handler(socketserver.BaseRequestHandler):
    def handle(self):
        conn = self.request
        conn.settimeout(120)
        head = b""
        while b"\r\n\r\n" not in head and len(head) < 65536:
            chunk = conn.recv(4096)
            if not chunk:
                return
            head += chunk
        method, target = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")[:2]
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
        else:
            u = urlsplit(target)
            host, port = u.hostname or "", str(u.port or 80)
        self.server.hosts.add(host)
        if method != "CONNECT" or host not in self.server.allowed:
            conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return
        try:
            up = socket.create_connection((host, int(port)), timeout=60)
        except OSError:
            conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        with up:
            sel = selectors.DefaultSelector()
            sel.register(conn, selectors.EVENT_READ, up)
            sel.register(up, selectors.EVENT_READ, conn)
            while True:
                events = sel.select(timeout=120)
                if not events:
                    return
                for key, _ in events:
                    data = key.fileobj.recv(65536)
                    if not data:
                        return
                    key.data.sendall(data)


class RecordingProxy(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, allowed: set[str]):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.allowed, self.hosts = allowed, set()
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


def configured_index_hosts() -> set[str]:
    """The hosts of the package indexes pip is configured with here (PyPI when none is set)."""
    r = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, timeout=60)
    urls = []
    for line in r.stdout.splitlines():
        key, _, value = line.partition("=")
        if key.rsplit(".", 1)[-1] in ("index-url", "extra-index-url", "find-links"):
            urls += value.strip().strip("'\"").split()
    for var in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS"):
        urls += os.environ.get(var, "").split()
    if not any(line.partition("=")[0].endswith(".index-url") for line in r.stdout.splitlines()) \
            and not os.environ.get("PIP_INDEX_URL"):
        urls.append("https://pypi.org/simple")
    hosts = {urlsplit(u).hostname for u in urls if urlsplit(u).scheme in ("http", "https")} - {None}
    if "pypi.org" in hosts:
        hosts.add("files.pythonhosted.org")  # where PyPI's index links point
    return hosts


# ---------------------------------------------------------------- the bundle, installed by its setup.sh


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "hw00.zip"
    r = subprocess.run([sys.executable, "-m", "lecture_admin", "autograder", "00", "--out", str(out)], cwd=ROOT,
                       env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return out


def _clean_env(**extra: str) -> dict[str, str]:
    drop = {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "no_proxy", "NO_PROXY", "LECTURE_GRADING_SEED"}
    return {**{k: v for k, v in os.environ.items() if k not in drop}, **extra}


@pytest.fixture(scope="module")
def autograder(bundle) -> Path:
    """<CACHE>/autograder laid out as Gradescope's /autograder after its image build (setup.sh has run)."""
    with zipfile.ZipFile(bundle) as z:
        key = venv_key(z.read("course/pyproject.toml"), z.read("setup.sh"), sys.version)
    ag = CACHE / "autograder"
    stamp = CACHE / STAMP
    warm = stamp.is_file() and stamp.read_text().strip() == key and (ag / "venv" / "bin" / "python").exists()
    if not warm:
        shutil.rmtree(CACHE, ignore_errors=True)
    for d in ("source", "submission", "results"):
        shutil.rmtree(ag / d, ignore_errors=True)
    extract_bundle(bundle, ag / "source")
    shutil.copy2(ag / "source" / "run_autograder", ag / "run_autograder")  # Gradescope copies it there
    (ag / "submission").mkdir()
    CACHE.joinpath(STAMP).unlink(missing_ok=True)

    allowed = configured_index_hosts()
    proxy = RecordingProxy(allowed)
    env = _clean_env(AUTOGRADER_ROOT=str(ag), AUTOGRADER_OFFLINE="1", HTTPS_PROXY=proxy.url, HTTP_PROXY=proxy.url,
                     https_proxy=proxy.url, http_proxy=proxy.url)
    t0 = time.perf_counter()
    try:
        r = subprocess.run(["bash", str(ag / "source" / "setup.sh")], cwd=ag / "source", env=env,
                           capture_output=True, text=True, timeout=2400)
    finally:
        proxy.shutdown()
        proxy.server_close()
    seconds = time.perf_counter() - t0
    out = r.stdout + r.stderr
    if r.returncode != 0 and not proxy.hosts:
        pytest.skip(f"setup.sh could not reach a package index here: {out.strip().splitlines()[-1:]}")
    assert r.returncode == 0, "\n".join(ln for ln in out.splitlines() if "is ignored" not in ln)[-4000:]
    assert proxy.hosts <= allowed, f"setup.sh contacted {sorted(proxy.hosts - allowed)} (allowed: {sorted(allowed)})"
    assert "autograder ready: 00_getting_started" in out, out[-2000:]
    record_timing(f"gradescope setup.sh, {'cached venv' if warm else 'fresh venv'} (s)", seconds)
    print(f"\nsetup.sh ({'cached' if warm else 'fresh'} venv, {seconds:.0f} s) contacted only {sorted(proxy.hosts)}")
    stamp.write_text(key + "\n")
    return ag


def run_autograder(ag: Path, notebook: Path | None) -> tuple[dict, float]:
    for d in ("submission", "results"):
        shutil.rmtree(ag / d, ignore_errors=True)
        (ag / d).mkdir()
    if notebook is not None:
        shutil.copy2(notebook, ag / "submission" / WARMUP)
    t0 = time.perf_counter()
    # no AUTOGRADER_PYTHON: run_autograder uses the venv setup.sh made; no network is needed any more
    r = subprocess.run([str(ag / "run_autograder")], env=_clean_env(AUTOGRADER_ROOT=str(ag)), cwd=ag,
                       capture_output=True, text=True, timeout=900)
    seconds = time.perf_counter() - t0
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return json.loads((ag / "results" / "results.json").read_text()), seconds


def wrong_submission(tmp_path: Path) -> Path:
    """The released exercise with every stub answering 0 (the honest wrong submission)."""
    nb, _ = make_submission("00_getting_started", "wrong")
    path = tmp_path / WARMUP
    nbformat.write(nb, path)
    return path


@pytest.mark.slow
def test_setup_then_run_autograder_right_and_wrong(autograder, tmp_path):
    assert (autograder / "venv" / "bin" / "python").exists()
    right, t_right = run_autograder(autograder, ROOT / "solutions" / WARMUP)
    wrong, t_wrong = run_autograder(autograder, wrong_submission(tmp_path))
    record_timing("gradescope run_autograder, right submission (s)", t_right)
    for res in (right, wrong):
        assert gradescope_problems(res) == [], json.dumps(res, indent=1)[:3000]
    full = sum(t["max_score"] for t in right["tests"])
    assert full == 2 and right["score"] == full, right
    graded = [[t for t in res["tests"] if "graded by hand" not in t.get("tags", [])] for res in (right, wrong)]
    assert [t["status"] for t in graded[0]] == ["passed"] * len(graded[0]) == ["passed"] * 2
    assert wrong["score"] == 0 and all(t["score"] == 0 and t["status"] == "failed" for t in graded[1]), wrong
    written = [t for t in right["tests"] if t not in graded[0]]  # 0.3: a zero-point entry, graded by hand
    assert [(t["number"], t["max_score"]) for t in written] == [("0.3", 0.0)] and "by hand" in written[0]["output"]
    assert "00_getting_started: 0/2 points" in wrong["output"]


@pytest.mark.slow
def test_run_autograder_without_a_notebook_still_writes_valid_results(autograder):
    (autograder / "submission").mkdir(exist_ok=True)
    res, _ = run_autograder(autograder, None)
    assert gradescope_problems(res) == [], res
    assert res["score"] == 0 and "no .ipynb notebook in your submission" in res["output"]


def test_bundle_layout(bundle, tmp_path):
    with zipfile.ZipFile(bundle) as z:
        infos = {i.filename: i for i in z.infolist()}
    for script in ("setup.sh", "run_autograder"):
        assert script in infos, sorted(infos)[:10]
        assert (infos[script].external_attr >> 16) & 0o111, f"{script} is not executable"
    for name in ("autograder.json", f"exercises/{WARMUP}", "course/pyproject.toml",
                 "course/lecture_admin/grading/grader.py", "course/lecture_utils/selfcheck/core.py"):
        assert name in infos, name
    assert not any("__pycache__" in n for n in infos)
    src = extract_bundle(bundle, tmp_path / "src")
    for script in ("setup.sh", "run_autograder"):
        assert subprocess.run(["bash", "-n", str(src / script)]).returncode == 0
    config = json.loads((src / "autograder.json").read_text())
    assert config["homework"] == f"exercises/{WARMUP}" and isinstance(config["seed"], int)


def test_run_autograder_writes_results_even_when_python_is_broken(bundle, tmp_path):
    ag = tmp_path / "autograder"
    extract_bundle(bundle, ag / "source")
    shutil.copy2(ag / "source" / "run_autograder", ag / "run_autograder")
    (ag / "submission").mkdir()
    env = {**os.environ, "AUTOGRADER_ROOT": str(ag), "AUTOGRADER_PYTHON": str(tmp_path / "no-such-python")}
    r = subprocess.run([str(ag / "run_autograder")], env=env, capture_output=True, text=True, timeout=120, cwd=ag)
    assert r.returncode == 0
    res = json.loads((ag / "results" / "results.json").read_text())
    assert res["score"] == 0 and "could not run" in res["output"]
    assert gradescope_problems(res) == [], res
