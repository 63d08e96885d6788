"""Hidden tests for homework 02 (see hidden/__init__.py)."""
