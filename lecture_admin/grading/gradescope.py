"""Gradescope: build the autograder bundle, and the entry point its run_autograder calls.

Bundle layout (the zip Gradescope unpacks into /autograder/source)::

    setup.sh, run_autograder     at the root (from lecture_admin/autograder_template/)
    autograder.json              which homework, the limits
    exercises/*.ipynb            the released notebooks (the graded one, and the others to recognise them)
    course/                      the course (pyproject.toml, lecture_utils/, lecture_admin/), pip-installed by setup.sh

    python -m lecture_admin.grading.gradescope --root /autograder --config /autograder/source/autograder.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
import traceback
import zipfile
from pathlib import Path

from lecture_admin.grading.grader import Limits, grade_many, grading_seed
from lecture_admin.grading.homework import load_homework, load_homeworks, select_homework
from lecture_admin.grading.results import GradeResult, PartResult, PartStatus, Status, write_results_json
from lecture_admin.grading.submission import read_submission

TEMPLATE = Path(__file__).resolve().parent.parent / "autograder_template"


def _course_files(root: Path):
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (root / name).is_file():
            yield root / name, Path(name)
    for pkg in (root / "lecture_utils", root / "lecture_admin"):
        for p in sorted(pkg.rglob("*")):
            if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo"):
                yield p, p.relative_to(root)


def build_bundle(root: Path, section: str, out: Path, limits: Limits | None = None, seed: int | None = None) -> Path:
    """Write the Gradescope autograder zip for homework `section` of the course in `root`.

    The hidden cases' seed goes into the zip (never into the repository): given, or a fresh random one.
    """
    limits = limits or Limits()
    exercises = sorted((root / "exercises").glob("*.ipynb"))
    hw = select_homework(load_homeworks(root / "exercises"), section)
    config = {
        "homework": f"exercises/{hw.path.name}",
        "parts": [dataclasses.asdict(p) for p in hw.parts],
        "limits": dataclasses.asdict(limits),
        "seed": grading_seed(seed),
        "built": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name in ("setup.sh", "run_autograder"):
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o100755 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, (TEMPLATE / name).read_bytes())
        z.writestr("autograder.json", json.dumps(config, indent=2) + "\n")
        for ex in exercises:
            z.write(ex, f"exercises/{ex.name}")
        for src, rel in _course_files(root):
            z.write(src, f"course/{rel.as_posix()}")
    return out


def extract_bundle(zip_path: Path, dest: Path) -> Path:
    """Unzip like Gradescope does (keeping the executable bits)."""
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zip_path) as z:
        for info in z.infolist():
            target = dest / info.filename
            z.extract(info, dest)
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                target.chmod(mode)
    return dest


def _pick_submission(folder: Path, hw_name: str) -> tuple[Path | None, str]:
    found = sorted(p for p in folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts) if folder.is_dir() else []
    if not found:
        others = sorted(p.name for p in folder.rglob("*") if p.is_file())[:5] if folder.is_dir() else []
        listing = f" (found: {', '.join(others)})" if others else ""
        return None, f"no .ipynb notebook in your submission{listing}: upload your {hw_name}"
    if len(found) == 1:
        return found[0], ""
    named = [p for p in found if p.name == hw_name]
    pick = named[0] if named else found[0]
    return pick, f"several notebooks were submitted; graded {pick.name}"


def run(root: Path, config_path: Path) -> GradeResult:
    config = json.loads(config_path.read_text())
    base = config_path.parent
    hw = load_homework(base / config["homework"])
    homeworks = [hw] + [h for h in load_homeworks(base / "exercises") if h.path.name != hw.path.name]
    limits = Limits(**config.get("limits", {}))
    sub, note = _pick_submission(root / "submission", hw.path.name)
    if sub is None:
        result = GradeResult(submission="(none)", homework=hw.key, status=Status.INVALID, messages=[note])
        result.parts = [PartResult(p.exercise_id, p.title, p.points, p.optional, 0.0, PartStatus.FAILED, note)
                        for p in hw.parts]
        return result
    [result] = grade_many([sub], homeworks, seed=config.get("seed"), homework=hw, limits=limits,
                          labels=[str(sub.relative_to(root / "submission"))], hide=(root / "source",))
    if note:
        result.messages.insert(0, note)
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lecture_admin.grading.gradescope")
    ap.add_argument("--root", type=Path, default=Path("/autograder"))
    ap.add_argument("--config", type=Path, default=Path("/autograder/source/autograder.json"))
    ap.add_argument("--check", action="store_true", help="only load the configuration (setup.sh's smoke test)")
    args = ap.parse_args(argv)
    if args.check:
        config = json.loads(args.config.read_text())
        hw = load_homework(args.config.parent / config["homework"])
        print(f"autograder ready: {hw.key}, parts {', '.join(p.exercise_id for p in hw.parts)}")
        return 0
    results = args.root / "results" / "results.json"
    try:
        result = run(args.root, args.config)
    except Exception as e:
        traceback.print_exc()
        msg = f"the autograder failed ({type(e).__name__}: {e}); please tell the course staff"
        result = GradeResult(submission="?", status=Status.ERROR, messages=[msg])
    write_results_json(result, results)
    print(result.report())
    return 0


__all__ = ["build_bundle", "extract_bundle", "main", "read_submission", "run"]

if __name__ == "__main__":
    sys.exit(main())
