"""Cell normalisation in SQL (the r_* macros): amounts, placeholders, dates; garbage is never 0.

Two levels: the macros on single values, and the same rules through a whole file imported with a
small profile, so the quarantine path (file, line, column, reason) is exercised too.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest

from conftest import do_import, rows, write
from recon.io.load import install_macros
from recon.io.profile import load_profile


@pytest.fixture
def sql(con):
    install_macros(con)

    def run(expr, value):
        return con.execute(f"SELECT {expr}", {"x": value}).fetchone()[0]

    return run


MONEY = [
    ("¥1,234.50", "1234.50"), ("￥12.30", "12.30"), ("1,234,567.89", "1234567.89"), ("12.30元", "12.30"),
    ("１２３.４５", "123.45"), ("￥１，２３４．５０", "1234.50"), ("(12.30)", "-12.30"), ("(１２.３０)", "-12.30"),
    ("-12.30", "-12.30"), ("+5.00", "5.00"), ("`0.60", "0.60"), ("0.60\t", "0.60"), ("  7 ", "7.00"),
    ('="10.00"', "10.00"), (".5", "0.50"), ("0.005", "0.01"), ("-0.005", "-0.01"),
]


@pytest.mark.parametrize("cell, amount", MONEY)
def test_money(sql, cell, amount):
    assert sql("r_money(r_numtext(r_clean($x)))", cell) == D(amount)


@pytest.mark.parametrize("cell", ["-", "/", "--", "—", " ", "", "\t", "无退款申请", "null", "\u3000"])
def test_placeholders_are_empty(sql, cell):
    assert sql("r_clean($x)", cell) is None


@pytest.mark.parametrize("cell", ["abc", "12,3O", "1.2.3", "1e3", "12-30", "¥", "(12.30"])
def test_garbage_is_not_a_number(sql, cell):
    cleaned = sql("r_clean($x)", cell)
    assert cleaned is not None and sql("r_money(r_numtext($x))", cleaned) is None


TIMES = [
    ("2026-01-05 10:00:05", (2026, 1, 5, 10, 0, 5)),
    ("2026-01-05 10:00", (2026, 1, 5, 10, 0)),
    ("2026/1/5 9:05", (2026, 1, 5, 9, 5)),
    ("2026/12/03  14:06:51", (2026, 12, 3, 14, 6, 51)),  # SPDB double space
    ("20260105", (2026, 1, 5)),
    ("20260105 17:07:09", (2026, 1, 5, 17, 7, 9)),
    ("2019年09月16日 00:00:00", (2019, 9, 16)),
    ("2026-01-05 16：33：45", (2026, 1, 5, 16, 33, 45)),  # WeChat doc sample, full-width colons
    ("2026-01-05T10:00:05", (2026, 1, 5, 10, 0, 5)),
    ("46027.5", (2026, 1, 5, 12, 0)),  # Excel serial, 1900 system
    ("46027", (2026, 1, 5)),
    ("`2026-01-05 10:00:05", (2026, 1, 5, 10, 0, 5)),
]


@pytest.mark.parametrize("cell, parts", TIMES)
def test_timestamps(sql, cell, parts):
    assert sql("r_ts(r_tstext(r_clean($x)))", cell) == dt.datetime(*parts)


@pytest.mark.parametrize("cell", ["2026-02-30", "2026-13-01", "昨天", "2026.01.05x"])
def test_bad_timestamps(sql, cell):
    assert sql("r_ts(r_tstext(r_clean($x)))", cell) is None


def test_exact_division(sql):
    assert sql("r_div(CAST($x AS DECIMAL(18,4)), 100)", "4.8123") == D("0.0481230000")
    assert sql("r_div(CAST($x AS DECIMAL(18,4)), 3)", "-2") == D("-0.6666666667")  # half-up, sign kept
    assert sql("r_div(CAST($x AS DECIMAL(18,4)), 0)", "1") is None


# ---------------------------------------------------------------- the same rules through a file

PROFILE = """\
version: 1
format: test.normalise
family: platform
detect:
  header: [时间, 金额, 单号]
fields:
  channel: {const: test}
  event_time: {col: 时间, type: timestamp}
  amount: {col: 金额, type: money}
  order_no: {col: 单号, type: id}
"""

CSV = """\
时间,金额,单号
2026/1/5 9:05,"¥1,234.50",A001
20260105,￥12.30,A002
2019年09月16日 00:00:00,(12.30),A003
2026-01-05 16：33：45,-12.30,A004
2025/12/03  14:06:51,+5.00,A005
2026-01-05T10:00:05,１２３.４５,A006
46027.5,-,A007
 ,无退款申请,A008
2026-01-05 10:00:05,abc,A009
2026-01-05 10:00:05,12.3.4,A010
2026-02-30 10:00:05,1.00,A011
2026-01-05 10:00:05,1.00,4.20E+17
"""


def test_rules_through_a_file(con, tmp_path):
    prof = load_profile(write(tmp_path, "norm.yaml", PROFILE))
    rep = do_import(con, write(tmp_path, "norm.csv", CSV), [prof])
    assert (rep.parts[0].data_lines, rep.parts[0].loaded, rep.parts[0].quarantined) == (12, 9, 3)
    got = [(r["event_time"], r["amount"], r["order_no"], r["id_problem"])
           for r in rows(con, "platform_line", "event_time, amount, order_no, id_problem")]
    assert got == [
        (dt.datetime(2026, 1, 5, 9, 5), D("1234.50"), "A001", None),
        (dt.datetime(2026, 1, 5), D("12.30"), "A002", None),
        (dt.datetime(2019, 9, 16), D("-12.30"), "A003", None),
        (dt.datetime(2026, 1, 5, 16, 33, 45), D("-12.30"), "A004", None),
        (dt.datetime(2025, 12, 3, 14, 6, 51), D("5.00"), "A005", None),
        (dt.datetime(2026, 1, 5, 10, 0, 5), D("123.45"), "A006", None),
        (dt.datetime(2026, 1, 5, 12, 0), None, "A007", None),  # placeholder: empty, not zero
        (None, None, "A008", None),
        (dt.datetime(2026, 1, 5, 10, 0, 5), D("1.00"), None, "单号=4.20E+17"),
    ]
    q = con.execute("SELECT source_name, source_line, column_name, reason FROM quarantine ORDER BY 2").fetchall()
    assert q == [
        ("norm.csv", 10, "金额", "cannot read 'abc': expected an amount like 1234.50, -12.30 or (12.30)"),
        ("norm.csv", 11, "金额", "cannot read '12.3.4': expected an amount like 1234.50, -12.30 or (12.30)"),
        ("norm.csv", 12, "时间", "cannot read '2026-02-30 10:00:05': expected a date and time like 2026-01-31 23:59:59"),
    ]
