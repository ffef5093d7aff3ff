"""Render bench_scale.py's JSON figures as the markdown tables README.md and bench/README.md show.

    .venv/bin/python bench/render_table.py bench/scale_1m.json bench/scale_10m.json

One row per JSON file (one order count each): the baselines (a)-(d), the floor and the run, with
ratios; then the disk table (input, peak temp spill, store, evidence, outputs), recon's per-step
timings (``manifest.json`` ``timings``, when the run recorded them), every target with its verdict,
and the machine and versions of the first file. The table is derived, never typed: re-run the
benchmark, re-render. JSON written before issue 10 (recon run under ``d_recon_run``, no (d), floor
or disk) renders too, with "-" where a figure was not measured.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

STEPS = (("a_duckdb_join", "(a) DuckDB join"), ("b_duckdb_parse", "(b) DuckDB parse"),
         ("c_pandas_merge", "(c) pandas merge"), ("d_pandas_job", "(d) pandas job"), ("floor", "floor"),
         ("recon_run", "recon run"))


def _run(r: dict) -> dict | None:
    """The recon run step; before issue 10 it was step (d)."""
    return r["steps"].get("recon_run") or r["steps"].get("d_recon_run")


def _steps(r: dict) -> dict:
    steps = dict(r["steps"])
    if "d_recon_run" in steps and "recon_run" not in steps:
        steps["recon_run"] = steps.pop("d_recon_run")
    return steps


def _cell(step: dict, base: float, key: str) -> str:
    if step.get("failed"):
        return f"failed (exit {step['exit_code']}) after {step['wall_s']:.2f} s, {step['peak_rss_mb']:,} MB"
    if key == "floor":  # the sum of its parts' work, peak = the largest part's
        return f"{step['floor_s']:.2f} s ({step['floor_s'] / base:.1f}x), {step['peak_rss_mb']:,} MB"
    return f"{step['wall_s']:.2f} s ({step['wall_s'] / base:.1f}x), {step['peak_rss_mb']:,} MB"


def _ratio(run: dict | None, other: dict | None, key: str = "wall_s") -> str:
    if not run or not other or other.get("failed"):
        return "-"
    return f"{run['wall_s'] / other[key]:.2f}x"


def _mb(b: int | None) -> str:
    return "-" if b is None else f"{b / 1e6:,.1f} MB"


def render(reports: list[dict]) -> str:
    reports = sorted(reports, key=lambda r: r["orders"])
    head = (["orders", "ledger lines"] + [title for _, title in STEPS]
            + ["run / (a)", "run / floor", "run / (d)"])
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in reports:
        steps, base = _steps(r), r["steps"]["a_duckdb_join"]["wall_s"]
        run = steps.get("recon_run")
        cells = [f"{r['orders']:,}", f"{run['ledger_lines_in_period']:,}" if run and "ledger_lines_in_period" in run
                 else "-"]
        cells += [_cell(steps[key], base, key) if key in steps else "-" for key, _ in STEPS]
        cells.append(f"{run['wall_s'] / base:.1f}x" if run else "-")
        cells.append(_ratio(run, steps.get("floor"), "floor_s"))
        cells.append(_ratio(run, steps.get("d_pandas_job")))
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    out.append("Cells: wall time (ratio to (a)), peak RSS of that step's own process. The floor is the sum of the "
               "work of its parts (decode + (b) + writing one result per line), its RSS the largest part's.")
    for r in reports:
        limit = (_run(r) or {}).get("memory_limit")
        if limit:
            out.append(f"- {r['orders']:,} orders: recon run with `--memory-limit {limit}`")
        lim = r["steps"].get("recon_run_limited")
        if lim:
            out.append(f"- {r['orders']:,} orders: recon run again with `--memory-limit {lim['memory_limit']}`: "
                       f"{lim['wall_s']:.2f} s, {lim['peak_rss_mb']:,} MB peak RSS, exit {lim.get('run_exit_code')}")

    disks = [(r, r["disk"], "") for r in reports if r.get("disk")]
    disks += [(r, r["steps"]["recon_run_limited"]["disk"], f" (`--memory-limit {r['steps']['recon_run_limited']['memory_limit']}`)")
              for r in reports if (r["steps"].get("recon_run_limited") or {}).get("disk")]
    if disks:
        out.append("")
        dh = ["orders", "input", "peak temp spill", "store", "evidence", "outputs",
              "store + evidence + spill + outputs", "left in temp after the run"]
        out.append("| " + " | ".join(dh) + " |")
        out.append("|" + "---|" * len(dh))
        for r, d, note in sorted(disks, key=lambda x: (x[0]["orders"], x[2])):
            inp = d["input_bytes"]
            out.append("| " + " | ".join([
                f"{r['orders']:,}{note}", _mb(inp),
                f"{_mb(d['peak_spill_bytes'])} ({d['peak_spill_bytes'] / inp:.2f}x)",
                _mb(d["store_bytes"]), _mb(d["evidence_bytes"]) if d.get("evidence_exists") else "- (none)",
                _mb(d["outputs_bytes"]), f"{_mb(d['total_bytes'])} ({d['total_bytes'] / inp:.2f}x)",
                f"{d['spill_left_bytes']:,} bytes" + ("" if d.get("temp_dir_left") else " (folder removed)"),
            ]) + " |")
        out.append("")
        out.append("Temp spill: the store's temp folder sampled every second during the run, peak; sizes are "
                   "the files' bytes after the run.")

    for r in reports:
        timings = (_run(r) or {}).get("timings")
        if timings:
            out.append("")
            out.append(f"recon run's steps at {r['orders']:,} orders (`manifest.json` `timings`):")
            out.append("")
            out.append("| step | seconds |")
            out.append("|---|---|")
            for t in timings:
                out.append(f"| {t['step']} | {t['seconds']} |")

    out.append("")
    for r in reports:
        for name, t in r["targets"].items():
            verdict = "pass" if t["passed"] else "FAIL"
            kind = "required" if t["required"] else "reported"
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
