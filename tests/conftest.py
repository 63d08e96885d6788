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
