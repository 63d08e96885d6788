"""Behaviour-graded parts, measured: each part's credit over many grading seeds, for the solution and for every
documented wrong version (`lecture bench --behaviour`). This is how a part's thresholds and bands are set: the
solution must earn full credit on every seed and each wrong version nothing, with a margin.

It runs the hidden tests in this process on a `LocalKernel` (the student's definitions exec'd into a namespace;
arguments and results still round-trip through JSON as they do with the sandbox). Never for real grading.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import nbformat
import numpy as np

from lecture_admin.grading.protocol import Reply


def _plain(x):
    if type(x).__module__.split(".")[0] == "torch" and hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    if isinstance(x, np.ndarray):
        return {"__ndarray__": x.tolist(), "dtype": x.dtype.str}
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    raise TypeError(f"not plain data: {type(x).__name__}")


def _unplain(x):
    if isinstance(x, dict):
        if "__ndarray__" in x:
            return np.array(x["__ndarray__"], dtype=np.dtype(x["dtype"]))
        return {k: _unplain(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_unplain(v) for v in x]
    return x


class LocalKernel:
    """The sandbox kernel's evaluate() contract in this process: a namespace of the student's definitions."""

    def __init__(self, namespace: dict):
        self.ns = namespace

    def evaluate(self, expr: str, timeout: float = 60.0, max_bytes: int = 2_000_000, env: dict | None = None):
        self.ns.update(_unplain(json.loads(json.dumps(_plain(env or {})))))
        try:
            value = eval(expr, self.ns)  # noqa: S307 - the instructor's own solution and wrong versions
            return Reply(True, _unplain(json.loads(json.dumps(_plain(value)))))
        except Exception as e:  # the code under test raised
            first = (str(e).splitlines() or [""])[0][:300]
            return Reply(False, None, f"{type(e).__name__}: {first}", type(e).__name__)


def defining_namespace(notebook: Path, names: list[str]) -> dict:
    """The notebook's import-only cells and the cells that define `names` (or assign them), run in order."""
    nb = nbformat.read(notebook, as_version=4)
    ns: dict = {"__name__": "__main__"}
    for cell in nb.cells:
        if cell.cell_type != "code" or "grade(" in cell.source:
            continue
        lines = [ln for ln in cell.source.splitlines() if ln.strip()]
        imports_only = bool(lines) and all(re.match(r"(import|from) \w", ln) for ln in lines)
        defines = any(re.search(rf"^(def |class ){n}\b|^{n}\s*=", cell.source, re.M) for n in names)
        if (imports_only and "lecture_utils" not in cell.source) or defines:
            exec(compile(cell.source, str(notebook), "exec"), ns)  # noqa: S102 - the instructor's solutions
    return ns


def credit(ns: dict, exercise_id: str, names: list[str], seed: int) -> tuple[float, str]:
    """(fraction of the points, one line) that the hidden test gives the code in `ns` under grading seed `seed`."""
    from lecture_admin.grading.hidden import run_part
    from lecture_utils.selfcheck.core import CheckFailed, StudentError, use_case_seed

    use_case_seed(seed)
    try:
        out = run_part(LocalKernel(dict(ns)), exercise_id, names)
    except NotImplementedError:
        return 0.0, "not attempted"
    except (CheckFailed, StudentError) as e:
        return 0.0, str(e)
    return (1.0, "passed") if out is None else (out.fraction, out.message)


def _one(job: tuple) -> dict:
    notebook, eid, names, variant, source, seed = job
    import torch

    torch.set_num_threads(1)
    ns = defining_namespace(Path(notebook), names)
    if source:
        exec(compile(source, f"<wrong version {variant}>", "exec"), ns)  # noqa: S102 - documented wrong version
    t0 = time.perf_counter()
    fraction, message = credit(ns, eid, names, seed)
    return {"part": eid, "variant": variant, "seed": seed, "credit": fraction, "message": message,
            "seconds": time.perf_counter() - t0}


def run_behaviour_bench(root: Path, seeds: int = 50, parts: list[str] | None = None, jobs: int | None = None,
                        json_path: Path | None = None) -> int:
    """Every behaviour part (or `parts`): credit of the solution and each wrong version on `seeds` grading seeds."""
    import importlib

    from lecture_admin.grading import hidden
    from lecture_admin.grading.hidden import BEHAVIOUR

    for f in sorted(Path(hidden.__file__).parent.glob("sec*.py")):
        importlib.import_module(f"{hidden.__name__}.{f.stem}")
    chosen = [eid for eid in BEHAVIOUR if not parts or eid in parts]
    if not chosen:
        raise SystemExit(f"no behaviour-graded part {parts}; have: {', '.join(BEHAVIOUR) or 'none'}")
    grading_seeds = [1000 + 7919 * i for i in range(seeds)]
    jobs_list = []
    for eid in chosen:
        spec = BEHAVIOUR[eid]
        notebook = root / "solutions" / spec.notebook
        for variant, source in [("solution", ""), *spec.wrong.items()]:
            jobs_list += [(str(notebook), eid, list(spec.names), variant, source, s) for s in grading_seeds]
    rows: list[dict] = []
    workers = jobs or max(1, min(2, os.cpu_count() or 1))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        rows = list(pool.map(_one, jobs_list))
    ok = True
    print(f"behaviour-graded parts on {seeds} grading seeds ({workers} processes, 1 torch thread each)")
    for eid in chosen:
        print(f"\n{eid} ({BEHAVIOUR[eid].notebook}): credit per seed, min / mean / max; seconds per grading")
        for variant in ["solution", *BEHAVIOUR[eid].wrong]:
            rs = [r for r in rows if r["part"] == eid and r["variant"] == variant]
            cr = [r["credit"] for r in rs]
            want_full = variant == "solution"
            good = all(c == 1.0 for c in cr) if want_full else all(c == 0.0 for c in cr)
            ok &= good
            secs = statistics.mean(r["seconds"] for r in rs)
            print(f"  {'OK ' if good else 'BAD'} {variant:<34} {min(cr):.2f} / {statistics.mean(cr):.2f} / "
                  f"{max(cr):.2f}   {secs:5.1f} s")
            if not good:
                worst = min(rs, key=lambda r: r["credit"]) if want_full else max(rs, key=lambda r: r["credit"])
                print(f"      seed {worst['seed']}: {worst['message'][:200]}")
            measured = [r["message"] for r in rs]
            print(f"      e.g. {measured[0][:160]}")
    if json_path:
        Path(json_path).write_text(json.dumps(rows, indent=1))
    print("\nall solutions earn full credit on every seed and every wrong version none" if ok else
          "\nSOME SEEDS BREAK THE RULE: widen the margin or fix the check")
    return 0 if ok else 1
