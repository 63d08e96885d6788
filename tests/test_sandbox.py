"""lecture_admin.grading.sandbox: the evaluate codec and protocol (plain kernel) and the isolation (root + unshare)."""

from __future__ import annotations

import os
import py_compile
import shutil
import socket
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from lecture_admin.grading import processes, protocol, sandbox
from lecture_admin.grading.sandbox import Reply, SandboxConfig, SandboxKernel

ISOLATION = os.geteuid() == 0 and processes.unshare_exe() is not None
ROOT = Path(__file__).resolve().parent.parent
SLOT = 40  # slots (users lecgrade40...) that other graders on this machine are unlikely to hold
needs_isolation = pytest.mark.skipif(not ISOLATION, reason="needs root and a working `unshare` (namespaces)")


@pytest.fixture
def tmpdirs():
    """Fresh directories under /tmp (the job user must be able to reach a workdir; pytest's tmp_path is 0700)."""
    made: list[Path] = []

    def make(mode: int = 0o755) -> Path:
        made.append(Path(tempfile.mkdtemp(prefix="sandbox-test-")))
        made[-1].chmod(mode)
        return made[-1]

    yield make
    for d in made:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def plain():
    work = Path(tempfile.mkdtemp(prefix="sandbox-test-"))
    with SandboxKernel(work, SandboxConfig(isolate=False)) as kernel:
        kernel.run_cell("import numpy as np", timeout=30)
        yield kernel
    shutil.rmtree(work)


# ---- codec and protocol (plain kernel) ----

ARRAYS = [np.arange(6.0).reshape(2, 3), np.float32([1.5, -2]), np.float16([[0.5]]), np.arange(24).reshape(2, 3, 4),
          np.int32([-1, 7]), np.int8([-128, 127]), np.uint8([0, 255]), np.uint64([2**64 - 1]), np.array([True, False]),
          np.zeros((0, 3)), np.array(3.25), np.arange(10.0)[::3], np.array([1, 2], dtype=">i4")]


def test_codec_round_trips_arrays_and_nested_values(plain):
    for a in ARRAYS:
        reply = plain.evaluate("a", timeout=10, env={"a": a})
        assert reply.ok, reply.error
        assert reply.value.dtype == a.dtype.newbyteorder("<") and reply.value.shape == a.shape
        np.testing.assert_array_equal(reply.value, a)
    nested = {"xs": [1, 2.5, None, True, "s", [np.float64(2.0), np.arange(3)]], "d": {"k": np.ones((2, 2), bool)}}
    reply = plain.evaluate("(nested, n + 1)", timeout=10, env={"nested": nested, "n": 41})
    assert reply.ok and reply.value[1] == 42
    got = reply.value[0]
    assert got["xs"][:5] == [1, 2.5, None, True, "s"] and got["xs"][5][0] == 2.0
    np.testing.assert_array_equal(got["xs"][5][1], np.arange(3))
    np.testing.assert_array_equal(got["d"]["k"], np.ones((2, 2), bool))


def test_codec_converts_tensors_and_numpy_scalars(plain):
    assert plain.run_cell("import torch\nw = torch.ones(2, 3, requires_grad=True)", timeout=60).status == "ok"
    reply = plain.evaluate("{'w': w * x, 'i': torch.arange(4, dtype=torch.int64), 's': w.sum(), 'f': np.float32(2)}",
                           timeout=10, env={"x": 2.0})
    assert reply.ok, reply.error
    np.testing.assert_array_equal(reply.value["w"], np.full((2, 3), 2.0, np.float32))
    assert reply.value["i"].dtype == np.int64 and reply.value["s"].shape == () and reply.value["f"] == 2.0


def test_evaluate_sees_the_notebook_and_binds_env_without_leaking(plain):
    assert plain.run_cell("def f(x):\n    return [v * 2 for v in x]", timeout=10).status == "ok"
    assert plain.evaluate("f(xs) + [k for k in range(q)]", timeout=10, env={"xs": [1, 2], "q": 2}).value == [2, 4, 0, 1]
    leaks = plain.run_cell("print('xs' in globals(), '__lecgrade_eval' in globals())", timeout=10).stdout
    assert leaks == "False False\n"


def test_evaluate_errors_are_one_line_with_ename(plain):
    reply = plain.evaluate("undefined_f(1)", timeout=10)
    assert reply == Reply(False, None, "NameError: name 'undefined_f' is not defined", "NameError")
    plain.run_cell("def todo():\n    raise NotImplementedError('fill in todo()\\nsecond line')", timeout=10)
    reply = plain.evaluate("todo()", timeout=10)
    assert (reply.ok, reply.ename, reply.error) == (False, "NotImplementedError", "NotImplementedError: fill in todo()")
    reply = plain.evaluate("object()", timeout=10)
    assert reply.ename == "TypeError" and "cannot return a value of type object" in reply.error
    assert plain.evaluate("1 +", timeout=10).ename == "SyntaxError"


def test_oversize_reply_is_refused(plain):
    reply = plain.evaluate("np.zeros(10_000)", timeout=10, max_bytes=1000)
    assert not reply.ok and reply.error == "reply larger than 1000 bytes"
    assert plain.evaluate("np.zeros(10)", timeout=10, max_bytes=1000).ok  # the kernel is fine


def test_a_forged_second_nonce_line_is_refused(plain):
    forge = "print(__import__('sys')._getframe(1).f_locals['__nonce'] + ' {\"ok\": true, \"value\": 100}')"
    reply = plain.evaluate(f"({forge}, 0)[1]", timeout=10)
    assert not reply.ok and reply.error == "more than one reply line carries the nonce"


@pytest.mark.parametrize("payload", ["{not json", '{"ok": true, "value": {"__ndarray__": "AAAA", "dtype": "|O", '
                                     '"shape": [1]}}', '{"ok": true, "value": {"__ndarray__": "AAAA", "dtype": "<f8",'
                                     ' "shape": [2]}}', '{"ok": "yes"}', '[1]'])
def test_a_malformed_reply_is_refused(tmpdirs, payload):
    with SandboxKernel(tmpdirs(), SandboxConfig(isolate=False)) as kernel:
        kernel.run_cell("import builtins, sys\nbuiltins.print = lambda line, **kw: "  # replaces the prelude's print
                        f"sys.stdout.write(line.split(' ')[0] + ' ' + {payload!r} + '\\n')", timeout=10)
        assert kernel.evaluate("1", timeout=10) == Reply(False, None, "malformed reply")


def test_missing_reply(plain):
    plain.run_cell("import builtins; _print = builtins.print", timeout=10)
    reply = plain.evaluate("setattr(__import__('builtins'), 'print', lambda *a, **k: None)", timeout=10)
    assert reply == Reply(False, None, "reply missing")
    plain.run_cell("builtins.print = _print", timeout=10)
    assert plain.evaluate("1", timeout=10).value == 1


def test_decoder_checks_arrays():
    ok = {"__ndarray__": "AAAAAAAA8D8=", "dtype": "<f8", "shape": [1]}
    assert protocol.decode(ok) == np.array([1.0])
    for bad in [{**ok, "dtype": "|O"}, {**ok, "shape": [2]}, {**ok, "shape": [-1]}, {**ok, "__ndarray__": "@@"},
                {**ok, "extra": 1}, {**ok, "shape": 1}]:
        with pytest.raises((ValueError, TypeError)):
            protocol.decode(bad)
    with pytest.raises(TypeError):
        protocol.encode({"f": object()})


def test_nonce_lines_stream_parser():
    lines = protocol.NonceLines("n0", max_bytes=10)
    for chunk in ["junk\nn0 {", "1}\nn0x 5\n", "n0 " + "9" * 50, "9" * 50, "\nn0 [2]"]:
        lines.feed(chunk)
    lines.finish()
    assert (lines.lines, lines.count, lines.too_large) == (["{1}", "[2]"], 3, True)


def test_run_cell_status_and_capped_stdout(plain):
    assert plain.run_cell("print('hi')", timeout=10).stdout == "hi\n"
    result = plain.run_cell("for i in range(5000):\n    print('x' * 20)", timeout=30)
    assert result.status == "ok" and len(result.stdout) <= sandbox.STDOUT_CAP + 30
    assert result.stdout.endswith("[... output truncated]")
    result = plain.run_cell("print('before'); 1 / 0", timeout=10)
    assert (result.status, result.ename, result.stdout) == ("error", "ZeroDivisionError", "before\n")


@pytest.mark.slow
def test_timeout_interrupts_or_kills_and_restart_recovers(tmpdirs):
    with SandboxKernel(tmpdirs(), SandboxConfig(isolate=False)) as kernel:
        assert kernel.run_cell("while True: pass", timeout=2).status == "timeout"
        assert kernel.run_cell("x = 1", timeout=10).status == "ok"  # SIGINT ended the loop
        assert kernel.evaluate("__import__('time').sleep(60)", timeout=1).error == "timed out after 1 s"
        stubborn = "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True: pass"
        assert kernel.run_cell(stubborn, timeout=2).status == "timeout"
        assert kernel.run_cell("x", timeout=10).status == "dead"  # killed after ignoring the interrupt
        kernel.restart()
        assert kernel.evaluate("1 + 1", timeout=10).value == 2


def test_os_exit_is_dead_then_restart(tmpdirs):
    with SandboxKernel(tmpdirs(), SandboxConfig(isolate=False)) as kernel:
        assert kernel.run_cell("import os; os._exit(1)", timeout=10).status == "dead"
        assert kernel.evaluate("1", timeout=10) == Reply(False, None, "kernel died", "KernelDied")
        kernel.restart()
        assert kernel.evaluate("1", timeout=10).value == 1


def test_fallback_reports_missing_protections(tmpdirs, monkeypatch):
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    with SandboxKernel(tmpdirs(), SandboxConfig(isolate=False)) as kernel:
        assert kernel.protections.missing() == ["separate user", "network isolation", "PID namespace",
                                                "mount namespace", "hidden/masked files"]
        connect = f"__import__('socket').create_connection(('127.0.0.1', {port}), timeout=2).close()"
        assert kernel.evaluate(connect, timeout=10).ok  # a plain kernel has the network
    monkeypatch.setattr(sandbox.os, "geteuid", lambda: 1000)  # as if the grader were not root
    with SandboxKernel(tmpdirs(), SandboxConfig(), slot=SLOT + 4) as kernel:
        assert kernel.protections.user is None and "network isolation" in kernel.protections.missing()
        assert kernel.evaluate("2 * 21", timeout=10).value == 42
    listener.close()


def test_preflight_refuses_another_interpreter(tmpdirs):
    other = "/usr/bin/python3"  # the system's Python: another interpreter than the venv's (a PATH shim may not be)
    if not Path(other).exists() or os.path.realpath(other) == os.path.realpath(sys.executable):
        pytest.skip("no second python here")
    kernel = SandboxKernel(tmpdirs(), SandboxConfig(isolate=False), python=other)
    with pytest.raises(RuntimeError, match="sandbox kernel"):
        kernel.start()
    assert kernel._proc is None


# ---- isolation (root + unshare) ----

@pytest.fixture(scope="module")
def jailed():
    """One isolated kernel with a secret root-only dir, a hidden dir and a masked module beside it (in the repo, as the
    real solutions/ would be: /tmp is private in the kernel)."""
    base = Path(tempfile.mkdtemp(prefix="sandbox-test-", dir=ROOT))
    base.chmod(0o755)
    (secret := base / "grader").mkdir(mode=0o700)
    (secret / "key.txt").write_text("s3cret")
    (hidden := base / "solutions").mkdir()
    (hidden / "answer.py").write_text("ANSWER = 42\n")
    (pkg := base / "pkg").mkdir()
    (pkg / "instructor.py").write_text("ANSWER = 42\n")
    py_compile.compile(str(pkg / "instructor.py"))  # a .pyc beside it must not be loadable either
    (work := base / "work").mkdir()
    (work / "link").symlink_to(secret / "key.txt")  # chowning the workdir must not follow it
    # expose: a checkout under /tmp (a CI clone) is otherwise covered by the kernel's private /tmp
    config = SandboxConfig(hide=(hidden,), mask={pkg / "instructor.py": "not available while grading"}, expose=(base,))
    try:
        with SandboxKernel(work, config, slot=SLOT) as kernel:
            yield kernel, base
    finally:
        shutil.rmtree(base)


@pytest.mark.slow
@needs_isolation
def test_isolated_kernel_is_fully_protected(jailed):
    kernel, base = jailed
    assert kernel.protections.missing() == [] and kernel.protections.user == f"lecgrade{SLOT}"
    ev = lambda expr: kernel.evaluate(expr, timeout=20)  # noqa: E731
    assert ev("__import__('os').getuid()").value not in (0, None)
    assert ev(f"open({str(base / 'grader' / 'key.txt')!r}).read()").ename == "PermissionError"
    assert ev("open('link').read()").ename == "PermissionError" and (base / "grader" / "key.txt").stat().st_uid == 0
    assert ev(f"__import__('os').listdir({str(base / 'solutions')!r})").value == []
    assert ev(f"__import__('os').listdir({str(base / 'pkg' / '__pycache__')!r})").value == []
    kernel.run_cell(f"import sys; sys.path.insert(0, {str(base / 'pkg')!r})", timeout=10)
    assert kernel.run_cell("import instructor", timeout=10).evalue == "not available while grading"
    home = ev("__import__('os').listdir('/root')")  # the grader's home: unreadable, or only the python prefix
    assert home.ename == "PermissionError" or len(home.value) <= 1
    assert ev("__import__('os').getpid()").value == 1  # own PID namespace
    with tempfile.NamedTemporaryFile(prefix="grader-") as f:  # the kernel's /tmp is its own
        os.chmod(f.name, 0o644)
        assert ev(f"__import__('os').path.exists({f.name!r})").value is False
    # rlimits as configured
    limits = ev("[__import__('resource').getrlimit(getattr(__import__('resource'), n))[0] for n in "
                "('RLIMIT_AS', 'RLIMIT_NPROC', 'RLIMIT_FSIZE', 'RLIMIT_CPU')]").value
    assert limits == [1536 << 20, 256, 64 << 20, 600]
    big = kernel.run_cell("open('big.bin', 'wb').write(b'0' * (65 << 20))", timeout=30)
    assert big.ename == "OSError" and "File too large" in big.evalue
    # NO_NEW_PRIVS: a setuid binary cannot give root back
    assert ev("int(open('/proc/self/status').read().split('NoNewPrivs:')[1].split()[0])").value == 1


@pytest.mark.slow
@needs_isolation
def test_isolated_kernel_has_no_network(jailed):
    kernel, _ = jailed
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    reply = kernel.evaluate(f"__import__('socket').create_connection(('127.0.0.1', {port}), timeout=2)", timeout=20)
    listener.close()
    assert not reply.ok and reply.ename in ("OSError", "ConnectionRefusedError", "TimeoutError")


@pytest.mark.slow
@needs_isolation
def test_children_and_daemons_die_with_the_job(tmpdirs):
    kernel = SandboxKernel(tmpdirs(), SandboxConfig(), slot=SLOT + 1)
    kernel.start()
    uid = kernel._uid
    kernel.run_cell("import subprocess, os\nchild = subprocess.Popen(['sleep', '1000'])\n"
                    "if os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
                    "        os.execvp('sleep', ['sleep', '1001'])\n    os._exit(0)\n"
                    "open('/tmp/left-behind.txt', 'w').write('x')", timeout=20)
    assert len(processes.procs(uid, None)) >= 3  # kernel, sleep 1000, the daemon's sleep 1001
    kernel.shutdown()
    assert processes.procs(uid, None) == [] and not os.path.exists("/tmp/left-behind.txt")


@pytest.mark.slow
@needs_isolation
@pytest.mark.parametrize("bomb", ["x = []\nwhile True:\n    x.append(bytearray(50 << 20))",
                                  "import mmap\nm = mmap.mmap(-1, 4 << 30)"])
def test_memory_bomb_only_hurts_the_kernel(tmpdirs, bomb):
    with SandboxKernel(tmpdirs(), SandboxConfig(), slot=SLOT + 4) as kernel:
        result = kernel.run_cell(bomb, timeout=60)
        assert result.status == "dead" or result.ename in ("MemoryError", "OSError"), result
        kernel.restart()
        assert kernel.evaluate("1", timeout=10).value == 1


@pytest.mark.slow
@needs_isolation
def test_timeout_and_os_exit_in_the_isolated_kernel(tmpdirs):
    with SandboxKernel(tmpdirs(), SandboxConfig(), slot=SLOT + 4) as kernel:
        assert kernel.run_cell("while True: pass", timeout=2).status == "timeout"
        assert kernel.run_cell("1", timeout=10).status == "ok"  # SIGINT reaches the kernel through unshare
        assert kernel.run_cell("import os; os._exit(1)", timeout=10).status == "dead"
        kernel.restart()
        assert kernel.protections.missing() == [] and kernel.evaluate("1", timeout=10).value == 1


@pytest.mark.slow
@needs_isolation
def test_two_slots_run_concurrently_apart(tmpdirs):
    w0, w1 = tmpdirs(), tmpdirs()
    with (SandboxKernel(w0, SandboxConfig(), slot=SLOT + 2) as k0,
          SandboxKernel(w1, SandboxConfig(), slot=SLOT + 3) as k1):
        assert {k0.protections.user, k1.protections.user} == {f"lecgrade{SLOT + 2}", f"lecgrade{SLOT + 3}"}
        with pytest.raises(RuntimeError, match="in use by another grader"):  # a busy slot is refused, not killed
            SandboxKernel(tmpdirs(), SandboxConfig(), slot=SLOT + 2).start()
        assert k0.evaluate("1", timeout=10).value == 1
        for kernel, other in [(k0, w1), (k1, w0)]:
            assert kernel.run_cell("open('mine.txt', 'w').write('x')", timeout=10).status == "ok"
            peek = kernel.evaluate(f"__import__('os').listdir({str(other)!r})", timeout=10)
            assert peek.ename in ("FileNotFoundError", "PermissionError")  # private /tmp; elsewhere 0700
        assert (w0 / "mine.txt").exists() and (w1 / "mine.txt").exists()


@pytest.mark.slow
@needs_isolation
def test_torch_training_fits_the_default_limits(tmpdirs):
    with SandboxKernel(tmpdirs(), SandboxConfig(), slot=SLOT + 4) as kernel:
        code = ("import torch\ntorch.manual_seed(0)\nnet = torch.nn.Sequential(torch.nn.Linear(8, 64), torch.nn.ReLU(),"
                " torch.nn.Linear(64, 1))\nopt = torch.optim.Adam(net.parameters(), lr=1e-2)\nfor _ in range(200):\n"
                "    x = torch.randn(64, 8); loss = (net(x) - x.sum(1, keepdim=True)).pow(2).mean()\n"
                "    opt.zero_grad(); loss.backward(); opt.step()")
        assert kernel.run_cell(code, timeout=120).status == "ok"
        assert kernel.evaluate("loss", timeout=10).value < 1.0


@needs_isolation
@pytest.mark.slow
def test_a_course_under_tmp_is_exposed_masked_and_hidden(tmpdirs):
    """A checkout in /tmp (a CI clone): the private /tmp brings back what the kernel needs (`expose`), and the
    masks and hidden folders inside it still apply."""
    course = tmpdirs()
    pkg = course / "coursepkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "answer.py").write_text("X = 42\n")
    (pkg / "helper.py").write_text("Y = 7\n")
    secret = course / "solutions"
    secret.mkdir()
    (secret / "key.txt").write_text("the answer")
    cfg = SandboxConfig(expose=(pkg,), hide=(secret,), mask={pkg / "answer.py": "write it yourself"})
    with SandboxKernel(tmpdirs(), cfg) as kernel:
        kernel.run_cell(f"import sys; sys.path.insert(0, {str(course)!r})", timeout=30)
        assert kernel.evaluate("__import__('coursepkg.helper').helper.Y", timeout=30).value == 7
        masked = kernel.evaluate("__import__('coursepkg.answer').answer.X", timeout=30)
        assert not masked.ok and masked.ename == "CourseAnswerUnavailable"
        assert kernel.evaluate(f"__import__('os').path.exists({str(secret / 'key.txt')!r})", timeout=30).value is False


def test_mount_plan_brings_back_a_venv_under_a_closed_home(tmpdirs):
    """The Gradescope venv of the client test lives in ~/.cache under /root (0700), where the interpreter's own
    prefix (pyenv) also lives: the tmpfs over /root must bind back both, or the kernel has no Python to exec."""
    from lecture_admin.grading.launcher import mount_plan

    home = tmpdirs(0o700)
    base = home / ".pyenv" / "versions" / "3.x"
    venv = home / ".cache" / "course" / "venv"
    for d in (base, venv / "lib"):
        d.mkdir(parents=True)
    work = tmpdirs()
    covers = {top: keep for top, _, keep in mount_plan([work, venv, venv / "lib"], base, separate_user=True)}
    assert sorted(covers[str(home)]) == sorted([str(base), str(venv)])  # each once, not the venv's own folders
    assert str(work) in covers["/tmp"] and str(venv) in covers["/tmp"]  # and the private /tmp brings them back too
    assert str(home) not in {top for top, _, _ in mount_plan([work, venv], base, separate_user=False)}
