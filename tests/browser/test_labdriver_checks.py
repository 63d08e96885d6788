"""The page checks on hand-made snapshots (no browser needed): what counts as a problem and what not."""

from __future__ import annotations

from labdriver import STDERR, STDOUT, buttons_to_click, find_problems, stored_expectations, write_notebook


def cell(prompt="[1]:", outputs=(), text=""):
    return {"code": True, "prompt": prompt, "empty": False, "outputs": list(outputs), "sliders": 0,
            "driven": [], "text": text}


def out(mime="", text="", imgs=(), live=0, in_widget=False):
    return {"mime": mime, "text": text, "imgs": list(imgs), "live": live, "inWidget": in_widget}


IMG = {"ok": True, "src": "10:1"}
MISSING = "Error displaying widget: model not found"


def test_a_clean_run_has_no_problems():
    snap = {"cells": [cell("[1]:"), cell("[2]:", [out("image/png", imgs=[IMG])]),
                      cell("[3]:", [out(live=3, text="loop 50/50")])]}
    exp = [{"images": 0, "widgets": 0, "may_raise": False}, {"images": 1, "widgets": 0, "may_raise": False},
           {"images": 0, "widgets": 1, "may_raise": False}]
    assert find_problems(snap, exp) == []


def test_each_kind_of_problem_is_named():
    tb = "ValueError                                Traceback (most recent call last)\nValueError: boom"
    snap = {"cells": [
        cell("[1]:", [out(STDERR, tb)]),
        cell("[ ]:"),
        cell("[3]:", [out(text=MISSING)], MISSING),
        cell("[4]:", [out("text/plain", "<Figure size 640x480 with 1 Axes>")]),
        cell("[5]:", [out("image/png", imgs=[{"ok": False, "src": "0:0"}])]),
    ]}
    exp = [{"images": 0, "widgets": 0, "may_raise": False}] * 3 + [{"images": 1, "widgets": 0, "may_raise": False},
                                                                   {"images": 1, "widgets": 0, "may_raise": False}]
    text = "\n".join(find_problems(snap, exp))
    for expected in ("code cell 1 ([1]:): error output", "ValueError: boom", "code cell 2 ([ ]:): did not run",
                     "widget not live: 'Error displaying widget: model not found'", "a figure shown as text",
                     "code cell 4 ([4]:): 0 figure(s) rendered as images, the committed notebook has 1",
                     "code cell 5 ([5]:): an image (image/png) did not load"):
        assert expected in text, text


def test_tagged_raises_and_font_cache_notice_are_allowed():
    snap = {"cells": [cell("[1]:", [out(STDERR, "Matplotlib is building the font cache; this may take a moment.")]),
                      cell("[2]:", [out(STDERR, "Traceback (most recent call last)\nKeyError: 1")])]}
    exp = [{"images": 0, "widgets": 0, "may_raise": False}, {"images": 0, "widgets": 0, "may_raise": True}]
    assert find_problems(snap, exp) == []


def test_a_cell_count_mismatch_is_reported(tmp_path):
    nb = write_notebook(tmp_path / "x.ipynb", "x = 1", "", "# md\n# title", "y = 2")
    exp = stored_expectations(nb)
    assert len(exp) == 2  # empty code cells and markdown do not count
    assert "the page shows 1 code cells, the file has 2" in find_problems({"cells": [cell()]}, exp)[0]


def test_only_enabled_buttons_inside_a_demo_are_clicked():
    listing = [{"label": "pull arm 0", "disabled": False, "inDemo": True},
               {"label": "pull arm 1", "disabled": True, "inDemo": True},  # e.g. the trial is over
               {"label": "a lone button", "disabled": False, "inDemo": False},  # no Output beside it: not a demo
               {"label": "new task", "disabled": False, "inDemo": True}]
    assert buttons_to_click(listing) == [0, 3]
    assert buttons_to_click([]) == []


def test_a_demo_png_fallback_is_not_an_expected_figure(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    demo_out = nbformat.v4.new_output("execute_result", data={
        "application/vnd.jupyter.widget-view+json": {"model_id": "x", "version_major": 2, "version_minor": 0},
        "image/png": "iVBOR", "text/plain": "Demo(...)"}, execution_count=1)
    fig_out = nbformat.v4.new_output("display_data", data={"image/png": "iVBOR", "text/plain": "<Figure>"})
    nb.cells = [nbformat.v4.new_code_cell("demo", outputs=[demo_out]), nbformat.v4.new_code_cell("plt.show()",
                                                                                              outputs=[fig_out])]
    path = tmp_path / "demo.ipynb"
    nbformat.write(nb, path)
    exp = stored_expectations(path)
    assert [(e["images"], e["widgets"]) for e in exp] == [(0, 1), (1, 0)]


def test_printed_numbers_must_match_the_committed_notebook(tmp_path):
    """What a cell prints in JupyterLab (this CPU's native kernels) is compared with the committed notebook, line by
    line, sanitized as nbval does (timings, addresses); a cell nbval ignores or that may raise is not compared."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    stream = lambda t: nbformat.v4.new_output("stream", name="stdout", text=t)  # noqa: E731
    printed = [stream("return 0.959\n"), stream("[train: 1.23 s]\n")]
    nb.cells = [nbformat.v4.new_code_cell("print(...)", outputs=printed),
                nbformat.v4.new_code_cell("# NBVAL_IGNORE_OUTPUT\nprint(...)", outputs=[stream("chaotic 0.5\n")])]
    path = tmp_path / "printed.ipynb"
    nbformat.write(nb, path)
    exp = stored_expectations(path)
    assert [e["stdout"] for e in exp] == ["return 0.959\n[train: TIME s]", None]
    same = {"cells": [cell("[1]:", [out(STDOUT, "return 0.959\n[train: 4.56 s]\n")]), cell("[2]:", [out(STDOUT, "x")])]}
    assert find_problems(same, exp) == []
    other = {"cells": [cell("[1]:", [out(STDOUT, "return 0.956\n[train: 4.56 s]")]), cell("[2]:")]}
    assert find_problems(other, exp) == [
        "code cell 1 ([1]:): printed 'return 0.956' where the committed notebook has 'return 0.959'"]
