"""The engine as named steps behind one runner: timings, --debug-sql, a failing step named, out of memory."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import duckdb
import pytest

from recon.cli import main
from recon.engine import match
from recon.engine import steps as steps_mod
from recon.engine.steps import Runner, Step, StepError, values_table

FIXTURES = Path(__file__).parent / "fixtures"
ERP = ("\ufeff单据编号,业务日期,单据类型,客户,币别,汇率,价税合计,税额,本位币价税合计,已核销金额,未核销金额,单据状态,平台订单号,摘要\r\n"
       "AR001,2026-01-01,标准应收单,支付宝当面付,人民币,1,100.00,11.50,100.00,0,100.00,已审核,M20260101001,\r\n"
       "AR003,2026-01-03,红字应收单,支付宝当面付,人民币,1,-20.00,-2.30,-20.00,0,-20.00,已审核,M20260101001,退款\r\n")


@pytest.fixture
def month(tmp_path):
    """An Alipay trade detail and an ERP export: orders matched and one left unknown."""
    inp = tmp_path / "in"
    (inp / "alipay").mkdir(parents=True)
    shutil.copy(FIXTURES / "alipay_trade_detail.csv", inp / "alipay" / "trade.csv")
    (inp / "erp").mkdir()
    (inp / "erp" / "ar.csv").write_bytes(ERP.encode("utf-8"))
    return tmp_path


def run_cli(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in argv])
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


def _run(month, *extra):
    return ["run", month / "in", "--out", month / "out", "--db", month / "s.duckdb", "--no-reports", *extra]


def test_manifest_timings_list_every_step_in_order(month, capsys, monkeypatch):
    executed = []
    real = Runner._execute

    def spy(self, step, fetch=False):
        executed.append(step.name)
        return real(self, step, fetch)

    monkeypatch.setattr(Runner, "_execute", spy)
    code, stdout, stderr = run_cli(_run(month), capsys)
    assert code == 4, stdout + stderr  # one platform file: incomplete
    timings = json.loads((month / "out" / "manifest.json").read_text(encoding="utf-8"))["timings"]
    names = [t["step"] for t in timings]
    phases = {"import", "write.results", "record"}
    assert [n for n in names if n not in phases] == executed, "every step the runner ran, in execution order"
    assert names[0] == "import" and phases <= set(names)
    assert all(isinstance(t["seconds"], float) and t["seconds"] >= 0 for t in timings)
    for name in ("universe", "pass.order_exact.candidates", "pass.order_exact.matched", "leftovers.lone",
                 "fees.apply", "classify.apply", "drill.layer1", "outcome.run_line", "conservation.totals"):
        assert name in names, name
    assert names.index("universe") < names.index("pass.order_exact.matched") < names.index("classify.apply")


def test_json_summary_carries_the_timings(month, capsys):
    code, stdout, _ = run_cli(_run(month, "--json"), capsys)
    assert code == 4  # one platform file: incomplete
    summary = json.loads(stdout)
    assert summary["timings"][0]["step"] == "import" and len(summary["timings"]) > 50


def test_debug_sql_logs_each_step_to_stderr_and_keeps_stdout_json(month, capsys):
    code, stdout, stderr = run_cli(_run(month, "--json", "--debug-sql"), capsys)
    assert code == 4, stderr
    summary = json.loads(stdout)  # stdout is still only the JSON summary
    assert summary["exit_code"] == 4
    assert "-- step universe (" in stderr and "universe: " in stderr and " rows)" in stderr
    assert "CREATE OR REPLACE TEMP TABLE universe AS" in stderr
    assert "-- step pass.order_exact.matched (" in stderr and "-- params: {'name': 'order_exact'" in stderr
    assert "-- step conservation.totals (" in stderr and "rows returned)" in stderr
    logged = [ln.split(" (")[0][len("-- step "):] for ln in stderr.splitlines() if ln.startswith("-- step ")]
    assert logged == [t["step"] for t in summary["timings"] if t["step"] not in ("import", "write.results", "record")]


def test_without_debug_sql_nothing_is_logged(month, capsys):
    code, _, stderr = run_cli(_run(month), capsys)
    assert code == 4 and "-- step" not in stderr


def test_a_failing_step_is_named_and_exits_3_with_its_traceback(month, capsys, monkeypatch):
    real = match.order_pass_steps

    def broken(p):
        out = real(p)
        return [Step(s.name, "INSERT INTO result SELECT * FROM no_such_table", s.params, s.writes)
                if s.name.endswith(".matched") else s for s in out]

    monkeypatch.setitem(match.LEGS, "order", broken)  # the registry the passes are run from
    code, stdout, stderr = run_cli(_run(month), capsys)
    assert code == 3, stdout + stderr
    assert "StepError: step 'pass.order_exact.matched' failed: " in stderr and "no_such_table" in stderr
    assert "(SQL: INSERT INTO result SELECT * FROM no_such_table)" in stderr
    assert "Traceback" in stderr and "CatalogException" in stderr, "chained to DuckDB's own error"
    assert not (month / "out" / "results.csv").exists() and not (month / "out" / "manifest.json").exists()


def test_out_of_memory_in_a_step_exits_2_without_a_traceback(month, capsys, monkeypatch):
    """DuckDB really runs out of memory inside a step: the CLI names the step and says what to change."""
    real = match.universe_steps
    hog = [Step("test.cap", "SET memory_limit = '20MB'"), Step("test.no_spill", "SET temp_directory = ''"),
           Step("test.hog", "CREATE OR REPLACE TEMP TABLE hog AS SELECT list(range) AS l FROM range(20000000)",
                writes="hog")]
    monkeypatch.setattr(match, "universe_steps", lambda *a, **k: hog + real(*a, **k))
    code, stdout, stderr = run_cli(["run", month / "in", "--out", month / "out", "--db", ":memory:",
                                    "--no-reports"], capsys)
    assert code == 2, stdout + stderr  # a resource limit, not a bug
    assert "error: DuckDB ran out of memory in step test.hog (Out of Memory Error" in stderr
    assert "Raise --memory-limit" in stderr and "Traceback" not in stderr


def test_step_error_names_the_step_and_chains_duckdb():
    con = duckdb.connect()
    runner = Runner(con)
    with pytest.raises(StepError) as exc:
        runner.run(Step("one", "CREATE TEMP TABLE t AS SELECT 1 AS x", writes="t"),
                   [Step("two", "\n   SELECT nope FROM t\n   WHERE x = $x", {"x": 1, "unused": 2})])
    assert str(exc.value).startswith("step 'two' failed: Binder Error") and "(SQL: SELECT nope FROM t)" in str(exc.value)
    assert isinstance(exc.value.__cause__, duckdb.BinderException) and exc.value.step == "two"
    assert not exc.value.out_of_memory
    assert [t["step"] for t in runner.timings] == ["one"], "a failed step is not timed as done"


def test_runner_binds_only_the_parameters_a_step_names_and_logs_rows_written():
    log = io.StringIO()
    runner = Runner(duckdb.connect(), log=log)
    runner.run(Step("make", "CREATE TEMP TABLE t AS SELECT * FROM range($n) r(i)", {"n": 3, "extra": "x"}, "t"))
    assert runner.scalar("count", "SELECT count(*) FROM t WHERE i >= $lo", {"lo": 1}) == 2
    text = log.getvalue()
    assert "-- step make (" in text and "t: 3 rows)" in text and "-- params: {'n': 3}" in text
    assert "-- step count (" in text and "1 rows returned)" in text


def test_values_table_binds_every_value():
    runner = Runner(duckdb.connect())
    runner.run(values_table("m", "m", {"customer": "VARCHAR", "n": "INTEGER"}, [("a'; DROP TABLE x; --", 1), ("b", 2)]),
               values_table("e", "e", {"code": "VARCHAR"}, []))
    assert runner.con.execute("SELECT * FROM m ORDER BY n").fetchall() == [("a'; DROP TABLE x; --", 1), ("b", 2)]
    assert runner.con.execute("SELECT count(*) FROM e").fetchone()[0] == 0


def test_a_bare_connection_gets_a_plain_runner():
    con = duckdb.connect()
    assert steps_mod.runner(con).con is con
    r = Runner(con)
    assert steps_mod.runner(r) is r
