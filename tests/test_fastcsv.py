"""The DuckDB CSV reader gives exactly what the Python reader gives, or is not used.

Every test imports the same files twice, once with ``fastcsv`` switched off and once on, and compares
the whole store (every table, every column; only ``imported_at`` and the report's reader fields
differ by design). The crafted files each hit one reason to fall back, or one thing the fast path
must reproduce, and say which reader must have run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recon import store
from recon.io import fastcsv
from recon.io.load import import_file
from recon.sample import generate

FIXTURES = Path(__file__).parent / "fixtures"
TEXT_SUFFIXES = (".csv", ".tsv", ".txt", ".zip")


def snapshot(con) -> dict:
    """Every persistent table as sorted rows, with import time and reader choice left out."""
    out = {}
    tables = con.execute("SELECT table_name FROM duckdb_tables() WHERE NOT temporary AND schema_name = 'main' "
                         "ORDER BY table_name").fetchall()
    for (table,) in tables:
        cols = [c for (c,) in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = ? AND database_name = current_database() "
            "AND schema_name = 'main' ORDER BY column_index", [table]).fetchall() if c != "imported_at"]
        rows = con.execute(f"SELECT {', '.join(cols)} FROM {table}").fetchall()
        if "report_json" in cols:
            i = cols.index("report_json")
            rows = [r[:i] + (_without_reader(r[i]),) + r[i + 1:] for r in rows]
        out[table] = sorted(rows, key=repr)
    return out


def _without_reader(report_json: str) -> str:
    rep = json.loads(report_json)
    for p in rep.get("parts", []):
        p.pop("reader", None)
        p.pop("fallback", None)
    return json.dumps(rep, ensure_ascii=False, sort_keys=True)


def import_both(paths, profiles, monkeypatch):
    """(snapshot, reports) with the fast reader off, then on, importing ``paths`` in order."""
    results = []
    for enabled in (False, True):
        monkeypatch.setattr(fastcsv, "ENABLED", enabled)
        con = store.connect(":memory:")
        reports = [import_file(con, p, profiles) for p in paths]
        results.append((snapshot(con), reports))
        con.close()
    (slow, slow_reports), (fast, fast_reports) = results
    assert all(p.reader == "python" for r in slow_reports for p in r.parts)
    for table in slow:
        assert fast[table] == slow[table], f"{table} differs between the readers"
    return fast_reports


def readers(reports) -> list:
    return [(p.reader, p.fallback) for r in reports for p in r.parts]


# ---------------------------------------------------------------- real layouts

def test_every_text_fixture_reads_the_same_and_fast(profiles, monkeypatch):
    paths = sorted(p for p in FIXTURES.iterdir() if p.suffix in TEXT_SUFFIXES)
    reports = import_both(paths, profiles, monkeypatch)
    assert len(reports) == len(paths) and all(r.status == "loaded" for r in reports)
    assert [(r.name, p.reader, p.fallback) for r in reports for p in r.parts if p.reader != "duckdb"] == []


@pytest.mark.parametrize("scale", [False, True], ids=["sample", "scale-sample"])
def test_generated_month_reads_the_same(profiles, monkeypatch, tmp_path, scale):
    """Every text file of a fresh sample month (the zip's CSV members included); the scale month
    adds the CSV exports of JD's 对账单 and the ERP's 应收单 list."""
    written = generate(tmp_path, orders=2000 if scale else 300, scale=scale)
    paths = sorted(p for p in written if p.suffix in TEXT_SUFFIXES)
    reports = import_both(paths, profiles, monkeypatch)
    text_parts = [p for r in reports for p in r.parts]
    assert text_parts and all(p.reader == "duckdb" for p in text_parts), readers(reports)


# ---------------------------------------------------------------- crafted files

ERP_HEAD = "单据编号,业务日期,单据类型,客户,币别,汇率,价税合计,税额,本位币价税合计,已核销金额,未核销金额,单据状态,平台订单号,摘要"


def erp(*rows: str, footer: str = "合计,,,,,,339.00,39.00,339.00,0.00,339.00,,,") -> str:
    """A Kingdee AR list export with the given data rows and a 合计 footer."""
    return "\r\n".join([ERP_HEAD, *rows, footer, ""])


R1 = "AR1,2026-01-05,标准应收单,天猫旗舰店,人民币,1,113.00,13.00,113.00,0.00,113.00,已审核,4100123456789012345,天猫"
R2 = "AR2,2026-01-06,标准应收单,京东POP店,人民币,1,113.00,13.00,113.00,0.00,113.00,已审核,,京东订单号：3553498017448001"
R3 = "AR3,2026-01-07,标准应收单,拼多多店,人民币,1,113.00,13.00,113.00,0.00,113.00,已审核,260105-662941284701219,"

CASES = {
    # name: (file text or bytes, reader the part must be read with, words of the fallback reason)
    "clean": (erp(R1, R2, R3), "duckdb", ""),
    "utf-8 BOM": (b"\xef\xbb\xbf" + erp(R1, R2, R3).encode(), "duckdb", ""),
    "GBK": (erp(R1, R2, R3).encode("gbk"), "duckdb", ""),
    "LF only": (erp(R1, R2, R3).replace("\r\n", "\n"), "duckdb", ""),
    "lone CR line ends": (erp(R1, R2, R3).replace("\r\n", "\r"), "duckdb", ""),
    "CRLF and LF mixed": (erp(R1, R2, R3).replace("\r\n", "\n", 3), "duckdb", ""),
    "LF then CRLF in the data": ("\n".join(erp(R1, R2, R3).split("\r\n", 2)), "duckdb", ""),
    "no final newline": (erp(R1, R2, R3).rstrip("\r\n"), "duckdb", ""),
    "no footer": (erp(R1, R2, R3, footer=""), "duckdb", ""),
    "trailing comma on every row": (erp(R1 + ",", R2 + ",", R3 + ",  "), "duckdb", ""),
    "blank lines before the footer and at the end": (erp(R1, R2, R3, "", ",,,", footer="合计,,,,,,1\r\n\r\n"),
                                                     "duckdb", ""),
    "blank lines under the header": (erp("", " , ", R1, R2, R3), "duckdb", ""),
    "empty first cell": (erp(R1, "," + R2.split(",", 1)[1], R3), "duckdb", ""),
    "quoted cells with commas and quotes": (erp(R1, R2.replace("京东订单号", '"京东,""订单""号') + '"', R3),
                                            "duckdb", ""),
    "fully quoted rows": (erp(*(",".join(f'"{c}"' for c in r.split(",")) for r in (R1, R2, R3))), "duckdb", ""),
    "Excel text cells": (erp(R1.replace("4100123456789012345", '="4100123456789012345"'), R2, R3), "duckdb", ""),
    "a footer that is a quoted cell": (erp(R1, R2, R3, footer='"合计",,,,,,339.00'), "duckdb", ""),
    "multi-line quoted cell": (erp(R1, R2 + '"第一行\r\n第二行"', R3), "python", "quote"),
    "quote inside an unquoted cell": (erp(R1, R2.replace("京东订单号", 'ab"c'), R3), "python", "quote"),
    "space before a quoted cell": (erp(R1, R2.replace(",京东POP店,", ', "京东POP店",'), R3), "python", "quote"),
    "odd quotes right under the header": (erp(R1.replace(",天猫旗舰店,", ', "天猫旗舰店",'), R2, R3), "python",
                                          "under the header"),
    "short row": (erp(R1, R2.rsplit(",", 2)[0], R3), "python", "wide"),
    "long row": (erp(R1, R2 + ",多余", R3), "python", "wide"),
    "very long row": (erp(R1, R2 + ",x" * 12, R3), "python", "rows from"),
    "blank line in the data": (erp(R1, "", R2, R3), "python", "blank row"),
    "blank-looking row in the data": (erp(R1, ", ,`,", R2, R3), "python", "blank row"),
    "repeated header": (erp(R1, ERP_HEAD, R2, R3), "python", "repeated header"),
    "quoted first cell with a delimiter": (erp(R1, '"单据,9"' + R2[3:], R3), "python", "first cell"),
    "quoted first cell starting with a letter": (erp(R1, '"AR,9"' + R2[3:], R3), "duckdb", ""),
    "control character": (erp(R1.replace("天猫", "天\x01猫"), R2, R3), "python", "control"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_crafted_file(name, profiles, monkeypatch, tmp_path):
    content, reader, why = CASES[name]
    path = tmp_path / "应收单.csv"
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    reports = import_both([path], profiles, monkeypatch)
    ((got, fallback),) = readers(reports)
    assert got == reader, fallback
    assert why in fallback


def test_tab_separated_bank_file_with_trailing_tabs(profiles, monkeypatch, tmp_path):
    """A bank TSV whose rows end in a tab (one empty cell more than the header) reads fast."""
    text = (FIXTURES / "bank_icbc_historydetail.csv").read_bytes().decode("gb18030")
    lines = text.split("\r\n")
    tsv = [ln.replace(",", "\t") + ("\t" if i > 1 and ln else "") for i, ln in enumerate(lines)]
    path = tmp_path / "historydetail.txt"
    path.write_bytes("\r\n".join(tsv).encode("gb18030"))
    reports = import_both([path], profiles, monkeypatch)
    assert readers(reports) == [("duckdb", "")]
    assert reports[0].totals()["loaded"] == 4


def test_description_row_and_backticks(profiles, monkeypatch, tmp_path):
    """Douyin's row under the header goes to the preamble; WeChat's backtick cells are data."""
    settle = (FIXTURES / "douyin_settlement.csv").read_bytes()
    head, rest = settle.split(b"\n", 1)
    desc = "说明,收入+支出,,,\n".encode()
    (tmp_path / "settle.csv").write_bytes(head + b"\n" + desc + rest)
    reports = import_both([tmp_path / "settle.csv", FIXTURES / "wechatpay_trade_all.csv"], profiles, monkeypatch)
    assert [p.reader for r in reports for p in r.parts] == ["duckdb", "duckdb"]


def test_summary_title_row_ends_the_data(profiles, monkeypatch):
    """WeChat's 总交易单数 title row and the backticked totals under it are the footer, not data."""
    import_both([FIXTURES / "wechatpay_trade_all.csv"], profiles, monkeypatch)
    con = store.connect(":memory:")
    rep = import_file(con, FIXTURES / "wechatpay_trade_all.csv", profiles)
    assert rep.parts[0].reader == "duckdb"
    footer = con.execute("SELECT footer FROM source_part").fetchone()[0]
    assert footer[0].startswith("总交易单数") and len(footer) == 2


def test_a_reader_error_restarts_the_file_on_the_python_path(profiles, monkeypatch, tmp_path):
    """If DuckDB raises anyway (it aborts the open transaction), the file is imported again by Python."""
    original = fastcsv.stage

    def mixed_newlines(con, table, off=""):
        why = original(con, table, off)
        if not why:  # the view is made; its file is read when the part is typed
            Path(table.payload.path).write_bytes(b'a,b\r\nc,d\n"x\r\n')  # DuckDB's parser rejects this outright
        return why

    path = tmp_path / "应收单.csv"
    path.write_text(erp(R1, R2, R3), encoding="utf-8")
    monkeypatch.setattr(fastcsv, "ENABLED", False)
    slow = store.connect(":memory:")
    import_file(slow, path, profiles)
    monkeypatch.setattr(fastcsv, "ENABLED", True)
    monkeypatch.setattr(fastcsv, "stage", mixed_newlines)
    con = store.connect(":memory:")
    rep = import_file(con, path, profiles)
    ((reader, fallback),) = readers([rep])
    assert reader == "python" and fallback.startswith("DuckDB could not read the part")
    assert snapshot(con) == snapshot(slow)


def test_temp_files_are_removed(profiles, tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    con = store.connect(":memory:")
    rep = import_file(con, FIXTURES / "erp_kingdee_ar.csv", profiles)
    assert rep.parts[0].reader == "duckdb"
    assert list((tmp_path / "tmp").iterdir()) == []
