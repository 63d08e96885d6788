from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _never_block_on_a_garbage_collected_zmq_context() -> None:
    """A kernel client's zmq context collected while a failing test is reported must not hang the run forever
    (Context.__del__ -> term() waits on sockets with infinite linger): leak it instead, the process ends soon."""
    import zmq

    zmq.Context.__del__ = lambda self: None


_never_block_on_a_garbage_collected_zmq_context()


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


def run_nbval_lax(nb_path: Path, tmp_path: Path, extra: tuple[str, ...] = ()) -> dict[str, str]:
    """Run `pytest --nbval-lax nb_path` in a subprocess; return {test name: outcome} from its JUnit XML."""
    import subprocess
    import xml.etree.ElementTree as ET

    xml = tmp_path / f"{nb_path.stem}-junit.xml"
    cmd = [sys.executable, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider", "-q",
           "-o", "addopts=", f"--junitxml={xml}", str(nb_path), *extra]
    subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    outcomes: dict[str, str] = {}
    for case in ET.parse(xml).getroot().iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            outcome = "failed"
        elif case.find("skipped") is not None:
            outcome = "skipped"
        else:
            outcome = "passed"
        outcomes[case.get("name")] = outcome
    return outcomes


@pytest.fixture(scope="session")
def student(tmp_path_factory):
    """What students receive (`lecture release --student`), installed in the cached student venv: (bundle folder,
    its python, the environment its course.py runs with). Built once per xdist worker; the two workers share the
    venv: a lock serialises the install, and a stamp of the installed lecture_utils lets the second skip it, so no
    file of the venv changes while the other worker's notebooks run."""
    import fcntl
    import hashlib
    import os
    import shutil
    import subprocess
    import venv

    from lecture_admin.bundle import build_student_bundle
    from tests.client_venvs import STUDENT_VENV as VENV
    from tests.client_venvs import source_files, tree_digest

    bundle = tmp_path_factory.mktemp("student") / "course"
    build_student_bundle(ROOT, bundle)
    py = VENV / "bin" / "python"
    want = hashlib.sha256((bundle / "pyproject.toml").read_bytes()).hexdigest()
    stamp, installed = VENV / ".bundle-installed", VENV / ".bundle-content"
    content = tree_digest(bundle / "lecture_utils", source_files(bundle / "lecture_utils"))
    VENV.parent.mkdir(parents=True, exist_ok=True)
    with open(VENV.parent / "venv-student.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (py.exists() and stamp.exists() and stamp.read_text().strip() == want):
            shutil.rmtree(VENV, ignore_errors=True)
            venv.EnvBuilder(with_pip=True).create(VENV)
            subprocess.run([str(py), "-m", "pip", "install", "--quiet", str(bundle)], check=True, timeout=1800)
            stamp.write_text(want + "\n")
            installed.write_text(content + "\n")
        elif not (installed.exists() and installed.read_text().strip() == content):  # refresh the student layer
            subprocess.run([str(py), "-m", "pip", "install", "--quiet", "--no-deps", "--force-reinstall", str(bundle)],
                           check=True, timeout=600)
            installed.write_text(content + "\n")
    # the course.py of the bundle uses this venv as its own (as after `python3 course.py` once)
    env = dict(os.environ, COURSE_VENV=str(VENV), PYTHONPATH="")
    course_stamp = hashlib.sha256((bundle / "pyproject.toml").read_bytes() + sys.version.encode()).hexdigest()
    (VENV / ".course-installed").write_text(course_stamp + "\n")  # what course.py's _fingerprint() computes
    return bundle, py, env



@pytest.fixture(autouse=True, scope="session")
def _single_threaded_blas():
    """As lecture_utils.setup() does in notebooks: small networks and linear algebra run fastest on one thread."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)  # small networks: torch's default pool is ~10x slower on 2 busy cores
    with threadpool_limits(limits=1):
        yield


def pytest_terminal_summary(terminalreporter, config):
    """Under xdist only this conftest reaches the controller: print where the browser screenshots went."""
    try:
        from tests.browser.labdriver import terminal_summary
    except ImportError:
        return
    terminal_summary(terminalreporter, config)


@pytest.fixture(params=(11, 2024, 987654321))
def grading_seed(request):
    """Each hidden test runs under three grading seeds (tests/test_hidden_secNN.py)."""
    from lecture_utils.selfcheck.core import use_case_seed

    use_case_seed(request.param)
    yield request.param
    use_case_seed(None)


@pytest.fixture
def one_seed():
    from lecture_utils.selfcheck.core import use_case_seed

    use_case_seed(11)
    yield 11
    use_case_seed(None)


# ------------------------------------------------------------------ scheduling on xdist workers
# `python3 course.py test` runs on xdist workers. Every test stays with the others of its file (a notebook's
# nbval cells share one kernel; a file's module fixtures start once), except the files in SPREAD, whose tests are
# independent and long: each of those goes to whichever worker is free. Groups start heaviest first (longest
# processing time first), so no long file is left to run alone at the end, and the SPREAD tests come last, where
# their many ~30 s units even out the workers' finish; HEAVY is ordered by the CPU seconds each file took in
# a full run on 2 cores, and a file not listed counts as light.
SPREAD = {"tests/test_student_bundle.py", "tests/test_student_bundle_checks.py"}
HEAVY = [  # heaviest first
    "tests/browser/test_lab_notebooks_b.py",
    "tests/browser/test_lab_notebooks.py",
    "tests/test_nbgrader_client.py",
    "tests/test_homework_life.py",
    "tests/test_gradescope_client.py",
    "tests/browser/test_lab_catches.py",
    "tests/browser/test_lab_solutions.py",
    "tests/test_hidden_sec02.py",
    "tests/test_sandbox.py",
    "tests/test_release.py",
]


def _rel(item) -> str:
    try:
        return Path(item.path).resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return str(item.path)


# The SPREAD tests, heaviest first (seconds each in a full run on 2 cores, by the notebook they run): longest
# processing time first, so that the last test to finish on one worker is a short one and both end together.
SPREAD_HEAVY = [
    "test_student_bundle_checks.py::02_", "test_student_bundle_checks.py::05_", "test_student_bundle_checks.py::04_",
    "test_student_bundle.py::05_", "test_student_bundle.py::04_", "test_student_bundle.py::02_",
    "test_student_bundle.py::01_", "test_student_bundle.py::03_", "test_student_bundle_checks.py::01_",
    "test_student_bundle_checks.py::03_", "test_student_bundle_checks.py::00_", "test_student_bundle.py::00_",
]


def _spread_rank(rel: str, name: str) -> int:
    param = name.partition("[")[2]
    key = f"{rel.rsplit('/', 1)[-1]}::{param[:3]}"
    return SPREAD_HEAVY.index(key) if key in SPREAD_HEAVY else len(SPREAD_HEAVY)


def schedule_key(rel: str, name: str = "") -> tuple[int, int]:
    """Where a test starts: the heavy files in HEAVY's order, then the rest in collection order, then the SPREAD
    tests (many independent units that even out the end), heaviest first."""
    if rel in SPREAD:
        return len(HEAVY) + 1, _spread_rank(rel, name)
    return (HEAVY.index(rel) if rel in HEAVY else len(HEAVY)), 0


def pytest_collection_modifyitems(config, items):
    """On an xdist worker: the order in which the controller hands the files out (heaviest first)."""
    import os

    if os.environ.get("PYTEST_XDIST_WORKER"):
        items.sort(key=lambda it: schedule_key(_rel(it), it.name))  # stable: a file's tests keep their order


def pytest_xdist_make_scheduler(config, log):
    """xdist's loadfile, except that each test of a SPREAD file is a unit of its own, and the units go out in the
    order collected (pytest_collection_modifyitems above), not sorted by their number of tests."""
    from xdist.scheduler import LoadScopeScheduling

    class CourseScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return nodeid if path in SPREAD else path

    config.option.loadscopereorder = False
    return CourseScheduling(config, log)
