"""A sandboxed Jupyter kernel that the autograder drives from its own process.

Student code runs only in the kernel; the grader sends code and gets back plain data (JSON, numpy arrays rebuilt
from raw bytes with an allow-listed dtype). Nothing from the kernel is ever unpickled or evaluated by the grader.

As root with ``isolate=True`` the kernel is started as
``unshare --mount --net --pid --fork --kill-child -- python -I launcher.py --launch SPEC``; the launcher
(``launcher.py``) makes mounts private, remounts /proc, hides/masks files, sets rlimits, drops to the slot's own user
(``lecgrade<slot>``) and execs ipykernel. Channels are unix sockets (``transport="ipc"``), which work across the empty
network namespace. Every step is detected and degrades to a plainer kernel; ``Protections`` says what was in force.
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import queue
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lecture_admin.grading import launcher
from lecture_admin.grading.processes import ensure_user, kill_all, seed_matplotlib_cache, unshare_exe
from lecture_admin.grading.protocol import (
    KERNEL_DIED,
    MASKED_ENAME,
    PRELUDE,
    TIMED_OUT,
    CellResult,
    NonceLines,
    Reply,
    decode,
    encode,
)

__all__ = ["KERNEL_DIED", "MASKED_ENAME", "TIMED_OUT", "CellResult", "Protections", "Reply", "SandboxConfig",
           "SandboxKernel"]

STDOUT_CAP = 20_000  # characters of a cell's stdout kept by run_cell
MAX_MSG = 64 << 20  # zmq drops any single message from the kernel larger than this (grader memory guard)
ENV_PASSTHROUGH = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "ATEN_CPU_CAPABILITY", "NPY_DISABLE_CPU_FEATURES")

# The kernel must run the grader's Python and packages, and import the very lecture_utils the grader masked
# (a second copy, e.g. a checkout on the kernel's path, would be unmasked) and no lecture_admin at all.
VERSIONS_EXPR = ("(lambda s, m, u: [s.version, s.prefix] + [m.version(p) if u.find_spec(p) else None"
                 " for p in ('numpy', 'torch')] + [getattr(u.find_spec('lecture_utils'), 'origin', None),"
                 " getattr(u.find_spec('lecture_admin'), 'origin', None)])(__import__('sys'),"
                 " __import__('importlib.metadata').metadata, __import__('importlib.util').util)")


@dataclass
class SandboxConfig:
    # RLIMIT_AS (address space), not RLIMIT_DATA: DATA does not count shared anonymous mmaps (mmap.mmap(-1, n)),
    # so it can be bypassed. Measured here: python + ipykernel + numpy + torch after a 200-step Adam loop on a small
    # MLP has VmSize ~0.7 GB single-threaded; an idle kernel with both imported ~0.8 GB (MALLOC_ARENA_MAX=2 below).
    memory_mb: int = 1536
    cpu_seconds: int = 600  # RLIMIT_CPU (SIGXCPU, then SIGKILL 5 s later)
    file_mb: int = 64  # RLIMIT_FSIZE
    nproc: int = 256  # RLIMIT_NPROC, per user: only set when the kernel has a user of its own
    hide: tuple[Path, ...] = ()  # directories that appear empty (read-only tmpfs) in the kernel
    mask: dict[Path, str] = field(default_factory=dict)  # python file -> ImportError message on import
    isolate: bool = True  # False: plain kernel with rlimits only (protocol tests)
    expose: tuple[Path, ...] = ()  # folders the kernel needs even if they sit under a covered /tmp (the course)


@dataclass
class Protections:
    user: str | None = None
    network: bool = False
    pid_namespace: bool = False
    mount_namespace: bool = False
    masked: bool = False
    rlimits: bool = False

    def missing(self) -> list[str]:
        names = {"separate user": self.user is not None, "network isolation": self.network,
                 "PID namespace": self.pid_namespace, "mount namespace": self.mount_namespace,
                 "hidden/masked files": self.masked, "resource limits": self.rlimits}
        return [name for name, ok in names.items() if not ok]


class SandboxKernel:
    def __init__(self, workdir: Path, config: SandboxConfig, slot: int | None = None,
                 python: str = sys.executable) -> None:
        """slot: the job user lecgrade<slot>; None takes the first slot no grader on this machine holds."""
        self.workdir, self.config, self.python = Path(workdir).resolve(), config, python
        self.slot, self._any_slot = (slot or 0), slot is None
        self.protections: Protections | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._kc: Any = None
        self._uid: int | None = None
        self._lock: Any = None  # flock on the slot, held while the job runs
        self._dirs: list[Path] = []

    def __enter__(self) -> SandboxKernel:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def start(self) -> Protections:
        """Launch the kernel (cwd = workdir); on any failure nothing of the job is left running."""
        if self._proc is not None:
            raise RuntimeError("sandbox kernel already started")
        try:
            self.protections = self._start()
        except BaseException:
            self.shutdown()
            raise
        self._preflight()
        return self.protections

    def _start(self) -> Protections:
        import zmq
        from jupyter_client.blocking import BlockingKernelClient
        from jupyter_client.connect import write_connection_file

        cfg, root = self.config, os.geteuid() == 0
        if self._any_slot and cfg.isolate and root:
            self.slot = self._free_slot()
        user = ensure_user(self.slot) if cfg.isolate and root else None
        unshare = unshare_exe() if cfg.isolate and root else None
        self._uid = user.pw_uid if user else None
        if user:
            if self._lock is None:  # _free_slot() hands over the lock it took: no race between picking and using
                self._lock_slot()
            kill_all(user.pw_uid, None)  # leftovers of an earlier job in this slot
        jobdir = Path(tempfile.mkdtemp(prefix="lecgrade-job-"))  # grader only (0700)
        sockdir = Path(tempfile.mkdtemp(prefix="lecgrade-ipc-"))  # the kernel's sockets and runtime files
        self._dirs = [jobdir, sockdir]
        conn, _ = write_connection_file(str(sockdir / "kernel.json"), ip=str(sockdir / "k"), transport="ipc")
        seed_matplotlib_cache(sockdir / "mpl")  # else every kernel rebuilds the font list (~10 s)
        if user:
            inside = [os.path.join(d, n) for d, dirs, files in os.walk(self.workdir) for n in dirs + files]
            for path in [sockdir, sockdir / "kernel.json", sockdir / "mpl", *(sockdir / "mpl").iterdir(), self.workdir,
                         *inside]:  # never through a symlink
                os.chown(path, user.pw_uid, user.pw_gid, follow_symlinks=False)
            self.workdir.chmod(0o700)
        masks, hide = [], [str(p) for p in cfg.hide]
        for i, (target, message) in enumerate(cfg.mask.items()):
            src = jobdir / f"mask{i}.py"
            src.write_text(f"class {MASKED_ENAME}(ImportError):\n    pass\n\n\nraise {MASKED_ENAME}({message!r})\n")
            src.chmod(0o644)
            masks.append([str(target), str(src)])
            if (Path(target).parent / "__pycache__").is_dir():  # else its .pyc could still be loaded
                hide.append(str(Path(target).parent / "__pycache__"))
        # What the kernel needs from under a covered folder comes back (launcher.mount_plan): its workdir and sockets,
        # the venv, and the course package (a CI clone may live in /tmp, a venv under /root).
        course = importlib.util.find_spec("lecture_utils")  # the student layer the preflight checks, wherever it is
        course_dir = [Path(course.origin).resolve().parent] if course and course.origin else []
        needed = [self.workdir, sockdir, Path(sys.prefix).resolve(), *course_dir,
                  *(Path(p).resolve() for p in cfg.expose)]
        covers = launcher.mount_plan(needed, Path(sys.base_prefix).resolve(), separate_user=user is not None)
        limits = {"RLIMIT_AS": cfg.memory_mb << 20, "RLIMIT_FSIZE": cfg.file_mb << 20, "RLIMIT_CORE": 0,
                  "RLIMIT_CPU": [cfg.cpu_seconds, cfg.cpu_seconds + 5]}
        if user:
            limits["RLIMIT_NPROC"] = cfg.nproc
        spec = {"ns": unshare is not None, "covers": covers, "tmp_mb": 4 * cfg.file_mb, "hide": hide, "mask": masks,
                "limits": limits, "workdir": str(self.workdir), "uid": user.pw_uid if user else None,
                "gid": user.pw_gid if user else None, "status": str(jobdir / "status.json"),
                "argv": [self.python, "-m", "ipykernel_launcher", "-f", conn, "--HistoryManager.enabled=False"]}
        (jobdir / "spec.json").write_text(json.dumps(spec))
        argv = [self.python, "-I", os.path.abspath(launcher.__file__), "--launch", str(jobdir / "spec.json")]
        if unshare:
            argv = [unshare, "--mount", "--net", "--pid", "--ipc", "--uts", "--fork", "--kill-child", "--", *argv]
        # MALLOC_ARENA_MAX=2: glibc otherwise reserves a 64 MB arena per thread, which counts against RLIMIT_AS
        # (idle kernel with numpy + torch: VmSize 1.38 GB -> 0.79 GB; RSS ~250-280 MB either way).
        env = {"PATH": f"{os.path.dirname(self.python)}:/usr/local/bin:/usr/bin:/bin", "HOME": str(self.workdir),
               "MALLOC_ARENA_MAX": "2",
               "LANG": "C.UTF-8", "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
               "OPENBLAS_NUM_THREADS": "1", "IPYTHONDIR": str(sockdir / "ipython"), "JUPYTER_RUNTIME_DIR": str(sockdir),
               "MPLCONFIGDIR": str(sockdir / "mpl")} | {k: os.environ[k] for k in ENV_PASSTHROUGH if k in os.environ}
        with open(jobdir / "kernel.log", "wb") as log:
            self._proc = subprocess.Popen(argv, cwd=jobdir, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True)
        ctx = zmq.Context()
        ctx.setsockopt(zmq.MAXMSGSIZE, MAX_MSG)
        ctx.setsockopt(zmq.LINGER, 0)  # never block on close (or in a garbage-collected context) for a dead kernel
        self._kc = BlockingKernelClient(context=ctx)
        self._kc.load_connection_file(conn)
        self._kc.start_channels(stdin=False, hb=False)
        self._wait_ready(60.0)
        status = json.loads((jobdir / "status.json").read_text())
        return Protections(user=user.pw_name if user and status["user"] else None, network=bool(unshare),
                           pid_namespace=bool(unshare) and status["proc"], mount_namespace=bool(unshare),
                           masked=bool(unshare) and status["masked"], rlimits=status["rlimits"])

    def _free_slot(self, max_slots: int = 32) -> int:
        for slot in range(max_slots):
            self.slot = slot
            try:
                self._lock_slot()
            except RuntimeError:
                continue
            return slot  # the lock stays held: start() uses it
        raise RuntimeError(f"all {max_slots} sandbox slots are in use")

    def _lock_slot(self) -> None:
        """One job per slot user on this machine: another grader process holding the slot is an error, not a kill."""
        locks = Path(tempfile.gettempdir(), "lecgrade-slots")
        locks.mkdir(mode=0o700, exist_ok=True)
        if locks.is_symlink() or locks.stat().st_uid != os.geteuid() or locks.stat().st_mode & 0o077:
            raise RuntimeError(f"{locks} is not a private directory of the grader")
        self._lock = open(locks / f"slot{self.slot}.lock", "w")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            self._lock = None
            raise RuntimeError(f"sandbox slot {self.slot} is in use by another grader process") from None

    def _wait_ready(self, timeout: float) -> None:
        """An empty cell that reaches idle proves that both shell and iopub are connected."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._alive():
                raise RuntimeError(f"sandbox kernel exited during start: {self._log_tail()}")
            if self._wait(self._kc.execute("", store_history=False), 1.0, None)[0] == "ok":
                return
        raise RuntimeError(f"sandbox kernel did not answer within {timeout:g} s: {self._log_tail()}")

    def _preflight(self) -> None:
        reply = self.evaluate(VERSIONS_EXPR, timeout=60)
        mine = eval(VERSIONS_EXPR)  # our own constant, never kernel output
        if reply.ok and isinstance(reply.value, list) and len(reply.value) == len(mine):
            admin = mine[-1] and Path(mine[-1]).parent
            hidden = admin and any(Path(h).resolve() == admin.resolve() for h in self.config.hide)
            if (hidden and self.protections and self.protections.mount_namespace) or reply.value[-1] is None:
                mine = [*mine[:-1], None]  # hidden: the instructor's package must not be importable at all
        if not reply.ok or reply.value != mine:
            self.shutdown()
            raise RuntimeError(f"sandbox kernel differs from the grader: {reply.value or reply.error} != {mine}")

    def _log_tail(self) -> str:
        try:
            return (self._dirs[0] / "kernel.log").read_bytes()[-400:].decode(errors="replace").replace("\n", " | ")
        except (OSError, IndexError):
            return ""

    def _alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _wait(self, msg_id: str, timeout: float, on_stdout: Any) -> tuple[str, str, str]:
        """Read iopub until the request is idle: ("ok"|"error"|"timeout"|"dead", ename, evalue)."""
        deadline, ename, evalue = time.monotonic() + timeout, "", ""
        while (left := deadline - time.monotonic()) > 0:
            try:
                msg = self._kc.get_iopub_msg(timeout=min(left, 0.2))
            except queue.Empty:
                if not self._alive():
                    return "dead", ename, evalue
                continue
            except Exception:  # a message the session cannot parse or verify
                continue
            if not isinstance(msg.get("parent_header"), dict) or msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg.get("msg_type"), msg.get("content") or {}
            if kind == "stream" and content.get("name") == "stdout" and on_stdout:
                on_stdout(str(content.get("text", "")))
            elif kind == "error":
                ename, evalue = str(content.get("ename", ""))[:200], str(content.get("evalue", ""))[:2000]
            elif kind == "status" and content.get("execution_state") == "idle":
                while True:  # drop the shell replies; iopub has told us everything
                    try:
                        self._kc.get_shell_msg(timeout=0)
                    except Exception:
                        break
                return ("error" if ename else "ok"), ename, evalue
        return "timeout", ename, evalue

    def _execute(self, code: str, timeout: float, on_stdout: Any) -> tuple[str, str, str]:
        if not self._alive():
            return "dead", "", ""
        msg_id = self._kc.execute(code, store_history=False, allow_stdin=False, stop_on_error=False)
        state, ename, evalue = self._wait(msg_id, timeout, on_stdout)
        if state == "timeout":  # interrupt; a kernel that stays busy is killed (then "dead" until restart())
            try:
                os.killpg(self._proc.pid, signal.SIGINT)  # `unshare` blocks SIGINT, the kernel gets it
            except ProcessLookupError:
                pass
            if self._wait(msg_id, 5.0, None)[0] not in ("ok", "error"):
                self._stop_processes()
        return state, ename, evalue

    def run_cell(self, code: str, timeout: float) -> CellResult:
        out: list[str] = []

        def keep(text: str) -> None:
            room = STDOUT_CAP - sum(map(len, out))
            if room > 0:
                out.append(text if len(text) <= room else text[:room] + "\n[... output truncated]")

        state, ename, evalue = self._execute(code, timeout, keep)
        return CellResult(state, ename, evalue, "".join(out))  # type: ignore[arg-type]

    def evaluate(self, expr: str, timeout: float, max_bytes: int = 2_000_000, env: dict | None = None) -> Reply:
        names = list(env or {})
        if not all(isinstance(n, str) and n.isidentifier() for n in names):
            raise ValueError(f"env names must be identifiers: {names}")
        env_json = json.dumps({k: encode(v) for k, v in (env or {}).items()})
        nonce = secrets.token_hex(16)
        if not self._alive():
            return Reply(False, None, "kernel died", KERNEL_DIED)
        # The inputs go in a file, not in the cell (IPython takes ~2 s per MB of cell source). The directory is the
        # job user's: O_EXCL|O_NOFOLLOW so that a planted symlink cannot redirect this root write.
        env_file = self._dirs[1] / f"env-{nonce}.json"
        fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with open(fd, "w") as f:
            f.write(env_json)
        lines = NonceLines(nonce, max_bytes)
        code = PRELUDE + f"__lecgrade_eval(globals(), {nonce!r}, {expr!r}, {str(env_file)!r})\ndel __lecgrade_eval\n"
        state, ename, evalue = self._execute(code, timeout, lines.feed)
        lines.finish()
        if state in ("timeout", "dead"):
            if state == "timeout":
                return Reply(False, None, f"timed out after {timeout:g} s", TIMED_OUT)
            return Reply(False, None, "kernel died", KERNEL_DIED)
        if lines.count > 1:
            return Reply(False, None, "more than one reply line carries the nonce")
        if lines.too_large:
            return Reply(False, None, f"reply larger than {max_bytes} bytes")
        if not lines.lines:
            return Reply(False, None, "reply missing" + (f" ({ename}: {evalue})" if ename else "")[:300], ename)
        try:
            msg = json.loads(lines.lines[0])
            if msg["ok"] is True:
                return Reply(True, decode(msg["value"]))
            ename, evalue = str(msg["ename"])[:100], str(msg["evalue"])
        except Exception:  # malformed in any way (bad JSON, missing keys, bad array, too deep)
            return Reply(False, None, "malformed reply")
        first = (evalue.splitlines() or [""])[0]
        return Reply(False, None, f"{ename}: {first}"[:300] if first else ename, ename)

    def peak_rss_mb(self) -> float:
        """The largest peak resident memory (VmHWM) among the job's processes now alive, in MB."""
        import psutil

        if self._proc is None:
            return 0.0
        peak = 0.0
        try:
            for p in psutil.Process(self._proc.pid).children(recursive=True):
                try:
                    with open(f"/proc/{p.pid}/status") as f:
                        hwm = next((ln for ln in f if ln.startswith("VmHWM:")), "VmHWM: 0 kB")
                    peak = max(peak, int(hwm.split()[1]) / 1024)
                except (OSError, ValueError):
                    continue
        except psutil.Error:
            pass
        return peak

    def restart(self) -> None:
        self.shutdown()
        self.start()

    def _stop_processes(self) -> None:
        if self._proc is None:
            return
        try:
            os.killpg(self._proc.pid, signal.SIGKILL)  # unshare + the kernel; PID-ns children die with the kernel
        except ProcessLookupError:
            pass
        self._proc.wait(timeout=30)
        left = kill_all(self._uid, self._proc.pid)
        if left:
            raise RuntimeError(f"sandbox processes survived shutdown: {left}")

    def shutdown(self) -> None:
        try:
            self._stop_processes()
        finally:
            if self._kc is not None:
                self._kc.stop_channels()
                self._kc.context.destroy(linger=0)
            for d in self._dirs:
                shutil.rmtree(d, ignore_errors=True)
            if self._lock is not None:
                self._lock.close()
            self._proc, self._kc, self._dirs, self._lock = None, None, [], None
