"""The scale sample generator (``recon sample`` from 100k orders) and the 1M/10M benchmark's baselines.

A few thousand orders are forced into scale mode: the files must be byte-deterministic, keep the
real layouts' quirks, import with every control proof passing and nothing quarantined, and a run
must match the (clean) month entirely. The benchmark's three baseline steps run on the same tiny
month in fresh processes and must report the row counts the files hold. No timing is asserted.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from decimal import Decimal
from pathlib import Path

import pytest

from recon import api
from recon.cli import main
from recon.sample import generate, scale
from recon.sample.write_erp import COLUMNS

ROOT = Path(__file__).resolve().parent.parent
ORDERS = 3000


def _digest(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def month(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("scale") / "in"
    generate(out, orders=ORDERS, scale=True)
    return out


@pytest.fixture(scope="module")
def run_result(month, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("scale-run")
    return api.run(api.RunConfig(inputs=[month], out=tmp / "out", db=str(tmp / "s.duckdb")))


def _file(month: Path, key: str) -> Path:
    paths = scale.file_map(scale.ScaleMonth("2026-01", *api.period_bounds("2026-01"), 0, _accounts(), {}))
    return month / paths[key]


def _accounts() -> dict:
    from recon.sample.month import ACCOUNTS
    return dict(ACCOUNTS)


# ---------------------------------------------------------------- determinism and dispatch

def test_same_seed_same_bytes_other_seed_other_bytes(month, tmp_path):
    generate(tmp_path / "again", orders=ORDERS, scale=True)
    assert _digest(tmp_path / "again") == _digest(month)
    generate(tmp_path / "other", orders=ORDERS, seed=7, scale=True)
    other = _digest(tmp_path / "other")
    assert other.keys() == _digest(month).keys()
    assert other[str(_file(month, "tmall").relative_to(month))] != _digest(month)[
        str(_file(month, "tmall").relative_to(month))]


def test_threshold_switches_to_scale_mode(tmp_path, monkeypatch):
    monkeypatch.setattr(scale, "SCALE_THRESHOLD", 500)
    written = generate(tmp_path / "auto", orders=600)
    assert json.loads(written[-1].read_text(encoding="utf-8"))["scale"] is True
    assert any(p.name.endswith("_业务明细.csv") for p in written)
    small = generate(tmp_path / "small", orders=400)
    assert any(p.name.endswith(".csv.zip") for p in small)  # below it: the small month with its zip


def test_help_documents_scale_mode(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["sample", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "--scale" in out and "100,000" in out


# ---------------------------------------------------------------- layouts and quirks

def _lines(path: Path, encoding: str) -> list[str]:
    return path.read_bytes().decode(encoding).split("\r\n")


def test_alipay_trade_gbk_crlf_tabs_and_footer_totals(month):
    path = _file(month, "alipay_trade")
    lines = _lines(path, "gbk")
    assert lines[0] == "#支付宝业务明细查询" and lines[-1] == "" and "\n" not in "".join(lines)
    header = lines.index(next(x for x in lines if x.startswith("支付宝交易号,")))
    rows = [x.split(",") for x in lines[header + 1:] if x and not x.startswith("#")]
    assert all(len(r) == 25 and r[0].endswith("\t") and r[1].endswith("\t") for r in rows)
    sales = [r for r in rows if r[2] == "交易\t"]
    refunds = [r for r in rows if r[2] == "退款\t"]
    assert len(sales) + len(refunds) == len(rows) and refunds
    net = sum((Decimal(r[12]) for r in sales), Decimal(0))
    assert f"#交易合计：{len(sales)}笔，商家实收共{net:.2f}元" in "\n".join(lines)
    assert f"#退款合计：{len(refunds)}笔" in "\n".join(lines)


def test_wechat_bill_backticks_bom_and_summary(month):
    raw = _file(month, "wechat_trade").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    lines = raw[3:].decode("utf-8").split("\r\n")[:-1]
    data = lines[1:-2]
    assert all(all(c.startswith("`") for c in row.split(",")) for row in data)
    assert lines[-2].startswith("总交易单数") and lines[-1] == f"`{len(data)}" + lines[-1][len(str(len(data))) + 1:]
    fees = [row.split(",")[22] for row in data]
    assert all(len(f.split(".")[1]) == 5 for f in fees)  # 5-decimal 手续费


def test_marketplace_and_erp_layouts(month):
    douyin = _file(month, "douyin").read_bytes()
    assert douyin.startswith(b"\xef\xbb\xbf") and b"\r\n" not in douyin
    row = douyin.decode("utf-8-sig").split("\n")[1].split(",")
    assert len(row) == 39 and row[7].startswith("'") and row[8].startswith("'")
    pdd = _file(month, "pdd").read_bytes().decode("gb18030").split("\r\n")
    assert pdd[0] == "拼多多店铺账务明细查询" and pdd[1] == "" and pdd[4].startswith("商户订单号,")
    jd = _file(month, "jd").read_bytes().decode("utf-8-sig").split("\r\n")
    assert jd[0].startswith("京东商家对账单") and jd[1].split(",")[:2] == ["订单编号", "父单号"]
    erp = _file(month, "erp").read_bytes().decode("utf-8-sig").split("\r\n")
    assert erp[0].split(",") == COLUMNS
    assert sum(1 for x in erp if ",标准应收单," in x) == ORDERS  # one receivable per order
    assert (_file(month, "cmb")).suffix == ".xlsx" and _file(month, "camt").exists()


# ---------------------------------------------------------------- import and run

def test_every_file_imports_with_proofs_passing_and_nothing_quarantined(run_result, month):
    m = run_result.manifest
    assert all(s["path"].endswith("(汇总).csv") and not s["looks_like_ledger"] for s in m["skipped_files"])
    assert m["quarantined_lines"] == 0 and m["failed_proofs"] == []
    loaded = {f["path"] for f in m["inputs"]}
    assert loaded == {str(p.relative_to(month)) for p in month.rglob("*") if p.is_file() and p.name[0] != "."}
    proofs = [pr for f in m["inputs"] for part in f["parts"] for pr in part["proofs"]]
    assert len(proofs) >= 10 and all(pr["passed"] for pr in proofs)
    assert all(f["lines"]["duplicate"] == 0 for f in m["inputs"])


def test_run_matches_the_clean_month(run_result):
    m = run_result.manifest
    counts = m["status_counts"]
    assert run_result.exit_code == 0
    in_period = sum(t["in"]["count"] for t in m["control_totals"].values())
    assert counts["matched"] == in_period > 3 * ORDERS  # every ledger line of the month, all three legs
    assert counts["unknown"] == counts["review"] == counts["known"] == 0


# ---------------------------------------------------------------- the benchmark's baselines

def _bench():
    spec = importlib.util.spec_from_file_location("bench_scale", ROOT / "bench" / "bench_scale.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_bench_baselines_report_the_files_row_counts(tmp_path):
    bench = _bench()
    sample, took = bench.sample_dir(tmp_path, 800, 11)
    assert took is not None and bench.sample_dir(tmp_path, 800, 11)[1] is None  # cached the second time
    settlement, erp = bench.plain_csvs(sample, tmp_path / "prep")
    a = bench.run_step("a", str(settlement), str(erp))
    c = bench.run_step("c", str(settlement), str(erp))
    for step in (a, c):
        assert step["settlement_rows"] == step["erp_rows"] == step["equal"] == 800
        assert step["differ"] == step["settlement_only"] == step["erp_only"] == 0
        assert step["peak_rss_mb"] > 0 and step["wall_s"] > 0
    # a changed amount and a missing order are found by both
    lines = settlement.read_text(encoding="utf-8").splitlines()
    order, amount = lines[1].split(",")
    lines[1] = f"{order},{Decimal(amount) + Decimal('0.01')}"
    del lines[2]
    settlement.write_text("\n".join(lines) + "\n", encoding="utf-8")
    for step in (bench.run_step("a", str(settlement), str(erp)), bench.run_step("c", str(settlement), str(erp))):
        assert (step["equal"], step["differ"], step["erp_only"], step["settlement_only"]) == (798, 1, 1, 0)
    listing = bench.transcode(sample, tmp_path / "prep")
    b = bench.run_step("b", str(listing))
    items = json.loads(listing.read_text(encoding="utf-8"))
    assert len(items) == len(list(sample.rglob("*.csv")))
    assert b["rows"] == {i["name"]: i["lines"] - i["skip"] - 1 for i in items}


def _render():
    spec = importlib.util.spec_from_file_location("render_table", ROOT / "bench" / "render_table.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


_MACHINE = {"cpu": "X", "cores": 2, "memory_gb": 24, "duckdb_threads": 2, "python": "3.11",
            "versions": {"duckdb": "2.0.0"}, "git_revision": None, "date": "2026-11-22"}


def _step(s, mb, **kw):
    return {"wall_s": s, "peak_rss_mb": mb, **kw}


def test_render_table_lists_every_step_ratio_and_target():
    mod = _render()
    report = {"orders": 1000000, "machine": _MACHINE,
              "steps": {"a_duckdb_join": _step(0.5, 300), "b_duckdb_parse": _step(2.0, 400),
                        "c_pandas_merge": _step(3.0, 900), "d_pandas_job": _step(8.0, 1500),
                        "floor": {"floor_s": 5.0, "peak_rss_mb": 700},
                        "recon_run": _step(4.0, 2000, ledger_lines_in_period=7)},
              "disk": {"input_bytes": 1_000_000, "peak_spill_bytes": 500_000, "store_bytes": 2_000_000,
                       "evidence_bytes": 1_000_000, "evidence_exists": True, "outputs_bytes": 1_000_000,
                       "total_bytes": 4_500_000, "spill_left_bytes": 0, "temp_dir_left": False},
              "targets": {"ratio_to_a": {"target": "<= 25x (a)", "value": 8.0, "required": True, "passed": True},
                          "ratio_to_d": {"target": "faster", "value": 0.5, "required": False, "passed": True},
                          "spill": {"target": "<= 2x", "value": 3.1, "required": True, "passed": False}}}
    text = mod.render([report])
    row = text.splitlines()[2]
    assert row.startswith("| 1,000,000 | 7 |") and "4.00 s (8.0x), 2,000 MB" in row
    assert "8.00 s (16.0x), 1,500 MB" in row and "5.00 s (10.0x), 700 MB" in row  # (d) and the floor
    assert row.endswith("| 8.0x | 0.80x | 0.50x |")  # run / (a), / floor, / (d)
    assert ("| 1,000,000 | 1.0 MB | 0.5 MB (0.50x) | 2.0 MB | 1.0 MB | 1.0 MB | 4.5 MB (4.50x) "
            "| 0 bytes (folder removed) |") in text
    assert "ratio_to_a: <= 25x (a): 8.0 -> **pass** (required)" in text and "spill: <= 2x: 3.1 -> **FAIL**" in text
    assert "--memory-limit" not in text and "timings" not in text  # no per-step timings: nothing rendered
    report["steps"]["recon_run"]["memory_limit"] = "4GB"
    report["steps"]["recon_run"]["timings"] = [{"step": "import", "seconds": 1.5},
                                               {"step": "match.order", "seconds": 0.25}]
    report["steps"]["recon_run_limited"] = _step(5.0, 2400, memory_limit="2GB", run_exit_code=0)
    text = mod.render([report])
    assert "1,000,000 orders: recon run with `--memory-limit 4GB`" in text
    assert "recon run again with `--memory-limit 2GB`: 5.00 s, 2,400 MB peak RSS, exit 0" in text
    report["steps"]["recon_run_limited"]["disk"] = dict(report["disk"], peak_spill_bytes=3_000_000, total_bytes=7_000_000)
    assert "| 1,000,000 (`--memory-limit 2GB`) | 1.0 MB | 3.0 MB (3.00x) |" in mod.render([report])
    assert "| import | 1.50 |\n| match.order | 0.25 |" in text


def test_render_table_reads_the_json_from_before_issue_10():
    old = {"orders": 1000000, "machine": _MACHINE,
           "steps": {"a_duckdb_join": _step(1.0, 221), "b_duckdb_parse": _step(3.46, 192),
                     "c_pandas_merge": _step(9.3, 657), "d_recon_run": _step(103.68, 6648, ledger_lines_in_period=9)},
           "targets": {"ratio_to_a": {"target": "<= 10x (a)", "value": 103.7, "required": True, "passed": False}}}
    row = _render().render([old]).splitlines()[2]
    assert row == ("| 1,000,000 | 9 | 1.00 s (1.0x), 221 MB | 3.46 s (3.5x), 192 MB | 9.30 s (9.3x), 657 MB | - | - "
                   "| 103.68 s (103.7x), 6,648 MB | 103.7x | - | - |")


def test_bench_verdicts_name_issue_10s_targets():
    bench = _bench()
    steps = {"a_duckdb_join": _step(1.0, 200), "c_pandas_merge": _step(9.0, 600), "d_pandas_job": _step(30.0, 3000),
             "floor": {"floor_s": 12.0, "peak_rss_mb": 2000},
             "recon_run": _step(20.0, 3000, run_exit_code=0, memory_limit=None),
             "recon_run_limited": _step(30.0, 2400, run_exit_code=0, memory_limit="2GB")}
    disk = {"input_bytes": 100, "peak_spill_bytes": 150, "total_bytes": 480, "spill_left_bytes": 0}
    t = bench.verdicts(1_000_000, steps, disk, None, {"d_rows": 5, "results_rows": 5})
    assert {k: (v["passed"], v["required"]) for k, v in t.items()} == {
        "ratio_to_a": (True, True), "stretch_ratio_to_a": (False, False), "ratio_to_floor": (True, True),
        "ratio_to_d": (True, False), "ratio_to_c": (False, False), "d_rows_equal_results": (True, True),
        "limited_run_rss": (True, True), "spill": (True, True), "disk": (True, False), "spill_cleaned": (True, True)}
    assert bench.verdicts(100_000, steps)["ratio_to_a"]["required"] is False  # only the 1M run is held to it
    ten = dict(steps, recon_run=_step(250.0, 5000, run_exit_code=0, memory_limit="4GB"))
    t = bench.verdicts(10_000_000, ten, dict(disk, total_bytes=600, spill_left_bytes=7),
                       {"steps": {"recon_run": {"wall_s": 20.0}}})
    assert t["completes_under_4gb"]["passed"] and t["peak_rss"]["passed"]
    assert (t["wall_vs_1m"]["value"], t["wall_vs_1m"]["passed"]) == (12.5, False)
    assert not t["disk"]["passed"] and t["disk"]["required"] and not t["spill_cleaned"]["passed"]
    ten["recon_run"]["memory_limit"] = "8GB"
    assert not bench.verdicts(10_000_000, ten)["completes_under_4gb"]["passed"]


def test_bench_samples_the_temp_folder_while_a_child_runs(tmp_path):
    bench = _bench()
    spill = tmp_path / "s.duckdb.tmp"
    code = (f"import os, time; os.makedirs({str(spill)!r}); f = os.path.join({str(spill)!r}, 'x.block');"
            "open(f, 'wb').write(b'0' * 3_000_000); time.sleep(2.5); os.remove(f)")
    import sys
    m = bench.measure([sys.executable, "-c", code], [spill])
    assert m["exit_code"] == 0 and m["spill"]["peak_bytes"] == 3_000_000 and m["spill"]["samples"] >= 2
    assert bench.dir_bytes(spill) == 0 and bench.dir_bytes(tmp_path / "missing") == 0


def test_bench_recon_run_measures_store_evidence_outputs_and_timings(tmp_path, monkeypatch):
    bench = _bench()
    sample = tmp_path / "month"
    sample.mkdir()
    (sample / "a.csv").write_bytes(b"x" * 1000)
    (sample / ".complete").write_text("1.0\n")

    def fake_run_step(step, sample_, out, db, limit, watch=None):
        assert step == "run" and watch == [Path(db + ".tmp")] and limit == "2GB"
        Path(out).mkdir()
        (Path(out) / "results.csv").write_bytes(b"r" * 300)
        manifest = {"status_counts": {"matched": 2}, "control_totals": {"p": {"in": {"count": 2}}},
                    "failed_proofs": [], "quarantined_lines": 0,
                    "timings": [{"step": "import", "seconds": 1.25, "rows": 9}, {"step": "match", "seconds": 0.5}]}
        (Path(out) / "manifest.json").write_text(json.dumps(manifest))
        Path(db).write_bytes(b"d" * 2000)
        (Path(db + ".evidence") / "ab").mkdir(parents=True)
        (Path(db + ".evidence") / "ab" / "abcd").write_bytes(b"e" * 500)
        return {"wall_s": 1.0, "peak_rss_mb": 10, "exit_code": 0, "run_exit_code": 0,
                "spill": {"peak_bytes": 700, "peak_at_s": 0.5, "samples": 3}}
    monkeypatch.setattr(bench, "run_step", fake_run_step)
    run, disk = bench.recon_run(sample, tmp_path, "t", "2GB", None)
    assert run["timings"] == [{"step": "import", "seconds": 1.25}, {"step": "match", "seconds": 0.5}]
    assert run["ledger_lines_in_period"] == 2 and run["memory_limit"] == "2GB"
    assert (disk["input_bytes"], disk["store_bytes"], disk["evidence_bytes"]) == (1000, 2000, 500)
    assert disk["peak_spill_bytes"] == 700
    assert disk["outputs_bytes"] == 300 + len((tmp_path / "out-t" / "manifest.json").read_bytes())
    assert disk["total_bytes"] == 2000 + 500 + 700 + disk["outputs_bytes"] and disk["spill_left_bytes"] == 0
    assert not (tmp_path / "run-t.duckdb").exists() and not (tmp_path / "run-t.duckdb.evidence").exists()


def test_a_failing_baseline_d_is_recorded_not_fatal(tmp_path):
    bench = _bench()
    d = bench.run_step("d", str(tmp_path / "no-such-month"), str(tmp_path / "d.csv"), fatal=False)
    assert d["failed"] and d["exit_code"] != 0 and "Traceback" in d["stderr_tail"]
    with pytest.raises(SystemExit, match="step d failed"):
        bench.run_step("d", str(tmp_path / "no-such-month"), str(tmp_path / "d.csv"))
    steps = {"a_duckdb_join": _step(1.0, 200), "d_pandas_job": d, "recon_run": _step(20.0, 3000, run_exit_code=0)}
    assert bench.verdicts(10_000_000, steps)["ratio_to_d"]["value"].startswith("(d) failed")
    assert "failed (exit" in _render().render([{"orders": 10_000_000, "machine": _MACHINE, "steps": steps,
                                                "targets": {}}])


def test_baseline_d_is_vectorised_pandas_only():
    import re
    code = (ROOT / "bench" / "baseline_pandas.py").read_text(encoding="utf-8")
    body = code.split('"""', 2)[2]  # past the docstring, which names what it avoids
    assert not re.search(r"\.apply\(|\.map\(lambda|iterrows|itertuples|\.agg\(lambda|float\(", body)


def test_baseline_d_writes_one_row_per_ledger_line_as_recon_does(month, run_result, tmp_path):
    """(d), the pandas job: every line of results.csv, with recon's line type, amount and order number."""
    spec = importlib.util.spec_from_file_location("baseline_pandas", ROOT / "bench" / "baseline_pandas.py")
    d = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(d)
    out = d.run(month, tmp_path / "d.csv")
    assert out["not_read"] == sorted(str(p.relative_to(month)) for p in (month / "evidence").iterdir())
    import duckdb
    con = duckdb.connect()
    rel = "read_csv(?, all_varchar = true, header = true)"
    diff = con.execute(f"""
        SELECT count(*), count(*) FILTER (d.source_line IS NULL OR r.source_line IS NULL
                                          OR d.line_type <> r.line_type OR d.amount <> r.amount OR d.code <> r.code
                                          OR coalesce(d.order_no, '') <> coalesce(r.order_no, ''))
        FROM {rel} d FULL JOIN {rel} r USING (source_file, source_line)""",
                       [str(tmp_path / "d.csv"), str(run_result.out / "results.csv")]).fetchall()[0]
    assert diff == (out["rows"], 0)
    sheets = con.execute(f"SELECT DISTINCT d.source_sheet, r.source_sheet FROM {rel} d JOIN {rel} r "
                         "USING (source_file, source_line) WHERE d.source_file LIKE '%.xlsx'",
                         [str(tmp_path / "d.csv"), str(run_result.out / "results.csv")]).fetchall()
    assert len(sheets) == 1 and sheets[0][0] == sheets[0][1]
    assert out["by_status"] == {"matched": out["rows"]}  # the clean month matches entirely, as in recon


def test_bench_run_step_passes_the_memory_limit(tmp_path, monkeypatch):
    bench = _bench()
    seen = []
    import recon.cli

    def fake_main(argv):
        seen.append(argv)
    monkeypatch.setattr(recon.cli, "main", fake_main)
    assert bench.step_recon_run("S", "O", "D", "3GB") == {"run_exit_code": 0}
    assert bench.step_recon_run("S", "O", "D") == {"run_exit_code": 0}
    assert seen == [["run", "S", "--out", "O", "--db", "D", "--no-reports", "--memory-limit", "3GB"],
                    ["run", "S", "--out", "O", "--db", "D", "--no-reports"]]


def test_bench_floor_decodes_parses_and_rewrites_the_results(tmp_path):
    spec = importlib.util.spec_from_file_location("bench_floor", ROOT / "bench" / "bench_floor.py")
    floor = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(floor)
    bench = _bench()
    sample, _ = bench.sample_dir(tmp_path, 800, 11)
    listing = bench.transcode(sample, tmp_path / "prep")
    items = json.loads(listing.read_text(encoding="utf-8"))
    kept = floor.step_keep_raw(str(listing))
    assert kept["rows"] == sum(i["lines"] - i["skip"] - 1 for i in items) and kept["db_bytes"] > 0
    parsed = floor.step_parse(str(listing))
    assert parsed["total_rows"] == kept["rows"] and parsed["work_s"] >= 0
    assert floor.FLOOR == ("decode", "parse", "results")  # issue 10: no raw cells in the floor
    decoded = floor.step_decode(str(sample))
    assert decoded["bytes"] == sum(p.stat().st_size for p in sample.rglob("*.csv"))
    results = tmp_path / "results.csv"
    results.write_text("line_id,status\nL1,matched\nL2,unknown\n", encoding="utf-8")
    assert floor.step_results(str(results))["rows"] == 2


def test_bench_keeps_the_message_of_a_failed_run(monkeypatch):
    bench = _bench()
    child = {"wall_s": 1.0, "peak_rss_mb": 9, "exit_code": 0, "stderr": "error: DuckDB ran out of memory"}
    monkeypatch.setattr(bench, "measure", lambda cmd, watch=None: dict(
        child, stdout='{"run_exit_code": 3, "own_peak_rss_mb": 5}\n'))
    assert bench.run_step("run", "S", "O", "D")["stderr_tail"] == "error: DuckDB ran out of memory"
    monkeypatch.setattr(bench, "measure", lambda cmd, watch=None: dict(
        child, stdout='{"run_exit_code": 1, "own_peak_rss_mb": 5}\n'))
    assert "stderr_tail" not in bench.run_step("run", "S", "O", "D")
