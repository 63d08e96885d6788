"""Drive the course in JupyterLab in headless Chromium, the way a student meets it.

`LabServer` starts the course with the README's command (`python3 course.py lab --no-browser --port P`),
`open_browser` launches Debian's Chromium through Playwright, and `check_course_notebook` opens a
notebook, runs every cell and asserts what a student would see (`find_problems`: no error output, every
figure an image, every widget live), then moves every slider and clicks every demo button
(`check_interactive`: the figure or text it drives must change).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil

COURSE_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("COURSE_CHROMIUM", "/usr/bin/chromium"))
INSTALL_HINT = f"Chromium not found at {CHROMIUM}; install it: apt-get update && apt-get install -y chromium"


def skip_reason() -> str | None:
    """Why the browser suite cannot run here (one line), or None."""
    if not CHROMIUM.exists():
        return INSTALL_HINT
    try:
        import playwright  # noqa: F401
    except ImportError:
        return 'Playwright for Python is missing; install the dev extra: pip install -e ".[dev]"'
    return None


SKIP_REASON = skip_reason()
# Headless, no sandbox (CI runs as root), and no background networking: the test machine has no network.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-dev-shm-usage", "--mute-audio",
]

# What JupyterLab would otherwise ask or do on its own: the news popup, the kernel dialog, autosave
# (which would write the executed notebook over the committed one), and windowing (all cells in the DOM).
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false", "checkForUpdates": False,
    },
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {
        "windowingMode": "none", "autoStartDefaultKernel": True, "kernelShutdown": True, "scrollPastEnd": False,
    },
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
}

# Stderr lines that are about the machine, not the notebook (first matplotlib import on a fresh machine).
STDERR_ALLOWED = ("Matplotlib is building the font cache",)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _course_installed() -> bool:
    """True when this interpreter is course.py's venv and its install stamp is current, so that
    `course.py lab` starts at once (it would otherwise run pip first)."""
    import importlib.util

    stamp = Path(sys.prefix) / ".course-installed"
    if sys.prefix == sys.base_prefix or not stamp.exists():
        return False
    spec = importlib.util.spec_from_file_location("_course_launcher", COURSE_ROOT / "course.py")
    course = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(course)
        return stamp.read_text().strip() == course._fingerprint()
    except Exception:
        return False


class LabServer:
    """The course's JupyterLab, started as the README says, in its own process group.

    `course_root` is the course folder (the repo, or a temporary copy of it). Server-side state
    (settings, workspaces, runtime files) goes to `workdir`, so nothing is written to ~/.jupyter.
    """

    def __init__(self, course_root: Path, workdir: Path, settings: dict | None = None):
        self.root = Path(course_root)
        self.settings = {k: {**v, **(settings or {}).get(k, {})} for k, v in LAB_SETTINGS.items()}
        self.kernel_dialogs = 0  # how many kernel-selection dialogs were answered
        self.workdir = Path(workdir)
        self.token = secrets.token_hex(16)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.workdir / "jupyterlab.log"
        self.proc: subprocess.Popen | None = None

    def command(self) -> list[str]:
        lab_args = ["lab", "--no-browser", "--port", str(self.port)]
        if _course_installed():
            # Exactly the README's main command; COURSE_VENV points course.py at the venv running us.
            return [sys.executable, str(self.root / "course.py"), *lab_args]
        # A self-managed environment (`pip install -e .[dev]`): the README's `lecture lab`.
        return [sys.executable, "-m", "lecture_admin", *lab_args]

    def env(self) -> dict[str, str]:
        settings = self.workdir / "lab-settings"
        for rel, values in self.settings.items():
            path = settings / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values, indent=1))
        config = self.workdir / "jupyter-config"
        config.mkdir(parents=True, exist_ok=True)
        # CI containers run as root, which JupyterLab refuses without allow_root (config, since
        # `lecture lab` cannot pass options yet; see the report).
        # No port retries: a port taken between free_port() and the bind must fail, not move silently.
        # window.jupyterapp: the next notebook opens in the JupyterLab already loaded in the tab (open_notebook), as
        # a student opens one notebook after another; loading the app again costs ~9 s of CPU per notebook.
        server_config = {"ServerApp": {"port_retries": 0, **({"allow_root": True} if os.geteuid() == 0 else {})},
                         "LabApp": {"expose_app_in_browser": True}}
        (config / "jupyter_server_config.json").write_text(json.dumps(server_config))
        env = dict(os.environ)
        env.update(
            COURSE_VENV=sys.prefix,
            JUPYTER_TOKEN=self.token,
            JUPYTERLAB_SETTINGS_DIR=str(settings),
            JUPYTERLAB_WORKSPACES_DIR=str(self.workdir / "lab-workspaces"),
            JUPYTER_CONFIG_DIR=str(config),
            JUPYTER_RUNTIME_DIR=str(self.workdir / "jupyter-runtime"),
            PYTHONUNBUFFERED="1",
        )
        env.pop("COURSE_NO_BROWSER", None)
        return env

    def start(self, timeout: float = 120.0, attempts: int = 3) -> LabServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        for attempt in range(attempts):
            log = open(self.log_path, "w")
            self.proc = subprocess.Popen(self.command(), cwd=self.root, env=self.env(), stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
            log.close()
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                with contextlib.suppress(OSError, ValueError):
                    self.api("GET", "/api/status")
                    return self
                time.sleep(0.5)
            else:
                self.stop()
                raise RuntimeError(f"JupyterLab did not answer on {self.url} in {timeout:.0f} s:\n{self.log_tail()}")
            if "already in use" in self.log_tail() and attempt + 1 < attempts:
                self.port = free_port()  # lost a race for the port: take another
                self.url = f"http://127.0.0.1:{self.port}"
                continue
            raise RuntimeError(f"JupyterLab exited with {self.proc.returncode}:\n{self.log_tail()}")
        raise AssertionError("unreachable")

    def log_tail(self, n: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        return ""

    def api(self, method: str, path: str, timeout: float = 10.0):
        req = urllib.request.Request(f"{self.url}{path}", method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            body = r.read()
        return json.loads(body) if body else None

    def lab_url(self, rel_path: str, workspace: str) -> str:
        """A notebook opened in its own (fresh) JupyterLab workspace."""
        return f"{self.url}/lab/workspaces/{workspace}/tree/{urllib.parse.quote(rel_path)}?token={self.token}"

    def kernel_state(self, rel_path: str) -> str | None:
        for s in self.api("GET", "/api/sessions"):
            if s.get("path") == rel_path and s.get("kernel"):
                return s["kernel"].get("execution_state")
        return None

    def shutdown_kernels(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            for s in self.api("GET", "/api/sessions"):
                with contextlib.suppress(OSError, ValueError):
                    self.api("DELETE", f"/api/sessions/{s['id']}")

    def stop(self) -> None:
        """Stop the server, its kernels (own sessions) and everything else it started."""
        if self.proc is None:
            return
        try:
            procs = [psutil.Process(self.proc.pid)]
            procs += procs[0].children(recursive=True)
        except psutil.NoSuchProcess:
            procs = []
        self.shutdown_kernels()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=15)
        for p in procs:  # kernels run in their own sessions, so the group kill does not reach them
            with contextlib.suppress(psutil.Error):
                p.kill()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        psutil.wait_procs(procs, timeout=10)
        self.proc = None

    def alive_processes(self) -> list[psutil.Process]:
        if self.proc is None:
            return []
        try:
            p = psutil.Process(self.proc.pid)
            return [p, *p.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []


@contextlib.contextmanager
def running_lab(course_root: Path, workdir: Path, settings: dict | None = None):
    """A started LabServer, stopped on exit (also when the body fails)."""
    server = LabServer(course_root, workdir, settings).start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def playwright():
    """Playwright's driver (one per process: its sync API cannot be nested)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


@contextlib.contextmanager
def open_browser(pw, user_data_dir: Path):
    """Chromium (Debian's, never a download) with a fresh profile; closed on exit, also after a failure."""
    ctx = pw.chromium.launch_persistent_context(
        str(user_data_dir), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
        viewport={"width": 1280, "height": 900}, device_scale_factor=1,
    )
    try:
        yield ctx
    finally:
        with contextlib.suppress(Exception):
            ctx.close()


# --------------------------------------------------------------------------------------------------
# In the page

# One snapshot of the open notebook, as the student sees it: per cell its prompt and outputs.
_SNAPSHOT_JS = r"""
() => {
  const hash = (s) => { let h = 0; for (let i = 0; i < s.length; i++) { h = (h * 31 + s.charCodeAt(i)) | 0; }
                        return s.length + ':' + h; };
  // long outputs (tracebacks): keep the start and the end, where the error line is
  const clip = (t) => t.length <= 4000 ? t : t.slice(0, 2000) + '\n...\n' + t.slice(-2000);
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  if (!panel) return null;
  const dialogs = [...document.querySelectorAll('.jp-Dialog')].map(d => d.innerText);
  const cells = [...panel.querySelectorAll('.jp-Cell')].map(cell => {
    const prompt = cell.querySelector('.jp-InputArea-prompt');
    const outputs = [...cell.querySelectorAll('.jp-OutputArea-output')].map(o => ({
      mime: o.getAttribute('data-mime-type') || '',
      text: clip(o.innerText || ''),
      inWidget: !!(o.parentElement && o.parentElement.closest('.jupyter-widgets, .widget-output')),
      imgs: [...o.querySelectorAll('img')].map(i => ({ok: i.complete && i.naturalWidth > 0, src: hash(i.src)})),
      live: o.querySelectorAll('.jupyter-widgets').length,
    }));
    const driven = [...cell.querySelectorAll(
        '.widget-html-content, .widget-label, .widget-output .jp-OutputArea-output, .widget-textarea textarea')]
      .filter(e => !e.closest('.widget-slider'))
      .map(e => e.tagName === 'TEXTAREA' ? e.value : (e.innerText || '') +
                [...e.querySelectorAll('img')].map(i => hash(i.src)).join(','));
    return {
      code: cell.classList.contains('jp-CodeCell'),
      prompt: prompt ? prompt.innerText.trim() : '',
      empty: cell.classList.contains('jp-CodeCell') &&
             !(cell.querySelector('.jp-InputArea-editor') || {}).innerText?.trim(),
      outputs,
      sliders: cell.querySelectorAll('.widget-slider').length,
      driven,
      text: (cell.querySelector('.jp-Cell-outputWrapper') || {}).innerText || '',
    };
  });
  return {dialogs, cells};
}
"""

STDOUT = "application/vnd.jupyter.stdout"
STDERR = "application/vnd.jupyter.stderr"  # JupyterLab renders errors (tracebacks) with this too
LOADING = ("Loading widget...", "Error displaying widget")


@dataclass
class NotebookRun:
    """What a run left in the page: the final snapshot and the problems found in it."""

    rel_path: str
    seconds: float
    snapshot: dict
    problems: list[str] = field(default_factory=list)
    sliders_moved: int = 0  # sliders moved and demo buttons clicked
    open_seconds: float = 0.0


def snapshot(page) -> dict:
    return page.evaluate(_SNAPSHOT_JS)


# While Run All is under way, only what says whether it is done: each code cell's prompt and whether an error was
# shown. (The full snapshot reads every output's text, which makes the browser lay the page out: polled twice a
# second, on a long notebook, that took CPU from the kernel running the cells.)
_PROGRESS_JS = r"""
() => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  if (!panel) return null;
  const cells = [...panel.querySelectorAll('.jp-CodeCell')].map(cell => {
    const prompt = cell.querySelector('.jp-InputArea-prompt');
    return {prompt: prompt ? prompt.textContent.trim() : '',
            empty: !(cell.querySelector('.jp-InputArea-editor') || {}).textContent?.trim(),
            raised: !!cell.querySelector('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')};
  });
  return {cells};
}
"""


def _menu(page, menu: str, item: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=menu).first.click()
    page.locator(".lm-Menu-item:not(.lm-mod-hidden) .lm-Menu-itemLabel").get_by_text(item, exact=True).click()


def _accept_kernel_dialog(page, server: LabServer) -> None:
    """The kernel-selection dialog (when a notebook's kernel is missing or ambiguous): take the kernel it
    proposes. A dead kernel is a failure, not something to click away."""
    dlg = page.locator(".jp-Dialog")
    if not dlg.count():
        return
    text = dlg.first.inner_text()
    if "died" in text or "Kernel Restarting" in text:
        raise AssertionError(f"the kernel died: {' '.join(text.split())[:200]}")
    if "Select Kernel" in text or "Select kernel" in text:
        select = dlg.first.locator("select")
        if select.count():  # the course's kernel, python3 (the dialog may propose "No Kernel")
            select.first.select_option(value='{"name":"python3"}')
        dlg.first.locator(".jp-mod-accept").click()
        server.kernel_dialogs += 1


def _prompt_number(prompt: str) -> int | None:
    inner = prompt.strip().removesuffix(":").strip("[] ")
    return int(inner) if inner.isdigit() else None


def _app_loaded(page, server: LabServer) -> bool:
    """The tab already shows this server's JupyterLab (with window.jupyterapp, LabServer.env's config)."""
    if page.is_closed() or not page.url.startswith(f"{server.url}/lab"):
        return False
    return bool(page.evaluate("() => !!(window.jupyterapp && window.jupyterapp.shell)"))


def close_documents(page) -> None:
    """Close every open document in the tab's JupyterLab without saving (autosave is off; the committed notebook
    stays as it is) and dismiss any dialog, so that the next notebook opens in a clean app."""
    if page.is_closed():
        return
    for _ in range(3):
        if not page.locator(".jp-Dialog").count():
            break
        page.keyboard.press("Escape")
        page.wait_for_timeout(200)
    page.evaluate("""() => {
      const app = window.jupyterapp;
      if (!app) return;
      for (const w of Array.from(app.shell.widgets('main'))) {
        if (w.context && w.context.model) { w.context.model.dirty = false; }
        w.dispose();
      } }""")


def open_notebook(page, server: LabServer, rel_path: str, workspace: str, timeout: float = 90.0) -> None:
    """Open rel_path in JupyterLab and wait until its cells show and its kernel is idle: in the JupyterLab the tab
    already shows (File > Open, by the app's command), or else by loading JupyterLab at the notebook's URL in a fresh
    workspace."""
    if _app_loaded(page, server):
        close_documents(page)
        page.evaluate("p => window.jupyterapp.commands.execute('docmanager:open', {path: p, factory: 'Notebook'})",
                      rel_path)
    else:
        page.goto(server.lab_url(rel_path, workspace))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _accept_kernel_dialog(page, server)
        if page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell").count() and \
                server.kernel_state(rel_path) == "idle":
            return
        time.sleep(0.5)
    raise AssertionError(f"{rel_path}: notebook or its kernel did not come up in {timeout:.0f} s")


def run_all(page, server: LabServer, rel_path: str, timeout: float = 240.0) -> NotebookRun:
    """Clear all outputs, Run -> Run All Cells, and wait until every cell ran (or one raised) and the
    kernel is idle; then give widgets and images a moment to render."""
    _menu(page, "Edit", "Clear Outputs of All Cells")
    t0 = time.monotonic()
    _menu(page, "Run", "Run All Cells")
    stable, snap = 0, None
    while time.monotonic() - t0 < timeout:
        _accept_kernel_dialog(page, server)
        snap = page.evaluate(_PROGRESS_JS)
        code = [c for c in snap["cells"] if not c["empty"]]
        nums = [_prompt_number(c["prompt"]) for c in code]
        busy = any("*" in c["prompt"] for c in code)
        done = all(n is not None for n in nums) and nums == sorted(nums) and (not nums or nums[-1] >= len(nums))
        raised = any(c["raised"] for c in code)
        state = server.kernel_state(rel_path)
        if state == "dead":
            raise AssertionError(f"{rel_path}: the kernel died during Run All")
        if not busy and (done or raised) and state == "idle":
            stable += 1
            if stable >= 2:
                break
        else:
            stable = 0
        time.sleep(0.5)
    else:
        raise AssertionError(f"{rel_path}: cells still running after {timeout:.0f} s "
                             f"(prompts: {[c['prompt'] for c in snap['cells']] if snap else '?'})")
    seconds = time.monotonic() - t0
    # Widgets render asynchronously after their comm messages; images decode after insertion.
    settle = time.monotonic() + 20
    while time.monotonic() < settle:
        snap = snapshot(page)
        pending = any(any(s in c["text"] for s in LOADING[:1]) or
                      any(not i["ok"] for o in c["outputs"] for i in o["imgs"]) for c in snap["cells"])
        if not pending:
            break
        time.sleep(0.5)
    return NotebookRun(rel_path, seconds, snap)


# --------------------------------------------------------------------------------------------------
# A temporary copy of the course, for notebooks that must not live in the repository

def course_copy(src_root: Path, dest: Path) -> Path:
    """The course's launcher and metadata in `dest`, with empty notebooks/ and solutions/ to fill."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("course.py", "pyproject.toml", "README.md"):
        shutil.copy2(Path(src_root) / name, dest / name)
    (dest / "notebooks").mkdir(exist_ok=True)
    (dest / "solutions").mkdir(exist_ok=True)
    return dest


def write_notebook(path: Path, *sources: str, kernel: str = "python3", language: str = "python") -> Path:
    """A notebook of code cells (a leading '# md' line makes a markdown cell) for kernel `kernel`."""
    import nbformat

    cells = [nbformat.v4.new_markdown_cell(s.removeprefix("# md\n")) if s.startswith("# md\n")
             else nbformat.v4.new_code_cell(s) for s in sources]
    nb = nbformat.v4.new_notebook(cells=cells, metadata={
        "kernelspec": {"name": kernel, "display_name": kernel, "language": language},
        "language_info": {"name": language},
    })
    nbformat.write(nb, path)
    return path


# --------------------------------------------------------------------------------------------------
# What must hold after Run All

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def stored_expectations(nb_path: Path) -> list[dict]:
    """Per code cell of the committed notebook: how many figures and widgets its stored outputs have,
    and whether it is allowed to raise (nbval's `raises-exception` tag)."""
    import nbformat

    nb = nbformat.read(nb_path, as_version=4)
    out = []
    for cell in nb.cells:
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        mimes = [m for o in cell.get("outputs", []) for m in o.get("data", {})]
        # An output that carries a widget view shows the live widget in JupyterLab; its PNG is only the static
        # fallback for renderers without widgets (lecture_utils.demos.Demo), not a figure Lab shows.
        static = [o for o in cell.get("outputs", []) if WIDGET_VIEW not in o.get("data", {})]
        tags = set(cell.get("metadata", {}).get("tags", []))
        ignored = "NBVAL_IGNORE_OUTPUT" in cell.source or bool({"nbval-ignore-output", "raises-exception"} & tags)
        out.append({
            "stdout": None if ignored else printed(
                "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("name") == "stdout")),
            "images": sum("image/png" in o.get("data", {}) for o in static),
            "widgets": mimes.count(WIDGET_VIEW),
            "may_raise": "raises-exception" in tags,
            "source": cell.source.splitlines()[0][:60] if cell.source else "",
        })
    return out


@functools.cache
def _sanitizers() -> list[tuple[re.Pattern, str]]:
    """tests/nbval_sanitize.cfg's rules (timings, memory addresses), as nbval applies them."""
    import configparser

    cfg = configparser.ConfigParser()
    cfg.read(COURSE_ROOT / "tests" / "nbval_sanitize.cfg")
    return [(re.compile(cfg[s]["regex"]), cfg[s]["replace"]) for s in cfg.sections()]


def printed(text: str) -> str:
    """What a cell printed, as the check compares it: sanitized like nbval, clipped like the snapshot (start and end
    of a long output), trailing spaces and blank lines dropped (the browser's innerText keeps neither exactly)."""
    for pattern, replace in _sanitizers():
        text = pattern.sub(replace, text)
    text = text if len(text) <= 4000 else text[:2000] + "\n...\n" + text[-2000:]
    return "\n".join(ln.rstrip() for ln in text.splitlines() if ln.strip())


def find_problems(snap: dict, expected: list[dict] | None = None) -> list[str]:
    """Everything a student should not see: errors, stderr, figures that are not images, widgets that
    are not live; and (with `expected`, from the committed notebook) figures or widgets gone missing, and printed
    lines that differ from the committed ones."""
    problems = []
    code = [c for c in snap["cells"] if c["code"] and not c["empty"]]
    if expected is not None and len(expected) != len(code):
        problems.append(f"the page shows {len(code)} code cells, the file has {len(expected)}")
        expected = None
    for i, cell in enumerate(code):
        exp = expected[i] if expected else {"images": 0, "widgets": 0, "may_raise": False}
        where = f"code cell {i + 1} ({cell['prompt'] or 'no prompt'})"
        if _prompt_number(cell["prompt"]) is None:
            problems.append(f"{where}: did not run")
        for o in cell["outputs"]:
            if o["mime"] == STDERR and not exp["may_raise"]:
                lines = [ln for ln in o["text"].splitlines() if ln.strip()]
                if all(any(a in ln for a in STDERR_ALLOWED) for ln in lines):
                    continue
                kind = "error" if "Traceback" in o["text"] or "Error" in (lines[-1] if lines else "") else "stderr"
                problems.append(f"{where}: {kind} output: {' | '.join(lines[-3:])[:300]}")
            if o["text"].startswith("<Figure size") and not o["inWidget"]:
                problems.append(f"{where}: a figure shown as text, not an image: {o['text'][:80]!r}")
            if any(not img["ok"] for img in o["imgs"]):
                problems.append(f"{where}: an image ({o['mime'] or 'in a widget'}) did not load")
        for line in cell["text"].splitlines():
            if any(s in line for s in LOADING):
                problems.append(f"{where}: widget not live: {line.strip()[:120]!r}")
        top_images = sum(1 for o in cell["outputs"] if o["mime"] == "image/png" and not o["inWidget"] and o["imgs"])
        if top_images < exp["images"]:
            problems.append(f"{where}: {top_images} figure(s) rendered as images, the committed notebook has "
                            f"{exp['images']}")
        # The numbers it printed, natively in JupyterLab, against the committed notebook (whose outputs nbval compares
        # under another CPU's kernels from the student bundle): printed lines, sanitized as nbval does.
        if exp.get("stdout") is not None:
            shown = printed("\n".join(o["text"] for o in cell["outputs"] if o["mime"] == STDOUT and not o["inWidget"]))
            if shown != exp["stdout"]:
                pairs = itertools.zip_longest(shown.splitlines(), exp["stdout"].splitlines(), fillvalue="")
                diff = next((pair for pair in pairs if pair[0] != pair[1]), ("", ""))
                problems.append(f"{where}: printed {diff[0]!r} where the committed notebook has {diff[1]!r}")
        live = sum(1 for o in cell["outputs"] if o["live"] and not o["inWidget"])
        if live < exp["widgets"]:
            problems.append(f"{where}: {live} live widget(s), the committed notebook has {exp['widgets']}")
    return problems


# --------------------------------------------------------------------------------------------------
# Interactive demos: move each slider, click each demo button; the figure or text it drives must change

_SLIDER_STATE_JS = r"""
(idx) => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  const s = panel.querySelectorAll('.widget-slider')[idx];
  const h = s.querySelector('[role=slider]');
  const r = s.querySelector('.widget-readout');
  const label = s.querySelector('.widget-label');
  return {value: h ? h.getAttribute('aria-valuenow') : null, readout: r ? r.innerText : '',
          label: label ? label.innerText : '', disabled: s.classList.contains('mod-disabled')};
}
"""


def sliders(page):
    return page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .widget-slider")


def _driven(page) -> list:
    return [c["driven"] for c in snapshot(page)["cells"]]


def move_slider(page, idx: int) -> tuple[str, str]:
    """Drag slider `idx` (a student's move) a third of its track; fall back to the keyboard. Returns the
    value before and after."""
    slider = sliders(page).nth(idx)
    slider.scroll_into_view_if_needed()
    before = page.evaluate(_SLIDER_STATE_JS, idx)["value"]
    handle = slider.locator("[role=slider]").first
    track = slider.locator(".noUi-base, .slider").first
    hb, tb = handle.bounding_box(), track.bounding_box()
    if hb and tb:
        x0, y0 = hb["x"] + hb["width"] / 2, hb["y"] + hb["height"] / 2
        frac = (x0 - tb["x"]) / max(tb["width"], 1)
        x1 = tb["x"] + tb["width"] * (frac - 0.35 if frac > 0.5 else frac + 0.35)
        page.mouse.move(x0, y0)
        page.mouse.down()
        page.mouse.move(x1, y0, steps=8)
        page.mouse.up()
    after = page.evaluate(_SLIDER_STATE_JS, idx)["value"]
    if after == before:
        handle.focus()
        for _ in range(3):
            handle.press("ArrowRight")
        after = page.evaluate(_SLIDER_STATE_JS, idx)["value"]
        if after == before:
            for _ in range(6):
                handle.press("ArrowLeft")
            after = page.evaluate(_SLIDER_STATE_JS, idx)["value"]
    return before, after


def _wait_for_change(page, server: LabServer, rel_path: str, base: list, timeout: float) -> bool:
    """True once some driven figure or text differs from `base` and the kernel is idle again."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.5)
        if _driven(page) != base and server.kernel_state(rel_path) == "idle":
            return True
    return False


# Every button in the notebook's outputs: its label, whether it is disabled, and whether it belongs to a demo
# (some enclosing widget box also holds an Output widget, the figure or text the button drives).
_BUTTONS_JS = r"""
() => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  return [...panel.querySelectorAll('.widget-button')].map(b => {
    let box = b.parentElement, inDemo = false;
    while (box && !box.classList.contains('jp-OutputArea-output')) {
      if (box.classList.contains('widget-box') && box.querySelector('.widget-output')) { inDemo = true; break; }
      box = box.parentElement;
    }
    return {label: (b.innerText || b.title || '').trim(), disabled: b.disabled, inDemo};
  });
}
"""


def buttons_to_click(listing: list[dict]) -> list[int]:
    """Indices of the buttons a student would press to drive a demo: enabled, and inside a demo's widget box.
    (A lone button, e.g. an unrelated widget in a notebook, is not a demo's control and is skipped.)"""
    return [i for i, b in enumerate(listing) if b.get("inDemo") and not b.get("disabled")]


def check_interactive(page, server: LabServer, rel_path: str, timeout: float = 20.0) -> tuple[int, list[str]]:
    """Move every slider in the notebook's outputs, then click every button of a demo (`buttons_to_click`);
    each move or click must change some figure or text it drives (images in Output widgets, HTML/Label
    text). Returns (sliders moved + buttons clicked, problems)."""
    n = sliders(page).count()
    problems = []
    for idx in range(n):
        state = page.evaluate(_SLIDER_STATE_JS, idx)
        name = f"slider {idx + 1} ({state['label'] or 'unlabelled'})"
        if state["disabled"]:
            continue
        base = _driven(page)
        before, after = move_slider(page, idx)
        if before == after:
            problems.append(f"{name}: could not move it (value stays {before})")
            continue
        if not _wait_for_change(page, server, rel_path, base, timeout):
            problems.append(f"{name}: moved {before} -> {after}, but no figure or text changed in {timeout:.0f} s")
        snap = snapshot(page)
        problems += [f"after moving {name}: {p}" for p in find_problems(snap) if "did not run" not in p]
    clicked = 0
    buttons = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .widget-button")
    for idx in buttons_to_click(page.evaluate(_BUTTONS_JS)):
        listing = page.evaluate(_BUTTONS_JS)
        if idx >= len(listing) or listing[idx]["disabled"]:
            continue  # an earlier click disabled it (e.g. a trial that is over)
        name = f"button {idx + 1} ({listing[idx]['label'] or 'unlabelled'})"
        base = _driven(page)
        button = buttons.nth(idx)
        button.scroll_into_view_if_needed()
        button.click()
        clicked += 1
        if not _wait_for_change(page, server, rel_path, base, timeout):
            problems.append(f"{name}: clicked, but no figure or text changed in {timeout:.0f} s")
        snap = snapshot(page)
        problems += [f"after clicking {name}: {p}" for p in find_problems(snap) if "did not run" not in p]
    return n + clicked, problems


# --------------------------------------------------------------------------------------------------
# Screenshots

def screenshot_notebook(page, path: Path, full: bool = True) -> Path:
    """The notebook as the student sees it, from the top; `full` grows the window so every cell is in
    one image (the file browser is folded away to leave the width to the notebook)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    vp = page.viewport_size
    extra = page.evaluate("""() => {
      const p = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer');
      if (!p) return 0;
      p.scrollTop = 0;
      return p.scrollHeight - p.clientHeight; }""")
    if full and extra > 0:
        page.set_viewport_size({"width": vp["width"], "height": int(min(vp["height"] + extra + 20, 16000))})
        time.sleep(0.5)
    try:
        page.screenshot(path=str(path))
    finally:
        page.set_viewport_size(vp)
    return path


def screenshot_first_demo(page, path: Path) -> Path:
    """The window scrolled to the first cell with a slider or a demo's button (after they were driven)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    page.evaluate("""() => {
      const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
      const cell = panel.querySelector('.widget-slider, .widget-button').closest('.jp-Cell');
      const prev = cell.previousElementSibling;  // the markdown that introduces the demo, when there is one
      (prev || cell).scrollIntoView({block: 'start'}); }""")
    time.sleep(0.5)
    page.screenshot(path=str(path))
    return path


def fold_left_sidebar(page) -> None:
    if page.locator("#jp-left-stack:not(.lm-mod-hidden)").count():
        page.keyboard.press("Control+b")  # application:toggle-left-area


# --------------------------------------------------------------------------------------------------
# The whole check of one notebook, as the tests run it

def check_course_notebook(page, server: LabServer, rel_path: str, screenshot: Path | None = None,
                          expected: list[dict] | None = None, change_timeout: float = 20.0) -> NotebookRun:
    """Open `rel_path` in JupyterLab, run all cells, screenshot it, and fail (AssertionError) on anything a
    student should not see; then move every slider and click every demo button, and fail when what it drives
    does not change (and screenshot the first interactive demo afterwards, as <screenshot>__after_sliders.png)."""
    workspace = "t" + secrets.token_hex(4)
    t0 = time.monotonic()
    open_notebook(page, server, rel_path, workspace)
    fold_left_sidebar(page)
    opened = time.monotonic() - t0
    run = run_all(page, server, rel_path)
    run.open_seconds = opened
    if screenshot is not None:
        screenshot_notebook(page, screenshot)
    run.problems = find_problems(run.snapshot, expected)
    seen = f"\n  (screenshot: {screenshot})" if screenshot is not None else ""
    assert not run.problems, f"{rel_path} in JupyterLab:\n  " + "\n  ".join(run.problems) + seen
    run.sliders_moved, problems = check_interactive(page, server, rel_path, change_timeout)
    run.problems += problems
    if screenshot is not None and run.sliders_moved:
        screenshot_first_demo(page, screenshot.with_name(f"{screenshot.stem}__after_sliders.png"))
    assert not problems, (f"{rel_path} in JupyterLab, driving its sliders and buttons:\n  " + "\n  ".join(problems)
                          + seen)
    return run


def screenshot_folder(config) -> Path:
    """$BROWSER_SCREENSHOTS, or `browser-screenshots/` in the run's pytest base temp folder (the same for
    all xdist workers: theirs are subfolders of the controller's)."""
    env = os.environ.get("BROWSER_SCREENSHOTS")
    if env:
        return Path(env).resolve()
    base = config._tmp_path_factory.getbasetemp()
    return (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "browser-screenshots"


def terminal_summary(terminalreporter, config) -> None:
    """One line at the end of the run: where the screenshots are. Under xdist the controller does not load
    tests/browser/conftest.py, so tests/conftest.py calls this too (see the report)."""
    if os.environ.get("PYTEST_XDIST_WORKER") or getattr(config, "_browser_summary_done", False):
        return
    config._browser_summary_done = True
    folder = screenshot_folder(config)
    shots = sorted(folder.glob("*.png")) if folder.is_dir() else []
    if shots:
        terminalreporter.write_line(f"browser screenshots ({len(shots)}): {folder}")


def record_timing(folder: Path, run: NotebookRun) -> None:
    """One line per notebook in <screenshots>/timings.tsv: open (kernel up), Run All, sliders moved."""
    with open(folder / "timings.tsv", "a") as f:
        f.write(f"{run.rel_path}\topen {run.open_seconds:.1f} s\trun all {run.seconds:.1f} s\t"
                f"sliders {run.sliders_moved}\n")


def run_course_notebook(page, server: LabServer, rel_path: str, screenshot_dir: Path) -> NotebookRun:
    """What each browser test does for one course notebook: check it (screenshot saved), log its timing,
    and shut its kernel down even when the check fails."""
    shot = screenshot_dir / rel_path.replace("/", "__").replace(".ipynb", ".png")
    try:
        run = check_course_notebook(page, server, rel_path, shot, stored_expectations(COURSE_ROOT / rel_path))
        record_timing(screenshot_dir, run)
        return run
    finally:
        with contextlib.suppress(Exception):
            close_documents(page)
        server.shutdown_kernels()
