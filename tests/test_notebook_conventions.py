"""Static checks of the committed notebooks: executed, set up the same way, no warnings or errors stored."""

from __future__ import annotations

import nbformat
import pytest

from tests.conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "solutions").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_committed_notebook_follows_conventions(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "a notebook with no code"
    assert "lecture_utils.setup(" in code[0].source, "the first code cell calls lecture_utils.setup(...)"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# "), "starts with a title"
    for i, c in enumerate(code):
        assert c.execution_count is not None, f"code cell {i} was not executed before committing"
        for o in c.outputs:
            assert o.output_type != "error", f"code cell {i} stores an error"
            if o.output_type == "stream":
                assert o.name == "stdout", f"code cell {i} writes to stderr: {o.text[:200]!r}"
                assert "Warning" not in o.text, f"code cell {i} prints a warning: {o.text[:200]!r}"


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.stem)
def test_lecture_notebook_has_a_figure_and_a_recap(path):
    nb = nbformat.read(path, as_version=4)
    if path.stem.startswith("00_"):
        pytest.skip("the getting-started notebook is not a lecture section")
    images = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert images >= 3, "every claim comes with a figure"
    headings = [c.source.splitlines()[0].lower() for c in nb.cells if c.cell_type == "markdown" and c.source]
    assert any("recap" in h for h in headings), "a recap at the end, mirroring the slides"
