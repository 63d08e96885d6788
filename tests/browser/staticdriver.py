"""Static pages (the exported slide show, the course website) in headless Chromium, offline.

`serve(folder)` serves a folder on 127.0.0.1 (a thread, stopped on exit); `offline_page(context, base)`
opens a tab in which every request outside that server is aborted and recorded, and every failed request
(HTTP >= 400, or a load error) is recorded too, so a test can assert the page needed nothing else.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import threading
from dataclasses import dataclass, field
from pathlib import Path


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass


@contextlib.contextmanager
def serve(folder: Path):
    """http://127.0.0.1:PORT serving folder; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class OfflineLog:
    blocked: list[str] = field(default_factory=list)  # requests outside localhost (aborted)
    failed: list[str] = field(default_factory=list)  # localhost requests that failed
    errors: list[str] = field(default_factory=list)  # uncaught page errors


def offline_page(context, base: str, width: int = 1280, height: int = 720):
    """A new tab that can reach only `base`; returns (page, log)."""
    log = OfflineLog()
    page = context.new_page()
    page.set_viewport_size({"width": width, "height": height})
    page.set_default_timeout(30_000)

    def route(r):
        url = r.request.url
        if url.startswith(base) or url.startswith("data:") or url.startswith("about:"):
            r.continue_()
        else:
            log.blocked.append(url)
            r.abort()

    page.route("**/*", route)
    page.on("response", lambda resp: log.failed.append(f"{resp.status} {resp.url}") if resp.status >= 400 else None)
    # ERR_ABORTED: the test moved to the next page while this one was still loading (not a missing file)
    page.on("requestfailed", lambda req: log.failed.append(f"{req.failure} {req.url}")
            if req.url.startswith(base) and "ERR_ABORTED" not in (req.failure or "") else None)
    page.on("pageerror", lambda exc: log.errors.append(str(exc)))
    return page, log


# A page with math (Sphinx's `.math` spans, or any slide show) waits until MathJax has loaded and its queue is empty.
MATHJAX_IDLE = """() => {
  if (!document.querySelector('.math, .reveal') && !window.MathJax) { return true; }
  return !!(window.MathJax && MathJax.Hub && MathJax.isReady && MathJax.Hub.queue &&
            MathJax.Hub.queue.pending === 0 && MathJax.Hub.queue.running === 0);
}"""


def wait_mathjax(page, timeout: float = 30_000) -> None:
    page.wait_for_function(MATHJAX_IDLE, timeout=timeout)
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
