"""Period close (issue 15 point 3): a closed period refuses change, new evidence for it becomes a
prior-period adjustment citing the closed run, close and reopen are logged and tamper-evident, and
voucher numbers stay put across nightly runs, re-runs and exports."""

from __future__ import annotations

import csv
import json
import shutil
from decimal import Decimal as D
from pathlib import Path

import duckdb

from recon import store
from recon.report.vouchers import build_vouchers
from conftest import run_cli
from test_run import erp_csv, month  # noqa: F401 (month is a fixture)
from test_vouchers import add_case

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"


def vouchers_of(out: Path) -> dict:
    """voucher_no -> (summary, explanation, total debit) of OUT/vouchers.csv."""
    got: dict = {}
    with open(out / "vouchers.csv", encoding="utf-8-sig", newline="") as f:
        for row in csv.DictReader(f):
            s, e, t = got.get(row["voucher_no"], (row["summary"], row["explanation"], D("0")))
            got[row["voucher_no"]] = (s, e, t + D(row["debit"]))
    return got


def keys_of(out: Path) -> dict:
    """(code, channel) -> voucher_no, from each voucher's summary 对账调整 CODE CHANNEL."""
    return {tuple(s.split()[1:3]): n for n, (s, _, _) in vouchers_of(out).items()}


def store_rows(db, sql, params=()):
    con = duckdb.connect(str(db))
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


# ---------------------------------------------------------------- close, refuse, reopen, log


def test_a_closed_period_refuses_a_run_until_reopened_and_both_are_logged(month, capsys):
    db, out = month / "s.duckdb", month / "out"
    run = ["run", month / "in", "--out", out, "--db", db, "--period", "2026-01"]
    code, _, err = run_cli(["close", "--period", "2026-01", "--by", "张三", "--reason", "month end", "--db", db], capsys)
    assert code == 2 and "no recon store" in err  # nothing to close yet
    assert run_cli(run, capsys)[0] == 4  # no bank statement: incomplete
    run_id = store_rows(db, "SELECT run_id FROM run")[0][0]
    code, _, err = run_cli(["close", "--period", "2026-01", "--by", "张三", "--reason", "  ", "--db", db], capsys)
    assert code == 2 and "--reason is required" in err
    code, _, err = run_cli(["close", "--period", "2026-01", "--by", "张三", "--reason", "month end", "--db", db], capsys)
    assert code == 2 and "incomplete" in err and "--force" in err  # an incomplete run does not close unforced
    assert store_rows(db, "SELECT count(*) FROM period_close") == [(0,)]
    code, stdout, _ = run_cli(["close", "--period", "2026-01", "--by", "张三", "--reason", "month end", "--force",
                               "--db", db], capsys)
    assert code == 0 and f"closed 2026-01 on run {run_id}" in stdout and "FORCED past" in stdout

    before = (out / "results.csv").read_bytes()
    (month / "in" / "erp" / "late.csv").write_bytes(erp_csv(
        "AR009,2026-01-20,标准应收单,支付宝当面付,人民币,1,9.90,1.14,9.90,0,9.90,已审核,M20260101002,"))
    code, _, err = run_cli(run, capsys)
    assert code == 2 and "period 2026-01 is closed" in err and "recon reopen --period 2026-01" in err
    assert "Nothing was imported" in err
    assert (out / "results.csv").read_bytes() == before  # OUT untouched
    assert store_rows(db, "SELECT count(*) FROM run") == [(1,)]
    assert store_rows(db, "SELECT count(*) FROM source_file WHERE original_name = 'late.csv'") == [(0,)]
    # without --period the files are read first (the period comes from them), then the run is refused
    code, _, err = run_cli(run[:-2], capsys)
    assert code == 2 and "The files were imported into the store; no results were written" in err
    assert store_rows(db, "SELECT count(*) FROM run") == [(1,)]
    code, _, err = run_cli(["close", "--period", "2026-01", "--by", "李四", "--reason", "again", "--force",
                            "--db", db], capsys)
    assert code == 2 and "already closed" in err

    code, _, err = run_cli(["reopen", "--period", "2026-01", "--by", "李四", "--reason", "", "--db", db], capsys)
    assert code == 2 and "--reason is required" in err
    code, stdout, _ = run_cli(["reopen", "--period", "2026-01", "--by", "李四", "--reason", "late ERP document",
                               "--db", db], capsys)
    assert code == 0 and "reopened 2026-01" in stdout
    assert run_cli(run, capsys)[0] == 4  # open again: the run goes on, with the late document
    code, stdout, _ = run_cli(["close", "--list", "--db", db], capsys)
    assert "2026-01  reopened" in stdout and "by 李四" in stdout and "reason: late ERP document" in stdout
    assert "event 1: close 2026-01" in stdout and "event 2: reopen 2026-01" in stdout
    listing = json.loads(run_cli(["close", "--list", "--json", "--db", db], capsys)[1])
    assert [(e["action"], e["by"], e["forced"]) for e in listing["events"]] == [("close", "张三", True),
                                                                              ("reopen", "李四", False)]
    kinds = [k for (k,) in store_rows(db, "SELECT kind FROM log_event ORDER BY seq")]
    assert kinds.index("close") < kinds.index("reopen")
    assert run_cli(["verify", "--db", db], capsys)[0] == 0


def test_a_run_that_never_saw_lines_imported_since_does_not_close_its_period_unforced(tmp_path, capsys):
    jan, feb = _jan_feb(tmp_path)
    db = tmp_path / "s.duckdb"
    run_cli(["run", jan, "--out", tmp_path / "o1", "--db", db, "--period", "2026-01"], capsys)
    run_cli(["import", feb, "--db", db], capsys)  # a January document, imported after the run
    code, _, err = run_cli(["close", "--period", "2026-01", "--by", "张三", "--reason", "month end", "--db", db], capsys)
    assert code == 2 and "1 line(s) dated in 2026-01 were imported after run" in err
    code, stdout, _ = run_cli(["close", "--period", "2026-01", "--by", "张三", "--reason", "month end", "--force",
                               "--db", db], capsys)
    assert code == 0 and "FORCED past: 1 line(s) dated in 2026-01 were imported after run" in stdout
    listing = run_cli(["close", "--list", "--db", db], capsys)[1]
    assert "FORCED" in listing and "forced past: 1 line(s) dated in 2026-01 were imported after run" in listing


def test_verify_names_a_tampered_or_deleted_close_record_and_close_refuses_a_broken_log(month, capsys):
    db = month / "s.duckdb"
    run_cli(["run", month / "in", "--out", month / "out", "--db", db, "--period", "2026-01"], capsys)
    run_cli(["close", "--period", "2026-01", "--by", "张三", "--reason", "month end", "--force", "--db", db], capsys)
    run_cli(["reopen", "--period", "2026-01", "--by", "李四", "--reason", "late file", "--db", db], capsys)
    assert run_cli(["verify", "--db", db], capsys)[0] == 0
    store_rows(db, "UPDATE period_close SET by_name = '王五' WHERE event_no = 1")
    code, stdout, _ = run_cli(["verify", "--db", db], capsys)
    assert code == 1
    assert "(close): the store's period close 1 differs from the log: by is '王五', the log recorded '张三'" in stdout
    store_rows(db, "UPDATE period_close SET by_name = '张三' WHERE event_no = 1")
    store_rows(db, "DELETE FROM period_close WHERE event_no = 2")  # hide the reopen
    code, stdout, _ = run_cli(["verify", "--db", db], capsys)
    assert code == 1 and "period close 2 is in the run log but no longer in the store (deleted)" in stdout
    # a close on a store whose log is broken would vouch for it: refused, even forced
    code, _, err = run_cli(["close", "--period", "2026-01", "--by", "张三", "--reason", "x", "--force", "--db", db],
                           capsys)
    assert code == 2 and "run log is broken" in err


# ---------------------------------------------------------------- prior-period adjustments


def _jan_feb(root: Path):
    """January: Alipay sales M…001 and M…002, the ERP books only M…001 (M…002 stays unknown).
    February's folder: the ERP document for M…002, dated in January, 0.01 short (a rounding case)."""
    jan, feb = root / "jan", root / "feb"
    (jan / "alipay").mkdir(parents=True)
    (jan / "erp").mkdir()
    shutil.copy(FIXTURES / "alipay_trade_detail.csv", jan / "alipay" / "trade.csv")
    (jan / "erp" / "ar.csv").write_bytes(erp_csv(
        "AR001,2026-01-01,标准应收单,支付宝当面付,人民币,1,100.00,11.50,100.00,0,100.00,已审核,M20260101001,",
        "AR003,2026-01-03,红字应收单,支付宝当面付,人民币,1,-20.00,-2.30,-20.00,0,-20.00,已审核,M20260101001,退款"))
    (feb / "erp").mkdir(parents=True)
    (feb / "erp" / "late.csv").write_bytes(erp_csv(
        "AR002,2026-01-05,标准应收单,支付宝当面付,人民币,1,59.89,6.89,59.89,0,59.89,已审核,M20260101002,补记"))
    return jan, feb


def test_new_evidence_for_a_closed_period_is_a_prior_period_adjustment_citing_the_closed_run(tmp_path, capsys):
    jan, feb = _jan_feb(tmp_path)
    db = tmp_path / "s.duckdb"
    run_cli(["run", jan, "--out", tmp_path / "o1", "--db", db, "--period", "2026-01"], capsys)
    closed_run = store_rows(db, "SELECT run_id FROM run")[0][0]
    assert vouchers_of(tmp_path / "o1") == {}  # M…002 is unknown in January: no voucher
    run_cli(["close", "--period", "2026-01", "--by", "张三", "--reason", "month end", "--force", "--db", db], capsys)

    code, _, err = run_cli(["run", feb, "--out", tmp_path / "o2", "--db", db, "--period", "2026-02"], capsys)
    assert f"closed period 2026-01: 1 line(s) in this run's files were not in its closed run {closed_run}" in err
    got = vouchers_of(tmp_path / "o2")
    assert list(got) == ["RC202602-0001"]  # numbered in February, the open period
    summary, explanation, total = got["RC202602-0001"]
    assert summary == "以前期间调整 2026-01 ROUNDING_ALLOCATION alipay"
    assert explanation.startswith(f"以前期间调整：更正已结账期间 2026-01（结账运行 {closed_run}），在本期 2026-02 入账")
    assert "erp/late.csv:2" in explanation and total == D("0.01")
    manifest = json.loads((tmp_path / "o2" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["prior_period"] == [{"period": "2026-01", "closed_run": closed_run, "new_lines": 1, "cases": 1}]
    # January's history is untouched: one run, its results as closed
    assert store_rows(db, "SELECT count(*) FROM run WHERE period = '2026-01'") == [(1,)]
    assert store_rows(db, "SELECT count(*) FROM voucher_number WHERE period = '2026-01'") == [(0,)]
    # tomorrow night's February run finds the same evidence: the same voucher, the same number
    run_cli(["run", feb, "--out", tmp_path / "o3", "--db", db, "--period", "2026-02"], capsys)
    assert vouchers_of(tmp_path / "o3") == got
    assert run_cli(["verify", "--db", db], capsys)[0] == 0


def test_evidence_the_closed_run_already_had_posts_no_adjustment(tmp_path, capsys):
    jan, _ = _jan_feb(tmp_path)
    db = tmp_path / "s.duckdb"
    run_cli(["run", jan, "--out", tmp_path / "o1", "--db", db, "--period", "2026-01"], capsys)
    run_cli(["close", "--period", "2026-01", "--by", "张三", "--reason", "month end", "--force", "--db", db], capsys)
    # February's run reads January's files again: nothing in them is new to the closed run
    code, _, err = run_cli(["run", jan, "--out", tmp_path / "o2", "--db", db, "--period", "2026-02"], capsys)
    assert "closed period" not in err and vouchers_of(tmp_path / "o2") == {}
    assert store_rows(db, "SELECT count(*) FROM prior_period_case") == [(0,)]


# ---------------------------------------------------------------- voucher numbers


def test_a_voucher_keeps_its_number_while_cases_join_and_leave_and_a_number_is_never_reissued():
    con = store.connect(":memory:")
    fee = lambda amt: [("platform_fee_expense", amt, "0"), ("accounts_receivable_platform", "0", amt)]  # noqa: E731
    sub = [("sales_discount", "10.00", "0"), ("subsidy_income", "0", "10.00")]

    def night(run_id, cases):
        con.execute("INSERT INTO run VALUES (?, '2026-01', TIMESTAMP '2026-01-20 02:00:00', 1, '{}', ?)",
                    [run_id, json.dumps({"period": "2026-01"})])
        for case_id, code, channel, lines in cases:
            add_case(con, case_id, code, channel, "-1.00", [f"{case_id}.csv:2"], lines, run_id=run_id)
        return {(v.code, v.channel): v.number for v in build_vouchers(con, run_id)}

    n1 = night("R1", [("K1", "FEE_PERIOD_MISMATCH", "jd", fee("5.00")), ("K2", "FEE_PERIOD_MISMATCH", "jd", fee("2.00")),
                      ("S1", "SUBSIDY_CLASSIFICATION", "tmall", sub), ("K9", "FEE_PERIOD_MISMATCH", "pdd", fee("1.00"))])
    # first night: numbered in (code, channel) order, as a run always numbered them
    assert n1 == {("FEE_PERIOD_MISMATCH", "jd"): "RC202601-0001", ("FEE_PERIOD_MISMATCH", "pdd"): "RC202601-0002",
                  ("SUBSIDY_CLASSIFICATION", "tmall"): "RC202601-0003"}
    # second night: K2 left the jd voucher and K3 joined it, the pdd voucher is gone, an alipay one
    # (sorting before jd) appears: it takes the next free number, nothing else moves
    n2 = night("R2", [("K1", "FEE_PERIOD_MISMATCH", "jd", fee("5.00")), ("K3", "FEE_PERIOD_MISMATCH", "jd", fee("4.00")),
                      ("S1", "SUBSIDY_CLASSIFICATION", "tmall", sub), ("A1", "FEE_PERIOD_MISMATCH", "alipay", fee("3.00"))])
    assert n2 == {("FEE_PERIOD_MISMATCH", "jd"): "RC202601-0001", ("SUBSIDY_CLASSIFICATION", "tmall"): "RC202601-0003",
                  ("FEE_PERIOD_MISMATCH", "alipay"): "RC202601-0004"}
    # the pdd voucher comes back: its own number, which nobody else took
    n3 = night("R3", [("K9", "FEE_PERIOD_MISMATCH", "pdd", fee("1.00")), ("K1", "FEE_PERIOD_MISMATCH", "jd", fee("5.00"))])
    assert n3 == {("FEE_PERIOD_MISMATCH", "jd"): "RC202601-0001", ("FEE_PERIOD_MISMATCH", "pdd"): "RC202601-0002"}
    # re-building a past night's vouchers gives its numbers again
    assert {(v.code, v.channel): v.number for v in build_vouchers(con, "R1")} == n1
    con.close()


def test_exported_vouchers_keep_their_numbers_when_the_month_is_run_again(tmp_path, capsys):
    """Night 1 lacks the PDD bill; its vouchers are exported. Night 2 has the whole month: night 1's
    vouchers keep their numbers, the PDD ones take the next free numbers, and `recon vouchers` names
    the exported voucher whose total changed. Then the period closes on night 2."""
    night1, night2 = tmp_path / "n1", tmp_path / "n2"
    shutil.copytree(ROOT / "sample_data", night2)
    shutil.copytree(ROOT / "sample_data", night1)
    shutil.rmtree(night1 / "platform" / "pdd")
    db = tmp_path / "s.duckdb"
    run_cli(["run", night1, "--out", tmp_path / "o1", "--db", db, "--period", "2026-01"], capsys)
    first = keys_of(tmp_path / "o1")
    assert not any(ch == "pdd" for _, ch in first)
    assert sorted(first.values()) == [f"RC202601-{i:04d}" for i in range(1, len(first) + 1)]
    code, stdout, _ = run_cli(["vouchers", "--db", db, "--out", tmp_path / "v1"], capsys)
    assert "(export 1)" in stdout and "CHANGED" not in stdout
    exported = vouchers_of(tmp_path / "v1")

    run_cli(["run", night2, "--out", tmp_path / "o2", "--db", db, "--period", "2026-01"], capsys)
    second = keys_of(tmp_path / "o2")
    assert {k: second[k] for k in first} == first  # no exported voucher renumbered
    new = sorted((k for k in second if k not in first), key=lambda k: second[k])
    assert new == sorted(new) and {ch for _, ch in new} == {"pdd"}  # numbered in (code, channel) order
    assert [second[k] for k in new] == [f"RC202601-{len(first) + i:04d}" for i in range(1, len(new) + 1)]
    code, stdout, _ = run_cli(["vouchers", "--db", db, "--out", tmp_path / "v2"], capsys)
    now = vouchers_of(tmp_path / "v2")
    changed = sorted(n for n in exported if exported[n][2] != now[n][2])
    for n in changed:
        assert "CHANGED since export 1" in stdout and n in stdout
    assert code == (1 if changed else 0)
    assert store_rows(db, "SELECT count(DISTINCT export_no), count(*) FROM voucher_export") == [
        (2, len(exported) + len(now))]

    # the sample month holds a code that blocks the close: refused unforced, then forced on night 2's run
    code, _, err = run_cli(["close", "--period", "2026-01", "--by", "张三", "--reason", "month end", "--db", db], capsys)
    assert code == 2 and "blocks_close" in err
    night2_run = store_rows(db, "SELECT run_id FROM run ORDER BY started_at DESC, run_id DESC LIMIT 1")[0][0]
    code, stdout, _ = run_cli(["close", "--period", "2026-01", "--by", "张三", "--reason", "month end", "--force",
                               "--db", db], capsys)
    assert code == 0 and f"on run {night2_run}" in stdout and f"{len(now)} voucher number(s) fixed" in stdout
    fixed = json.loads(store_rows(db, "SELECT vouchers_json FROM period_close")[0][0])
    assert [v["number"] for v in fixed] == sorted(now)
    runs = run_cli(["runs", "--db", db], capsys)[1]
    assert f"{night2_run}" in runs and "[closes 2026-01: by 张三" in runs


def test_an_export_names_vouchers_changed_or_withdrawn_since_they_were_exported():
    from recon.report import voucher_export

    con = store.connect(":memory:")
    fee = lambda amt: [("platform_fee_expense", amt, "0"), ("accounts_receivable_platform", "0", amt)]  # noqa: E731
    for run_id, cases in (("R1", [("K1", "jd", "5.00"), ("K2", "pdd", "1.00"), ("K3", "tmall", "2.00")]),
                          ("R2", [("K1", "jd", "7.00"), ("K3", "tmall", "2.00")])):
        con.execute("INSERT INTO run VALUES (?, '2026-01', TIMESTAMP '2026-01-20 02:00:00', 1, '{}', ?)",
                    [run_id, json.dumps({"period": "2026-01"})])
        for case_id, channel, amt in cases:
            add_case(con, case_id, "FEE_PERIOD_MISMATCH", channel, "-" + amt, [f"{case_id}.csv:2"], fee(amt),
                     run_id=run_id)
    first = build_vouchers(con, "R1")
    assert voucher_export.compare(con, first, {"2026-01"}) == {"changed": [], "withdrawn": []}
    assert voucher_export.mark(con, "R1", first) == 1
    since = voucher_export.compare(con, build_vouchers(con, "R2"), {"2026-01"})
    assert [(c["number"], c["exported_total"], c["total"], c["export_no"]) for c in since["changed"]] == [
        ("RC202601-0001", "5.00", "7.00", 1)]
    assert [(w["number"], w["channel"], w["exported_total"]) for w in since["withdrawn"]] == [
        ("RC202601-0002", "pdd", "1.00")]
    con.close()


def test_a_prior_period_adjustment_posted_in_a_closed_period_is_not_posted_again(tmp_path, capsys):
    jan, feb = _jan_feb(tmp_path)
    db = tmp_path / "s.duckdb"
    run_cli(["run", jan, "--out", tmp_path / "o1", "--db", db, "--period", "2026-01"], capsys)
    run_cli(["close", "--period", "2026-01", "--by", "张三", "--reason", "month end", "--force", "--db", db], capsys)
    run_cli(["run", feb, "--out", tmp_path / "o2", "--db", db, "--period", "2026-02"], capsys)
    assert list(vouchers_of(tmp_path / "o2")) == ["RC202602-0001"]
    run_cli(["close", "--period", "2026-02", "--by", "张三", "--reason", "month end", "--force", "--db", db], capsys)
    # March's run reads the late January file once more: February's closed run already adjusted for it
    code, _, err = run_cli(["run", feb, "--out", tmp_path / "o3", "--db", db, "--period", "2026-03"], capsys)
    assert "closed period 2026-01" not in err and vouchers_of(tmp_path / "o3") == {}
