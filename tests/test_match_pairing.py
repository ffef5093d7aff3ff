"""The trade-bill <-> fund-bill leg: each fund-bill line linked to the trade-bill line it records."""

from __future__ import annotations

from decimal import Decimal

from test_match_cash import add, con, run  # noqa: F401 (con is a fixture)


def trade(con, line_type, amount, fee=None, order="ZFB001", **kw):
    return add(con, "platform_line", channel="alipay", record_kind="trade", line_type=line_type,
               amount=Decimal(amount), fee_amount=Decimal(fee) if fee else None, order_no=order,
               movement_date=kw.pop("movement_date", __import__("datetime").date(2026, 1, 5)), **kw)


def fund(con, line_type, amount, order="ZFB001", **kw):
    return add(con, "platform_line", channel="alipay", record_kind="fund", line_type=line_type,
               amount=Decimal(amount), order_no=order,
               movement_date=kw.pop("movement_date", __import__("datetime").date(2026, 1, 5)), **kw)


def test_fund_sale_fee_and_refund_link_to_the_trade_lines(con):
    t_sale = trade(con, "sale", "299.00", fee="-1.79")
    t_refund = trade(con, "refund", "-50.00", fee="0.30")
    f_sale, f_fee = fund(con, "sale", "299.00"), fund(con, "fee", "-1.79")
    f_refund = fund(con, "refund", "-49.70")  # net of the returned fee
    res = run(con)
    for f in (f_sale, f_fee, f_refund):
        assert res[f][:2] == ("matched", "trade_fund"), res[f]
    assert "的手续费 -1.79" in res[f_fee][3]
    # the trade lines report the order leg (no ERP here), not this leg
    assert res[t_sale][1] != "trade_fund" and res[t_refund][1] != "trade_fund"


def test_fund_line_off_by_a_cent_is_not_linked(con):
    trade(con, "sale", "299.00", fee="-1.79")
    f_fee = fund(con, "fee", "-1.80")
    res = run(con)
    assert res[f_fee][0] == "unknown" and "没有同一订单、金额相同" in res[f_fee][3]


def test_two_identical_trade_candidates_go_to_review(con):
    trade(con, "refund", "-10.00")
    trade(con, "refund", "-10.00")
    f = fund(con, "refund", "-10.00")
    res = run(con)
    assert res[f][:2] == ("review", "trade_fund") and res[f][3].count("交易账单 refund -10.00") == 2


def test_fund_bill_alone_takes_the_order_leg(con):
    """Without a trade bill of the channel, the fund bill's sales are the order-leg lines themselves."""
    f = fund(con, "sale", "299.00")
    res = run(con)
    assert res[f][1] != "trade_fund" and "ERP 中没有该订单" in res[f][3]


def test_fund_fee_without_order_number_links_through_the_payment_it_records(con):
    """WeChat's 资金账单 fee rows carry no order number, only the 微信订单号 (微信支付业务单号)."""
    import datetime as dtm

    add(con, "platform_line", channel="wechatpay", record_kind="trade", line_type="sale", order_no="WX1",
        platform_txn_no="4200000008202601016937212109", amount=Decimal("29.90"), fee_amount=Decimal("-0.18"),
        movement_date=dtm.date(2026, 1, 1))
    fee = add(con, "platform_line", channel="wechatpay", record_kind="fund", line_type="fee",
              related_txn_no="4200000008202601016937212109", amount=Decimal("-0.18"),
              movement_date=dtm.date(2026, 1, 1))
    other = add(con, "platform_line", channel="wechatpay", record_kind="fund", line_type="fee",
                related_txn_no="4200000999999999999999999999", amount=Decimal("-0.18"),
                movement_date=dtm.date(2026, 1, 1))
    res = run(con)
    assert res[fee][:2] == ("matched", "trade_fund") and "的手续费 -0.18" in res[fee][3]
    assert res[other][0] == "unknown"
