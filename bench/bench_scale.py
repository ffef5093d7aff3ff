"""Benchmark: a month of N orders (1M, 10M) through `recon run`, beside four baselines and the floor. Not a test.

    .venv/bin/python bench/bench_scale.py --orders 1000000 --workdir /tmp/recon-bench --json bench/scale_1m.json

The sample (`recon sample`, scale mode) is generated once per (seed, N) into WORKDIR and reused;
generation is untimed. Then, each step in a fresh process of its own, so that its peak RSS is its own
(the child's ``VmHWM``; ``os.wait4`` returns the child's rusage as a fallback):

(a) matching limit: bare DuckDB reads two plain UTF-8 CSVs of the same orders (settlement, ERP:
    order_no, amount) and does one full outer join on order number with an amount compare;
(b) parsing limit: DuckDB ``read_csv`` of every CSV of the sample, transcoded to UTF-8 beforehand
    (untimed), counting rows;
(c) what a clerk's one-join script would do: pandas ``read_csv`` + ``merge(how="outer")`` + compare,
    money read as strings and compared as integer cents (no float money, even here);
(d) recon's essential job as a clerk's pandas script (``baseline_pandas.py``): every ledger file with
    its encoding and preamble, order/fund/fee/payout merges, one result row per ledger line to CSV.
    Its row count must equal recon's results.csv (checked; the benchmark fails otherwise);
floor: decode the downloads + (b) + write one result per line (``bench_floor.py``'s steps; no raw
    cells kept: issue 10 keeps the downloaded files' bytes as evidence instead);
recon run: `recon run SAMPLE --out OUT --db FRESH --no-reports [--memory-limit M]`: import -> match ->
    classify -> results. While it runs, the store's temp/spill folder (``<db>.tmp``, DuckDB's default
    beside the store, or ``--temp-dir``) is sampled every second; after it, the store, its evidence
    folder (``<db>.evidence``), the outputs and the input are measured. ``--limited-run 2GB`` runs it
    once more under that memory limit (the 1M low-memory target).

It prints a table and writes JSON (`--json`) with the machine, versions, every figure, recon's
per-step timings (``manifest.json`` ``timings``, when the run records them) and the targets with
pass/fail; `bench/render_table.py` turns that JSON into the README table.
Each baseline reports its row counts, so a baseline that silently read nothing cannot look fast.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
# issue 10's targets (2-core machine, same-run ratios)
TARGET_RATIO = 25  # 1M: recon run <= 25x (a)
STRETCH_RATIO = 15  # 1M: stretch goal
TARGET_FLOOR = 2  # 1M: recon run <= 2x the floor
TARGET_RSS_MB = 6 * 1024  # 10M, under --memory-limit 4GB
TARGET_10M_LIMIT = "4GB"
TARGET_LINEAR = 12  # 10M wall <= 12x the 1M run
TARGET_LIMITED_RSS_MB = 2560  # 1M under --memory-limit 2GB: peak <= 2.5 GB
TARGET_SPILL = 2  # peak temp spill <= 2x the input
TARGET_DISK = 5  # store + evidence + spill + outputs <= 5x the input

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


def step_pandas_job(sample: str, out_csv: str) -> dict:
    """(d): baseline_pandas.py's whole job (read every ledger file, merge, one row per line to CSV)."""
    sys.path.insert(0, str(HERE))
    import baseline_pandas

    return baseline_pandas.run(Path(sample), Path(out_csv))


def step_floor(name: str, arg: str) -> dict:
    """A step of bench_floor.py (decode, results) in this script's child protocol."""
    sys.path.insert(0, str(HERE))
    import bench_floor

    return bench_floor.STEPS[name](arg)


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


STEPS = {"a": step_duckdb_join, "b": step_duckdb_parse, "c": step_pandas_merge, "d": step_pandas_job,
         "floor": step_floor, "run": step_recon_run}


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
    result.setdefault("work_s", round(time.perf_counter() - started, 3))  # a floor step times its own part
    result["own_peak_rss_mb"] = _own_peak_mb()
    print("\n" + json.dumps(result))  # last line: whatever the step printed before stays above it


# ---------------------------------------------------------------- measuring a child

def dir_bytes(path: Path) -> int:
    """Bytes of the files under ``path`` (0 when it does not exist); files vanishing meanwhile are skipped."""
    total = 0
    try:
        if path.is_file():
            return path.stat().st_size
        for base, _, names in os.walk(path):
            for n in names:
                try:
                    total += os.lstat(os.path.join(base, n)).st_size
                except OSError:
                    pass
    except OSError:
        pass
    return total


class DirSampler(threading.Thread):
    """Samples the total bytes under some folders every ``every`` seconds; keeps the peak."""

    def __init__(self, paths: list[Path], every: float = 1.0):
        super().__init__(daemon=True)
        self.paths, self.every = paths, every
        self.peak, self.samples, self.peak_at, self._halt, self._t0 = 0, 0, None, threading.Event(), time.perf_counter()

    def sample(self) -> None:
        now = sum(dir_bytes(p) for p in self.paths)
        self.samples += 1
        if now > self.peak:
            self.peak, self.peak_at = now, round(time.perf_counter() - self._t0, 1)

    def run(self) -> None:
        while not self._halt.wait(self.every):
            self.sample()

    def stop(self) -> dict:
        self._halt.set()
        self.join()
        self.sample()
        return {"paths": [str(p) for p in self.paths], "peak_bytes": self.peak, "peak_at_s": self.peak_at,
                "samples": self.samples, "every_s": self.every}


def measure(cmd: list[str], watch: list[Path] | None = None) -> dict:
    """Run ``cmd``; wall seconds, the child's own peak RSS (MB), exit code, stdout and stderr's tail.
    With ``watch``, those folders' total size is sampled every second meanwhile (``spill``: the peak)."""
    sampler = DirSampler(watch) if watch else None
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err)
        if sampler:
            sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)  # this child's rusage, not every child's so far
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        m = {"wall_s": round(wall, 3), "peak_rss_mb": round(usage.ru_maxrss / 1024),
             "exit_code": proc.returncode, "stdout": out.read().decode("utf-8", "replace"),
             "stderr": err.read().decode("utf-8", "replace")[-3000:]}
        if sampler:
            m["spill"] = sampler.stop()
        return m


def run_step(step: str, *args: str, watch: list[Path] | None = None, fatal: bool = True) -> dict:
    """One step in a fresh process: its wall time (interpreter start included) and peak RSS.
    A failing step stops the benchmark, unless ``fatal`` is false: then it is recorded as failed
    (exit code, wall time, peak RSS from rusage, stderr's tail), e.g. (d) running out of memory at 10M."""
    m = measure([sys.executable, __file__, "--child", step, *args], watch)
    if m["exit_code"] != 0:
        if not fatal:
            m.pop("stdout")
            m["stderr_tail"] = m.pop("stderr")[-2000:]
            m["failed"] = True
            return m
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
    """HEAD's commit, read from .git's files (the benchmark runs no git command). In a worktree,
    ``.git`` is a file naming the worktree's git folder, whose ``commondir`` holds the refs."""
    git = ROOT / ".git"
    try:
        if git.is_file():
            git = (ROOT / git.read_text().split("gitdir:", 1)[1].strip()).resolve()
        common = (git / (git / "commondir").read_text().strip()).resolve() if (git / "commondir").exists() else git
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head
        ref = head[5:]
        for base in (git, common):
            if (base / ref).exists():
                return (base / ref).read_text().strip()
        for line in (common / "packed-refs").read_text().splitlines():
            if line.endswith(" " + ref):
                return line.split()[0]
    except (OSError, IndexError):
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


def _target(target: str, value, passed: bool, required: bool) -> dict:
    return {"target": target, "value": value, "required": required, "passed": bool(passed)}


def _limit_bytes(limit: str | None) -> float | None:
    import re

    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*", limit or "", re.I)
    if not m:
        return None
    unit = m.group(2).upper().replace("I", "")
    return float(m.group(1)) * 1024 ** ("KMGT".index(unit[0]) + 1)


def verdicts(orders: int, steps: dict, disk: dict | None = None, one_m: dict | None = None,
             rows_equal: dict | None = None) -> dict:
    """Issue 10's targets. Required at the order count the target names (1M, 10M); reported elsewhere."""
    run, join = steps["recon_run"], steps["a_duckdb_join"]
    at_1m, at_10m = orders == 1_000_000, orders >= 10_000_000
    completed = run.get("run_exit_code") in (0, 1)
    out = {}
    ratio = run["wall_s"] / join["wall_s"]
    if not at_10m:
        out["ratio_to_a"] = _target(f"<= {TARGET_RATIO}x (a)", round(ratio, 1), ratio <= TARGET_RATIO, at_1m)
        out["stretch_ratio_to_a"] = _target(f"<= {STRETCH_RATIO}x (a) (stretch)", round(ratio, 1),
                                            ratio <= STRETCH_RATIO, False)
    else:
        out["ratio_to_a"] = _target("reported", round(ratio, 1), True, False)
    if "floor" in steps:
        f = run["wall_s"] / steps["floor"]["floor_s"]
        out["ratio_to_floor"] = (_target(f"<= {TARGET_FLOOR}x the floor", round(f, 2), f <= TARGET_FLOOR, at_1m)
                                 if not at_10m else _target("reported", round(f, 2), True, False))
    if "d_pandas_job" in steps and steps["d_pandas_job"].get("failed"):
        out["ratio_to_d"] = _target("recon run faster than (d) (goal)",
                                    f"(d) failed, exit {steps['d_pandas_job']['exit_code']}", completed, False)
    elif "d_pandas_job" in steps:
        d = run["wall_s"] / steps["d_pandas_job"]["wall_s"]
        out["ratio_to_d"] = _target("recon run faster than (d) (goal)", round(d, 2), d < 1, False)
    if "c_pandas_merge" in steps:
        c = run["wall_s"] / steps["c_pandas_merge"]["wall_s"]
        out["ratio_to_c"] = _target("recon run faster than (c) (goal)", round(c, 2), c < 1, False)
    if "statement" in run:
        st = run["statement"]
        out["statement_foots"] = _target("reconciliation statement foots to the cent",
                                         f"{st['channels']} channel/currency rows, {st['steps']} steps"
                                         + (f"; {st['problems'][0]}" if st["problems"] else ""), st["foots"], True)
    if rows_equal is not None:
        out["d_rows_equal_results"] = _target("(d)'s rows = results.csv's rows", rows_equal["d_rows"],
                                              rows_equal["d_rows"] == rows_equal["results_rows"], True)
    if at_10m:
        limit = _limit_bytes(run.get("memory_limit"))
        within = limit is not None and limit <= _limit_bytes(TARGET_10M_LIMIT)
        out["completes_under_4gb"] = _target(
            f"completes with --memory-limit {TARGET_10M_LIMIT}",
            f"exit {run.get('run_exit_code')}, --memory-limit {run.get('memory_limit')}", completed and within, True)
        out["peak_rss"] = _target(f"<= {TARGET_RSS_MB} MB", run["peak_rss_mb"], run["peak_rss_mb"] <= TARGET_RSS_MB,
                                  True)
        if one_m is not None:
            lin = run["wall_s"] / one_m["steps"]["recon_run"]["wall_s"]
            out["wall_vs_1m"] = _target(f"<= {TARGET_LINEAR}x the 1M run ({one_m['steps']['recon_run']['wall_s']} s)",
                                        round(lin, 1), lin <= TARGET_LINEAR, True)
    if "recon_run_limited" in steps:
        lim = steps["recon_run_limited"]
        ok = lim.get("run_exit_code") in (0, 1) and lim["peak_rss_mb"] <= TARGET_LIMITED_RSS_MB
        out["limited_run_rss"] = _target(
            f"--memory-limit {lim.get('memory_limit')}: peak <= {TARGET_LIMITED_RSS_MB} MB", lim["peak_rss_mb"], ok, at_1m)
        ld = lim.get("disk")
        if ld:  # spilling is what a memory limit makes DuckDB do: the same spill targets hold
            spill = ld["peak_spill_bytes"] / ld["input_bytes"]
            out["limited_run_spill"] = _target(f"--memory-limit {lim.get('memory_limit')}: peak temp spill <= "
                                               f"{TARGET_SPILL}x input", round(spill, 2), spill <= TARGET_SPILL,
                                               orders >= 1_000_000)
            out["limited_run_spill_cleaned"] = _target("temp folder empty or removed after the limited run",
                                                       ld["spill_left_bytes"], ld["spill_left_bytes"] == 0, True)
    if disk:
        inp = disk["input_bytes"]
        spill = disk["peak_spill_bytes"] / inp
        out["spill"] = _target(f"peak temp spill <= {TARGET_SPILL}x input", round(spill, 2), spill <= TARGET_SPILL,
                               orders >= 1_000_000)
        total = disk["total_bytes"] / inp
        out["disk"] = _target(f"store + evidence + spill + outputs <= {TARGET_DISK}x input", round(total, 2),
                              total <= TARGET_DISK, at_10m)
        out["spill_cleaned"] = _target("temp folder empty or removed after the run", disk["spill_left_bytes"],
                                       disk["spill_left_bytes"] == 0, True)
    return out


def print_table(report: dict) -> None:
    base = report["steps"]["a_duckdb_join"]["wall_s"]
    run = report["steps"]["recon_run"]
    print(f"\n{report['orders']:,} orders: {len(report['files'])} files, {report['csv_rows']:,} CSV rows, "
          f"{run.get('ledger_lines_in_period', 0):,} ledger lines in the period; statuses {run.get('status_counts')}")
    print(f"{'step':<22}{'wall s':>9}{'x (a)':>8}{'peak RSS MB':>13}")
    for name, s in report["steps"].items():
        wall = s["floor_s"] if name == "floor" else s["wall_s"]
        print(f"{name:<22}{wall:>9.2f}{wall / base:>8.1f}{s.get('peak_rss_mb', 0):>13,}")
    d = report.get("disk")
    if d:
        mb = lambda b: f"{b / 1e6:,.1f} MB"  # noqa: E731
        print(f"disk: input {mb(d['input_bytes'])}, peak spill {mb(d['peak_spill_bytes'])}, "
              f"store {mb(d['store_bytes'])}, evidence {mb(d['evidence_bytes'])}, outputs {mb(d['outputs_bytes'])}, "
              f"left in temp {d['spill_left_bytes']}")
    for t in run.get("timings") or []:
        print(f"  run step {t['step']}: {t['seconds']} s")
    for name, v in report["targets"].items():
        print(f"target {name}: {v['target']}: {v['value']} -> {'pass' if v['passed'] else 'FAIL'}"
              f"{'' if v['required'] else ' (reported)'}")


def recon_run(sample: Path, workdir: Path, name: str, memory_limit: str, temp_dir: Path | None) -> tuple[dict, dict]:
    """`recon run` on a fresh store in WORKDIR, its temp folder sampled; (the step, the disk figures)."""
    out, db = workdir / f"out-{name}", workdir / f"run-{name}.duckdb"
    tmp = temp_dir or Path(str(db) + ".tmp")
    evidence = Path(str(db) + ".evidence")

    def clear():
        for leftover in (db, Path(str(db) + ".wal")):
            leftover.unlink(missing_ok=True)
        for folder in (tmp, evidence):
            shutil.rmtree(folder, ignore_errors=True)
    clear()
    shutil.rmtree(out, ignore_errors=True)
    run = run_step("run", str(sample), str(out), str(db), memory_limit, watch=[tmp])
    run["memory_limit"] = memory_limit or None
    spill = run.pop("spill")
    disk = {"input_bytes": dir_bytes(sample) - dir_bytes(sample / ".complete"),
            "peak_spill_bytes": spill["peak_bytes"], "peak_spill_at_s": spill["peak_at_s"],
            "spill_samples": spill["samples"], "temp_dir": str(tmp),
            "store_bytes": dir_bytes(db) + dir_bytes(Path(str(db) + ".wal")), "evidence_bytes": dir_bytes(evidence),
            "evidence_exists": evidence.exists(), "outputs_bytes": dir_bytes(out),
            "spill_left_bytes": dir_bytes(tmp), "temp_dir_left": tmp.exists()}
    disk["total_bytes"] = (disk["store_bytes"] + disk["evidence_bytes"] + disk["peak_spill_bytes"]
                           + disk["outputs_bytes"])
    if run["run_exit_code"] in (0, 1):
        manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
        run.update({"status_counts": manifest["status_counts"],
                    "ledger_lines_in_period": sum(t["in"]["count"] for t in manifest["control_totals"].values()),
                    "failed_proofs": len(manifest["failed_proofs"]), "quarantined": manifest["quarantined_lines"]})
        run["statement"] = statement_check(manifest)
        timings = manifest.get("timings")
        if isinstance(timings, dict):  # {"step": seconds}, should the manifest ever record them so
            timings = [{"step": k, "seconds": v} for k, v in timings.items()]
        if timings:
            run["timings"] = [{"step": t["step"], "seconds": t["seconds"]} for t in timings]
    clear()
    return run, disk


def statement_check(manifest: dict) -> dict:
    """Re-foot the run's reconciliation statement (余额调节表) from the manifest's figures, to the cent.

    Per channel, currency and step: the gap equals the balance minus the previous one, and the codes'
    amounts plus the remainder equal the gap. The run proves this itself (exit 3 otherwise); this is
    the benchmark's own check of what it published."""
    from decimal import Decimal

    st = manifest.get("statement") or {}
    problems, steps = [], 0
    for row in st.get("rows", []):
        for prev, step in zip(row["steps"], row["steps"][1:]):
            steps += 1
            gap = Decimal(step["amount"]) - Decimal(prev["amount"])
            parts = sum((Decimal(c["amount"]) for c in step["codes"]), Decimal(0)) + Decimal(step["remainder"]["amount"])
            if Decimal(step["gap"]) != gap or parts != gap:
                problems.append(f"{row['channel']} {row['currency']} {step['step']}: gap {step['gap']} "
                                f"(balances say {gap}), codes + remainder {parts}")
    return {"present": bool(st.get("rows")), "channels": len(st.get("rows", [])), "steps": steps,
            "foots": bool(st.get("rows")) and not problems, "problems": problems[:5],
            "remainder_lines": sum(s["remainder"]["lines"] for r in st.get("rows", []) for s in r["steps"][1:])}


def results_rows(path: Path) -> int:
    import duckdb

    return duckdb.connect().execute("SELECT count(*) FROM read_csv(?, header = true, all_varchar = true)",
                                    [str(path)]).fetchall()[0][0]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", type=int, required=True)
    ap.add_argument("--seed", type=int, default=20260131)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/recon-bench"),
                    help="cache of generated samples and baseline inputs (needs ~1 GB per 100k orders at 10M)")
    ap.add_argument("--json", type=Path, help="write the figures here")
    ap.add_argument("--skip-run", action="store_true", help="baselines only (for testing the script)")
    ap.add_argument("--skip-d", action="store_true", help="leave out baseline (d), the pandas job")
    ap.add_argument("--no-floor", action="store_true", help="leave out the floor's steps")
    ap.add_argument("--memory-limit", default="",
                    help="passed to `recon run --memory-limit` (DuckDB spills beyond it): the 10M target is "
                         f"--memory-limit {TARGET_10M_LIMIT}")
    ap.add_argument("--limited-run", default="", metavar="LIMIT",
                    help="also run recon once more with --memory-limit LIMIT (the 1M target: 2GB, peak <= 2.5 GB)")
    ap.add_argument("--temp-dir", type=Path,
                    help="the store's temp/spill folder to sample, when recon sets one elsewhere (default: <db>.tmp)")
    ap.add_argument("--compare-1m", type=Path, help="the 1M JSON, for the 10M run's wall <= 12x the 1M run target")
    args = ap.parse_args(argv)

    measured_on = machine()  # before the steps: the revision measured is the one checked out when it started
    sample, generated_s = sample_dir(args.workdir, args.orders, args.seed)
    prep = args.workdir / f"prep-{args.seed}-{args.orders}"
    settlement, erp = plain_csvs(sample, prep)
    listing = transcode(sample, prep)
    steps = {"a_duckdb_join": run_step("a", str(settlement), str(erp)),
             "b_duckdb_parse": run_step("b", str(listing)),
             "c_pandas_merge": run_step("c", str(settlement), str(erp))}
    d_csv = args.workdir / f"d-{args.orders}.csv"
    if not args.skip_d:
        steps["d_pandas_job"] = run_step("d", str(sample), str(d_csv), fatal=False)
    disk, rows_equal = None, None
    if not args.skip_run:
        run, disk = recon_run(sample, args.workdir, str(args.orders), args.memory_limit, args.temp_dir)
        steps["recon_run"] = run
        results = args.workdir / f"out-{args.orders}" / "results.csv"
        failed = run["run_exit_code"] not in (0, 1)
        if not failed:
            rows_equal = {"results_rows": results_rows(results),
                          "d_rows": steps.get("d_pandas_job", {}).get("rows")}
            run["results_rows"] = rows_equal["results_rows"]
            if rows_equal["d_rows"] is None:
                rows_equal = None
        if not args.no_floor and not failed:
            fl = {name: run_step("floor", name, arg) for name, arg in (("decode", str(sample)),
                                                                    ("results", str(results)))}
            fl["floor_s"] = round(fl["decode"]["work_s"] + steps["b_duckdb_parse"]["work_s"]
                                  + fl["results"]["work_s"], 2)
            fl["parts"] = "decode.work_s + b_duckdb_parse.work_s + results.work_s"
            fl["peak_rss_mb"] = max(fl["decode"]["peak_rss_mb"], steps["b_duckdb_parse"]["peak_rss_mb"],
                                    fl["results"]["peak_rss_mb"])
            steps["floor"] = fl
        if args.limited_run:
            lim, lim_disk = recon_run(sample, args.workdir, f"{args.orders}-limited", args.limited_run, None)
            lim["disk"] = lim_disk
            steps["recon_run_limited"] = lim
    d_csv.unlink(missing_ok=True)
    files = files_of(sample)
    one_m = json.loads(args.compare_1m.read_text(encoding="utf-8")) if args.compare_1m else None
    report = {"orders": args.orders, "seed": args.seed, "machine": measured_on, "generate_s":
              None if generated_s is None else round(generated_s, 1), "files": files,
              "csv_rows": steps["b_duckdb_parse"]["total_rows"], "steps": steps, "disk": disk,
              "rows_equal": rows_equal,
              "targets": verdicts(args.orders, steps, disk, one_m, rows_equal) if "recon_run" in steps else {}}
    if "recon_run" in steps:
        print_table(report)
    else:
        print(json.dumps(steps, indent=1))
    if args.json:
        args.json.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    run = steps.get("recon_run")
    if run and run["run_exit_code"] not in (0, 1):
        raise SystemExit(f"recon run failed with exit code {run['run_exit_code']}:\n{run.get('stderr_tail', '')}")
    if run and run.get("statement") and not run["statement"]["foots"]:
        raise SystemExit(f"the reconciliation statement does not foot: {run['statement']}")
    if rows_equal and rows_equal["d_rows"] != rows_equal["results_rows"]:
        raise SystemExit(f"(d) wrote {rows_equal['d_rows']:,} rows, recon's results.csv has "
                         f"{rows_equal['results_rows']:,}: the baseline does not do the same job")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child_main(sys.argv[2], sys.argv[3:])
    else:
        sys.exit(main())
