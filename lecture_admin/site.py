"""`lecture site`: the course as a static website (Sphinx + myst-nb), offline, from the committed notebooks.

What goes in: the lecture notebooks (notebooks/, as committed, executed: nothing is re-executed) and the
homework statements (exercises/, never solutions/). The landing page is the course map (the table under
"What the course teaches" in README.md, read at build time) and the slide-coverage tables (docs/coverage/).

Offline: MathJax 2.7 is copied into the site from the jupyter-server-mathjax package (the same files the slide
show uses), the widget scripts myst-nb would load from a CDN are switched off, and a widget output shows the
PNG its display bundle carries (myst-nb's mime priority without the widget view). The theme (furo) ships
its own assets. `find_remote_loads(out)` checks every page for anything it would load from elsewhere.

`lecture site --publish` pushes the built site to the gh-pages branch of the origin remote (ghp-import), which
GitHub Pages serves.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

from lecture_admin.slides import MATHJAX_CONFIG, copy_mathjax, remote_loads

TITLE = "Transfer and Meta Learning"

CONF = '''
project = {title!r}
author = "the course authors"
copyright = "the course authors, MIT license"
extensions = ["myst_nb", "sphinx.ext.mathjax"]
exclude_patterns = ["_build"]
html_theme = "furo"
html_title = {title!r}
html_static_path = ["_static"]
html_css_files = ["course.css"]
html_last_updated_fmt = None
html_show_sourcelink = False
html_copy_source = False
# Nothing is executed: the site shows the committed outputs.
nb_execution_mode = "off"
# A demo's display bundle has the live widget and a PNG of its figure: without a kernel, show the PNG.
nb_mime_priority_overrides = [("html", "application/vnd.jupyter.widget-view+json", None),
                              ("html", "application/javascript", None)]
nb_ipywidgets_js = {{}}  # no widget scripts (they would come from a CDN)
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
myst_update_mathjax = False  # myst's own MathJax settings are for MathJax 3; ours (below) are for 2.7
suppress_warnings = ["myst.header", "mystnb.unknown_mime_type", "misc.highlighting_failure"]
# MathJax 2.7 from the site itself (copied from the jupyter-server-mathjax package).
mathjax_path = "mathjax/MathJax.js?config={mathjax_config}"
mathjax2_config = {{
    "tex2jax": {{"inlineMath": [["\\\\(", "\\\\)"]], "displayMath": [["\\\\[", "\\\\]"]],
                "processRefs": False, "processEnvironments": False,
                # myst marks each page tex2jax_ignore and each formula .math: typeset the formulas only
                "ignoreClass": "tex2jax_ignore|mathjax_ignore", "processClass": "math"}},
    # (no automatic line breaking: it makes MathJax 2 several times slower; a wide equation scrolls instead)
    "HTML-CSS": {{"availableFonts": [], "imageFont": None, "preferredFont": None, "webFont": "STIX-Web"}},
    "messageStyle": "none",
    "showMathMenu": False,
    # AssistiveMML's hidden MathML would ask for TeX fonts that jupyter-server-mathjax does not ship
    "menuSettings": {{"assistiveMML": False}},
    "AssistiveMML": {{"disabled": True}},
}}
'''

CSS = """
/* Notebook outputs: figures at most the page width; long printed lines scroll sideways. */
.cell_output img { max-width: 100%; height: auto; }
div.cell_output pre { overflow-x: auto; }
div.math { overflow-x: auto; overflow-y: hidden; }
"""


def course_map(readme: str) -> list[dict]:
    """The rows of README's "What the course teaches" table: section, lecture, homework, slide topics."""
    m = re.search(r"^## What the course teaches\s*$(.*?)(?=^#{1,3} )", readme, re.M | re.S)
    if not m:
        raise ValueError('README.md has no "## What the course teaches" table')
    rows = []
    for line in m.group(1).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not re.fullmatch(r"\d\d", cells[0]):
            continue
        rows.append(dict(zip(("section", "lecture", "homework", "topics"), cells)))
    if not rows:
        raise ValueError('README.md\'s "What the course teaches" table has no rows')
    return rows


def _link(cell: str, folder: str, page: str) -> str:
    """`notebooks/03_x.ipynb` -> a link to the site's page for it; the rest of the cell stays."""
    return re.sub(r"`(?:notebooks|exercises)/([^`]+)\.ipynb`", lambda m: f"[{m.group(1)}]({folder}/{page}.ipynb)",
                  cell, count=1)


def landing_page(root: Path, lectures: list[Path], homework: list[Path]) -> str:
    rows = course_map((root / "README.md").read_text())
    lines = [f"# {TITLE}", "",
             "One lecture of a CS 285-style deep reinforcement learning course, as Jupyter notebooks that run on a "
             "laptop CPU: every idea on the slides is taught by a real experiment. These pages show the lecture "
             "notebooks as committed (executed, with their outputs) and the homework statements. To run them, "
             "clone the repository and `python3 course.py`.", "",
             "## Course map", "",
             "| section | lecture notebook | homework (graded parts) | slide topics |", "|---|---|---|---|"]
    for r in rows:
        lec = _link(r["lecture"], "lectures", Path(re.search(r"/([^/`]+)\.ipynb", r["lecture"]).group(1)).name)
        hw = _link(r["homework"], "homework", Path(re.search(r"/([^/`]+)\.ipynb", r["homework"]).group(1)).name)
        lines.append(f"| {r['section']} | {lec} | {hw} | {r['topics']} |")
    lines += ["", "## Slide coverage: which notebook heading teaches each slide topic", ""]
    for cov in sorted((root / "docs" / "coverage").glob("*.md")):
        name = next((p.stem for p in lectures if p.stem.startswith(cov.stem)), cov.stem)
        lines += [f"### {name.replace('_', ' ')}", "", f"Lecture: [{name}](lectures/{name}.ipynb)", "",
                  cov.read_text().strip(), ""]
    lines += ["```{toctree}", ":caption: Lectures", ":maxdepth: 1", "",
              *[f"lectures/{p.stem}" for p in lectures], "```", "",
              "```{toctree}", ":caption: Homework", ":maxdepth: 1", "",
              *[f"homework/{p.stem}" for p in homework], "```", ""]
    return "\n".join(lines)


def write_source(root: Path, src: Path) -> Path:
    """The Sphinx project: conf.py, index.md, the notebooks (copied as committed) and _static/."""
    if src.exists():
        shutil.rmtree(src)
    (src / "lectures").mkdir(parents=True)
    (src / "homework").mkdir()
    lectures = sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    homework = sorted((root / "exercises").glob("[0-9][0-9]_*.ipynb"))
    if not lectures or not homework:
        raise SystemExit(f"lecture site: no notebooks in {root / 'notebooks'} or {root / 'exercises'}")
    for p in lectures:
        shutil.copy2(p, src / "lectures" / p.name)
    for p in homework:
        shutil.copy2(p, src / "homework" / p.name)
    (src / "conf.py").write_text(CONF.format(title=TITLE, mathjax_config=MATHJAX_CONFIG))
    (src / "index.md").write_text(landing_page(root, lectures, homework))
    static = src / "_static"
    static.mkdir()
    (static / "course.css").write_text(CSS)
    copy_mathjax(static / "mathjax")
    return src


def folder_size(path: Path) -> tuple[int, int]:
    files = [p for p in Path(path).rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files), len(files)


def find_remote_loads(html_dir: Path) -> dict[str, list[str]]:
    """Pages that would load something (script, style, image, font) from outside the site."""
    out = {}
    for page in Path(html_dir).rglob("*.html"):
        remote = remote_loads(page.read_text(errors="replace"))
        if remote:
            out[str(page.relative_to(html_dir))] = remote
    return out


def build(root: Path, out: Path, jobs: int = 2, quiet: bool = True) -> dict:
    """Build the site into out/html (the Sphinx project in out/src). Returns seconds, bytes, files, pages."""
    from sphinx.cmd.build import build_main

    t0 = time.perf_counter()
    out = Path(out).resolve()
    src = write_source(root, out / "src")
    html = out / "html"
    args = ["-b", "html", "-j", str(jobs), "-E", "-d", str(out / "doctrees"), str(src), str(html)]
    if quiet:
        args.insert(0, "-q")
    status = build_main(args)
    if status != 0:
        raise SystemExit(f"lecture site: sphinx-build failed (exit {status})")
    remote = find_remote_loads(html)
    if remote:
        raise SystemExit(f"lecture site: pages would load from the internet: {remote}")
    (html / ".nojekyll").write_text("")  # GitHub Pages: serve _static/ as is
    seconds = time.perf_counter() - t0
    size, files = folder_size(html)
    pages = len(list(html.rglob("*.html")))
    return {"seconds": seconds, "bytes": size, "files": files, "pages": pages, "html": str(html)}


def publish(html: Path, repo: Path, remote: str = "origin", branch: str = "gh-pages", push: bool = True) -> None:
    """Commit the built site to `branch` of the git repository `repo` (replacing its content) and push it:
    GitHub Pages serves that branch."""
    import os

    from ghp_import import ghp_import

    cwd = os.getcwd()
    os.chdir(repo)  # ghp-import works on the repository it runs in
    try:
        ghp_import(str(Path(html).resolve()), mesg="Course website (lecture site --publish)", remote=remote,
                   branch=branch, push=push, force=True, nojekyll=True, no_history=True)
    finally:
        os.chdir(cwd)
