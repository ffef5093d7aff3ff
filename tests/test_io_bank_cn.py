"""Chinese corporate online-banking exports (formats notes §4.1) through ``import_file`` with every
built-in profile: CMB 企业银行 交易明细 (GBK CSV and XLSX, 32 columns with 帐, preamble values),
ICBC ``[HISTORYDETAIL]`` and the synonym-driven generic profile (CMBC, CCB). Amounts are + money
in, − money out; 余额 running balances are proved; natural key (bank_code, account, bank_ref).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal as D

import openpyxl

from conftest import FIXTURES, do_import, rows, write

CMB = FIXTURES / "bank_cmb_detail.csv"
ICBC = FIXTURES / "bank_icbc_historydetail.csv"
CMBC = FIXTURES / "bank_cmbc_detail.csv"
COLS = ("source_line, bank_code, account, currency, booking_date, amount, balance_after, line_type, "
        "counterparty_name, bank_ref, customer_ref, reversal_flag")
ACCT = "755912345610801"
CMB_GOLDEN = [
    (10, "CMB", ACCT, "CNY", dt.date(2026, 4, 1), D("38650.00"), D("538650.00"), "bank_credit",
     "支付宝（中国）网络技术有限公司", "K260401000125A", None, None),
    (11, "CMB", ACCT, "CNY", dt.date(2026, 4, 1), D("-1250.50"), D("537399.50"), "bank_debit",
     "深圳市示例物流有限公司", "K260401000311B", "PAY202604010001", None),
    (12, "CMB", ACCT, "CNY", dt.date(2026, 4, 1), D("-15.00"), D("537384.50"), "bank_debit",
     None, "K260401000312B", None, None),
    (13, "CMB", ACCT, "CNY", dt.date(2026, 4, 1), D("15.00"), D("537399.50"), "bank_credit",
     None, "K260401000598C", None, "*"),
    (14, "CMB", ACCT, "CNY", dt.date(2026, 4, 2), D("12000.00"), D("549399.50"), "bank_credit",
     "北京京东世纪贸易有限公司", "K260402000077A", None, None),
    (15, "CMB", ACCT, "CNY", dt.date(2026, 4, 2), D("8800.88"), D("558200.38"), "bank_credit",
     "财付通支付科技有限公司", "K260402000254A", None, None),
]


def golden(con, where="TRUE"):
    return [tuple(r.values()) for r in rows(con, "bank_line", COLS, where)]


def proofs_of(report):
    return [(p["proof"], p["passed"]) for part in report.parts for p in part.proofs]


def cmb_text():
    return CMB.read_bytes().decode("gbk")


def cmb_xlsx(tmp_path, name="招商银行交易明细.xlsx", text=None):
    """The CMB export as the XLSX 企业银行 writes: same cells, amounts and balances as numbers."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "交易明细"
    money = {"借方金额", "贷方金额", "余额"}
    header = None
    for cells in csv.reader(io.StringIO(text or cmb_text())):
        if cells and cells[0] == "交易日":
            header = cells
        elif header and cells:
            cells = [float(c) if h in money and c else c for h, c in zip(header, cells)]
        ws.append(cells)
    path = tmp_path / name
    wb.save(path)
    return path


# ---------------------------------------------------------------- CMB

def test_cmb_csv_golden_rows_preamble_values_and_chain(con, profiles):
    rep = do_import(con, CMB, profiles)
    assert rep.formats == ["bank.cmb"] and rep.encoding == "gb18030"
    assert golden(con) == CMB_GOLDEN
    values = rep.parts[0].values
    assert values == {"account_name": "深圳市示例电子商务有限公司", "account": ACCT, "currency": "人民币",
                      "period_start": "20260401", "period_end": "20260430", "opening_balance": "500,000.00"}
    assert proofs_of(rep) == [("余额", True)]
    assert rows(con, "bank_line", "account_name, value_date, summary, purpose, txn_type", "source_line = 11") == [
        {"account_name": "深圳市示例电子商务有限公司", "value_date": dt.date(2026, 4, 1), "summary": "网银转账",
         "purpose": "3月运费", "txn_type": "网银转账"}]
    # the first balance follows from the declared opening balance too
    assert D(values["opening_balance"].replace(",", "")) + CMB_GOLDEN[0][5] == CMB_GOLDEN[0][6]


def test_cmb_xlsx_same_rows_with_excel_row_numbers(con, profiles, tmp_path):
    rep = do_import(con, cmb_xlsx(tmp_path), profiles)
    assert rep.formats == ["bank.cmb"] and rep.container == "xlsx"
    assert golden(con) == CMB_GOLDEN
    assert {r["source_sheet"] for r in rows(con, "bank_line", "source_sheet")} == {"交易明细"}
    assert rep.proofs_passed


def test_cmb_broken_running_balance_fails_the_chain(con, profiles, tmp_path):
    text = cmb_text().replace("12000.00,549399.50", "12000.00,549399.05")
    rep = do_import(con, write(tmp_path, "cmb.csv", text, encoding="gbk"), profiles)
    proof = rep.parts[0].proofs[0]
    assert not proof["passed"] and "line 14" in proof["detail"]


def test_cmb_malformed_amount_and_two_sided_row_quarantined(con, profiles, tmp_path):
    text = (cmb_text().replace(",,38650.00,538650.00,", ",,38650.0O,538650.00,")
            .replace(",1250.50,,537399.50,", ",1250.50,1250.50,537399.50,"))
    rep = do_import(con, write(tmp_path, "cmb.csv", text, encoding="gbk"), profiles)
    assert rep.totals() == {"data_lines": 6, "loaded": 4, "duplicates": 0, "quarantined": 2}
    q = rows(con, "quarantine", "source_name, source_line, column_name, reason")
    assert [(r["source_name"], r["source_line"], r["column_name"]) for r in q] == [
        ("cmb.csv", 10, "贷方金额"), ("cmb.csv", 11, "贷方金额/借方金额")]
    assert "38650.0O" in q[0]["reason"] and "both" in q[1]["reason"]
    assert [r["source_line"] for r in rows(con, "bank_line", "source_line")] == [12, 13, 14, 15]


def test_cmb_reimport_noop_and_overlapping_download_duplicates(con, profiles, tmp_path):
    do_import(con, CMB, profiles)
    assert do_import(con, CMB, profiles).status == "already_loaded"
    # the same account exported again as XLSX a day later, with one new row: only that row loads
    text = cmb_text().rstrip("\r\n") + "\r\n" + ",".join(
        ["20260403", "09:00:01", "20260403", "汇入汇款", "", "100.00", "558300.38", "汇入汇款", "K260403000001A"]
        + [""] * 23) + "\r\n"
    rep = do_import(con, cmb_xlsx(tmp_path, text=text), profiles)
    assert (rep.totals()["loaded"], rep.totals()["duplicates"]) == (1, 6)
    assert rep.parts[0].amount_duplicate == "58200.38" and rep.proofs_passed
    # and the same rows once more as CSV: nothing new
    rep = do_import(con, write(tmp_path, "cmb_0403.csv", text, encoding="gbk"), profiles)
    assert (rep.totals()["loaded"], rep.totals()["duplicates"]) == (0, 7)
    assert con.execute("SELECT count(*), sum(amount) FROM bank_line").fetchone() == (7, D("58300.38"))


# ---------------------------------------------------------------- ICBC

def test_icbc_historydetail_golden_rows_and_chain(con, profiles):
    rep = do_import(con, ICBC, profiles)
    assert rep.formats == ["bank.icbc"] and rep.parts[0].header_line == 2
    cols = "source_line, bank_code, booking_date, txn_time, amount, balance_after, line_type, bank_ref, purpose"
    assert [tuple(r.values()) for r in rows(con, "bank_line", cols)] == [
        (3, "ICBC", dt.date(2026, 4, 16), dt.datetime(2026, 4, 16, 9, 2, 11), D("25680.00"), D("125680.00"),
         "bank_credit", "0000823150", "货款"),  # 凭证号 keeps its leading zeros
        (4, "ICBC", dt.date(2026, 4, 16), dt.datetime(2026, 4, 16, 11, 9, 16), D("-3200.00"), D("122480.00"),
         "bank_debit", "0000823151", "包装材料款"),
        (5, "ICBC", dt.date(2026, 4, 16), dt.datetime(2026, 4, 16, 11, 9, 16), D("-6.50"), D("122473.50"),
         "bank_debit", None, "汇划费"),  # no 用途: the 附言 stands in
        (6, "ICBC", dt.date(2026, 4, 17), dt.datetime(2026, 4, 17, 14, 30, 52), D("9135.20"), D("131608.70"),
         "bank_credit", "0000823177", "提现"),
    ]
    assert proofs_of(rep) == [("余额", True)]


def test_icbc_without_its_marker_is_not_taken_for_icbc(con, profiles, tmp_path):
    text = ICBC.read_bytes().decode("gbk").replace("[HISTORYDETAIL]\r\n", "")
    rep = do_import(con, write(tmp_path, "no_marker.csv", text, encoding="gbk"), profiles)
    assert rep.formats == ["bank.cn_generic"]  # the synonym profile still reads it


def test_icbc_overlap_uses_voucher_number_or_fallback_key(con, profiles, tmp_path):
    do_import(con, ICBC, profiles)
    text = ICBC.read_bytes().decode("gbk")
    rep = do_import(con, write(tmp_path, "again.csv", text + "\r\n", encoding="gbk"), profiles)
    # four duplicates, including the fee row without 凭证号 (keyed by date/amount/balance/summary)
    assert (rep.totals()["loaded"], rep.totals()["duplicates"]) == (0, 4)


# ---------------------------------------------------------------- generic (CMBC, CCB, signed)

def test_generic_cmbc_preamble_account_and_synonyms(con, profiles):
    rep = do_import(con, CMBC, profiles)
    assert rep.formats == ["bank.cn_generic"]
    cols = ("source_line, account, account_name, currency, booking_date, txn_time, amount, balance_after, "
            "line_type, counterparty_name, counterparty_account, purpose, bank_ref")
    assert [tuple(r.values()) for r in rows(con, "bank_line", cols)] == [
        (5, "695123456", "深圳市示例电子商务有限公司", "CNY", dt.date(2026, 4, 8), dt.datetime(2026, 4, 8, 10, 11, 12),
         D("45000.00"), D("245000.00"), "bank_credit", "北京抖音信息服务有限公司", "11050188360000000123",
         "抖音4月结算", "31202604080000158"),
        (6, "695123456", "深圳市示例电子商务有限公司", "CNY", dt.date(2026, 4, 8), dt.datetime(2026, 4, 8, 16, 45, 3),
         D("-7800.00"), D("237200.00"), "bank_debit", "深圳市示例物业管理有限公司", "0200001009200012345",
         "4月房租", "31202604080000311"),  # 交易流水号 wins over 凭证号 as the bank reference
    ]
    assert rep.proofs_passed


CCB_HEADER = ["账号", "账户名称", "交易时间", "借方发生额（支取）", "贷方发生额（收入）", "余额", "币种", "对方户名",
              "对方账号", "对方开户机构", "记账日期", "摘要", "备注", "账户明细编号-交易流水号"]


def ccb_xlsx(tmp_path, data):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Sheet1"
    ws.append(CCB_HEADER)
    for r in data:
        ws.append(r)
    path = tmp_path / "ccb.xlsx"
    wb.save(path)
    return path


def test_generic_ccb_xlsx_zero_on_inactive_side(con, profiles, tmp_path):
    acct = "44050158000000001234"
    data = [
        [acct, "深圳市示例电子商务有限公司", "20260410 17:07:09", 0, 5200.5, 105200.5, "人民币元", "深圳市某某科技有限公司",
         "6222020000001234", "中国建设银行深圳分行", "20260410", "转账存入", "", "1-0000123456"],
        [acct, "深圳市示例电子商务有限公司", "20260411 09:30:00", 200, 0, 105000.5, "人民币元", "", "", "",
         "20260411", "手续费", "账户管理费", "1-0000123457"],
    ]
    rep = do_import(con, ccb_xlsx(tmp_path, data), profiles)
    assert rep.formats == ["bank.cn_generic"]
    cols = "source_line, account, currency, booking_date, txn_time, amount, line_type, summary, purpose, bank_ref"
    assert [tuple(r.values()) for r in rows(con, "bank_line", cols)] == [
        (2, acct, "CNY", dt.date(2026, 4, 10), dt.datetime(2026, 4, 10, 17, 7, 9), D("5200.50"), "bank_credit",
         "转账存入", None, "1-0000123456"),
        (3, acct, "CNY", dt.date(2026, 4, 11), dt.datetime(2026, 4, 11, 9, 30), D("-200.00"), "bank_debit",
         "手续费", "账户管理费", "1-0000123457"),
    ]
    assert rep.proofs_passed


def test_generic_signed_and_direction_layouts(con, profiles, tmp_path):
    signed = ("交易日期,交易金额,余额,对方户名,摘要\r\n"
              "2026-04-01,1000.00,1000.00,甲公司,货款\r\n"
              "2026-04-02,-300.00,700.00,乙公司,付款\r\n")
    rep = do_import(con, write(tmp_path, "signed.csv", signed), profiles)
    assert rep.formats == ["bank.cn_generic"] and rep.proofs_passed
    directed = ("交易日期,借贷标志,发生额,账户余额,对方名称\r\n"
                "2026-04-01,贷,1000.00,1000.00,甲公司\r\n"
                "2026-04-02,借,300.00,700.00,乙公司\r\n")
    rep = do_import(con, write(tmp_path, "directed.csv", directed), profiles)
    assert rep.formats == ["bank.cn_generic"] and rep.proofs_passed
    got = rows(con, "bank_line", "source_name, amount, line_type")
    assert [(r["source_name"], r["amount"], r["line_type"]) for r in got] == [
        ("directed.csv", D("1000.00"), "bank_credit"), ("directed.csv", D("-300.00"), "bank_debit"),
        ("signed.csv", D("1000.00"), "bank_credit"), ("signed.csv", D("-300.00"), "bank_debit")]


def test_bank_specific_profiles_win_over_the_generic_one(con, profiles):
    for path, fmt in ((CMB, "bank.cmb"), (ICBC, "bank.icbc"), (CMBC, "bank.cn_generic")):
        assert do_import(con, path, profiles).formats == [fmt]


def test_profile_language_checks_sign_of_and_key_fallback(tmp_path):
    import pytest

    from recon.errors import ConfigError
    from recon.io.profile import load_profile

    bad = write(tmp_path, "bad.yaml", (
        "version: 1\nformat: x.bank\nfamily: bank\ndetect: {header: [余额]}\n"
        "fields:\n  amount: {col: 金额}\n  line_type: {sign_of: amout, positive: bank_credit}\n"
        "  txn_type: {sign_of: line_type}\n"
        "key: [amount]\nkey_fallback: [bank_ref]\n"))
    with pytest.raises(ConfigError) as exc:
        load_profile(bad)
    text = str(exc.value)
    assert "sign_of names unknown field 'amout'" in text
    assert "not itself sign_of" in text
    assert "key_fallback.0: key field 'bank_ref' is not mapped" in text


def test_order_and_contract_references_are_taken_from_the_memo(con, profiles, tmp_path):
    """用途/附言/摘要 that quote an order, contract or invoice give the line its order_no (remittance
    evidence for OFFLINE_PAYMENT_NOT_IN_AR); a memo without such a reference gives none."""
    text = ("[HISTORYDETAIL]\r\n凭证号,交易时间,对方单位,对方账号,转入金额,转出金额,余额,用途,摘要,附言\r\n"
            "0000900001,2026-04-16 09:02:11,宁波海曙示范贸易有限公司,6217000010002233445,36800.00,,36800.00,"
            "货款 合同HT2026-017,汇入,\r\n"
            "0000900002,2026-04-16 10:12:40,李明,6222020200112233,1200.00,,38000.00,,汇入,订单号：20260415-0031\r\n"
            "0000900003,2026-04-17 14:30:52,深圳前海示例投资有限公司,755912345610201,50000.00,,88000.00,,汇入汇款,\r\n"
            "0000900004,2026-04-17 15:00:00,Global Trade LLC,US12345678901234567,800.00,,88800.00,"
            "INVOICE NO. INV-2026-88,汇入,\r\n")
    do_import(con, write(tmp_path, "icbc_refs.csv", text, encoding="gbk"), profiles)
    assert [r["order_no"] for r in rows(con, "bank_line", "order_no")] == [
        "HT2026-017", "20260415-0031", None, "INV-2026-88"]
    generic = ("交易日期,交易金额,余额,对方户名,摘要,附言\r\n"
               "2026-04-01,1000.00,1000.00,甲公司,转账,PO#A-77 货款\r\n"
               "2026-04-02,2000.00,3000.00,乙公司,转账,inventory 2026\r\n"
               "2026-04-03,-50.00,2950.00,丙公司,付款,运费\r\n")
    do_import(con, write(tmp_path, "generic_refs.csv", generic), profiles)
    got = rows(con, "bank_line", "source_name, order_no", "source_name = 'generic_refs.csv'")
    assert [r["order_no"] for r in got] == ["A-77", None, None]
