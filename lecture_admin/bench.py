"""`lecture bench`: execute every lecture and solutions notebook, then compute the headline results.

Results come from ``lecture_admin/results/secNN.py`` modules, each with ``results() -> list[dict]``
(keys: section, name, value, reference, reference_name). They run the same lecture_utils code the
notebooks run; nothing is read from a notebook's stored output.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import time
from dataclasses import asdict
from pathlib import Path

from lecture_admin.execute import Execution, execute_notebook


def notebooks(root: Path) -> list[Path]:
    return sorted((root / "notebooks").glob("*.ipynb")) + sorted((root / "solutions").glob("*.ipynb"))


def collect_results(sections: list[str] | None = None) -> list[dict]:
    import lecture_admin.results as pkg
    from lecture_utils.notebook import setup

    setup(seed=0)  # the same seeding and thread limits as the notebooks
    out: list[dict] = []
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if sections and not any(info.name.endswith(s) for s in sections):
            continue
        mod = importlib.import_module(f"{pkg.__name__}.{info.name}")
        t0 = time.perf_counter()
        rows = mod.results()
        for r in rows:
            missing = {"section", "name", "value", "reference", "reference_name"} - set(r)
            if missing:
                raise ValueError(f"{info.name}.results() row {r!r} lacks {sorted(missing)}")
        out.extend(rows)
        print(f"  results of {info.name}: {len(rows)} rows in {time.perf_counter() - t0:.1f} s", flush=True)
    return out


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def run(root: Path, json_path: Path | None = None, skip_notebooks: bool = False,
        skip_results: bool = False, sections: list[str] | None = None, grading: bool = False) -> int:
    if grading:
        from lecture_admin.bench_grading import run_grading_bench

        rows = run_grading_bench(root, [s.removeprefix("sec") for s in sections or []] or None)
        if json_path:
            Path(json_path).write_text(json.dumps({"grading": rows}, indent=2) + "\n")
        return 0
    execs: list[Execution] = []
    if not skip_notebooks:
        paths = notebooks(root)
        print(f"Executing {len(paths)} notebooks (fresh kernel each)...", flush=True)
        for p in paths:
            ex = execute_notebook(p)
            ex.path = str(p.relative_to(root))
            execs.append(ex)
            print(f"  {ex.path:<48} {ex.seconds:7.1f} s {ex.peak_mb:8.0f} MB  {'ok' if ex.ok else 'FAILED'}",
                  flush=True)
        print()
        print(f"{'notebook':<48} {'seconds':>9} {'peak MB':>9}  ok")
        for ex in execs:
            print(f"{ex.path:<48} {ex.seconds:9.1f} {ex.peak_mb:9.0f}  {'yes' if ex.ok else 'NO: ' + ex.error}")
        print(f"{'total':<48} {sum(e.seconds for e in execs):9.1f}")
    results: list[dict] = []
    if not skip_results:
        print("\nComputing headline results...", flush=True)
        results = collect_results(sections)
        print()
        print(f"{'section':<8} {'result':<58} {'value':>10}   {'reference':>10}  reference is")
        for r in results:
            print(f"{r['section']:<8} {r['name']:<58} {_fmt(r['value']):>10}   {_fmt(r['reference']):>10}  "
                  f"{r['reference_name']}")
    if json_path:
        data = {"notebooks": [asdict(e) for e in execs], "results": results}
        Path(json_path).write_text(json.dumps(data, indent=2) + "\n")
        print(f"\nwrote {json_path}")
    return 0 if all(e.ok for e in execs) else 1
