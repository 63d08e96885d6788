"""`lecture slides`: slide metadata for the lecture notebooks, and an offline reveal.js slide show.

Two jobs:

* `annotate(nb)` sets every cell's ``metadata.slideshow.slide_type`` by the rules below (idempotent: the
  same notebook always gets the same metadata). `lecture slides --annotate [PATH...]` writes it,
  `lecture slides --check [PATH...]` only reports the cells that differ (tests/test_slides.py runs it).
* `export(nb, out)` writes the slide show with nbconvert's reveal.js template
  (lecture_admin/slides_template/course_slides.html.j2) and copies every script it loads into
  ``out/_static/``: reveal.js, require.js and jQuery vendored from npm (lecture_admin/vendor/VENDOR.json)
  and MathJax 2.7 from the `jupyter-server-mathjax` PyPI package. Nothing is fetched from the internet while
  presenting. Widgets show the static PNG their display bundle carries (an exported show has no kernel).

The rules (one idea per slide, every slide within 1280x720):

1. A tag ``slide:TYPE`` on a cell (TYPE one of slide, subslide, fragment, skip, notes, -) wins: the
   annotator keeps TYPE and counts the cell's height as the rule it chose would.
2. The set-up cell (imports, ``import lecture_utils`` and ``lecture_utils.setup(``, no output) is ``skip``:
   the show starts with the idea (the cell still runs when the notebook is run in JupyterLab).
3. A markdown cell that starts with a ``#`` or ``##`` heading starts a ``slide`` (a new idea);
   one that starts with ``###`` starts a ``subslide`` (a step of the same idea, below it).
4. Every other cell stays on the current slide (``-``): the code that checks the idea's equation and the
   figure it draws sit with the idea's text. A markdown remark that follows an output on the same slide is
   a ``fragment`` (it appears on the next click, after the audience has seen the result).
5. Fit: each cell's height on a 1280x720 slide is estimated (wrapped text lines, code lines, printed
   lines, the PNG's own size); when a cell would push the slide past the budget it starts a ``subslide``
   (the same idea continued below) instead. A cell taller than a slide alone stays one subslide; the
   browser test (tests/browser/test_slides_browser.py) measures every slide and fails on any that overflows.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import shutil
import struct
from pathlib import Path

import nbformat

SLIDE_TYPES = ("slide", "subslide", "fragment", "skip", "notes", "-")
TAG_PREFIX = "slide:"
HIDE_INPUT_TAG = "slides-hide-input"  # on a slide, show this cell's output without its code
HERE = Path(__file__).resolve().parent
VENDOR = HERE / "vendor"
TEMPLATE_DIR = HERE / "slides_template"

# The slide: reveal's logical size (scaled to the window) and what a cell may fill.
WIDTH, HEIGHT = 1280, 720
BUDGET = 640  # px of the 720 for content (reveal's margin and the progress bar take the rest)

# Calibrated on the exported slides in Chromium (tests/browser/test_slides_browser.py measures the result).
TEXT_LINE = 23.0  # px per wrapped line of markdown at 17 px
TEXT_CHARS = 140  # characters per line of markdown across the slide
PARA_GAP = 14.0  # px between paragraphs and list items
HEADING = {1: 62.0, 2: 54.0, 3: 44.0, 4: 34.0}
TABLE_ROW = 29.0
MATH_BLOCK = 64.0  # a display equation
MATH_LINE = 14.0  # each further source line of a display equation (aligned rows, fractions)
MD_PAD = 30.0  # px around a markdown cell
CODE_LINE = 19.0  # px per line of code at 15 px
OUT_LINE = 19.0  # px per printed line
CELL_PAD = 14.0  # px around each visible cell
IMG_MAX_H = 440.0  # the template caps a figure's height (course_slides.html.j2)
IMG_MAX_W = 1240.0


class SlidesError(ValueError):
    pass


# --------------------------------------------------------------------------------------------- heights

def _png_size(b64: str) -> tuple[int, int]:
    head = base64.b64decode(b64[:64] + "=" * (-len(b64[:64]) % 4))
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        return (640, 480)
    w, h = struct.unpack(">II", head[16:24])
    return int(w), int(h)


def _inline_len(text: str) -> int:
    """Characters a line of markdown takes on screen: inline math renders about half as wide as its TeX."""
    return len(re.sub(r"\$([^$]+)\$", lambda m: "x" * (len(m.group(1)) // 2), text))


def _text_height(text: str) -> float:
    """Height of rendered markdown: paragraphs re-wrapped at the slide's width, headings, table rows,
    display equations."""
    h, para, in_math, math_lines = 0.0, "", False, 0

    def flush() -> float:
        nonlocal para
        if not para:
            return 0.0
        lines = max(1, -(-_inline_len(para) // TEXT_CHARS))
        para = ""
        return TEXT_LINE * lines + PARA_GAP

    for raw in text.splitlines():
        line = raw.strip()
        n = line.count("$$")
        if in_math:
            math_lines += 1
            if n % 2 == 1:
                in_math = False
                h += MATH_BLOCK + MATH_LINE * max(0, math_lines - 1)
            continue
        if line.startswith("$$"):
            h += flush()
            if n % 2 == 1:
                in_math, math_lines = True, 1
            else:
                h += MATH_BLOCK
            continue
        if not line:
            h += flush()
            continue
        if line.startswith("#"):
            h += flush()
            level = len(line) - len(line.lstrip("#"))
            h += HEADING.get(level, 30.0) * max(1, -(-len(line) * (5 - min(level, 4)) // (3 * TEXT_CHARS)))
            continue
        if line.startswith("|"):
            h += flush()
            if set(line) <= set("|-: "):
                continue
            cells = line.strip("|").split("|")
            width = max(8, TEXT_CHARS // max(1, len(cells)))
            h += TABLE_ROW * max(max(1, -(-_inline_len(c.strip()) // width)) for c in cells)
            continue
        if re.match(r"^([-*+]|\d+\.)\s", line) or line.startswith(">"):
            h += flush()
        para += " " + line
    h += flush()
    if in_math:
        h += MATH_BLOCK + MATH_LINE * max(0, math_lines - 1)
    return h


def _output_height(out: dict) -> float:
    data = out.get("data", {})
    if "image/png" in data:
        w, h = _png_size(data["image/png"])
        scale = min(1.0, IMG_MAX_W / max(w, 1), IMG_MAX_H / max(h, 1))
        return h * scale + 48
    if out.get("output_type") == "stream":
        return OUT_LINE * (len("".join(out.get("text", "")).rstrip("\n").splitlines()) or 1) + 8
    if out.get("output_type") == "error":
        return OUT_LINE * 12
    if "text/html" in data:
        return OUT_LINE * min(30, len("".join(data["text/html"]).splitlines()))
    if "text/plain" in data:
        return OUT_LINE * len("".join(data["text/plain"]).splitlines()) + 8
    return 0.0


def cell_height(cell: dict) -> float:
    """Estimated height in px of a cell on a 1280x720 slide (input and outputs)."""
    src = "".join(cell.get("source", ""))
    if cell.get("cell_type") == "markdown":
        return _text_height(src) + MD_PAD
    if cell.get("cell_type") == "code":
        lines = len(src.rstrip("\n").splitlines()) or 1
        return CODE_LINE * lines + 16 + sum(_output_height(o) for o in cell.get("outputs", [])) + CELL_PAD
    return _text_height(src) + CELL_PAD


# --------------------------------------------------------------------------------------------- rules

def _override(cell: dict) -> str | None:
    tags = [t for t in cell.get("metadata", {}).get("tags", []) if t.startswith(TAG_PREFIX)]
    if not tags:
        return None
    if len(tags) > 1:
        raise SlidesError(f"a cell has more than one slide tag: {tags}")
    kind = tags[0][len(TAG_PREFIX):]
    if kind not in SLIDE_TYPES:
        raise SlidesError(f"unknown slide tag {tags[0]!r}; use one of {[TAG_PREFIX + k for k in SLIDE_TYPES]}")
    return kind


def _heading_level(cell: dict) -> int:
    if cell.get("cell_type") != "markdown":
        return 0
    first = "".join(cell.get("source", "")).lstrip().split("\n", 1)[0]
    if not first.startswith("#"):
        return 0
    level = len(first) - len(first.lstrip("#"))
    return level if first[level:level + 1] == " " else 0


def _is_setup(cell: dict) -> bool:
    src = "".join(cell.get("source", ""))
    return (cell.get("cell_type") == "code" and "import lecture_utils" in src and "lecture_utils.setup(" in src
            and not cell.get("outputs"))


def slide_types(cells: list[dict]) -> list[str]:
    """The slide type of each cell by the module's rules."""
    types: list[str] = []
    used = 0.0  # height filled on the current (sub)slide
    seen_output = False  # the current slide already shows an output
    for cell in cells:
        forced = _override(cell)
        h = cell_height(cell)
        level = _heading_level(cell)
        if forced is not None:
            kind = forced
        elif _is_setup(cell):
            kind = "skip"
        elif level in (1, 2):
            kind = "slide"
        elif level >= 3:
            kind = "subslide"
        elif not types or all(t in ("skip", "notes") for t in types):
            kind = "slide"
        elif used + h > BUDGET:
            kind = "subslide"
        elif cell.get("cell_type") == "markdown" and seen_output:
            kind = "fragment"
        else:
            kind = "-"
        if kind in ("slide", "subslide"):
            used, seen_output = 0.0, False
        if kind not in ("skip", "notes"):
            used += h
            seen_output = seen_output or bool(cell.get("outputs"))
        types.append(kind)
    return types


def annotate(nb: dict) -> dict:
    """The notebook with every cell's metadata.slideshow.slide_type set by the rules (a copy)."""
    nb = copy.deepcopy(nb)
    for cell, kind in zip(nb["cells"], slide_types(nb["cells"])):
        cell.setdefault("metadata", {})["slideshow"] = {"slide_type": kind}
    return nb


def differences(nb: dict) -> list[str]:
    """Cells whose stored slide type is not what the annotator gives (empty when up to date)."""
    out = []
    for i, (cell, kind) in enumerate(zip(nb["cells"], slide_types(nb["cells"]))):
        have = cell.get("metadata", {}).get("slideshow", {}).get("slide_type")
        if have != kind:
            first = "".join(cell.get("source", "")).strip().split("\n", 1)[0][:50]
            out.append(f"cell {i} ({first!r}): stored {have!r}, the rules give {kind!r}")
    return out


def lecture_notebooks(root: Path) -> list[Path]:
    return sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def annotate_paths(paths: list[Path], check: bool = False) -> list[str]:
    """Annotate the notebooks in place (or, with check, only report what differs). Returns report lines."""
    report = []
    for p in paths:
        text = Path(p).read_text()
        nb = json.loads(text)
        diffs = differences(nb)
        if check:
            report += [f"{p}: {d}" for d in diffs]
            continue
        if diffs:
            new = nbformat.writes(nbformat.from_dict(annotate(nb)))
            Path(p).write_text(new if new.endswith("\n") else new + "\n")
            report.append(f"{p}: annotated ({len(diffs)} cells changed)")
        else:
            report.append(f"{p}: already annotated")
    return report


def summary(nb: dict) -> dict:
    """Counts of slides, subslides, fragments and skipped cells (what `lecture slides --annotate` prints)."""
    types = slide_types(nb["cells"])
    return {k: types.count(k) for k in ("slide", "subslide", "fragment", "skip", "notes")}


# --------------------------------------------------------------------------------------------- export

def _vendor_manifest() -> dict:
    return json.loads((VENDOR / "VENDOR.json").read_text())


def mathjax_dir() -> Path:
    import jupyter_server_mathjax

    return Path(jupyter_server_mathjax.__file__).resolve().parent / "static"


# What of MathJax 2.7 the pages load (the HTML-CSS output with the STIX-Web fonts); the rest is left out.
MATHJAX_PARTS = ("MathJax.js", "LICENSE", "config", "extensions", "jax/input/TeX", "jax/output/HTML-CSS",
                 "jax/element", "fonts")
MATHJAX_SKIP = ("a11y",)
MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full,Safe"


def copy_mathjax(dest: Path) -> Path:
    """Copy the MathJax 2.7 files the pages use from the jupyter-server-mathjax package into dest."""
    src = mathjax_dir()
    if not (src / "MathJax.js").exists():
        raise SlidesError(f"MathJax not found in {src}: pip install jupyter-server-mathjax")
    for part in MATHJAX_PARTS:
        s = src / part
        if s.is_dir():
            shutil.copytree(s, dest / part, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*MATHJAX_SKIP))
        elif s.exists():
            (dest / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(s, dest / part)
    return dest


def copy_static(dest: Path) -> Path:
    """reveal.js, require.js, jQuery (vendored) and MathJax into dest (the export's _static/)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in _vendor_manifest()["packages"]:
        shutil.copytree(VENDOR / name, dest / name, dirs_exist_ok=True)
    copy_mathjax(dest / "mathjax")
    return dest


def _exporter():
    from nbconvert import SlidesExporter
    from traitlets.config import Config

    c = Config()
    c.SlidesExporter.reveal_url_prefix = "_static/reveal.js"
    c.SlidesExporter.reveal_theme = "white"
    c.SlidesExporter.reveal_transition = "none"
    c.SlidesExporter.reveal_number = "c/t"
    c.SlidesExporter.reveal_width = str(WIDTH)
    c.SlidesExporter.reveal_height = str(HEIGHT)
    c.SlidesExporter.require_js_url = "_static/requirejs/require.js"
    c.SlidesExporter.jquery_url = "_static/jquery/jquery.min.js"
    c.SlidesExporter.mathjax_url = f"_static/mathjax/MathJax.js?config={MATHJAX_CONFIG}"
    c.SlidesExporter.font_awesome_url = ""
    c.SlidesExporter.exclude_input_prompt = True
    c.SlidesExporter.exclude_output_prompt = True
    # A cell tagged HIDE_INPUT_TAG shows only its output on a slide (long plotting code under a figure).
    c.TagRemovePreprocessor.enabled = True
    c.TagRemovePreprocessor.remove_input_tags = {HIDE_INPUT_TAG}
    c.SlidesExporter.extra_template_paths = [str(TEMPLATE_DIR)]
    c.SlidesExporter.template_file = "course_slides.html.j2"
    return SlidesExporter(config=c)


def export(nb_path: Path, out_dir: Path, annotate_first: bool = True) -> Path:
    """Write NAME.slides.html and _static/ to out_dir; returns the HTML file's path.

    The slide types are the notebook's own; with annotate_first the rules fill in any the notebook lacks
    (so that a notebook not yet annotated still presents by the rules)."""
    nb_path, out_dir = Path(nb_path), Path(out_dir)
    if not nb_path.exists():
        raise SlidesError(f"no notebook at {nb_path}")
    nb = nbformat.reads(nb_path.read_text(), as_version=4)
    if annotate_first and any("slideshow" not in c.get("metadata", {}) for c in nb["cells"]):
        nb = nbformat.from_dict(annotate(nb))
    nb.get("metadata", {}).pop("widgets", None)  # no kernel: widgets fall back to their PNG
    body, _ = _exporter().from_notebook_node(nb)
    remote = remote_loads(body)
    if remote:
        raise SlidesError(f"the slide show would load {remote[0]} from the internet; check the template")
    copy_static(out_dir / "_static")
    html = out_dir / f"{nb_path.stem}.slides.html"
    html.write_text(body)
    return html


_REMOTE = re.compile(r"""(?:\b(?:src|href)\s*=\s*["']|url\(\s*["']?|@import\s+["']|\bimport\s+[\w{}\s,*]*from\s+["'])"""
                     r"""((?:https?:)?//[^"')\s]+)""", re.I)


def remote_loads(html: str) -> list[str]:
    """URLs outside the page's own folder that the HTML would load (scripts, styles, images, fonts, modules).
    Links a reader may click (<a href>) are not loads and are left out."""
    html = re.sub(r"<a\s[^>]*>", "", html)
    return sorted(set(_REMOTE.findall(html)))


def find_notebook(root: Path, key: str) -> Path:
    """`03`, `03_successor_features` or a path -> the lecture notebook."""
    p = Path(key)
    if p.suffix == ".ipynb":
        if not p.exists():
            raise SlidesError(f"no notebook at {p}")
        return p
    hits = [q for q in lecture_notebooks(root) if q.stem == key or q.stem.split("_", 1)[0] == key]
    if len(hits) != 1:
        names = ", ".join(q.stem.split("_", 1)[0] for q in lecture_notebooks(root))
        raise SlidesError(f"no lecture notebook {key!r}; choose one of {names}")
    return hits[0]


def present(html: Path, port: int = 0) -> int:
    """Serve the export's folder on 127.0.0.1 and open the show in the default browser (Ctrl-C stops)."""
    import functools
    import http.server
    import webbrowser

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), functools.partial(Quiet, directory=str(html.parent)))
    url = f"http://127.0.0.1:{server.server_address[1]}/{html.name}"
    print(f"presenting {url} (f: full screen, s: speaker notes, Esc: overview; Ctrl-C stops)", flush=True)
    webbrowser.open(url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
