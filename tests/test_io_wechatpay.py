"""WeChat Pay merchant bills: 交易账单 (ALL / SUCCESS / REFUND and the legacy 24-column layout) and
资金账单 (formats notes §2.1, §2.2).

Real bills: UTF-8 (often with a BOM), CRLF, no preamble, every data cell and summary value prefixed
with a backtick while the header and summary title are not, a summary block at the end, 5-decimal
手续费, `0 placeholders in the refund-number columns of payment rows; optionally gzip-compressed.
"""

from __future__ import annotations

import datetime as dt
import gzip
from decimal import Decimal as D

import pytest

from conftest import FIXTURES, do_import, rows, write

ALL = FIXTURES / "wechatpay_trade_all.csv"
FUND = FIXTURES / "wechatpay_fund_bill.csv"
APP, MCH = "wx1a2b3c4d5e6f7a8b", "1900000109"
COLS = ("source_line, account, event_time, platform_txn_no, order_no, refund_no, merchant_refund_no, "
        "line_type, amount, fee_amount, fee_precise, gross_amount, status")


def bt(*cells):
    return ",".join("`" + c for c in cells)


def bill(*lines, bom=True):
    return (b"\xef\xbb\xbf" if bom else b"") + ("\r\n".join(lines) + "\r\n").encode("utf-8")


def golden(con, cols=COLS, where="TRUE"):
    return [tuple(r.values()) for r in rows(con, "platform_line", cols, where)]


def proofs_of(report):
    return {p["proof"]: p["passed"] for part in report.parts for p in part.proofs}


ALL_GOLDEN = [
    (2, MCH, dt.datetime(2026, 1, 5, 10, 0, 1), "4200000925202601051234567890", "M20260105001", None, None,
     "sale", D("100.00"), D("-0.60"), D("-0.60000"), D("100.00"), "SUCCESS"),
    # 0.35940 rounds HALF_UP to 0.36; the precise fee is kept beside it
    (3, MCH, dt.datetime(2026, 1, 5, 11, 20, 33), "4200000925202601051234567891", "M20260105002", None, None,
     "sale", D("59.90"), D("-0.36"), D("-0.35940"), D("59.90"), "SUCCESS"),
    (4, MCH, dt.datetime(2026, 1, 5, 12, 0), "4200000925202601051234567892", "M20260105003", None, None,
     "sale", D("0.99"), D("-0.01"), D("-0.00594"), D("0.99"), "SUCCESS"),
    (5, MCH, dt.datetime(2026, 1, 5, 13, 14, 15), "4200000925202601051234567893", "M20260105004", None, None,
     "sale", D("1.00"), D("-0.01"), D("-0.00600"), D("1.00"), "SUCCESS"),
    # REFUND row: 应结订单金额 0.00, money back to the buyer = −退款金额, the refunded fee comes back (+)
    (6, MCH, dt.datetime(2026, 1, 3, 9, 0), "4200000925202601031234500001", "M20260103009",
     "50300807172026010506006664916", "R20260105001", "refund", D("-20.00"), D("0.12"), D("0.12000"),
     D("-20.00"), "SUCCESS"),
]


def test_trade_bill_all_golden(con, profiles):
    rep = do_import(con, ALL, profiles)
    assert rep.formats == ["wechatpay.trade_bill"] and rep.encoding == "utf-8-sig"
    assert golden(con) == ALL_GOLDEN
    assert {r["channel"] for r in rows(con, "platform_line", "channel")} == {"wechatpay"}
    assert proofs_of(rep) == {"汇总.总交易单数": True, "汇总.应结订单总金额": True, "汇总.退款总金额": True,
                              "汇总.手续费总金额": True, "汇总.订单总金额": True}
    # the summary block is footer, not data
    assert rep.totals()["data_lines"] == 5
    assert con.execute("SELECT footer FROM source_part").fetchone()[0][0].startswith("总交易单数,")


def test_fee_summary_needs_the_five_decimal_fee(con, profiles, tmp_path):
    """手续费总金额 0.85134 is provable only from fee_precise: the rounded fees sum to 0.86."""
    assert sum(r[9] for r in ALL_GOLDEN) == D("-0.86")
    text = ALL.read_bytes().replace(b"`0.85134", b"`0.86000")
    rep = do_import(con, write(tmp_path, "tampered.csv", text), profiles)
    res = proofs_of(rep)
    assert res["汇总.手续费总金额"] is False and res["汇总.应结订单总金额"] is True
    assert con.execute("SELECT expected, actual FROM control_proof WHERE proof = '汇总.手续费总金额'"
                       ).fetchone() == ("0.86000", "0.85134")


def test_missing_summary_block_fails_proof(con, profiles, tmp_path):
    text = b"\r\n".join(ALL.read_bytes().split(b"\r\n")[:6]) + b"\r\n"
    rep = do_import(con, write(tmp_path, "cut.csv", text), profiles)
    assert rep.totals()["loaded"] == 5 and proofs_of(rep) == {"汇总": False}


def test_trade_bill_gzip_container(con, profiles, tmp_path):
    path = write(tmp_path, "1900000109_20260105_ALL.gzip", gzip.compress(ALL.read_bytes()))
    rep = do_import(con, path, profiles)
    assert rep.container == "gzip" and rep.formats == ["wechatpay.trade_bill"]
    assert golden(con) == ALL_GOLDEN and all(proofs_of(rep).values())


SUCCESS_HEADER = ("交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,"
                  "货币种类,应结订单金额,代金券金额,商品名称,商户数据包,手续费,费率,订单金额,费率备注")
SUMMARY = "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"


def test_trade_bill_success_layout(con, profiles, tmp_path):
    data = bill(
        SUCCESS_HEADER,
        bt("2026-01-06 08:01:02", APP, MCH, "0", "", "4200000925202601061234567001", "M20260106001", "oUpF8uA",
           "JSAPI", "SUCCESS", "CFT", "CNY", "48.00", "2.00", "围巾", "", "0.30000", "0.60%", "50.00", ""),
        bt("2026-01-06 09:30:00", APP, MCH, "0", "WEB", "4200000925202601061234567002", "M20260106002",
           "oUpF8uB", "NATIVE", "SUCCESS", "OTHERS", "CNY", "12.00", "0.00", "手套", "attach", "0.07200", "0.60%",
           "12.00", ""),
        SUMMARY,
        bt("2", "60.00", "0.00", "0.00", "0.37200", "62.00", "0.00"),
    )
    rep = do_import(con, write(tmp_path, "success.csv", data), profiles)
    assert rep.formats == ["wechatpay.trade_bill"]
    assert golden(con, "source_line, line_type, amount, gross_amount, subsidy_amount, fee_amount, refund_no") == [
        (2, "sale", D("48.00"), D("50.00"), D("2.00"), D("-0.30"), None),
        (3, "sale", D("12.00"), D("12.00"), D("0.00"), D("-0.07"), None),
    ]
    assert all(proofs_of(rep).values()) and len(proofs_of(rep)) == 5


REFUND_HEADER = ("交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,"
                 "货币种类,应结订单金额,代金券金额,退款申请时间,退款成功时间,微信退款单号,商户退款单号,退款金额,充值券退款金额,"
                 "退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注")


def test_trade_bill_refund_layout_uses_refund_success_time(con, profiles, tmp_path):
    data = bill(
        REFUND_HEADER,
        bt("2026-01-24 20:53:36", APP, MCH, "0", "", "4200000925202601241234567011", "M20260124011", "oUpF8uC",
           "JSAPI", "REFUND", "CFT", "CNY", "0.00", "0.00", "2026-02-01 10:00:00", "2026-02-01 10:00:04",
           "50300807172026020106006664901", "R20260201001", "30.00", "0.00", "ORIGINAL", "SUCCESS", "外套", "",
           "-0.18000", "0.60%", "0.00", "30.00", ""),
        bt("2026-01-30 11:00:00", APP, MCH, "0", "", "4200000925202601301234567012", "M20260130012", "oUpF8uD",
           "APP", "REFUND", "OTHERS", "CNY", "0.00", "0.00", "2026-02-01 12:00:00", "",
           "50300807172026020106006664902", "R20260201002", "5.50", "0.00", "BALANCE", "PROCESSING", "帽子", "",
           "0.00000", "0.60%", "0.00", "5.50", ""),
        SUMMARY,
        bt("2", "0.00", "35.50", "0.00", "-0.18000", "0.00", "35.50"),
    )
    rep = do_import(con, write(tmp_path, "refund.csv", data), profiles)
    assert rep.formats == ["wechatpay.trade_bill"]
    assert golden(con, "source_line, event_time, order_time, refund_no, line_type, amount, fee_amount, status") == [
        (2, dt.datetime(2026, 2, 1, 10, 0, 4), dt.datetime(2026, 1, 24, 20, 53, 36),
         "50300807172026020106006664901", "refund", D("-30.00"), D("0.18"), "SUCCESS"),
        # not yet successful: no 退款成功时间, so the bill's own 交易时间 is kept
        (3, dt.datetime(2026, 1, 30, 11, 0), dt.datetime(2026, 1, 30, 11, 0),
         "50300807172026020106006664902", "refund", D("-5.50"), D("0.00"), "PROCESSING"),
    ]
    assert all(proofs_of(rep).values())


LEGACY_HEADER = ("交易时间,公众账号ID,商户号,子商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,"
                 "总金额,代金券或立减优惠金额,微信退款单号,商户退款单号,退款金额,代金券或立减优惠退款金额,退款类型,退款状态,"
                 "商品名称,商户数据包,手续费,费率")


def test_trade_bill_legacy_24_columns(con, profiles, tmp_path):
    data = bill(
        LEGACY_HEADER,
        # the official doc sample writes full-width colons in times
        bt("2014-11-10 16：33：45", APP, "10000100", "0", "1000", "1001690740201411100005734289",
           "1415640626", "onqOjjqSOhmpHdM-8X9D6sRIjYzU", "NATIVE", "SUCCESS", "CFT", "CNY", "0.01", "0.0", "0",
           "0", "0", "0", "", "", "被充值用户", "", "0.00000", "0.60%"),
        bt("2014-11-10 16：33：45", APP, "10000100", "0", "1000", "1001690740201411100005734289", "1415640626",
           "onqOjjqSOhmpHdM-8X9D6sRIjYzU", "NATIVE", "REFUND", "CFT", "CNY", "0", "0.0",
           "2001690740201411100005734278", "1415701182", "0.01", "0.0", "ORIGINAL", "SUCCESS", "被充值用户", "",
           "0.00000", "0.60%"),
        "总交易单数,总交易额,总退款金额,总代金券或立减优惠退款金额,手续费总金额",
        bt("2", "0.01", "0.01", "0.0", "0.00000"),
        bom=False,
    )
    rep = do_import(con, write(tmp_path, "legacy.csv", data), profiles)
    assert rep.formats == ["wechatpay.trade_bill_legacy"] and rep.encoding == "utf-8"
    assert golden(con, "source_line, account, event_time, platform_txn_no, refund_no, line_type, amount") == [
        (2, "10000100", dt.datetime(2014, 11, 10, 16, 33, 45), "1001690740201411100005734289", None, "sale",
         D("0.01")),
        (3, "10000100", dt.datetime(2014, 11, 10, 16, 33, 45), "1001690740201411100005734289",
         "2001690740201411100005734278", "refund", D("-0.01")),
    ]
    assert proofs_of(rep) == {"汇总.总交易单数": True, "汇总.总交易额": True, "汇总.总退款金额": True,
                              "汇总.手续费总金额": True}


def test_bad_amount_quarantined_with_column_and_line(con, profiles, tmp_path):
    text = ALL.read_bytes().replace(b"`59.90,`0.00,`0,`0", b"`59.9O,`0.00,`0,`0")
    rep = do_import(con, write(tmp_path, "bad.csv", text), profiles)
    assert rep.totals() == {"data_lines": 5, "loaded": 4, "duplicates": 0, "quarantined": 1}
    q = rows(con, "quarantine", "source_name, source_line, column_name, reason")
    assert [(r["source_name"], r["source_line"], r["column_name"]) for r in q] == [("bad.csv", 3, "应结订单金额")]
    assert "59.9O" in q[0]["reason"]
    assert [r[0] for r in golden(con)] == [2, 4, 5, 6]
    assert proofs_of(rep)["汇总.总交易单数"] is False


def test_reimport_noop_and_overlapping_bill(con, profiles, tmp_path):
    do_import(con, ALL, profiles)
    assert do_import(con, ALL, profiles).status == "already_loaded"
    lines = ALL.read_bytes().decode("utf-8-sig").split("\r\n")
    new = bt("2026-01-05 23:59:00", APP, MCH, "0", "", "4200000925202601051234567899", "M20260105099", "oUpF8uE",
             "JSAPI", "SUCCESS", "CFT", "CNY", "10.00", "0.00", "0", "0", "0.00", "0.00", "", "", "袜子", "",
             "0.06000", "0.60%", "10.00", "0.00", "")
    # a re-download holding the refund row again and one new payment
    text = bill(lines[0], lines[5], new, SUMMARY, bt("2", "10.00", "20.00", "0.00", "-0.06000", "10.00", "20.00"))
    rep = do_import(con, write(tmp_path, "again.csv", text), profiles)
    assert (rep.totals()["loaded"], rep.totals()["duplicates"]) == (1, 1)
    assert rep.parts[0].amount_duplicate == "-20.00" and all(proofs_of(rep).values())
    assert con.execute("SELECT count(*) FROM platform_line").fetchone()[0] == 6


# ---------------------------------------------------------------- normalisation

def test_no_bom_lf_and_blank_trailing_lines(con, profiles, tmp_path):
    text = ALL.read_bytes()[3:].replace(b"\r\n", b"\n") + b"\n\n"
    rep = do_import(con, write(tmp_path, "lf.csv", text), profiles)
    assert rep.encoding == "utf-8" and golden(con) == ALL_GOLDEN and all(proofs_of(rep).values())


def test_header_moved_down_one_row(con, profiles, tmp_path):
    text = "\ufeff微信支付交易账单明细\r\n".encode() + ALL.read_bytes()[3:]  # a title line above the header
    rep = do_import(con, write(tmp_path, "moved.csv", text), profiles)
    assert rep.parts[0].header_line == 2
    assert [r[1:] for r in golden(con)] == [r[1:] for r in ALL_GOLDEN]
    assert [r[0] for r in golden(con)] == [3, 4, 5, 6, 7]


def test_excel_resaved_bill_ids_flagged_never_guessed(con, profiles, tmp_path):
    """Excel drops the backticks, shows 28/29-digit ids as 4.20001E+27 and the times without seconds."""
    text = ALL.read_bytes().decode("utf-8-sig").replace("`", "")
    for txn in ("4200000925202601051234567890", "4200000925202601051234567891", "4200000925202601051234567892",
                "4200000925202601051234567893", "4200000925202601031234500001"):
        text = text.replace(txn, "4.20001E+27")
    text = text.replace("50300807172026010506006664916", "5.03008E+28")
    text = text.replace("2026-01-05 10:00:01", "2026/1/5 10:00").replace(",0.60000,", ",0.6,")
    rep = do_import(con, write(tmp_path, "resaved.csv", text, "gbk"), profiles)
    assert rep.formats == ["wechatpay.trade_bill"] and rep.totals()["quarantined"] == 0
    got = rows(con, "platform_line", "platform_txn_no, refund_no, order_no, id_problem, event_time, fee_amount")
    assert all(r["platform_txn_no"] is None and r["refund_no"] is None for r in got)
    # the refund row's 微信退款单号 (taken inside a cases: spec) is damaged too and named as well
    assert [r["id_problem"] for r in got] == ["微信订单号=4.20001E+27"] * 4 + [
        "微信订单号=4.20001E+27; 微信退款单号=5.03008E+28"]
    assert [r["order_no"] for r in got] == ["M20260105001", "M20260105002", "M20260105003", "M20260105004",
                                            "M20260103009"]
    assert got[0]["event_time"] == dt.datetime(2026, 1, 5, 10, 0) and got[0]["fee_amount"] == D("-0.60")


# ---------------------------------------------------------------- 资金账单

FUND_GOLDEN = [
    (2, "1900000109202601051234567801", "M20260105001", None, None, "sale", "交易", D("100.00"), D("200.00")),
    (3, "1900000109202601051234567802", None, None, None, "fee", "扣除交易手续费", D("-0.60"), D("199.40")),
    (4, "1900000109202601051234567803", None, "50300807172026010506006664916", None, "refund", "退款",
     D("-19.88"), D("179.52")),
    (5, "1900000109202601051234567804", None, None, "1900000109202601050000012345", "payout", "提现",
     D("-150.00"), D("29.52")),
    (6, "1900000109202601051234567805", "M20260105006", None, None, "sale", "交易", D("59.90"), D("89.42")),
]
FUND_COLS = "source_line, platform_txn_no, order_no, refund_no, payout_ref, line_type, raw_type, amount, balance_after"


def test_fund_bill_golden_full_width_header(con, profiles):
    rep = do_import(con, FUND, profiles)
    assert rep.formats == ["wechatpay.fund_bill"]
    assert golden(con, FUND_COLS) == FUND_GOLDEN
    first = rows(con, "platform_line", "channel, record_kind, event_time, counterparty", "source_line = 2")[0]
    assert first == {"channel": "wechatpay", "record_kind": "fund",
                     "event_time": dt.datetime(2026, 1, 5, 10, 0, 3), "counterparty": "system"}
    # counts are written as floats (`5.0`) and compared as decimals
    assert proofs_of(rep) == {"汇总.资金流水总笔数": True, "汇总.收入笔数": True, "汇总.收入金额": True,
                              "汇总.支出笔数": True, "汇总.支出金额": True, "账户结余": True}


def test_fund_bill_half_width_header_and_integer_counts(con, profiles, tmp_path):
    text = FUND.read_bytes().decode("utf-8-sig")
    text = text.replace("收支金额（元）", "收支金额(元)").replace("账户结余（元）", "账户结余(元)")
    text = text.replace("`5.0,`2.0,`159.90,`3.0,`170.48", "`5,`2,`159.90,`3,`170.48")
    rep = do_import(con, write(tmp_path, "v3.csv", text), profiles)
    assert rep.formats == ["wechatpay.fund_bill"] and rep.encoding == "utf-8"
    assert golden(con, FUND_COLS) == FUND_GOLDEN and all(proofs_of(rep).values())


def test_fund_bill_tampered_direction_fails_summary_and_chain(con, profiles, tmp_path):
    text = FUND.read_bytes().replace("`提现,`支出,".encode(), "`提现,`收入,".encode())
    rep = do_import(con, write(tmp_path, "t.csv", text), profiles)
    res = proofs_of(rep)
    assert res["账户结余"] is False and res["汇总.支出笔数"] is False and res["汇总.资金流水总笔数"] is True


def test_fund_bill_unknown_direction_quarantined(con, profiles, tmp_path):
    text = FUND.read_bytes().replace("`提现,`支出,".encode(), "`提现,`冻结,".encode())
    rep = do_import(con, write(tmp_path, "u.csv", text), profiles)
    q = rows(con, "quarantine", "source_line, column_name, reason")
    assert [(r["source_line"], r["column_name"]) for r in q] == [(5, "收支类型")]
    assert "冻结" in q[0]["reason"] and rep.totals()["loaded"] == 4


@pytest.mark.parametrize("path, fmt", [(ALL, "wechatpay.trade_bill"), (FUND, "wechatpay.fund_bill")])
def test_detected_among_all_builtin_profiles(con, profiles, path, fmt):
    rep = do_import(con, path, profiles)
    assert rep.formats == [fmt] and rep.totals()["quarantined"] == 0
