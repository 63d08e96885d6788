"""The browser suite catches what a student would see go wrong, and drives interactive demos.

Notebooks are written into a temporary copy of the course (started with the README's command), never
into the repository: a slider demo shaped like section 03's (a slider for w' driving a matplotlib figure in
an Output widget and an HTML text) must pass, and each deliberately broken cell must fail the same check the
real notebooks go through (labdriver.check_course_notebook), named on its own cell.
"""

from __future__ import annotations

import contextlib
import shutil
import time

import psutil
import pytest
from labdriver import (
    COURSE_ROOT,
    SKIP_REASON,
    check_course_notebook,
    course_copy,
    fold_left_sidebar,
    open_browser,
    open_notebook,
    running_lab,
    snapshot,
    write_notebook,
)

pytestmark = [pytest.mark.browser, pytest.mark.skipif(SKIP_REASON is not None, reason=SKIP_REASON or "")]

SLIDER_DEMO = '''\
import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display

w_prime = widgets.FloatSlider(value=0.5, min=-1.0, max=1.0, step=0.05, description="w'")
figure = widgets.Output()
summary = widgets.HTML()
x = np.linspace(0.0, 1.0, 50)


def redraw(change=None):
    with figure:
        figure.clear_output(wait=True)
        fig, ax = plt.subplots(figsize=(4, 2.5))
        ax.plot(x, w_prime.value * x)
        ax.set(xlabel="x", ylabel="f(x)", title=f"w' = {w_prime.value:.2f}", ylim=(-1, 1))
        plt.show()
    summary.value = f"<b>f(1) = {w_prime.value:.2f}</b>"


w_prime.observe(redraw, names="value")
redraw()
display(widgets.VBox([w_prime, figure, summary]))'''

TEXT_ONLY_SLIDER = '''\
steps = widgets.IntSlider(value=3, min=1, max=10, description="steps")
label = widgets.Label()
steps.observe(lambda change: setattr(label, "value", f"{2 ** steps.value} paths"), names="value")
label.value = f"{2 ** steps.value} paths"
display(widgets.HBox([steps, label]))'''

PROGRESS = "for _ in lecture_utils.progress(range(50), desc='loop'):\n    pass"

FIGURE = "fig, ax = plt.subplots(figsize=(3, 2))\nax.plot([0, 1], [1, 0])\nplt.show()"

BROKEN = {
    "raises": (["print('fine so far')", "raise ValueError('a cell that raises')", "print('never runs')"],
               ["error output", "ValueError: a cell that raises", "([ ]:): did not run"]),
    "missing_widget_model": (
        ["from IPython.display import display\n\n"
         "display({'application/vnd.jupyter.widget-view+json': "
         "{'model_id': '0' * 32, 'version_major': 2, 'version_minor': 0}}, raw=True)"],
        ["widget not live", "model not found"]),
    "slider_drives_nothing": (
        ["import ipywidgets as widgets\nfrom IPython.display import display\n\n"
         "display(widgets.VBox([widgets.FloatSlider(description='dead'), widgets.HTML('never changes')]))"],
        ["slider 1 (dead)", "no figure or text changed"]),
    "warning_on_stderr": (["import warnings\n\nwarnings.warn('a stray warning')"],
                          ["stderr output", "UserWarning: a stray warning"]),
    "figure_as_text": (["import matplotlib.pyplot as plt\n\nfig = plt.figure()\nplt.close(fig)\nfig"],
                       ["a figure shown as text"]),
}
# The broken cases in as few notebooks as show each one (every notebook opened costs the suite ~10 s): what Run All
# shows goes in one notebook, the raising cell last (Run All stops there); a dead slider is found only after a clean
# run, so it has a notebook of its own. Every problem must be named on its own cell's line.
BROKEN_NOTEBOOKS = {"shown_by_run_all": ["warning_on_stderr", "figure_as_text", "missing_widget_model", "raises"],
                    "slider_drives_nothing": ["slider_drives_nothing"]}


@pytest.fixture(scope="module")
def temp_course(tmp_path_factory):
    root = course_copy(COURSE_ROOT, tmp_path_factory.mktemp("course-copy"))
    write_notebook(root / "notebooks" / "demo_sliders.ipynb", "import lecture_utils", SLIDER_DEMO, TEXT_ONLY_SLIDER,
                   PROGRESS,
                   "import matplotlib.pyplot as plt\n\n" + FIGURE)
    write_notebook(root / "notebooks" / "other_kernel.ipynb", "print(6 * 7)", kernel="no-such-kernel",
                   language="no-such-language")
    for name, cases in BROKEN_NOTEBOOKS.items():
        write_notebook(root / "notebooks" / f"broken_{name}.ipynb", *(c for case in cases for c in BROKEN[case][0]))
    shutil.copy2(COURSE_ROOT / "exercises" / "00_getting_started.ipynb", root / "notebooks" / "homework_00.ipynb")
    return root


@pytest.fixture(scope="module")
def temp_lab(temp_course, tmp_path_factory):
    # JupyterLab's own default here (the course's server starts the default kernel without asking), so
    # the notebook asking for a kernel that is not installed brings up the kernel-selection dialog.
    no_autostart = {"@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"autoStartDefaultKernel": False}}
    with running_lab(temp_course, tmp_path_factory.mktemp("temp-lab"), no_autostart) as server:
        yield server


def test_slider_demo_passes_and_its_sliders_drive_figure_and_text(temp_lab, lab_page, screenshot_dir):
    run = check_course_notebook(lab_page, temp_lab, "notebooks/demo_sliders.ipynb",
                                screenshot_dir / "selftest__demo_sliders.png")
    assert run.problems == []
    assert run.sliders_moved == 2
    cells = [c for c in snapshot(lab_page)["cells"] if c["code"]]
    assert any(o["imgs"] for o in cells[1]["outputs"] if o["inWidget"]), "the demo's figure is an image"
    assert cells[3]["outputs"] and cells[3]["outputs"][0]["live"], "the progress bar is a live widget"
    temp_lab.shutdown_kernels()


def test_kernel_selection_is_handled(temp_lab, lab_page):
    """A notebook asking for a kernel (and language) that is not installed opens with the kernel-selection
    dialog; the suite answers it with the course's kernel, python3, and runs the notebook."""
    dialogs = temp_lab.kernel_dialogs
    run = check_course_notebook(lab_page, temp_lab, "notebooks/other_kernel.ipynb")
    temp_lab.shutdown_kernels()
    assert temp_lab.kernel_dialogs == dialogs + 1
    assert "42" in run.snapshot["cells"][0]["text"]


def test_the_broken_notebooks_hold_every_case_once():
    cases = [c for group in BROKEN_NOTEBOOKS.values() for c in group]
    assert sorted(cases) == sorted(BROKEN) and BROKEN_NOTEBOOKS["shown_by_run_all"][-1] == "raises"


@pytest.mark.parametrize("name", sorted(BROKEN_NOTEBOOKS))
def test_broken_notebook_fails(name, temp_lab, lab_page):
    with pytest.raises(AssertionError) as err:
        check_course_notebook(lab_page, temp_lab, f"notebooks/broken_{name}.ipynb", change_timeout=5)
    temp_lab.shutdown_kernels()
    message = str(err.value)
    lines = message.splitlines()
    first = 1
    for case in BROKEN_NOTEBOOKS[name]:
        cells = range(first, first + len(BROKEN[case][0]))
        first = cells.stop
        for expected in BROKEN[case][1]:
            found = [ln.strip() for ln in lines if expected in ln]
            assert found, f"{case}: {expected!r} not reported:\n{message}"
            if name != "slider_drives_nothing":  # Run All's problems name the cell they are in
                assert any(any(ln.startswith(f"code cell {i} (") for i in cells) for ln in found), (case, found)


WRONG_0_1 = """import numpy as np


def discounted_return(rewards, gamma):
    return float(np.sum(rewards))  # forgot the discount"""

RIGHT_0_1 = """import numpy as np


def discounted_return(rewards, gamma):
    rewards = np.asarray(rewards, dtype=float)
    return float(np.sum(gamma ** np.arange(len(rewards)) * rewards))"""


def _type_into_cell(page, index: int, code: str) -> None:
    """Replace code cell `index`'s text the way a student does: click into it, select all, type."""
    editor = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell").nth(index).locator(".cm-content")
    editor.click()
    page.keyboard.press("Control+a")
    page.keyboard.insert_text(code)


def _run_two_cells(page) -> None:
    """Shift+Enter twice from the cell being edited: run it, then the check cell below it."""
    page.keyboard.press("Shift+Enter")
    time.sleep(1.0)
    page.keyboard.press("Shift+Enter")


def _check_cell_text(page, code_index: int, want: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = [c for c in snapshot(page)["cells"] if c["code"]][code_index]["text"]
        if want in text:
            return text
        time.sleep(0.5)
    raise AssertionError(f"the check cell never showed {want!r}; it shows: {text[-400:]!r}")


def test_student_self_check_fails_then_passes(temp_lab, lab_page, screenshot_dir):
    """The student's walkthrough (README, For students): homework 00 in JupyterLab, a wrong answer to 0.1
    typed into the exercise cell, its check cell run: one line says what is wrong; then the right answer:
    the check passes. Screenshots of both (docs/screenshots/jupyterlab_selfcheck_*.png)."""
    page, rel = lab_page, "notebooks/homework_00.ipynb"
    open_notebook(page, temp_lab, rel, "walk")
    fold_left_sidebar(page)
    page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell").nth(0).click()
    page.keyboard.press("Shift+Enter")  # the set-up cell
    time.sleep(1.0)
    _type_into_cell(page, 1, WRONG_0_1)
    _run_two_cells(page)
    failed = _check_cell_text(page, 2, "Exercise 0.1")
    assert "failed -- discounted_return" in failed and "passed the public checks" not in failed, failed
    assert "Traceback" not in failed, "the student sees one line, not a traceback"
    page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell").nth(2).scroll_into_view_if_needed()
    page.screenshot(path=str(screenshot_dir / "selfcheck__fails.png"))
    _type_into_cell(page, 1, RIGHT_0_1)
    _run_two_cells(page)
    _check_cell_text(page, 2, "Exercise 0.1 (discounted return): passed the public checks")
    page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell").nth(2).scroll_into_view_if_needed()
    page.screenshot(path=str(screenshot_dir / "selfcheck__passes.png"))
    temp_lab.shutdown_kernels()


def _browser_processes(profile) -> list[psutil.Process]:
    """The Chromium started with this profile and every process under it (zygotes, renderers, ...)."""
    found = []
    for p in psutil.process_iter(["cmdline"]):
        if any(f"--user-data-dir={profile}" == arg for arg in p.info["cmdline"] or []):
            with contextlib.suppress(psutil.Error):
                found += [p, *p.children(recursive=True)]
    return found


def _still_running(procs: list[psutil.Process]) -> list[str]:
    _, alive = psutil.wait_procs(procs, timeout=15)
    running = []
    for p in alive:
        with contextlib.suppress(psutil.Error):
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                running.append(f"{p.pid} {p.name()}")
    return running


def test_server_kernel_and_browser_stop_when_a_test_fails(pw, tmp_path):
    """No processes left behind: a failure inside the server and browser contexts still stops both."""
    root = course_copy(COURSE_ROOT, tmp_path / "course")
    write_notebook(root / "notebooks" / "x.ipynb", "x = 1")
    profile = tmp_path / "profile"
    started: list[psutil.Process] = []
    with pytest.raises(AssertionError, match="deliberate"):
        with running_lab(root, tmp_path / "lab") as server, open_browser(pw, profile) as ctx:
            open_notebook(ctx.new_page(), server, "notebooks/x.ipynb", "w")
            lab, browser = server.alive_processes(), _browser_processes(profile)
            started = lab + browser
            assert server.kernel_state("notebooks/x.ipynb") == "idle"
            # course.py, JupyterLab (python -m lecture_utils execs into it), the kernel; Chromium and its children
            assert len(lab) >= 3 and len(browser) >= 2, (lab, browser)
            raise AssertionError("deliberate failure with the server, a kernel and the browser running")
    assert started
    assert not _still_running(started)
