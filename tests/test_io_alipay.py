"""Alipay merchant bills: 业务明细 (trade detail, incl. the real .zip delivery), 账务明细 (fund
ledger: old and newer layouts) and the 商家中心 web 账务明细 export (formats notes §1.1–1.3).

Fixtures are byte-faithful: GBK/GB18030, CRLF, the '#' preamble and footer, a trailing TAB after
id-like cells. Tests go through ``import_file`` with every built-in profile, as the CLI does.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from decimal import Decimal as D

import pytest

from conftest import FIXTURES, do_import, raw_of, rows, write

TRADE = FIXTURES / "alipay_trade_detail.csv"
FUND = FIXTURES / "alipay_fund_detail.csv"
FUND_V2 = FIXTURES / "alipay_fund_detail_v2.csv"
WEB = FIXTURES / "alipay_web_fund_detail.csv"

COLS = ("source_line, channel, record_kind, account, event_time, platform_txn_no, merchant_order_no, "
        "order_no, merchant_refund_no, payout_ref, line_type, raw_type, amount, fee_amount, balance_after, "
        "counterparty")


def golden(con, where="TRUE"):
    return [tuple(r.values()) for r in rows(con, "platform_line", COLS, where)]


def proofs_of(report):
    return {p["proof"]: p["passed"] for part in report.parts for p in part.proofs}


def quarantine(con):
    return rows(con, "quarantine", "source_name, source_line, column_name, reason")


# ---------------------------------------------------------------- 业务明细 (trade detail)

def test_trade_detail_golden(con, profiles):
    rep = do_import(con, TRADE, profiles)
    assert rep.formats == ["alipay.trade_detail"] and rep.encoding == "gb18030"
    acct = "20880211096256330156"
    got = rows(con, "platform_line",
               "source_line, platform_txn_no, merchant_order_no, order_no, merchant_refund_no, line_type, "
               "event_time, order_time, amount, gross_amount, fee_amount, subsidy_amount, counterparty, account")
    assert [tuple(r.values()) for r in got] == [
        (6, "2026010122001458860515315453", "M20260101001", "M20260101001", None, "sale",
         dt.datetime(2026, 1, 1, 10, 0, 5), dt.datetime(2026, 1, 1, 10, 0), D("100.00"), D("100.00"),
         D("-0.60"), D("0.00"), "*津水(602***@qq.com)", acct),
        (7, "2026010122001458860515315454", "M20260101002", "M20260101002", None, "sale",
         dt.datetime(2026, 1, 1, 11, 0, 5), dt.datetime(2026, 1, 1, 11, 0), D("59.90"), D("59.90"),
         D("-0.36"), D("0.00"), "**博(156******89)", acct),
        # the refund shares the payment's 支付宝交易号 and is already negative in the file
        (8, "2026010122001458860515315453", "M20260101001", "M20260101001", "R001", "refund",
         dt.datetime(2026, 1, 3, 9, 0), dt.datetime(2026, 1, 1, 10, 0), D("-20.00"), D("-20.00"),
         D("0.12"), D("0.00"), "*津水(602***@qq.com)", acct),
    ]
    assert all(proofs_of(rep).values()) and len(proofs_of(rep)) == 4
    sf = con.execute("SELECT period_start, period_end, account, encoding FROM source_file").fetchone()
    assert sf == (dt.datetime(2026, 1, 1), dt.datetime(2026, 2, 1), acct, "gb18030")


# Columns of the 业务明细(汇总) member are not verified (formats notes §1.1, §9); this is a plausible
# stand-in. The importer must not guess at it: it is reported as skipped, never loaded.
SUMMARY = """#支付宝业务汇总查询\r
#账号：[20880211096256330156]\r
#起始日期：[2026年01月01日 00:00:00]   终止日期：[2026年02月01日 00:00:00]\r
#-----------------------------------------业务汇总列表----------------------------------------\r
门店编号,门店名称,交易订单总笔数,退款订单总笔数,订单金额（元）,商家实收（元）,支付宝优惠（元）,商家优惠（元）,卡消费金额（元）,服务费（元）,分润（元）,实收净额（元）\r
合计,,2,1,139.90,139.90,0.00,0.00,0.00,-0.84,0.00,139.06\r
#-----------------------------------------业务汇总列表结束------------------------------------\r
#导出时间：[2026年02月02日 05:46:49]\r
"""


def gbk_zip(members: dict) -> bytes:
    """A zip as Alipay ships it: member names stored as GBK bytes with the UTF-8 flag (0x800) unset.

    ``zipfile`` would store non-ASCII names as UTF-8 and set the flag, so each member is written
    under an ASCII stand-in of the same byte length which is then replaced by the GBK bytes.
    """
    buf = io.BytesIO()
    swaps = []
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for i, (name, data) in enumerate(members.items()):
            raw = name.encode("gbk")
            stand_in = f"~{i}~".ljust(len(raw), "Q").encode("ascii")
            zf.writestr(stand_in.decode("ascii"), data)
            swaps.append((stand_in, raw))
    out = buf.getvalue()
    for stand_in, raw in swaps:
        assert out.count(stand_in) == 2  # local header + central directory
        out = out.replace(stand_in, raw)
    return out


def test_trade_zip_delivery_gbk_member_names(con, profiles, tmp_path):
    detail = "20880211096256330156_20260101_业务明细.csv"
    summary = "20880211096256330156_20260101_业务明细(汇总).csv"
    # the summary member first, as one real delivery has it: members are identified by content
    data = gbk_zip({summary: SUMMARY.encode("gbk"), detail: TRADE.read_bytes()})
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert all(not (i.flag_bits & 0x800) for i in zf.infolist())
    path = write(tmp_path, "20880211096256330156_20260101.csv.zip", data)
    rep = do_import(con, path, profiles)
    assert rep.status == "loaded" and rep.container == "zip"
    assert rep.skipped_parts == [summary]
    assert [p.part for p in rep.parts] == [detail] and rep.formats == ["alipay.trade_detail"]
    assert rows(con, "platform_line", "source_sheet, source_line, amount") == [
        {"source_sheet": detail, "source_line": 6, "amount": D("100.00")},
        {"source_sheet": detail, "source_line": 7, "amount": D("59.90")},
        {"source_sheet": detail, "source_line": 8, "amount": D("-20.00")},
    ]
    assert all(proofs_of(rep).values())
    # the zip's lines are the same events as the bare CSV: importing the CSV adds nothing
    again = do_import(con, TRADE, profiles)
    assert (again.totals()["loaded"], again.totals()["duplicates"]) == (0, 3)


# ---------------------------------------------------------------- 账务明细 (fund ledger)

ACCT = "20880211096256330156"
FUND_GOLDEN = [
    (6, "alipay", "fund", ACCT, dt.datetime(2026, 1, 5, 9, 12, 3), "54632446537371", "M20260105001",
     "M20260105001", None, None, "sale", "在线支付", D("100.00"), None, D("10100.00"), "陈晶 (kuangzhe@126.com)"),
    (7, "alipay", "fund", ACCT, dt.datetime(2026, 1, 5, 9, 12, 3), "54632446537372", "M20260105001",
     "M20260105001", None, None, "fee", "收费", D("-0.60"), None, D("10099.40"), "支付宝（中国）网络技术有限公司"),
    (8, "alipay", "fund", ACCT, dt.datetime(2026, 1, 5, 10, 30, 45), "54632446537373", "M20260105002",
     "M20260105002", None, None, "sale", "在线支付", D("59.90"), None, D("10159.30"), "**博(156******89)"),
    (9, "alipay", "fund", ACCT, dt.datetime(2026, 1, 5, 11, 2), "54632446537374", "M20260105001",
     "M20260105001", None, None, "refund", "退款", D("-20.00"), None, D("10139.30"), "陈晶 (kuangzhe@126.com)"),
    # a withdrawal leaves the Alipay balance: negative, a payout, with the bank-side serial kept
    (10, "alipay", "fund", ACCT, dt.datetime(2026, 1, 5, 15, 0), "54632446537375", None, None, None,
     "20260105110070001506490012345678", "payout", "提现", D("-10000.00"), None, D("139.30"),
     "招商银行(6214****1234)"),
    (11, "alipay", "fund", ACCT, dt.datetime(2026, 1, 5, 16, 20), "54632446537376", None, None, None, None,
     "transfer", "转账", D("50.00"), None, D("189.30"), "杭州某某贸易有限公司(pay***@example.com)"),
]


def test_fund_detail_golden_old_layout(con, profiles):
    rep = do_import(con, FUND, profiles)
    assert rep.formats == ["alipay.fund_detail"]
    assert golden(con) == FUND_GOLDEN
    assert proofs_of(rep) == {"支出合计.count": True, "支出合计.amount": True, "收入合计.count": True,
                              "收入合计.amount": True, "账户余额": True}


def test_fund_detail_newer_layout_reordered_columns_negative_outgo(con, profiles):
    """Extra 业务基础订单号/业务订单号/业务账单来源/业务描述 columns, re-ordered, 支出 written negative,
    footer lines padded with commas; an empty 业务基础订单号 keeps it an Alipay (not Tmall) ledger."""
    rep = do_import(con, FUND_V2, profiles)
    assert rep.formats == ["alipay.fund_detail"]
    got = rows(con, "platform_line", "source_line, platform_txn_no, order_no, line_type, amount, balance_after")
    assert [tuple(r.values()) for r in got] == [
        (6, "20260107100000000101", "M20260107001", "sale", D("88.00"), D("588.00")),
        (7, "20260107100000000102", "M20260107001", "fee", D("-0.53"), D("587.47")),
        (8, "20260107100000000103", "M20260106031", "refund", D("-20.00"), D("567.47")),
        (9, "20260107100000000104", "M20260107002", "sale", D("12.50"), D("579.97")),
    ]
    assert all(proofs_of(rep).values()) and len(proofs_of(rep)) == 5
    footer = con.execute("SELECT footer FROM source_part").fetchone()[0]
    assert "#支出合计:2笔,共-20.53元" in footer  # NFKC'd, padding commas dropped


def test_fund_detail_tampered_amount_fails_footer_and_chain(con, profiles, tmp_path):
    text = FUND.read_bytes().decode("gbk").replace(",59.90,0.00,10159.30,", ",59.00,0.00,10159.30,")
    rep = do_import(con, write(tmp_path, "tampered.csv", text, "gbk"), profiles)
    res = proofs_of(rep)
    assert res["收入合计.amount"] is False and res["收入合计.count"] is True
    assert res["账户余额"] is False and res["支出合计.amount"] is True
    detail = con.execute("SELECT detail FROM control_proof WHERE proof = '账户余额'").fetchone()[0]
    assert "line 8" in detail


def test_fund_detail_bad_lines_quarantined_good_lines_load(con, profiles, tmp_path):
    lines = FUND.read_bytes().decode("gbk").split("\r\n")
    lines[7] = lines[7].replace("2026-01-05 10:30:45", "2026-13-45 10:30:45")  # physical line 8
    lines[9] = lines[9].rsplit(",", 3)[0]  # line 10 cut short
    rep = do_import(con, write(tmp_path, "bad.csv", "\r\n".join(lines), "gbk"), profiles)
    assert rep.totals() == {"data_lines": 6, "loaded": 4, "duplicates": 0, "quarantined": 2}
    q = quarantine(con)
    assert [(r["source_name"], r["source_line"], r["column_name"]) for r in q] == [
        ("bad.csv", 8, "发生时间"), ("bad.csv", 10, None)]
    assert "2026-13-45 10:30:45" in q[0]["reason"] and "expected 12 columns" in q[1]["reason"]
    assert [r["source_line"] for r in rows(con, "platform_line", "source_line")] == [6, 7, 9, 11]
    assert proofs_of(rep)["收入合计.count"] is False  # a lost line is visible in the file's own totals


def _fund_file(data_lines, export="#导出时间：[2026年01月06日 10:19:01]"):
    """Render a 账务明细 around data rows, with the footer totals those rows declare."""
    ins = [D(r.split(",")[6]) for r in data_lines]
    outs = [D(r.split(",")[7]) for r in data_lines]
    n_in, n_out = sum(1 for x in ins if x), sum(1 for x in outs if x)
    head = FUND.read_bytes().decode("gbk").split("\r\n")[:5]
    foot = ["#----------------------------------------账务明细列表结束-------------------------------------",
            f"#支出合计：{n_out}笔，共{sum(outs):.2f}元", f"#收入合计：{n_in}笔，共{sum(ins):.2f}元", export]
    return "\r\n".join(head + list(data_lines) + foot) + "\r\n"


def test_fund_detail_reimport_noop_and_overlapping_download(con, profiles, tmp_path):
    assert do_import(con, FUND, profiles).totals()["loaded"] == 6
    again = do_import(con, FUND, profiles)
    assert again.status == "already_loaded" and "nothing changed" in again.message
    data = FUND.read_bytes().decode("gbk").split("\r\n")[5:11]
    new = ("54632446537377\t,2026010622001458860515315499\t,M20260106001\t,围巾\t,2026-01-06 08:00:00,"
           "**博(156******89)\t,30.00,0.00,219.30,支付宝,在线支付,")
    overlap = write(tmp_path, "overlap.csv", _fund_file(data[3:] + [new], "#导出时间：[2026年01月07日 09:00:00]"),
                    "gbk")
    rep = do_import(con, overlap, profiles)
    assert (rep.totals()["loaded"], rep.totals()["duplicates"]) == (1, 3)
    assert rep.parts[0].amount_duplicate == "-9970.00" and all(proofs_of(rep).values())
    assert con.execute("SELECT count(*), sum(amount) FROM platform_line").fetchone() == (7, D("-9780.70"))


# ---------------------------------------------------------------- 商家中心 web export (variant A)

def test_web_fund_detail_gb18030_single_space_blanks(con, profiles):
    rep = do_import(con, WEB, profiles)
    assert rep.formats == ["alipay.web_fund_detail"] and rep.encoding == "gb18030"
    got = rows(con, "platform_line", "source_line, platform_txn_no, order_no, payout_ref, line_type, amount, "
                                     "balance_after, counterparty, raw_desc")
    assert [tuple(r.values()) for r in got] == [
        (5, "20260105200040011100560012345671", "M20260105001", None, "sale", D("100.00"), D("10100.00"),
         "*津水", None),
        (6, "20260105200040011100560012345672", "M20260105001", None, "fee", D("-0.60"), D("10099.40"),
         "支付宝（中国）网络技术有限公司", "交易服务费"),
        (7, "20260105200040011100560012345673", "M20260105003", None, "sale", D("35.00"), D("10134.40"),
         "*𠮷", None),  # 𠮷 exists in GB18030 only, not GBK
        (8, "20260105200040011100560012345674", None, "20260105110070001506490012345678", "payout",
         D("-10000.00"), D("134.40"), "招商银行", "提现到银行卡"),
        (9, "20260105200040011100560012345675", None, None, "transfer", D("-100.00"), D("34.40"), "余额宝", None),
    ]
    raw = raw_of(con, "platform_line", "source_line = 5")[0]
    assert raw[12] == "连衣裙,红色"  # a quoted cell holding a comma stays one cell
    assert proofs_of(rep) == {"账户余额": True}


# ---------------------------------------------------------------- normalisation

@pytest.mark.parametrize("encoding, bom", [("gbk", b""), ("gb18030", b""), ("utf-8", b"\xef\xbb\xbf"),
                                           ("utf-8", b"")])
def test_fund_detail_same_rows_whatever_the_encoding(con, profiles, tmp_path, encoding, bom):
    text = FUND.read_bytes().decode("gbk")
    rep = do_import(con, write(tmp_path, "f.csv", bom + text.encode(encoding)), profiles)
    assert rep.encoding == {"gbk": "gb18030", "gb18030": "gb18030"}.get(encoding, "utf-8-sig" if bom else "utf-8")
    assert golden(con) == FUND_GOLDEN


def test_fund_detail_lf_line_ends_and_blank_trailing_lines(con, profiles, tmp_path):
    text = FUND.read_bytes().decode("gbk").replace("\r\n", "\n") + "\n\n,,,,,,\n   \n"
    rep = do_import(con, write(tmp_path, "lf.csv", text, "gbk"), profiles)
    assert rep.totals() == {"data_lines": 6, "loaded": 6, "duplicates": 0, "quarantined": 0}
    assert golden(con) == FUND_GOLDEN and all(proofs_of(rep).values())


def test_fund_detail_header_moved_down_one_row(con, profiles, tmp_path):
    lines = FUND.read_bytes().decode("gbk").split("\r\n")
    lines.insert(3, "#导出类型：[全部]")
    rep = do_import(con, write(tmp_path, "moved.csv", "\r\n".join(lines), "gbk"), profiles)
    assert rep.parts[0].header_line == 6
    assert [r[0] for r in golden(con)] == [7, 8, 9, 10, 11, 12]
    assert [r[1:] for r in golden(con)] == [r[1:] for r in FUND_GOLDEN]


def test_fund_detail_tab_and_space_padding_around_cells(con, profiles, tmp_path):
    text = FUND.read_bytes().decode("gbk").replace("54632446537373\t,", "\t 54632446537373 \t,").replace(
        ",在线支付,", ", 在线支付\t,")
    do_import(con, write(tmp_path, "pad.csv", text, "gbk"), profiles)
    assert golden(con) == FUND_GOLDEN


def test_fund_detail_excel_resaved_ids_flagged_never_guessed(con, profiles, tmp_path):
    """Excel drops the TABs, shows the 20-digit 账务流水号 as 2.02601E+19 and the times without seconds."""
    text = FUND_V2.read_bytes().decode("gbk").replace("\t", "")
    for serial in ("20260107100000000101", "20260107100000000102", "20260107100000000103",
                   "20260107100000000104"):
        text = text.replace(serial + ",", "2.02601E+19,")
    text = text.replace("2026-01-07 08:00:01", "2026/1/7 8:00")
    rep = do_import(con, write(tmp_path, "resaved.csv", text, "gbk"), profiles)
    assert rep.totals()["loaded"] == 4 and rep.totals()["quarantined"] == 0
    got = rows(con, "platform_line", "platform_txn_no, id_problem, event_time, amount")
    assert all(r["platform_txn_no"] is None for r in got)
    assert {r["id_problem"] for r in got} == {"账务流水号=2.02601E+19"}
    assert got[0]["event_time"] == dt.datetime(2026, 1, 7, 8, 0)
    assert [r["amount"] for r in got] == [D("88.00"), D("-0.53"), D("-20.00"), D("12.50")]


# ---------------------------------------------------------------- detection

@pytest.mark.parametrize("path, fmt", [(TRADE, "alipay.trade_detail"), (FUND, "alipay.fund_detail"),
                                       (FUND_V2, "alipay.fund_detail"), (WEB, "alipay.web_fund_detail")])
def test_detected_among_all_builtin_profiles(con, profiles, path, fmt):
    rep = do_import(con, path, profiles)
    assert rep.formats == [fmt] and rep.totals()["quarantined"] == 0
