"""Tmall/Taobao "账务组合查询" XLSX (formats notes §3.1 variant 2), a workbook split over sheets.

账务组合查询1 holds two preamble rows, the header on row 3 and the first data rows; 账务组合查询2
continues the table WITHOUT a header and ends with a total row; a 说明 sheet holds notes. Cells are
space-padded text, blanks are "" (which the XLSX writer leaves out, so a later sheet whose 开票情况
column is empty throughout starts one column further right). The workbook is built here with
openpyxl, as the export writes it.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import openpyxl

from conftest import do_import, rows

HEADER = ["开票情况", "序号", "入账时间", "支付宝交易号", "支付宝流水号", "商户订单号", "账务类型",
          "收入（+元）", "支出（-元）", "账户余额（元）", "服务费（元）", "支付渠道", "签约产品", "对方账户",
          "对方名称", "银行订单号", "商品名称", "备注", "业务基础订单号", "业务订单号", "业务账单来源",
          "业务描述", "付款备注"]
ACCT = "20880011223344550156"
O305, O306, O307 = "5116032541422009305", "5116032541422009306", "5116032541422009307"
TMALL_TECH = "浙江天猫技术有限公司"
PAYOUT_REF = "20260520110070001506490099887766"


def rec(seq, when, flow, kind, inc="", out="", bal="", *, trade="", mord="", fee=" 0.00", cp_acct="",
        cp="", bank="", goods="", memo="", base="", desc=""):
    """One data row in header order, space-padded as the export writes it; "" is a blank."""
    pad = (lambda v: f" {v} " if v else "")
    return ["", pad(seq), pad(when), pad(trade), pad(flow), pad(mord), pad(kind), pad(inc), pad(out), pad(bal),
            fee, pad("支付宝" if kind else ""), "", pad(cp_acct), pad(cp), pad(bank), pad(goods), pad(memo),
            pad(base), "", pad("淘宝" if base else ""), pad(desc), ""]


SHEET1 = [
    rec(1, "2026-05-03 10:15:22", "20260503110000001001", "在线支付", "199.00", "", "1199.00",
        trade="2026050322001188990512345678", mord="T200P" + O305, cp_acct="tb_buyer***", cp="淘宝买家",
        goods="连衣裙", base=O305, desc="0010001|交易收款-交易收款"),
    # 天猫佣金: the order is only in 备注, as `{…}`
    rec(2, "2026-05-03 10:15:23", "20260503110000001002", "转账", "", "9.95", "1189.05",
        cp_acct="tmall_fee@service.aliyun.com", cp=TMALL_TECH, memo="天猫佣金（类目：女装）{%s}扣款" % O305,
        desc="0030001|转账-佣金"),
    rec(3, "2026-05-03 10:15:24", "20260503110000001003", "收费", "", "1.19", "1187.86",
        cp="支付宝（中国）网络技术有限公司", memo="服务费[%s]" % O305, base=O305, desc="0040001|收费-服务费"),
    rec(4, "2026-05-04 08:00:00", "20260504110000001004", "转账", "", "5.97", "1181.89",
        cp="杭州阿里妈妈软件服务有限公司", memo="淘宝客佣金代扣款{%s}" % O305, desc="0030002|转账-淘宝客"),
    rec(5, "2026-05-05 12:00:00", "20260505110000001005", "在线支付", "89.00", "", "1270.89",
        trade="2026050522001188990512345679", mord="T200P" + O306, cp="淘宝买家", goods="T恤", fee=" 0.53 ",
        base=O306, desc="0010001|交易收款-交易收款"),
    rec(6, "2026-05-06 09:30:00", "20260506110000001006", "退款（交易退款）", "", "89.00", "1181.89",
        trade="2026050522001188990512345679", mord="T200P" + O306, cp="淘宝买家", base=O306,
        desc="0020001|交易退款-交易退款"),
    rec(7, "2026-05-06 09:30:01", "20260506110000001007", "转账", "4.45", "", "1186.34",
        cp=TMALL_TECH, memo="天猫佣金退款{%s}" % O306, desc="0030003|转账-佣金退回"),
]
SHEET2 = [
    rec(8, "2026-05-20 16:00:00", "20260520110000001008", "提现", "", "1000.00", "186.34",
        cp="招商银行(6214****1234)", bank=PAYOUT_REF, desc="0050001|提现-提现"),
    rec(9, "2026-05-25 10:00:00", "20260525110000001009", "转账", "1000.00", "", "1186.34",
        cp=TMALL_TECH, memo="保证金退回", desc="0030004|转账-保证金"),
    rec(10, "2026-05-28 11:00:00", "20260528110000001010", "转账", "50.00", "", "1236.34",
        cp="杭州某某贸易有限公司", desc="0030005|转账-转账"),
    rec(11, "2026-05-30 20:00:00", "20260530110000001011", "在线支付", "128.00", "", "1364.34",
        trade="2026053022001188990512345680", mord="T200P" + O307, cp="淘宝买家", goods="半身裙", base=O307,
        desc="0010001|交易收款-交易收款"),
]
TOTAL = ["", " 合计 ", "", "", "", "", "", " 1470.45 ", " 1106.11 ", "", " 0.53 "] + [""] * 12
NOTES = [["说明："], ["1. 本文件由支付宝商家平台导出，数据量较大时分多个工作表。"], ["2. 金额单位：元。"]]

GOLDEN = [  # (sheet, Excel row, order_no, line_type, raw_type, amount, fee_amount, balance_after)
    ("账务组合查询1", 4, O305, "sale", "在线支付", D("199.00"), D("0.00"), D("1199.00")),
    ("账务组合查询1", 5, O305, "commission", "转账", D("-9.95"), D("0.00"), D("1189.05")),
    ("账务组合查询1", 6, O305, "fee", "收费", D("-1.19"), D("0.00"), D("1187.86")),
    ("账务组合查询1", 7, O305, "commission", "转账", D("-5.97"), D("0.00"), D("1181.89")),
    ("账务组合查询1", 8, O306, "sale", "在线支付", D("89.00"), D("-0.53"), D("1270.89")),
    ("账务组合查询1", 9, O306, "refund", "退款（交易退款）", D("-89.00"), D("0.00"), D("1181.89")),
    ("账务组合查询1", 10, O306, "commission", "转账", D("4.45"), D("0.00"), D("1186.34")),
    ("账务组合查询2", 1, None, "payout", "提现", D("-1000.00"), D("0.00"), D("186.34")),
    ("账务组合查询2", 2, None, "deposit", "转账", D("1000.00"), D("0.00"), D("1186.34")),
    ("账务组合查询2", 3, None, "transfer", "转账", D("50.00"), D("0.00"), D("1236.34")),
    ("账务组合查询2", 4, O307, "sale", "在线支付", D("128.00"), D("0.00"), D("1364.34")),
]
COLS = "source_sheet, source_line, order_no, line_type, raw_type, amount, fee_amount, balance_after"


def workbook(tmp_path, sheet1=SHEET1, sheet2=SHEET2, total=TOTAL, notes=NOTES, names=("账务组合查询1",
             "账务组合查询2"), name="2088001122334455-20260601-账务组合查询.xlsx"):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = names[0]
    ws.append([f"#账号：tmallshop@example.com[{ACCT}]"])
    ws.append(["#起始日期：[2026年05月01日 00:00:00]   终止日期：[2026年06月01日 00:00:00]"])
    ws.append(HEADER)
    for r in sheet1:
        ws.append(r)
    if sheet2 is not None:
        ws2 = wb.create_sheet(names[1])
        for r in sheet2 + ([total] if total else []):
            ws2.append(r)
    if notes:
        ws3 = wb.create_sheet("说明")
        for r in notes:
            ws3.append(r)
    path = tmp_path / name
    wb.save(path)
    return path


def golden(con, where="TRUE"):
    return [tuple(r.values()) for r in rows(con, "platform_line", COLS, where)]


def proofs_of(report):
    return [(p.part, pr["proof"], pr["passed"]) for p in report.parts for pr in p.proofs]


def test_split_workbook_golden_with_sheet_names_and_excel_rows(con, profiles, tmp_path):
    rep = do_import(con, workbook(tmp_path), profiles)
    assert rep.status == "loaded" and rep.container == "xlsx"
    assert rep.formats == ["tmall.fund_query"]
    # the header-less second sheet is read with the first sheet's header; the notes sheet is skipped
    assert [(p.part, p.header_line, p.data_lines, p.loaded, p.quarantined) for p in rep.parts] == [
        ("账务组合查询1", 3, 7, 7, 0), ("账务组合查询2", None, 4, 4, 0)]
    assert rep.skipped_parts == ["说明"]
    assert golden(con) == GOLDEN
    first = rows(con, "platform_line",
                 "channel, record_kind, account, event_time, platform_txn_no, merchant_order_no, counterparty, "
                 "raw_desc, id_problem", "source_line = 4")[0]
    assert first == {"channel": "tmall", "record_kind": "fund", "account": ACCT,
                     "event_time": dt.datetime(2026, 5, 3, 10, 15, 22), "platform_txn_no": "20260503110000001001",
                     "merchant_order_no": "T200P" + O305, "counterparty": "淘宝买家",
                     "raw_desc": "0010001|交易收款-交易收款", "id_problem": None}
    # columns line up on the continuation sheet although its 开票情况 column is empty throughout
    payout = rows(con, "platform_line", "platform_txn_no, payout_ref, counterparty, event_time",
                  "line_type = 'payout'")
    assert payout == [{"platform_txn_no": "20260520110000001008", "payout_ref": PAYOUT_REF,
                       "counterparty": "招商银行(6214****1234)", "event_time": dt.datetime(2026, 5, 20, 16)}]
    # counts and amounts exact, and equal to what the total row declares
    n, total_in, total_out = con.execute(
        "SELECT count(*), sum(amount) FILTER (amount > 0), -sum(amount) FILTER (amount < 0) FROM platform_line"
    ).fetchone()
    assert (n, total_in, total_out) == (11, D("1470.45"), D("1106.11"))
    assert con.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 0
    assert proofs_of(rep) == [("账务组合查询1", "账户余额", True), ("账务组合查询2", "账户余额", True)]
    period = con.execute("SELECT period_start, period_end, account FROM source_file").fetchone()
    assert period == (dt.datetime(2026, 5, 1), dt.datetime(2026, 6, 1), ACCT)


def test_total_row_is_footer_not_data(con, profiles, tmp_path):
    rep = do_import(con, workbook(tmp_path), profiles)
    assert rep.totals() == {"data_lines": 11, "loaded": 11, "duplicates": 0, "quarantined": 0}
    footer = con.execute("SELECT part, footer FROM source_part ORDER BY part").fetchall()
    assert footer == [("账务组合查询1", []), ("账务组合查询2", [", 合计 ,,,,,, 1470.45 , 1106.11 ,, 0.53"])]
    assert not rows(con, "platform_line", "source_line", "source_sheet = '账务组合查询2' AND source_line = 5")


def test_tampered_balance_on_continuation_sheet_fails_its_chain(con, profiles, tmp_path):
    sheet2 = [list(r) for r in SHEET2]
    sheet2[2][9] = " 1263.34 "  # 1186.34 + 50.00 is 1236.34
    rep = do_import(con, workbook(tmp_path, sheet2=sheet2), profiles)
    assert proofs_of(rep) == [("账务组合查询1", "账户余额", True), ("账务组合查询2", "账户余额", False)]
    assert rep.parts[1].proofs[0]["actual"] == "2 breaks"


def test_bad_row_on_continuation_sheet_quarantined_with_sheet_and_row(con, profiles, tmp_path):
    sheet2 = [list(r) for r in SHEET2]
    sheet2[1][7] = " 1,000.0O "  # a letter O for a zero
    rep = do_import(con, workbook(tmp_path, sheet2=sheet2), profiles)
    assert rep.totals() == {"data_lines": 11, "loaded": 10, "duplicates": 0, "quarantined": 1}
    q = rows(con, "quarantine", "source_name, source_sheet, source_line, column_name, reason")
    assert q == [{"source_name": "2088001122334455-20260601-账务组合查询.xlsx", "source_sheet": "账务组合查询2",
                  "source_line": 2, "column_name": "收入（+元）",
                  "reason": "cannot read '1,000.0O': expected an amount like 1234.50, -12.30 or (12.30)"}]
    assert len(golden(con)) == 10


def test_reimport_noop_and_overlapping_download_counted_as_duplicates(con, profiles, tmp_path):
    path = workbook(tmp_path)
    assert do_import(con, path, profiles).totals()["loaded"] == 11
    assert do_import(con, path, profiles).status == "already_loaded"
    # the next download overlaps: the last two movements again, then one new sale, on one sheet
    new = rec(12, "2026-05-31 09:00:00", "20260531110000001012", "在线支付", "66.00", "", "1430.34",
              mord="T200P5116032541422009308", cp="淘宝买家", base="5116032541422009308",
              desc="0010001|交易收款-交易收款")
    later = workbook(tmp_path, sheet1=SHEET2[2:] + [new], sheet2=None, notes=None, name="overlap.xlsx")
    rep = do_import(con, later, profiles)
    assert (rep.totals()["loaded"], rep.totals()["duplicates"]) == (1, 2)
    assert con.execute("SELECT count(*) FROM platform_line").fetchone()[0] == 12


def test_excel_resaved_ids_as_numbers_flagged_including_nested_ones(con, profiles, tmp_path):
    """Re-saved in Excel: long ids become numbers. 业务基础订单号 (top level) and 银行订单号 (inside the
    payout_ref `cases:`) are both emptied and both named in id_problem; order_no falls back to the
    T200P digits, which stay text."""
    sheet1 = [list(r) for r in SHEET1]
    sheet1[0][18] = float(O305)
    sheet2 = [list(r) for r in SHEET2]
    sheet2[0][15] = float(PAYOUT_REF)
    rep = do_import(con, workbook(tmp_path, sheet1=sheet1, sheet2=sheet2), profiles)
    assert rep.formats == ["tmall.fund_query"] and rep.totals()["quarantined"] == 0
    got = rows(con, "platform_line", "source_sheet, source_line, order_no, payout_ref, id_problem",
               "id_problem IS NOT NULL")
    assert got == [
        {"source_sheet": "账务组合查询1", "source_line": 4, "order_no": O305, "payout_ref": None,
         "id_problem": "业务基础订单号=5.116032541422009E+18"},
        {"source_sheet": "账务组合查询2", "source_line": 1, "order_no": None, "payout_ref": None,
         "id_problem": "银行订单号=2.026052011007E+31"},
    ]


def test_detected_among_all_builtin_profiles_and_plain_alipay_kept_apart(con, profiles, tmp_path):
    rep = do_import(con, workbook(tmp_path), profiles)
    assert rep.formats == ["tmall.fund_query"]
    # without T200P orders the same layout is a plain Alipay ledger, not a Tmall one
    plain = [[c.replace("T200P", "M") for c in r] for r in SHEET1]
    rep = do_import(con, workbook(tmp_path, sheet1=plain, sheet2=None, name="plain.xlsx"), profiles)
    assert rep.formats == ["alipay.web_fund_detail"]


# ---------------------------------------------------------------- continuation is not guessed

def test_empty_and_notes_sheets_with_default_names_are_not_continuations(con, profiles, tmp_path):
    """Sheet1/Sheet2/Sheet3 share a base name too: an empty Sheet2 and a notes Sheet3 are skipped,
    not loaded as header-less data (no failed proof, nothing quarantined)."""
    path = workbook(tmp_path, sheet2=[], total=None, notes=None, names=("Sheet1", "Sheet2"))
    wb = openpyxl.load_workbook(path)
    wb.create_sheet("Sheet3").append(["说明：本表由支付宝商家平台导出"])
    wb.save(path)
    rep = do_import(con, path, profiles)
    assert [p.part for p in rep.parts] == ["Sheet1"] and rep.skipped_parts == ["Sheet2", "Sheet3"]
    assert rep.totals() == {"data_lines": 7, "loaded": 7, "duplicates": 0, "quarantined": 0}
    assert rep.proofs_passed


def test_a_table_closed_by_its_total_row_does_not_continue(con, profiles, tmp_path):
    """账务组合查询1 ends with the total row: a following 账务组合查询2 is not read as more of it."""
    path = workbook(tmp_path, sheet1=SHEET1 + [TOTAL], sheet2=SHEET2, total=None)
    rep = do_import(con, path, profiles)
    assert [p.part for p in rep.parts] == ["账务组合查询1"]
    assert rep.skipped_parts == ["账务组合查询2", "说明"]
