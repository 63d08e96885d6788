"""The autograder's kernel launcher: an ipykernel with resource limits set before any code runs.

    python -m lecture_admin.grading.kernel --memory-mb 1024 --file-mb 100 -f CONNECTION_FILE

``--memory-mb`` caps the kernel's data segment (RLIMIT_DATA: heap and private mappings, which is
what NumPy/torch allocations use), so a memory bomb raises MemoryError in the student's cell instead
of taking the machine down. ``--file-mb`` caps the size of any file the kernel writes (RLIMIT_FSIZE).
Soft and hard limits are equal: the student's code cannot raise them again.
"""

from __future__ import annotations

import os
import resource
import sys


def _pop_option(argv: list[str], name: str, default: float) -> float:
    if name in argv:
        i = argv.index(name)
        value = float(argv[i + 1])
        del argv[i : i + 2]
        return value
    return default


def apply_limits(memory_mb: float, file_mb: float) -> None:
    if memory_mb > 0:
        lim = int(memory_mb * 2**20)
        resource.setrlimit(resource.RLIMIT_DATA, (lim, lim))
    if file_mb > 0:
        lim = int(file_mb * 2**20)
        resource.setrlimit(resource.RLIMIT_FSIZE, (lim, lim))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def main() -> None:
    argv = sys.argv[1:]
    memory_mb = _pop_option(argv, "--memory-mb", 0)
    file_mb = _pop_option(argv, "--file-mb", 0)
    apply_limits(memory_mb, file_mb)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    sys.argv = [sys.argv[0], *argv]
    from ipykernel.kernelapp import launch_new_instance

    launch_new_instance()


if __name__ == "__main__":
    main()
