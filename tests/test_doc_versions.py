"""Latest document version wins: the nightly ERP re-export replaces corrected bills instead of adding them.

The Kingdee AR list is re-exported every night month-to-date; a bill (单据编号) corrected in the
meantime comes back under the same number. Each test writes the exports inline and checks the
live lines (``superseded_by IS NULL``), the replaced ones, and the per-file buckets.
"""

from __future__ import annotations

import dataclasses
import hashlib
from decimal import Decimal as D

import pytest

from recon.cli import main
from recon.io.profile import load_profile
from conftest import do_import, write

HEAD = "单据编号,业务日期,单据类型,客户,币别,汇率,价税合计,税额,本位币价税合计,已核销金额,未核销金额,单据状态,平台订单号,摘要"


def line(bill, amount, order, day="2026-01-05"):
    return f"{bill},{day},标准应收单,天猫旗舰店,人民币,1,{amount},0.00,{amount},0.00,{amount},已审核,{order},"


JAN20 = [line("AR1", "100.00", "T1001"),
         line("AR2", "50.00", "T2001"), line("AR2", "70.00", "T2002"),
         line("AR3", "30.00", "T3001")]


# the SHA-256 of a line's file and of the file that replaced it (reports name files by SHA-256)
SHAS = ("(SELECT sha256 FROM source_file f WHERE f.file_id = erp_line.file_id), "
        "(SELECT sha256 FROM source_file f WHERE f.file_id = erp_line.superseded_by)")


def export(tmp_path, name, rows):
    return write(tmp_path, name, "\r\n".join([HEAD, *rows, ""]))


def live(con):
    return con.execute("SELECT bill_no, order_no, amount FROM erp_line WHERE superseded_by IS NULL "
                       "ORDER BY bill_no, order_no, amount").fetchall()


def buckets(rep):
    (p,) = rep.parts
    assert p.loaded + p.duplicates + p.quarantined == p.data_lines, "conservation per file"
    return p.loaded, p.duplicates, p.superseded, D(p.amount_superseded)


def test_identical_reexport_is_all_duplicates(con, profiles, tmp_path):
    do_import(con, export(tmp_path, "ar_0120.csv", JAN20), profiles)
    # tomorrow's export: the same bills in another order plus a new one
    rep = do_import(con, export(tmp_path, "ar_0121.csv", JAN20[::-1] + [line("AR4", "9.00", "T4001", "2026-01-21")]),
                    profiles)
    assert buckets(rep) == (1, 4, 0, D("0"))
    assert len(live(con)) == 5
    assert con.execute("SELECT count(*) FROM erp_line WHERE superseded_by IS NOT NULL").fetchone()[0] == 0


def test_corrected_amount_replaces_the_old_version(con, profiles, tmp_path):
    first = do_import(con, export(tmp_path, "ar_0120.csv", JAN20), profiles)
    corrected = [JAN20[0], line("AR2", "55.00", "T2001"), JAN20[2], JAN20[3]]
    rep = do_import(con, export(tmp_path, "ar_0121.csv", corrected), profiles)
    # both AR2 lines load (even T2002, unchanged), the two old AR2 lines are replaced
    assert buckets(rep) == (2, 2, 2, D("120.00"))
    assert live(con) == [("AR1", "T1001", D("100.00")), ("AR2", "T2001", D("55.00")),
                         ("AR2", "T2002", D("70.00")), ("AR3", "T3001", D("30.00"))]
    old = con.execute(f"SELECT {SHAS} FROM erp_line WHERE superseded_by IS NOT NULL").fetchall()
    assert old == [(first.file_id, rep.file_id)] * 2
    assert con.execute("SELECT sum(amount) FROM erp_line WHERE superseded_by IS NULL").fetchone()[0] == D("255.00")


def test_line_added_and_line_removed(con, profiles, tmp_path):
    do_import(con, export(tmp_path, "ar_0120.csv", JAN20), profiles)
    grown = JAN20 + [line("AR3", "5.00", "T3002")]
    rep = do_import(con, export(tmp_path, "ar_0121.csv", grown), profiles)
    assert buckets(rep) == (2, 3, 1, D("30.00"))
    shrunk = [JAN20[0], JAN20[1], JAN20[3], line("AR3", "5.00", "T3002")]  # AR2 lost its T2002 line
    rep = do_import(con, export(tmp_path, "ar_0122.csv", shrunk), profiles)
    assert buckets(rep) == (1, 3, 2, D("120.00"))
    assert live(con) == [("AR1", "T1001", D("100.00")), ("AR2", "T2001", D("50.00")),
                         ("AR3", "T3001", D("30.00")), ("AR3", "T3002", D("5.00"))]


def test_identical_lines_inside_a_document_count_as_a_multiset(con, profiles, tmp_path):
    twice = [line("AR5", "10.00", "T5001")] * 2
    do_import(con, export(tmp_path, "a.csv", twice), profiles)
    # the same two lines (a repeated header row, which is skipped, makes it another file): duplicates
    rep = do_import(con, export(tmp_path, "b.csv", twice + [HEAD]), profiles)
    assert buckets(rep) == (0, 2, 0, D("0"))
    rep = do_import(con, export(tmp_path, "c.csv", twice[:1]), profiles)  # one of the two is gone
    assert buckets(rep) == (1, 0, 2, D("20.00"))
    assert live(con) == [("AR5", "T5001", D("10.00"))]


def test_older_export_imported_later_wins(con, profiles, tmp_path):
    """Import order defines "latest" (docs/profiles.md): the older file replaces the newer one."""
    newer = do_import(con, export(tmp_path, "ar_0121.csv", [line("AR2", "55.00", "T2001"), JAN20[2]]), profiles)
    older = do_import(con, export(tmp_path, "ar_0120.csv", JAN20[1:3]), profiles)
    assert buckets(older) == (2, 0, 2, D("125.00"))
    assert live(con) == [("AR2", "T2001", D("50.00")), ("AR2", "T2002", D("70.00"))]
    replaced = con.execute(f"SELECT DISTINCT {SHAS} FROM erp_line WHERE superseded_by IS NOT NULL")
    assert replaced.fetchall() == [(newer.file_id, older.file_id)]


def test_lineage_columns(con, profiles, tmp_path):
    do_import(con, export(tmp_path, "ar.csv", JAN20[:1]), profiles)
    (doc,) = con.execute("SELECT doc_key FROM erp_line").fetchone()
    assert doc == hashlib.md5("kingdee.ar_list\x1fAR1".encode()).hexdigest()


def test_blank_version_key_keeps_natural_key_dedup(con, tmp_path):
    """A line without a document (blank 单据编号 in a profile that allows it) is de-duplicated by its key."""
    prof = load_profile(write(tmp_path, "ar_loose.yaml", """\
version: 1
format: erp.loose
family: erp
detect:
  header: [单据编号, 价税合计, 平台订单号]
fields:
  bill_no: {col: 单据编号, type: id}
  bill_date: {col: 业务日期, type: date}
  amount: {col: 价税合计, type: money, required: true}
  order_no: {col: 平台订单号, type: id}
key: [bill_no, order_no, amount]
version_key: [bill_no]
"""))
    rows = [line("", "8.00", "T9001"), line("AR1", "100.00", "T1001")]
    do_import(con, export(tmp_path, "a.csv", rows), [prof])
    rep = do_import(con, export(tmp_path, "b.csv", [line("", "8.00", "T9001"), line("", "9.00", "T9001"),
                                                    line("AR1", "100.00", "T1001")]), [prof])
    assert buckets(rep) == (1, 2, 0, D("0"))
    assert con.execute("SELECT count(*) FROM erp_line WHERE doc_key IS NULL").fetchone()[0] == 2


def test_lines_imported_before_version_key_existed_get_their_document(con, profiles, tmp_path):
    """A store filled before the profile named documents: the first versioned re-export still dedups."""
    unversioned = [p for p in profiles if p.name == "kingdee.ar_list"][0]
    do_import(con, export(tmp_path, "ar_0120.csv", JAN20), [dataclasses.replace(unversioned, version_key=())])
    assert con.execute("SELECT count(*) FROM erp_line WHERE doc_key IS NULL").fetchone()[0] == 4
    rep = do_import(con, export(tmp_path, "ar_0121.csv", JAN20[::-1]), profiles)
    assert buckets(rep) == (0, 4, 0, D("0"))
    rep = do_import(con, export(tmp_path, "ar_0122.csv", [line("AR1", "90.00", "T1001")] + JAN20[1:]), profiles)
    assert buckets(rep) == (1, 3, 1, D("100.00"))


def test_a_quarantined_line_is_not_part_of_the_new_version(con, profiles, tmp_path):
    """The file's AR2 is its one readable line: it replaces both old lines; the bad one is reported."""
    do_import(con, export(tmp_path, "ar_0120.csv", JAN20), profiles)
    bad = [JAN20[0], line("AR2", "5O.00", "T2001"), JAN20[2], JAN20[3]]  # a letter O typed for a zero
    rep = do_import(con, export(tmp_path, "ar_0121.csv", bad), profiles)
    (p,) = rep.parts
    assert (p.loaded, p.duplicates, p.quarantined, p.superseded) == (1, 2, 1, 2)


@pytest.mark.parametrize("rows,expected", [
    ([line("AR2", "55.00", "T2001"), JAN20[2]], "replaced 2 lines of 1 earlier document"),
    ([line("AR1", "1.00", "T1001"), line("AR3", "3.00", "T3001")], "replaced 2 lines of 2 earlier documents"),
])
def test_import_command_says_what_it_replaced(tmp_path, capsys, rows, expected):
    db = str(tmp_path / "s.duckdb")
    for name, content in (("a.csv", JAN20), ("b.csv", rows)):
        with pytest.raises(SystemExit):
            main(["import", str(export(tmp_path, name, content)), "--db", db])
    assert expected in capsys.readouterr().out
