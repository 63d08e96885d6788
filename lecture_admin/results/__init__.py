"""Headline results for `lecture bench`: one module per section, each with `results() -> list[dict]`."""
