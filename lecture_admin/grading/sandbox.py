"""A sandboxed Jupyter kernel that the autograder drives from its own process.

Student code runs only in the kernel; the grader sends code and gets back plain data (JSON, numpy arrays rebuilt
from raw bytes with an allow-listed dtype). Nothing from the kernel is ever unpickled or evaluated by the grader.

As root with ``isolate=True`` the kernel is started as
``unshare --mount --net --pid --fork --kill-child -- python -I sandbox.py --launch SPEC``; the launcher (this file's
``_launch``) makes mounts private, remounts /proc, hides/masks files, sets rlimits, drops to the slot's own user
(``lecgrade<slot>``) and execs ipykernel. Channels are unix sockets (``transport="ipc"``), which work across the empty
network namespace. Every step is detected and degrades to a plainer kernel; ``Protections`` says what was in force.
"""

from __future__ import annotations

import base64
import ctypes
import fcntl
import functools
import importlib.util
import json
import math
import os
import pwd
import queue
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

DTYPES = frozenset({"|b1", "|i1", "|u1", "<i2", "<u2", "<i4", "<u4", "<i8", "<u8", "<f2", "<f4", "<f8"})
STDOUT_CAP = 20_000  # characters of a cell's stdout kept by run_cell
MAX_MSG = 64 << 20  # zmq drops any single message from the kernel larger than this (grader memory guard)
ENV_PASSTHROUGH = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "ATEN_CPU_CAPABILITY", "NPY_DISABLE_CPU_FEATURES")
# One expression, evaluated by the grader and (as a request) by the kernel: interpreter and package versions.
# Typed outcomes (Reply.ename): a masked course module, a dead kernel, a call that timed out.
MASKED_ENAME = "CourseAnswerUnavailable"
KERNEL_DIED = "KernelDied"
TIMED_OUT = "TimedOut"

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


@dataclass
class CellResult:
    status: Literal["ok", "error", "timeout", "dead"]
    ename: str = ""
    evalue: str = ""
    stdout: str = ""


@dataclass
class Reply:
    ok: bool
    value: object = None
    error: str = ""
    ename: str = ""


# Sent before every evaluate request; runs in the kernel, uses only json/base64/numpy.
_PRELUDE = r'''
def __lecgrade_eval(__g, __nonce, __expr, __env_file):
    import base64, json, os
    import numpy as np

    def dec(o):
        if isinstance(o, list):
            return [dec(x) for x in o]
        if isinstance(o, dict) and "__ndarray__" in o:
            raw = base64.b64decode(o["__ndarray__"])
            return np.frombuffer(raw, dtype=np.dtype(o["dtype"])).reshape(o["shape"]).copy()
        if isinstance(o, dict):
            return {k: dec(v) for k, v in o.items()}
        return o

    def enc(v):
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        if type(v).__module__.split(".")[0] == "torch" and hasattr(v, "detach"):
            v = v.detach().cpu().numpy()
        if isinstance(v, np.generic) and v.dtype.kind in "biuf":
            return v.item()
        if isinstance(v, np.ndarray) and v.dtype.kind in "biuf":
            a = v.astype(v.dtype.newbyteorder("<"), copy=False)  # tobytes() is C order
            return {"__ndarray__": base64.b64encode(a.tobytes()).decode(), "dtype": a.dtype.str,
                    "shape": list(a.shape)}
        if isinstance(v, (list, tuple)):
            return [enc(x) for x in v]
        if isinstance(v, dict) and all(isinstance(k, str) for k in v) and "__ndarray__" not in v:
            return {k: enc(x) for k, x in v.items()}
        raise TypeError(f"cannot return a value of type {type(v).__name__}" + (
            f" with dtype {v.dtype}" if hasattr(v, "dtype") else ""))

    try:
        ns = dict(__g)
        with open(__env_file) as f:
            ns.update(dec(json.load(f)))
        os.remove(__env_file)
        out = {"ok": True, "value": enc(eval(__expr, ns))}
    except Exception as e:
        out = {"ok": False, "ename": type(e).__name__, "evalue": str(e)[:2000]}
    print("\n" + __nonce + " " + json.dumps(out), flush=True)
'''


def _encode(v: Any, depth: int = 0) -> Any:
    """Grader side: a plain value for the kernel's `env` (strict)."""
    if depth > 50:
        raise ValueError("env value nested too deeply")
    if isinstance(v, np.generic) and v.dtype.kind in "biuf":
        v = v.item()
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, np.ndarray) and v.dtype.newbyteorder("<").str in DTYPES:
        a = v.astype(v.dtype.newbyteorder("<"), copy=False)  # tobytes() is C order
        return {"__ndarray__": base64.b64encode(a.tobytes()).decode(), "dtype": a.dtype.str, "shape": list(a.shape)}
    if isinstance(v, (list, tuple)):
        return [_encode(x, depth + 1) for x in v]
    if isinstance(v, dict) and all(isinstance(k, str) for k in v) and "__ndarray__" not in v:
        return {k: _encode(x, depth + 1) for k, x in v.items()}
    raise TypeError(f"env cannot hold a {type(v).__name__}")


def _decode(o: Any, depth: int = 0) -> Any:
    """Grader side: rebuild a value from the kernel's JSON, checking every array."""
    if depth > 100:
        raise ValueError("nested too deeply")
    if isinstance(o, int) and not isinstance(o, bool) and not -(2**63) <= o < 2**63:
        raise ValueError("integer out of the int64 range")
    if o is None or isinstance(o, (bool, int, float, str)):
        return o
    if isinstance(o, list):
        return [_decode(x, depth + 1) for x in o]
    if not isinstance(o, dict):
        raise TypeError(type(o).__name__)
    if "__ndarray__" not in o:
        return {k: _decode(v, depth + 1) for k, v in o.items()}
    shape = o.get("shape")
    if set(o) != {"__ndarray__", "dtype", "shape"} or o["dtype"] not in DTYPES or not isinstance(shape, list):
        raise ValueError("bad array header")
    if not all(type(n) is int and n >= 0 for n in shape) or not isinstance(o["__ndarray__"], str):
        raise ValueError("bad array shape")
    raw = base64.b64decode(o["__ndarray__"], validate=True)
    dtype = np.dtype(o["dtype"])
    if len(raw) != dtype.itemsize * math.prod(shape):
        raise ValueError("array byte length does not match its shape")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


class _NonceLines:
    """Streams stdout text; keeps the lines that start with `<nonce> ` (bounded memory)."""

    def __init__(self, nonce: str, max_bytes: int) -> None:
        self.prefix, self.limit = nonce + " ", max_bytes + len(nonce) + 1
        self.partial, self.skipping = "", False
        self.lines: list[str] = []
        self.count, self.too_large = 0, False

    def feed(self, text: str) -> None:
        *complete, self.partial = (self.partial + text).split("\n")
        for line in complete:
            if self.skipping:  # the rest of an over-long line
                self.skipping = False
            elif line.startswith(self.prefix):
                self.count += 1
                if len(line.encode()) > self.limit:
                    self.too_large = True
                else:
                    self.lines.append(line[len(self.prefix):])
        if len(self.partial) > self.limit:
            if not self.skipping and self.partial.startswith(self.prefix):
                self.count, self.too_large = self.count + 1, True
            self.partial, self.skipping = "", True

    def finish(self) -> None:
        self.feed("\n")


def _procs(uid: int | None, pgid: int | None) -> list[int]:
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


def _kill_all(uid: int | None, pgid: int | None) -> list[int]:
    """SIGKILL the job's processes until none is left (5 s at most); returns those still alive."""
    for _ in range(50):
        pids = _procs(uid, pgid)
        if not pids:
            return []
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.1)
    return _procs(uid, pgid)


def _ensure_user(slot: int) -> pwd.struct_passwd | None:
    name = f"lecgrade{slot}"
    for attempt in range(2):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            if attempt == 0 and shutil.which("useradd"):
                subprocess.run(["useradd", "--system", "--no-create-home", "--user-group",
                                "--shell", "/usr/sbin/nologin", name], capture_output=True, timeout=60)
    return None


@functools.cache
def _seed_matplotlib_cache(dest: Path) -> None:
    """Copy the grader's matplotlib font list (built once, here) into the kernel's config dir."""
    dest.mkdir(exist_ok=True)
    try:
        import matplotlib
        from matplotlib import font_manager  # noqa: F401 - builds the grader's font list once

        for f in Path(matplotlib.get_cachedir()).glob("fontlist-*.json"):
            shutil.copy(f, dest / f.name)
    except Exception:  # no matplotlib, or no cache: the kernel builds its own
        pass


def _unshare() -> str | None:
    """Path of `unshare` if it can create the namespaces we need here."""
    exe = shutil.which("unshare")
    args = ["--mount", "--net", "--pid", "--fork", "--kill-child", "true"]
    try:
        return exe if exe and subprocess.run([exe, *args], capture_output=True, timeout=30).returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


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
        user = _ensure_user(self.slot) if cfg.isolate and root else None
        unshare = _unshare() if cfg.isolate and root else None
        self._uid = user.pw_uid if user else None
        if user:
            if self._lock is None:  # _free_slot() hands over the lock it took: no race between picking and using
                self._lock_slot()
            _kill_all(user.pw_uid, None)  # leftovers of an earlier job in this slot
        jobdir = Path(tempfile.mkdtemp(prefix="lecgrade-job-"))  # grader only (0700)
        sockdir = Path(tempfile.mkdtemp(prefix="lecgrade-ipc-"))  # the kernel's sockets and runtime files
        self._dirs = [jobdir, sockdir]
        conn, _ = write_connection_file(str(sockdir / "kernel.json"), ip=str(sockdir / "k"), transport="ipc")
        _seed_matplotlib_cache(sockdir / "mpl")  # else every kernel rebuilds the font list (~10 s)
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
        # Fresh tmpfs over these in the kernel, with the listed paths bound back: a private /tmp (nothing left for the
        # next job of this slot), and, if the interpreter lives under a directory the job user cannot enter (here
        # pyenv under /root, 0700), that directory hidden except for the interpreter's prefix.
        # What the kernel needs from under a covered folder comes back: its workdir and sockets, the venv, and
        # `expose` (the course package, when the checkout itself lives in /tmp, as a CI clone may).
        course = importlib.util.find_spec("lecture_utils")  # the student layer the preflight checks, wherever it is
        course_dir = [Path(course.origin).resolve().parent] if course and course.origin else []
        needed = [self.workdir, sockdir, Path(sys.prefix).resolve(), *course_dir,
                  *(Path(p).resolve() for p in cfg.expose)]
        covers = [[d, "1777", [str(p) for p in needed if p.is_relative_to(d) and p.exists()]]
                  for d in ("/tmp", "/var/tmp", "/dev/shm", "/run/lock") if os.path.isdir(d)]
        base = Path(sys.base_prefix)
        top = next((p for p in [*reversed(base.parents), base] if not p.stat().st_mode & 0o001), None)
        if user and top and top != base:
            covers.append([str(top), "0755", [str(base)]])
        limits = {"RLIMIT_AS": cfg.memory_mb << 20, "RLIMIT_FSIZE": cfg.file_mb << 20, "RLIMIT_CORE": 0,
                  "RLIMIT_CPU": [cfg.cpu_seconds, cfg.cpu_seconds + 5]}
        if user:
            limits["RLIMIT_NPROC"] = cfg.nproc
        spec = {"ns": unshare is not None, "covers": covers, "tmp_mb": 4 * cfg.file_mb, "hide": hide, "mask": masks,
                "limits": limits, "workdir": str(self.workdir), "uid": user.pw_uid if user else None,
                "gid": user.pw_gid if user else None, "status": str(jobdir / "status.json"),
                "argv": [self.python, "-m", "ipykernel_launcher", "-f", conn, "--HistoryManager.enabled=False"]}
        (jobdir / "spec.json").write_text(json.dumps(spec))
        argv = [self.python, "-I", os.path.abspath(__file__), "--launch", str(jobdir / "spec.json")]
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
        env_json = json.dumps({k: _encode(v) for k, v in (env or {}).items()})
        nonce = secrets.token_hex(16)
        if not self._alive():
            return Reply(False, None, "kernel died", KERNEL_DIED)
        # The inputs go in a file, not in the cell (IPython takes ~2 s per MB of cell source). The directory is the
        # job user's: O_EXCL|O_NOFOLLOW so that a planted symlink cannot redirect this root write.
        env_file = self._dirs[1] / f"env-{nonce}.json"
        fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with open(fd, "w") as f:
            f.write(env_json)
        lines = _NonceLines(nonce, max_bytes)
        code = _PRELUDE + f"__lecgrade_eval(globals(), {nonce!r}, {expr!r}, {str(env_file)!r})\ndel __lecgrade_eval\n"
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
                return Reply(True, _decode(msg["value"]))
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
        left = _kill_all(self._uid, self._proc.pid)
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
