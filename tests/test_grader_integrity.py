"""Tamper detection (no kernel): a checker that was replaced, patched or re-coded fails the part."""

from __future__ import annotations

import numpy as np
import pytest

import lecture_admin.grading as pkg
from lecture_admin.grading import core, integrity, sec00


def good(rewards, gamma):
    return float(np.sum(gamma ** np.arange(len(rewards)) * np.asarray(rewards)))


def wrong(rewards, gamma):
    return 0.0


@pytest.fixture
def armed():
    integrity.arm("secret", ["0.1", "0.2"])
    yield
    integrity._ARMED.clear()
    integrity._LEDGER.clear()


def test_genuine_checker_is_not_flagged(capsys):
    assert integrity.problems("0.1") == []
    core.grade("0.1", good)
    assert capsys.readouterr().out == "Exercise 0.1 (discounted return): passed, 1/1 points\n"


@pytest.mark.parametrize("patch, phrase", [
    (lambda mp: mp.setattr(core, "run_check", lambda eid, *a: (True, "", core.get_check(eid))), "core.run_check"),
    (lambda mp: mp.setattr(core, "format_line", lambda *a: "passed"), "core.format_line"),
    (lambda mp: mp.setattr(sec00, "expect_close", lambda *a, **k: None), "sec00.expect_close"),
    (lambda mp: mp.setattr(sec00.check_discounted_return, "__code__", (lambda f: None).__code__), "code of"),
    (lambda mp: mp.setitem(core._REGISTRY, "0.1", core.Check("0.1", "t", 1, lambda f: None)), "registered check"),
    (lambda mp: mp.setattr(core.Check, "grade_id", property(lambda self: "x")), "Check.grade_id"),
    (lambda mp: mp.setattr(integrity, "problems", lambda *a: []), "integrity.problems"),
])
def test_patched_checker_fails_the_part(monkeypatch, capsys, patch, phrase):
    patch(monkeypatch)
    found = integrity._module_problems(core.__name__) + integrity._module_problems(sec00.__name__) \
        + integrity._module_problems(integrity.__name__)
    if "integrity.problems" not in phrase:
        core.grade("0.1", wrong)
        out = capsys.readouterr().out
        if "format_line" not in phrase:
            assert out.startswith("Exercise 0.1") and "failed, 0/1 points -- tampering detected" in out, out
        found = integrity.problems("0.1")
    assert any(phrase in p for p in found), found


def test_replaced_package_export_is_reported(monkeypatch):
    monkeypatch.setattr(pkg, "grade", lambda *a: print("passed"))
    assert "lecture_admin.grading.grade was replaced" in integrity.problems("0.1")


def test_armed_mode_sees_library_patches_but_not_library_rebinds(monkeypatch, armed):
    assert integrity.problems("0.1") == []
    monkeypatch.setattr(np, "allclose", np.isclose)  # a library object: how libraries rebind lazily
    assert integrity.problems("0.1") == []
    monkeypatch.setattr(np, "allclose", lambda *a, **k: True)  # made in the notebook
    assert "numpy.allclose was replaced" in integrity.problems("0.1")
    monkeypatch.undo()
    import builtins

    monkeypatch.setattr(builtins, "print", lambda *a, **k: None)
    found = integrity.problems("0.1")
    monkeypatch.undo()
    assert "builtins.print was replaced" in found


def test_verify_needs_a_genuine_passing_grade_in_the_check_cell(capsys, armed):
    integrity.verify("0.1")
    assert "did not call the course's grade()" in capsys.readouterr().out
    core.grade("0.1", wrong)
    integrity.verify("0.1")
    assert capsys.readouterr().out.splitlines()[-1].endswith("the checker's verdict is: failed")
    core.grade("0.1", good)
    integrity.verify("0.1")
    assert capsys.readouterr().out.splitlines()[-1] == integrity.verified_line("secret", "0.1")
    assert integrity.verified_line("secret", "0.1") != integrity.verified_line("other", "0.1")


def test_answer_that_patches_numpy_while_being_checked(armed, capsys):
    def sneaky(rewards, gamma):
        np.allclose = lambda *a, **k: True
        return 0.0

    original = np.allclose
    try:
        core.grade("0.1", sneaky)
    finally:
        np.allclose = original
    assert "tampering detected: numpy.allclose was replaced" in capsys.readouterr().out


def test_no_false_alarm_for_what_check_modules_legitimately_do(tmp_path, monkeypatch):
    """Lambdas, in-module decorators, caches in globals and class attributes are not tampering."""
    import importlib
    import sys

    (tmp_path / "fake_checks.py").write_text(
        "import functools\n\n"
        "def deco(fn):\n    @functools.wraps(fn)\n    def wrapper(*a):\n        return fn(*a)\n    return wrapper\n\n"
        "square = lambda x: x * x\ncube = lambda x: x ** 3\n_CACHE = None\n\n"
        "@deco\ndef helper(x):\n    return x + 1\n\n"
        "class Ref:\n    cached = None\n\n    def get(self):\n        return 1\n\n"
        "def warm():\n    global _CACHE\n    _CACHE = {'net': 1}\n    Ref.cached = 3\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    mod = importlib.import_module("fake_checks")
    try:
        integrity.register(mod)
        mod.warm()
        assert integrity._module_problems("fake_checks") == []
        mod.Ref.get.__code__ = mod.square.__code__  # same file, another function: renamed
        assert integrity._module_problems("fake_checks") != []
    finally:
        integrity._MODULES.pop("fake_checks", None)
        sys.modules.pop("fake_checks", None)
