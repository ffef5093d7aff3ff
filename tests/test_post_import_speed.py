"""The post-import rewrites for speed give what the plain forms gave, on the edges where they could not.

Each test builds the slow, obvious form next to the fast one on inline data and compares them: the
drill-down on its reachable scope against the whole universe, results.csv streamed from the sorted ``run_line`` against an explicit ORDER BY (with
file names the neutraliser changes), and the insertion-order switch put back after a failure.
"""

from __future__ import annotations

from decimal import Decimal

import duckdb
import pytest

from recon import store
from recon.engine import drill, match, outcome, pragmas
from recon.report.results import write_results
from recon.rules import load_rules
from recon.sql.neutralise import NEUTRALISE_MACRO
from conftest import kept_record
from test_drill import receivable, sale
from test_match_cash import january_universe


@pytest.fixture
def con():
    c = store.connect(":memory:")
    yield c
    c.close()


def _drill_out(con):
    return sorted(con.execute("SELECT line_id, layer, finding, detail_json FROM drill_out").fetchall())


def test_the_drill_down_on_its_reachable_scope_equals_the_drill_down_on_the_whole_universe(con):
    # unknown lines with candidates by order key (written differently, some already matched) and by amount
    sale(con, "JD-0001", "100.00", 5)
    receivable(con, "jd0001", "80.00", 3)
    sale(con, "JD-0002", "50.00", 6)
    receivable(con, "JD0002", "50.00", 6)                     # matched pair, same key as a stray line
    receivable(con, "jd-0002", "7.00", 9, line_type="other_receivable")
    sale(con, "JD-0003", "99.00", 7)
    receivable(con, None, "99.50", 8)
    for i in range(12):                                      # matched lines around the amounts
        sale(con, f"M{i}", f"{95 + i}.00", 10)
        receivable(con, f"M{i}", f"{95 + i}.00", 10)
    january_universe(con)
    match.run_passes(con, load_rules())
    drill.run(con)
    fast = _drill_out(con)
    assert len(fast) >= 4
    whole = con.execute("SELECT count(*) FROM universe").fetchone()[0]
    assert con.execute("SELECT count(*) FROM drill_scope").fetchone()[0] < whole, "matched lines are left out"
    con.execute(f"""CREATE OR REPLACE TEMP TABLE drill_scope AS
        SELECT u.line_id, u.source, u.file_id, u.source_file, u.source_line, u.source_sheet, u.channel,
               u.order_no, {drill.okey("u.order_no")} AS okey, u.line_type, u.currency, u.amount, u.movement_date,
               r.status, r.code, r.match_group, {drill.SCOPE_REF.format(a="u")} AS ref
        FROM universe u LEFT JOIN result r USING (line_id) JOIN source_file sf ON sf.file_id = u.file_id""")
    drill.drill(con)
    assert _drill_out(con) == fast


def test_a_run_with_nothing_unknown_drills_nothing_and_computes_no_keys(con):
    sale(con, "A1", "10.00", 5)
    receivable(con, "A1", "10.00", 5)
    january_universe(con)
    match.run_passes(con, load_rules())
    assert drill.run(con) == 0
    assert con.execute("SELECT count(*) FROM drill_scope").fetchone()[0] == 0


def test_results_stream_from_run_line_in_the_order_an_explicit_sort_gives(con, tmp_path):
    # file names the neutraliser changes sort by what the file shows ('=…' becomes "'=…", before digits)
    for n, name in enumerate(("=cmd.csv", "1-first.csv", "b.csv", "+x.csv", "@y.csv")):
        for line in (3, 1, 2):
            kept = kept_record(con, "platform_line", name=f"F{name}")
            con.execute(
                "INSERT INTO platform_line (line_id, file_id, source_format, source_name, source_line, natural_key, "
                "occurrence, rec_offset, rec_length, channel, order_no, line_type, amount, movement_date) VALUES "
                "(?, ?, 't', ?, ?, ?, 1, ?, ?, 'jd', ?, 'sale', ?, DATE '2026-01-05')",
                [n * 10 + line, kept["file_id"], name, line, f"{name}{line}", kept["rec_offset"],
                 kept["rec_length"], f"O{line}", Decimal("1.00")])
    january_universe(con)
    match.run_passes(con, load_rules())
    drill.run(con)
    streamed = write_results(con, tmp_path).read_bytes()
    con.execute(NEUTRALISE_MACRO)
    con.execute("CREATE OR REPLACE TEMP TABLE run_line AS SELECT * FROM run_line ORDER BY line_id DESC")
    with pragmas.any_order(con):  # insertion order not kept: write_results must sort itself
        (tmp_path / "sorted").mkdir()
        sorted_ = write_results(con, tmp_path / "sorted").read_bytes()
    assert streamed == sorted_
    files = [ln.split(b",")[1] for ln in streamed.split(b"\r\n")[1:] if ln]
    assert files[0] == b"'+x.csv" and files[-1] == b"b.csv" and files.index(b"'=cmd.csv") < files.index(b"1-first.csv")


def test_r_safe_is_planned_without_a_join():
    """A join may hand rows on out of order; results.csv is streamed from a sorted table through r_safe."""
    c = duckdb.connect()
    c.execute(NEUTRALISE_MACRO)
    plan = c.execute("EXPLAIN SELECT r_safe(x) FROM (VALUES ('=a'), ('b')) t(x)").fetchall()[0][1]
    assert "JOIN" not in plan.upper()


def test_any_order_puts_the_setting_back_even_when_the_block_fails():
    c = duckdb.connect()
    with pytest.raises(RuntimeError):
        with pragmas.any_order(c):
            assert c.execute("SELECT current_setting('preserve_insertion_order')").fetchone()[0] is False
            raise RuntimeError("boom")
    assert c.execute("SELECT current_setting('preserve_insertion_order')").fetchone()[0] is True
    assert outcome.in_order(c)
