"""Grading: sandboxed kernel, hidden tests, scores and reports (see grader.py for the flow)."""
