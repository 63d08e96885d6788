"""What one submission may use when graded. Apart from the grader so that `lecture`'s argument parser loads
without the grader's imports (torch, the hidden tests)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Limits:
    """Per submission (the defaults fit Gradescope's 10 min / 768 MB / half a CPU box)."""

    cell_timeout: float = 120.0  # seconds per cell
    total_timeout: float = 480.0  # seconds for running the cells, restarts included
    call_timeout: float = 60.0  # seconds per call of a student's function by a hidden test
    memory_mb: int = 1536  # the kernel's address space
    max_size_mb: float = 20.0  # a larger submission file is rejected unread
    max_restarts: int = 3
