"""The check convention: one deterministic line, failures that explain, and checks that can fail."""

from __future__ import annotations

import numpy as np
import pytest

from lecture_utils.selfcheck import CheckFailed, PartFailed, expect_close, expect_shape, format_line, get_check, grade
from tests.grading_harness import assert_fails, assert_passes, exercise_ns, solution_ns


def test_example_solution_passes_and_stub_fails():
    assert_passes("0.1", solution_ns("00_getting_started.ipynb")["discounted_return"])
    assert_fails("0.1", exercise_ns("00_getting_started.ipynb")["discounted_return"], contains="not attempted yet")


@pytest.mark.parametrize(
    "wrong, why",
    [
        (lambda r, g: float(np.sum(r)), "no discount"),
        (lambda r, g: float(np.sum(g ** np.arange(1, len(r) + 1) * r)), "off by one in the exponent"),
        (lambda r, g: g ** np.arange(len(r)) * r, "returns the array, not the sum"),
        (lambda r, g: None, "forgot to return"),
    ],
)
def test_example_check_fails_on_plausible_wrong_answers(wrong, why):
    assert_fails("0.1", wrong)


def test_grade_prints_one_line_or_raises_one_line(capsys):
    grade("0.1", lambda r, g: float(np.sum(g ** np.arange(len(r)) * r)))
    out = capsys.readouterr().out
    assert out == "Exercise 0.1 (discounted return): passed the public checks\n"
    with pytest.raises(PartFailed) as err:
        grade("0.1", lambda r, g: 1 / 0)
    assert capsys.readouterr().out == ""  # nothing printed: the error is the message
    line = err.value.line
    assert line.startswith("Exercise 0.1 (discounted return): failed -- ") and "ZeroDivisionError" in line
    assert err.value._render_traceback_() == [line]  # IPython shows this one line, no traceback
    with pytest.raises(PartFailed, match="not attempted yet"):
        grade("0.1", lambda r, g: (_ for _ in ()).throw(NotImplementedError()))


def test_failure_detail_is_bounded():
    line = format_line(get_check("0.1"), False, "x" * 10_000 + "\n" * 50)
    assert len(line) < 520 and "\n" not in line


def test_unknown_exercise_is_a_clear_error():
    with pytest.raises(KeyError, match="no checks exist"):
        get_check("42.1")
    with pytest.raises(ValueError, match="look like '3.1'"):
        get_check("three")


def test_expect_helpers_explain_shape_and_value():
    with pytest.raises(CheckFailed, match=r"has shape \(2,\), expected \(3,\)"):
        expect_shape(np.zeros(2), (3,), "psi")
    with pytest.raises(CheckFailed, match="max abs error"):
        expect_close(np.ones(3), np.zeros(3), "psi")
    with pytest.raises(CheckFailed, match="NaN"):
        expect_close(np.array([np.nan]), np.zeros(1), "psi")
    with pytest.raises(CheckFailed, match="forget to `return`"):
        expect_shape(None, (1,), "psi")
    import torch

    expect_close(torch.ones(2, requires_grad=True), np.ones(2), "t")  # tensors are accepted


def test_self_check_warns_when_a_part_calls_the_course_answer(capsys):
    import lecture_utils.returns as ret
    from lecture_utils.returns import rewards_to_go

    def discounted_return(rewards, gamma):
        import torch

        return float(rewards_to_go(torch.as_tensor(rewards), gamma)[0])

    def via_module(rewards, gamma):
        import torch

        return float(ret.rewards_to_go(torch.as_tensor(rewards), gamma)[0])

    for fn in (discounted_return, via_module):
        grade("0.1", fn)
        out = capsys.readouterr().out
        assert "note:" in out and "lecture_utils.returns" in out and "write it yourself" in out
        assert out.rstrip().endswith("passed the public checks")
    grade("0.1", lambda r, g: float(np.sum(g ** np.arange(len(r)) * r)))
    assert "note:" not in capsys.readouterr().out


def test_the_masked_modules_agree_with_the_hidden_tests():
    """What the self-check warns about is what the grader masks (hidden tests may mask more, never less)."""
    from lecture_admin.grading.hidden import hidden_part
    from lecture_utils.selfcheck.answers import ANSWERS

    for eid, modules in ANSWERS.items():
        assert set(hidden_part(eid).library) <= set(modules), eid


def test_checks_on_numpy_answers_never_import_torch():
    """A check compares arrays without importing torch (~2.5 s of CPU): the warm-up and the numpy-only homework
    (01, 03) never pay for it, in the student's kernel nor in the grader. A torch tensor is still accepted."""
    import subprocess
    import sys

    code = ("import sys, numpy as np\n"
            "from lecture_utils.selfcheck.core import as_array, expect_close\n"
            "expect_close(np.ones(3), np.ones(3), 'x')\n"
            "assert 'torch' not in sys.modules\n"
            "import torch\n"
            "assert as_array(torch.ones(2, dtype=torch.float64), 'x').tolist() == [1.0, 1.0]\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
