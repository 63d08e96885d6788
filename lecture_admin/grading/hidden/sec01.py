"""Hidden tests for homework 01 (see hidden/__init__.py)."""
