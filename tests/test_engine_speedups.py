"""The speed-ups of the engine keep its guarantees: one outcome per line, the same CSV guard, the same group ids."""

import duckdb
import pytest

from recon.engine import match
from recon.report.results import NEUTRALISE_MACRO


def _result(con, rows):
    con.execute("CREATE TEMP TABLE result (line_id VARCHAR NOT NULL, source VARCHAR, status VARCHAR, code VARCHAR, "
                "match_group VARCHAR, explanation VARCHAR)")
    con.executemany("INSERT INTO result VALUES (?, 'erp', ?, ?, NULL, NULL)", rows)


def test_a_line_decided_twice_stops_the_run():
    con = duckdb.connect()
    _result(con, [("L1", "matched", "order_exact"), ("L2", "unknown", None), ("L1", "review", "trade_fund")])
    with pytest.raises(RuntimeError, match=r"line L1 was decided more than once \(order_exact, trade_fund\)"):
        match._one_outcome_per_line(con)


def test_one_outcome_per_line_passes():
    con = duckdb.connect()
    _result(con, [("L1", "matched", "order_exact"), ("L2", "unknown", None)])
    match._one_outcome_per_line(con)


@pytest.mark.parametrize("text, expected", [
    ("=SUM(A1)", "'=SUM(A1)"), ("+1", "'+1"), ("-1", "'-1"), ("@x", "'@x"), ("＝1", "'＝1"), ("\tx", "'\tx"),
    ("\r\nx", "'\r\nx"), ("ok", "ok"), ("", ""), (None, None), ("a=b", "a=b"), ("é", "é"), (" =1", " =1"),
])
def test_r_safe_neutralises_exactly_the_hostile_first_characters(text, expected):
    con = duckdb.connect()
    con.execute(NEUTRALISE_MACRO)
    assert con.execute("SELECT r_safe(?)", [text]).fetchone()[0] == expected


def test_group_id_is_md5_of_the_sorted_ids():
    """The list_sort form gives the ids the ordered string_agg gave (stored decisions refer to them)."""
    con = duckdb.connect()
    con.execute("CREATE TABLE lr AS SELECT * FROM (VALUES ('k', 'b2'), ('k', 'a10'), ('k', 'a9'), ('j', 'z')) v(k, ref)")
    got = con.execute(f"SELECT k, {match.GROUP_ID} FROM lr GROUP BY k ORDER BY k").fetchall()
    old = con.execute("SELECT k, 'G' || substr(md5(string_agg(ref, ',' ORDER BY ref)), 1, 16) "
                      "FROM lr GROUP BY k ORDER BY k").fetchall()
    assert got == old
    assert got[1][1] == "G" + __import__("hashlib").md5(b"a10,a9,b2").hexdigest()[:16]
