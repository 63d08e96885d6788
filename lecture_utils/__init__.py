"""Helpers behind the Transfer and Meta Learning lecture notebooks.

Every notebook starts with::

    import lecture_utils
    lecture_utils.setup()

Modules are named after lecture concepts (see the README's map).
"""

from lecture_utils.notebook import float64, progress, setup, timer

__all__ = ["setup", "progress", "timer", "float64"]
__version__ = "0.1.0"
