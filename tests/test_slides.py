"""Slide mode: the annotator's rules, the lecture notebooks' stored slide metadata, the offline export.

`test_lecture_notebooks_carry_the_annotators_slide_metadata` fails until `lecture slides --annotate` has been run
on the notebooks (and after any edit that changes what the rules give): run it, then commit the notebooks.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json

import nbformat
import pytest

from lecture_admin import slides
from tests.conftest import ROOT

LECTURES = slides.lecture_notebooks(ROOT)


def _png(w: int, h: int) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(w / 100, h / 100), dpi=100)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def md(text, **meta):
    return nbformat.v4.new_markdown_cell(text, metadata=meta)


def code(text, outputs=(), **meta):
    c = nbformat.v4.new_code_cell(text, metadata=meta)
    c.outputs = list(outputs)
    return c


def fig(w=800, h=300):
    return nbformat.v4.new_output("display_data", data={"image/png": _png(w, h), "text/plain": "<Figure>"})


def printed(n):
    return nbformat.v4.new_output("stream", name="stdout", text="".join(f"line {i}\n" for i in range(n)))


def nb_of(*cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells)
    return nb


def test_rules_one_idea_per_slide():
    nb = nb_of(
        md("# 07: a title\n\nWhat this notebook does."),
        code("import lecture_utils\n\nrng = lecture_utils.setup(seed=0)"),
        md("## 1. An idea\n\n$$x = 1$$"),
        code("x = 1\nprint(x)", [printed(1)]),
        code("plt.plot([x])", [fig(800, 200)]),
        md("What the figure shows."),
        md("### 1a. A step of the same idea"),
        code("y = 2"),
        md("## 2. The next idea"),
    )
    assert slides.slide_types(nb.cells) == ["slide", "skip", "slide", "-", "-", "fragment", "subslide", "-", "slide"]


def test_rules_fit_a_slide_and_tags_override():
    tall = [code(f"plot({i})", [fig(1000, 380)]) for i in range(3)]
    nb = nb_of(md("## 1. Three figures"), *tall)
    types = slides.slide_types(nb.cells)
    assert types[0] == "slide" and "subslide" in types[1:], types  # three 380 px figures do not fit one slide
    # every (sub)slide's estimated height is within the budget unless a single cell is taller
    used = 0.0
    for cell, kind in zip(nb.cells, types):
        h = slides.cell_height(cell)
        used = h if kind in ("slide", "subslide") else used + h
        assert used <= slides.BUDGET or kind in ("slide", "subslide")
    # a tag wins, and the rules around it go on from what it chose
    tagged = nb_of(md("## 1. x"), code("a = 1", tags=["slide:skip"]), md("more", tags=["slide:notes"]),
                   code("b = 2", tags=["slide:subslide"]))
    assert slides.slide_types(tagged.cells) == ["slide", "skip", "notes", "subslide"]
    with pytest.raises(slides.SlidesError, match="unknown slide tag"):
        slides.slide_types([code("a", tags=["slide:sideways"])])


def test_annotate_is_idempotent_and_check_reports(tmp_path):
    for src in LECTURES:
        p = tmp_path / src.name
        p.write_text(src.read_text())
        nb = json.loads(p.read_text())
        for c in nb["cells"]:  # start from a notebook without slide metadata
            c["metadata"].pop("slideshow", None)
        p.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
        assert slides.annotate_paths([p], check=True), f"{p.name}: --check must report missing metadata"
        first = slides.annotate_paths([p])
        assert "annotated" in first[0]
        once = p.read_text()
        assert slides.annotate_paths([p]) == [f"{p}: already annotated"]
        assert p.read_text() == once  # idempotent, byte for byte
        assert slides.annotate_paths([p], check=True) == []
        # only the slide metadata changed: sources and outputs are untouched
        a, b = json.loads(src.read_text()), json.loads(once)
        for ca, cb in zip(a["cells"], b["cells"]):
            assert ca["source"] == cb["source"] and ca.get("outputs") == cb.get("outputs")
            assert cb["metadata"]["slideshow"]["slide_type"] in slides.SLIDE_TYPES
        counts = slides.summary(b)
        assert counts["slide"] >= 2 if "00_" not in p.name else counts["slide"] >= 1


def test_cli_annotate_and_check(tmp_path, capsys):
    from lecture_admin.cli import main

    p = tmp_path / LECTURES[-1].name
    nb = json.loads(LECTURES[-1].read_text())
    for c in nb["cells"]:
        c["metadata"].pop("slideshow", None)
    p.write_text(json.dumps(nb))
    assert main(["slides", "--check", str(p)]) == 1
    assert "the rules give" in capsys.readouterr().err
    assert main(["slides", "--annotate", str(p)]) == 0
    assert "annotated" in capsys.readouterr().out
    assert main(["slides", "--check", str(p)]) == 0
    assert main(["slides", "99", "--no-browser"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "lecture slides: error: no lecture notebook '99'; choose one of " + ", ".join(q.stem[:2] for q in LECTURES)]


def test_lecture_notebooks_carry_the_annotators_slide_metadata():
    """Fails until `lecture slides --annotate` is run on the notebooks (then commit them)."""
    report = slides.annotate_paths(LECTURES, check=True)
    assert not report, (f"{len(report)} cells differ from the slide rules; run `lecture slides --annotate` and "
                        "commit the notebooks:\n" + "\n".join(report[:10]))


def test_vendored_browser_files_are_the_registry_packages():
    manifest = json.loads((slides.VENDOR / "VENDOR.json").read_text())
    on_disk = {str(p.relative_to(slides.VENDOR)) for p in slides.VENDOR.rglob("*") if p.is_file()} - {"VENDOR.json"}
    listed = set()
    for name, pkg in manifest["packages"].items():
        assert pkg["npm"].startswith(name + "@") and pkg["integrity"].startswith("sha512-")
        for rel, digest in pkg["files"].items():
            listed.add(f"{name}/{rel}")
            assert hashlib.sha256((slides.VENDOR / name / rel).read_bytes()).hexdigest() == digest, rel
    assert on_disk == listed
    # nbconvert's reveal template was written for this reveal.js
    from nbconvert.exporters.slides import SlidesExporter

    assert SlidesExporter().reveal_url_prefix.endswith("@" + manifest["packages"]["reveal.js"]["npm"].split("@")[1])


def test_export_is_offline(tmp_path):
    html = slides.export(ROOT / "notebooks" / "00_getting_started.ipynb", tmp_path)
    text = html.read_text()
    assert slides.remote_loads(text) == []
    assert "application/vnd.jupyter.widget-view+json" not in text
    for rel in ("reveal.js/dist/reveal.js", "reveal.js/plugin/notes/notes.js", "requirejs/require.js",
                "jquery/jquery.min.js", "mathjax/MathJax.js", "mathjax/config/TeX-AMS-MML_HTMLorMML-full.js",
                "mathjax/fonts/HTML-CSS/STIX-Web/woff/STIXMathJax_Main-Regular.woff"):
        assert (tmp_path / "_static" / rel).exists(), rel
    for used in ("_static/reveal.js/dist/reveal.js", "_static/requirejs/require.js", "_static/jquery/jquery.min.js",
                 "_static/mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full"):
        assert used in text, used
    assert slides.remote_loads('<script src="https://cdn.example/x.js"></script>') == ["https://cdn.example/x.js"]
    assert slides.remote_loads('<a href="https://example.org">a link</a>') == []
