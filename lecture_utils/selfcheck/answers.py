"""Which course modules answer which graded part. The grader masks them in its kernel (importing one raises
ImportError there), so a part that calls one scores 0: write it yourself. The self-check warns when it sees one."""

from __future__ import annotations

import inspect
import types

ANSWERS: dict[str, tuple[str, ...]] = {
    "0.1": ("lecture_utils.returns",),
    "0.2": ("lecture_utils.returns",),
    **{f"1.{i}": ("lecture_utils.dr_protocols",) for i in range(1, 6)},
    "2.1": ("lecture_utils.policy_losses",),
    "2.2": ("lecture_utils.policy_losses",),
    "2.4": ("lecture_utils.policy_losses",),  # am.distill would call the course's 2.2 loss
    **{f"3.{i}": ("lecture_utils.sf_core",) for i in range(1, 6)},
    "4.1": ("lecture_utils.bandit_belief",),
    "4.5": ("lecture_utils.rl2",),
    "5.1": ("lecture_utils.maml",),
    "5.2": ("lecture_utils.sinusoid_maml", "lecture_utils.maml"),
    "5.3": ("lecture_utils.policy_gradient",),
    "5.4": ("lecture_utils.maml", "lecture_utils.policy_gradient"),
}


def _origin(obj) -> str:
    if isinstance(obj, types.ModuleType):
        return obj.__name__
    return getattr(obj, "__module__", "") or ""


def answer_modules_used(fn, exercise_id: str) -> list[str]:
    """The masked modules that `fn` refers to directly (a global, a closure variable, or module.attribute)."""
    masked = ANSWERS.get(exercise_id, ())
    if not masked or not callable(fn):
        return []
    try:
        refs = inspect.getclosurevars(fn)
    except (TypeError, ValueError):
        return []
    found = set()
    for obj in [*refs.globals.values(), *refs.nonlocals.values()]:
        if _origin(obj) in masked:
            found.add(_origin(obj))
        if isinstance(obj, types.ModuleType):
            for attr in refs.unbound:
                try:
                    target = getattr(obj, attr, None)
                except ImportError:
                    continue
                if target is not None and _origin(target) in masked:
                    found.add(_origin(target))
    return sorted(found)
