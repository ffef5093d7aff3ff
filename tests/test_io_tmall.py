"""Tmall/Taobao settlement: the shop's Alipay 账务明细 (formats notes §3.1 variant 1).

The same bill as a plain Alipay 账务明细, told apart by content: 商户订单号 `T200P…` and a 19-digit
业务基础订单号. order_no is the bare Taobao order number the ERP keeps; line types follow how the
shop's accountant books each movement (commission and fees are expenses, withdrawals and deposits
are not revenue).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

from conftest import FIXTURES, do_import, rows, write

TMALL = FIXTURES / "tmall_fund_detail.csv"
COLS = "source_line, merchant_order_no, order_no, payout_ref, line_type, raw_type, amount, balance_after"


def proofs_of(report):
    return {p["proof"]: p["passed"] for part in report.parts for p in part.proofs}


def test_tmall_fund_detail_golden(con, profiles):
    rep = do_import(con, TMALL, profiles)
    assert rep.formats == ["tmall.fund_detail"] and rep.encoding == "gb18030"
    assert rep.parts[0].header_line == 5
    got = [tuple(r.values()) for r in rows(con, "platform_line", COLS)]
    o305, o306 = "5116032541422009305", "5116032541422009306"
    assert got == [
        (6, "T200P" + o305, o305, None, "sale", "在线支付", D("199.00"), D("1199.00")),
        # 天猫佣金 under 业务类型 交易付款: the 备注 decides; the order comes from `{…}` in 备注
        (7, None, o305, None, "commission", "交易付款", D("-9.95"), D("1189.05")),
        (8, None, o305, None, "fee", "收费", D("-1.19"), D("1187.86")),
        # 淘宝客佣金 paid to 阿里妈妈 by 转账 is still a commission, not a transfer
        (9, None, o305, None, "commission", "转账", D("-5.97"), D("1181.89")),
        (10, "T200P" + o306, o306, None, "sale", "在线支付", D("89.00"), D("1270.89")),
        (11, "T200P" + o306, o306, None, "refund", "交易退款", D("-89.00"), D("1181.89")),
        # commission given back on a refunded order: a positive commission, not a sale or refund
        (12, None, o306, None, "commission", "转账", D("4.45"), D("1186.34")),
        (13, None, None, "20260531110070001506490099887766", "payout", "提现", D("-1000.00"), D("186.34")),
        # a returned 保证金 from 天猫 is a deposit movement, not a fee credit
        (14, None, None, None, "deposit", "转账", D("1000.00"), D("1186.34")),
        (15, None, None, None, "transfer", "转账", D("50.00"), D("1236.34")),
    ]
    first = rows(con, "platform_line", "channel, record_kind, account, event_time, platform_txn_no, raw_desc",
                 "source_line = 6")[0]
    assert first == {"channel": "tmall", "record_kind": "fund", "account": "20880011223344550156",
                     "event_time": dt.datetime(2026, 5, 3, 10, 15, 22),
                     "platform_txn_no": "20260503110000001001", "raw_desc": "0010001|交易收款-交易收款"}
    assert proofs_of(rep) == {"支出合计.count": True, "支出合计.amount": True, "收入合计.count": True,
                              "收入合计.amount": True, "账户余额": True}
    period = con.execute("SELECT period_start, period_end FROM source_file").fetchone()
    assert period == (dt.datetime(2026, 5, 1), dt.datetime(2026, 6, 1))


def test_same_header_without_taobao_orders_is_plain_alipay(con, profiles, tmp_path):
    """Detection is by content: blank the T200P/19-digit order columns and it is an Alipay ledger."""
    text = TMALL.read_bytes().decode("gbk")
    for o in ("5116032541422009305", "5116032541422009306"):
        text = text.replace(f"T200P{o}\t,", "\t,").replace(f",{o}\t", ",\t")
    rep = do_import(con, write(tmp_path, "plain.csv", text, "gbk"), profiles)
    assert rep.formats == ["alipay.fund_detail"]
    assert {r["channel"] for r in rows(con, "platform_line", "channel")} == {"alipay"}


def test_tampered_balance_fails_chain(con, profiles, tmp_path):
    text = TMALL.read_bytes().decode("gbk").replace(",1181.89,交易退款", ",1181.98,交易退款")
    rep = do_import(con, write(tmp_path, "t.csv", text, "gbk"), profiles)
    res = proofs_of(rep)
    assert res["账户余额"] is False and res["收入合计.amount"] is True and res["支出合计.amount"] is True


def test_excel_resaved_order_number_falls_back_to_t200p_digits(con, profiles, tmp_path):
    """Excel turns the 19-digit 业务基础订单号 into 5.11603E+18: flagged, and order_no is taken from the
    T200P 商户订单号 (text, so intact) rather than from the damaged number."""
    text = TMALL.read_bytes().decode("gbk").replace("\t", "")
    text = text.replace(",5116032541422009305\r\n", ",5.11603E+18\r\n").replace(
        ",5116032541422009306\r\n", ",5.11603E+18\r\n")
    rep = do_import(con, write(tmp_path, "resaved.csv", text, "gbk"), profiles)
    assert rep.formats == ["tmall.fund_detail"]  # the T200P orders, still text, identify the shop
    got = rows(con, "platform_line", "source_line, order_no, id_problem", "source_line IN (6, 8, 11)")
    assert got == [
        {"source_line": 6, "order_no": "5116032541422009305", "id_problem": "业务基础订单号=5.11603E+18"},
        {"source_line": 8, "order_no": None, "id_problem": "业务基础订单号=5.11603E+18"},
        {"source_line": 11, "order_no": "5116032541422009306", "id_problem": "业务基础订单号=5.11603E+18"},
    ]


def test_reimport_is_a_noop(con, profiles):
    assert do_import(con, TMALL, profiles).totals()["loaded"] == 10
    assert do_import(con, TMALL, profiles).status == "already_loaded"
    assert con.execute("SELECT count(*) FROM platform_line").fetchone()[0] == 10
