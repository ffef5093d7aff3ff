"""Every hostile prefix through every text output, end to end.

For each of = + - @ ＝ tab CR: an ERP receivable export (Kingdee AR CSV) whose file name, 平台订单号
and 摘要 begin with it, and a malformed row that goes to quarantine, is run through
``recon.api.run``; the classification's tables (built concurrently) get a case over the hostile
line, as the classifier writes them, so the vouchers carry the hostile file:line and case text.
Then every output is read back: results.csv, quarantine.csv, order_baseline.csv, vouchers.csv,
voucher_sources.csv, the Kingdee and U8 voucher files, and every sheet of the workbook. A CSV
text field never begins with a formula character (the hostile text arrives with a leading
apostrophe) while numeric fields, negatives included, stay plain numbers; an XLSX cell is never a
formula, hostile text is a string cell with the quote-prefix style and its value intact, money
cells are numbers with a ¥ format.
"""

from __future__ import annotations

import csv
import io
import shutil
from decimal import Decimal, InvalidOperation
from pathlib import Path

import openpyxl
import pytest

from recon import api, store
from recon.report.cells import HOSTILE_PREFIXES
from recon.report.runs import latest_run
from recon.report.vouchers import write_vouchers
from recon.report.workbook import write_workbook

FIXTURES = Path(__file__).parent / "fixtures"
ERP_HEADER = "单据编号,业务日期,单据类型,客户,币别,汇率,价税合计,税额,本位币价税合计,已核销金额,未核销金额,单据状态,平台订单号,摘要"
NUMERIC = {
    "results.csv": {"source_line", "amount"},
    "quarantine.csv": {"line"},
    "order_baseline.csv": {f"{d}_{s}" for d in ("receivable", "received", "refund_due", "refunded", "commission",
                                                 "tax") for s in ("platform", "erp")},
    "vouchers.csv": {"line_no", "debit", "credit"},
    "voucher_sources.csv": {"residual"},
    "vouchers_u8.csv": {"附单据数", "金额借方", "金额贷方"},
}


def q(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


@pytest.fixture(params=HOSTILE_PREFIXES, ids=["eq", "plus", "minus", "at", "fullwidth_eq", "tab", "cr"])
def hostile_run(request, tmp_path):
    p = request.param
    order, memo = f'{p}HYPERLINK("http://x","y")', f"{p}cmd|' /C calc'!A0"
    inp = tmp_path / "in"
    inp.mkdir()
    shutil.copy(FIXTURES / "alipay_trade_detail.csv", inp / "trade.csv")
    erp_name = f"{p}erp.csv"
    rows = [
        ERP_HEADER,
        "AR001,2026-01-01,标准应收单,支付宝当面付,人民币,1,100.00,11.50,100.00,0,100.00,已审核,M20260101001,",
        "AR003,2026-01-03,红字应收单,支付宝当面付,人民币,1,-20.00,-2.30,-20.00,0,-20.00,已审核,M20260101001,退款",
        f"AR004,2026-01-04,标准应收单,支付宝当面付,人民币,1,66.00,0,66.00,0,66.00,已审核,{q(order)},{q(memo)}",
        f"AR005,2026-01-05,红字应收单,支付宝当面付,人民币,1,-7.70,0,-7.70,0,-7.70,已审核,{q(order + '2')},{q(memo)}",
        f"AR006,2026-01-06,标准应收单,支付宝当面付,人民币,1,abc,0,1.00,0,1.00,已审核,{q(order)},{q(memo)}",
    ]
    (inp / erp_name).write_bytes(("\ufeff" + "\r\n".join(rows) + "\r\n").encode("utf-8"))
    out = tmp_path / "out"
    db = str(tmp_path / "s.duckdb")
    api.run(api.RunConfig(inputs=[inp], out=out, db=db))
    con = store.connect(db)
    run_id = latest_run(con)
    stored = con.execute("SELECT order_no, summary, source_line, line_id FROM erp_line WHERE bill_no = 'AR004'").fetchall()
    assert stored, "the hostile line was imported"
    order_s, memo_s, line, line_id = stored[0]
    # the importer trims surrounding whitespace from cells, so a leading tab or CR survives only in the
    # file name; every other prefix reaches the store as typed
    assert (order_s, memo_s) == ((order, memo) if p.strip() else (order[1:], memo[1:]))
    rel = con.execute("SELECT rel_path FROM run_file WHERE run_id = ? AND rel_path = ?", [run_id, erp_name]).fetchone()
    assert rel, "the hostile file name is the run's relative path"
    # the classifier's rows for a case over the hostile line (its explanation quotes the memo first)
    con.execute("INSERT INTO known_case VALUES (?, 'K1', 'OFFLINE_PAYMENT_NOT_IN_AR', 'alipay', '2026-01', 66.00, "
                "[?], [?], ?, false)", [run_id, line_id, f"{erp_name}:{line}", memo_s])
    for n, (acc, d, c) in enumerate((("bank_deposit", 66, 0), ("accounts_receivable_platform", 0, 66)), 1):
        con.execute("INSERT INTO correction_line VALUES (?, 'K1', 'OFFLINE_PAYMENT_NOT_IN_AR', 'alipay', '2026-01', "
                    "?, ?, ?, ?, ?, ?)", [run_id, n, acc, Decimal(d), Decimal(c), memo_s, order_s])
    for fmt in ("kingdee", "u8"):
        write_vouchers(con, run_id, out, fmt)
    write_workbook(con, run_id, out / "recon.xlsx")
    con.close()
    return {"prefix": p, "order": order_s, "memo": memo_s, "file": erp_name, "out": out}


def csv_form(text: str) -> str:
    """How a text field must appear in a CSV: with a leading apostrophe when it would start a formula."""
    return "'" + text if text[:1] in HOSTILE_PREFIXES else text


def read_csv(path: Path):
    raw = path.read_bytes()
    text = raw.decode("gb18030") if path.name == "vouchers_u8.csv" else raw[3:].decode("utf-8")
    if path.name != "vouchers_u8.csv":
        assert raw.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def assert_inert_csv(path: Path, numeric: set) -> list[str]:
    """No text field starts a formula; numeric fields are plain numbers. Returns every text field."""
    texts = []
    for row in read_csv(path):
        for col, value in row.items():
            if value in (None, ""):
                continue
            if col in numeric:
                try:
                    Decimal(value)
                except InvalidOperation:
                    pytest.fail(f"{path.name}: {col}={value!r} is not a plain number")
            else:
                assert value[:1] not in HOSTILE_PREFIXES, f"{path.name}: {col}={value!r} would run as a formula"
                texts.append(value)
    return texts


def test_every_csv_output_is_inert(hostile_run):
    out, order, memo, name = hostile_run["out"], hostile_run["order"], hostile_run["memo"], hostile_run["file"]
    fields = {n: assert_inert_csv(out / n, NUMERIC[n]) for n in NUMERIC}
    # the hostile text is there, neutralised, not dropped or rewritten
    assert csv_form(order) in fields["results.csv"] and "'" + name in fields["results.csv"]
    assert any(f.startswith("'" + name) for f in fields["quarantine.csv"])
    assert any(order in f for f in fields["quarantine.csv"])
    assert csv_form(order) in fields["order_baseline.csv"]
    assert any(f.startswith("'" + name + ":") for f in fields["vouchers.csv"]), "source_refs start with the file"
    assert any(f.startswith("'" + name + ":") for f in fields["voucher_sources.csv"])
    assert csv_form(memo) in fields["voucher_sources.csv"]
    assert fields["vouchers_u8.csv"], "the U8 file has text fields, all inert"
    # numbers stay numbers, negatives included
    amounts = {r["amount"] for r in read_csv(out / "results.csv")}
    assert {"-20.00", "-7.70", "66.00"} <= amounts


def _cell_text(value: str) -> str:
    # openpyxl leaves xlsx's escaped CR as the literal _x000D_ that Excel itself decodes
    return value.replace("_x000D_", "\r")


def test_every_workbook_sheet_is_inert(hostile_run):
    out, order, memo, p = hostile_run["out"], hostile_run["order"], hostile_run["memo"], hostile_run["prefix"]
    found = set()
    for book in ("recon.xlsx", "vouchers_kingdee.xlsx"):
        wb = openpyxl.load_workbook(out / book)
        for ws in wb:
            for row in ws.iter_rows():
                for cell in row:
                    assert cell.data_type != "f", f"{book}/{ws.title}!{cell.coordinate} is a formula"
                    if isinstance(cell.value, str):
                        text = _cell_text(cell.value)
                        if text[:1] in HOSTILE_PREFIXES:
                            assert cell.quotePrefix, f"{book}/{ws.title}!{cell.coordinate} {text!r} lacks the text mark"
                            found.add((ws.title, text))
    # the hostile values arrive intact (no apostrophe glued on) where the data puts them
    if p.strip():
        lines = {text for sheet, text in found if sheet in ("未知", "已知差异", "待复核")}
        assert {order, memo} <= lines, "the hostile order number and memo as the line sheets show them"
        assert ("订单基线", order) in found
    assert any(sheet == "凭证" and text.startswith(p + "erp.csv:") for sheet, text in found)
    assert any(sheet == "汇总" and text == p + "erp.csv" for sheet, text in found)
    # money: numbers with the ¥ format, negatives included
    wb = openpyxl.load_workbook(out / "recon.xlsx")
    money = [row[8] for name in ("已匹配", "未知") for row in wb[name].iter_rows(min_row=3)]
    assert money and all(isinstance(c.value, (int, float)) and "¥" in c.number_format for c in money)
    assert {-20.0, -7.7} <= {c.value for c in money}
    for name in ("已匹配", "未知", "订单基线", "凭证"):
        assert wb[name].freeze_panes == "A3" and wb[name].auto_filter.ref.startswith("A2:")
