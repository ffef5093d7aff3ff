"""The sample generator: determinism, byte-level layout per format, totals, planted answer key.

Every check reads the files with a minimal reader written here (split lines, split cells,
Decimal), never with recon's importers, so a bug shared by generator and importer cannot hide.
"""

from __future__ import annotations

import io
import json
import re
import xml.etree.ElementTree as ET
import zipfile
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest

from recon.sample import generate

D = Decimal
CODES = {
    "FEE_PERIOD_MISMATCH", "SUBSIDY_CLASSIFICATION", "COUPON_FACE_VS_ACTUAL", "REFUND_IN_REVIEW",
    "REFUND_PERIOD_TIMING", "COMMISSION_NOT_REVERSED", "SHIPPING_INSURANCE_NOT_REVERSED", "FX_RATE_DATE",
    "ROUNDING_ALLOCATION", "SETTLEMENT_CUTOFF", "DUPLICATE_ERP_ENTRY", "OFFLINE_PAYMENT_NOT_IN_AR",
    "PAYMENT_FEE_NOT_IN_COST", "FEE_RULE_DEVIATION", "EXCEL_MANGLED_ID",
    "UNKNOWN_PAYER_CREDIT",  # no dictionary code: a bank credit that must stay unknown
    "SHORT_KEY_MATCHED", "SHORT_KEY_REVIEW",  # match-pass plants: the ERP keys orders by a shortened number
    "CUSTOMER_NAME_VARIANT",  # an ERP customer written otherwise (full-width space) that maps to its channel
}


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sample")
    generate(root)
    return root


def one(root: Path, pattern: str) -> Path:
    found = sorted(root.glob(pattern))
    assert len(found) == 1, (pattern, found)
    return found[0]


def crlf_lines(raw: bytes, encoding: str) -> list[str]:
    text = raw.decode(encoding, errors="strict")
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", ""), "every line ends in CRLF"
    return text[:-2].split("\r\n")


def table(lines: list[str], header_prefix: str, stop: str = "#"):
    """(header cells, data rows as cell lists, footer lines) by plain string search."""
    h = next(i for i, line in enumerate(lines) if line.startswith(header_prefix))
    end = next(i for i in range(h + 1, len(lines)) if lines[i].startswith(stop))
    return lines[h].split(","), [line.split(",") for line in lines[h + 1:end]], lines[end:]


def dec(cell: str) -> Decimal:
    return D(cell.strip().lstrip("`'").strip("\t") or "0")


def chain(rows, amount, balance):
    """Assert every running balance = previous balance + this row's signed amount."""
    prev = None
    for r in rows:
        if prev is not None:
            assert prev + amount(r) == balance(r), r
        prev = balance(r)


# ---------------------------------------------------------------- determinism and answer key

def test_same_arguments_give_byte_identical_files(out, tmp_path):
    generate(tmp_path)
    first = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    second = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert first.keys() == second.keys() and len(first) == 17
    assert [k for k in first if first[k] != second[k]] == []


def test_another_seed_gives_another_month(out, tmp_path):
    generate(tmp_path, orders=40, seed=7)
    assert (tmp_path / ".planted.json").read_bytes() != (out / ".planted.json").read_bytes()


def test_planted_lists_every_code_with_existing_files(out):
    truth = json.loads((out / ".planted.json").read_text(encoding="utf-8"))
    assert set(truth["codes"]) == CODES == {i["code"] for i in truth["items"]}
    for item in truth["items"]:
        assert item["files"] and all((out / f).is_file() for f in item["files"]), item
        assert item["channel"] and item["differs"]
    with_orders = [i for i in truth["items"] if i["order_no"]]
    assert len(with_orders) >= len(truth["items"]) - 3  # only the channel/bank-wide ones lack an order


# ---------------------------------------------------------------- Alipay

def alipay_zip_members(out):
    z = zipfile.ZipFile(one(out, "platform/alipay/*.csv.zip"))
    members = {}
    for info in z.infolist():
        assert info.flag_bits & 0x800 == 0, "UTF-8 flag must be clear"
        assert info.date_time == (2026, 2, 1, 9, 30, 0)
        members[info.filename.encode("cp437").decode("gbk")] = z.read(info)
    return members


def test_alipay_trade_zip(out):
    members = alipay_zip_members(out)
    names = sorted(members)
    assert [n.split("_", 2)[2] for n in names] == ["业务明细(汇总).csv", "业务明细.csv"]
    lines = crlf_lines(members[names[1]], "gbk")
    assert lines[:4] == ["#支付宝业务明细查询", "#账号：[20880211096256330156]",
                         "#起始日期：[2026年01月01日 00:00:00]   终止日期：[2026年02月01日 00:00:00]",
                         "#" + "-" * 41 + "业务明细列表" + "-" * 40]
    header, rows, footer = table(lines, "支付宝交易号,")
    assert len(header) == 25 and header[11] == "订单金额（元）"
    tabbed = [0, 1, 2, 6, 7, 8, 9, 10, 19, 21]
    for r in rows:
        assert len(r) == 25 and all(r[i].endswith("\t") for i in tabbed), r
        assert not r[11].endswith("\t") and re.fullmatch(r"\d{8}2200\d{16}\t", r[0])
    sales = [r for r in rows if r[2] == "交易\t"]
    refunds = [r for r in rows if r[2] == "退款\t"]
    assert refunds and all(dec(r[12]) < 0 and r[21] != "\t" for r in refunds)
    assert {r[0] for r in refunds} <= {r[0] for r in sales}  # a refund shares the payment's 交易号
    m = re.fullmatch(r"#交易合计：(\d+)笔，商家实收共(-?[\d.]+)元，商家优惠共([\d.]+)元", footer[1])
    assert int(m[1]) == len(sales) and D(m[2]) == sum(dec(r[12]) for r in sales)
    assert D(m[3]) == sum(dec(r[16]) for r in sales) > 0
    m = re.fullmatch(r"#退款合计：(\d+)笔，商家实收退款共(-?[\d.]+)元，商家优惠退款共0.00元", footer[2])
    assert int(m[1]) == len(refunds) and D(m[2]) == sum(dec(r[12]) for r in refunds)
    assert footer[0] == "#" + "-" * 41 + "业务明细列表结束" + "-" * 36
    assert footer[3] == "#导出时间：[2026年02月01日 09:30:00]"
    assert crlf_lines(members[names[0]], "gbk")[0] == "#支付宝业务汇总查询"


def fund_footer(footer, kind):
    line = next(f for f in footer if f.startswith(f"#{kind}合计"))
    m = re.match(rf"#{kind}合计：(\d+)笔，共(-?[\d.]+)元", line)
    return int(m[1]), D(m[2])


def test_alipay_fund_bill(out):
    lines = crlf_lines(one(out, "platform/alipay/*_账务明细.csv").read_bytes(), "gbk")
    assert lines[0] == "#支付宝账务明细查询" and lines[3] == "#" + "-" * 41 + "账务明细列表" + "-" * 40
    header, rows, footer = table(lines, "账务流水号,")
    assert header[6:9] == ["收入金额（+元）", "支出金额（-元）", "账户余额（元）"]
    assert all(r[0].endswith("\t") and r[1].endswith("\t") and r[2].endswith("\t") for r in rows)
    chain(rows, lambda r: dec(r[6]) - dec(r[7]), lambda r: dec(r[8]))
    income = [r for r in rows if dec(r[6])]
    spend = [r for r in rows if dec(r[7])]
    assert len(income) + len(spend) == len(rows) and {r[10] for r in spend} >= {"收费", "退款", "提现"}
    assert fund_footer(footer, "收入") == (len(income), sum(dec(r[6]) for r in income))
    assert fund_footer(footer, "支出") == (len(spend), sum(dec(r[7]) for r in spend))
    assert footer[0] == "#" + "-" * 40 + "账务明细列表结束" + "-" * 37


def test_tmall_fund_bill_variant_1(out):
    lines = crlf_lines(one(out, "platform/tmall/*.csv").read_bytes(), "gbk")
    header, rows, footer = table(lines, "账务流水号,")
    assert ",".join(header) == ("账务流水号,业务流水号,商品名称,发生时间,收入金额（+元）,支出金额（-元）,账户余额（元）,"
                                "业务类型,备注,商户订单号,对方账号,业务描述,业务基础订单号")
    orders = [r for r in rows if r[9] != "\t"]
    assert all(re.fullmatch(r"T200P(\d{19})\t", r[9])[1] + "\t" == r[12] for r in orders)
    assert all(re.fullmatch(r"\d{7}\|.+-.+", r[11]) for r in rows)
    assert all(dec(r[5]) <= 0 for r in rows)  # this variant writes 支出 negative
    chain(rows, lambda r: dec(r[4]) + dec(r[5]), lambda r: dec(r[6]))
    parties = {r[10] for r in rows}
    assert {"浙江天猫技术有限公司\t", "杭州阿里妈妈软件服务有限公司\t"} <= parties
    assert any(r[7] == "提现" for r in rows)
    assert all(f.endswith(",,,,") for f in footer)  # the footer is padded to the table width
    income = [r for r in rows if dec(r[4])]
    spend = [r for r in rows if dec(r[5])]
    assert fund_footer(footer, "收入") == (len(income), sum(dec(r[4]) for r in income))
    assert fund_footer(footer, "支出") == (len(spend), -sum(dec(r[5]) for r in spend))


# ---------------------------------------------------------------- WeChat Pay

def wechat_lines(path: Path):
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    return crlf_lines(raw[3:], "utf-8")


def ticked(line: str) -> list[str]:
    cells = line.split(",")
    assert all(c.startswith("`") for c in cells), line
    return [c[1:] for c in cells]


def test_wechat_trade_bill_all(out):
    lines = wechat_lines(one(out, "platform/wechatpay/*_ALL_*.csv"))
    assert lines[0].startswith("交易时间,公众账号ID,商户号,特约商户号") and "`" not in lines[0]
    assert len(lines[0].split(",")) == 27
    title = lines.index("总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额")
    rows = [ticked(line) for line in lines[1:title]]
    assert title == len(lines) - 2 and lines[-1].endswith(",`0.00") is False
    pays = [r for r in rows if r[9] == "SUCCESS"]
    refunds = [r for r in rows if r[9] == "REFUND"]
    assert all(r[14] == "0" and r[15] == "0" and r[18] == "" and r[26] == "" for r in pays)
    assert all(r[12] == "0.00" and r[24] == "0.00" and D(r[16]) > 0 and D(r[22]) <= 0 for r in refunds)
    assert all(re.fullmatch(r"-?\d+\.\d{5}", r[22]) and r[23] == "0.60%" for r in rows)
    assert all(re.fullmatch(r"4200000\d{21}", r[5]) for r in rows)
    assert all(re.fullmatch(r"503\d{26}", r[14]) for r in refunds)
    summary = ticked(lines[-1])
    assert D(summary[0]) == len(rows)
    assert D(summary[1]) == sum(D(r[12]) for r in rows) and D(summary[2]) == sum(D(r[16]) for r in rows)
    assert D(summary[4]) == sum(D(r[22]) for r in rows) and re.fullmatch(r"\d+\.\d{5}", summary[4])
    assert D(summary[5]) == sum(D(r[24]) for r in rows) and D(summary[6]) == sum(D(r[25]) for r in rows)


def test_wechat_fund_bill(out):
    lines = wechat_lines(one(out, "platform/wechatpay/*_资金账单.csv"))
    assert lines[0] == "记账时间,微信支付业务单号,资金流水单号,业务名称,业务类型,收支类型,收支金额（元）,账户结余（元）,资金变更提交申请人,备注,业务凭证号"
    title = lines.index("资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额")
    rows = [ticked(line) for line in lines[1:title]]
    signed = lambda r: D(r[6]) if r[5] == "收入" else -D(r[6])  # noqa: E731
    assert all(D(r[6]) >= 0 for r in rows)
    chain(rows, signed, lambda r: D(r[7]))
    total, n_in, s_in, n_out, s_out = ticked(lines[title + 1])
    assert re.fullmatch(r"\d+\.0", total) and re.fullmatch(r"\d+\.0", n_in)
    ins = [r for r in rows if r[5] == "收入"]
    outs = [r for r in rows if r[5] == "支出"]
    assert (D(total), D(n_in), D(n_out)) == (len(rows), len(ins), len(outs))
    assert D(s_in) == sum(D(r[6]) for r in ins) and D(s_out) == sum(D(r[6]) for r in outs)
    assert {r[3] for r in rows} == {"交易", "扣除交易手续费", "退款", "提现"}


# ---------------------------------------------------------------- marketplaces

def test_jd_statement_xlsx(out):
    wb = openpyxl.load_workbook(one(out, "platform/jd/*.xlsx"))
    ws = wb.worksheets[0]
    assert wb.properties.created.isoformat() == "2026-02-01T09:30:00"
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][0].startswith("京东商家对账单") and all(v is None for v in rows[0][1:])
    assert ",".join(rows[1]) == ("订单编号,父单号,订单状态,订单下单时间,订单完成时间,售后服务单号,售后退款时间,商品编号,"
                                 "商品名称,商品数量,扣点类型,佣金比例,费用名称,应结金额,币种,收支方向,结算状态,"
                                 "预计结算时间,账单生成时间,到账时间,商户订单号,资金动账备注")
    data = rows[2:]
    for r in data:
        assert isinstance(r[0], str) and re.fullmatch(r"3\d{15}", r[0]) and re.fullmatch(r"\d{27}", r[20])
        assert re.fullmatch(r"2026\d{4}", r[18])
        assert (r[13] > 0) == (r[15] == "收入")
    assert {r[12] for r in data} >= {"货款", "佣金", "交易服务费", "运费保险服务费"}
    assert any(r[12] == "货款" and r[15] == "支出" and r[5] for r in data)  # a refund is 货款 + 支出


def test_douyin_fund_flow_csv(out):
    raw = one(out, "platform/douyin/*.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    lines = raw[3:].decode("utf-8").rstrip("\n").split("\n")
    header = lines[0].split(",")
    assert len(header) == 39 and header[1] == "动帐流水号" and header[0] == "动账时间"
    rows = [line.split(",") for line in lines[1:]]
    assert all(len(r) == 39 for r in rows)
    assert all(r[2] in ("入账", "出账") and dec(r[3]) >= 0 for r in rows)
    orders = [r for r in rows if r[5] != "提现"]
    assert all(re.fullmatch(r"'\d{19}", r[8]) and r[7].startswith("'") and r[11].startswith("'") for r in orders)
    assert all(re.fullmatch(r"AS\d{14}\d+_(IN|OUT)", r[1]) for r in rows)
    for r in rows:
        if r[5] == "订单入账":  # net = paid + subsidy - fees
            assert dec(r[3]) == dec(r[16]) + dec(r[19]) - dec(r[28]) - dec(r[29])


def test_pdd_account_detail_csv(out):
    raw = one(out, "platform/pdd/*.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    lines = crlf_lines(raw, "gb18030")
    assert lines[0] == "拼多多店铺账务明细查询" and lines[1] == ""
    assert lines[2] == "起始时间：2026-01-01 00:00:00  终止时间：2026-01-31 23:59:59"
    assert lines[3] == "----------交易记录明细列表---------"
    assert lines[4] == "商户订单号,发生时间,收入金额（+元）,支出金额（-元）,账务类型,备注,业务描述"
    _, rows, footer = table(lines, "商户订单号,")
    assert all(re.fullmatch(r"\d{6}-\d{15}", r[0]) for r in rows if r[4] != "提现")
    assert all(dec(r[3]) <= 0 and dec(r[2]) >= 0 for r in rows)
    zero = [r for r in rows if not dec(r[2]) and not dec(r[3])]
    assert zero, "zero-amount rows exist and are counted by the footer"
    outs = [r for r in rows if r[4] != "交易收入"]
    ins = [r for r in rows if r[4] == "交易收入"]
    m = re.fullmatch(r"#支出合计：(\d+)笔(-[\d.]+)元", footer[0])
    assert int(m[1]) == len(outs) and D(m[2]) == sum(dec(r[3]) for r in outs)
    m = re.fullmatch(r"#收入合计：(\d+)笔([\d.]+)元", footer[1])
    assert int(m[1]) == len(ins) and D(m[2]) == sum(dec(r[2]) for r in ins)
    assert all(re.fullmatch(r"\d{7}\|.+", r[6]) for r in rows)


# ---------------------------------------------------------------- ERP

def erp_rows(out):
    ws = openpyxl.load_workbook(one(out, "erp/*.xlsx")).worksheets[0]
    rows = list(ws.iter_rows(values_only=True))
    return rows[0], rows[1:]


def test_erp_receivables(out):
    header, rows = erp_rows(out)
    assert ",".join(header) == "单据编号,业务日期,单据类型,客户,币别,汇率,价税合计,税额,本位币价税合计,已核销金额,未核销金额,单据状态,平台订单号,摘要"
    assert {r[2] for r in rows} == {"标准应收单", "红字应收单", "其他应收单"}
    assert all(r[6] < 0 for r in rows if r[2] == "红字应收单")
    assert {r[3] for r in rows} >= {"天猫旗舰店", "京东POP店", "抖音小店", "拼多多店", "微信商城", "支付宝当面付"}
    assert any(r[12] is None and re.search(r"订单号:\S+", r[13]) for r in rows if r[2] == "标准应收单")
    mangled = [r for r in rows if isinstance(r[12], str) and re.fullmatch(r"\d\.\d{5}E\+\d\d", r[12])]
    assert len(mangled) == 1
    assert not [r for r in rows if r[3] == "京东POP店" and r[2] == "其他应收单"]  # JD fees not booked
    usd = [r for r in rows if r[4] == "美元"]
    assert len(usd) == 3 and all(D(repr(r[8])) == (D(repr(r[6])) * D(repr(r[5]))).quantize(D("0.01")) for r in usd)
    csv = one(out, "erp/*.csv").read_bytes()
    assert csv.startswith(b"\xef\xbb\xbf") and csv[3:].decode("utf-8").split("\n")[0].rstrip("\r") == ",".join(header)


def test_wechat_orders_reconcile_with_the_erp(out):
    """Every WeChat payment and refund has its ERP document, to the cent; the short-key plants' documents
    hold XS + the order number's last 8 characters instead of the order number."""
    truth = json.loads((out / ".planted.json").read_text(encoding="utf-8"))
    short = {i["order_no"] for i in truth["items"] if i["code"].startswith("SHORT_KEY_")}
    assert len(short) == 3
    lines = wechat_lines(one(out, "platform/wechatpay/*_ALL_*.csv"))
    rows = [ticked(line) for line in lines[1:-2]]
    platform = sorted(("XS" + r[6][-8:] if r[6] in short else r[6], D(r[12]) if r[9] == "SUCCESS" else -D(r[16]))
                      for r in rows)
    _, erp = erp_rows(out)
    books = sorted((r[12], D(repr(r[6])).quantize(D("0.01"))) for r in erp
                   if r[3] == "微信商城" and r[2] != "其他应收单" and r[12])
    in_summary = sorted((re.search(r"订单号:(\S+)", r[13])[1], D(repr(r[6])).quantize(D("0.01")))
                        for r in erp if r[3] == "微信商城" and r[2] != "其他应收单" and not r[12])
    assert platform == sorted(books + in_summary)


# ---------------------------------------------------------------- banks

def test_camt053_balances(out):
    root = ET.parse(one(out, "bank/*.xml")).getroot()
    ns = {"c": "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"}
    stmt = root.find("c:BkToCstmrStmt/c:Stmt", ns)
    bal = {b.find("c:Tp/c:CdOrPrtry/c:Cd", ns).text: D(b.find("c:Amt", ns).text) for b in stmt.findall("c:Bal", ns)}
    entries = [(D(n.find("c:Amt", ns).text), n.find("c:CdtDbtInd", ns).text) for n in stmt.findall("c:Ntry", ns)]
    assert entries and bal["OPBD"] + sum(a if ind == "CRDT" else -a for a, ind in entries) == bal["CLBD"]


def swift_amount(text: str) -> Decimal:
    return D(text.replace(",", "."))


def test_mt940_opening_plus_lines_is_closing(out):
    raw = one(out, "bank/*.sta").read_bytes()
    lines = crlf_lines(raw, "ascii")
    opening = re.fullmatch(r":60F:([CD])\d{6}CNY([\d,]+)", next(x for x in lines if x.startswith(":60F:")))
    closing = re.fullmatch(r":62F:([CD])\d{6}CNY([\d,]+)", next(x for x in lines if x.startswith(":62F:")))
    total = swift_amount(opening[2])
    moves = [re.match(r":61:\d{10}(R?[CD])([\d,]+)N", x) for x in lines if x.startswith(":61:")]
    assert moves and all(moves)
    for m in moves:
        total += swift_amount(m[2]) if m[1].endswith("C") else -swift_amount(m[2])
    assert closing[1] == "C" and swift_amount(closing[2]) == total
    assert all(len(x) <= 65 for x in lines if not x.startswith(":"))


def test_cmb_statement_xlsx(out):
    rows = list(openpyxl.load_workbook(one(out, "bank/招商*.xlsx")).worksheets[0].iter_rows(values_only=True))
    keys = [r[0] for r in rows[:7]]
    assert keys == ["公司名称", "银行帐号", "查询开始日期", "查询结束日期", "对帐单期初余额", "生成日期", "帐户币种"]
    h = next(i for i, r in enumerate(rows) if r[0] == "交易日")
    assert len(rows[h]) == 32 and rows[h][17] == "收/付方帐号"
    data = rows[h + 1:]
    assert all((r[4] is None) != (r[5] is None) for r in data)  # 借方/贷方 either/or
    prev = D(repr(rows[4][1]))
    for r in data:
        prev += D(repr(r[5])) if r[5] is not None else -D(repr(r[4]))
        assert prev == D(repr(r[6])).quantize(D("0.01"))


def test_icbc_history_detail_csv(out):
    lines = crlf_lines(one(out, "bank/工商*.csv").read_bytes(), "gbk")
    assert lines[0] == "[HISTORYDETAIL]" and lines[1] == "凭证号,交易时间,对方单位,对方账号,转入金额,转出金额,余额,用途,摘要,附言"
    rows = [line.split(",") for line in lines[2:]]
    assert all(bool(r[4]) != bool(r[5]) for r in rows)
    chain(rows, lambda r: dec(r[4]) - dec(r[5]), lambda r: dec(r[6]))


def test_bank_credits_are_the_platform_payouts(out):
    """Tmall+Alipay+WeChat payouts land on CMB, JD batches and PDD on ICBC, Douyin on the MT940 account.
    The one other CMB credit is the planted transfer from an unknown payer (UNKNOWN_PAYER_CREDIT)."""
    cmb = list(openpyxl.load_workbook(one(out, "bank/招商*.xlsx")).worksheets[0].iter_rows(values_only=True))
    cmb_credits = sorted(D(repr(r[5])).quantize(D("0.01")) for r in cmb[9:] if r[16] != "深圳前海示例投资有限公司")
    assert len(cmb_credits) == len(cmb[9:]) - 1
    payouts = []
    for pattern, enc in (("platform/alipay/*_账务明细.csv", "gbk"), ("platform/tmall/*.csv", "gbk")):
        _, rows, _ = table(crlf_lines(one(out, pattern).read_bytes(), enc), "账务流水号,")
        kind_col = 10 if "alipay" in pattern else 7
        payouts += [abs(dec(r[7] if "alipay" in pattern else r[5])) for r in rows if r[kind_col] == "提现"]
    fund = wechat_lines(one(out, "platform/wechatpay/*_资金账单.csv"))
    payouts += [D(ticked(x)[6]) for x in fund[1:-2] if ticked(x)[3] == "提现"]
    assert sorted(payouts) == cmb_credits
    douyin = [x.split(",") for x in one(out, "platform/douyin/*.csv").read_text("utf-8-sig").splitlines()[1:]]
    sta = one(out, "bank/*.sta").read_text("ascii")
    credits = sorted(swift_amount(a) for a in re.findall(r":61:\d{10}C([\d,]+)NTRFDY", sta))
    assert sorted(dec(r[3]) for r in douyin if r[5] == "提现") == credits


# ---------------------------------------------------------------- evidence

def test_audit_log_and_fx(out):
    truth = json.loads((out / ".planted.json").read_text(encoding="utf-8"))
    review = next(i for i in truth["items"] if i["code"] == "REFUND_IN_REVIEW")
    raw = one(out, "evidence/售后*.csv").read_bytes()
    lines = crlf_lines(raw[3:], "utf-8")
    assert raw.startswith(b"\xef\xbb\xbf") and lines[0] == "平台,订单号,售后单号,事件时间,事件,原状态,新状态,操作人,备注"
    events = [line.split(",") for line in lines[1:] if line.split(",")[1] == review["order_no"]]
    assert [e[6] for e in events] == ["退款申请中", "退款中", "退款成功", "二审中"]
    fx = one(out, "evidence/汇率*.csv").read_text("utf-8").splitlines()
    assert fx[0] == "日期,币种,中间价,单位"
    units = {line.split(",")[1]: line.split(",")[3] for line in fx[1:]}
    assert units == {"USD": "1", "JPY": "100"}
    assert all(re.fullmatch(r"2026-01-\d\d,(USD|JPY),\d\.\d{4},(1|100)", line) for line in fx[1:])


def test_small_and_odd_periods_still_plant_everything(tmp_path):
    paths = generate(tmp_path, orders=5, period="2026-02")
    truth = json.loads(paths[-1].read_text(encoding="utf-8"))
    assert set(truth["codes"]) == CODES and truth["orders"] >= 5
    zf = zipfile.ZipFile(io.BytesIO(one(tmp_path, "platform/alipay/*.zip").read_bytes()))
    assert all(i.flag_bits & 0x800 == 0 for i in zf.infolist())
