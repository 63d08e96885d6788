"""Hidden tests for homework 00 (see hidden/__init__.py)."""

from lecture_admin.grading.hidden import hidden

hidden("0.1")  # the public check's properties, on the grader's cases
hidden("0.2")
