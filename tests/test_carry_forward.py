"""Timing carry-forward (issue 15 point 2), the parts built so far: timing codes are a property of
dictionary entries (``timing: true``), and the carried set, the lines the last run of a period leaves
open for the next one, listed by ``recon carried`` with their due dates.

The month is inline, in the real layouts (an Alipay trade detail in GBK, a Kingdee-style ERP CSV): an
order short by 9.90 (unknown on both sides), two receivables booked on the 31st (SETTLEMENT_CUTOFF), one
of them with its Alipay settlement of 1 February already loaded.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import duckdb
import pytest

from recon.dictionary import load_dictionaries
from recon.errors import ConfigError
from recon.resources import dictionaries_dir
from test_run import erp_csv, run_cli

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def january(tmp_path):
    """January's files: the fixture's Alipay trades plus order M…009 paid 31 January 23:10, settled 1 February;
    the ERP books M…001 right, M…002 short, and M…009 and M…010 on the 31st."""
    inp = tmp_path / "in"
    (inp / "alipay").mkdir(parents=True)
    (inp / "erp").mkdir()
    lines = (FIXTURES / "alipay_trade_detail.csv").read_bytes().decode("gbk").split("\n")
    settled = (lines[6].replace("2026010122001458860515315454", "2026020122001458860515315460")
               .replace("M20260101002", "M20260131009").replace("59.90,59.90", "88.00,88.00")
               .replace("2026-01-01 11:00:00,2026-01-01 11:00:05", "2026-01-31 23:10:00,2026-02-01 00:20:00"))
    lines.insert(8, settled)
    (inp / "alipay" / "trade.csv").write_bytes("\n".join(lines).encode("gbk"))
    (inp / "erp" / "ar.csv").write_bytes(erp_csv(
        "AR001,2026-01-01,标准应收单,支付宝当面付,人民币,1,100.00,11.50,100.00,0,100.00,已审核,M20260101001,",
        "AR002,2026-01-01,标准应收单,支付宝当面付,人民币,1,50.00,5.75,50.00,0,50.00,已审核,,订单号:M20260101002",
        "AR003,2026-01-03,红字应收单,支付宝当面付,人民币,1,-20.00,-2.30,-20.00,0,-20.00,已审核,M20260101001,退款",
        "AR010,2026-01-31,标准应收单,支付宝当面付,人民币,1,88.00,10.12,88.00,0,88.00,已审核,M20260131009,",
        "AR011,2026-01-31,标准应收单,支付宝当面付,人民币,1,66.00,7.59,66.00,0,66.00,已审核,M20260131010,"))
    return tmp_path


def _results(out: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO((out / "results.csv").read_bytes()[3:].decode("utf-8"), newline="")))


def _carried(db, capsys, *extra, period="2026-02") -> dict:
    code, out, err = run_cli(["carried", "--period", period, "--db", str(db), "--json", *extra], capsys)
    assert code == 0, err
    return json.loads(out)


# ---------------------------------------------------------------- timing: a property of dictionary entries


def test_timing_codes_are_marked_on_the_shipped_entries():
    assert load_dictionaries().timing_codes() == ("FEE_PERIOD_MISMATCH", "REFUND_PERIOD_TIMING", "SETTLEMENT_CUTOFF")


def test_a_users_dictionary_can_mark_or_unmark_an_entry_as_timing(tmp_path):
    text = (dictionaries_dir() / "default.yaml").read_text(encoding="utf-8")
    start = text.index("  - code: SETTLEMENT_CUTOFF")
    entry = text[start:text.index("  - code:", start + 10)].replace("    timing: true\n", "")
    mine = tmp_path / "mine.yaml"
    mine.write_text("version: 1\nentries:\n" + entry, encoding="utf-8")
    got = load_dictionaries([dictionaries_dir() / "default.yaml", mine])
    assert got.timing_codes() == ("FEE_PERIOD_MISMATCH", "REFUND_PERIOD_TIMING")  # the later file's entry wins


def test_lint_names_a_timing_that_is_not_true_or_false(tmp_path):
    text = (dictionaries_dir() / "default.yaml").read_text(encoding="utf-8")
    start = text.index("  - code: SETTLEMENT_CUTOFF")
    entry = text[start:text.index("  - code:", start + 10)].replace("timing: true", "timing: yes please")
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nentries:\n" + entry, encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_dictionaries([bad])
    assert any("bad.yaml:" in p and "entries.0.timing" in p and "true or false" in p for p in exc.value.problems)


# ---------------------------------------------------------------- the carried set


def test_the_next_period_carries_januarys_open_lines_and_timing_differences(january, capsys):
    db, out = january / "s.duckdb", january / "o1"
    code, _, err = run_cli(["run", str(january / "in"), "--out", str(out), "--db", str(db), "--period", "2026-01",
                            "--as-of", "2026-01-31"], capsys)
    assert code == 4, err  # no bank statement: incomplete, but the run is finished and recorded
    by_line = {(r["source_file"], r["source_line"]): (r["status"], r["code"]) for r in _results(out)}
    assert by_line[("erp/ar.csv", "5")] == ("known", "SETTLEMENT_CUTOFF")     # M…009, settlement loaded
    assert by_line[("alipay/trade.csv", "9")] == ("known", "SETTLEMENT_CUTOFF")  # its settlement, 1 February
    assert by_line[("erp/ar.csv", "6")] == ("known", "SETTLEMENT_CUTOFF")     # M…010, not settled yet
    assert by_line[("erp/ar.csv", "3")] == ("unknown", "")
    results_before = (out / "results.csv").read_bytes()

    found = _carried(db, capsys, "--as-of", "2026-02-01", "--out", str(january / "carried.csv"))
    assert found["carried_from"] == "2026-01" and found["source_run"]
    got = {(ln["source_file"], ln["source_line"]): ln for ln in found["lines"]}
    # open lines and timing differences dated in January; the 1 February settlement is February's own line
    assert sorted(got) == [("alipay/trade.csv", 7), ("erp/ar.csv", 3), ("erp/ar.csv", 5), ("erp/ar.csv", 6)]
    cutoff = got[("erp/ar.csv", 6)]
    assert (cutoff["status"], cutoff["code"], cutoff["channel"], cutoff["amount"]) == (
        "known", "SETTLEMENT_CUTOFF", "alipay", "66.00")
    assert (cutoff["due_by"], cutoff["overdue"], cutoff["first_seen"]) == ("2026-02-01", False, None)  # T+1
    short = got[("erp/ar.csv", 3)]
    assert (short["status"], short["first_seen"], short["age_days"]) == ("unknown", "2026-01-31", 1)
    assert found["summary"] == [
        {"status": "known", "code": "SETTLEMENT_CUTOFF", "currency": "CNY", "lines": 2, "amount": "154.00",
         "overdue": 0},
        {"status": "unknown", "code": None, "currency": "CNY", "lines": 2, "amount": "109.90", "overdue": 0}]
    rows = list(csv.DictReader(io.StringIO((january / "carried.csv").read_bytes()[3:].decode("utf-8"), newline="")))
    assert len(rows) == 4 and rows[0]["due_by"] == "2026-02-01"

    # two days on, nothing has cleared them: every one is overdue, by one day past T+1
    later = _carried(db, capsys, "--as-of", "2026-02-03")
    assert all(ln["overdue"] and ln["days_overdue"] == 2 for ln in later["lines"])
    code, text, _ = run_cli(["carried", "--period", "2026-02", "--db", str(db), "--as-of", "2026-02-03"], capsys)
    assert code == 0 and "4 line(s) carried from 2026-01" in text and "4 overdue as of 2026-02-03" in text
    assert "OVERDUE 2026-02-01  erp      erp/ar.csv:6" in text

    # reading the carried set changes nothing of January's run
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM run").fetchone() == (1,)
    finally:
        con.close()
    assert (out / "results.csv").read_bytes() == results_before


def test_a_timing_code_the_dictionary_no_longer_marks_is_not_carried(january, capsys, tmp_path):
    db = january / "s.duckdb"
    run_cli(["run", str(january / "in"), "--out", str(january / "o1"), "--db", str(db), "--period", "2026-01",
             "--as-of", "2026-01-31"], capsys)
    text = (dictionaries_dir() / "default.yaml").read_text(encoding="utf-8")
    start = text.index("  - code: SETTLEMENT_CUTOFF")
    mine = tmp_path / "mine.yaml"
    mine.write_text("version: 1\nentries:\n" + text[start:text.index("  - code:", start + 10)].replace(
        "    timing: true\n", ""), encoding="utf-8")
    found = _carried(db, capsys, "--as-of", "2026-02-01", "--dictionary", str(mine))
    assert {ln["status"] for ln in found["lines"]} == {"unknown"} and len(found["lines"]) == 2


def test_nothing_is_carried_without_a_run_of_the_period_before(january, capsys):
    db = january / "s.duckdb"
    run_cli(["run", str(january / "in"), "--out", str(january / "o1"), "--db", str(db), "--period", "2026-01",
             "--as-of", "2026-01-31"], capsys)
    code, out, _ = run_cli(["carried", "--period", "2026-01", "--db", str(db)], capsys)
    assert code == 0 and "no finished run of 2025-12" in out
    code, _, err = run_cli(["carried", "--period", "2026-13", "--db", str(db)], capsys)
    assert code == 2 and "YYYY-MM" in err
    shutil.rmtree(january / "o1")


# ---------------------------------------------------------------- February's run: carried lines matched first

FUND_HEADER = ("账务流水号,业务流水号,商户订单号,商品名称,发生时间,对方账号,收入金额（+元）,支出金额（-元）,账户余额（元）,"
               "交易渠道,业务类型,备注")


def _alipay(folder: Path, rows: list[tuple]) -> None:
    """An Alipay trade detail in the fixture's layout: rows (txn, order, kind, paid, settled, amount, refund batch)."""
    lines = (FIXTURES / "alipay_trade_detail.csv").read_bytes().decode("gbk").split("\n")
    sale, refund = lines[6], lines[7]
    body = []
    for txn, order, kind, paid, settled, amount, batch in rows:
        model = refund if kind == "refund" else sale
        cells = model.split(",")
        cells[0], cells[1] = f"{txn}\t", f"{order}\t"
        cells[4], cells[5] = paid, settled
        cells[11] = cells[12] = amount
        cells[21] = f"{batch}\t"
        body.append(",".join(cells))
    (folder / "alipay").mkdir(parents=True, exist_ok=True)
    (folder / "alipay" / "trade.csv").write_bytes("\n".join(lines[:5] + body + lines[8:]).encode("gbk"))


def _two_months(root: Path) -> tuple[Path, Path]:
    """January: M…010 and M…011 booked on the 31st, not settled yet (SETTLEMENT_CUTOFF, Alipay T+1); M…003 sold on
    the 15th and refunded 30.00 on the 31st, its credit note dated 3 February (loaded with January's ERP export:
    REFUND_PERIOD_TIMING); a 500.00 withdrawal on the 31st the bank credits on 1 February (in transit); M…002 short
    by 9.90. February: the settlements of M…010 on the 1st, the bank credit, an ordinary order; M…011 never settles."""
    jan, feb = root / "jan", root / "feb"
    _alipay(jan, [("2026010122001458860515315454", "M20260101002", "sale", "2026-01-01 11:00:00",
                   "2026-01-01 11:00:05", "59.90", ""),
                  ("2026011522001458860515315470", "M20260115003", "sale", "2026-01-15 10:00:00",
                   "2026-01-15 10:00:05", "120.00", ""),
                  ("2026011522001458860515315470", "M20260115003", "refund", "2026-01-15 10:00:00",
                   "2026-01-31 15:00:00", "-30.00", "R003")])
    (jan / "alipay" / "fund.csv").write_bytes("\r\n".join([
        "#支付宝账务明细查询", "#账号：[20880211096256330156]",
        "#起始日期：[2026年01月01日 00:00:00]   终止日期：[2026年02月01日 00:00:00]",
        "#-----------------------------------------账务明细列表----------------------------------------",
        FUND_HEADER,
        "54632446537399\t,20260131110070001506490012345678\t,\t,\t,2026-01-31 15:00:00,招商银行(6214****1234)\t,"
        "0.00,500.00,139.30,支付宝,提现,提现",
        "#----------------------------------------账务明细列表结束-------------------------------------", ""]).encode("gbk"))
    (jan / "erp").mkdir()
    (jan / "erp" / "ar.csv").write_bytes(erp_csv(
        "AR002,2026-01-01,标准应收单,支付宝当面付,人民币,1,50.00,5.75,50.00,0,50.00,已审核,M20260101002,",
        "AR003,2026-01-15,标准应收单,支付宝当面付,人民币,1,120.00,13.80,120.00,0,120.00,已审核,M20260115003,",
        "AR004,2026-02-03,红字应收单,支付宝当面付,人民币,1,-30.00,-3.45,-30.00,0,-30.00,已审核,M20260115003,退款",
        "AR010,2026-01-31,标准应收单,支付宝当面付,人民币,1,66.00,7.59,66.00,0,66.00,已审核,M20260131010,",
        "AR011,2026-01-31,标准应收单,支付宝当面付,人民币,1,77.00,8.86,77.00,0,77.00,已审核,M20260131011,"))
    _alipay(feb, [("2026020122001458860515315461", "M20260131010", "sale", "2026-01-31 22:00:00",
                   "2026-02-01 08:00:00", "66.00", ""),
                  ("2026020522001458860515315462", "M20260205020", "sale", "2026-02-05 10:00:00",
                   "2026-02-05 10:00:05", "30.00", "")])
    (feb / "erp").mkdir()
    (feb / "erp" / "ar.csv").write_bytes(erp_csv(
        "AR020,2026-02-05,标准应收单,支付宝当面付,人民币,1,30.00,3.45,30.00,0,30.00,已审核,M20260205020,"))
    cmb = (FIXTURES / "bank_cmb_detail.csv").read_bytes().decode("gbk").split("\r\n")
    head = [ln.replace("20260401", "20260201").replace("20260430", "20260228").replace("20260501", "20260301")
            for ln in cmb[:8]]
    credit = cmb[9].replace("20260401", "20260201").replace("38650.00,538650.00", "500.00,500500.00")
    (feb / "bank").mkdir()
    (feb / "bank" / "cmb.csv").write_bytes("\r\n".join(head + [cmb[8], credit, ""]).encode("gbk"))
    return jan, feb


def _run(src: Path, out: Path, db: Path, period: str, as_of: str, capsys) -> tuple[int, str]:
    code, text, err = run_cli(["run", str(src), "--out", str(out), "--db", str(db), "--period", period,
                               "--as-of", as_of], capsys)
    assert code in (0, 1, 4), err
    return code, text


def _by_order(out: Path) -> dict:
    got: dict = {}
    for r in _results(out):
        got.setdefault(r["order_no"] or r["line_type"], []).append(r)
    return got


def test_februarys_run_clears_januarys_cutoff_refund_and_payout_and_ages_what_never_settles(tmp_path, capsys):
    jan, feb = _two_months(tmp_path)
    db = tmp_path / "s.duckdb"
    _run(jan, tmp_path / "o1", db, "2026-01", "2026-01-31", capsys)
    january = _by_order(tmp_path / "o1")
    assert {(r["source"], r["status"], r["code"]) for r in january["M20260131010"]} == {
        ("erp", "known", "SETTLEMENT_CUTOFF")}
    assert ("platform", "known", "REFUND_PERIOD_TIMING") in {
        (r["source"], r["status"], r["code"]) for r in january["M20260115003"]}
    assert [r["status"] for r in january["payout"]] == ["unknown"]  # no bank credit in January
    assert "CARRIED" not in (tmp_path / "o1" / "results.csv").read_text(encoding="utf-8-sig")  # nothing before January
    january_vouchers = (tmp_path / "o1" / "vouchers.csv").read_text(encoding="utf-8-sig")
    assert "REFUND_PERIOD_TIMING" in january_vouchers  # the credit note accrued in January

    code, text = _run(feb, tmp_path / "o2", db, "2026-02", "2026-02-10", capsys)
    february = _by_order(tmp_path / "o2")
    carried = {(r["source"], r["order_no"] or r["line_type"], r["amount"]): r for r in _results(tmp_path / "o2")
               if r["finding"].startswith("CARRIED_")}

    def state(source, key, amount):
        r = carried[(source, key, amount)]
        return r["status"], r["finding"].split("{")[0].split(";")[0]

    # cleared: the cut-off receivable met its 1 February settlement, the refund its credit note, the payout its credit
    assert state("erp", "M20260131010", "66.00") == ("matched", "CARRIED_CLEARED")
    assert state("platform", "M20260115003", "-30.00") == ("matched", "CARRIED_CLEARED")
    assert state("platform", "payout", "-500.00") == ("matched", "CARRIED_CLEARED")
    assert {r["status"] for r in february["M20260131010"]} == {"matched"}
    # never settled within Alipay's T+1: aged exceptions, with their open-item age since January
    never = [r for r in february["M20260131011"]]
    assert [(r["status"], r["finding"].split("{")[0]) for r in never] == [("unknown", "CARRIED_NOT_CLEARED")]
    assert '"due_by":"2026-02-01"' in never[0]["finding"].replace('""', '"')
    short = [r for r in february["M20260101002"]]
    assert {(r["status"], r["first_seen"], r["age_days"]) for r in short} == {("unknown", "2026-01-31", "10")}
    # February's own lines are not carried and are decided as before
    assert all(not r["finding"].startswith("CARRIED") for r in february["M20260205020"])
    # nothing posted twice: the refund's accrual was January's, February posts no voucher for a carried line
    assert "REFUND_PERIOD_TIMING" not in (tmp_path / "o2" / "vouchers.csv").read_text(encoding="utf-8-sig")
    # conservation: the carried lines are their own bucket, in = out, never counted with February's lines (AR020, the credit note AR004)
    m = json.loads((tmp_path / "o2" / "manifest.json").read_text(encoding="utf-8"))
    erp = m["control_totals"]["erp"]
    assert (erp["in"]["count"], erp["carried_in"]["count"], erp["carried_out"]["count"]) == (2, 3, 3)
    assert m["carried"]["carried_from"] == "2026-01" and (m["carried"]["cleared"], m["carried"]["not_cleared"]) == (
        len([k for k in carried if carried[k]["status"] == "matched"]), 1 + len(short))
    assert "carried from 2026-01" in text
    assert m["statement"]["foots"]  # the 余额调节表 includes the carried lines, and still foots to the cent
    # carried on into March: what February did not clear keeps its due date (overdue), its age, its January file
    march = {(ln["source_file"], ln["order_no"]): ln for ln in _carried(db, capsys, "--as-of", "2026-03-01", period="2026-03")["lines"]}
    on = march[("erp/ar.csv", "M20260131011")]
    assert (on["due_by"], on["overdue"], on["days_overdue"]) == ("2026-02-01", True, 28)
    assert march[("alipay/trade.csv", "M20260101002")]["first_seen"] == "2026-01-31"
    assert ("erp/ar.csv", "M20260131010") not in march  # cleared in February: nothing left to carry


def test_a_carried_line_within_its_lag_is_open_not_yet_an_exception(tmp_path, capsys):
    jan, feb = _two_months(tmp_path)
    db = tmp_path / "s.duckdb"
    _run(jan, tmp_path / "o1", db, "2026-01", "2026-01-31", capsys)
    _run(feb, tmp_path / "o2", db, "2026-02", "2026-02-01", capsys)
    never = _by_order(tmp_path / "o2")["M20260131011"]
    assert [(r["status"], r["finding"].split("{")[0]) for r in never] == [("unknown", "CARRIED_OPEN")]


def test_a_carried_timing_difference_posts_no_second_voucher(tmp_path, capsys):
    """The sample month accrues its JD fees (FEE_PERIOD_MISMATCH, with a voucher); February carries those fee
    lines, never classifies them again, and posts no FEE_PERIOD_MISMATCH voucher for them."""
    sample = Path(__file__).resolve().parents[1] / "sample_data"
    _, feb = _two_months(tmp_path)
    db = tmp_path / "s.duckdb"
    _run(sample, tmp_path / "o1", db, "2026-01", "2026-01-31", capsys)
    assert "FEE_PERIOD_MISMATCH" in (tmp_path / "o1" / "vouchers.csv").read_text(encoding="utf-8-sig")
    _run(feb, tmp_path / "o2", db, "2026-02", "2026-02-10", capsys)
    fees = [r for r in _results(tmp_path / "o2") if r["channel"] == "jd" and r["line_type"] in ("fee", "commission")]
    assert len(fees) == 129  # every JD fee line of January, carried (the ERP's fee invoice has not come)
    assert {(r["status"], r["code"], r["finding"].split("{")[0]) for r in fees} == {
        ("unknown", "", "CARRIED_NOT_CLEARED")}
    assert "FEE_PERIOD_MISMATCH" not in (tmp_path / "o2" / "vouchers.csv").read_text(encoding="utf-8-sig")
