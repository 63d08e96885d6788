"""Fixtures for the browser suite: one course server and one Chromium per pytest(-xdist) worker.

Screenshots of every notebook after running go to $BROWSER_SCREENSHOTS, or else to
`browser-screenshots/` in the run's pytest base temp folder (printed at the end of the run, and in
the message of a failing test).
"""

from __future__ import annotations

import contextlib
import hashlib
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from labdriver import (  # noqa: E402
    COURSE_ROOT,
    SKIP_REASON,
    LabServer,
    close_documents,
    open_browser,
    playwright,
    screenshot_folder,
    terminal_summary,
)

ROOT = COURSE_ROOT


@pytest.fixture(scope="session")
def screenshot_dir(request) -> Path:
    d = screenshot_folder(request.config)
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture(scope="session")
def pw():
    if SKIP_REASON:
        pytest.skip(SKIP_REASON)
    with playwright() as p:
        yield p


@pytest.fixture(scope="session")
def chromium(pw, tmp_path_factory):
    """One headless Chromium per worker (a fresh profile); closed at the end, also after failures."""
    with open_browser(pw, tmp_path_factory.mktemp("chromium-profile")) as ctx:
        yield ctx


def _digest(paths) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


@pytest.fixture(scope="session")
def course_lab(tmp_path_factory):
    """The repository's course, started with the README's command. JupyterLab must not write to the
    committed notebooks (autosave is off): checked when the server stops."""
    committed = sorted([*ROOT.glob("notebooks/*.ipynb"), *ROOT.glob("solutions/*.ipynb")])
    before = _digest(committed)
    server = LabServer(ROOT, tmp_path_factory.mktemp("course-lab")).start()
    try:
        yield server
    finally:
        server.stop()
    changed = [p for p, h in _digest(committed).items() if before[p] != h]
    assert not changed, f"JupyterLab modified committed notebooks: {changed}"


@pytest.fixture(scope="session")
def _lab_tab(chromium):
    """The worker's JupyterLab tab, kept from test to test (open_notebook opens the next notebook in the app it
    already shows); replaced by a fresh tab after a failure."""
    tab = {"page": None}
    yield tab
    if tab["page"] is not None and not tab["page"].is_closed():
        tab["page"].close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call" and report.failed:
        item.browser_test_failed = True
    return report


@pytest.fixture
def lab_page(_lab_tab, chromium, request):
    """The worker's JupyterLab tab: every document closed after the test, and the tab itself closed (a fresh
    one for the next test) when the test failed or the clean-up did."""
    page = _lab_tab["page"]
    if page is None or page.is_closed():
        page = _lab_tab["page"] = chromium.new_page()
        page.set_default_timeout(30_000)
    yield page
    try:
        if getattr(request.node, "browser_test_failed", False):
            raise RuntimeError("the test failed: start the next one in a fresh tab")
        close_documents(page)
    except Exception:
        with contextlib.suppress(Exception):
            page.close()
        _lab_tab["page"] = None


def pytest_terminal_summary(terminalreporter, config):
    terminal_summary(terminalreporter, config)
