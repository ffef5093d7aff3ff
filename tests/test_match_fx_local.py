"""A foreign-currency ERP document against a CNY settlement: compared in local currency, never across currencies.

A cross-border order (Tmall Global) settles in CNY while the ERP books the receivable in USD at a booked
rate: the order leg compares the platform's yuan with the document's 本位币 amount (or amount × rate),
and says so; without either, the group is never matched and never given a "difference".
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

import test_match_short_key as short_key_test
from recon.labels import parse
from test_match_cash import add, con  # noqa: F401 (con is a fixture)
from test_match_order import receivable, run_with, sale


def findings(con, line_id):
    return parse(con.execute("SELECT finding FROM result WHERE line_id = ?", [line_id]).fetchone()[0])


@pytest.mark.parametrize("local", [{"amount_local": Decimal("620.14")}, {"exchange_rate": Decimal("7.1775")}])
def test_usd_receivable_matches_a_cny_settlement_by_its_local_amount(con, tmp_path, local):
    p = sale(con, "3121045568812093471", "620.14", currency="CNY")
    e = receivable(con, "3121045568812093471", "86.40", currency="USD", **local)
    res = run_with(con, tmp_path)
    assert res[p][:2] == res[e][:2] == ("matched", "p")
    assert "ERP 本位币 620.14 (USD 86.40)" in res[e][2]
    assert findings(con, e) == [("BALANCED", {})]


def test_local_difference_is_stated_in_cny_with_the_erp_currency(con, tmp_path):
    p = sale(con, "3121045568812093471", "620.14", currency="CNY")
    e = receivable(con, "3121045568812093471", "86.40", currency="USD", exchange_rate=Decimal("7.1860"),
                   amount_local=Decimal("620.87"))
    res = run_with(con, tmp_path)
    assert res[p][0] == res[e][0] == "unknown"
    assert findings(con, p) == [("LOCAL_AMOUNT_DIFFERS", {"diff": "-0.73", "erp": "620.87", "erp_currency": "USD",
                                                           "erp_foreign": "86.40", "order": "3121045568812093471",
                                                           "platform": "620.14"})]


def test_no_local_amount_and_no_rate_is_never_a_difference(con, tmp_path):
    """533.74 (620.14 yuan less 86.40 dollars) is no difference: the sides are not compared at all."""
    p = sale(con, "3121045568812093471", "620.14", currency="CNY")
    e = receivable(con, "3121045568812093471", "620.14", currency="USD")
    res = run_with(con, tmp_path)
    assert res[p][0] == res[e][0] == "unknown"  # equal figures in two currencies are not a match either
    (code, params), = findings(con, e)
    assert code == "CURRENCY_MISMATCH" and params["erp_currency"] == "USD" and "diff" not in params
    assert "差额" not in res[e][2] and "无法比较" in res[e][2]


def test_same_currency_on_both_sides_compares_amounts_as_before(con, tmp_path):
    p = sale(con, "PI20260113-428", "8640.00", currency="USD")
    e = receivable(con, "PI20260113-428", "8640.00", currency="USD", exchange_rate=Decimal("7.1733"),
                   amount_local=Decimal("61977.31"))
    res = run_with(con, tmp_path)
    assert res[p][0] == res[e][0] == "matched" and "本位币" not in res[e][2]


@pytest.mark.parametrize("local,status", [(Decimal("129.00"), "matched"), (None, "unknown")])
def test_the_short_key_pass_compares_in_one_currency_too(con, local, status):
    """A USD document keyed by the seller's short number: its local amount meets the CNY payment; without one,
    the equal figure 129.00 in dollars is no candidate."""
    p = add(con, "platform_line", channel="wechatpay", record_kind="trade", line_type="sale", currency="CNY",
            order_no=short_key_test.WX, amount=Decimal("129.00"), movement_date=dt.date(2026, 1, 12))
    e = add(con, "erp_line", channel="wechatpay", customer="微信商城", line_type="receivable", order_no="WX12345678",
            currency="USD", amount=Decimal("129.00") if local is None else Decimal("17.97"), amount_local=local,
            bill_date=dt.date(2026, 1, 10), movement_date=dt.date(2026, 1, 10))
    res = short_key_test.run(con)
    assert res[p][0] == res[e][0] == status
