"""Natural keys join as integers (recon.engine.keys), and a hash collision never merges two keys."""

from __future__ import annotations

import pytest

from recon.engine import keys
from test_match_cash import con, run  # noqa: F401 (con is a fixture)
from test_match_order import receivable, run_with, sale
from test_match_pairing import fund, trade


@pytest.fixture
def colliding(monkeypatch):
    """Every key hashes to the same integer: each join and group meets nothing but collisions."""
    monkeypatch.setattr(keys, "HASH", "CAST(42 AS UBIGINT)")


def test_the_hash_is_an_integer_and_null_stays_null(con):
    a, b, none = con.execute(f"SELECT {keys.key_hash('$a')}, {keys.key_hash('$b')}, {keys.key_hash('$n')}",
                             {"a": "A", "b": "B", "n": None}).fetchone()
    assert isinstance(a, int) and a != b and none is None


def test_forced_collision_really_collides(con, colliding):
    assert con.execute(f"SELECT {keys.key_hash('$a')} = {keys.key_hash('$b')}", {"a": "ORD-A", "b": "ORD-B"}).fetchone()[0]


def test_two_orders_with_one_hash_are_never_matched_together(con, tmp_path, colliding):
    """Order A is on the platform only, order B in the ERP only, same amount: a join on the hash alone
    would match them as one order. Order C, on both sides, still matches."""
    pa, eb = sale(con, "ORD-A", "100.00"), receivable(con, "ORD-B", "100.00")
    pc, ec = sale(con, "ORD-C", "50.00"), receivable(con, "ORD-C", "50.00")
    res = run_with(con, tmp_path)
    assert res[pa][0] == res[eb][0] == "unknown"
    assert "ERP 中没有该订单的单据" in res[pa][2] and "平台文件中没有该订单" in res[eb][2]
    assert res[pc][0] == res[ec][0] == "matched"
    groups = dict(con.execute("SELECT line_id, match_group FROM result").fetchall())
    assert len({groups[pa], groups[eb], groups[pc]}) == 3


def test_a_fund_line_never_pairs_with_the_trade_line_of_a_colliding_order(con, colliding):
    t = trade(con, "sale", "299.00", order="ZFB-1")
    f = fund(con, "sale", "299.00", order="ZFB-2")
    res = run(con)
    assert res[f][:2] == ("unknown", None) and res[t][1] != "trade_fund"
