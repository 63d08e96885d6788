"""The sandboxed kernel's PID 1: run as ``python -I launcher.py --launch SPEC`` (inside ``unshare`` when it can).

It makes mounts private, remounts /proc, covers the temp folders (and an interpreter's closed home) with tmpfs and
binds back only what the kernel needs, hides and masks files, sets rlimits, drops to the job's user and execs
ipykernel. Standard library only: it runs by path, before any package is importable.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
import sys
from pathlib import Path
from typing import Any

TEMP_DIRS = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")


def _outermost(paths: list[Path]) -> list[str]:
    """The existing paths that are not inside another of them (each is bound once, parents before children)."""
    paths = sorted({p for p in paths if p.exists()}, key=lambda p: (len(p.parts), str(p)))
    kept: list[Path] = []
    for p in paths:
        if not any(p.is_relative_to(k) for k in kept):
            kept.append(p)
    return [str(p) for p in kept]


def mount_plan(needed: list[Path], base_prefix: Path, separate_user: bool) -> list[list[Any]]:
    """[folder, tmpfs mode, paths bound back]: a fresh tmpfs over each temp folder (nothing of the grader's or of the
    slot's last job is left in it), and, when the kernel has its own user and the interpreter lives under a folder that
    user cannot enter (pyenv under /root, 0700), a tmpfs over that folder too. Everything in `needed` under a covered
    folder (the workdir and sockets, the venv, the course package) is bound back: a venv or a checkout may live under
    /root or /tmp."""
    covers = [[d, "1777", _outermost([p for p in needed if p.is_relative_to(d)])]
              for d in TEMP_DIRS if os.path.isdir(d)]
    top = next((p for p in [*reversed(base_prefix.parents), base_prefix] if not p.stat().st_mode & 0o001), None)
    if separate_user and top is not None and top != base_prefix:
        covers.append([str(top), "0755", _outermost([base_prefix, *(p for p in needed if p.is_relative_to(top))])])
    return covers


MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18


def _mount(src: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    b = [s.encode() if s is not None else None for s in (src, target, fstype, data)]
    if libc.mount(b[0], b[1], b[2], ctypes.c_ulong(flags), b[3]) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {target}: {os.strerror(err)}")


def _launch(spec_path: str) -> None:
    """Runs as the kernel's PID 1 (inside the namespaces when spec["ns"]): set up, drop privileges, exec ipykernel."""
    spec = json.loads(Path(spec_path).read_text())
    status: dict[str, Any] = {"proc": False, "masked": False, "rlimits": False, "user": False, "errors": []}
    status_file = open(spec["status"], "w")  # opened as root (before /tmp is covered), written after dropping root
    if spec["ns"]:
        try:
            _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing below propagates to the grader's mounts
            _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
            status["proc"] = True
            masks = [(t, os.open(src, os.O_PATH)) for t, src in spec["mask"]]  # the sources live in the job's /tmp dir
            for top, mode, keep in spec["covers"]:  # first: hiding and masking then apply to what is bound back
                fds = [os.open(p, os.O_PATH) for p in keep]  # handles on what `top` is about to cover
                _mount("tmpfs", top, "tmpfs", MS_NOSUID | MS_NODEV, f"size={spec['tmp_mb']}m,mode={mode}")
                for path, fd in zip(keep, fds):
                    os.makedirs(path, mode=0o755, exist_ok=True)
                    _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
                    os.close(fd)
            for d in filter(os.path.isdir, spec["hide"]):
                _mount("tmpfs", d, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, "size=16k,mode=0755")
            for target, fd in masks:
                if os.path.exists(target):
                    _mount(f"/proc/self/fd/{fd}", target, None, MS_BIND)
                os.close(fd)
            status["masked"] = True
        except OSError as e:
            status["errors"].append(str(e))
    try:
        for name, value in spec["limits"].items():
            soft, hard = value if isinstance(value, list) else (value, value)
            resource.setrlimit(getattr(resource, name), (soft, hard))
        status["rlimits"] = True
    except (OSError, ValueError) as e:
        status["errors"].append(f"rlimit: {e}")
    libc = ctypes.CDLL(None, use_errno=True)
    if spec["uid"] is not None:  # any failure here ends the launcher: never run the kernel as root
        os.setgroups([])
        os.setgid(spec["gid"])
        os.setuid(spec["uid"])
        status["user"] = os.getuid() == os.geteuid() == spec["uid"]
    if spec["ns"]:
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG (unshare's --kill-child): a uid change clears it
    libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS: setuid binaries cannot give root back
    with status_file:
        json.dump(status, status_file)
    os.chdir(spec["workdir"])
    os.execv(spec["argv"][0], spec["argv"])


if __name__ == "__main__" and sys.argv[1:2] == ["--launch"]:
    _launch(sys.argv[2])
