"""Execute a notebook headless (nbclient), measuring wall time and the kernel's peak memory."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError


@dataclass
class Execution:
    path: str
    seconds: float
    peak_mb: float
    ok: bool
    error: str = ""
    cpu_seconds: float = float("nan")  # the kernel's own CPU time (user + system): what a quiet machine's wall time is


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far (Linux /proc/PID/stat), else nan."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def _peak_rss_mb(pid: int) -> float:
    """Peak resident memory of a process (Linux VmHWM), else its current RSS."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    try:
        import psutil

        return psutil.Process(pid).memory_info().rss / 2**20
    except Exception:
        return float("nan")


def execute_notebook(path: Path, timeout: int = 600, write: bool = False) -> Execution:
    """Run every cell of `path` in a fresh kernel (cwd = the notebook's folder); seconds = kernel start + all cells.

    With write=True the executed notebook (outputs, widget state) is saved back to `path`.
    """
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    # IPC transport: the kernel talks over local sockets (no TCP ports, no plain-text warning on stderr).
    # The socket paths must be absolute: the kernel runs in the notebook's folder, the client here.
    sockdir = tempfile.mkdtemp(prefix="lecture-kernel-")
    km = KernelManager(kernel_name="python3", transport="ipc", ip=os.path.join(sockdir, "k"))
    client = NotebookClient(
        nb,
        km=km,
        timeout=timeout,
        kernel_name="python3",
        record_timing=False,
        resources={"metadata": {"path": str(path.parent)}},
        store_widget_state=True,
        # The outputs are complete when the last cell has run: the kernel is then stopped at once. A graceful
        # shutdown adds ~2 s of interpreter teardown (torch's modules) that nobody running the notebook waits for.
        shutdown_kernel="immediate",
    )
    peak = cpu = float("nan")
    t0 = time.perf_counter()
    ok, err = True, ""
    try:
        env = {**os.environ, "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
        # The kernel's own log (shutdown chatter) is not the notebook's output: keep it off our stderr,
        # as nbval does. Errors in cells still arrive as error outputs.
        with client.setup_kernel(env=env, cleanup_kc=True, stderr=subprocess.DEVNULL):
            try:
                for idx, cell in enumerate(nb.cells):
                    client.execute_cell(cell, idx)
            finally:
                proc = getattr(client.km.provisioner, "process", None)
                if proc is not None:
                    peak = _peak_rss_mb(proc.pid)
                    cpu = _cpu_seconds(proc.pid)
            client.set_widgets_metadata()
    except CellExecutionError as e:
        ok, err = False, str(e).strip().splitlines()[-1] if str(e).strip() else "cell error"
    except Exception as e:  # kernel died, timeout, ...
        ok, err = False, f"{type(e).__name__}: {e}"
    finally:
        shutil.rmtree(sockdir, ignore_errors=True)
    seconds = time.perf_counter() - t0
    if write and ok:
        nbformat.write(nb, path)
    return Execution(str(path), seconds, peak, ok, err, cpu)
