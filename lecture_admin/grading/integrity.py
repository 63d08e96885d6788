"""Tamper detection for the graded check cells.

A check cell runs in the student's kernel, so anything it uses can be monkeypatched by the student's
code: ``lecture_admin.grading.grade``, the check functions, the helpers they call (``expect_close``),
NumPy/torch functions, ``print`` and ``sys.stdout``. This module makes such changes visible:

- every grading module is remembered when it is imported: its source text (a fresh copy read from
  its file), its globals and its classes' attributes. ``problems(exercise_id)`` recompiles that copy
  and checks that every function still has the code it was compiled with, that no global or method
  was replaced, and that ``lecture_admin.grading`` still exports the genuine objects. ``grade`` runs
  it before and after calling the student's code and fails the part with "tampering detected".
- the autograder additionally *arms* the kernel before any student code runs (``arm``): it snapshots
  the attributes of builtins, NumPy, torch, ``sys`` and the kernel's output objects, caps each cell's
  output, and after every check cell runs ``verify`` in a cell of its own. ``verify`` prints a line
  that contains a keyed token only when the genuine ``grade`` ran in that check cell, passed, and
  nothing was tampered with; the grader compares that line (with nbval), so a replaced ``grade`` that
  merely prints "passed" does not score.

This defends against a student patching, shadowing or replacing the checker, not against a student
who reads this file and writes a targeted exploit: the grader also flags submissions whose own cells
touch the grading machinery (see autograde.py), and the instructor can read those.
"""

from __future__ import annotations

import hashlib
import hmac
import sys
import types

_CORE = "lecture_utils.selfcheck.core"
_PACKAGE = "lecture_admin.grading"

# Module name -> (module object, source text read at import, {name: object}, {(class, attr): object}).
_MODULES: dict[str, tuple[types.ModuleType, str, dict, dict]] = {}
_LEDGER: list[tuple[str, bool, bool]] = []  # (exercise id, passed, tampered) for every genuine grade() call
_ARMED: dict = {}  # set by arm(): secret, env snapshot, output caps


def _read_source(mod: types.ModuleType) -> str:
    path = getattr(mod, "__file__", None)
    if not path:
        return ""
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError:
        return ""


def _class_attrs(mod: types.ModuleType) -> dict:
    out = {}
    for obj in list(vars(mod).values()):
        if isinstance(obj, type) and obj.__module__ == mod.__name__:
            for attr, val in list(vars(obj).items()):
                out[(obj.__name__, attr)] = val
    return out


def register(mod: types.ModuleType) -> None:
    """Remember a grading module as imported (called at the end of its import)."""
    _MODULES[mod.__name__] = (mod, _read_source(mod), dict(vars(mod)), _class_attrs(mod))


def _code_objects(source: str, filename: str) -> dict[str, list[types.CodeType]]:
    """Every code object compiled from `source`, by qualified name (several lambdas share one)."""
    top = compile(source, filename, "exec", dont_inherit=True)
    out: dict[str, list[types.CodeType]] = {}
    stack = [top]
    while stack:
        code = stack.pop()
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                out.setdefault(const.co_qualname, []).append(const)
                stack.append(const)
    return out


def _functions_of(obj) -> list[types.FunctionType]:
    if isinstance(obj, (staticmethod, classmethod)):
        obj = obj.__func__
    if isinstance(obj, property):
        return [f for f in (obj.fget, obj.fset, obj.fdel) if isinstance(f, types.FunctionType)]
    return [obj] if isinstance(obj, types.FunctionType) else []


def _module_problems(name: str) -> list[str]:
    entry = _MODULES.get(name)
    if entry is None:
        return []
    mod, source, globals_at_import, class_attrs = entry
    problems = []
    if sys.modules.get(name) is not mod:
        problems.append(f"sys.modules[{name!r}] was replaced")
    now = vars(mod)
    for key, val in globals_at_import.items():
        if key.startswith("__") and key.endswith("__"):
            continue
        # Functions, classes and modules only: a module may keep data (a cache) in a global it reassigns.
        if (callable(val) or isinstance(val, types.ModuleType)) and now.get(key, _MISSING) is not val:
            problems.append(f"{name}.{key} was replaced")
    for (cls_name, attr), val in class_attrs.items():
        cls = globals_at_import.get(cls_name)
        if not (callable(val) or isinstance(val, (property, staticmethod, classmethod))):
            continue  # class-level data (a cache) may change
        if isinstance(cls, type) and vars(cls).get(attr, _MISSING) is not val:
            problems.append(f"{name}.{cls_name}.{attr} was replaced")
    if source:
        try:
            fresh = _code_objects(source, mod.__file__)
        except SyntaxError:  # pragma: no cover - the module imported, so its source compiles
            fresh = {}
        funcs = [f for v in now.values() for f in _functions_of(v)]
        for cls in (v for v in now.values() if isinstance(v, type) and v.__module__ == name):
            funcs += [f for v in vars(cls).values() for f in _functions_of(v)]
        for f in funcs:
            if f.__module__ != name:
                continue
            filename = f.__code__.co_filename
            if filename != mod.__file__:
                if filename == "<string>" and f.__name__ in _GENERATED:
                    continue  # methods that @dataclass writes (compiled from a string, not from the file)
                if filename.startswith(_library_dirs()) and "lecture_utils" not in filename:
                    continue  # wrappers from the standard library (reprlib around a dataclass __repr__)
            # By the code's own name: a decorator's wrapper carries the wrapped function's __qualname__.
            want = fresh.get(f.__code__.co_qualname, [])
            renamed = f.__code__.co_qualname != f.__qualname__ and not hasattr(f, "__wrapped__")
            if f.__code__ not in want or renamed:
                problems.append(f"the code of {name}.{f.__qualname__} was changed")
    return problems


_MISSING = object()
_GENERATED = {"__init__", "__repr__", "__eq__", "__hash__", "__setattr__", "__delattr__", "__getstate__",
              "__setstate__", "__lt__", "__le__", "__gt__", "__ge__"}


def problems(exercise_id: str | None = None) -> list[str]:
    """What was tampered with, as short phrases (empty when everything is genuine)."""
    found: list[str] = []
    core = _MODULES.get(_CORE, (None,))[0]
    names = [_CORE, __name__]
    if core is not None and exercise_id is not None:
        try:
            names.append(core.section_module(exercise_id))
        except ValueError:
            pass
    for name in names:
        if name not in _MODULES and name in sys.modules:
            register(sys.modules[name])
        found += _module_problems(name)
    if core is not None:
        pkg = sys.modules.get(_PACKAGE)
        if pkg is not None:
            for key in getattr(pkg, "__all__", ()):
                genuine = _MODULES[_CORE][2].get(key, _MISSING)
                if genuine is not _MISSING and getattr(pkg, key, _MISSING) is not genuine:
                    found.append(f"{_PACKAGE}.{key} was replaced")
        if exercise_id is not None:
            chk = _MODULES[_CORE][2]["_REGISTRY"].get(exercise_id)
            sec = core.section_module(exercise_id) if core._ID_RE.match(str(exercise_id)) else ""
            if chk is not None and (getattr(chk.fn, "__module__", None) != sec or sec not in _MODULES):
                found.append(f"the registered check for exercise {exercise_id} was replaced")
            elif chk is not None:
                sec_mod = _MODULES[sec][0]
                if vars(sec_mod).get(chk.fn.__name__) is not chk.fn:
                    found.append(f"the registered check for exercise {exercise_id} was replaced")
                # A section module's helpers must be the genuine ones from core.
                core_globals = _MODULES[_CORE][2]
                for key, val in vars(sec_mod).items():
                    if (key in core_globals and callable(core_globals[key]) and val is not core_globals[key]
                            and _student_made(val)):
                        found.append(f"{sec}.{key} was replaced")
    if _ARMED:
        found += _environment_problems()
    seen = set()
    return [p for p in found if not (p in seen or seen.add(p))]


# ---------------------------------------------------------------- the autograder's armed mode

_ENV_MODULES = ("builtins", "math", "numpy", "numpy.linalg", "numpy.random", "numpy.testing", "torch",
                "torch.nn.functional", "torch.linalg", "torch.testing")
_ENV_CLASSES = ("torch.Tensor", "ipykernel.iostream.OutStream")


def _snapshot_env() -> dict:
    snap: dict = {"modules": {}, "attrs": {}}
    for name in _ENV_MODULES:
        mod = sys.modules.get(name)
        if mod is None:
            continue
        snap["modules"][name] = mod
        snap["attrs"][name] = {k: v for k, v in vars(mod).items()
                               if not k.startswith("_") or k in ("__import__", "__build_class__")}
    for path in _ENV_CLASSES:
        modname, _, clsname = path.rpartition(".")
        cls = getattr(sys.modules.get(modname), clsname, None)
        if isinstance(cls, type):
            snap["attrs"][path] = dict(vars(cls))
            snap["modules"][path] = cls
    snap["sys"] = {k: getattr(sys, k, None) for k in ("stdout", "stderr", "displayhook")}
    snap["meta_path"] = list(sys.meta_path)
    for stream in ("stdout", "stderr"):
        obj = getattr(sys, stream)
        snap["attrs"][f"sys.{stream}"] = dict(getattr(obj, "__dict__", {}))
        snap["modules"][f"sys.{stream}"] = obj
    shell = _shell()
    if shell is not None:
        for attr in ("displayhook", "display_pub"):
            obj = getattr(shell, attr, None)
            snap["modules"][f"shell.{attr}"] = obj
            snap["attrs"][f"shell.{attr}"] = dict(getattr(obj, "__dict__", {}))
            snap["attrs"][f"shell.{attr} class"] = dict(vars(type(obj)))
            snap["modules"][f"shell.{attr} class"] = type(obj)
        snap["transformers"] = [list(getattr(shell, a, [])) for a in ("input_transformers_cleanup",
                                                                     "input_transformers_post", "ast_transformers")]
    return snap


_LIB_DIRS: list[str] = []


def _library_dirs() -> tuple[str, ...]:
    if not _LIB_DIRS:
        import os
        import sysconfig

        paths = sysconfig.get_paths()
        dirs = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
        dirs.add(os.path.dirname(os.path.abspath(__file__)).rsplit(os.sep, 1)[0])  # lecture_utils/
        _LIB_DIRS.extend(os.path.join(d, "") for d in sorted(dirs))
    return tuple(_LIB_DIRS)


def _student_made(obj) -> bool:
    """True for a replacement the student's code made (defined outside the installed libraries).

    Libraries rebind some of their own attributes lazily (torch wraps functions on first use, IPython
    swaps ``sys.stdout.write`` around every cell), so a changed attribute only counts as tampering
    when the new object comes from the notebook (or any file outside the Python installation).
    """
    target = getattr(obj, "__func__", obj)
    import functools

    if isinstance(target, functools.partial):
        return _student_made(target.func)
    code = getattr(target, "__code__", None)
    if code is not None:
        return not code.co_filename.startswith(_library_dirs())
    if isinstance(target, type):
        mod = sys.modules.get(target.__module__)
        file = getattr(mod, "__file__", None)
        return file is None or not file.startswith(_library_dirs())
    if isinstance(target, (types.BuiltinFunctionType, types.ModuleType)) or not callable(target):
        return False
    return _student_made(type(target))


def _changed(where: str, before: dict, now: dict, found: list[str]) -> None:
    for key, val in before.items():
        cur = now.get(key, _MISSING)
        if cur is not val and cur is not _MISSING and _student_made(cur):
            found.append(f"{where}.{key} was replaced")
    for key, cur in now.items():
        if key not in before and callable(cur) and where.startswith(("sys.", "shell.")) and _student_made(cur):
            found.append(f"{where}.{key} was overridden")


def _environment_problems() -> list[str]:
    snap = _ARMED["env"]
    found: list[str] = []
    for name, obj in snap["modules"].items():
        if name in _ENV_MODULES and sys.modules.get(name) is not obj:
            found.append(f"sys.modules[{name!r}] was replaced")
            continue
        now = getattr(obj, "__dict__", {})
        _changed(name, snap["attrs"][name], now, found)
    for key, val in snap["sys"].items():
        cur = getattr(sys, key, None)
        if cur is not val and (_student_made(cur) or _student_made(getattr(cur, "write", None))):
            found.append(f"sys.{key} was replaced")
    for hook in sys.meta_path:
        if hook not in snap["meta_path"] and _student_made(hook):
            found.append("an import hook was added to sys.meta_path")
    shell = _shell()
    if shell is not None:
        for attr in ("displayhook", "display_pub"):
            if getattr(shell, attr, None) is not snap["modules"].get(f"shell.{attr}"):
                found.append(f"the kernel's {attr} was replaced")
        for i, name in enumerate(("input_transformers_cleanup", "input_transformers_post", "ast_transformers")):
            added = [t for t in getattr(shell, name, []) if t not in snap["transformers"][i]]
            if any(_student_made(t) for t in added):
                found.append(f"IPython's {name} were changed")
    return found


def _shell():
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return None
    return get_ipython()


def _token(secret: str, exercise_id: str) -> str:
    return hmac.new(secret.encode(), exercise_id.encode(), hashlib.sha256).hexdigest()[:16]


def verified_line(secret: str, exercise_id: str) -> str:
    """The line `verify` prints when the check cell of `exercise_id` ran genuinely and passed."""
    return f"[lecture grader] exercise {exercise_id}: verified {_token(secret, exercise_id)}"


def _cap_streams(limit: int, state: dict) -> None:
    """Cap the text each cell may print (per stream); IPython re-wraps the instance's write every cell."""
    cls = type(sys.stdout)
    if cls.__module__ != "ipykernel.iostream" or getattr(cls, "_lecture_capped", False):
        return
    original = cls.write

    def write(self, text):
        n = state.get(id(self), 0)
        size = len(text) if isinstance(text, str) else 0
        if n >= limit:
            return size
        state[id(self)] = n + size
        if n + size > limit:
            original(self, text[: max(0, limit - n)])
            original(self, f"\n[output truncated by the grader after {limit} characters]\n")
            return size
        return original(self, text)

    cls.write = write
    cls._lecture_capped = True


class _NoOutputHistory(dict):
    """IPython keeps every printed line in memory for its history; the grader needs none of it."""

    def __missing__(self, key):
        return []


def _cap_display(shell, limit: int, state: dict) -> None:
    pub = shell.display_pub
    publish = pub.publish

    def capped_publish(data, *args, **kwargs):
        size = sum(len(v) if isinstance(v, (str, bytes)) else 100 for v in (data or {}).values())
        n = state.get("display", 0)
        state["display"] = n + size
        if n + size > 20 * limit:
            return None
        return publish(data, *args, **kwargs)

    pub.publish = capped_publish


def arm(secret: str, exercise_ids: list[str], output_limit: int = 100_000) -> None:
    """Called by the autograder in the kernel before any student code: remember the genuine state."""
    import numpy  # noqa: F401  (snapshot the libraries the checks use)

    try:
        import torch  # noqa: F401
        import torch.nn.functional  # noqa: F401
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    core = sys.modules.get(_CORE)
    if core is None:
        import importlib

        core = importlib.import_module(_CORE)
    for eid in exercise_ids:
        core.get_check(eid)
    shell = _shell()
    state: dict = {}
    _cap_streams(output_limit, state)
    if shell is not None:
        history = getattr(shell, "history_manager", None)
        if history is not None and isinstance(getattr(history, "outputs", None), dict):
            history.outputs = _NoOutputHistory()
        _cap_display(shell, output_limit, state)
        shell.events.register("pre_run_cell", lambda *a: state.clear())
    _ARMED.update(secret=secret, env=_snapshot_env())
    _LEDGER.clear()


def record(exercise_id: str, passed: bool, tampered: bool) -> None:
    _LEDGER.append((exercise_id, bool(passed), bool(tampered)))


def verify(exercise_id: str) -> None:
    """Run by the autograder right after a check cell: print the verified line, or what is wrong."""
    entries = [e for e in _LEDGER if e[0] == exercise_id]
    _LEDGER.clear()
    found = problems(exercise_id)
    prefix = f"[lecture grader] exercise {exercise_id}:"
    if found:
        print(f"{prefix} tampering detected: {'; '.join(found[:3])}")
    elif not entries:
        print(f"{prefix} the check cell did not call the course's grade()")
    elif entries[-1][2]:
        print(f"{prefix} tampering detected: grade() reported it")
    elif not entries[-1][1]:
        print(f"{prefix} the checker's verdict is: failed")
    elif not _ARMED.get("secret"):
        print(f"{prefix} not armed")
    else:
        print(verified_line(_ARMED["secret"], exercise_id))


register(sys.modules[__name__])
