"""The evidence store: raw records read back from the downloaded files' bytes, exactly as imported.

Each layout is written inline as the source writes it: an Alipay 账务明细 in GB18030 with its
preamble, CRLF line ends, a GB18030-only character, a quoted comma and a quoted line break (Python
reader, records by offset); a WeChat bill read by DuckDB's reader (one line per record); the
Alipay zip with GBK member names; a Tmall workbook whose second sheet continues the first without
a header; a CAMT.053 statement (read again by its parser). Where offsets exist, reading the part
again gives the same cells. A missing or altered evidence file is found by ``recon verify`` and
stops the drill-down, ``recon explain`` and the report with a message naming the download.
"""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from pathlib import Path

import duckdb
import pytest

from recon import api, evidence, store
from recon.cli import main
from recon.errors import ReconError
from recon.io import records
from recon.io.parsers import camt053, mt940

from conftest import FIXTURES, do_import, raw_of, write
from test_io_alipay import SUMMARY, TRADE, gbk_zip
from test_io_tmall_xlsx import SHEET1, SHEET2, workbook

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"
HEADER = ["账务流水号", "业务流水号", "商户订单号", "商品名称", "发生时间", "对方账号", "收入金额（+元）",
          "支出金额（-元）", "账户余额（元）", "交易渠道", "业务类型", "备注"]
ROWS = [
    ["54632446537371\t", "2026010522001458860515315460\t", "M20260105001\t", "连衣裙,红色", "2026-01-05 09:12:03",
     "*𠮷 (a@example.com)\t", "100.00", "0.00", "10100.00", "支付宝", "在线支付", ""],
    ["54632446537372\t", "2026010522001458860515315461\t", "M20260105002\t", "T恤", "2026-01-05 10:30:45",
     "**博(156******89)\t", "59.90", "0.00", "10159.90", "支付宝", "在线支付", "第一行\n第二行"],
    ["54632446537373\t", "20260105110070001506490012345678\t", "", "", "2026-01-05 15:00:00",
     "招商银行(6214****1234)\t", "0.00", "10000.00", "159.90", "支付宝", "提现", "提现"],
]


def csv_record(cells) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(cells)
    return out.getvalue()[:-2]


FUND = "\r\n".join([
    "#支付宝账务明细查询", "#账号：[20880211096256330156]",
    "#起始日期：[2026年01月05日 00:00:00]   终止日期：[2026年01月06日 00:00:00]",
    "#-----------------------------------------账务明细列表----------------------------------------",
    ",".join(HEADER), *(csv_record(r) for r in ROWS),
    "#----------------------------------------账务明细列表结束-------------------------------------",
    "#导出时间：[2026年01月06日 05:46:49]", ""])


def stored(con, table="platform_line", where="TRUE"):
    return con.execute(f"SELECT source_line, rec_offset, rec_length, source_sheet FROM {table} WHERE {where} "
                       "ORDER BY source_sheet NULLS FIRST, source_line").fetchall()


def reread(con, table="platform_line", where="TRUE"):
    """The same lines read back with their offsets forgotten: the part is read again."""
    con.execute(f"UPDATE {table} SET rec_offset = NULL, rec_length = NULL WHERE {where}")
    return raw_of(con, table, where)


def test_gb18030_csv_with_preamble_read_back_byte_exact_by_offset(con, profiles, tmp_path):
    path = write(tmp_path, "fund.csv", FUND, "gb18030")
    rep = do_import(con, path, profiles)
    assert rep.encoding == "gb18030" and rep.parts[0].reader == "python"  # the quoted line break
    data = path.read_bytes()
    lines = stored(con)
    assert [line for line, *_ in lines] == [6, 7, 9]  # the second record takes lines 7 and 8
    for (line, off, n, _), row in zip(lines, ROWS):
        assert data[off:off + n] == csv_record(row).encode("gb18030")
    assert raw_of(con, "platform_line") == ROWS
    assert reread(con) == ROWS


@pytest.mark.parametrize("encoding", ["gb18030", "utf-8-sig"])
def test_a_byte_order_mark_inside_the_file_stays_in_its_cell(con, profiles, tmp_path, encoding):
    # two exports concatenated: the second one's BOM starts a data line, and the import kept it
    rows = [list(r) for r in ROWS]
    rows[1][0] = "\ufeff" + rows[1][0]
    path = write(tmp_path, "fund.csv", FUND.replace(csv_record(ROWS[1]), csv_record(rows[1])), encoding)
    do_import(con, path, profiles)
    assert raw_of(con, "platform_line") == rows
    assert reread(con) == rows


@pytest.mark.parametrize("text, encoding", [(FUND.replace("\r\n", "\r"), "gb18030"), (FUND, "utf-16")],
                         ids=["cr-only", "utf-16"])
def test_text_without_exact_offsets_is_read_again_whole(con, profiles, tmp_path, text, encoding):
    do_import(con, write(tmp_path, "fund.csv", text, encoding), profiles)
    assert stored(con) and all(off is None for _, off, _, _ in stored(con))
    assert raw_of(con, "platform_line") == ROWS


def test_mt940_entries_read_again_by_their_parser(con, profiles):
    do_import(con, FIXTURES / "bank_mt940.sta", profiles)
    got = stored(con, "bank_line")
    assert got and all(off is None for _, off, _, _ in got)
    entries = dict(mt940.parse((FIXTURES / "bank_mt940.sta").read_bytes()).rows)
    assert raw_of(con, "bank_line") == [entries[line] for line, *_ in got]


def test_crlf_bill_read_by_duckdb_one_record_per_line(con, profiles, tmp_path):
    path = FIXTURES / "wechatpay_trade_all.csv"
    rep = do_import(con, path, profiles)
    assert rep.encoding == "utf-8-sig" and {p.reader for p in rep.parts} == {"duckdb"}
    lines = path.read_bytes().split(b"\r\n")
    got = stored(con)
    assert got and all(off is not None for _, off, _, _ in got)
    for line, off, n, _ in got:
        assert path.read_bytes()[off:off + n] == lines[line - 1]
    by_offset = raw_of(con, "platform_line")
    expected = [next(csv.reader([lines[line - 1].decode("utf-8")])) for line, *_ in got]
    assert by_offset == [r[:len(by_offset[0])] for r in expected]
    assert reread(con) == by_offset


def test_zip_member_read_back_from_the_zip(con, profiles, tmp_path):
    detail = "20880211096256330156_20260101_业务明细.csv"
    path = write(tmp_path, "bill.csv.zip", gbk_zip({"汇总.csv": SUMMARY.encode("gbk"), detail: TRADE.read_bytes()}))
    do_import(con, path, profiles)
    got = stored(con)
    assert {sheet for *_, sheet in got} == {detail}
    member = TRADE.read_bytes()
    for line, off, n, _ in got:
        assert member[off:off + n] == member.split(b"\r\n")[line - 1]
    by_offset = raw_of(con, "platform_line")
    assert by_offset[0][0].strip() == "2026010122001458860515315453"
    assert reread(con) == by_offset


def test_xlsx_sheet_and_its_continuation_sheet_read_again_with_the_first_sheets_columns(con, profiles, tmp_path):
    do_import(con, workbook(tmp_path), profiles)
    assert all(off is None for _, off, _, _ in stored(con))
    assert raw_of(con, "platform_line", "source_sheet = '账务组合查询1'") == SHEET1
    # the second sheet's first column is empty throughout, so its rows start one column right
    assert raw_of(con, "platform_line", "source_sheet = '账务组合查询2'") == SHEET2


def test_camt_entries_read_again_by_their_parser(con, profiles):
    do_import(con, FIXTURES / "bank_camt053.xml", profiles)
    got = stored(con, "bank_line")
    assert got and all(off is None for _, off, _, _ in got)
    entries = dict(camt053.parse((FIXTURES / "bank_camt053.xml").read_bytes()).rows)
    assert raw_of(con, "bank_line") == [entries[line] for line, *_ in got]


def test_the_import_keeps_the_files_bytes_once_by_sha256(profiles, tmp_path):
    db = tmp_path / "s.duckdb"
    path = write(tmp_path, "in/fund.csv", FUND, "gb18030")
    write(tmp_path, "in/notes.txt", "not a ledger\n")
    con = store.connect(str(db))
    reports = api.import_paths(con, [tmp_path / "in"], profiles)
    file_id = next(r.file_id for r in reports if r.status == "loaded")
    kept = tmp_path / "s.duckdb.evidence" / file_id[:2] / file_id
    assert kept.read_bytes() == path.read_bytes()
    # the unrecognised file left nothing behind, and a second import rewrites nothing
    assert [p for p in (tmp_path / "s.duckdb.evidence").rglob("*") if p.is_file()] == [kept]
    before = kept.stat().st_mtime_ns
    api.import_paths(con, [path], profiles)
    assert kept.stat().st_mtime_ns == before
    assert evidence.verify(con)["problems"] == []
    con.close()


def cli(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


@pytest.fixture
def sample_store(tmp_path):
    db = tmp_path / "store.duckdb"
    api.run(api.RunConfig(inputs=[SAMPLE], out=tmp_path / "out", db=str(db), reports=False))
    con = store.connect(str(db))
    sha = con.execute("SELECT sha256 FROM source_file WHERE original_name LIKE '%金蝶应收单%'").fetchone()[0]
    con.close()
    return db, db.parent / (db.name + ".evidence") / sha[:2] / sha


def test_verify_passes_a_clean_store_and_lists_unknown_files(sample_store, capsys):
    db, kept = sample_store
    code, out, _ = cli(["verify", "--db", str(db)], capsys)
    assert code == 0 and "16 of 16 imported files have their evidence intact" in out
    stray = kept.parent / "stray"
    stray.write_bytes(b"x")
    code, out, _ = cli(["verify", "--db", str(db)], capsys)
    assert code == 0 and f"not known to the store (left as it is; delete it if nothing needs it): {stray}" in out
    assert stray.exists()
    assert cli(["verify", "--db", str(db.parent / "none.duckdb")], capsys)[0] == 2


def test_altered_evidence_found_by_verify_and_never_shown(sample_store, capsys, tmp_path):
    db, kept = sample_store
    good = kept.read_bytes()
    kept.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))  # same size, one bit changed
    code, out, _ = cli(["verify", "--db", str(db), "--json"], capsys)
    assert code == 1 and '"name": "erp/金蝶应收单_202601.xlsx"' in out and "altered: its SHA-256 is now" in out
    code, _, err = cli(["explain", "PI20260106-926", "--db", str(db)], capsys)
    assert code == 2 and "erp/金蝶应收单_202601.xlsx" in err and str(kept) in err and "was altered" in err
    assert "delete that file and import the original download again" in err
    code, _, err = cli(["report", "--db", str(db), "--out", str(tmp_path / "rep")], capsys)
    assert code == 2 and "erp/金蝶应收单_202601.xlsx" in err
    kept.write_bytes(good)
    assert cli(["verify", "--db", str(db)], capsys)[0] == 0
    assert cli(["explain", "PI20260106-926", "--db", str(db)], capsys)[0] in (0, 1)


def test_missing_evidence_found_by_verify_and_by_the_drill_down(sample_store, capsys):
    db, kept = sample_store
    kept.unlink()
    code, out, _ = cli(["verify", "--db", str(db)], capsys)
    assert code == 1 and "erp/金蝶应收单_202601.xlsx: evidence missing" in out and "15 of 16" in out
    code, _, err = cli(["explain", "PI20260106-926", "--db", str(db)], capsys)
    assert code == 2 and "erp/金蝶应收单_202601.xlsx" in err and "is missing" in err
    con = store.connect(str(db))
    con.execute("CREATE TEMP TABLE ids AS SELECT line_id FROM erp_line WHERE source_name LIKE '%金蝶%' LIMIT 1")
    with pytest.raises(evidence.EvidenceError, match="Restore the evidence folder from a backup"):
        records.raw_cells(con, "ids")
    con.close()
    # importing the same download again puts its evidence back
    code, out, _ = cli(["import", str(SAMPLE / "erp" / "金蝶应收单_202601.xlsx"), "--db", str(db)], capsys)
    assert code == 0 and "missing evidence file was put back" in out
    assert cli(["verify", "--db", str(db)], capsys)[0] == 0


def old_store(path: Path, meta: bool = True) -> None:
    """A store as recon 0.1.0 wrote it (schema version 1): the raw cells on every line."""
    con = duckdb.connect(str(path))
    if meta:
        con.execute("CREATE TABLE store_meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
        con.execute("INSERT INTO store_meta VALUES ('schema_version', '1')")
    con.execute("CREATE TABLE platform_line (line_id VARCHAR, file_id VARCHAR, raw VARCHAR[] NOT NULL)")
    con.execute("INSERT INTO platform_line VALUES ('L1', 'f', ['a', 'b'])")
    con.close()


@pytest.mark.parametrize("meta", [True, False])
def test_a_schema_1_store_is_refused_with_what_to_do(tmp_path, capsys, meta):
    db = tmp_path / "old.duckdb"
    old_store(db, meta)
    with pytest.raises(ReconError, match="schema version 1"):
        store.connect(str(db))
    code, _, err = cli(["runs", "--db", str(db)], capsys)
    assert code == 2 and "raw records were stored inside it" in err and "new store" in err
    # refused, not changed: the old store still opens as it was
    con = duckdb.connect(str(db))
    assert con.execute("SELECT raw FROM platform_line").fetchall() == [(["a", "b"],)]
    con.close()


def test_a_schema_2_store_is_refused_with_what_to_do(tmp_path, capsys):
    """Schema 2 named files by SHA-256 and lines by an MD5 string; this recon joins integers."""
    db = tmp_path / "v2.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE store_meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
    con.execute("INSERT INTO store_meta VALUES ('schema_version', '2')")
    con.execute("CREATE TABLE platform_line (line_id VARCHAR, file_id VARCHAR)")
    con.execute("INSERT INTO platform_line VALUES ('0123abcd', 'ab12')")
    con.close()
    with pytest.raises(ReconError, match="schema version 2, made before recon numbered its files and lines"):
        store.connect(str(db))
    code, _, err = cli(["runs", "--db", str(db)], capsys)
    assert code == 2 and "recon run FOLDER --db NEW.duckdb" in err
    con = duckdb.connect(str(db))  # refused, not changed
    assert con.execute("SELECT line_id, file_id FROM platform_line").fetchall() == [("0123abcd", "ab12")]
    con.close()


def test_a_new_store_reopens_at_schema_3_with_integer_lineage(tmp_path, profiles):
    db = str(tmp_path / "new.duckdb")
    con = store.connect(db)
    do_import(con, write(tmp_path, "fund.csv", FUND, "gb18030"), profiles)
    con.close()
    con = store.connect(db)
    assert con.execute("SELECT value FROM store_meta WHERE key = 'schema_version'").fetchone()[0] == "3"
    types = dict(con.execute("SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'platform_line' "
                             "AND column_name IN ('line_id', 'file_id', 'superseded_by')").fetchall())
    assert types == {"line_id": "BIGINT", "file_id": "BIGINT", "superseded_by": "BIGINT"}
    file_id, sha = con.execute("SELECT file_id, sha256 FROM source_file").fetchone()
    assert file_id == 1 and sha == hashlib.sha256((tmp_path / "fund.csv").read_bytes()).hexdigest()
    ids = con.execute("SELECT line_id, source_line FROM platform_line ORDER BY source_line").fetchall()
    assert ids and all(lid == (1 << 43) + line for lid, line in ids)  # file 1, part 0, the physical line
    con.close()


def test_memory_store_keeps_no_evidence_folder(profiles, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    con = store.connect(":memory:")
    do_import(con, write(tmp_path, "fund.csv", FUND, "gb18030"), profiles)
    assert raw_of(con, "platform_line") == ROWS
    con.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fund.csv"]


def test_zip_member_names_found_again(profiles, tmp_path):
    # the stored part name is the GBK-decoded member name, as ``containers`` opens it again
    data = gbk_zip({"明细.csv": TRADE.read_bytes()})
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.namelist() != ["明细.csv"]  # stored as GBK bytes, not as UTF-8
    con = store.connect(":memory:")
    do_import(con, write(tmp_path, "t.zip", data), profiles)
    assert raw_of(con, "platform_line")[0][0].strip() == "2026010122001458860515315453"
    con.close()
