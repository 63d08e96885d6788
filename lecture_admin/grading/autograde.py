"""The autograder: grade homework submissions with nbval, on a copy, with the locked cells restored.

    result = grade_submission(Path("alice.ipynb"), exercises_dir=Path("exercises"))
    result.to_gradescope()   # the results.json dict

Steps for one submission (see docs/grading.md):

1. read and validate the file (size, JSON, notebook format, which homework it is) — a bad file gives
   score 0 with a message that says what is wrong, never a traceback;
2. assemble the notebook to run, in the released order: every locked cell (check cells) comes from
   the released exercise, matched by ``grade_id`` (edited ones are restored, deleted ones re-inserted),
   the student's own cells keep their place after the released cell they follow;
3. add the grader's cells: one before everything that arms tamper detection (integrity.py), and one
   after each check cell that verifies the check really ran;
4. run ``pytest --nbval-lax`` on it in a temporary directory with a kernel under resource limits
   (kernel.py) and per-cell results (nbval_driver.py), a per-cell timeout and a total time limit;
   when the kernel dies (``os._exit``, a crash, an uninterruptible loop) the run is repeated in a
   fresh kernel with that cell skipped, so the other parts are still graded;
5. score each part from its check cell's nbval result and its verification cell.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook, new_output

from lecture_admin.grading import integrity

CHECK_MARK = "# NBVAL_CHECK_OUTPUT"
_SECTION_RE = re.compile(r"^(?:check|solution)_(\d+)_\d+")
_FILE_SECTION_RE = re.compile(r"^(\d+)_")

STATUS_GRADED = "graded"
STATUS_TIMED_OUT = "timed out"
STATUS_INVALID = "invalid notebook"
STATUS_TAMPERED = "tampered"
STATUS_ERROR = "grader error"

# Student code that reaches for the grading machinery: reported for the instructor to read.
_SUSPICIOUS = re.compile(
    r"lecture_utils\s*\.\s*grading|from\s+lecture_utils\s+import\s+[^\n]*grading|lecture_utils\.grading\.\w+\s*="
    r"|\bintegrity\b|_REGISTRY|sys\.modules|\bbuiltins\b|__builtins__|input_transformers|ast_transformers"
    r"|display_pub|\.__code__\s*=|sys\.stdout\s*=|NBVAL_|\bgc\.get_(?:objects|referrers)"
)


@dataclass
class Limits:
    """Resource limits for one grading (the defaults suit Gradescope's 10 min / 768 MB / half a CPU)."""

    cell_timeout: float = 120.0  # seconds per cell (each homework notebook runs in < 30 s in total)
    total_timeout: float = 480.0  # seconds for the whole submission, restarts included
    memory_mb: float = 1024.0  # the kernel's data segment (RLIMIT_DATA)
    file_mb: float = 100.0  # the largest file the kernel may write
    max_size_mb: float = 20.0  # a larger submission is rejected unread
    output_chars: int = 100_000  # per cell; more is truncated in the kernel
    max_restarts: int = 3


@dataclass
class Part:
    exercise_id: str
    title: str
    points: int
    grade_id: str


@dataclass
class Homework:
    """A released exercise notebook: the reference every submission is restored against."""

    path: Path
    nb: nbformat.NotebookNode
    parts: list[Part]

    @property
    def key(self) -> str:
        return self.path.stem

    @property
    def section(self) -> str:
        m = _FILE_SECTION_RE.match(self.path.name)
        return m.group(1) if m else self.path.stem

    def distinctive_ids(self) -> set[str]:
        """Cell ids and grade_ids that only this homework has (not the generic cell_N)."""
        out = set()
        for cell in self.nb.cells:
            gid = cell.metadata.get("nbgrader", {}).get("grade_id", "")
            if _SECTION_RE.match(gid):
                out.add("g:" + gid)
            if cell.get("id"):
                out.add("i:" + cell["id"])
        return out


@dataclass
class PartResult:
    exercise_id: str
    title: str
    points: int
    score: float = 0.0
    status: str = "failed"  # passed | failed | tampered | not graded
    output: str = ""


@dataclass
class GradeResult:
    submission: str
    homework: str | None = None
    status: str = STATUS_GRADED
    parts: list[PartResult] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # for the instructor (gradebook)
    seconds: float = 0.0
    peak_mb: float | None = None
    kernel_peak_mb: float | None = None
    attempts: int = 0

    @property
    def score(self) -> float:
        return float(sum(p.score for p in self.parts))

    @property
    def max_score(self) -> float:
        return float(sum(p.points for p in self.parts))

    def to_gradescope(self) -> dict:
        tests = [
            {
                "name": f"Exercise {p.exercise_id}: {p.title}",
                "number": p.exercise_id,
                "score": p.score,
                "max_score": float(p.points),
                "status": "passed" if p.status == "passed" else "failed",
                "output": p.output,
                "visibility": "visible",
            }
            for p in self.parts
        ]
        head = f"{self.homework or 'submission'}: {_fmt(self.score)}/{_fmt(self.max_score)} points ({self.status})"
        return {
            "score": self.score,
            "max_score": self.max_score,
            "execution_time": int(round(self.seconds)),
            "output": "\n".join([head, *self.messages]),
            "visibility": "visible",
            "stdout_visibility": "hidden",
            "tests": tests,
            "extra_data": {"status": self.status, "notes": self.notes, "attempts": self.attempts,
                           "peak_mb": self.peak_mb},
        }

    def report(self) -> str:
        lines = [f"{self.submission}: {_fmt(self.score)}/{_fmt(self.max_score)} points "
                 f"[{self.status}] ({self.seconds:.1f} s)"]
        for m in self.messages:
            lines.append(f"  {m}")
        for p in self.parts:
            first = p.output.splitlines()[0] if p.output else ""
            lines.append(f"  {p.exercise_id:>5}  {_fmt(p.score)}/{p.points}  {p.status:<10} {first}")
            lines.extend(f"{'':>22}{extra}" for extra in p.output.splitlines()[1:4])
        for n in self.notes:
            lines.append(f"  note: {n}")
        return "\n".join(lines)


def _fmt(x: float) -> str:
    return f"{x:g}"


class InvalidSubmission(ValueError):
    """The file cannot be graded; the message says exactly why (shown to the student)."""


# ---------------------------------------------------------------- released exercises


def load_homework(path: Path) -> Homework:
    from lecture_utils.selfcheck.core import get_check

    nb = nbformat.read(path, as_version=4)
    parts = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and cell.cell_type == "code":
            gid = meta["grade_id"]
            eid = gid.removeprefix("check_").replace("_", ".")
            try:
                title = get_check(eid).title
            except (KeyError, ValueError):
                title = gid
            parts.append(Part(eid, title, int(meta.get("points", 1)), gid))
    if not parts:
        raise ValueError(f"{path}: no graded cells (is it a released exercise? run `lecture release`)")
    return Homework(Path(path), nb, parts)


def find_exercises_dir(explicit: Path | None = None) -> Path:
    if explicit is not None:
        return Path(explicit)
    for cand in (Path.cwd(), *Path.cwd().parents, Path(__file__).resolve().parents[2]):
        if (cand / "exercises").is_dir() and (cand / "solutions").is_dir():
            return cand / "exercises"
    raise SystemExit("lecture grade: cannot find the released exercises/; pass --exercises DIR")


def load_homeworks(exercises: Path) -> list[Homework]:
    return [load_homework(p) for p in sorted(Path(exercises).glob("*.ipynb"))]


def select_homework(homeworks: list[Homework], name: str) -> Homework:
    """`name` is a section number ("0", "00"), a notebook stem or a path to a released exercise."""
    if name.endswith(".ipynb") and Path(name).exists():
        return load_homework(Path(name))
    for hw in homeworks:
        if name in (hw.key, hw.path.name) or (name.isdigit() and hw.section.isdigit()
                                               and int(name) == int(hw.section)):
            return hw
    raise SystemExit(f"no released homework {name!r}; have: {', '.join(h.key for h in homeworks) or 'none'}")


# ---------------------------------------------------------------- reading a submission


def read_submission(path: Path, limits: Limits) -> dict:
    """The submission as a dict with a list of cells, or InvalidSubmission saying what is wrong."""
    path = Path(path)
    if not path.exists():
        raise InvalidSubmission(f"{path.name}: file not found")
    if path.is_dir():
        raise InvalidSubmission(f"{path.name}: is a folder, not a notebook file")
    size = path.stat().st_size
    if size == 0:
        raise InvalidSubmission(f"{path.name}: the file is empty (0 bytes); save the notebook and upload it again")
    if size > limits.max_size_mb * 1e6:
        raise InvalidSubmission(
            f"{path.name}: the file is {size / 1e6:.1f} MB, over the {limits.max_size_mb:g} MB limit; clear the "
            "outputs (Edit > Clear Outputs of All Cells), save, and upload it again")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidSubmission(f"{path.name}: not a notebook: the file is not text (not UTF-8); "
                                "upload the .ipynb file itself") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise InvalidSubmission(f"{path.name}: not a notebook: the file is not valid JSON ({e.msg} at line "
                                f"{e.lineno}, column {e.colno})") from None
    if not isinstance(data, dict):
        raise InvalidSubmission(f"{path.name}: not a notebook: the JSON is a {type(data).__name__}, "
                                "a notebook is an object with 'cells'")
    if "nbformat" not in data:
        raise InvalidSubmission(f"{path.name}: not a notebook: the JSON has no 'nbformat' field "
                                f"(keys: {', '.join(sorted(map(str, data))[:6]) or 'none'})")
    version = data["nbformat"]
    if not isinstance(version, int):
        raise InvalidSubmission(f"{path.name}: not a notebook: 'nbformat' is {version!r}, not a number")
    if version < 4:
        raise InvalidSubmission(
            f"{path.name}: uses the old notebook format v{version} (IPython 3 or older); open it in JupyterLab, "
            "save it (that converts it to v4), and upload it again")
    if version > 4:
        raise InvalidSubmission(f"{path.name}: uses notebook format v{version}, newer than this grader reads (v4)")
    cells = data.get("cells")
    if not isinstance(cells, list):
        raise InvalidSubmission(f"{path.name}: not a valid notebook: no list of 'cells'")
    for i, cell in enumerate(cells, start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
            raise InvalidSubmission(f"{path.name}: not a valid notebook: cell {i} has no valid 'cell_type'")
        src = cell.get("source")
        if isinstance(src, list) and all(isinstance(s, str) for s in src):
            src = "".join(src)
        if not isinstance(src, str):
            raise InvalidSubmission(f"{path.name}: not a valid notebook: cell {i} has no text 'source'")
        cell["source"] = src
        meta = cell.get("metadata")
        cell["metadata"] = meta if isinstance(meta, dict) else {}
    return data


def _cell_keys(cell: dict) -> tuple[str | None, str | None]:
    nbg = cell.get("metadata", {}).get("nbgrader")
    gid = nbg.get("grade_id") if isinstance(nbg, dict) else None
    cid = cell.get("id")
    return (gid if isinstance(gid, str) else None, cid if isinstance(cid, str) else None)


def identify(sub: dict, homeworks: list[Homework], filename: str, expected: Homework | None) -> Homework:
    """Which released homework `sub` is (by its cells' ids), or InvalidSubmission."""
    ids = set()
    for cell in sub["cells"]:
        gid, cid = _cell_keys(cell)
        if gid and _SECTION_RE.match(gid):
            ids.add("g:" + gid)
        if cid:
            ids.add("i:" + cid)
    overlap = {hw.key: len(ids & hw.distinctive_ids()) for hw in homeworks}
    if expected is not None and expected.key not in overlap:
        overlap[expected.key] = len(ids & expected.distinctive_ids())
    best = max(overlap.items(), key=lambda kv: kv[1], default=(None, 0))
    if expected is not None:
        if overlap.get(expected.key, 0) > 0 and overlap[expected.key] >= best[1]:
            return expected
        if best[1] > 0:
            raise InvalidSubmission(
                f"{filename}: this is the notebook of homework {best[0]}, not {expected.key}: upload your "
                f"{expected.path.name}")
        raise InvalidSubmission(
            f"{filename}: this is not the {expected.path.name} homework: none of its cells come from the released "
            f"notebook (their cell ids / nbgrader metadata are missing); start from exercises/{expected.path.name}, "
            "copy your answers into it, and upload it again")
    if best[1] > 0:
        return next(hw for hw in homeworks if hw.key == best[0])
    m = _FILE_SECTION_RE.match(Path(filename).name)
    if m:
        for hw in homeworks:
            if hw.section == m.group(1):
                raise InvalidSubmission(
                    f"{filename}: named like homework {hw.key} but none of its cells come from the released notebook "
                    f"(cell ids / nbgrader metadata missing); start from exercises/{hw.path.name} and copy your "
                    "answers into it")
    raise InvalidSubmission(f"{filename}: not one of the released homeworks "
                            f"({', '.join(h.key for h in homeworks) or 'none released'})")


# ---------------------------------------------------------------- assembling the notebook to run


@dataclass
class Unit:
    """One code cell of the notebook that is run."""

    source: str
    role: str  # "arm" | "student" | "stub" | "check" | "verify"
    exercise_id: str | None = None
    origin: int | None = None  # 1-based index of the cell in the student's notebook
    outputs: list = field(default_factory=list)


def _first_line(src: str) -> str:
    for line in src.splitlines():
        if line.strip() and not line.strip().startswith("#"):
            return line.strip()[:60]
    return (src.strip().splitlines() or ["(empty)"])[0][:60]


def assemble(sub: dict, hw: Homework) -> tuple[list[Unit], list[str], dict[str, list[str]], list[str]]:
    """The code cells to run, general messages, per-part notes, and notes for the instructor."""
    template = hw.nb.cells
    by_gid = {c.metadata.get("nbgrader", {}).get("grade_id"): i for i, c in enumerate(template)}
    by_cid = {c.get("id"): i for i, c in enumerate(template) if c.get("id")}
    part_of = {p.grade_id: p.exercise_id for p in hw.parts}
    placed: dict[int, tuple[int, dict]] = {}  # template index -> (student index, student cell)
    extras: dict[int, list[tuple[int, dict]]] = {}  # anchor template index (-1: top) -> student cells after it
    messages: list[str] = []
    part_notes: dict[str, list[str]] = {p.exercise_id: [] for p in hw.parts}
    instructor: list[str] = []
    anchor, order = -1, []
    for j, cell in enumerate(sub["cells"], start=1):
        gid, cid = _cell_keys(cell)
        t = by_gid.get(gid) if gid in by_gid else by_cid.get(cid)
        if t is not None and template[t].cell_type != cell["cell_type"]:
            t = None
        if t is not None and t not in placed:
            placed[t] = (j, cell)
            anchor = t
            order.append(t)
            continue
        if t is not None and template[t].metadata.get("nbgrader", {}).get("locked"):
            continue  # a copy of a locked cell: the released one runs once, in its place
        extras.setdefault(anchor, []).append((j, cell))
    if order != sorted(order):
        messages.append("some cells were moved: the notebook was graded in the released order of its cells")
    units: list[Unit] = []

    def add_student(j: int, cell: dict) -> None:
        if cell["cell_type"] == "code":
            units.append(Unit(cell["source"], "student", origin=j))
            if _SUSPICIOUS.search(cell["source"]):
                instructor.append(f"cell {j} touches the grading machinery, please read it: "
                                  f"{_SUSPICIOUS.search(cell['source']).group(0)!r}")

    for j, cell in extras.get(-1, []):
        add_student(j, cell)
    for t, tcell in enumerate(template):
        meta = tcell.metadata.get("nbgrader", {})
        gid = meta.get("grade_id")
        if tcell.cell_type == "code":
            if meta.get("grade"):
                eid = part_of[gid]
                mine = placed.get(t)
                if mine is None:
                    part_notes[eid].append("its check cell was missing: the released one was put back")
                elif mine[1]["source"].strip() != tcell.source.strip():
                    part_notes[eid].append("its check cell was edited: the released one was restored")
                units.append(Unit(tcell.source, "check", exercise_id=eid, outputs=list(tcell.outputs)))
            elif meta.get("locked"):
                units.append(Unit(tcell.source, "stub", origin=None))
            elif t in placed:
                add_student(*placed[t])
            elif meta.get("solution"):
                eid = part_of.get("check_" + gid.removeprefix("solution_").split("_")[0] + "_"
                                  + gid.removeprefix("solution_").split("_")[1]) if gid else None
                if eid in part_notes:
                    part_notes[eid].append("its answer cell was deleted from the notebook")
        for j, cell in extras.get(t, []):
            add_student(j, cell)
    return units, messages, part_notes, instructor


def build_notebook(units: list[Unit], secret: str, exercise_ids: list[str], limits: Limits,
                   skip: dict[int, str]) -> nbformat.NotebookNode:
    """The notebook nbval runs: an arming cell, then the units, with a verification cell after each check."""
    cells = [new_code_cell(
        f'__import__("lecture_admin.grading.integrity", fromlist=["arm"]).arm({secret!r}, {exercise_ids!r}, '
        f"output_limit={int(limits.output_chars)})")]
    for k, unit in enumerate(units):
        source = unit.source
        if k in skip:
            source = f"raise RuntimeError({('lecture grader: skipped after ' + skip[k])!r})"
        if unit.role == "check":
            cell = new_code_cell(source if k not in skip else CHECK_MARK + "\n" + source, execution_count=1)
            cell.outputs = [nbformat.from_dict(o) for o in unit.outputs]
            cells.append(cell)
            line = integrity.verified_line(secret, unit.exercise_id) + "\n"
            verify = new_code_cell(
                f'{CHECK_MARK}\n__import__("lecture_admin.grading.integrity", fromlist=["verify"])'
                f".verify({unit.exercise_id!r})", execution_count=1)
            verify.outputs = [new_output("stream", name="stdout", text=line)]
            cells.append(verify)
        else:
            cells.append(new_code_cell(source))
    return new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                              "language": "python"}})


# ---------------------------------------------------------------- running nbval


def _kernelspec(dirpath: Path, limits: Limits) -> None:
    kdir = dirpath / "kernels" / "lecture-grader"
    kdir.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [sys.executable, "-m", "lecture_admin.grading.kernel", "--memory-mb", str(limits.memory_mb),
                 "--file-mb", str(limits.file_mb), "-f", "{connection_file}"],
        "display_name": "lecture grader", "language": "python",
        "env": {"PYDEVD_DISABLE_FILE_VALIDATION": "1", "MPLBACKEND": "module://matplotlib_inline.backend_inline"},
    }
    (kdir / "kernel.json").write_text(json.dumps(spec))


def _kill_tree(proc: subprocess.Popen, extra_pids=()) -> None:
    """Kill the grader's pytest process and everything it started (the kernel)."""
    import psutil

    victims = []
    try:
        parent = psutil.Process(proc.pid)
        victims = parent.children(recursive=True) + [parent]
    except psutil.NoSuchProcess:
        pass
    for pid in extra_pids:
        try:
            victims.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            pass
    for p in victims:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:  # pragma: no cover
        pass


def _kill_leftovers(kernel_pids) -> None:
    """Processes the student's code started and left running: the kernel leads its own process group."""
    import signal

    for pid in sorted(set(kernel_pids)):
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError, OSError):
            pass


def _run_nbval(nb: nbformat.NotebookNode, workdir: Path, limits: Limits, timeout: float) -> tuple[list[dict], bool]:
    """Run nbval on `nb`; returns the driver's records and whether the time limit killed it."""
    run = workdir / f"run{len(list(workdir.glob('run*')))}"
    run.mkdir(parents=True)
    # The kernel works in a folder of its own, away from the grader's files: a cell that deletes
    # everything around it (even `..`) cannot reach the per-cell log.
    nbdir = Path(tempfile.mkdtemp(prefix="lecture-submission-"))
    nb_path = nbdir / "submission.ipynb"
    nbformat.write(nb, nb_path)
    log = run / "cells.jsonl"
    (run / "pytest.ini").write_text("[pytest]\n")
    jupyter = run / "jupyter"
    _kernelspec(jupyter, limits)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "JUPYTER_", "COV_"))}
    try:
        import matplotlib

        env["MPLCONFIGDIR"] = matplotlib.get_configdir()
    except Exception:  # pragma: no cover
        pass
    env.update({
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
        "LECTURE_GRADER_LOG": str(log),
        "JUPYTER_PATH": str(jupyter),
        "JUPYTER_RUNTIME_DIR": str(run / "runtime"),
        "IPYTHONDIR": str(run / "ipython"),
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "OMP_NUM_THREADS": "1",
    })
    cmd = [sys.executable, "-m", "pytest", "-p", "nbval.plugin", "-p", "lecture_admin.grading.nbval_driver",
           "--nbval-lax", f"--nbval-cell-timeout={limits.cell_timeout:g}", "--nbval-kernel-name=lecture-grader",
           "-c", str(run / "pytest.ini"), "--rootdir", str(run), "-o", "addopts=", "-p", "no:cacheprovider",
           "-q", "--no-header", "-W", "ignore", str(nb_path)]
    with open(run / "pytest.out", "wb") as out:
        proc = subprocess.Popen(cmd, cwd=run, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        killed = False
        try:
            proc.wait(timeout=max(1.0, timeout))
        except subprocess.TimeoutExpired:
            killed = True
        records = _read_log(log)
        if killed:
            _kill_tree(proc, [r["kernel_pid"] for r in records if r.get("kernel_pid")][-1:])
    records = _read_log(log)
    _kill_leftovers([r["kernel_pid"] for r in records if r.get("kernel_pid")])
    shutil.rmtree(nbdir, ignore_errors=True)
    if not records and not killed:
        tail = (run / "pytest.out").read_text(errors="replace")[-800:] if (run / "pytest.out").exists() else ""
        raise RuntimeError(f"nbval did not run (exit status {proc.returncode}): {tail}")
    return records, killed


def _read_log(log: Path) -> list[dict]:
    if not log.exists():
        return []
    out = []
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    return out


# ---------------------------------------------------------------- grading one submission


def _package_fingerprint() -> str:
    h = hashlib.sha256()
    for p in sorted(Path(__file__).resolve().parent.glob("*.py")):
        h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()


def grade_submission(path: Path, exercises_dir: Path | None = None, homework: Homework | None = None,
                     limits: Limits | None = None, homeworks: list[Homework] | None = None,
                     label: str | None = None) -> GradeResult:
    """Grade one submission; never raises for a bad submission (the result says what is wrong)."""
    limits = limits or Limits()
    path = Path(path)
    t0 = time.monotonic()
    result = GradeResult(submission=label or path.name)
    try:
        if homeworks is None:
            homeworks = load_homeworks(find_exercises_dir(exercises_dir)) if homework is None else [homework]
        _grade_into(result, path, homeworks, homework, limits, t0)
    except InvalidSubmission as e:
        result.status = STATUS_INVALID
        result.messages.append(str(e))
        if not result.parts and homework is not None:
            result.parts = [PartResult(p.exercise_id, p.title, p.points, 0.0, "not graded", "not graded: " + str(e))
                            for p in homework.parts]
    except Exception as e:  # a bug in the grader: still a valid result, and a message for the instructor
        result.status = STATUS_ERROR
        result.messages.append(f"the grader failed ({type(e).__name__}: {e}); please tell the instructor")
    result.seconds = time.monotonic() - t0
    return result


def _grade_into(result: GradeResult, path: Path, homeworks: list[Homework], expected: Homework | None,
                limits: Limits, t0: float) -> None:
    sub = read_submission(path, limits)
    hw = identify(sub, homeworks, path.name, expected)
    result.homework = hw.key
    result.parts = [PartResult(p.exercise_id, p.title, p.points) for p in hw.parts]
    units, messages, part_notes, instructor = assemble(sub, hw)
    result.messages += messages
    result.notes += instructor
    secret = secrets.token_hex(16)
    ids = [p.exercise_id for p in hw.parts]
    fingerprint = _package_fingerprint()

    skip: dict[int, str] = {}  # unit index -> why it is skipped in later runs
    ran: dict[int, dict] = {}  # unit index -> its record (from the latest run that reached it)
    problems: dict[int, str] = {}  # unit index -> what went wrong there (timeouts, kernel deaths)
    timed_out_total = False
    workdir = Path(tempfile.mkdtemp(prefix="lecture-grade-"))
    try:
        for attempt in range(limits.max_restarts + 1):
            result.attempts = attempt + 1
            remaining = limits.total_timeout - (time.monotonic() - t0)
            if remaining <= 1:
                timed_out_total = True
                break
            nb = build_notebook(units, secret, ids, limits, skip)
            records, killed = _run_nbval(nb, workdir, limits, remaining)
            cell_map = _cell_map(units)  # nbval cell number -> (unit index, is_verify)
            finished = {r["cell"] for r in records if r.get("event") == "result"}
            for r in records:
                if r.get("event") == "result":
                    if r["cell"] == 0:
                        if not r["ok"]:
                            raise RuntimeError(f"arming the kernel failed: {r['message'][:300]}")
                        continue
                    k, is_verify = cell_map[r["cell"]]
                    ran[(k, is_verify)] = r
                    if r.get("kernel_peak_mb"):
                        result.kernel_peak_mb = max(result.kernel_peak_mb or 0.0, r["kernel_peak_mb"])
                    if r["kind"] == "timeout" and not is_verify:
                        problems[k] = f"ran over the {limits.cell_timeout:g} s limit and was interrupted"
                elif r.get("event") == "finish" and r.get("driver_peak_mb"):
                    result.peak_mb = max(result.peak_mb or 0.0, r["driver_peak_mb"])
            # Where did this run stop? The cell after which the kernel was gone, or the one running when killed.
            dead = [r for r in records if r.get("event") == "result" and not r.get("kernel_alive", True)]
            starts = [int(r["node"].rsplit("Cell ", 1)[-1]) for r in records if r.get("event") == "start"
                      and "Cell " in r.get("node", "")]
            stuck = None
            if dead:
                stuck = dead[0]["cell"]
                if dead[0]["kind"] == "timeout":
                    reason = (f"ran over the {limits.cell_timeout:g} s limit and could not be interrupted; the kernel "
                              "was restarted and this cell skipped")
                else:
                    reason = ("the kernel died here (os._exit(), exit(), a crash, or out of memory); it was restarted "
                              "and this cell skipped")
            elif killed:
                timed_out_total = True
                if starts and starts[-1] not in finished and starts[-1] != 0:
                    k, _ = cell_map[starts[-1]]
                    problems[k] = f"was still running at the total time limit ({limits.total_timeout:g} s)"
                break
            elif starts and starts[-1] not in finished:
                stuck = starts[-1]
                reason = "the grader's process crashed here (huge output?); this cell was skipped"
            elif len(finished) < len(cell_map) + 1:
                stuck = None
            if stuck is None or stuck == 0:
                break
            k, _ = cell_map[stuck]
            problems[k] = reason
            skip[k] = reason
            for kk in [kk for kk in ran if kk[0] > k]:  # re-run everything after the skipped cell
                del ran[kk]
        _score(result, units, ran, skip, problems, part_notes, limits, timed_out_total)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if _package_fingerprint() != fingerprint:
        result.status = STATUS_TAMPERED
        result.notes.append("the course's grading files changed on disk while this submission ran")
    if result.peak_mb is not None and result.kernel_peak_mb is not None:
        result.peak_mb = result.peak_mb + result.kernel_peak_mb


def _cell_map(units: list[Unit]) -> dict[int, tuple[int, bool]]:
    out, n = {}, 1
    for k, unit in enumerate(units):
        out[n] = (k, False)
        n += 1
        if unit.role == "check":
            out[n] = (k, True)
            n += 1
    return out


def _describe(unit: Unit) -> str:
    where = f"cell {unit.origin}" if unit.origin else "a cell"
    return f"{where} (`{_first_line(unit.source)}`)"


def _score(result: GradeResult, units: list[Unit], ran: dict, skip: dict, problems: dict,
           part_notes: dict, limits: Limits, timed_out_total: bool) -> None:
    parts = {p.exercise_id: p for p in result.parts}
    tampered = any_timeout = False
    pending: list[str] = []  # what went wrong in the student's cells since the previous check
    for k, unit in enumerate(units):
        rec = ran.get((k, False))
        if unit.role in ("student", "stub"):
            if k in problems:
                pending.append(f"{_describe(unit)}: {problems[k]}")
                any_timeout |= "limit" in problems[k]
            elif rec is not None and not rec["ok"] and rec["kind"] in ("error", "timeout"):
                err = [ln for ln in rec["outputs"].splitlines() if ln.strip()]
                pending.append(f"{_describe(unit)} raised {err[-1] if err else 'an error'}"[:300])
            continue
        if unit.role != "check":
            continue
        part = parts[unit.exercise_id]
        out: list[str] = []
        verify = ran.get((k, True))
        if k in skip:
            part.status = "failed"
            out.append(f"not graded: while checking, {problems[k]}")
            any_timeout |= "limit" in problems[k]
        elif rec is None:
            part.status = "not graded"
            out.append(f"not graded: the total time limit ({limits.total_timeout:g} s) was reached first"
                       if timed_out_total else "not graded: the grader did not reach this check")
        else:
            line = _check_line(rec["outputs"], unit.exercise_id)
            if k in problems:
                any_timeout |= "limit" in problems[k]
                line = f"Exercise {unit.exercise_id}: failed -- while checking, {problems[k]}"
            verify_text = (verify or {}).get("outputs", "").strip()
            if rec["ok"] and verify is not None and verify["ok"]:
                part.status, part.score = "passed", float(part.points)
                out.append(line)
            elif rec["ok"]:
                part.status = "tampered"
                why = verify_text.split(":", 1)[-1].strip() if verify_text else "the verification did not run"
                if "tampering detected" not in why:
                    why = f"tampering detected: the printed result is not the checker's ({why})"
                out.append(f"Exercise {unit.exercise_id}: 0/{part.points} points -- {why}")
            else:
                if "tampering detected" in line or "tampering detected" in verify_text:
                    part.status = "tampered"
                    # Never echo what the cell printed (it may be a forged "passed" line): say why only.
                    src = line if "tampering detected" in line else verify_text
                    why = "tampering detected" + src.split("tampering detected", 1)[1]
                    line = f"Exercise {unit.exercise_id}: 0/{part.points} points -- {why}"
                out.append(line)
        if part.status == "tampered":
            tampered = True
        out += [f"note: {n}" for n in part_notes.get(unit.exercise_id, [])]
        out += [f"before this check, {p}" for p in pending]
        pending = []
        part.output = "\n".join(out)
    if timed_out_total:
        result.messages.append(f"grading stopped at the total time limit of {limits.total_timeout:g} s")
    result.status = (STATUS_TAMPERED if tampered else STATUS_TIMED_OUT if (timed_out_total or any_timeout)
                     else STATUS_GRADED)


def _check_line(outputs: str, exercise_id: str) -> str:
    lines = [ln for ln in outputs.splitlines() if ln.strip()]
    for ln in lines:
        if ln.startswith(f"Exercise {exercise_id} "):
            return ln
    if lines:
        last = lines[-1]
        if "NameError" in last:
            return f"Exercise {exercise_id}: failed -- {last} (did a cell above fail, or was it deleted?)"
        return f"Exercise {exercise_id}: failed -- {last}"
    return f"Exercise {exercise_id}: failed -- the check printed nothing"


# ---------------------------------------------------------------- many submissions


def collect_submissions(paths: list[Path]) -> list[Path]:
    out = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(q for q in p.rglob("*.ipynb") if ".ipynb_checkpoints" not in q.parts)
        else:
            out.append(p)
    return out


def labels_for(paths: list[Path]) -> list[str]:
    """Short unique names: the file name, or as many parent folders as needed (alice/00_x.ipynb)."""
    parts = [Path(p).resolve().parts for p in paths]
    depth = 1
    while depth < max((len(p) for p in parts), default=1):
        labels = ["/".join(p[-depth:]) for p in parts]
        if len(set(labels)) == len(labels):
            return labels
        depth += 1
    return ["/".join(p) for p in parts]


def grade_many(paths: list[Path], jobs: int = 1, progress=None, **kwargs) -> list[GradeResult]:
    labels = labels_for(paths)
    lock = threading.Lock()
    done = [0]

    def one(i: int) -> GradeResult:
        r = grade_submission(paths[i], label=labels[i], **kwargs)
        if progress is not None:
            with lock:
                done[0] += 1
                progress(done[0], len(paths), r)
        return r

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(one, range(len(paths))))


def write_results_json(result: GradeResult, path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(result.to_gradescope(), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def write_gradebook(results: list[GradeResult], path: Path) -> None:
    part_ids: list[str] = []
    for r in results:
        for p in r.parts:
            if p.exercise_id not in part_ids:
                part_ids.append(p.exercise_id)
    part_ids.sort(key=lambda s: tuple(int(x) for x in s.split(".")))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["submission", "homework", *part_ids, "total", "max_score", "status", "seconds", "message"])
        for r in results:
            scores = {p.exercise_id: _fmt(p.score) for p in r.parts}
            msg = "; ".join([*r.messages, *r.notes])[:500]
            w.writerow([r.submission, r.homework or "", *[scores.get(i, "") for i in part_ids], _fmt(r.score),
                        _fmt(r.max_score), r.status, f"{r.seconds:.1f}", msg])
