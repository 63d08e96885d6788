"""Checkpoint builders for `lecture train NAME`: one module per trainer, each with `main(argv) -> int`."""
