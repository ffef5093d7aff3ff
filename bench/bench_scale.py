"""Benchmark: a month of N orders (1M, 10M) through `recon run`, beside three baselines. Not a test.

    .venv/bin/python bench/bench_scale.py --orders 1000000 --workdir /tmp/recon-bench --json bench/scale_1m.json

The sample (`recon sample`, scale mode) is generated once per (seed, N) into WORKDIR and reused;
generation is untimed. Then, each step in a fresh process of its own, so that its peak RSS is its own
(``os.wait4`` returns the child's rusage):

(a) matching limit: bare DuckDB reads two plain UTF-8 CSVs of the same orders (settlement, ERP:
    order_no, amount) and does one full outer join on order number with an amount compare;
(b) parsing limit: DuckDB ``read_csv`` of every CSV of the sample, transcoded to UTF-8 beforehand
    (untimed), counting rows;
(c) what a clerk's script would do: pandas ``read_csv`` + ``merge(how="outer")`` + compare, money
    read as strings and compared as integer cents (no float money, even here);
(d) `recon run SAMPLE --out OUT --db FRESH --no-reports`: import -> match -> classify -> results.

It prints a table and writes JSON (`--json`) with the machine, versions, every figure and the
targets with pass/fail; `bench/render_table.py` turns that JSON into the README table.
Each baseline reports its row counts, so a baseline that silently read nothing cannot look fast.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_RATIO = 10  # full run <= 10x (a)
TARGET_RSS_MB = 6 * 1024  # at 10M

# ---------------------------------------------------------------- the timed steps (run as children)

JOIN_SQL = """
CREATE TABLE s AS FROM read_csv(?, header = true, columns = {'order_no': 'VARCHAR', 'amount': 'DECIMAL(18,2)'});
CREATE TABLE e AS FROM read_csv(?, header = true, columns = {'order_no': 'VARCHAR', 'amount': 'DECIMAL(18,2)'});
"""
COMPARE_SQL = """
SELECT count(*) FILTER (s.amount = e.amount), count(*) FILTER (s.amount <> e.amount),
       count(*) FILTER (e.order_no IS NULL), count(*) FILTER (s.order_no IS NULL), count(s.order_no), count(e.order_no)
FROM s FULL OUTER JOIN e ON s.order_no = e.order_no
"""
COUNTS = ("equal", "differ", "settlement_only", "erp_only", "settlement_rows", "erp_rows")


def step_duckdb_join(settlement: str, erp: str) -> dict:
    import duckdb

    con = duckdb.connect()
    for stmt, path in zip(JOIN_SQL.strip().splitlines(), (settlement, erp)):
        con.execute(stmt, [path])
    return dict(zip(COUNTS, con.execute(COMPARE_SQL).fetchall()[0]))


def step_duckdb_parse(listing: str) -> dict:
    """Read every transcoded CSV (header line and column count found beforehand) and count rows."""
    import duckdb

    con = duckdb.connect()
    rows = {}
    for item in json.loads(Path(listing).read_text(encoding="utf-8")):
        (n,) = con.execute(
            "SELECT count(*) FROM read_csv(?, header = true, skip = ?, all_varchar = true, delim = ?, quote = '\"', "
            "null_padding = true, strict_mode = false, auto_detect = false, columns = ?)",
            [item["path"], item["skip"], item["delim"], {f"c{i}": "VARCHAR" for i in range(item["columns"])}],
        ).fetchall()[0]
        rows[item["name"]] = n
    return {"rows": rows, "total_rows": sum(rows.values())}


def _cents(col):
    """'12.34' / '-0.50' as int64 cents; every amount of the two CSVs has exactly two decimals."""
    if not col.str.fullmatch(r"-?\d+\.\d{2}").all():
        raise ValueError("amount not in 0.00 form")
    return col.str.replace(".", "", regex=False).astype("int64")


def step_pandas_merge(settlement: str, erp: str) -> dict:
    import pandas as pd

    s = pd.read_csv(settlement, dtype=str, keep_default_na=False)
    e = pd.read_csv(erp, dtype=str, keep_default_na=False)
    s["cents"], e["cents"] = _cents(s["amount"]), _cents(e["amount"])
    m = s.merge(e, on="order_no", how="outer", suffixes=("_s", "_e"), indicator=True)
    both = m["_merge"] == "both"
    equal = both & (m["cents_s"] == m["cents_e"])
    return dict(zip(COUNTS, (int(equal.sum()), int((both & ~equal).sum()), int((m["_merge"] == "left_only").sum()),
                             int((m["_merge"] == "right_only").sum()), len(s), len(e))))


def step_recon_run(sample: str, out: str, db: str, memory_limit: str = "") -> dict:
    """`recon run SAMPLE --out OUT --db DB --no-reports [--memory-limit M]` through the CLI's own entry point."""
    from recon.cli import main as recon_main

    try:
        recon_main(["run", sample, "--out", out, "--db", db, "--no-reports"]
                   + (["--memory-limit", memory_limit] if memory_limit else []))
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 3
    return {"run_exit_code": code}


STEPS = {"a": step_duckdb_join, "b": step_duckdb_parse, "c": step_pandas_merge, "d": step_recon_run}


def _own_peak_mb() -> int | None:
    """This process's peak RSS (VmHWM). Not ru_maxrss: Linux carries that over from the parent
    across fork and exec, so every child would report at least the parent's size."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024)
    except OSError:
        pass
    return None


def child_main(step: str, args: list[str]) -> None:
    started = time.perf_counter()
    result = STEPS[step](*args)
    result["work_s"] = round(time.perf_counter() - started, 3)
    result["own_peak_rss_mb"] = _own_peak_mb()
    print("\n" + json.dumps(result))  # last line: whatever the step printed before stays above it


# ---------------------------------------------------------------- measuring a child

def measure(cmd: list[str]) -> dict:
    """Run ``cmd``; wall seconds, the child's own peak RSS (MB), exit code, stdout and stderr's tail."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's rusage, not every child's so far
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        return {"wall_s": round(wall, 3), "peak_rss_mb": round(usage.ru_maxrss / 1024),
                "exit_code": proc.returncode, "stdout": out.read().decode("utf-8", "replace"),
                "stderr": err.read().decode("utf-8", "replace")[-3000:]}


def run_step(step: str, *args: str) -> dict:
    """One step in a fresh process: its wall time (interpreter start included) and peak RSS."""
    m = measure([sys.executable, __file__, "--child", step, *args])
    if m["exit_code"] != 0:
        raise SystemExit(f"step {step} failed:\n{m['stderr']}")
    m.update(json.loads(m.pop("stdout").strip().splitlines()[-1]))
    err = m.pop("stderr")
    if m.get("run_exit_code") not in (None, 0, 1):  # recon's own message says why the run failed
        m["stderr_tail"] = err[-2000:]
    if m["own_peak_rss_mb"] is not None:
        m["peak_rss_mb"] = m.pop("own_peak_rss_mb")
    return m


# ---------------------------------------------------------------- untimed preparation

def sample_dir(workdir: Path, orders: int, seed: int) -> tuple[Path, float | None]:
    """The cached scale sample for (seed, N); generated (and timed, for information) when missing."""
    from recon.sample import generate

    folder = workdir / f"sample-{seed}-{orders}"
    done = folder / ".complete"
    if done.exists():
        return folder, None
    started = time.perf_counter()
    generate(folder, orders=orders, seed=seed, scale=True)
    took = time.perf_counter() - started
    done.write_text(f"{took:.1f}\n", encoding="utf-8")
    return folder, took


def plain_csvs(sample: Path, out: Path) -> tuple[Path, Path]:
    """(a)/(c) inputs: the ERP's 标准应收单 (order_no, amount) twice, the settlement side re-ordered.

    The clean scale month settles each order at its ERP amount, so both files hold the same orders;
    the settlement file is in order-number-hash order, as the join must not find them pre-sorted.
    """
    import duckdb

    settlement, erp = out / "settlement.csv", out / "erp.csv"
    if settlement.exists() and erp.exists():
        return settlement, erp
    out.mkdir(parents=True, exist_ok=True)
    (src,) = sorted((sample / "erp").glob("*.csv"))
    con = duckdb.connect()
    con.execute("""
CREATE TABLE ar AS SELECT coalesce(nullif(平台订单号, ''), regexp_extract(摘要, '订单号[:：]?\\s*([0-9A-Za-z_-]{6,})', 1))
  AS order_no, 价税合计 AS amount
FROM read_csv(?, header = true, all_varchar = true) WHERE 单据类型 = '标准应收单'""", [str(src)])
    con.execute(f"COPY (SELECT * FROM ar ORDER BY hash(order_no), order_no) TO '{settlement}' (HEADER, QUOTE '')")
    con.execute(f"COPY ar TO '{erp}' (HEADER, QUOTE '')")
    return settlement, erp


def transcode(sample: Path, out: Path) -> Path:
    """(b) input: every CSV of the sample as UTF-8 (GBK/GB18030 decoded, BOM dropped), and a listing
    with each file's header line and column count so DuckDB needs no sniffing of preambles."""
    listing = out / "listing.json"
    if listing.exists():
        return listing
    items = []
    for src in sorted(sample.rglob("*.csv")):
        raw = src.read_bytes()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("gb18030")
        dst = out / "utf8" / src.relative_to(sample)
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_text(text, encoding="utf-8", newline="")
        head = text[:20000].splitlines()[:12]
        widths = [line.count(",") for line in head]
        skip = widths.index(max(widths))  # the header: the widest of the first lines
        items.append({"name": str(src.relative_to(sample)), "path": str(dst), "skip": skip, "delim": ",",
                      "columns": max(widths) + 1, "lines": text.count("\n")})
    listing.write_text(json.dumps(items, ensure_ascii=False, indent=1), encoding="utf-8")
    return listing


# ---------------------------------------------------------------- the report

def _git_revision() -> str | None:
    """HEAD's commit, read from .git's files (the benchmark runs no git command)."""
    git = ROOT / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head
        ref = head[5:]
        if (git / ref).exists():
            return (git / ref).read_text().strip()
        for line in (git / "packed-refs").read_text().splitlines():
            if line.endswith(" " + ref):
                return line.split()[0]
    except OSError:
        return None
    return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def machine() -> dict:
    import duckdb

    threads = duckdb.connect().execute("SELECT current_setting('threads')").fetchall()[0][0]
    return {"git_revision": _git_revision(), "cpu": _cpu_model(), "cores": os.cpu_count(), "duckdb_threads": threads,
            "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3, 1),
            "python": platform.python_version(),
            "versions": {n: _version(n) for n in ("recon", "duckdb", "pandas", "pyarrow", "numpy")},
            "date": dt.datetime.now().isoformat(timespec="seconds")}


def files_of(sample: Path) -> dict:
    out = {}
    for p in sorted(sample.rglob("*")):
        if p.is_file() and not p.name.startswith("."):
            lines = p.read_bytes().count(b"\n") if p.suffix in (".csv", ".sta", ".xml") else None
            out[str(p.relative_to(sample))] = {"bytes": p.stat().st_size, "lines": lines}
    return out


def verdicts(orders: int, steps: dict) -> dict:
    run, join, pandas = steps["d_recon_run"], steps["a_duckdb_join"], steps["c_pandas_merge"]
    ratio = run["wall_s"] / join["wall_s"]
    out = {"ratio_to_a": {"target": f"<= {TARGET_RATIO}x (a)", "value": round(ratio, 1),
                          "required": orders <= 1_000_000, "passed": ratio <= TARGET_RATIO},
           "faster_than_c": {"target": "recon run faster than (c)", "value": round(run["wall_s"] / pandas["wall_s"], 2),
                             "required": True, "passed": run["wall_s"] < pandas["wall_s"]}}
    if orders >= 10_000_000:
        out["peak_rss"] = {"target": f"<= {TARGET_RSS_MB} MB", "value": run["peak_rss_mb"], "required": True,
                           "passed": run["peak_rss_mb"] <= TARGET_RSS_MB}
    return out


def print_table(report: dict) -> None:
    base = report["steps"]["a_duckdb_join"]["wall_s"]
    run = report["steps"]["d_recon_run"]
    print(f"\n{report['orders']:,} orders: {len(report['files'])} files, {report['csv_rows']:,} CSV rows, "
          f"{run['ledger_lines_in_period']:,} ledger lines in the period; statuses {run['status_counts']}")
    print(f"{'step':<22}{'wall s':>9}{'x (a)':>8}{'peak RSS MB':>13}")
    for name, s in report["steps"].items():
        print(f"{name:<22}{s['wall_s']:>9.2f}{s['wall_s'] / base:>8.1f}{s['peak_rss_mb']:>13,}")
    for name, v in report["targets"].items():
        print(f"target {name}: {v['target']}: {v['value']} -> {'pass' if v['passed'] else 'FAIL'}"
              f"{'' if v['required'] else ' (reported)'}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", type=int, required=True)
    ap.add_argument("--seed", type=int, default=20260131)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/recon-bench"),
                    help="cache of generated samples and baseline inputs (needs ~1 GB per 100k orders at 10M)")
    ap.add_argument("--json", type=Path, help="write the figures here")
    ap.add_argument("--skip-run", action="store_true", help="baselines only (for testing the script)")
    ap.add_argument("--memory-limit", default="",
                    help="passed to `recon run --memory-limit` (DuckDB spills beyond it): the 10M run needs one "
                         "to stay under the 6 GB peak target")
    args = ap.parse_args(argv)

    sample, generated_s = sample_dir(args.workdir, args.orders, args.seed)
    prep = args.workdir / f"prep-{args.seed}-{args.orders}"
    settlement, erp = plain_csvs(sample, prep)
    listing = transcode(sample, prep)
    steps = {"a_duckdb_join": run_step("a", str(settlement), str(erp)),
             "b_duckdb_parse": run_step("b", str(listing)),
             "c_pandas_merge": run_step("c", str(settlement), str(erp))}
    if not args.skip_run:
        out, db = args.workdir / f"out-{args.orders}", args.workdir / f"run-{args.orders}.duckdb"
        for leftover in (db, Path(str(db) + ".wal")):
            leftover.unlink(missing_ok=True)
        run = run_step("d", str(sample), str(out), str(db), args.memory_limit)
        run["memory_limit"] = args.memory_limit or None
        if run["run_exit_code"] not in (0, 1):
            raise SystemExit(f"recon run failed with exit code {run['run_exit_code']}:\n{run.get('stderr_tail', '')}")
        manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
        run.update({"status_counts": manifest["status_counts"],
                    "ledger_lines_in_period": sum(t["in"]["count"] for t in manifest["control_totals"].values()),
                    "failed_proofs": len(manifest["failed_proofs"]), "quarantined": manifest["quarantined_lines"]})
        steps["d_recon_run"] = run
        db.unlink(missing_ok=True)
    files = files_of(sample)
    report = {"orders": args.orders, "seed": args.seed, "machine": machine(), "generate_s":
              None if generated_s is None else round(generated_s, 1), "files": files,
              "csv_rows": steps["b_duckdb_parse"]["total_rows"], "steps": steps,
              "targets": verdicts(args.orders, steps) if "d_recon_run" in steps else {}}
    if "d_recon_run" in steps:
        print_table(report)
    else:
        print(json.dumps(steps, indent=1))
    if args.json:
        args.json.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child_main(sys.argv[2], sys.argv[3:])
    else:
        sys.exit(main())
