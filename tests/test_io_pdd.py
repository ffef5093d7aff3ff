"""拼多多 店铺账务明细: golden rows, footer proofs, multiset de-duplication, damage."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from conftest import FIXTURES, do_import, rows, write

DETAIL = FIXTURES / "pdd_account_detail.csv"
COLS = "source_line, channel, record_kind, event_time, order_no, raw_type, raw_desc, line_type, amount, id_problem"

# (line, 商户订单号, 账务类型, line_type, amount)
GOLDEN = [
    (6, "260531-662941284701219", "交易收入", "sale", "59.90"),
    (7, "260531-662941284701219", "技术服务费", "fee", "-0.36"),
    (8, "260601-118273645501928", "交易收入", "sale", "128.00"),
    (9, "260601-118273645501928", "技术服务费", "fee", "-0.77"),
    (10, "260601-118273645501928", "交易退款", "refund", "-27.50"),
    (11, "260603-550912837746102", "交易收入", "sale", "9.90"),
    (12, "260603-550912837746102", "技术服务费", "fee", "0.00"),
    (13, None, "其他支出", "fee", "-12.00"),
    (14, None, "保证金", "deposit", "-2000.00"),
    (15, None, "提现", "payout", "-100.00"),
]


def _lines():
    return DETAIL.read_bytes().decode("gb18030").splitlines()


def _file(tmp_path, name, lines):
    return write(tmp_path, name, "\r\n".join(lines) + "\r\n", "gb18030")


def _brief(con):
    return [(r["source_line"], r["order_no"], r["raw_type"], r["line_type"], str(r["amount"]))
            for r in rows(con, "platform_line", COLS)]


def _proofs(rep):
    return {p["proof"]: (p["expected"], p["actual"], p["passed"]) for p in rep.parts[0].proofs}


def test_golden_rows_period_and_footer_proofs(con, profiles):
    rep = do_import(con, DETAIL, profiles)
    assert rep.formats == ["pdd.account_detail"] and rep.encoding == "gb18030"
    assert rep.parts[0].header_line == 5  # line 2 is blank and still counted
    assert rep.totals() == {"data_lines": 10, "loaded": 10, "duplicates": 0, "quarantined": 0}
    assert _brief(con) == GOLDEN
    got = rows(con, "platform_line", COLS)
    assert {(r["channel"], r["record_kind"]) for r in got} == {("pdd", "fund")}
    assert got[0]["event_time"] == dt.datetime(2026, 6, 1, 8, 12, 45)
    assert got[0]["raw_desc"] == "0010002|交易收入-订单收入"
    assert got[7]["raw_desc"] == "0140028|其他支出-合作费追回"
    assert all(isinstance(r["amount"], Decimal) and r["id_problem"] is None for r in got)
    # 23:59:59 inclusive end becomes the exclusive next midnight
    assert con.execute("SELECT period_start, period_end FROM source_file").fetchone() == (
        dt.datetime(2026, 6, 1), dt.datetime(2026, 7, 1))
    # the 7 outgo lines include the zero 技术服务费 line: counts cover zero-amount rows
    assert _proofs(rep) == {
        "支出合计.count": ("7", "7", True), "支出合计.amount": ("-2140.63", "-2140.63", True),
        "收入合计.count": ("3", "3", True), "收入合计.amount": ("197.80", "197.80", True),
    }
    assert rep.proofs_passed


def test_footer_that_disagrees_fails_the_proof(con, profiles, tmp_path):
    lines = [line.replace("#支出合计：7笔-2140.63元", "#支出合计：6笔-2140.63元")
                 .replace("#收入合计：3笔197.80元", "#收入合计：3笔197.90元") for line in _lines()]
    rep = do_import(con, _file(tmp_path, "pdd_tampered.csv", lines), profiles)
    proofs = _proofs(rep)
    assert proofs["支出合计.count"] == ("6", "7", False)  # a non-zero count would have said 6
    assert proofs["收入合计.amount"] == ("197.90", "197.80", False)
    assert proofs["支出合计.amount"][2] and proofs["收入合计.count"][2]
    assert not rep.proofs_passed
    failed = con.execute("SELECT proof FROM control_proof WHERE NOT passed ORDER BY proof").fetchall()
    assert failed == [("支出合计.count",), ("收入合计.amount",)]


def test_missing_footer_fails_the_proof(con, profiles, tmp_path):
    rep = do_import(con, _file(tmp_path, "pdd_cut.csv", _lines()[:-3]), profiles)
    assert not rep.proofs_passed
    assert all("missing" in p["detail"] for p in rep.parts[0].proofs)


def test_first_column_synonym_商品订单号(con, profiles, tmp_path):
    lines = _lines()
    lines[4] = lines[4].replace("商户订单号", "商品订单号")
    rep = do_import(con, _file(tmp_path, "pdd_goods.csv", lines), profiles)
    assert rep.formats == ["pdd.account_detail"] and _brief(con) == GOLDEN


def test_identical_rows_in_one_file_are_separate_events(con, profiles, tmp_path):
    lines = _lines()
    fee = lines[12]  # 其他支出 -12.00, no order id: nothing tells two such rows apart
    body = lines[:13] + [fee, fee] + lines[13:-3]
    footer = ["#支出合计：9笔-2164.63元", "#收入合计：3笔197.80元", "#导出时间：2026-07-01 09:30:12"]
    rep = do_import(con, _file(tmp_path, "pdd_k.csv", body + footer), profiles)
    assert rep.totals() == {"data_lines": 12, "loaded": 12, "duplicates": 0, "quarantined": 0}
    assert rep.proofs_passed
    same = con.execute("SELECT source_line, occurrence FROM platform_line WHERE raw_type = '其他支出' "
                       "ORDER BY source_line").fetchall()
    assert same == [(13, 1), (14, 2), (15, 3)]


def test_overlapping_files_keep_the_larger_count(con, profiles, tmp_path):
    head = _lines()[:5]
    row = "-,2026-06-10 09:00:00,0,-12.00,其他支出,-,0140028|其他支出-合作费追回"
    other = "260531-662941284701219,2026-06-01 08:12:45,59.90,0,交易收入,-,0010002|交易收入-订单收入"
    a = do_import(con, _file(tmp_path, "a.csv", head + [row, row, other]), profiles)
    b = do_import(con, _file(tmp_path, "b.csv", head + [row, row, row]), profiles)
    assert a.totals() == {"data_lines": 3, "loaded": 3, "duplicates": 0, "quarantined": 0}
    assert b.totals() == {"data_lines": 3, "loaded": 1, "duplicates": 2, "quarantined": 0}
    assert b.parts[0].amount_duplicate == "-24.00"
    assert con.execute("SELECT count(*), sum(amount) FROM platform_line WHERE raw_type = '其他支出'").fetchone() == (
        3, Decimal("-36.00"))
    # and the other way round: a later, smaller file adds nothing
    c = do_import(con, _file(tmp_path, "c.csv", head + [row]), profiles)
    assert c.totals()["loaded"] == 0 and c.totals()["duplicates"] == 1


def test_reimport_is_a_noop(con, profiles):
    assert do_import(con, DETAIL, profiles).status == "loaded"
    again = do_import(con, DETAIL, profiles)
    assert again.status == "already_loaded"
    assert con.execute("SELECT count(*) FROM platform_line").fetchone() == (10,)


def test_excel_resaved_copy(con, profiles, tmp_path):
    """Excel pads every line with commas, drops seconds and trailing zeros; the YYMMDD-digits ids
    contain a hyphen, so Excel leaves them as text and they survive intact."""
    resaved = []
    for line in _lines():
        cells = line.split(",")
        if len(cells) == 7 and cells[1][:4] == "2026":
            d, t = cells[1].split(" ")
            y, m, day = d.split("-")
            cells[1] = f"{y}/{int(m)}/{int(day)} {int(t[:2])}:{t[3:5]}"
            cells[2:4] = [c.rstrip("0").rstrip(".") if "." in c else c for c in cells[2:4]]  # 59.90 -> 59.9
        resaved.append(",".join(cells + [""] * (7 - len(cells))))
    rep = do_import(con, _file(tmp_path, "pdd_resaved.csv", resaved), profiles)
    assert rep.totals() == {"data_lines": 10, "loaded": 10, "duplicates": 0, "quarantined": 0}
    assert rep.proofs_passed
    got = rows(con, "platform_line", COLS)
    assert [r["order_no"] for r in got] == [g[1] for g in GOLDEN]
    assert all(r["id_problem"] is None for r in got)
    assert got[0]["event_time"] == dt.datetime(2026, 6, 1, 8, 12)
    assert [str(r["amount"]) for r in got] == [g[4] for g in GOLDEN]


def test_scientific_notation_order_id_is_flagged_not_guessed(con, profiles, tmp_path):
    """Should an id ever arrive as a number (a 商品订单号 without its hyphen, opened in Excel)."""
    lines = _lines()
    lines[5] = lines[5].replace("260531-662941284701219", "2.60532E+20")
    rep = do_import(con, _file(tmp_path, "pdd_sci.csv", lines), profiles)
    assert rep.totals()["loaded"] == 10
    first = rows(con, "platform_line", COLS)[0]
    assert first["order_no"] is None and first["id_problem"] == "商户订单号=2.60532E+20"
    assert str(first["amount"]) == "59.90"


def test_header_moved_down_one_row_is_still_found(con, profiles, tmp_path):
    lines = _lines()
    moved = lines[:4] + ["店铺：青禾日用旗舰店"] + lines[4:]
    rep = do_import(con, _file(tmp_path, "pdd_moved.csv", moved), profiles)
    assert rep.parts[0].header_line == 6 and rep.proofs_passed
    assert [(line - 1, *rest) for line, *rest in _brief(con)] == GOLDEN


def test_malformed_amount_is_quarantined_and_breaks_the_count(con, profiles, tmp_path):
    lines = _lines()
    lines[7] = lines[7].replace(",128.00,", ",128.OO,")
    lines[8] = lines[8].replace(",0,-0.77,", ",0.77,-0.77,")
    lines[14] = lines[14].replace(",0,-100.00,", ",,,")  # both amount cells empty: never read as 0
    rep = do_import(con, _file(tmp_path, "pdd_bad.csv", lines), profiles)
    assert rep.totals() == {"data_lines": 10, "loaded": 7, "duplicates": 0, "quarantined": 3}
    q = rows(con, "quarantine", "source_name, source_line, column_name, reason")
    assert q == [
        {"source_name": "pdd_bad.csv", "source_line": 8, "column_name": "收入金额（+元）",
         "reason": "cannot read '128.OO': expected an amount like 1234.50, -12.30 or (12.30)"},
        {"source_name": "pdd_bad.csv", "source_line": 9, "column_name": "收入金额（+元）/支出金额（-元）",
         "reason": "both the money-in and the money-out column are non-zero"},
        {"source_name": "pdd_bad.csv", "source_line": 15, "column_name": "收入金额（+元）/支出金额（-元）",
         "reason": "both the money-in and the money-out column are empty"},
    ]
    assert [r[0] for r in _brief(con)] == [6, 7, 10, 11, 12, 13, 14]
    proofs = _proofs(rep)
    assert proofs["收入合计.count"] == ("3", "2", False) and proofs["支出合计.count"] == ("7", "5", False)


def test_xlsx_export_gives_the_same_rows(con, profiles, tmp_path):
    """The same export saved as XLSX: preamble and footer as text cells, amounts as number cells."""
    import csv
    import io

    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "店铺账务明细"
    for i, cells in enumerate(csv.reader(io.StringIO(DETAIL.read_bytes().decode("gb18030"))), start=1):
        for j, cell in enumerate(cells, start=1):
            value = cell
            if i > 5 and j in (3, 4) and not cells[0].startswith("#"):
                value = float(cell)  # Excel stores the amounts as numbers
            if value != "":
                ws.cell(row=i, column=j, value=value)
    path = tmp_path / "店铺账务明细.xlsx"
    wb.save(path)
    rep = do_import(con, path, profiles)
    assert rep.formats == ["pdd.account_detail"] and rep.container == "xlsx"
    assert _brief(con) == GOLDEN, "Excel rows are the CSV's physical lines (blank row 2 included)"
    assert {r["source_sheet"] for r in rows(con, "platform_line", "source_sheet")} == {"店铺账务明细"}
    assert all(p[2] for p in _proofs(rep).values()), _proofs(rep)
