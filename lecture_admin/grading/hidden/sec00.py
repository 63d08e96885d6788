"""Hidden tests for homework 00 (see hidden/__init__.py)."""

from lecture_admin.grading.hidden import hidden

LIBRARY = ("lecture_utils.returns",)  # the course's one returns-to-go answers 0.1 and 0.2
hidden("0.1", library=LIBRARY)  # the public check's properties, on the grader's cases
hidden("0.2", library=LIBRARY)
