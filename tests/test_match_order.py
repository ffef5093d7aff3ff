"""The order leg: tolerances at their edges, one-to-many groups, and ambiguous shortened keys."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from recon.engine import conservation, match
from recon.rules import load_rules
from test_match_cash import add, con, january_universe  # noqa: F401 (con is a fixture)

D1 = dt.date(2026, 1, 5)


def sale(con, order, amount, **kw):
    return add(con, "platform_line", channel="jd", record_kind="settlement", line_type=kw.pop("line_type", "sale"),
               order_no=order, amount=Decimal(amount), movement_date=kw.pop("day", D1), **kw)


def receivable(con, order, amount, **kw):
    return add(con, "erp_line", line_type=kw.pop("line_type", "receivable"), order_no=order, amount=Decimal(amount),
               bill_date=kw.get("day", D1), movement_date=kw.pop("day", D1), **kw)


def run_with(con, tmp_path, extra: str = "", key: str = "order_no"):
    path = tmp_path / "rules.yaml"
    path.write_text("version: 1\npasses:\n  - name: p\n    leg: order\n    platform_line_types: [sale, refund]\n"
                    f"    erp_line_types: [receivable, credit_note]\n    key: {key}\n{extra}", encoding="utf-8")
    rules = load_rules(path)
    january_universe(con)
    match.run_passes(con, rules)
    conservation.check(con, None, {p.name: (p.tolerance, p.tolerance_relative) for p in rules.passes})
    return {r[0]: r[1:] for r in con.execute("SELECT line_id, status, code, explanation FROM result").fetchall()}


@pytest.mark.parametrize("erp,status", [("100.00", "matched"), ("99.99", "unknown"), ("100.01", "unknown")])
def test_zero_tolerance_by_default(con, tmp_path, erp, status):
    p, e = sale(con, "A", "100.00"), receivable(con, "A", erp)
    res = run_with(con, tmp_path)
    assert res[p][0] == res[e][0] == status


@pytest.mark.parametrize("erp,status", [("99.99", "matched"), ("100.01", "matched"), ("99.98", "unknown")])
def test_absolute_tolerance_exactly_at_and_one_cent_over(con, tmp_path, erp, status):
    p, e = sale(con, "A", "100.00"), receivable(con, "A", erp)
    res = run_with(con, tmp_path, '    tolerance: "0.01"\n')
    assert res[p][0] == res[e][0] == status
    if status == "matched" and erp != "100.00":
        assert "在容差内 (0.01)" in res[p][2] and "差额" in res[p][2]


@pytest.mark.parametrize("erp,status", [("10000.00", "matched"), ("9991.00", "matched"), ("10010.00", "matched"),
                                        ("9990.00", "unknown"), ("9989.00", "unknown")])
def test_relative_tolerance(con, tmp_path, erp, status):
    """0.1% of the ERP amount: 9.00 off 9991.00 (allowed 9.991) and 10.00 off 10010.00 (allowed 10.01) match;
    10.00 off 9990.00 (allowed 9.99) does not."""
    p, e = sale(con, "A", "10000.00"), receivable(con, "A", erp)
    res = run_with(con, tmp_path, '    tolerance_relative: "0.001"\n')
    assert res[p][0] == res[e][0] == status


def test_presale_deposit_and_balance_against_one_erp_order(con, tmp_path):
    dep, bal = sale(con, "A", "50.00"), sale(con, "A", "149.00")
    e = receivable(con, "A", "199.00")
    res = run_with(con, tmp_path)
    assert {res[x][0] for x in (dep, bal, e)} == {"matched"}


def test_split_shipments_against_one_platform_payment(con, tmp_path):
    p = sale(con, "A", "300.00")
    e1, e2 = receivable(con, "A", "120.00"), receivable(con, "A", "180.00")
    res = run_with(con, tmp_path)
    assert {res[x][0] for x in (p, e1, e2)} == {"matched"}


def test_shortened_key_with_several_candidates_goes_to_review(con, tmp_path):
    p = sale(con, "4200000123456789012345678", "59.00")
    e1 = receivable(con, "9912345678", "59.00")
    e2 = receivable(con, "12345678", "59.00")
    res = run_with(con, tmp_path, key="right(order_no, 8)")
    assert {res[x][0] for x in (p, e1, e2)} == {"review"}
    assert "ERP 12345678, ERP 9912345678" in res[p][2] and "平台 4200000123456789012345678" in res[p][2]


def test_shortened_key_with_one_candidate_matches(con, tmp_path):
    p = sale(con, "4200000123456789012345678", "59.00")
    e = receivable(con, "12345678", "59.00")
    res = run_with(con, tmp_path, key="right(order_no, 8)")
    assert res[p][0] == res[e][0] == "matched"


def test_group_across_periods_is_never_plain_matched(con, tmp_path):
    p = sale(con, "A", "100.00", day=dt.date(2026, 1, 30))
    e = receivable(con, "A", "100.00", day=dt.date(2026, 2, 2))
    res = run_with(con, tmp_path, '    tolerance: "0.01"\n')
    assert res[p][0] == res[e][0] == "unknown" and "2026-02-02" in res[p][2]


def test_a_refund_booked_next_period_leaves_the_balanced_sale_matched(con, tmp_path):
    """Sale 178 ↔ receivable 178 in January; refund −83.66 on 31 January, its credit note on 3 February:
    the sale part is matched on its own, the refund ↔ credit-note pair stays open together."""
    s, e = sale(con, "A", "178.00", day=dt.date(2026, 1, 27)), receivable(con, "A", "178.00", day=dt.date(2026, 1, 26))
    r = sale(con, "A", "-83.66", line_type="refund", day=dt.date(2026, 1, 31))
    cn = receivable(con, "A", "-83.66", line_type="credit_note", day=dt.date(2026, 2, 3))
    res = run_with(con, tmp_path)
    assert res[s][:2] == res[e][:2] == ("matched", "p") and "退款与红字应收单跨期" in res[s][2]
    assert res[r][0] == res[cn][0] == "unknown" and "2026-02-03" in res[r][2]
    assert "平台 -83.66 vs ERP -83.66" in res[cn][2]  # the open pair, grouped alone


def test_an_unbalanced_sale_part_keeps_the_whole_order_open(con, tmp_path):
    s, e = sale(con, "A", "178.00", day=dt.date(2026, 1, 27)), receivable(con, "A", "177.00", day=dt.date(2026, 1, 26))
    r = sale(con, "A", "-83.66", line_type="refund", day=dt.date(2026, 1, 31))
    receivable(con, "A", "-83.66", line_type="credit_note", day=dt.date(2026, 2, 3))
    res = run_with(con, tmp_path)
    assert res[s][0] == res[e][0] == res[r][0] == "unknown"
