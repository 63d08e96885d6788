"""Hidden tests for homework 04 (see hidden/__init__.py)."""
