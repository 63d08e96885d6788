"""Hidden tests for homework 03 (see hidden/__init__.py)."""

from lecture_admin.grading.hidden import hidden

LIBRARY = ("lecture_utils.successor_features",)
hidden("3.1", library=LIBRARY)
hidden("3.2", library=LIBRARY)
hidden("3.3", library=LIBRARY)
