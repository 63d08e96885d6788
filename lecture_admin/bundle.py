"""`lecture release --student DIR`: what students receive, and nothing else.

    DIR/
      README.md                 for students: open, do a homework, self-check, submit
      course.py                 set-up + `python3 course.py` (JupyterLab) / `python3 course.py check NN`
      pyproject.toml            installs lecture_utils only, with the pinned runtime dependencies (no dev extras)
      lecture_utils/            the student layer (environments, algorithms, plots, widgets, public self-checks)
      notebooks/                the lecture notebooks, executed (outputs kept)
      exercises/                the homework, released (no outputs)

No solutions, hidden tests, references, trainers, grader or repository history. Hand it out as a git
repository, a zip, or an nbgitpuller link on JupyterHub (README, "Handing out the course").
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from lecture_admin.release import release_all

_COPY = ("lecture_utils", "notebooks", "exercises")
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints", "*.egg-info")


def student_pyproject(root: Path) -> str:
    """The course's pyproject.toml, cut to the student layer: lecture_utils, runtime dependencies, no scripts."""
    text = (root / "pyproject.toml").read_text(encoding="utf-8")
    text = re.sub(r"\n\[project\.optional-dependencies\]\n.*?(?=\n\[)", "\n", text, flags=re.S)
    text = re.sub(r"\n\[project\.scripts\]\n.*?(?=\n\[)", "\n", text, flags=re.S)
    text = re.sub(r"\n\[tool\.(pytest|ruff)[^\]]*\]\n.*?(?=\n\[|\Z)", "\n", text, flags=re.S)
    text = text.replace('include = ["lecture_utils*", "lecture_admin*"]', 'include = ["lecture_utils*"]')
    text = re.sub(r'\nlecture_admin = \[[^\]]*\]', "", text)
    text = text.replace('name = "lecture-utils"', 'name = "lecture-utils-student"')
    return text.rstrip() + "\n"


def build_student_bundle(root: Path, dest: Path) -> list[Path]:
    """Write the student bundle to `dest` (must not exist or be empty). Returns the top-level entries."""
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise SystemExit(f"lecture release --student: {dest} is not empty; give a new folder")
    problems = release_all(root, check_only=True)
    if problems:
        raise SystemExit("lecture release --student: exercises/ is out of date; run `lecture release` first:\n  "
                         + "\n  ".join(problems))
    dest.mkdir(parents=True, exist_ok=True)
    for name in _COPY:
        shutil.copytree(root / name, dest / name, ignore=_IGNORE)
    shutil.copy(root / "course.py", dest / "course.py")  # the same entry point: lab, check (no tests there)
    shutil.copy(Path(__file__).resolve().parent / "student_template" / "README.md", dest / "README.md")
    (dest / "pyproject.toml").write_text(student_pyproject(root), encoding="utf-8")
    return sorted(dest.iterdir())
