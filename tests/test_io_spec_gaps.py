"""Gaps closed in the spec language and the built-in profiles:

- a damaged (scientific-notation) id inside an ``or:``/``cases:`` spec is flagged in id_problem, not
  only emptied (Tmall 账务明细: the withdrawal's 业务流水号 under payout_ref ``cases:``);
- ``time_col``: a timestamp from a date column and a time-of-day column (CMB 交易日 + 交易时间);
- an Excel-resaved Alipay 业务明细 loads with its damaged 支付宝交易号 flagged, like every other
  format, instead of being quarantined.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal as D

import openpyxl
import pytest

from conftest import FIXTURES, do_import, rows, write
from recon.errors import ConfigError
from recon.io.profile import load_profile

TMALL = FIXTURES / "tmall_fund_detail.csv"
CMB = FIXTURES / "bank_cmb_detail.csv"
TRADE = FIXTURES / "alipay_trade_detail.csv"


def proofs_of(report):
    return {p["proof"]: p["passed"] for part in report.parts for p in part.proofs}


# ---------------------------------------------------------------- ids nested in or:/cases:

def test_damaged_id_inside_cases_is_flagged_not_silently_emptied(con, profiles, tmp_path):
    """Only the withdrawal's 业务流水号 went through Excel (2.02605E+31). payout_ref takes it inside a
    ``cases:`` spec; the value is emptied, and the line says why."""
    text = TMALL.read_bytes().decode("gbk")
    assert text.count("20260531110070001506490099887766\t,") == 1
    text = text.replace("20260531110070001506490099887766\t,", "2.02605E+31,")
    rep = do_import(con, write(tmp_path, "tmall.csv", text, "gbk"), profiles)
    assert rep.formats == ["tmall.fund_detail"] and rep.totals()["quarantined"] == 0
    got = rows(con, "platform_line", "source_line, line_type, payout_ref, id_problem", "id_problem IS NOT NULL")
    assert got == [{"source_line": 13, "line_type": "payout", "payout_ref": None,
                    "id_problem": "业务流水号=2.02605E+31"}]


def test_intact_nested_ids_flag_nothing(con, profiles):
    do_import(con, TMALL, profiles)
    assert con.execute("SELECT count(*) FROM platform_line WHERE id_problem IS NOT NULL").fetchone()[0] == 0


# ---------------------------------------------------------------- time_col (CMB 交易日 + 交易时间)

CMB_TIMES = [
    (10, dt.date(2026, 4, 1), dt.datetime(2026, 4, 1, 9, 12, 33)),
    (11, dt.date(2026, 4, 1), dt.datetime(2026, 4, 1, 10, 5, 17)),
    (12, dt.date(2026, 4, 1), dt.datetime(2026, 4, 1, 10, 5, 17)),
    (13, dt.date(2026, 4, 1), dt.datetime(2026, 4, 1, 16, 40, 2)),
    (14, dt.date(2026, 4, 2), dt.datetime(2026, 4, 2, 11, 21, 45)),
    (15, dt.date(2026, 4, 2), dt.datetime(2026, 4, 2, 15, 2, 9)),
]


def cmb_times(con):
    return [tuple(r.values()) for r in rows(con, "bank_line", "source_line, booking_date, txn_time")]


def test_cmb_txn_time_from_date_and_time_columns(con, profiles):
    rep = do_import(con, CMB, profiles)
    assert rep.formats == ["bank.cmb"]
    assert cmb_times(con) == CMB_TIMES


def cmb_xlsx_with_times(tmp_path, times):
    """The CMB export as XLSX, 交易时间 cells replaced by ``times`` (a time, a day fraction, text…)."""
    wb = openpyxl.Workbook()
    ws = wb.active
    header = None
    data = 0
    for cells in csv.reader(io.StringIO(CMB.read_bytes().decode("gbk"))):
        if cells and cells[0] == "交易日":
            header = cells
        elif header and cells:
            cells = [float(c) if h in ("借方金额", "贷方金额", "余额") and c else c for h, c in zip(header, cells)]
            cells[1] = times[data]
            data += 1
        ws.append(cells)
    path = tmp_path / "cmb.xlsx"
    wb.save(path)
    return path


def test_cmb_xlsx_time_cells_as_excel_times_fractions_and_blanks(con, profiles, tmp_path):
    """Excel keeps 交易时间 as a time cell or a bare day fraction; an empty time leaves txn_time empty
    (not midnight) and loads the line."""
    times = [dt.time(9, 12, 33), 0.42033564814814813, "10:05:17", "16:40", "", "150209"]
    rep = do_import(con, cmb_xlsx_with_times(tmp_path, times), profiles)
    assert rep.totals()["loaded"] == 6 and rep.totals()["quarantined"] == 0
    assert [r[2] for r in cmb_times(con)] == [
        dt.datetime(2026, 4, 1, 9, 12, 33), dt.datetime(2026, 4, 1, 10, 5, 17), dt.datetime(2026, 4, 1, 10, 5, 17),
        dt.datetime(2026, 4, 1, 16, 40), None, dt.datetime(2026, 4, 2, 15, 2, 9)]
    assert rep.proofs_passed


def test_cmb_unreadable_time_quarantined_with_column_and_reason(con, profiles, tmp_path):
    text = CMB.read_bytes().decode("gbk").replace("20260401,10:05:17,", "20260401,25:61:00,", 1)
    rep = do_import(con, write(tmp_path, "cmb.csv", text, "gbk"), profiles)
    assert rep.totals() == {"data_lines": 6, "loaded": 5, "duplicates": 0, "quarantined": 1}
    assert rows(con, "quarantine", "source_name, source_line, column_name, reason") == [
        {"source_name": "cmb.csv", "source_line": 11, "column_name": "交易时间",
         "reason": "cannot read '25:61:00': expected a time of day like 09:12:33"}]


@pytest.mark.parametrize("spec, message", [
    ("{time_col: 交易时间}", "time_col names the time-of-day column beside col"),
    ("{col: 交易日, time_col: 交易时间, type: date}", "time_col makes a timestamp"),
])
def test_time_col_misuse_is_rejected_with_its_line(tmp_path, spec, message):
    path = write(tmp_path, "p.yaml", (
        "version: 1\nformat: x.bank\nfamily: bank\ndetect:\n  header: [交易日, 交易时间, 金额]\nfields:\n"
        f"  booking_date: {{col: 交易日, type: date}}\n  txn_time: {spec}\n  amount: {{col: 金额}}\n"))
    with pytest.raises(ConfigError) as exc:
        load_profile(path)
    assert any(p.startswith(f"{path}:8: fields.txn_time") and message in p for p in exc.value.problems)


# ---------------------------------------------------------------- Alipay 业务明细 re-saved in Excel

def resaved_trade(export_time="2026年02月02日 05:46:49"):
    """Excel drops the TABs and shows each 28-digit 支付宝交易号 as 2.02601E+27: the payment, the other
    payment and the refund (which shares the first payment's 交易号) now carry the same text."""
    text = TRADE.read_bytes().decode("gbk").replace("\t", "")
    for txn in ("2026010122001458860515315453", "2026010122001458860515315454"):
        text = text.replace(txn + ",", "2.02601E+27,")
    return text.replace("2026年02月02日 05:46:49", export_time)


def test_excel_resaved_trade_detail_loads_with_ids_flagged(con, profiles, tmp_path):
    rep = do_import(con, write(tmp_path, "resaved.csv", resaved_trade(), "gbk"), profiles)
    assert rep.formats == ["alipay.trade_detail"]
    assert rep.totals() == {"data_lines": 3, "loaded": 3, "duplicates": 0, "quarantined": 0}
    got = rows(con, "platform_line", "source_line, platform_txn_no, merchant_order_no, line_type, amount, id_problem")
    assert got == [
        {"source_line": 6, "platform_txn_no": None, "merchant_order_no": "M20260101001", "line_type": "sale",
         "amount": D("100.00"), "id_problem": "支付宝交易号=2.02601E+27"},
        {"source_line": 7, "platform_txn_no": None, "merchant_order_no": "M20260101002", "line_type": "sale",
         "amount": D("59.90"), "id_problem": "支付宝交易号=2.02601E+27"},
        {"source_line": 8, "platform_txn_no": None, "merchant_order_no": "M20260101001", "line_type": "refund",
         "amount": D("-20.00"), "id_problem": "支付宝交易号=2.02601E+27"},
    ]
    assert proofs_of(rep) == {"交易合计.count": True, "交易合计.amount": True, "退款合计.count": True,
                              "退款合计.amount": True}


def test_excel_resaved_trade_detail_overlapping_copy_is_duplicates(con, profiles, tmp_path):
    do_import(con, write(tmp_path, "a.csv", resaved_trade(), "gbk"), profiles)
    rep = do_import(con, write(tmp_path, "b.csv", resaved_trade("2026年02月03日 08:00:00"), "gbk"), profiles)
    assert rep.status == "loaded"
    assert (rep.totals()["loaded"], rep.totals()["duplicates"]) == (0, 3)


def test_intact_trade_detail_keys_unchanged_by_the_fallback(con, profiles, tmp_path):
    """With intact ids the key is still (交易号, type, 退款批次号): the refund and its payment are two
    lines, and a re-download of the same lines adds nothing."""
    do_import(con, TRADE, profiles)
    text = TRADE.read_bytes().decode("gbk").replace("05:46:49]", "06:00:00]")
    rep = do_import(con, write(tmp_path, "again.csv", text, "gbk"), profiles)
    assert (rep.totals()["loaded"], rep.totals()["duplicates"]) == (0, 3)
    assert con.execute("SELECT count(DISTINCT natural_key) FROM platform_line").fetchone()[0] == 3


def test_excel_resaved_trade_detail_new_payment_is_not_swallowed(con, profiles, tmp_path):
    """All damaged 交易号 read the same (2.02601E+27): a later download's new payment must still load,
    keyed by its time, order, type and amounts, not taken for an earlier payment."""
    do_import(con, write(tmp_path, "a.csv", resaved_trade(), "gbk"), profiles)
    text = resaved_trade("2026年02月03日 08:00:00").replace("M20260101002", "M20260102001").replace(
        "2026-01-01 11:00:00,2026-01-01 11:00:05", "2026-01-02 14:00:00,2026-01-02 14:00:03")
    rep = do_import(con, write(tmp_path, "b.csv", text, "gbk"), profiles)
    assert (rep.totals()["loaded"], rep.totals()["duplicates"]) == (1, 2)
    assert [r["merchant_order_no"] for r in rows(con, "platform_line", "merchant_order_no", "source_name = 'b.csv'")] \
        == ["M20260102001"]
