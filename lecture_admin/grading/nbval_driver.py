"""A pytest plugin loaded next to nbval by the autograder: per-cell results as JSON lines.

The grader runs ``pytest -p nbval.plugin -p lecture_admin.grading.nbval_driver --nbval-lax NB`` with
``LECTURE_GRADER_LOG`` set to a file. For every cell this plugin appends ``{"event": "start", ...}``
before it runs and ``{"event": "result", "cell": n, "ok": ..., "kind": ..., "outputs": ...}`` after,
flushed at once, so the grader still has every finished cell if it has to kill the run.

It also makes nbval notice a dead kernel within half a second (nbval alone waits for the whole cell
timeout) and stops the session as soon as the kernel is gone: the grader restarts it and replays.
"""

from __future__ import annotations

import json
import os
import time
from queue import Empty

import pytest

_LOG = None
_TEXT_LIMIT = 4000


class KernelDied(RuntimeError):
    pass


def _write(record: dict) -> None:
    global _LOG
    path = os.environ.get("LECTURE_GRADER_LOG")
    if not path:
        return
    if _LOG is None:
        _LOG = open(path, "a", encoding="utf-8")  # noqa: SIM115 - kept open for the session
    _LOG.write(json.dumps(record) + "\n")
    _LOG.flush()


def _patch_nbval() -> None:
    from nbval.kernel import RunningKernel

    if getattr(RunningKernel, "_lecture_patched", False):
        return
    original = RunningKernel.await_reply

    def await_reply(self, msg_id, timeout=None):
        deadline = None if timeout is None else time.monotonic() + float(timeout)
        while True:
            step = 0.5 if deadline is None else max(0.01, min(0.5, deadline - time.monotonic()))
            try:
                return original(self, msg_id, timeout=step)
            except Empty:
                if not self.is_alive():
                    raise KernelDied("the kernel died (the process exited or crashed)") from None
                if deadline is not None and time.monotonic() >= deadline:
                    raise

    RunningKernel.await_reply = await_reply
    RunningKernel._lecture_patched = True


def pytest_configure(config):
    _patch_nbval()


def _kernel_pid(item):
    kernel = getattr(item.parent, "kernel", None)
    proc = getattr(getattr(getattr(kernel, "km", None), "provisioner", None), "process", None)
    return getattr(proc, "pid", None)


def _peak_mb(pid) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except (OSError, TypeError, ValueError):
        return None
    return None


def _text(outputs) -> str:
    parts = []
    for out in outputs or []:
        kind = out.get("output_type")
        if kind == "stream":
            parts.append(out.get("text", ""))
        elif kind in ("execute_result", "display_data"):
            data = out.get("data", {})
            if "text/plain" in data:
                parts.append(str(data["text/plain"]) + "\n")
        elif kind == "error":
            parts.append(f"{out.get('ename')}: {out.get('evalue')}\n")
    text = "".join(parts)
    if len(text) > _TEXT_LIMIT:
        text = text[:_TEXT_LIMIT] + "\n[...]\n"
    return text


def _kind(excinfo) -> tuple[str, str]:
    if excinfo is None:
        return "ok", ""
    exc = excinfo.value
    msg = str(exc)
    if isinstance(exc, KernelDied):
        return "died", msg
    if isinstance(exc, RuntimeError) and "Kernel dead" in msg:
        return "dead", msg
    if "Timeout" in msg:
        return "timeout", msg
    if msg.startswith("Cell outputs differ"):
        return "mismatch", msg
    if "exception" in msg:
        return "error", msg
    return "error", msg[:_TEXT_LIMIT]


def pytest_runtest_logstart(nodeid, location):
    _write({"event": "start", "node": nodeid})


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    yield
    if call.when != "call" or not hasattr(item, "cell_num"):
        return
    kind, msg = _kind(call.excinfo)
    pid = _kernel_pid(item)
    kernel = getattr(item.parent, "kernel", None)
    alive = bool(kernel is not None and kernel.is_alive())
    _write({
        "event": "result",
        "cell": item.cell_num,
        "ok": call.excinfo is None,
        "kind": kind,
        "message": msg[:_TEXT_LIMIT],
        "outputs": _text(getattr(item, "test_outputs", None)),
        "seconds": round(call.duration, 3),
        "kernel_alive": alive,
        "kernel_pid": pid,
        "kernel_peak_mb": _peak_mb(pid),
    })
    if not alive:
        item.session.shouldstop = "the kernel died"


def pytest_sessionfinish(session, exitstatus):
    _write({"event": "finish", "driver_peak_mb": _peak_mb("self")})
