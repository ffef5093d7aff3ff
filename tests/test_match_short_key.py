"""The shortened-key fallback of the default rules: merchants' own numbers (a prefix + the platform
order number's last 8 characters) go to matched when one candidate fits, to review when several do,
never to unknown."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from recon.engine import conservation, match
from recon.errors import ConfigError
from recon.rules import load_rules
from test_match_cash import add, con, january_universe  # noqa: F401 (con is a fixture)

WX = "4200002718202601156312345678"  # a WeChat Pay transaction number; the ERP keys it WX12345678


def sale(con, order, amount, day=12, channel="wechatpay", line_type="sale"):
    return add(con, "platform_line", channel=channel, record_kind="trade", line_type=line_type, order_no=order,
               amount=Decimal(amount), movement_date=dt.date(2026, 1, day))


def doc(con, order, amount, day=10, channel="wechatpay", line_type="receivable"):
    return add(con, "erp_line", channel=channel, customer="微信商城", line_type=line_type, order_no=order,
               amount=Decimal(amount), bill_date=dt.date(2026, 1, day), movement_date=dt.date(2026, 1, day))


def run(con):
    january_universe(con)
    rules = load_rules()
    match.run_passes(con, rules)
    conservation.check(con, None, {p.name: (p.tolerance, p.tolerance_relative) for p in rules.passes
                                   if p.leg in ("order", "short_key")})
    cur = con.execute("SELECT line_id, status, code, match_group, explanation FROM result ORDER BY line_id")
    return {r[0]: r[1:] for r in cur.fetchall()}


def test_one_candidate_matches_on_the_trailing_eight(con):
    p, e = sale(con, WX, "129.00"), doc(con, "WX12345678", "129.00")
    res = run(con)
    assert res[p][:2] == res[e][:2] == ("matched", "order_short_key")
    assert res[p][2] == res[e][2] and res[p][2].startswith("G")
    assert res[p][3].startswith("短号 12345678: 平台 " + WX) and "ERP WX12345678" in res[p][3]


def test_prefix_and_punctuation_do_not_count(con):
    p, e = sale(con, WX, "129.00"), doc(con, "so-1234-5678", "129.00")
    res = run(con)
    assert res[p][0] == res[e][0] == "matched"


def test_several_candidates_send_every_line_on_both_sides_to_review(con):
    """Two platform orders end in the same 8 characters; the ERP keyed both by them: no pick, four reviews."""
    other = "4200002718202601159912345678"
    p1, p2 = sale(con, WX, "59.00"), sale(con, other, "59.00", day=13)
    e1, e2 = doc(con, "WX12345678", "59.00"), doc(con, "SO12345678", "59.00", day=11)
    res = run(con)
    assert {res[x][:2] for x in (p1, p2, e1, e2)} == {("review", "order_short_key")}
    assert len({res[x][2] for x in (p1, p2, e1, e2)}) == 1  # one review group for the short key
    assert "ERP SO12345678" in res[p1][3] and "ERP WX12345678" in res[p1][3]
    assert f"平台 {WX}" in res[e1][3] and f"平台 {other}" in res[e1][3]


def test_an_ambiguous_pair_sends_its_one_to_one_side_to_review_too(con):
    """p1 has one candidate (e1), but e1 has two (p1, p2): p1 is not clean either."""
    p1, p2 = sale(con, WX, "59.00"), sale(con, "4200002718202601159912345678", "59.00", day=13)
    e1 = doc(con, "WX12345678", "59.00")
    res = run(con)
    assert {res[x][0] for x in (p1, p2, e1)} == {"review"}


@pytest.mark.parametrize("amount,day,channel", [("129.01", 10, "wechatpay"),  # amounts differ by a cent
                                                ("129.00", 5, "wechatpay"),   # platform 5 days before the ERP
                                                ("129.00", 10, "alipay")])    # another channel
def test_outside_amount_window_or_channel_stays_unknown(con, amount, day, channel):
    p = sale(con, WX, amount, day=day + 2 if day == 10 else day, channel=channel)
    e = doc(con, "WX12345678", "129.00", day=10)
    res = run(con)
    assert res[p][0] == res[e][0] == "unknown"


def test_an_order_the_exact_pass_saw_on_both_sides_is_not_re_paired(con):
    """Sale 100 + refund −20 vs one receivable of 100: the order's difference stays one unknown group,
    the fallback does not pick the sale out of it."""
    s, r = sale(con, WX, "100.00"), sale(con, WX, "-20.00", line_type="refund", day=14)
    e = doc(con, WX, "100.00")
    res = run(con)
    assert res[s][0] == res[r][0] == res[e][0] == "unknown" and res[s][2] == res[e][2]


def test_key_length_is_validated(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text("version: 1\npasses:\n  - name: s\n    leg: short_key\n    platform_line_types: [sale]\n"
                    "    erp_line_types: [receivable]\n    key_length: 2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="key_length must be a whole number from 4 to 64"):
        load_rules(path)
