"""Kingdee 应收单 list export (formats notes §5): CSV fixture and XLSX built here with openpyxl."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D
from pathlib import Path

import pytest

from conftest import FIXTURES, do_import, rows, write
from recon.io.profile import all_profiles
from recon.resources import profiles_dir

HEADER = "单据编号,业务日期,单据类型,客户,币别,汇率,价税合计,税额,本位币价税合计,已核销金额,未核销金额,单据状态,平台订单号,摘要"
COLS = ("source_line, occurrence, erp_system, bill_no, bill_date, bill_type, line_type, customer, channel, "
        "currency, exchange_rate, amount, tax_amount, amount_local, settled_amount, open_amount, status, "
        "order_no, summary, id_problem")
FIXTURE = FIXTURES / "erp_kingdee_ar.csv"


def ar(line, bill_no, day, bill_type, line_type, customer, currency, rate, amount, tax, local, settled,
       open_, order_no, summary, occurrence=1):
    return {
        "source_line": line, "occurrence": occurrence, "erp_system": "kingdee", "bill_no": bill_no,
        "bill_date": dt.date(2026, 1, day), "bill_type": bill_type, "line_type": line_type,
        "customer": customer, "channel": None, "currency": currency, "exchange_rate": D(rate),
        "amount": D(amount), "tax_amount": D(tax), "amount_local": D(local), "settled_amount": D(settled),
        "open_amount": D(open_), "status": "已审核", "order_no": order_no, "summary": summary,
        "id_problem": None,
    }


EXPECTED = [
    ar(2, "AR00000101", 5, "标准应收单", "receivable", "天猫旗舰店", "CNY", "1", "1130.00", "130.00", "1130.00",
       "1130.00", "0.00", "4100123456789012345", "天猫1月5日货款"),
    # 平台订单号 empty: the order number comes from 摘要 via the default regex (full-width colon)
    ar(3, "AR00000102", 5, "标准应收单", "receivable", "京东POP店", "CNY", "1", "565.00", "65.00", "565.00",
       "0.00", "565.00", "3553498017448001", "京东订单号：3553498017448001 货款"),
    ar(4, "AR00000103", 6, "标准应收单", "receivable", "拼多多店铺", "CNY", "1", "226.00", "26.00", "226.00",
       "0.00", "226.00", "260105-662941284701219", None),
    # one bill, three entry lines; the last two are identical and stay two lines (occurrence 1, 2)
    ar(5, "AR00000104", 6, "标准应收单", "receivable", "抖音小店", "CNY", "1", "339.00", "39.00", "339.00",
       "0.00", "339.00", "6912345678901234567", "抖店1月6日"),
    ar(6, "AR00000104", 6, "标准应收单", "receivable", "抖音小店", "CNY", "1", "113.00", "13.00", "113.00",
       "0.00", "113.00", "6912345678901234568", "抖店1月6日"),
    ar(7, "AR00000104", 6, "标准应收单", "receivable", "抖音小店", "CNY", "1", "113.00", "13.00", "113.00",
       "0.00", "113.00", "6912345678901234568", "抖店1月6日", occurrence=2),
    ar(8, "AR00000105", 7, "其他应收单", "other_receivable", "天猫旗舰店", "CNY", "1", "50.00", "0.00", "50.00",
       "0.00", "50.00", "4100123456789099999", "运费补差 订单号:4100123456789099999"),
    ar(9, "AR00000106", 8, "红字应收单", "credit_note", "天猫旗舰店", "CNY", "1", "-113.00", "-13.00", "-113.00",
       "0.00", "-113.00", "4100123456789012345", "退货红冲"),
    ar(10, "AR00000107", 8, "标准应收单", "receivable", "海外店铺", "USD", "7.1234", "100.00", "0.00", "712.34",
       "0.00", "100.00", None, "海外订单"),
]


def csv_bytes(data_lines: list[str], footer: str | None = "合计,,,,,,2523.00,273.00,3135.34,1130.00,1393.00,,,"):
    lines = [HEADER] + data_lines + ([footer] if footer else [])
    return ("\r\n".join(lines) + "\r\n").encode("gbk")


def fixture_lines() -> list[str]:
    return FIXTURE.read_bytes().decode("gbk").split("\r\n")


def test_golden_csv(con, profiles):
    rep = do_import(con, FIXTURE, profiles)
    assert rep.status == "loaded" and rep.formats == ["kingdee.ar_list"]
    assert rep.encoding == "gb18030"
    assert rows(con, "erp_line", COLS) == EXPECTED
    part = rep.parts[0]
    assert (part.header_line, part.data_lines, part.loaded, part.duplicates, part.quarantined) == (1, 9, 9, 0, 0)


def test_total_row_is_footer_and_proves_the_amounts(con, profiles):
    rep = do_import(con, FIXTURE, profiles)
    assert con.execute("SELECT count(*) FROM erp_line WHERE bill_no = '合计' OR source_line = 11").fetchone()[0] == 0
    footer = con.execute("SELECT footer FROM source_part").fetchone()[0]
    assert footer == ["合计,,,,,,2523.00,273.00,3135.34,1130.00,1393.00"]
    proofs = {p["proof"]: (p["expected"], p["actual"], p["passed"]) for p in rep.parts[0].proofs}
    assert proofs == {"合计.价税合计.amount": ("2523.00", "2523.00", True),
                      "合计.本位币价税合计.amount": ("3135.34", "3135.34", True)}


def test_tampered_amount_fails_the_total_proof(con, profiles, tmp_path):
    lines = fixture_lines()
    lines[1] = lines[1].replace(",1130.00,130.00,1130.00,", ",1131.00,130.00,1131.00,")
    path = write(tmp_path, "ar_tampered.csv", "\r\n".join(lines).encode("gbk"))
    rep = do_import(con, path, profiles)
    assert rep.parts[0].loaded == 9
    failed = {p["proof"]: (p["expected"], p["actual"]) for p in rep.parts[0].proofs if not p["passed"]}
    assert failed == {"合计.价税合计.amount": ("2523.00", "2524.00"),
                      "合计.本位币价税合计.amount": ("3135.34", "3136.34")}
    assert not rep.proofs_passed


def test_export_without_total_row_has_no_proof_to_fail(con, profiles, tmp_path):
    path = write(tmp_path, "ar_no_total.csv", csv_bytes(fixture_lines()[1:10], footer=None))
    rep = do_import(con, path, profiles)
    assert rep.parts[0].loaded == 9
    assert rep.parts[0].proofs == [] and rep.proofs_passed


def test_bad_amount_is_quarantined_and_good_lines_load(con, profiles, tmp_path):
    lines = fixture_lines()[1:10]
    lines[2] = lines[2].replace(",226.00,26.00,", ",22б.00,26.00,")  # a Cyrillic б typed into the amount
    path = write(tmp_path, "ar_bad.csv", csv_bytes(lines, footer=None))
    rep = do_import(con, path, profiles)
    assert (rep.parts[0].loaded, rep.parts[0].quarantined) == (8, 1)
    q = con.execute("SELECT source_name, source_line, column_name, reason FROM quarantine").fetchall()
    assert q == [("ar_bad.csv", 4, "价税合计", "cannot read '22б.00': expected an amount like 1234.50, -12.30 or (12.30)")]
    assert con.execute("SELECT count(*) FROM erp_line WHERE amount = 0").fetchone()[0] == 0


def test_reimport_is_a_no_op_and_overlapping_export_counts_duplicates(con, profiles, tmp_path):
    first = do_import(con, FIXTURE, profiles)
    again = do_import(con, FIXTURE, profiles)
    assert again.status == "already_loaded" and again.parts[0].loaded == 9
    assert con.execute("SELECT count(*) FROM erp_line").fetchone()[0] == 9
    # a later export: the 4 lines of Jan 6 again (incl. both identical entry lines) + one new bill
    lines = fixture_lines()[3:7] + [
        "AR00000108,2026-01-09,标准应收单,天猫旗舰店,人民币,1,88.00,10.12,88.00,0.00,88.00,已审核,4100123456789077777,"]
    later = do_import(con, write(tmp_path, "ar_later.csv", csv_bytes(lines, footer=None)), profiles)
    assert (later.parts[0].loaded, later.parts[0].duplicates) == (1, 4)
    assert D(later.parts[0].amount_duplicate) == D("791.00")
    assert first.file_id != later.file_id
    assert con.execute("SELECT count(*) FROM erp_line WHERE bill_no = 'AR00000104'").fetchone()[0] == 3
    # the bill comes back with a third identical entry line: a new version of the document (its lines
    # differ from the live ones), so all three load and the three live lines of the bill are superseded
    three = fixture_lines()[5:7] + fixture_lines()[6:7]
    rep = do_import(con, write(tmp_path, "ar_three.csv", csv_bytes(three, footer=None)), profiles)
    assert (rep.parts[0].loaded, rep.parts[0].duplicates, rep.parts[0].superseded) == (3, 0, 3)


def test_excel_mangled_order_number_is_flagged_not_guessed(con, profiles, tmp_path):
    lines = [
        "AR00000201,2026/1/5,标准应收单,天猫旗舰店,人民币,1,1130.00,130.00,1130.00,0.00,1130.00,已审核,4.20E+17,天猫货款",
        "AR00000202,2026/1/5,标准应收单,天猫旗舰店,人民币,1,226.00,26.00,226.00,0.00,226.00,已审核,4100123456789012346,",
    ]
    do_import(con, write(tmp_path, "ar_resaved.csv", csv_bytes(lines, footer=None)), profiles)
    got = rows(con, "erp_line", "bill_no, bill_date, order_no, id_problem")
    assert got == [
        {"bill_no": "AR00000201", "bill_date": dt.date(2026, 1, 5), "order_no": None,
         "id_problem": "平台订单号=4.20E+17"},
        {"bill_no": "AR00000202", "bill_date": dt.date(2026, 1, 5), "order_no": "4100123456789012346",
         "id_problem": None},
    ]


def _xlsx(path: Path, order_cell):
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "应收单"
    ws.append(HEADER.split(","))
    ws.append(["AR00000301", dt.datetime(2026, 1, 5), "标准应收单", "天猫旗舰店", "人民币", 1, 1130.1, 130.01,
               1130.1, 0, 1130.1, "已审核", "4100123456789012345", "天猫货款"])
    ws.append(["AR00000302", dt.datetime(2026, 1, 6), "标准应收单", "京东POP店", "人民币", 1, 565, 65, 565, 0,
               565, "已审核", order_cell, "京东货款"])
    ws.append(["AR00000303", dt.datetime(2026, 1, 8), "红字应收单", "海外店铺", "美元", 7.1234, -10.5, 0, -74.8,
               0, -10.5, "已审核", None, "退货 订单号：AMZ-112-1234567"])
    ws.append(["合计", None, None, None, None, None, 1684.6, 195.01, 1620.3, 0, 1684.6])
    wb.save(path)
    return path


def test_xlsx_golden_with_numeric_cells(con, profiles, tmp_path):
    rep = do_import(con, _xlsx(tmp_path / "应收单列表.xlsx", "3553498017448001"), profiles)
    assert rep.container == "xlsx" and rep.formats == ["kingdee.ar_list"]
    got = rows(con, "erp_line", "source_sheet, source_line, bill_no, bill_date, line_type, currency, "
                                "exchange_rate, amount, tax_amount, amount_local, open_amount, order_no, id_problem")
    assert got == [
        {"source_sheet": "应收单", "source_line": 2, "bill_no": "AR00000301", "bill_date": dt.date(2026, 1, 5),
         "line_type": "receivable", "currency": "CNY", "exchange_rate": D("1"), "amount": D("1130.10"),
         "tax_amount": D("130.01"), "amount_local": D("1130.10"), "open_amount": D("1130.10"),
         "order_no": "4100123456789012345", "id_problem": None},
        {"source_sheet": "应收单", "source_line": 3, "bill_no": "AR00000302", "bill_date": dt.date(2026, 1, 6),
         "line_type": "receivable", "currency": "CNY", "exchange_rate": D("1"), "amount": D("565.00"),
         "tax_amount": D("65.00"), "amount_local": D("565.00"), "open_amount": D("565.00"),
         "order_no": "3553498017448001", "id_problem": None},
        {"source_sheet": "应收单", "source_line": 4, "bill_no": "AR00000303", "bill_date": dt.date(2026, 1, 8),
         "line_type": "credit_note", "currency": "USD", "exchange_rate": D("7.1234"), "amount": D("-10.50"),
         "tax_amount": D("0.00"), "amount_local": D("-74.80"), "open_amount": D("-10.50"),
         "order_no": "AMZ-112-1234567", "id_problem": None},
    ]
    assert [p["passed"] for p in rep.parts[0].proofs] == [True, True]


def test_xlsx_order_number_stored_as_number_is_refused(con, profiles, tmp_path):
    # Excel keeps 15 significant digits: 4100123456789012345 typed into a number cell is already wrong
    do_import(con, _xlsx(tmp_path / "ar_numeric_id.xlsx", 4100123456789012345), profiles)
    got = rows(con, "erp_line", "bill_no, order_no, id_problem", "bill_no = 'AR00000302'")
    assert len(got) == 1 and got[0]["order_no"] is None
    assert got[0]["id_problem"].startswith("平台订单号=4.1001234567890") and "E+18" in got[0]["id_problem"]


def test_user_copy_with_another_summary_regex_replaces_the_builtin(con, tmp_path):
    text = (profiles_dir() / "erp_kingdee_ar.yaml").read_text(encoding="utf-8")
    assert text.count("订单号[:：]?") == 1
    mine = write(tmp_path, "my_kingdee_ar.yaml", text.replace("订单号[:：]?", "单号="))
    lines = ["AR00000401,2026-01-05,标准应收单,天猫旗舰店,人民币,1,10.00,0.00,10.00,0.00,10.00,已审核,,货款 单号=T123456789"]
    profs = all_profiles([mine])
    assert [p.source for p in profs if p.name == "kingdee.ar_list"] == [str(mine)]
    do_import(con, write(tmp_path, "ar_custom.csv", csv_bytes(lines, footer=None)), profs)
    assert rows(con, "erp_line", "order_no") == [{"order_no": "T123456789"}]


def test_detected_among_all_builtin_profiles(profiles):
    from recon.io import containers, tabular

    for data in (FIXTURE.read_bytes(), csv_bytes(fixture_lines()[1:3], footer=None)):
        text, _ = containers.decode(data)
        table = tabular.split(containers.text_rows(text), profiles)
        assert table is not None and table.profile.name == "kingdee.ar_list"
