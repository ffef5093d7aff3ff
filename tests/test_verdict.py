"""A verdict that never lies (issue 12 point 1): clean 0, breaks 1, incomplete 4, each reason as data.

Every test goes through ``recon.cli.main`` as a user (or a month-end script) does, and reads the
manifest, ``--json`` and the console back.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from conftest import reason_codes, run_args, run_cli
from recon import verdict
from recon.io import load

REPO = Path(__file__).resolve().parent.parent
ODD_LEDGER = "日期,摘要,金额,备注\n2026-01-03,货款,100.00,订单 A1\n"


def _manifest(month: Path, out: str = "out") -> dict:
    return json.loads((month / out / "manifest.json").read_text(encoding="utf-8"))


def test_a_clean_complete_month_is_clean(clean_month, capsys):
    code, out, _ = run_cli(run_args(clean_month, "--no-reports"), capsys)
    m = _manifest(clean_month)
    assert code == 0 and m["verdict"] == {"state": "clean", "exit_code": 0, "reasons": []}
    assert "\nverdict: clean" in out
    assert out.index("verdict: clean") < out.index("period 2026-01:")  # the summary opens on it


def test_an_empty_folder_with_period_is_incomplete_never_clean(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    code, out, err = run_cli(run_args(tmp_path, "--period", "2026-01"), capsys)
    assert code == 4, out + err
    m = _manifest(tmp_path)
    assert m["verdict"]["state"] == "incomplete" and reason_codes(m) == ["no_lines"]
    assert m["verdict"]["reasons"][0]["params"] == {"period": "2026-01"}
    assert "no_lines: 期间 2026-01 没有任何账单行" in out
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert 'data-state="incomplete"' in html and 'data-code="no_lines"' in html
    import openpyxl

    summary = openpyxl.load_workbook(tmp_path / "out" / "recon.xlsx")["汇总"]
    rows = [r[:2] for r in summary.iter_rows(min_row=2, max_row=3, values_only=True)]
    assert rows[0] == ("结论", "不完整，不能据此结账 (incomplete)") and rows[1][1].startswith("no_lines: ")


def test_a_period_with_no_lines_is_incomplete(trade_month, capsys):
    code, _, _ = run_cli(run_args(trade_month, "--period", "2026-03", "--no-reports", "--lang", "en"), capsys)
    m = _manifest(trade_month)
    assert code == 4 and reason_codes(m) == ["no_lines"]
    assert m["verdict"]["reasons"][0]["message"] == ("no_lines: no ledger line in period 2026-03: there is nothing "
                                                     "to reconcile, the month cannot close")


def test_a_missing_family_is_incomplete_and_outranks_breaks(trade_month, capsys):
    code, out, _ = run_cli(run_args(trade_month, "--no-reports", "--lang", "en"), capsys)
    m = _manifest(trade_month)
    assert code == 4
    assert reason_codes(m) == ["family_missing", "family_missing", "unknown_lines"]
    assert [r["params"] for r in m["verdict"]["reasons"][:2]] == [{"family": "erp"}, {"family": "bank"}]
    assert [r["state"] for r in m["verdict"]["reasons"]] == ["incomplete", "incomplete", "breaks"]
    assert "family_missing: no bank line in the period: add the bank file and run again" in out


def test_a_skipped_ledger_looking_file_is_incomplete(clean_month, capsys):
    (clean_month / "in" / "odd.csv").write_text(ODD_LEDGER, encoding="utf-8")
    code, out, _ = run_cli(run_args(clean_month, "--no-reports"), capsys)
    m = _manifest(clean_month)
    assert code == 4 and reason_codes(m) == ["skipped_ledger"]
    assert m["verdict"]["reasons"][0]["params"] == {"path": "odd.csv"}
    assert "skipped_ledger: 文件 odd.csv 疑似账单但未被读取" in out


def test_a_channel_missing_against_the_last_run_of_the_period(clean_month, capsys, monkeypatch):
    """The store's lines of the period no longer include a channel the last finished run had."""
    code, _, _ = run_cli(run_args(clean_month, "--no-reports"), capsys)
    assert code == 0
    previous = verdict.previous_run
    # as if the last run had a channel this month's files no longer hold (e.g. a shop's file left out)
    monkeypatch.setattr(verdict, "previous_run", lambda con, period: {
        **previous(con, period), "channels": {**previous(con, period)["channels"], "kuaishou": 12}})
    code, out, _ = run_cli(run_args(clean_month, "--no-reports", "--lang", "en"), capsys)
    m = _manifest(clean_month)
    assert code == 4 and reason_codes(m) == ["channel_missing"]
    assert m["verdict"]["reasons"][0]["params"]["channel"] == "kuaishou"
    assert m["verdict"]["reasons"][0]["params"]["lines"] == 12
    assert "channel kuaishou had 12 lines in the last run" in out
    monkeypatch.setattr(verdict, "previous_run", previous)  # the real one from now on: kuaishou is still missing
    code, _, _ = run_cli(run_args(clean_month, "--no-reports"), capsys)
    again = _manifest(clean_month)
    assert code == 4 and reason_codes(again) == ["channel_missing"]
    assert again["verdict"]["reasons"][0]["params"]["lines"] == 12
    assert again["verdict"]["reasons"][0]["params"]["previous_run"] == m["run_id"]


def test_a_blocking_code_names_the_damaged_file(tmp_path, capsys):
    code, out, _ = run_cli(["run", REPO / "sample_data", "--out", tmp_path / "out", "--db", tmp_path / "s.duckdb",
                            "--no-reports", "--lang", "en"], capsys)
    m = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    assert code == 1 and m["verdict"]["state"] == "breaks"
    block = next(r for r in m["verdict"]["reasons"] if r["code"] == "blocks_close")
    assert block["params"]["entry"] == "EXCEL_MANGLED_ID" and block["params"]["lines"] == 2
    # the ERP export is the damaged file (its id is in scientific notation), not the platform's
    assert block["params"]["family"] == "erp" and block["params"]["refs"] == ["erp/金蝶应收单_202601.xlsx:89@应收单"]
    assert block["message"] == ("blocks_close: EXCEL_MANGLED_ID on 2 lines (re-download the ERP export "
                                "erp/金蝶应收单_202601.xlsx:89@应收单)")
    assert block["message"] in out


def test_json_opens_on_the_verdict(trade_month, capsys):
    code, out, _ = run_cli(run_args(trade_month, "--json", "--no-reports"), capsys)
    summary = json.loads(out)
    assert code == 4 and list(summary)[0] == "verdict"
    assert summary["verdict"]["state"] == "incomplete" and summary["verdict"]["exit_code"] == 4
    assert all(set(r) == {"code", "state", "params", "message"} for r in summary["verdict"]["reasons"])


def test_a_file_warning_marked_incomplete_makes_the_run_incomplete(clean_month, capsys, monkeypatch):
    real = load.import_file

    def flagged(con, path, *a, **k):
        rep = real(con, path, *a, **k)
        if "jd" in Path(path).parts:
            rep.warnings.append({"code": "EXCEL_RESAVED", "part": None, "incomplete": True,
                                 "message": "this file was re-saved by Excel; ids are damaged; download it again"})
        return rep

    import recon.api

    monkeypatch.setattr(recon.api, "import_file", flagged)
    code, out, _ = run_cli(run_args(clean_month, "--no-reports"), capsys)
    m = _manifest(clean_month)
    assert code == 4 and reason_codes(m) == ["EXCEL_RESAVED"]
    reason = m["verdict"]["reasons"][0]
    assert reason["params"]["path"].startswith("platform/jd/")
    assert reason["message"].endswith(": this file was re-saved by Excel; ids are damaged; download it again")
    jd = next(f for f in m["inputs"] if f["path"] == reason["params"]["path"])
    assert jd["warnings"][0]["code"] == "EXCEL_RESAVED"


def test_a_warning_not_marked_incomplete_leaves_the_verdict_alone(clean_month, capsys, monkeypatch):
    real = load.import_file

    def noted(con, path, *a, **k):
        rep = real(con, path, *a, **k)
        rep.warnings.append({"code": "NOTE", "part": None, "incomplete": False, "message": "fyi"})
        return rep

    import recon.api

    monkeypatch.setattr(recon.api, "import_file", noted)
    code, _, _ = run_cli(run_args(clean_month, "--no-reports"), capsys)
    assert code == 0 and reason_codes(_manifest(clean_month)) == []


def test_a_failed_proof_and_a_short_file_are_incomplete():
    base = {"period": "2026-01", "coverage": {"families": {"platform": 1, "erp": 1, "bank": 1}, "channels": {}},
            "status_counts": {}, "inputs": [{"path": "a.csv", "parts": [{"part": "", "proofs": [
                {"proof": "交易合计.count", "expected": "12", "actual": "10", "passed": False},
                {"proof": "交易合计.amount", "expected": "100.00", "actual": "90.00", "passed": False}]}]}]}
    v = verdict.decide(base)
    assert v.state == "incomplete" and v.exit_code == 4
    assert [r.code for r in v.reasons] == ["file_short", "proof_failed"]
    assert v.reasons[0].sentence("en") == ("file_short: a.csv is shorter than its own footer says: 交易合计.count "
                                           "declares 12, found 10; the file may be truncated, download it again")


def test_runs_lists_the_verdict(trade_month, capsys):
    run_cli(run_args(trade_month, "--no-reports"), capsys)
    code, out, _ = run_cli(["runs", "--db", trade_month / "s.duckdb"], capsys)
    assert code == 0 and "incomplete" in out and "exit 4" in out
    code, out, _ = run_cli(["runs", "--db", trade_month / "s.duckdb", "--json"], capsys)
    assert json.loads(out)[0]["verdict"] == "incomplete"


def test_the_report_says_what_changed_since_the_last_run_of_the_period(tmp_path, capsys):
    from test_run import erp_csv

    inp = tmp_path / "in"
    (inp / "erp").mkdir(parents=True)
    shutil.copy(Path(__file__).parent / "fixtures" / "alipay_trade_detail.csv", inp / "trade.csv")
    rows = ["AR001,2026-01-01,标准应收单,支付宝当面付,人民币,1,100.00,11.50,100.00,0,100.00,已审核,M20260101001,",
            "AR002,2026-01-01,标准应收单,支付宝当面付,人民币,1,50.00,5.75,50.00,0,50.00,已审核,,订单号:M20260101002",
            "AR003,2026-01-03,红字应收单,支付宝当面付,人民币,1,-20.00,-2.30,-20.00,0,-20.00,已审核,M20260101001,退款"]
    (inp / "erp" / "ar.csv").write_bytes(erp_csv(*rows))
    run_cli(run_args(tmp_path, "--lang", "en"), capsys)
    first = _manifest(tmp_path)
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "The first run of this period in this store" in html
    # the ERP export is corrected (AR002 books the platform's 59.90) and downloaded again
    rows[1] = rows[1].replace(",50.00,5.75,50.00,0,50.00,", ",59.90,6.89,59.90,0,59.90,")
    (inp / "erp" / "ar.csv").write_bytes(erp_csv(*rows))
    run_cli(run_args(tmp_path, "--lang", "en"), capsys)
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert f'data-previous="{first["run_id"]}"' in html
    # the platform line of M…002 was unknown and is matched now; the ERP line that replaced it is new and matched
    assert 'data-changes="resolved">1<' in html and 'data-changes="newly_unknown">0<' in html
    assert "unknown</span> 2 → 0 <b>(-2)</b>" in html


def test_a_past_run_rerenders_its_verdict_in_another_language(tmp_path, capsys):
    db = tmp_path / "s.duckdb"
    code, _, _ = run_cli(["run", REPO / "sample_data", "--out", tmp_path / "out", "--db", db], capsys)
    assert code == 1
    code, _, _ = run_cli(["report", "--out", tmp_path / "en", "--db", db, "--lang", "en"], capsys)
    html = (tmp_path / "en" / "report.html").read_text(encoding="utf-8")
    assert "blocks_close: EXCEL_MANGLED_ID on 2 lines (re-download the ERP export erp/金蝶应收单_202601.xlsx:89@应收单)" in html
    assert "recon explain PI20260106-926 --run R" in html  # the largest unknowns, each with its command
    zh = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "blocks_close: EXCEL_MANGLED_ID 共 2 行阻止结账（请重新下载ERP导出文件 erp/金蝶应收单_202601.xlsx:89@应收单）" in zh
    assert zh.index('id="verdict"') < zh.index('id="next"') < zh.index('id="summary"')
