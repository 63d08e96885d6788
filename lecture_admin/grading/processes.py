"""The kernel's processes and its job user (find, kill, create), its matplotlib cache, and whether namespaces work."""

from __future__ import annotations

import functools
import os
import pwd
import shutil
import signal
import subprocess
import time
from pathlib import Path


def procs(uid: int | None, pgid: int | None) -> list[int]:
    """Live (non-zombie) processes with real user `uid` or in process group `pgid`."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            stat = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
            ruid = int(next(x for x in Path(entry.path, "status").read_text().splitlines()
                            if x.startswith("Uid:")).split()[1])
        except (OSError, StopIteration, IndexError, ValueError):
            continue
        if stat[0] != "Z" and (ruid == uid or int(stat[2]) == pgid):
            found.append(int(entry.name))
    return found


def kill_all(uid: int | None, pgid: int | None) -> list[int]:
    """SIGKILL the job's processes until none is left (5 s at most); returns those still alive."""
    for _ in range(50):
        pids = procs(uid, pgid)
        if not pids:
            return []
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.1)
    return procs(uid, pgid)


def ensure_user(slot: int) -> pwd.struct_passwd | None:
    name = f"lecgrade{slot}"
    for attempt in range(2):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            if attempt == 0 and shutil.which("useradd"):
                subprocess.run(["useradd", "--system", "--no-create-home", "--user-group",
                                "--shell", "/usr/sbin/nologin", name], capture_output=True, timeout=60)
    return None


def unshare_exe() -> str | None:
    """Path of `unshare` if it can create the namespaces we need here."""
    exe = shutil.which("unshare")
    args = ["--mount", "--net", "--pid", "--fork", "--kill-child", "true"]
    try:
        return exe if exe and subprocess.run([exe, *args], capture_output=True, timeout=30).returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


@functools.cache
def seed_matplotlib_cache(dest: Path) -> None:
    """Copy the grader's matplotlib font list (built once, here) into the kernel's config dir."""
    dest.mkdir(exist_ok=True)
    try:
        import matplotlib
        from matplotlib import font_manager  # noqa: F401 - builds the grader's font list once

        for f in Path(matplotlib.get_cachedir()).glob("fontlist-*.json"):
            shutil.copy(f, dest / f.name)
    except Exception:  # no matplotlib, or no cache: the kernel builds its own
        pass
