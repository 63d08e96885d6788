"""Two layers: the student layer (lecture_utils) never imports the instructor's tools (lecture_admin), and
what students receive (`lecture release --student`) holds no solutions, hidden tests, references or grader."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from lecture_admin.bundle import build_student_bundle, student_pyproject

ROOT = Path(__file__).resolve().parent.parent


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                "import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
            out.add(str(node.args[0].value))
    return out


def student_layer_violations(root: Path) -> list[str]:
    bad = []
    for py in sorted((root / "lecture_utils").rglob("*.py")):
        for mod in _imports(py):
            if mod == "lecture_admin" or mod.startswith("lecture_admin."):
                bad.append(f"{py.relative_to(root)} imports {mod}")
    return bad


def test_student_layer_never_imports_the_instructor_layer():
    assert student_layer_violations(ROOT) == []


def test_the_import_direction_test_can_fail(tmp_path):
    pkg = tmp_path / "lecture_utils"
    pkg.mkdir()
    (pkg / "bad.py").write_text("import importlib\nfrom lecture_admin.grading import grader\n"
                                "importlib.import_module('lecture_admin.release')\n")
    assert len(student_layer_violations(tmp_path)) == 2


def test_notebooks_and_exercises_import_only_the_student_layer():
    import nbformat

    for nb_path in [*ROOT.glob("notebooks/*.ipynb"), *ROOT.glob("exercises/*.ipynb")]:
        for cell in nbformat.read(nb_path, as_version=4).cells:
            if cell.cell_type == "code":
                assert "lecture_admin" not in cell.source, f"{nb_path.name} uses the instructor's tools"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    dest = tmp_path_factory.mktemp("bundle") / "course"
    build_student_bundle(ROOT, dest)
    return dest


def test_bundle_holds_what_students_need_and_nothing_else(bundle):
    top = sorted(p.name for p in bundle.iterdir())
    assert top == ["README.md", "course.py", "exercises", "lecture_utils", "notebooks", "pyproject.toml"]
    files = [p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file()]
    for forbidden in ("solutions/", "lecture_admin/", "tests/", ".git/", "hidden/", "grading/", "sf_answers"):
        assert not any(forbidden in f for f in files), forbidden
    assert sorted(p.name for p in (bundle / "exercises").glob("*.ipynb")) == \
        sorted(p.name for p in (ROOT / "solutions").glob("*.ipynb"))
    for ex in (bundle / "exercises").glob("*.ipynb"):
        text = ex.read_text()
        assert "BEGIN SOLUTION" not in text and '"output_type"' not in text
    assert student_layer_violations(bundle) == []


def test_bundle_installs_no_development_extras():
    text = student_pyproject(ROOT)
    for dev in ("pytest-xdist", "ruff", "playwright", "nbgrader", "lecture_admin", "[project.scripts]"):
        assert dev not in text, dev
    assert 'include = ["lecture_utils*"]' in text


def test_bundle_refuses_a_nonempty_folder(tmp_path):
    (tmp_path / "x").write_text("keep me")
    with pytest.raises(SystemExit, match="not empty"):
        build_student_bundle(ROOT, tmp_path)
    assert (tmp_path / "x").read_text() == "keep me"
