"""Benchmark: generate a month of N orders and time import + run. Not a test; prints figures.

    .venv/bin/python bench/bench_run.py --orders 20000

Targets (2-core, 24 GB machine): see bench/README.md. Timings are wall-clock, one process,
warm file cache; the store is a fresh DuckDB file each time.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import tempfile
import time
from pathlib import Path

from recon import api
from recon.sample import generate


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=20000)
    ap.add_argument("--keep", action="store_true", help="keep the temp folder")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="recon-bench-"))
    try:
        t0 = time.perf_counter()
        generate(work / "in", orders=args.orders)
        t1 = time.perf_counter()
        size = sum(p.stat().st_size for p in (work / "in").rglob("*") if p.is_file())
        result = api.run(api.RunConfig(inputs=[work / "in"], out=work / "out", db=str(work / "s.duckdb")))
        t2 = time.perf_counter()
        lines = sum(t["in"]["count"] for t in result.manifest["control_totals"].values())
        print(json.dumps({
            "orders": args.orders, "input_bytes": size, "ledger_lines_in_period": lines,
            "generate_s": round(t1 - t0, 2), "run_s": round(t2 - t1, 2),
            "lines_per_s": round(lines / (t2 - t1)),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
            "exit_code": result.exit_code,
        }, indent=2))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
