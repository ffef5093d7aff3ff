"""Render bench_scale.py's JSON figures as the markdown table README.md and bench/README.md show.

    .venv/bin/python bench/render_table.py bench/scale_1m.json bench/scale_10m.json

One row per JSON file (one order count each), then the machine and versions of the first file and
the targets with pass/fail. The table is derived, never typed: re-run the benchmark, re-render.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

STEPS = (("a_duckdb_join", "(a) DuckDB join"), ("b_duckdb_parse", "(b) DuckDB parse"),
         ("c_pandas_merge", "(c) pandas merge"), ("d_recon_run", "recon run"))


def _cell(step: dict, base: float) -> str:
    return f"{step['wall_s']:.2f} s ({step['wall_s'] / base:.1f}x), {step['peak_rss_mb']:,} MB"


def render(reports: list[dict]) -> str:
    head = ["orders", "ledger lines"] + [title for _, title in STEPS] + ["run / (a)"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in sorted(reports, key=lambda r: r["orders"]):
        steps, base = r["steps"], r["steps"]["a_duckdb_join"]["wall_s"]
        run = steps.get("d_recon_run")
        cells = [f"{r['orders']:,}", f"{run['ledger_lines_in_period']:,}" if run else "-"]
        cells += [_cell(steps[key], base) if key in steps else "-" for key, _ in STEPS]
        cells.append(f"{run['wall_s'] / base:.1f}x" if run else "-")
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    out.append("Cells: wall time (ratio to (a)), peak RSS of that step's own process.")
    for r in sorted(reports, key=lambda r: r["orders"]):
        limit = (r["steps"].get("d_recon_run") or {}).get("memory_limit")
        if limit:
            out.append(f"- {r['orders']:,} orders: recon run with `--memory-limit {limit}`")
    for r in sorted(reports, key=lambda r: r["orders"]):
        for name, t in r["targets"].items():
            verdict = "pass" if t["passed"] else "FAIL"
            kind = "required" if t["required"] else "reported, goal"
            out.append(f"- {r['orders']:,} orders, {name}: {t['target']}: {t['value']} -> **{verdict}** ({kind})")
    m = reports[0]["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v)
    out.append("")
    out.append(f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, DuckDB threads {m['duckdb_threads']}; "
               f"Python {m['python']}, {versions}; git {str(m['git_revision'])[:12]}; {m['date']}.")
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    paths = argv if argv is not None else sys.argv[1:]
    if not paths:
        print("usage: render_table.py FIGURES.json [FIGURES.json ...]", file=sys.stderr)
        return 2
    print(render([json.loads(Path(p).read_text(encoding="utf-8")) for p in paths]), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
