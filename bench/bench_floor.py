"""The least any `recon run` must do at N orders, measured: decode the files, parse them ((b)),
write one result per line. Not a test.

    .venv/bin/python bench/bench_floor.py --orders 1000000 --workdir /tmp/recon-bench --json bench/floor_1m.json

Why: issue 10 asks for `recon run` within 2x this floor at 1M (and within 25x a bare DuckDB join,
step (a) of ``bench_scale.py``). This script measures what a run cannot skip, each with DuckDB or
Python doing the bare minimum, with no typing, matching or classification at all:

1. **decode**: the downloads as text (GBK/GB18030 or UTF-8 with BOM; Python's codecs: DuckDB's
   ``encodings`` extension, which would read GBK itself, is not bundled and needs a download);
2. **parse** (step (b) of ``bench_scale.py``): DuckDB reads every CSV (already transcoded to UTF-8)
   and counts its rows;
3. **one result per line**: the run's own results.csv (from ``bench_scale.py``'s last run; its
   columns are the results contract) loaded untimed, then written again by DuckDB's ``COPY``.

No raw cells. Until issue 10 the floor also had a fourth step, **keep every raw line**: every
line's cells stored as ``VARCHAR[]`` with its line number in a fresh DuckDB file, checkpointed
(22.8 s of the 32.1 s 1M floor, ``floor_1m.json`` of 2026-11-22). Issue 10 keeps the downloaded
files' bytes once, addressed by SHA-256, instead (copying the whole 1M month takes under a second),
so that step is out of the floor; ``--with-raw`` still measures it, as history, outside the sum.

Each step runs in a fresh process (``bench_scale.run_step``'s way); the floor is the sum of their
``work_s``, set beside (a) from the same machine's last ``bench_scale`` JSON. ``bench_scale.py``
measures the same floor in its own run (its ``floor`` step) for same-run ratios.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))


def step_decode(sample: str) -> dict:
    from recon.io import containers

    took, size = 0.0, 0
    for path in sorted(Path(sample).rglob("*.csv")):
        data = path.read_bytes()
        started = time.perf_counter()
        containers.decode(data)
        took += time.perf_counter() - started
        size += len(data)
    return {"bytes": size, "work_s": round(took, 3)}


def step_keep_raw(listing: str) -> dict:
    import duckdb

    with tempfile.TemporaryDirectory() as tmp:
        con = duckdb.connect(str(Path(tmp) / "raw.duckdb"))
        con.execute("CREATE TABLE raw_line (file VARCHAR, source_line BIGINT, raw VARCHAR[])")
        started = time.perf_counter()
        rows = 0
        for item in json.loads(Path(listing).read_text(encoding="utf-8")):
            cols = [f"c{i}" for i in range(item["columns"])]
            con.execute(
                f"INSERT INTO raw_line SELECT $name, ordinality, [{', '.join(cols)}] FROM read_csv($path, header = true, "
                "skip = $skip, all_varchar = true, delim = $delim, quote = '\"', null_padding = true, "
                "strict_mode = false, auto_detect = false, columns = $columns) WITH ORDINALITY",
                {"name": item["name"], "path": item["path"], "skip": item["skip"], "delim": item["delim"],
                 "columns": {c: "VARCHAR" for c in cols}})
        con.execute("CHECKPOINT")
        took = time.perf_counter() - started
        rows = con.execute("SELECT count(*) FROM raw_line").fetchone()[0]
        con.close()
        size = (Path(tmp) / "raw.duckdb").stat().st_size
    return {"rows": rows, "db_bytes": size, "work_s": round(took, 3)}


def step_results(results_csv: str) -> dict:
    import duckdb

    con = duckdb.connect()
    con.execute("CREATE TABLE r AS SELECT * FROM read_csv(?, all_varchar = true, header = true)", [results_csv])
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        con.execute(f"COPY r TO '{Path(tmp) / 'results.csv'}' (FORMAT csv, HEADER)")
        took = time.perf_counter() - started
        size = (Path(tmp) / "results.csv").stat().st_size
    return {"rows": con.execute("SELECT count(*) FROM r").fetchone()[0], "bytes": size, "work_s": round(took, 3)}


def step_parse(listing: str) -> dict:
    """(b): bench_scale's DuckDB parse of every transcoded CSV, timed here without interpreter start."""
    import bench_scale

    started = time.perf_counter()
    out = bench_scale.step_duckdb_parse(listing)
    out["work_s"] = round(time.perf_counter() - started, 3)
    return out


STEPS = {"decode": step_decode, "parse": step_parse, "results": step_results, "keep_raw": step_keep_raw}
FLOOR = ("decode", "parse", "results")  # issue 10's floor: no raw cells


def main(argv=None) -> int:
    import bench_scale

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", type=int, required=True)
    ap.add_argument("--seed", type=int, default=20260131)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/recon-bench"))
    ap.add_argument("--scale-json", type=Path, help="bench_scale.py's figures for the same N (for (a) and the run)")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--with-raw", action="store_true",
                    help="also measure the old floor's 'keep every raw line as VARCHAR[]' step (history; not summed)")
    args = ap.parse_args(argv)
    sample, _ = bench_scale.sample_dir(args.workdir, args.orders, args.seed)
    listing = bench_scale.transcode(sample, args.workdir / f"prep-{args.seed}-{args.orders}")
    results = args.workdir / f"out-{args.orders}" / "results.csv"
    if not results.exists():
        raise SystemExit(f"{results}: run bench_scale.py --orders {args.orders} first (its run writes it)")
    steps = {}
    todo = [("decode", str(sample)), ("parse", str(listing)), ("results", str(results))]
    if args.with_raw:
        todo.append(("keep_raw", str(listing)))
    for name, arg in todo:
        m = bench_scale.measure([sys.executable, __file__, "--child", name, arg])
        if m["exit_code"] != 0:
            raise SystemExit(f"step {name} failed:\n{m['stderr']}")
        m.update(json.loads(m.pop("stdout").strip().splitlines()[-1]))
        m.pop("stderr")
        if m["own_peak_rss_mb"] is not None:  # the child's own VmHWM, as bench_scale reports it
            m["peak_rss_mb"] = m.pop("own_peak_rss_mb")
        steps[name] = m
    floor = round(sum(steps[name]["work_s"] for name in FLOOR), 2)
    report = {"orders": args.orders, "machine": bench_scale.machine(), "steps": steps, "floor_work_s": floor,
              "floor_steps": list(FLOOR)}
    if "keep_raw" in steps:
        report["old_floor_with_raw_work_s"] = round(floor + steps["keep_raw"]["work_s"], 2)
    if args.scale_json:
        scale = json.loads(args.scale_json.read_text(encoding="utf-8"))
        a = scale["steps"]["a_duckdb_join"]["wall_s"]
        report["a_duckdb_join_s"] = a
        report["floor_over_a"] = round(floor / a, 1)
        report["target_25x_a_s"] = round(bench_scale.TARGET_RATIO * a, 2)  # issue 10's 1M target (was 10x)
        run = scale["steps"].get("recon_run") or scale["steps"].get("d_recon_run")
        if run:
            report["run_s"] = run["wall_s"]
            report["run_over_floor"] = round(run["wall_s"] / floor, 2)
    for name, s in steps.items():
        print(f"{name:<10} work {s['work_s']:7.2f} s  wall {s['wall_s']:7.2f} s  peak {s['peak_rss_mb']:,} MB")
    print(f"floor (sum of work of {', '.join(FLOOR)}): {floor} s"
          + (f" = {report['floor_over_a']}x (a); 25x (a) = {report['target_25x_a_s']} s" if args.scale_json else "")
          + (f"; recon run {report['run_s']} s = {report['run_over_floor']}x the floor" if "run_s" in report else ""))
    if args.json:
        args.json.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return 0


def child_main(step: str, arg: str) -> None:
    out = STEPS[step](arg)
    from bench_scale import _own_peak_mb
    out["own_peak_rss_mb"] = _own_peak_mb()
    print(json.dumps(out))


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child_main(sys.argv[2], sys.argv[3])
    else:
        sys.exit(main())
