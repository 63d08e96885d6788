"""Red-team attacks on the grader, written after reading it (held out from tests/test_grading.py).

One module-scoped batch (jobs=2) grades every planted submission. The class is laid out the way an LMS export
usually is, one folder per student (class/<student>/<homework>.ipynb), under a world-readable folder outside
/tmp (an instructor's course folder). Attacks the grader holds are plain tests: each cheated part scores 0 and
an honest neighbour keeps full marks. The attacks that beat the grader when they were found (an unmasked copy of
an answer, a classmate's notebook, shared memory and /run/lock outliving a job, out-of-range replies, a kernel
importing another copy of the course, a slot race) are fixed, and kept here as regression tests.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from lecture_admin.grading.grader import Limits, grade_many
from lecture_admin.grading.homework import load_homeworks
from lecture_admin.grading.results import PartStatus, Status

ROOT = Path(__file__).resolve().parent.parent
EX = ROOT / "exercises"
SEED = 73914452019
pytestmark = pytest.mark.slow

RIGHT_01 = ("def discounted_return(rewards, gamma):\n    import numpy as np\n    r = np.asarray(rewards, float)\n"
            "    return float(np.sum(gamma ** np.arange(len(r)) * r))\n")
RIGHT_02 = ("def returns_to_go(rewards, gamma):\n    import numpy as np\n    r = np.asarray(rewards, float)\n"
            "    G, out = 0.0, np.zeros(len(r))\n    for t in range(len(r) - 1, -1, -1):\n"
            "        G = r[t] + gamma * G\n        out[t] = G\n    return out\n")
WRONG_02 = "def returns_to_go(rewards, gamma):\n    return 0 * rewards\n"

# ------------------------------------------------------------------ attacks that beat the grader (xfail)

# S1: an unmasked copy of the course's answer. Homework 00 masks lecture_utils.policy_gradient (its returns-to-go),
# but lecture_utils.pretraining.reward_to_go is the same function and is importable in the kernel.
COURSE_COPY_01 = ("import torch\nfrom lecture_utils.pretraining import reward_to_go\n"
                  "def discounted_return(rewards, gamma):\n"
                  "    return float(reward_to_go(torch.as_tensor(rewards, dtype=torch.float64), gamma)[0])\n")
COURSE_COPY_02 = ("def returns_to_go(rewards, gamma):\n"
                  "    return reward_to_go(torch.as_tensor(rewards, dtype=torch.float64), gamma).numpy()\n")

# S2: copy a classmate's answer at grading time. Only the folder of the file being graded is hidden; with one folder
# per student, every other student's notebook in the same batch is readable by the kernel (0755 dirs, 0644 files).
NEIGHBOUR_01 = r'''
import json, os  # MALLORY
def _steal():
    skip = {"proc", "sys", "dev", "usr", "run", "boot", "snap", "lib", "lib32", "lib64", "bin", "sbin", "etc", "var"}
    prune = {".git", "site-packages", "node_modules", ".mirror", ".library", "solutions", "__pycache__", "exercises",
             "notebooks", ".ruff_cache", "dist-packages"}
    for top in sorted(os.path.join("/", d) for d in os.listdir("/") if d not in skip):
        for root, dirs, files in os.walk(top):
            dirs[:] = sorted(d for d in dirs if d not in prune and not d.startswith(".venv"))
            for f in files:
                if not f.endswith(".ipynb"):
                    continue
                path = os.path.join(root, f)
                grand = os.path.dirname(root)
                try:  # one folder per student: the class folder has several
                    if sum(os.path.isdir(os.path.join(grand, d)) for d in os.listdir(grand)) < 2:
                        continue
                    cells = {c.get("metadata", {}).get("nbgrader", {}).get("grade_id"): "".join(c["source"])
                             for c in json.load(open(path))["cells"]}
                    src = cells["solution_0_1"] + "\n" + cells["solution_0_2"]
                    if "NotImplementedError" in src or "MALLORY" in src:
                        continue
                    ns = {}
                    exec(src, ns)
                    if abs(ns["discounted_return"]([1.0, 1.0], 0.5) - 1.5) < 1e-9 and \
                            abs(list(ns["returns_to_go"](__import__("numpy").array([1.0, 1.0]), 0.5))[1] - 1) < 1e-9:
                        return ns
                except Exception:
                    continue
    return None
_ns = _steal()
def discounted_return(rewards, gamma):
    return _ns["discounted_return"](rewards, gamma)
'''
NEIGHBOUR_02 = "def returns_to_go(rewards, gamma):  # MALLORY\n    return _ns['returns_to_go'](rewards, gamma)\n"

# S3: state outside the sandbox that outlives the job. The kernel shares the host's IPC namespace (unshare has no
# --ipc): SysV shared memory segments survive the job (the end-of-job kill only kills processes), and hold RAM beyond
# the per-job --memory-mb (RLIMIT_AS only counts a segment while it is attached). /run/lock is world-writable, not
# covered by the private tmpfs, and keeps files for the next job.
SHM_KEY = 0x1EC6ADE
SHM_CELL = f'''
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.shmget.restype, libc.shmget.argtypes = ctypes.c_int, [ctypes.c_int, ctypes.c_size_t, ctypes.c_int]
libc.shmat.restype, libc.shmat.argtypes = ctypes.c_void_p, [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
libc.shmdt.argtypes = [ctypes.c_void_p]
SIZE = 640 << 20
for i in range(3):  # 3 x 640 MB = 1.9 GB resident, over the 1536 MB the job is given
    shmid = libc.shmget({SHM_KEY} + i, SIZE, 0o1000 | 0o600)
    addr = libc.shmat(shmid, None, 0)
    ctypes.memset(addr, 7, SIZE)
    libc.shmdt(addr)
try:
    open("/run/lock/lecgrade-leftover", "w").write("planted by a submission")
except OSError:
    pass
'''

# S4: a wrong answer that the grader reports as its own failure ("grader error ... tell the course staff"), which
# also leaves every later part ungraded. The JSON reply may carry an int of any size: the check's
# np.asarray(10**400, dtype=float) raises OverflowError, which nothing between the check and grade_submission catches.
OVERFLOW_01 = "def discounted_return(rewards, gamma):\n    return 10 ** 400\n"
# ... and homework 03's own harness for 3.4 calls the student's function outside `call`: a ValueError the student
# raises there is re-raised in the grader as a ValueError (the pass-through list) and becomes a grader error.
TD_RAISES = "def td_update(psi, s, a, phi_t, s_next, a_next, done, gamma, alpha):\n    raise ValueError('nope')\n"

# ------------------------------------------------------------------ attacks the grader holds

# H1: read the nonce from the grader's evaluation frame, print a forged "ok" reply, and kill the kernel before the
# real reply (or, for 0.2, print the forged reply and let the real one follow: two nonce lines).
FORGE_01 = r'''
def discounted_return(rewards, gamma):
    import sys, json, os
    f = sys._getframe(1)
    while f is not None and "__nonce" not in f.f_locals:
        f = f.f_back
    if f is not None:
        print("\n" + f.f_locals["__nonce"] + " " + json.dumps({"ok": True, "value": 1.0}), flush=True)
        os._exit(0)
    return 0.0
'''
FORGE_02 = r'''
def returns_to_go(rewards, gamma):
    import sys, json
    f = sys._getframe(1)
    while f is not None and "__nonce" not in f.f_locals:
        f = f.f_back
    if f is not None:
        print("\n" + f.f_locals["__nonce"] + " " + json.dumps({"ok": True, "value": [1.0] * len(rewards)}))
    return [1.0] * len(rewards)
'''

# H2: values that might confuse the codec or the comparison: NaN, a numpy subclass whose repr/tolist lie, a string,
# a fake array header, -0.0 for every entry (the reference is never exactly zero).
ODD_01 = "def discounted_return(rewards, gamma):\n    return float('nan')\n"
ODD_02 = r'''
import numpy as np
class Liar(np.ndarray):
    def __repr__(self): return "array([1.0])"
    def tolist(self): return [1.0]
    def __array__(self, *a, **k): return np.ones(len(self))
    def __eq__(self, other): return True
def returns_to_go(rewards, gamma):
    return np.zeros(len(rewards)).view(Liar)
'''
ODD2_01 = "def discounted_return(rewards, gamma):\n    return 'inf'\n"
ODD2_02 = ("def returns_to_go(rewards, gamma):\n    import base64\n"
           "    return {'__ndarray__': base64.b64encode(bytes(8)).decode(), 'dtype': '<f8', 'shape': [-1]}\n")

# H3: look for the grading seed and the grader's files from inside the kernel; the right answer only if one leaks.
PROBE_01 = r'''
def _leaks():
    import os, glob
    seed = "SEED_VALUE"
    found = [k for k, v in os.environ.items() if seed in v]
    for p in glob.glob("/proc/[0-9]*"):
        for name in ("cmdline", "environ"):
            try:
                if seed.encode() in open(os.path.join(p, name), "rb").read():
                    found.append(p + "/" + name)
            except OSError:
                pass
    for d in ("/tmp", "/var/tmp", "/dev/shm", os.environ.get("JUPYTER_RUNTIME_DIR", "/nonexistent"), "/run/lock"):
        for root, dirs, files in os.walk(d):
            for f in files:
                try:
                    if seed.encode() in open(os.path.join(root, f), "rb").read():
                        found.append(os.path.join(root, f))
                except OSError:
                    pass
    return found
LEAKS = _leaks()
def discounted_return(rewards, gamma):
    import numpy as np
    if not LEAKS:
        return 0.0
    r = np.asarray(rewards, float)
    return float(np.sum(gamma ** np.arange(len(r)) * r))
'''

# H4: a released check cell planted again (with grade metadata) and edited to call a fake; the grader must take the
# names from the released check cell, not the student's.
FAKE_CHECK_CELL = {"source": "fake = lambda r, g: 0\ngrade('0.2', fake)",
                   "metadata": {"nbgrader": {"grade": True, "grade_id": "check_0_2", "locked": True, "points": 5,
                                             "solution": False}}}

# student name -> homework, {grade_id: source}, extra cells (source or cell dict) after the first code cell
HW00, HW03 = "00_getting_started.ipynb", "03_successor_features.ipynb"
CLASS: dict[str, tuple[str, dict, list]] = {
    "alice_honest": (HW00, {"solution_0_1": RIGHT_01, "solution_0_2": RIGHT_02}, []),
    "s1_course_copy": (HW00, {"solution_0_1": COURSE_COPY_01, "solution_0_2": COURSE_COPY_02}, []),
    "s2_neighbour": (HW00, {"solution_0_1": NEIGHBOUR_01, "solution_0_2": NEIGHBOUR_02}, []),
    "s3_shm_leftover": (HW00, {"solution_0_1": RIGHT_01, "solution_0_2": RIGHT_02}, [SHM_CELL]),
    "s4_overflow": (HW00, {"solution_0_1": OVERFLOW_01, "solution_0_2": RIGHT_02}, []),
    "s4_td_raises": (HW03, {"solution_3_4": TD_RAISES}, []),
    "h1_forge": (HW00, {"solution_0_1": FORGE_01, "solution_0_2": FORGE_02}, []),
    "h2_odd_values": (HW00, {"solution_0_1": ODD_01, "solution_0_2": ODD_02}, []),
    "h2_odd_values2": (HW00, {"solution_0_1": ODD2_01, "solution_0_2": ODD2_02}, []),
    "h3_probe": (HW00, {"solution_0_1": PROBE_01.replace("SEED_VALUE", str(SEED)), "solution_0_2": RIGHT_02}, []),
    "h4_fake_check_and_many_cells": (HW00, {"solution_0_1": RIGHT_01, "solution_0_2": WRONG_02},
                                     [FAKE_CHECK_CELL] + [f"print({i}); x_{i} = {i}" for i in range(600)]),
}


def _submission(path: Path, hw: str, sources: dict, extra: list) -> None:
    nb = nbformat.read(EX / hw, as_version=4)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        if gid in sources:
            cell.source = sources[gid]
    first = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    for k, e in enumerate(extra):
        cell = nbformat.v4.new_code_cell(e if isinstance(e, str) else e["source"])
        if not isinstance(e, str):
            cell.metadata.update(e["metadata"])
        nb.cells.insert(first + 1 + k, cell)
    path.parent.mkdir(mode=0o755)
    nbformat.write(nb, path)
    path.chmod(0o644)


def _lecgrade_uids() -> set[int]:
    return {u.pw_uid for u in pwd.getpwall() if u.pw_name.startswith("lecgrade")}


def _sysv_shm() -> list[dict]:
    rows = Path("/proc/sysvipc/shm").read_text().splitlines()
    head = rows[0].split()
    return [dict(zip(head, r.split())) for r in rows[1:]]


def _cleanup_leftovers() -> None:
    for seg in _sysv_shm():
        if int(seg["uid"]) in _lecgrade_uids():
            subprocess.run(["ipcrm", "-m", seg["shmid"]], capture_output=True)
    Path("/run/lock/lecgrade-leftover").unlink(missing_ok=True)


@pytest.fixture(scope="module")
def graded():
    if os.geteuid() != 0:
        pytest.skip("the sandbox needs root (CI and Gradescope run as root)")
    _cleanup_leftovers()
    d = ROOT / ".redteam-class"  # an instructor's folder: outside /tmp, world-readable (umask 022)
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(mode=0o755)
    d.chmod(0o755)
    paths = []
    for name, (hw, sources, extra) in CLASS.items():
        p = d / name / hw
        _submission(p, hw, sources, extra)
        paths.append(p)
    before = {p: p.read_bytes() for p in paths}
    try:
        limits = Limits(cell_timeout=90, total_timeout=300, memory_mb=1536)
        results = grade_many(paths, load_homeworks(EX), jobs=2, seed=SEED, labels=list(CLASS), limits=limits)
        # the slot race (test_two_jobs_never_get_the_same_slot) can fail a job before its kernel starts: regrade those
        raced = [i for i, r in enumerate(results) if any("is in use by another grader" in m for m in r.messages)]
        for i in raced:
            for _ in range(3):
                [results[i]] = grade_many([paths[i]], load_homeworks(EX), jobs=1, seed=SEED, labels=[list(CLASS)[i]],
                                          limits=limits)
                if results[i].status is not Status.ERROR:
                    break
        after = {"shm": [s for s in _sysv_shm() if int(s["uid"]) in _lecgrade_uids()],
                 "run_lock": Path("/run/lock/lecgrade-leftover").exists(),
                 "unchanged": all(p.read_bytes() == b for p, b in before.items())}
    finally:
        _cleanup_leftovers()
        shutil.rmtree(d, ignore_errors=True)
    return {r.submission: r for r in results}, after


def _scores(r):
    return {p.exercise_id: p.score for p in r.parts}


# ------------------------------------------------------------------ the grader holds


def test_honest_neighbour_keeps_full_marks(graded):
    r = graded[0]["alice_honest"]
    assert _scores(r) == {"0.1": 1, "0.2": 1} and r.status is Status.GRADED, r.report()
    assert r.missing_protections == []


def test_forged_nonce_reply_scores_zero(graded):
    r = graded[0]["h1_forge"]
    assert _scores(r) == {"0.1": 0, "0.2": 0}, r.report()


@pytest.mark.parametrize("name", ["h2_odd_values", "h2_odd_values2"])
def test_odd_values_score_zero(graded, name):
    r = graded[0][name]
    assert _scores(r) == {"0.1": 0, "0.2": 0}, r.report()
    assert r.status is Status.GRADED, r.report()


def test_no_seed_or_grader_file_is_visible_in_the_kernel(graded):
    r = graded[0]["h3_probe"]
    assert _scores(r) == {"0.1": 0, "0.2": 1}, r.report()


def test_a_planted_check_cell_and_many_cells_change_nothing(graded):
    r = graded[0]["h4_fake_check_and_many_cells"]
    assert _scores(r) == {"0.1": 1, "0.2": 0}, r.report()
    assert r.status is Status.GRADED and max(p.points for p in r.parts) == 1


def test_submissions_unchanged(graded):
    assert graded[1]["unchanged"]


# ------------------------------------------------------------------ holes the red team found (fixed since)


def test_unmasked_course_copy_scores_zero(graded):
    r = graded[0]["s1_course_copy"]
    assert _scores(r) == {"0.1": 0, "0.2": 0}, r.report()


def test_reading_a_neighbours_submission_scores_zero(graded):
    r = graded[0]["s2_neighbour"]
    assert _scores(r) == {"0.1": 0, "0.2": 0}, r.report()


def test_no_sysv_shared_memory_survives_the_batch(graded):
    assert graded[1]["shm"] == [], graded[1]["shm"]


def test_no_file_left_in_run_lock(graded):
    assert not graded[1]["run_lock"]


def test_shm_attacker_still_graded_normally(graded):
    r = graded[0]["s3_shm_leftover"]
    assert _scores(r) == {"0.1": 1, "0.2": 1}, r.report()


def test_huge_int_reply_is_a_failed_part_not_a_grader_error(graded):
    r = graded[0]["s4_overflow"]
    assert r.status is Status.GRADED, r.report()
    assert r.parts[0].status is PartStatus.FAILED and r.parts[1].status is PartStatus.PASSED, r.report()


def test_td_update_raising_is_a_failed_part_not_a_grader_error(graded):
    r = graded[0]["s4_td_raises"]
    assert r.status is Status.GRADED, r.report()
    assert next(p for p in r.parts if p.exercise_id == "3.4").status is PartStatus.FAILED, r.report()


@pytest.mark.skipif(subprocess.run([sys.executable, "-I", "-c", "import lecture_utils; print(lecture_utils.__file__)"],
                                   capture_output=True, text=True, cwd="/").stdout.strip()
                    == str(ROOT / "lecture_utils" / "__init__.py"),
                    reason="the kernel imports the same lecture_utils as the grader here")
def test_kernel_imports_the_lecture_utils_the_grader_masked():
    import tempfile

    from lecture_admin.grading.grader import _masks
    from lecture_admin.grading.homework import load_homework
    from lecture_admin.grading.sandbox import SandboxConfig, SandboxKernel

    if os.geteuid() != 0:
        pytest.skip("needs root")
    hw = load_homework(EX / HW00)
    work = Path(tempfile.mkdtemp()) / "w"
    work.mkdir()
    try:
        with SandboxKernel(work, SandboxConfig(mask=_masks(hw))) as k:
            reply = k.evaluate("__import__('importlib').import_module('lecture_utils.policy_gradient').__file__", 60)
            admin = k.evaluate("__import__('lecture_admin').__file__", 60)
    except RuntimeError as e:  # the preflight refuses a kernel that imports another copy
        assert "differs from the grader" in str(e)
        return
    assert not reply.ok, f"the kernel imported the course's answer from {reply.value}"
    assert not admin.ok, f"the kernel imported the instructor's package from {admin.value}"


def test_two_jobs_never_get_the_same_slot(tmp_path):
    from lecture_admin.grading.sandbox import SandboxConfig, SandboxKernel

    if os.geteuid() != 0:
        pytest.skip("needs root")
    a, b = SandboxKernel(tmp_path, SandboxConfig()), SandboxKernel(tmp_path, SandboxConfig())
    try:
        assert a._free_slot() != b._free_slot()  # what grade_many's two threads do, interleaved
    finally:
        a.shutdown()
        b.shutdown()
