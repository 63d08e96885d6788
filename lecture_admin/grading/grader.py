"""Grade submissions: the student's cells run in a sandboxed kernel, hidden tests decide each part here.

    result = grade_submission(Path("alice.ipynb"), homeworks=load_homeworks(Path("exercises")), seed=...)

For one submission:
1. read and recognise it (submission.py): a bad file scores 0 with a one-line reason;
2. assemble the cells to run in the released order, locked cells restored from the release;
3. run them in a fresh sandboxed kernel (sandbox.py): an unprivileged user, no network, the course's
   answering modules masked, grader files hidden, resource limits; a cell that errors is recorded and the
   run goes on; a cell that hangs or kills the kernel is skipped after a restart;
4. for each part, run its hidden test (hidden/): the grader calls the student's functions in the kernel
   on cases from the grading seed and compares plain results with its own references;
5. report typed results (results.py). The public check cells are not run: they are the student's feedback.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import lecture_admin
import lecture_utils
from lecture_admin.grading.hidden import MASK_MESSAGE, argument_names, hidden_part, run_part
from lecture_admin.grading.homework import Homework
from lecture_admin.grading.limits import Limits  # noqa: F401 - re-exported: `from ...grader import Limits`
from lecture_admin.grading.results import GradeResult, PartResult, PartStatus, Status
from lecture_admin.grading.sandbox import KERNEL_DIED, MASKED_ENAME, SandboxConfig, SandboxKernel
from lecture_admin.grading.submission import InvalidSubmission, Unit, assemble, identify, read_submission
from lecture_utils.selfcheck.answers import ANSWERS
from lecture_utils.selfcheck.core import CheckFailed, StudentError, use_case_seed


def grading_seed(seed: int | None = None) -> int:
    """The seed the hidden cases come from: given by the instructor, else LECTURE_GRADING_SEED, else random."""
    if seed is None and os.environ.get("LECTURE_GRADING_SEED", "").strip():
        seed = int(os.environ["LECTURE_GRADING_SEED"])
    return secrets.randbits(62) if seed is None else int(seed)


def _masks(hw: Homework) -> dict[Path, str]:
    """Course modules that answer a part of `hw`, and its public check module (it holds references)."""
    modules = {f"lecture_utils.selfcheck.sec{int(hw.section):02d}"} if hw.section.isdigit() else set()
    for p in hw.parts:
        modules.update(hidden_part(p.exercise_id).library)
        modules.update(ANSWERS.get(p.exercise_id, ()))
    out = {}
    for mod in sorted(modules):
        spec = importlib.util.find_spec(mod)
        if spec and spec.origin:
            out[Path(spec.origin)] = f"{mod} {MASK_MESSAGE}"
    return out


def _hidden_dirs(extra: tuple[Path, ...]) -> tuple[Path, ...]:
    """The instructor's package, the course's solutions, tests and history, submissions: invisible to the kernel."""
    pkg = Path(lecture_admin.__file__).resolve().parent
    root = pkg.parent
    dirs = [pkg, *(root / d for d in ("solutions", "tests", ".git"))]
    dirs += [Path(d).resolve() for d in extra]
    needed = (Path(lecture_utils.__file__).resolve().parent, Path(sys.prefix).resolve(), Path(sys.executable).resolve(),
              Path(tempfile.gettempdir()).resolve() / "lecture-grade-")  # the kernel's workdir lives in the temp dir
    # never hide what the kernel needs: the student layer and the Python it runs
    return tuple(d for d in dict.fromkeys(dirs)
                 if d.is_dir() and not any(n == d or d in n.parents for n in needed))


def _zero_parts(hw: Homework | None, message: str) -> list[PartResult]:
    if hw is None:
        return []
    return [PartResult(p.exercise_id, p.title, p.points, p.optional, 0.0, PartStatus.FAILED, message)
            for p in hw.parts]


def grade_submission(path: Path, homeworks: list[Homework], homework: Homework | None = None,
                     limits: Limits | None = None, label: str | None = None, slot: int | None = None,
                     isolate: bool = True, hide: tuple[Path, ...] = ()) -> GradeResult:
    """Grade one file. Call `use_case_seed(grading_seed(...))` first (grade_many does)."""
    limits = limits or Limits()
    t0 = time.monotonic()
    path = Path(path)
    result = GradeResult(label or path.name, homework=homework.key if homework else None)
    try:
        sub = read_submission(path, limits.max_size_mb)
        hw = identify(sub, homeworks, path.name, homework)
    except InvalidSubmission as e:
        result.status = Status.INVALID
        result.messages.append(str(e))
        result.parts = _zero_parts(homework, "not graded: the file could not be read")
        result.seconds = time.monotonic() - t0
        return result
    result.homework = hw.key
    result.manual = list(hw.written)
    units, messages, part_notes, notes = assemble(sub, hw)
    result.messages += messages
    result.notes += notes
    config = SandboxConfig(memory_mb=limits.memory_mb, cpu_seconds=int(limits.total_timeout * 2),
                           hide=_hidden_dirs((path.resolve().parent, *hide)), mask=_masks(hw), isolate=isolate,
                           expose=(Path(lecture_utils.__file__).resolve().parent,))
    tmp = Path(tempfile.mkdtemp(prefix="lecture-grade-"))
    try:
        os.chmod(tmp, 0o711)  # the kernel's user may pass through to its workdir, not list or read the rest
        workdir = tmp / "work"
        workdir.mkdir()
        with SandboxKernel(workdir, config, slot=slot) as kernel:
            result.missing_protections = kernel.protections.missing()
            error_names = _run_cells(kernel, units, limits, result)
            checks = {u.exercise_id: u.source for u in units if u.role == "check"}
            for p in hw.parts:
                pr = _grade_part(kernel, p, checks[p.exercise_id], limits, error_names, result)
                pr.message = "; ".join([pr.message, *part_notes.get(p.exercise_id, [])]).strip("; ")
                result.parts.append(pr)
            result.kernel_peak_mb = kernel.peak_rss_mb()
    except Exception as e:  # the grader itself failed: say so, score nothing, keep the batch going
        result.status = Status.ERROR
        result.messages.append(f"the grader failed on this submission ({type(e).__name__}: "
                               f"{str(e).splitlines()[0][:200] if str(e) else ''}); tell the course staff")
        graded = {p.exercise_id for p in result.parts}
        result.parts += [p for p in _zero_parts(hw, "not graded (grader error)") if p.exercise_id not in graded]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result.seconds = time.monotonic() - t0
    return result


def _run_cells(kernel, units: list[Unit], limits: Limits, result: GradeResult) -> set[str]:
    """Run every non-check cell in order; returns the exception names of the cells that failed."""
    deadline = time.monotonic() + limits.total_timeout
    errors: set[str] = set()
    ran: list[str] = []  # replayed after a restart
    restarts = 0
    for unit in units:
        if unit.role == "check":
            continue
        left = deadline - time.monotonic()
        if left <= 0:
            result.status = Status.TIMED_OUT
            result.messages.append(f"the notebook ran out of time ({limits.total_timeout:g} s): later cells were "
                                   "not run")
            break
        r = kernel.run_cell(unit.source, timeout=min(limits.cell_timeout, left))
        where = f"cell {unit.origin}" if unit.origin else "a released cell"
        if r.status == "ok":
            ran.append(unit.source)
            continue
        if r.status == "error":
            ran.append(unit.source)
            errors.add(r.ename)
            if unit.role == "student":
                result.messages.append(f"{where} raised {r.ename}: {r.evalue[:200]}")
            continue
        why = "took too long" if r.status == "timeout" else "stopped the kernel"
        result.messages.append(f"{where} {why} ({_first_line(unit.source)}): it was skipped")
        restarts += 1
        if restarts > limits.max_restarts:
            result.messages.append("too many restarts: the remaining cells were not run")
            break
        kernel.restart()
        for src in ran:
            kernel.run_cell(src, timeout=min(limits.cell_timeout, max(1.0, deadline - time.monotonic())))
    return errors


def _first_line(src: str) -> str:
    lines = [ln.strip() for ln in src.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    return (lines or ["(empty)"])[0][:60]


def _grade_part(kernel, part, check_source: str, limits: Limits, error_names: set[str], result) -> PartResult:
    pr = PartResult(part.exercise_id, part.title, part.points, part.optional)
    names = argument_names(check_source, part.exercise_id)
    credit = None
    try:
        credit = run_part(kernel, part.exercise_id, names, timeout=limits.call_timeout)
    except NotImplementedError:
        pr.status = PartStatus.NOT_ATTEMPTED
        pr.message = "not attempted yet: replace `raise NotImplementedError()` with your code"
    except (CheckFailed, StudentError) as e:
        msg, ename = str(e), getattr(e, "ename", "")
        if ename == MASKED_ENAME or (ename == "NameError" and MASKED_ENAME in error_names):
            pr.status = PartStatus.LIBRARY
            pr.message = "calls the course's own copy, which is not available when grading: write it yourself"
        elif ename == "NameError":
            pr.status = PartStatus.MISSING
            pr.message = f"{msg.split(': ', 1)[-1]}: did the cell that defines it run without an error?"
        else:
            pr.status, pr.message = PartStatus.FAILED, msg
        if ename == KERNEL_DIED:
            kernel.restart()
    except Exception as e:  # the answer broke the comparison (e.g. a ragged list): a failed part, one line
        pr.status = PartStatus.FAILED
        pr.message = f"your answer could not be checked ({type(e).__name__}: {str(e)[:200]})"
        result.notes.append(f"{part.exercise_id}: the hidden test raised {type(e).__name__}; read the submission")
    else:
        if credit is None or credit.fraction >= 1.0:
            pr.status, pr.score = PartStatus.PASSED, float(part.points)
        else:
            pr.status = PartStatus.PARTIAL if credit.fraction > 0 else PartStatus.FAILED
            pr.score = round(float(part.points) * credit.fraction, 2)
        pr.message = credit.message if credit is not None else ""
    pr.message = " ".join(pr.message.split())[:400]
    return pr


def grade_many(paths: list[Path], homeworks: list[Homework], jobs: int = 1, seed: int | None = None,
               progress=None, labels: list[str] | None = None, hide: tuple[Path, ...] = (),
               **kwargs) -> list[GradeResult]:
    """Grade a class; `jobs` submissions at a time, each in its own sandbox slot (its own user).

    Every submission's folder, their common folder and `hide` (e.g. the results folder) are invisible to every
    kernel of the batch: no student reads a classmate's notebook or an earlier homework's results.
    """
    use_case_seed(grading_seed(seed))
    folders = [Path(p).resolve().parent for p in paths]
    if folders:
        folders.append(Path(os.path.commonpath(folders)))
    kwargs["hide"] = (*hide, *dict.fromkeys(folders))
    labels = labels or [Path(p).name for p in paths]
    done = [0]

    def one(i: int) -> GradeResult:
        r = grade_submission(paths[i], homeworks, label=labels[i], **kwargs)
        done[0] += 1
        if progress is not None:
            progress(done[0], len(paths), r)
        return r

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(one, range(len(paths))))
