"""Partial credit and written answers through the grader's result types: bands, statuses, Gradescope, gradebook."""

from __future__ import annotations

import csv
import json

import pytest

from lecture_admin.grading import grader
from lecture_admin.grading.hidden import Credit, band
from lecture_admin.grading.homework import Part
from lecture_admin.grading.results import GradeResult, PartResult, PartStatus, write_gradebook, write_results_json
from lecture_utils.selfcheck.core import CheckFailed

BANDS = [(0.8, 1.0), (0.5, 0.5)]


@pytest.mark.parametrize("value, want", [(0.95, 1.0), (0.8, 1.0), (0.79, 0.5), (0.5, 0.5), (0.49, 0.0),
                                         (float("nan"), 0.0), (float("-inf"), 0.0)])
def test_band_takes_the_first_threshold_reached(value, want):
    assert band(value, BANDS) == want


def test_credit_outside_0_1_is_refused():
    with pytest.raises(ValueError):
        Credit(1.5, "x")


@pytest.mark.parametrize("outcome, status, score", [
    (None, PartStatus.PASSED, 4.0),
    (Credit(1.0, "return 0.97 of the way"), PartStatus.PASSED, 4.0),
    (Credit(0.5, "return 0.61 of the way: half credit"), PartStatus.PARTIAL, 2.0),
    (Credit(0.0, "return 0.1 of the way"), PartStatus.FAILED, 0.0),
    (CheckFailed("diverged"), PartStatus.FAILED, 0.0),
])
def test_grade_part_turns_the_hidden_outcome_into_a_score(monkeypatch, outcome, status, score):
    def fake_run_part(kernel, eid, names, timeout):
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    monkeypatch.setattr(grader, "run_part", fake_run_part)
    part = Part("9.5", "train it", 4, False, "check_9_5")
    pr = grader._grade_part(None, part, 'grade("9.5", train)', grader.Limits(), set(), GradeResult("s"))
    assert (pr.status, pr.score) == (status, score)
    if isinstance(outcome, Credit) and outcome.fraction < 1:
        assert pr.message == outcome.message  # the student sees what was measured


def test_partial_credit_and_written_answers_in_gradescope_json_and_the_gradebook(tmp_path):
    r = GradeResult("alice.ipynb", homework="09_x", manual=[("9.6", 2), ("9.7", 3)])
    r.parts = [PartResult("9.1", "warm-up", 2, score=2.0, status=PartStatus.PASSED),
               PartResult("9.5", "train it", 4, score=2.0, status=PartStatus.PARTIAL, message="half credit")]
    write_results_json(r, tmp_path / "results.json")
    res = json.loads((tmp_path / "results.json").read_text())
    assert res["score"] == 4.0 and res["max_score"] == 6.0  # written answers are not in the autograded score
    written = [t for t in res["tests"] if t["number"] in ("9.6", "9.7")]
    assert [(t["max_score"], t["score"]) for t in written] == [(0.0, 0.0), (0.0, 0.0)]
    assert all("graded by hand" in t["output"] for t in written)
    part = next(t for t in res["tests"] if t["number"] == "9.5")
    assert part["score"] == 2.0 and "partial credit" in part["output"]
    write_gradebook([r], tmp_path / "gradebook.csv")
    rows = list(csv.DictReader(open(tmp_path / "gradebook.csv")))
    assert rows[0]["9.5"] == "2" and rows[0]["9.6 (written, 2 points)"] == "graded by hand"
    assert rows[0]["9.7 (written, 3 points)"] == "graded by hand"
    assert "9.6" in r.report() and "graded by hand" in r.report()
