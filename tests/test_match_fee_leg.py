"""The fee leg: a channel's fees of the period against the ERP's monthly fee documents."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from recon.engine import conservation, fees, match
from recon.rules import load_fees, load_rules
from test_match_cash import add, con, january_universe  # noqa: F401 (con is a fixture)

D1 = dt.date(2026, 1, 9)


def run(con):
    january_universe(con)
    fees.compute(con, load_fees())
    match.run_passes(con, load_rules())
    fees.annotate(con, load_fees())
    conservation.check(con)
    return {r[0]: r[1:] for r in con.execute("SELECT line_id, status, code, explanation FROM result").fetchall()}


def pdd(con, order, sale, fee):
    add(con, "platform_line", channel="pdd", record_kind="fund", line_type="sale", order_no=order,
        amount=Decimal(sale), movement_date=D1)
    return add(con, "platform_line", channel="pdd", record_kind="fund", line_type="fee", raw_type="技术服务费",
               order_no=order, amount=Decimal(fee), movement_date=D1)


def fee_doc(con, channel, amount):
    return add(con, "erp_line", line_type="other_receivable", channel=channel, amount=Decimal(amount),
               movement_date=dt.date(2026, 1, 31), summary=f"平台费用 2026-01 {channel}")


def test_monthly_fee_document_matches_the_channels_fee_lines(con):
    f1, f2 = pdd(con, "A", "59.90", "-0.36"), pdd(con, "B", "128.00", "-0.77")
    doc = fee_doc(con, "pdd", "-1.13")
    res = run(con)
    assert {res[x][:2] for x in (f1, f2, doc)} == {("matched", "fees_monthly")}
    assert "pdd 当期平台费用 -1.13 (2 费用行, 0 行的手续费列) = ERP 费用单 -1.13 (1 张)" in res[doc][2]


def test_a_fee_missing_from_the_erp_document_leaves_everything_open(con):
    f1, f2 = pdd(con, "A", "59.90", "-0.36"), pdd(con, "B", "128.00", "-0.77")
    doc = fee_doc(con, "pdd", "-0.77")
    res = run(con)
    assert res[doc][0] == "unknown" and "差 0.36" in res[doc][2]
    assert res[f1][0] == res[f2][0] == "unknown", "no subset of fees is searched for to make the sums meet"


def test_fee_columns_of_sale_lines_count_for_the_channel(con):
    add(con, "platform_line", channel="wechatpay", record_kind="trade", line_type="sale", order_no="W1",
        amount=Decimal("100.00"), fee_amount=Decimal("-0.60"), movement_date=D1)
    add(con, "platform_line", channel="wechatpay", record_kind="trade", line_type="refund", order_no="W1",
        amount=Decimal("-50.00"), fee_amount=Decimal("0.30"), movement_date=D1)
    doc = fee_doc(con, "wechatpay", "-0.30")
    res = run(con)
    assert res[doc][:2] == ("matched", "fees_monthly") and "(0 费用行, 2 行的手续费列)" in res[doc][2]


def test_a_fee_off_its_contract_stays_open_inside_a_balanced_month(con):
    ok = pdd(con, "A", "128.00", "-0.77")
    off = pdd(con, "B", "59.00", "-0.36")  # contract: round(59.00 * 0.006, 2) = 0.35
    doc = fee_doc(con, "pdd", "-1.13")
    res = run(con)
    assert res[ok][:2] == res[doc][:2] == ("matched", "fees_monthly")
    assert res[off][0] == "unknown" and "应为 0.35, 实收 0.36" in res[off][2]
