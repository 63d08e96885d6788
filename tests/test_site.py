"""`lecture site`: the landing page from README and docs/coverage, what goes in (never solutions), publishing.

The build itself, in a browser and offline, is tests/browser/test_site_browser.py."""

from __future__ import annotations

import subprocess

import pytest

from lecture_admin import site
from tests.conftest import ROOT


def test_course_map_is_readmes_table():
    rows = site.course_map((ROOT / "README.md").read_text())
    assert [r["section"] for r in rows] == [p.stem[:2] for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))]
    assert all(r["lecture"].startswith("`notebooks/") and r["homework"].startswith("`exercises/") for r in rows)
    with pytest.raises(ValueError, match="What the course teaches"):
        site.course_map("# a README without the table\n")


def test_source_has_lectures_homework_map_and_coverage(tmp_path):
    src = site.write_source(ROOT, tmp_path / "src")
    assert sorted(p.name for p in (src / "lectures").iterdir()) == sorted(
        p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert sorted(p.name for p in (src / "homework").iterdir()) == sorted(
        p.name for p in (ROOT / "exercises").glob("[0-9][0-9]_*.ipynb"))
    for p in (src / "homework").iterdir():  # the statements as released, byte for byte
        assert p.read_bytes() == (ROOT / "exercises" / p.name).read_bytes()
    index = (src / "index.md").read_text()
    assert "## Course map" in index and "](lectures/03_successor_features.ipynb)" in index
    for cov in (ROOT / "docs" / "coverage").glob("*.md"):
        assert cov.read_text().strip().splitlines()[2] in index  # each coverage table's first row
    assert (src / "_static" / "mathjax" / "MathJax.js").exists()
    conf = (src / "conf.py").read_text()
    assert 'nb_execution_mode = "off"' in conf and "nb_ipywidgets_js = {}" in conf


def test_publish_pushes_the_site_to_gh_pages(tmp_path):
    html = tmp_path / "html"
    html.mkdir()
    (html / "index.html").write_text("<html>course</html>")
    remote, repo = tmp_path / "remote.git", tmp_path / "repo"
    git = lambda *a, cwd=repo: subprocess.run(["git", *a], cwd=cwd, check=True, capture_output=True, text=True)  # noqa: E731
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    repo.mkdir()
    git("init", "-q")
    git("remote", "add", "origin", str(remote))
    site.publish(html, repo)
    files = git("ls-tree", "--name-only", "gh-pages", cwd=remote).stdout.split()
    assert files == [".nojekyll", "index.html"]
