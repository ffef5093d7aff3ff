"""OUT/recon.xlsx rendered from the store of a real `recon.api.run`, read back with openpyxl.

The classification that marks lines `known` is built concurrently, so the test marks a few lines
known itself (line_result, known_case, correction_line rows, as the classifier writes them)."""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest

from recon import api, labels, store
from recon.errors import ConfigError
from recon.report.accounts import load_accounts
from recon.report.runs import latest_run
from recon.report.vouchers import build_vouchers
from recon.report.workbook import LINE_COLUMNS, write_workbook

FIXTURES = Path(__file__).parent / "fixtures"
ERP_HEADER = "单据编号,业务日期,单据类型,客户,币别,汇率,价税合计,税额,本位币价税合计,已核销金额,未核销金额,单据状态,平台订单号,摘要"
ERP_ROWS = [
    "AR001,2026-01-01,标准应收单,支付宝当面付,人民币,1,100.00,11.50,100.00,0,100.00,已审核,M20260101001,",
    "AR002,2026-01-01,标准应收单,支付宝当面付,人民币,1,50.00,5.75,50.00,0,50.00,已审核,,订单号:M20260101002",
    "AR003,2026-01-03,红字应收单,支付宝当面付,人民币,1,-20.00,-2.30,-20.00,0,-20.00,已审核,M20260101001,退款",
    # receivables no platform line explains: unknown (one is a credit note, negative)
    "AR010,2026-01-05,标准应收单,支付宝当面付,人民币,1,11.00,0,11.00,0,11.00,已审核,N001,线下",
    "AR011,2026-01-06,标准应收单,支付宝当面付,人民币,1,12.00,0,12.00,0,12.00,已审核,N002,线下",
    "AR012,2026-01-07,标准应收单,支付宝当面付,人民币,1,13.00,0,13.00,0,13.00,已审核,N003,线下",
    "AR013,2026-01-08,红字应收单,支付宝当面付,人民币,1,-33.30,0,-33.30,0,-33.30,已审核,N004,红冲",
    "AR014,2026-01-09,标准应收单,支付宝当面付,人民币,1,14.00,0,14.00,0,14.00,已审核,N005,线下",
    "AR015,2026-01-10,标准应收单,支付宝当面付,人民币,1,15.00,0,15.00,0,15.00,已审核,N006,线下",
    "AR016,2026-01-11,标准应收单,支付宝当面付,人民币,1,16.00,0,16.00,0,16.00,已审核,N007,线下",
]
DATA_SHEETS = ("已匹配", "已知差异", "未知", "待复核", "订单基线", "凭证", "人工决定", "余额调节表", "未结项")


def _mark_known(con, run_id):
    """Mark N005-N007 known under two codes, with balanced corrections, as the classifier would."""
    picks = con.execute(
        "SELECT lr.line_id, e.order_no, e.amount, e.source_line FROM line_result lr JOIN erp_line e USING (line_id) "
        "WHERE lr.run_id = ? AND e.order_no IN ('N005', 'N006', 'N007') ORDER BY e.order_no", [run_id]).fetchall()
    assert len(picks) == 3
    for n, (line_id, order_no, amount, source_line) in enumerate(picks):
        code = "OFFLINE_PAYMENT_NOT_IN_AR" if order_no != "N007" else "DUPLICATE_ERP_ENTRY"
        case = f"K{n}"
        con.execute("UPDATE line_result SET status = 'known', code = ?, match_group = ?, explanation = ? "
                    "WHERE run_id = ? AND line_id = ?", [code, case, f"{code} {order_no}", run_id, line_id])
        con.execute("INSERT INTO known_case VALUES (?, ?, ?, 'alipay', '2026-01', ?, [?], [?], ?, false)",
                    [run_id, case, code, amount, line_id, f"erp/ar.csv:{source_line}", f"case {order_no}"])
        for k, (acc, d, c) in enumerate((("bank_deposit", amount, 0), ("accounts_receivable_platform", 0, amount)), 1):
            con.execute("INSERT INTO correction_line VALUES (?, ?, ?, 'alipay', '2026-01', ?, ?, ?, ?, ?, ?)",
                        [run_id, case, code, k, acc, Decimal(d), Decimal(c), f"fix {order_no}", "依据测试规则"])


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    base = tmp_path_factory.mktemp("wb")
    inp = base / "in"
    (inp / "alipay").mkdir(parents=True)
    shutil.copy(FIXTURES / "alipay_trade_detail.csv", inp / "alipay" / "trade.csv")
    (inp / "erp").mkdir()
    (inp / "erp" / "ar.csv").write_bytes(("\ufeff" + "\r\n".join([ERP_HEADER, *ERP_ROWS]) + "\r\n").encode("utf-8"))
    db = str(base / "s.duckdb")
    api.run(api.RunConfig(inputs=[inp], out=base / "out", db=db))
    shutil.rmtree(inp)  # everything below renders from the store alone
    con = store.connect(db)
    run_id = latest_run(con)
    _mark_known(con, run_id)
    yield con, run_id, base
    con.close()


def status_lines(con, run_id, status):
    return {(f, ln) for f, ln in con.execute(
        "SELECT coalesce(f.rel_path, l.source_name), l.source_line FROM line_result lr "
        "JOIN (SELECT line_id, file_id, source_name, source_line FROM platform_line UNION ALL "
        "      SELECT line_id, file_id, source_name, source_line FROM erp_line UNION ALL "
        "      SELECT line_id, file_id, source_name, source_line FROM bank_line) l USING (line_id) "
        "LEFT JOIN run_file f ON f.run_id = lr.run_id AND f.file_id = l.file_id "
        "WHERE lr.run_id = ? AND lr.status = ?", [run_id, status]).fetchall()}


def sheet_rows(ws):
    """Data rows (below the caption and header rows) as dicts by header."""
    rows = list(ws.iter_rows(values_only=True))
    return [dict(zip(rows[1], r)) for r in rows[2:]]


@pytest.fixture(scope="module")
def book(ran):
    con, run_id, base = ran
    path = write_workbook(con, run_id, base / "recon.xlsx")
    return openpyxl.load_workbook(path), path


def test_sheets_have_chinese_headers_frozen_rows_and_filters(book):
    wb, _ = book
    assert wb.sheetnames == ["汇总", *DATA_SHEETS]
    for name in DATA_SHEETS:
        ws = wb[name]
        assert ws.freeze_panes == "A3", name
        assert ws.auto_filter.ref and ws.auto_filter.ref.startswith("A2:"), name
    assert [c.value for c in wb["未知"][2]] == [c.header for c in LINE_COLUMNS]
    assert wb["未知"].column_dimensions["O"].width > 60, "the explanation column is wide"


def test_money_cells_are_numbers_with_a_yen_format(book):
    ws = book[0]["未知"]
    cells = [row[8] for row in ws.iter_rows(min_row=3)]
    assert cells and all(isinstance(c.value, (int, float)) and "¥" in c.number_format for c in cells)
    assert any(c.value == -33.3 for c in cells), "a negative amount stays a number"
    dates = [row[9].value for row in ws.iter_rows(min_row=3)]
    assert all(isinstance(d, dt.datetime) for d in dates)


def test_unknown_lines_are_complete_and_continue_on_next_sheets(ran, tmp_path):
    con, run_id, _ = ran
    expected = status_lines(con, run_id, "unknown")
    assert len(expected) >= 5
    wb = openpyxl.load_workbook(write_workbook(con, run_id, tmp_path / "small.xlsx", sheet_rows=2))
    names = [n for n in wb.sheetnames if n == "未知" or n.startswith("未知(")]
    assert len(names) == -(-len(expected) // 2)
    got = [(r["文件"], r["行号"]) for n in names for r in sheet_rows(wb[n])]
    assert len(got) == len(expected) and set(got) == expected, "every unknown line once, none lost"
    assert all(wb[n].freeze_panes == "A3" for n in names)
    assert f"第 2/{len(names)} 表" in wb[names[1]]["A1"].value
    links = {c.hyperlink.location for row in wb["汇总"].iter_rows() for c in row if c.hyperlink}
    assert {f"'{n}'!A1" for n in names} <= links


def test_matched_lines_are_capped_with_a_note(ran, tmp_path):
    con, run_id, _ = ran
    n_matched = len(status_lines(con, run_id, "matched"))
    assert n_matched > 2
    wb = openpyxl.load_workbook(write_workbook(con, run_id, tmp_path / "cap.xlsx", matched_cap=2))
    ws = wb["已匹配"]
    assert len(sheet_rows(ws)) == 2
    assert f"共 {n_matched:,} 行" in ws["A1"].value and "完整清单见 results.csv" in ws["A1"].value


def test_known_lines_are_capped_per_code_with_totals_on_the_summary(ran, tmp_path):
    con, run_id, _ = ran
    wb = openpyxl.load_workbook(write_workbook(con, run_id, tmp_path / "known.xlsx", known_cap_per_code=1))
    rows = sheet_rows(wb["已知差异"])
    assert sorted(r["代码"] for r in rows) == ["DUPLICATE_ERP_ENTRY", "OFFLINE_PAYMENT_NOT_IN_AR"]
    summary = {r[0]: r for r in wb["汇总"].iter_rows(values_only=True) if r[0] == "OFFLINE_PAYMENT_NOT_IN_AR"}
    row = summary["OFFLINE_PAYMENT_NOT_IN_AR"]
    # code, currency, lines, amount, listed, cases, corrected, Σ|residual|, vouchers, voucher total, due, agrees
    assert row[:5] == ("OFFLINE_PAYMENT_NOT_IN_AR", "CNY", 2, 29.0, 1)
    assert row[5:] == (2, 2, 29.0, 1, 29.0, 29.0, "是")


def test_summary_links_to_every_sheet_and_shows_control_totals(book, ran):
    wb, _ = book
    links = {c.hyperlink.location for row in wb["汇总"].iter_rows() for c in row if c.hyperlink}
    assert {f"'{n}'!A1" for n in DATA_SHEETS} <= links
    values = [r for r in wb["汇总"].iter_rows(values_only=True)]
    assert values[1][0] == "结论" and values[1][1].endswith("(incomplete)")  # the verdict first
    assert ("运行", ran[1]) in [v[:2] for v in values[2:8]]
    erp = next(r for r in values if r[0] == "ERP")
    assert erp[1] == "CNY" and erp[2] == erp[4] and isinstance(erp[3], (int, float)), "in = out lines, amounts as numbers"


def test_vouchers_sheet_lists_the_vouchers(book, ran):
    con, run_id, _ = ran
    vouchers = build_vouchers(con, run_id, load_accounts())
    rows = sheet_rows(book[0]["凭证"])
    assert len(rows) == sum(len(v.lines) for v in vouchers) == 4
    assert {r["凭证号"] for r in rows} == {v.number for v in vouchers}
    assert sum(r["借方"] for r in rows) == sum(r["贷方"] for r in rows) == 45.0
    assert all(r["日期"] == dt.datetime(2026, 1, 31) for r in rows)


def test_baseline_sheet_keeps_blanks_blank(book, ran):
    con, run_id, _ = ran
    rows = sheet_rows(book[0]["订单基线"])
    assert len(rows) == con.execute("SELECT count(*) FROM order_baseline WHERE run_id = ?", [run_id]).fetchone()[0]
    stored = dict(con.execute("SELECT order_no, refunded_erp FROM order_baseline WHERE run_id = ?",
                              [run_id]).fetchall())
    for r in rows:
        want = stored[r["订单号"]]
        assert r["实退(ERP)"] == (None if want is None else float(want))


def test_same_run_writes_the_same_bytes_with_the_period_end_as_time(ran, book, tmp_path):
    con, run_id, _ = ran
    again = write_workbook(con, run_id, tmp_path / "again.xlsx")
    assert again.read_bytes() == book[1].read_bytes()
    assert book[0].properties.created == dt.datetime(2026, 1, 31)


def test_an_unknown_account_stops_the_workbook_before_it_is_written(ran, tmp_path):
    con, run_id, _ = ran
    con.execute("INSERT INTO correction_line VALUES (?, 'K0', 'OFFLINE_PAYMENT_NOT_IN_AR', 'alipay', '2026-01', 9, "
                "'nowhere_account', 0, 0, 'x', NULL)", [run_id])
    try:
        with pytest.raises(ConfigError, match="no account 'nowhere_account'"):
            write_workbook(con, run_id, tmp_path / "never.xlsx")
        assert not (tmp_path / "never.xlsx").exists()
    finally:
        con.execute("DELETE FROM correction_line WHERE account = 'nowhere_account'")


def test_line_sheets_say_each_lines_finding_in_chinese(ran, tmp_path):
    """The last column of every line sheet is results.csv's finding as its sentence (recon.labels); a cell
    that does not parse is written as it is, as text: never a formula."""
    con, run_id, _ = ran
    (line_id, old), = con.execute("SELECT line_id, finding FROM line_result WHERE run_id = ? AND status = 'unknown' "
                                  "ORDER BY line_id LIMIT 1", [run_id]).fetchall()
    con.execute("UPDATE line_result SET finding = ? WHERE run_id = ? AND line_id = ?",
                ['=HYPERLINK("http://x","y")', run_id, line_id])
    try:
        wb = openpyxl.load_workbook(write_workbook(con, run_id, tmp_path / "recon.xlsx"))
    finally:
        con.execute("UPDATE line_result SET finding = ? WHERE run_id = ? AND line_id = ?", [old, run_id, line_id])
    said = {(r[0], r[1]): labels.render(r[2], "zh") for r in con.execute(
        "SELECT coalesce(f.rel_path, l.source_name), l.source_line, lr.finding FROM line_result lr "
        "JOIN erp_line l USING (line_id) LEFT JOIN run_file f ON f.run_id = lr.run_id AND f.file_id = l.file_id "
        "WHERE lr.run_id = ? AND lr.line_id <> ?", [run_id, line_id]).fetchall()}
    assert LINE_COLUMNS[-1].header == "判定原因"
    seen, hostile = 0, 0
    for name in ("已匹配", "已知差异", "未知"):
        ws = wb[name]
        for n, row in enumerate(sheet_rows(ws), start=3):
            if (row["文件"], row["行号"]) in said:
                assert row["判定原因"] == said[(row["文件"], row["行号"])], row
                seen += 1
            if row["判定原因"] == '=HYPERLINK("http://x","y")':
                cell = ws.cell(n, len(LINE_COLUMNS))
                assert cell.data_type == "s" and cell.quotePrefix
                hostile += 1
    assert seen == len(said) and hostile == 1  # every ERP line, and the hostile cell as text
    assert any("订单" in v for v in said.values() if v)
