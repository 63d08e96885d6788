"""`lecture bench --demos`: each section's live demo, built once (its precomputation timed), then driven
through its interactions; the time from a control's change to the redrawn output is the demo's response
time (budget 0.5 s on 2 cores, issue: one live demo per section)."""

from __future__ import annotations

import importlib
import json
import pkgutil
import time
from pathlib import Path

BUDGET_S = 0.5


def run_demo_bench(json_path: Path | None = None, sections: list[str] | None = None) -> int:
    import lecture_utils.demos as pkg
    from lecture_utils.demos import time_interactions
    from lecture_utils.notebook import setup

    setup(seed=0)  # the notebooks' seeding and one torch / BLAS thread
    rows: list[dict] = []
    builds: list[dict] = []
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if not info.name.startswith("sec") or (sections and not any(info.name.endswith(s) for s in sections)):
            continue
        mod = importlib.import_module(f"{pkg.__name__}.{info.name}")
        t0 = time.perf_counter()
        cases = mod.bench_cases()
        builds.append({"module": info.name, "build_seconds": time.perf_counter() - t0})
        rows.extend(time_interactions(cases))
    print(f"{'demo':<40} {'interaction':<40} {'seconds':>8}")
    for r in rows:
        flag = "" if r["seconds"] <= BUDGET_S else "  over the 0.5 s budget"
        print(f"{r['demo']:<40} {r['interaction']:<40} {r['seconds']:8.3f}{flag}")
    for b in builds:
        print(f"  {b['module']}: demo built (precomputation) in {b['build_seconds']:.1f} s")
    worst = max((r["seconds"] for r in rows), default=0.0)
    print(f"slowest response {worst:.3f} s (budget {BUDGET_S} s)")
    if json_path:
        Path(json_path).write_text(json.dumps({"demos": rows, "builds": builds}, indent=2) + "\n")
    return 0
