"""Hidden tests for homework 05 (see hidden/__init__.py)."""
