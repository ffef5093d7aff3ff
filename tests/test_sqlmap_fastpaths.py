"""The cell macros' fast paths give exactly what the plain rules give.

``r_strip`` and ``r_ts`` take shortcuts for the common cells (one global replace instead of a chain
of four; one strptime format for an 8-digit or a bare ISO date instead of trying the list). The
plain forms below are the macros as they were before the shortcuts, kept here as the reference: on
any cell the two must agree, value for value, NULL for NULL.
"""

from __future__ import annotations

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recon.io.load import install_macros

REFERENCE = [
    r"""CREATE OR REPLACE TEMP MACRO ref_strip(x) AS
        CASE WHEN NOT regexp_matches(x, '^[\s\x{3000}\x{00A0}`''=]|[\s\x{3000}\x{00A0}]$') THEN x
        ELSE regexp_replace(regexp_replace(regexp_replace(regexp_replace(
            x, '^[\s\x{3000}\x{00A0}`'']+', ''), '[\s\x{3000}\x{00A0}]+$', ''),
            '^="(.*)"$', '\1'), '^\s+|\s+$', '', 'g') END""",
    r"""CREATE OR REPLACE TEMP MACRO ref_ts(d) AS
        CASE WHEN regexp_full_match(d, '\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}')
             THEN try_strptime(d, '%Y-%m-%d %H:%M:%S')
             WHEN regexp_full_match(d, '\d{5}(\.\d+)?')
             THEN TIMESTAMP '1899-12-30 00:00:00'
                  + to_seconds(CAST(round(CAST(d AS DECIMAL(20,10)) * 86400) AS BIGINT))
             ELSE try_strptime(d, ['%Y-%m-%d %H:%M:%S', '%Y-%m-%d %H:%M', '%Y/%m/%d %H:%M:%S',
                  '%Y/%m/%d %H:%M', '%Y-%m-%dT%H:%M:%S', '%Y%m%d %H:%M:%S', '%Y%m%d%H%M%S',
                  '%Y年%m月%d日 %H:%M:%S', '%Y-%m-%d', '%Y/%m/%d', '%Y%m%d', '%Y年%m月%d日',
                  '%Y-%m-%d %H:%M:%S.%f'])
        END""",
]


@pytest.fixture(scope="module")
def con():
    c = duckdb.connect()
    install_macros(c)
    for m in REFERENCE:
        c.execute(m)
    yield c
    c.close()


def _agree(con, macro: str, ref: str, values: list) -> None:
    rows = con.execute(
        f"SELECT v, {macro}(v) AS got, {ref}(v) AS want FROM unnest($vals) t(v) "
        f"WHERE got IS DISTINCT FROM want", {"vals": values}).fetchall()
    assert rows == []


CELL_CHARS = st.sampled_from(list(" \t\n\r\f\x0b\u3000\u00a0`'=\"a1.-,¥"))
CELLS = st.lists(st.text(CELL_CHARS, max_size=8) | st.text(max_size=6), min_size=1, max_size=60)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=CELLS)
def test_strip_matches_the_plain_chain(con, values):
    _agree(con, "r_strip", "ref_strip", values)


def test_strip_edges(con):
    _agree(con, "r_strip", "ref_strip", [
        "", " ", "\t", "a", " a ", "\u3000a\u3000", "`12", "'12", '="0012"', '=" 12 "', '= "1"', '="',
        '=""', '="a\nb"', '\t="x"\t', "a\u00a0", "=1", "x\x0b", "a\r", ' ="a" ', "''", '="\u3000a"',
        '="\ta\t"', "==\"x\"", '="x""y"', "`=\"1\"", "a=\"b\"", None])


DIGITS = st.text(st.sampled_from("0123456789"), min_size=1, max_size=14)
DATES = st.builds(
    lambda y, m, d, sep: f"{y:04d}{sep}{m:02d}{sep}{d:02d}",
    st.integers(0, 9999), st.integers(0, 99), st.integers(0, 99), st.sampled_from(["", "-", "/"]))
TIMES = st.builds(lambda date, t: f"{date} {t}", DATES, st.sampled_from(["10:00:00", "25:61:00", "9:5", "10:00"]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(DIGITS | DATES | TIMES, min_size=1, max_size=80))
def test_timestamps_match_the_format_list(con, values):
    _agree(con, "r_ts", "ref_ts", values)


def test_timestamp_edges(con):
    _agree(con, "r_ts", "ref_ts", [
        "20260104", "20261301", "20260230", "00000000", "99991231", "2026-01-04", "2026-02-30",
        "2026-13-01", "2026-1-4", "45123", "45123.5", "2026/01/04", "2026年01月04日", "202601041200",
        "20260104120000", "2026-01-04T10:00:00", "2026-01-04 10:00", None])
