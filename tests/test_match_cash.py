"""The cash leg: payouts and settlement batches against bank credits (one-to-one, many-to-one, review)."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import pytest

from recon import store
from recon.engine import conservation, match
from recon.rules import load_rules

from conftest import kept_record

_ids = itertools.count(1)


def add(con, table, source_line=None, **fields):
    """Insert one canonical line with provenance defaults (file F-<table>, next line number, no raw cells)."""
    n = next(_ids)
    row = {"line_id": n, "source_format": "test", "source_name": f"{table}.csv",
           "source_line": source_line or n, "natural_key": f"k{n}", "occurrence": 1, **kept_record(con, table)}
    row.update(fields)
    cols = ", ".join(row)
    con.execute(f"INSERT INTO {table} ({cols}) VALUES ({', '.join('?' for _ in row)})", list(row.values()))
    return row["line_id"]


def payout(con, amount, day, **kw):
    return add(con, "platform_line", channel=kw.pop("channel", "alipay"), line_type="payout", amount=Decimal(amount),
               movement_date=dt.date(2026, 1, day), event_time=dt.datetime(2026, 1, day, 9), **kw)


def credit(con, amount, day, **kw):
    return add(con, "bank_line", line_type="bank_credit", amount=Decimal(amount), booking_date=dt.date(2026, 1, day),
               movement_date=dt.date(2026, 1, day), **kw)


def january_universe(con):
    """Every file of the store is a file of this run; the universe of January 2026."""
    con.execute("CREATE OR REPLACE TEMP TABLE run_files (file_id BIGINT, rel_path VARCHAR, sha256 VARCHAR)")
    con.execute("INSERT INTO run_files SELECT DISTINCT file_id, source_name, NULL FROM platform_line "
                "UNION SELECT DISTINCT file_id, source_name, NULL FROM bank_line "
                "UNION SELECT DISTINCT file_id, source_name, NULL FROM erp_line")
    match.build_universe(con, dt.date(2026, 1, 1), dt.date(2026, 2, 1), [])


def run(con):
    january_universe(con)
    match.run_passes(con, load_rules())
    conservation.check(con)
    cur = con.execute("SELECT line_id, status, code, match_group, explanation FROM result ORDER BY line_id")
    return {r[0]: r[1:] for r in cur.fetchall()}


@pytest.fixture
def con():
    c = store.connect(":memory:")
    yield c
    c.close()


def test_payout_matches_the_bank_credit_inside_the_window(con):
    p = payout(con, "-5646.92", 7)
    b = credit(con, "5646.92", 8)
    res = run(con)
    assert res[p][:2] == ("matched", "payout_to_bank") and res[b][:2] == ("matched", "payout_to_bank")
    assert res[p][2] == res[b][2] and res[p][2].startswith("G")
    assert "-5646.92" in res[b][3] and "5646.92 (2026-01-08" in res[b][3]


@pytest.mark.parametrize("day,status", [(7, "matched"), (10, "matched"), (11, "unknown"), (6, "unknown")])
def test_date_window_edges(con, day, status):
    """Window [0, 3] days after the payout: the same day and three days later match; four days or a day
    before do not."""
    p = payout(con, "-100.00", 7)
    b = credit(con, "100.00", day)
    res = run(con)
    assert res[p][0] == status and res[b][0] == status


def test_one_cent_off_is_not_matched_at_zero_tolerance(con):
    p = payout(con, "-100.00", 7)
    b = credit(con, "100.01", 8)
    res = run(con)
    assert res[p][0] == "unknown" and res[b][0] == "unknown"
    assert "没有对应的平台提现" in res[b][3]


def test_two_candidates_go_to_review_never_an_arbitrary_pick(con):
    p1 = payout(con, "-100.00", 7)
    p2 = payout(con, "-100.00", 8, channel="wechatpay")
    b = credit(con, "100.00", 8)
    res = run(con)
    assert {res[x][0] for x in (p1, p2, b)} == {"review"}
    assert res[b][1] == "payout_to_bank" and "多个候选" in res[b][3]
    assert "alipay 提现 -100.00" in res[b][3] and "wechatpay 提现 -100.00" in res[b][3]


def test_batch_of_settlement_lines_matches_one_bank_credit(con):
    # JD pays out a day's settled rows together; payout_ref carries the 到账时间 day
    day = dict(channel="jd", payout_ref="2026-01-09", event_time=dt.datetime(2026, 1, 9, 6),
               movement_date=dt.date(2026, 1, 4))
    lines = [add(con, "platform_line", line_type=t, amount=Decimal(a), order_no="3905829208014155", **day)
             for t, a in (("sale", "177.00"), ("commission", "-8.85"), ("fee", "-1.77"), ("sale", "200.00"),
                          ("refund", "-12.94"))]
    b = credit(con, "353.44", 9)
    res = run(con)
    assert res[b][:2] == ("matched", "batch_to_bank")
    assert "jd 结算批次 2026-01-09: 5 行合计 353.44" in res[b][3]
    # the batch's own lines report their order leg (here: no ERP documents -> unknown), not the cash leg
    assert all(res[x][1] != "batch_to_bank" for x in lines)


def test_a_batch_is_never_composed_by_subset_search(con):
    day = dict(channel="jd", payout_ref="2026-01-09", event_time=dt.datetime(2026, 1, 9, 6),
               movement_date=dt.date(2026, 1, 4))
    add(con, "platform_line", line_type="sale", amount=Decimal("100.00"), **day)
    add(con, "platform_line", line_type="sale", amount=Decimal("50.00"), **day)
    b = credit(con, "100.00", 9)  # equals one member, not the batch
    res = run(con)
    assert res[b][0] == "unknown"


@pytest.mark.parametrize("cents_off,status", [(0, "matched"), (1, "unknown")])
def test_a_batch_bundling_hundreds_of_orders_matches_to_the_cent(con, cents_off, status):
    """A JD payout day of 300 orders (sale, commission, fee each): the bank credit is their exact sum."""
    day = dict(channel="jd", payout_ref="2026-01-20", event_time=dt.datetime(2026, 1, 20, 6),
               movement_date=dt.date(2026, 1, 15))
    total = Decimal(0)
    for i in range(300):
        sale = Decimal(50 + i) + Decimal(i % 100) / 100
        for t, a in (("sale", sale), ("commission", -(sale * Decimal("0.05")).quantize(Decimal("0.01"))),
                     ("fee", Decimal("-0.30"))):
            add(con, "platform_line", line_type=t, amount=a, order_no=f"39{i:014d}", **day)
            total += a
    b = credit(con, str(total + Decimal(cents_off) / 100), 20)
    res = run(con)
    assert res[b][:2] == (status, "batch_to_bank" if status == "matched" else None)
    if status == "matched":
        assert f"900 行合计 {total}" in res[b][3]
