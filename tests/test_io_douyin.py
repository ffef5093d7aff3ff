"""抖店 资金流水/动账明细 (39 columns) and 结算账单: golden rows, encodings, XLSX, damage, dedup."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import openpyxl

from conftest import FIXTURES, do_import, rows, write

FLOW = FIXTURES / "douyin_fund_flow.csv"
SETTLE = FIXTURES / "douyin_settlement.csv"
COLS = ("source_line, channel, record_kind, account, event_time, order_time, platform_txn_no, order_no, "
        "sub_order_no, refund_no, raw_type, raw_desc, line_type, amount, gross_amount, fee_amount, "
        "subsidy_amount, counterparty, id_problem")

# (line, 动账流水号, line_type, amount, fee_amount, subsidy_amount); amount is the principal: on order rows
# the order's value before deductions (动账金额 128.20 + fees 15.80 = 144.00 = 实付 139.00 + subsidy 5.00),
# elsewhere the money moved.
FLOW_GOLDEN = [
    (2, "2026080209140335073439088961", "sale", "144.00", "-15.80", "5.00"),
    (3, "2026080211304127551302948817", "sale", "63.55", "-3.10", "1.55"),
    (4, "2026080315021890331277450192", "refund", "-59.00", "0.00", "0.00"),
    (5, "2026080318450012004417736650", "compensation", "-3.00", "0.00", "0.00"),
    (6, "2026080406273341620114198961", "fee", "-4.91", "0.00", "0.00"),
    (7, "AS202608041000121602785799467_IN", "fee", "0.35", "0.35", "0.00"),
    (8, "2026080509000077812390001234", "payout", "-500.00", "0.00", "0.00"),
]


def _lines(path=FLOW):
    return path.read_bytes().decode("utf-8-sig").splitlines()


def _brief(con):
    return [(r["source_line"], r["platform_txn_no"], r["line_type"], str(r["amount"]), str(r["fee_amount"]),
             str(r["subsidy_amount"])) for r in rows(con, "platform_line", COLS)]


def test_fund_flow_golden(con, profiles):
    rep = do_import(con, FLOW, profiles)
    assert rep.formats == ["douyin.fund_flow"] and rep.encoding == "utf-8-sig"
    assert rep.totals() == {"data_lines": 7, "loaded": 7, "duplicates": 0, "quarantined": 0}
    assert _brief(con) == FLOW_GOLDEN
    got = rows(con, "platform_line", COLS)
    assert {(r["channel"], r["record_kind"], r["account"]) for r in got} == {("douyin", "fund", "聚合账户")}
    sale = got[0]
    # apostrophes stripped from ids; principal = 订单实付应结 + subsidies, and the money moved (动账金额
    # 128.20) = principal − fees: 139.00 + 5.00 − 6.95 − 8.85
    assert (sale["order_no"], sale["sub_order_no"]) == ("6928126959796059454", "6928126959796059454")
    assert sale["amount"] == sale["gross_amount"] + sale["subsidy_amount"] == Decimal("144.00")
    assert sale["amount"] + sale["fee_amount"] == Decimal("128.20")
    assert sale["event_time"] == dt.datetime(2026, 8, 2, 9, 14, 6)
    assert sale["order_time"] == dt.datetime(2026, 7, 25, 20, 11, 9)
    assert sale["counterparty"] == "小禾好物" and sale["raw_desc"] == "订单结算"
    second = got[1]  # 运费实付 3.00 is part of what the buyer paid, not a subsidy: 1.00 + 0.55 only
    shipping = Decimal("3.00")
    assert second["amount"] == second["gross_amount"] + shipping + second["subsidy_amount"]
    assert second["amount"] + second["fee_amount"] == Decimal("60.45")
    refund = got[2]
    assert (refund["raw_type"], refund["refund_no"], refund["raw_desc"]) == (
        "退款-结算后退款-退用户", "146000812345678901", "原路退")
    assert got[6]["order_no"] is None and got[6]["raw_type"] == "提现"
    assert all(r["id_problem"] is None for r in got)


def test_fund_flow_gb18030_csv(con, profiles, tmp_path):
    text = "\r\n".join(_lines()) + "\r\n"
    rep = do_import(con, write(tmp_path, "动账明细.csv", text, "gb18030"), profiles)
    assert rep.encoding == "gb18030" and rep.formats == ["douyin.fund_flow"]
    assert _brief(con) == FLOW_GOLDEN


def test_fund_flow_xlsx(con, profiles, tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "资金流水明细"
    header = _lines()[0].split(",")
    money = {i for i, h in enumerate(header) if i in (3,) or 16 <= i <= 34 or h == "免佣金额"}
    ws.append(header)
    for line in _lines()[1:]:
        ws.append([float(v) if i in money and v else (v or None) for i, v in enumerate(line.split(","))])
    path = tmp_path / "资金流水.xlsx"
    wb.save(path)
    rep = do_import(con, path, profiles)
    assert rep.container == "xlsx" and rep.formats == ["douyin.fund_flow"]
    assert _brief(con) == FLOW_GOLDEN  # Excel row 2.. ; float cells go through Decimal(repr)
    assert rows(con, "platform_line", "source_sheet")[0]["source_sheet"] == "资金流水明细"


def test_header_spelled_with_zhang_either_way_is_detected(con, profiles, tmp_path):
    lines = _lines()
    lines[0] = lines[0].replace("动帐流水号", "动账流水号")
    rep = do_import(con, write(tmp_path, "flow.csv", "\r\n".join(lines) + "\r\n"), profiles)
    assert rep.formats == ["douyin.fund_flow"] and rep.totals()["loaded"] == 7


def test_excel_resaved_flow_flags_damaged_ids(con, profiles, tmp_path):
    """Excel shows the bare 28-digit 动账流水号 as 2.02608E+27; 'apostrophe ids survive as text."""
    lines = _lines()
    resaved = [lines[0]]
    for line in lines[1:4]:
        c = line.split(",")
        c[1] = "2.02608E+27"
        c[0] = c[0].replace("2026-08-0", "2026/8/")[:-3]  # 2026/8/2 09:14 (seconds dropped)
        resaved.append(",".join(c))
    path = write(tmp_path, "flow_resaved.csv", "\r\n".join(resaved) + "\r\n", "gb18030")
    rep = do_import(con, path, profiles)
    assert rep.totals() == {"data_lines": 3, "loaded": 3, "duplicates": 0, "quarantined": 0}
    got = rows(con, "platform_line", COLS)
    assert [r["platform_txn_no"] for r in got] == [None, None, None]
    assert [r["id_problem"] for r in got] == ["动帐流水号=2.02608E+27"] * 3
    assert [r["order_no"] for r in got] == ["6928126959796059454", "6928130012457790320", "6928130012457790320"]
    assert got[0]["event_time"] == dt.datetime(2026, 8, 2, 9, 14)
    # a second damaged copy of the same rows is recognised through the fallback key, not as new money
    again = write(tmp_path, "flow_resaved2.csv", "\r\n".join(resaved + [resaved[1]]) + "\r\n", "gb18030")
    rep2 = do_import(con, again, profiles)
    assert rep2.totals() == {"data_lines": 4, "loaded": 1, "duplicates": 3, "quarantined": 0}


def test_header_moved_down_one_row_is_still_found(con, profiles, tmp_path):
    lines = ["资金流水明细 导出时间：2026-08-06 10:00:00"] + _lines()
    rep = do_import(con, write(tmp_path, "flow_moved.csv", "\r\n".join(lines) + "\r\n"), profiles)
    assert rep.parts[0].header_line == 2
    assert [(line - 1, *rest) for line, *rest in _brief(con)] == FLOW_GOLDEN


def test_malformed_amount_and_unknown_direction_are_quarantined(con, profiles, tmp_path):
    lines = _lines()
    lines[2] = lines[2].replace(",入账,60.45,", ",入账,60.4.5,")
    lines[5] = lines[5].replace(",出账,4.91,", ",冲正,4.91,")
    rep = do_import(con, write(tmp_path, "flow_bad.csv", "\r\n".join(lines) + "\r\n"), profiles)
    assert rep.totals() == {"data_lines": 7, "loaded": 5, "duplicates": 0, "quarantined": 2}
    q = rows(con, "quarantine", "source_name, source_line, column_name, reason")
    assert q == [
        {"source_name": "flow_bad.csv", "source_line": 3, "column_name": "动账金额",
         "reason": "cannot read '60.4.5': expected an amount like 1234.50, -12.30 or (12.30)"},
        {"source_name": "flow_bad.csv", "source_line": 6, "column_name": "动账方向",
         "reason": "unknown direction '冲正': expected one of 入账, 出账"},
    ]


def test_reimport_noop_and_overlap_by_movement_id(con, profiles, tmp_path):
    assert do_import(con, FLOW, profiles).status == "loaded"
    assert do_import(con, FLOW, profiles).status == "already_loaded"
    lines = _lines()
    new = lines[7].replace("2026080509000077812390001234", "2026080609000077812390009999")
    rep = do_import(con, write(tmp_path, "flow_next.csv", "\r\n".join([lines[0]] + lines[4:] + [new]) + "\r\n"),
                    profiles)
    assert rep.totals() == {"data_lines": 5, "loaded": 1, "duplicates": 4, "quarantined": 0}
    assert rep.parts[0].amount_duplicate == "-507.56"
    assert con.execute("SELECT count(*) FROM platform_line").fetchone() == (8,)


def test_settlement_bill_skips_the_row_under_the_header(con, profiles):
    rep = do_import(con, SETTLE, profiles)
    assert rep.formats == ["douyin.settlement"]
    assert rep.totals() == {"data_lines": 3, "loaded": 3, "duplicates": 0, "quarantined": 0}
    got = rows(con, "platform_line", COLS)
    assert [(r["source_line"], r["order_no"], r["sub_order_no"], r["line_type"], str(r["amount"]),
             str(r["fee_amount"]), str(r["subsidy_amount"])) for r in got] == [
        (3, "6928126959796059454", "6928126959796059454", "sale", "144.00", "-15.80", "5.00"),
        (4, "6928130012457790320", "6928130012457790321", "sale", "63.55", "-3.10", "1.55"),
        (5, "6928130012457790320", "6928130012457790321", "refund", "-59.00", "0.00", "0.00"),
    ]
    assert {(r["channel"], r["record_kind"], r["account"]) for r in got} == {("douyin", "settlement", "聚合账户")}
    assert got[2]["raw_type"] == "结算后退款-原路退回" and got[2]["raw_desc"] == "售后退款"
    assert got[0]["raw_desc"] is None  # '-' placeholder



def test_settlement_bill_without_description_row_loses_nothing(con, profiles, tmp_path):
    lines = SETTLE.read_bytes().decode("utf-8-sig").split("\n")
    del lines[1]  # the descriptive row
    path = tmp_path / "settle_no_desc.csv"
    path.write_bytes(("\ufeff" + "\n".join(lines)).encode("utf-8"))
    rep = do_import(con, path, profiles)
    assert rep.totals() == {"data_lines": 3, "loaded": 3, "duplicates": 0, "quarantined": 0}
    assert [r["source_line"] for r in rows(con, "platform_line", "source_line")] == [2, 3, 4]
