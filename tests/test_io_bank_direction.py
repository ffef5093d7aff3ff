"""Bank files as banks ship them (issue 11 points 11 and 12): amounts signed by a direction column,
the debit-card and personal-account downloads small sellers bank on, and the rule that an unsigned
amount with no recognisable direction is never loaded as money in.

Every fixture is written here in its bank's published layout, quirks included (BOM, preambles,
cells padded to a fixed width and ending with a tab, thousands separators, rows shorter than the
header, newest line first); ids, names and amounts are our own.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

from conftest import do_import, rows, write
from recon.io.profile import all_profiles

COLS = "source_line, booking_date, txn_time, amount, balance_after, line_type, counterparty_name"


def amounts(con):
    return [(r["source_line"], r["amount"]) for r in rows(con, "bank_line", "source_line, amount")]


# 交通银行 借记卡: unsigned 交易金额 beside 借贷 written "借 Dr" / "贷 Cr"
BOCOM = ("\ufeff序号,交易日期,交易时间,交易类型,借贷,交易金额,余额,对方账号,对方户名,交易地点,摘要\n"
         "1,2026-01-05,09:12:33,网上支付,借 Dr,120.50,879.50,6222000011112222,杭州某某科技有限公司,网上支付,货款\n"
         "2,2026-01-06,14:00:01,转账存入,贷 Cr,1000.00,1879.50,6217000033334444,张小明,网络支付,订单 T20260106001\n"
         "3,2026-01-07,00:00:00,存款利息,贷 Cr,0.35,1879.85,1323132313211331313,应付个人活期储蓄存款利息,批处理,\n")


def test_direction_column_signs_the_amount(con, profiles, tmp_path):
    rep = do_import(con, write(tmp_path, "交通银行交易明细.csv", BOCOM), profiles)
    assert rep.formats == ["bank.cn_generic"]
    assert rep.totals() == {"data_lines": 3, "loaded": 3, "duplicates": 0, "quarantined": 0}
    got = rows(con, "bank_line", COLS)
    assert [(r["source_line"], r["amount"], r["line_type"]) for r in got] == [
        (2, D("-120.50"), "bank_debit"), (3, D("1000.00"), "bank_credit"), (4, D("0.35"), "bank_credit")]
    assert got[0]["txn_time"] == dt.datetime(2026, 1, 5, 9, 12, 33)
    assert rep.proofs_passed  # the running balance follows from the signed amounts


def test_unknown_direction_value_is_quarantined_naming_the_column(con, profiles, tmp_path):
    text = BOCOM.replace("贷 Cr,1000.00", "冲 Rv,1000.00")
    rep = do_import(con, write(tmp_path, "bocom.csv", text), profiles)
    assert (rep.totals()["loaded"], rep.totals()["quarantined"]) == (2, 1)
    (q,) = rows(con, "quarantine", "source_line, column_name, reason")
    assert (q["source_line"], q["column_name"]) == (3, "借贷")
    assert q["reason"].startswith("unknown direction '冲 Rv': expected one of 贷")


UNSIGNED = ("交易日期,交易金额,余额,对方户名,摘要\n"
            "2026-01-05,120.50,879.50,杭州某某科技有限公司,货款\n"
            "2026-01-06,1000.00,1879.50,张小明,转账\n")


def test_unsigned_amount_without_direction_is_never_loaded_as_a_credit(con, profiles, tmp_path):
    rep = do_import(con, write(tmp_path, "unsigned.csv", UNSIGNED), profiles)
    assert rep.formats == ["bank.cn_generic"]
    assert rep.totals() == {"data_lines": 2, "loaded": 0, "duplicates": 0, "quarantined": 2}
    assert con.execute("SELECT count(*) FROM bank_line").fetchone()[0] == 0
    reasons = {r["reason"] for r in rows(con, "quarantine", "reason")}
    (reason,) = reasons
    assert "never takes an unsigned amount for money in" in reason and "借贷" in reason and "收/支" in reason


def test_a_file_that_signs_its_single_amount_column_loads(con, profiles, tmp_path):
    text = UNSIGNED.replace("2026-01-05,120.50,", "2026-01-05,-120.50,")
    rep = do_import(con, write(tmp_path, "signed.csv", text), profiles)
    assert rep.totals()["loaded"] == 2 and amounts(con) == [(2, D("-120.50")), (3, D("1000.00"))]


def test_a_chain_broken_on_every_line_points_at_the_sign(con, tmp_path):
    # a user profile that maps the direction the wrong way round: every step of 余额 breaks
    prof = write(tmp_path, "wrong.yaml", """version: 1
format: bank.bocom_wrong
family: bank
detect:
  header: [序号, 交易日期, 借贷, 交易金额, 余额]
fields:
  booking_date: {col: 交易日期, type: date, required: true}
  amount: {col: 交易金额, type: money, required: true, direction: {col: 借贷, in: [借], out: [贷]}}
  balance_after: {col: 余额, type: money}
proofs:
  - kind: balance_chain
    name: 余额
""")
    rep = do_import(con, write(tmp_path, "bocom.csv", BOCOM), all_profiles([prof]))
    (proof,) = rep.parts[0].proofs
    assert not proof["passed"] and proof["actual"] == "2 breaks"
    assert "signed wrongly" in proof["detail"] and "direction column" in proof["detail"]


# 招商银行 借记卡 (一卡通) download: one signed 交易金额, 联机余额, 对手信息; newest line last
CMB_DEBIT = ("\ufeff记账日期,货币,交易金额,联机余额,交易摘要,对手信息,客户摘要\n"
             '2026-01-02,CNY,"2,500.00","3,100.00",转账汇款,杭州某某贸易有限公司 571000012345,货款 PO-7781\n'
             '2026-01-03,CNY,-36.80,"3,063.20",快捷支付,抖音电商商家888888888,抖音支付\n'
             '2026-01-05,CNY,"-1,000.00","2,063.20",银联ATM取款,,银联 ATM 取款\n')

# 中国银行 借记卡 交易流水明细: a title line, 记账日期 + 记账时间, signed 金额, newest first
BOC = ("中国银行交易流水明细单\n"
       "记账日期,记账时间,币别,金额,余额,交易名称,渠道,网点名称,附言,对方账户名,对方卡号/账号,对方开户行,借记卡号\n"
       '2026-01-09,17:57:17,人民币,-71.89,"3,240.28",无卡支付,卡组织线上/无卡交易,-------------------,----------,'
       '王小二,6226******5669,-------------------,3167\n'
       '2026-01-08,12:23:04,人民币,"1,250.00","3,312.17",网上快捷退款,银企对接,-------------------,订单 A100,'
       '支付宝-李四,8000******1303,-------------------,3167\n'
       '2026-01-08,09:00:00,人民币,-50.00,"2,062.17",网上快捷支付,银企对接,-------------------,---,'
       '支付宝-李四,Z200******010N,-------------------,3167\n')

# 农业银行 借记卡: YYYYMMDD dates, HHMMSS times (sometimes empty), + and - signs, rows that leave the
# trailing 交易渠道/交易附言 cells out, and a spaced 日 志 号 caption
ABC = ("\ufeff交易日期,交易时间,交易摘要,交易金额,本次余额,对手信息,日 志 号,交易渠道,交易附言\n"
       "20260101,123456,转存,+10000.00,11000.00,王小二,369396693,超级网银,转账\n"
       "20260102,132324,财付通,-10.00,10990.00,微信支付北京一卡通,369333999,电子商务,微信支付-北京一卡通\n"
       "20260103,,正常还款,-990.00,10000.00,62220000111122223,111222333\n")


def test_cmb_boc_abc_debit_card_downloads(con, profiles, tmp_path):
    for name, text, expected in (
            ("cmb.csv", CMB_DEBIT, [(2, D("2500.00")), (3, D("-36.80")), (4, D("-1000.00"))]),
            ("boc.csv", BOC, [(3, D("-71.89")), (4, D("1250.00")), (5, D("-50.00"))]),
            ("abc.csv", ABC, [(2, D("10000.00")), (3, D("-10.00")), (4, D("-990.00"))])):
        con.execute("DELETE FROM bank_line")
        rep = do_import(con, write(tmp_path, name, text), profiles)
        assert rep.formats == ["bank.cn_generic"], name
        assert rep.totals()["loaded"] == 3 and rep.totals()["quarantined"] == 0, name
        assert amounts(con) == expected, name
        assert rep.proofs_passed, (name, rep.parts[0].proofs)  # newest first or last, the chain holds
    got = rows(con, "bank_line", "source_line, txn_time, counterparty_name, bank_ref, purpose")
    assert got[0] == {"source_line": 2, "txn_time": dt.datetime(2026, 1, 1, 12, 34, 56),
                      "counterparty_name": "王小二", "bank_ref": "369396693", "purpose": "转账"}
    assert got[2]["txn_time"] is None  # an empty time is not made midnight


def _icbc_cell(text, width=20):
    return f'"{text:<{width}}\t"'


def _icbc_row(date, summary, cp, credit, debit, balance):
    cells = [f"{date}     \t", _icbc_cell(summary), _icbc_cell(""), _icbc_cell("手机银行", 60), _icbc_cell("CHN"),
             "钞        \t", _icbc_cell("-"), _icbc_cell("-"), "-              \t", _icbc_cell(credit),
             _icbc_cell(debit), "人民币         \t", _icbc_cell(balance), _icbc_cell(cp, 140),
             _icbc_cell("6222****1234", 19)]
    return ",".join(cells) + ",\n"


# 工商银行 明细查询文件下载: key:value preamble with blank lines, every cell quoted, padded and ending in a
# tab, thousands separators, and a 人民币合计 row of the money-in and money-out totals
ICBC = ("\ufeff明细查询文件下载\n\n卡号: 6222****9876,\"卡别名: 店铺收款卡\"\n\n"
        "子账户序号: 00000,子账户类别: 活期,\"子账户别名: \"\n\n"
        "交易日期,摘要,交易详情,交易场所,交易国家或地区简称,钞/汇,交易金额(收入),交易金额(支出),交易币种,"
        "记账金额(收入),记账金额(支出),记账币种,余额,对方户名,对方账户\n"
        + _icbc_row("2026-01-09", "消费", "深圳市财付通支付科技有限公司", "", "13.40", "2,486.60")
        + _icbc_row("2026-01-06", "他行汇入", "李四", "1,234.56", "", "2,500.00")
        + _icbc_row("2026-01-05", "网转", "王五", "", "500.00", "1,265.44")
        + '人民币合计,,,,,,,,,"1,234.56          \t","513.40            \t",\n')


def test_icbc_detail_download_with_preamble_padding_and_totals(con, profiles, tmp_path):
    rep = do_import(con, write(tmp_path, "icbc.csv", ICBC), profiles)
    assert rep.formats == ["bank.cn_generic"] and rep.parts[0].header_line == 7
    assert rep.totals() == {"data_lines": 3, "loaded": 3, "duplicates": 0, "quarantined": 0}
    assert amounts(con) == [(8, D("-13.40")), (9, D("1234.56")), (10, D("-500.00"))]
    got = rows(con, "bank_line", "account, currency, counterparty_name, balance_after")
    assert got[0] == {"account": "6222****9876", "currency": "CNY",
                      "counterparty_name": "深圳市财付通支付科技有限公司", "balance_after": D("2486.60")}
    assert {p["proof"]: p["passed"] for p in rep.parts[0].proofs} == {
        "余额": True, "合计.收入.amount": True, "合计.支出.amount": True}


def test_icbc_masked_balance_loads_the_line_and_fails_the_proof(con, profiles, tmp_path):
    text = ICBC.replace('"2,486.60            \t"', '"xx,yyyy.zz          \t"')
    rep = do_import(con, write(tmp_path, "icbc.csv", text), profiles)
    assert rep.totals()["loaded"] == 3 and rep.totals()["quarantined"] == 0
    assert rows(con, "bank_line", "balance_after")[0]["balance_after"] is None
    assert rep.parts[0].proofs[0]["passed"] is True  # the two readable balances still chain
    text = ICBC.replace("合计,,,,,,,,,\"1,234.56", "合计,,,,,,,,,\"1,234.57")
    rep = do_import(con, write(tmp_path, "icbc2.csv", text), profiles)
    failed = [p for p in rep.parts[0].proofs if not p["passed"]]
    assert [(p["proof"], p["expected"], p["actual"]) for p in failed] == [("合计.收入.amount", "1234.57", "1234.56")]


def test_ccb_personal_workbook_with_padded_preamble_and_header(con, profiles, tmp_path):
    # 建设银行 交易明细: account rows padded with U+3000, a blank row, header cells with trailing spaces,
    # YYYYMMDD text dates, a bare 交易时间, numeric amounts in 支出/收入 (the idle side 0)
    import xlsxwriter

    path = tmp_path / "交易明细_6217.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("交易明细")
    ws.write_string(0, 0, "账　　号：6217000011112222")
    ws.write_string(1, 0, "户　　名：王小二")
    ws.write_string(2, 0, "币　　种：人民币")
    ws.write_string(3, 0, "起始日期：20260101　终止日期：20260131")
    ws.write_row(5, 0, ["记账日 ", "交易日期 ", "交易时间 ", "支出 ", "收入 ", "账户余额 ", "币种 ", "摘要 ",
                        "对方账号 ", "对方户名 ", "交易地点 "])
    ws.write_row(6, 0, ["20260103", "20260103", "10:01:02", 0, 880.5, 1880.5, "人民币", "转账存入",
                        "6222000011113333", "李四", "手机银行"])
    ws.write_row(7, 0, ["20260104", "20260104", "18:30:00", 80.25, 0, 1800.25, "人民币", "消费",
                        "", "某便利店", "POS"])
    wb.close()
    rep = do_import(con, path, profiles)
    assert rep.formats == ["bank.cn_generic"] and rep.parts[0].header_line == 6
    assert rep.totals() == {"data_lines": 2, "loaded": 2, "duplicates": 0, "quarantined": 0}
    got = rows(con, "bank_line", "source_line, amount, currency, txn_time, account")
    assert [(r["source_line"], r["amount"]) for r in got] == [(7, D("880.50")), (8, D("-80.25"))]
    assert got[0]["txn_time"] == dt.datetime(2026, 1, 3, 10, 1, 2) and got[0]["currency"] == "CNY"
    assert got[0]["account"] == "6217000011112222" and rep.proofs_passed
