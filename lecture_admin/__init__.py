"""The instructor's tools: release, grading with hidden tests, bench, execute, trainers.

Never part of what students receive (see `lecture release --student`). Imports `lecture_utils`; the student
layer never imports this package (tests/test_layers.py).
"""
