"""Alipay files: the 业务明细 zip, the 账务明细 CSV, and Tmall's Alipay 账务明细 (variant 1).

Layouts are the formats notes' §1.1, §1.2 and §3.1: GBK, ``#`` preamble with the 20-digit
``userId`` (PID + 0156) and the exclusive period end, a trailing TAB after id-like cells, footer
totals that equal the rows. The trade zip's member names are GBK bytes with the UTF-8 flag clear.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from recon.sample.fmt import T, amt, cn_ts, midnight, ts, write_lines, zip_bytes
from recon.sample.model import ZERO, Month

TRADE_HEADER = ("支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,"
                "对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,"
                "券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注")
FUND_HEADER = "账务流水号,业务流水号,商户订单号,商品名称,发生时间,对方账号,收入金额（+元）,支出金额（-元）,账户余额（元）,交易渠道,业务类型,备注"
TMALL_HEADER = "账务流水号,业务流水号,商品名称,发生时间,收入金额（+元）,支出金额（-元）,账户余额（元）,业务类型,备注,商户订单号,对方账号,业务描述,业务基础订单号"
ALIPAY_CO = "支付宝（中国）网络技术有限公司"


def _rule(title: str, left: int, right: int) -> str:
    return "#" + "-" * left + title + "-" * right


def _preamble(title: str, account: str, month: Month, list_title: str) -> list[str]:
    return [f"#{title}", f"#账号：[{account}]",
            f"#起始日期：[{cn_ts(midnight(month.start))}]   终止日期：[{cn_ts(midnight(month.end))}]",
            _rule(list_title, 41, 40)]


# ---------------------------------------------------------------- 业务明细 zip

def _trade_rows(month: Month, rng) -> tuple[list[str], list[tuple]]:
    rows, sums = [], []
    stores = [("NB001", "宁波天一店", "收银01", "POS0001"), ("NB002", "宁波鄞州店", "收银02", "POS0002")]
    events = []
    for o in month.orders_of("alipay"):
        events.append((o.created, o, None))
        events += [(r.at, o, r) for r in o.refunds if r.on_platform]
    for at, o, r in sorted(events, key=lambda e: e[0]):
        store = rng.choice(stores) if rng.random() < 0.5 else ("", "", "", "")
        kind = "退款" if r else "交易"
        gross = -r.amount if r else o.list_amount
        net = -r.amount if r else o.received
        disc = ZERO if r else o.discount
        fee = ZERO if r else -o.fee  # Alipay keeps its fee on refunds
        finished = r.at if r else o.created + dt.timedelta(seconds=5)
        cells = [o.txn_no + T, o.merchant_order_no + T, kind + T, o.product, ts(o.created),
                 ts(finished), *(s + T for s in store), o.buyer + T, amt(gross),
                 amt(net), "0.00", "0.00", "0.00", amt(disc), amt(disc), "" if r else o.coupon_name,
                 "0.00" + T, "0.00", (r.request_no if r else "") + T, amt(fee), "0.00", ""]
        rows.append(",".join(cells))
        sums.append((kind, net, disc))
    return rows, sums


def write_trade_zip(month: Month, root: Path, rel: str) -> Path:
    pid = month.accounts["alipay_pid"]
    rows, sums = _trade_rows(month, month.rng)
    sale = [s for s in sums if s[0] == "交易"]
    refund = [s for s in sums if s[0] == "退款"]
    total = lambda xs, i: amt(sum((x[i] for x in xs), ZERO))  # noqa: E731
    export = cn_ts(month.export_at())
    detail = _preamble("支付宝业务明细查询", pid, month, "业务明细列表") + [TRADE_HEADER] + rows + [
        _rule("业务明细列表结束", 41, 36),
        f"#交易合计：{len(sale)}笔，商家实收共{total(sale, 1)}元，商家优惠共{total(sale, 2)}元",
        f"#退款合计：{len(refund)}笔，商家实收退款共{total(refund, 1)}元，商家优惠退款共{total(refund, 2)}元",
        f"#导出时间：[{export}]"]
    orders = month.orders_of("alipay")
    fees = sum((o.fee for o in orders), ZERO)
    summary = _preamble("支付宝业务汇总查询", pid, month, "业务汇总列表") + [
        "门店编号,门店名称,交易订单总笔数,退款订单总笔数,订单金额（元）,商家实收（元）,商家优惠（元）,服务费（元）,实收净额（元）",
        ",".join([T, "合计" + T, str(len(sale)), str(len(refund)), total(sale, 1), amt(
            sum((x[1] for x in sums), ZERO)), total(sale, 2), amt(-fees),
            amt(sum((x[1] for x in sums), ZERO) - fees)]),
        _rule("业务汇总列表结束", 41, 36), f"#导出时间：[{export}]"]
    stem = f"{pid}_{month.start:%Y%m}"
    members = [(f"{stem}_业务明细(汇总).csv", _gbk(summary)), (f"{stem}_业务明细.csv", _gbk(detail))]
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(zip_bytes(members, month.export_at()))
    return path


def _gbk(lines: list[str]) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode("gbk")


# ---------------------------------------------------------------- 账务明细 (§1.2, old layout)

def write_fund(month: Month, root: Path, rel: str) -> Path:
    rng = month.rng
    out, inc, exp = [], [], []
    company = f"{month.accounts['company']}(招商银行 ****{month.accounts['cmb'][-4:]})"
    for seq, e in enumerate(month.entries["alipay"], start=1):
        o = e.order
        flow = f"{e.at:%Y%m%d}1100{seq:07d}" + "".join(rng.choice("0123456789") for _ in range(9))
        if e.kind == "sale":
            cells = [o.txn_no, o.merchant_order_no, o.product, o.buyer, "在线支付", ""]
        elif e.kind == "fee":
            cells = [o.txn_no, o.merchant_order_no, f"服务费[{o.txn_no}]", ALIPAY_CO, "收费", ""]
        elif e.kind == "refund":
            cells = [o.txn_no, o.merchant_order_no, f"退款-{o.product}", o.buyer, "退款", e.refund.request_no]
        else:
            cells = [e.ref, "", "提现", company, "提现", "提现到银行卡"]
        income, spend = (e.amount, ZERO) if e.amount > 0 else (ZERO, -e.amount)
        (inc if e.amount > 0 else exp).append(e.amount)
        out.append(",".join([flow + T, cells[0] + T, cells[1] + T, cells[2] + T, ts(e.at), cells[3] + T,
                             amt(income), amt(spend), amt(e.balance), "支付宝", cells[4], cells[5]]))
    lines = _preamble("支付宝账务明细查询", month.accounts["alipay_pid"], month, "账务明细列表") + [FUND_HEADER] + out + [
        _rule("账务明细列表结束", 40, 37),
        f"#支出合计：{len(exp)}笔，共{amt(-sum(exp, ZERO))}元",
        f"#收入合计：{len(inc)}笔，共{amt(sum(inc, ZERO))}元",
        f"#导出时间：[{cn_ts(month.export_at())}]"]
    return write_lines(root / rel, lines, "gbk")


# ---------------------------------------------------------------- Tmall: 账务明细 variant 1 (§3.1)

TMALL_ROWS = {  # kind -> (业务类型, 商品名称 template, counterparty, 业务描述)
    "sale": ("在线支付", "{product}", None, "0010001|交易收款-交易收款"),
    "commission": ("转账", "天猫佣金（类目）{order}扣款", "浙江天猫技术有限公司", "0030001|软件服务费-天猫佣金"),
    "marketing": ("转账", "淘宝客佣金{order}", "杭州阿里妈妈软件服务有限公司", "0030003|推广费-淘宝客佣金"),
    "payfee": ("收费", "花呗支付服务费{order}", ALIPAY_CO, "0030005|服务费-花呗支付服务费"),
    "refund": ("交易退款", "售后退款-{product}", None, "0020001|交易退款-售后退款"),
    "commission_back": ("转账", "天猫佣金退款{order}", "浙江天猫技术有限公司", "0030002|软件服务费-天猫佣金退款"),
    "payout": ("提现", "提现", None, "0050001|提现-提现到银行卡"),
}


def write_tmall(month: Month, root: Path, rel: str) -> Path:
    rng = month.rng
    out, inc, exp = [], [], []
    company = f"{month.accounts['company']}(招商银行 ****{month.accounts['cmb'][-4:]})"
    for seq, e in enumerate(month.entries["tmall"], start=1):
        o = e.order
        kind, name, party, desc = TMALL_ROWS[e.kind]
        flow = f"{e.at:%Y%m%d}1100{seq:07d}" + "".join(rng.choice("0123456789") for _ in range(11))
        if o is None:
            biz, product, party, merchant, base, note = e.ref, "提现", company, "", "", "提现到银行卡"
        else:
            biz = o.txn_no
            product = name.format(product=o.product, order=o.order_no)
            party = party or o.buyer
            merchant, base = o.merchant_order_no, o.order_no
            note = f"售后单号:{e.refund.refund_no}" if e.refund else ""
        income, spend = (e.amount, ZERO) if e.amount > 0 else (ZERO, e.amount)
        (inc if e.amount > 0 else exp).append(e.amount)
        out.append(",".join([flow + T, biz + T, product + T, ts(e.at), amt(income), amt(spend), amt(e.balance),
                             kind, note, merchant + T, party + T, desc, base + T]))
    pad = "," * 12  # this variant pads its footer to the table width
    lines = _preamble("支付宝账务明细查询", month.accounts["tmall_pid"], month, "账务明细列表") + [TMALL_HEADER] + out + [
        _rule("账务明细列表结束", 40, 37) + pad,
        f"#支出合计：{len(exp)}笔，共{amt(-sum(exp, ZERO))}元" + pad,
        f"#收入合计：{len(inc)}笔，共{amt(sum(inc, ZERO))}元" + pad,
        f"#导出时间：[{cn_ts(month.export_at())}]" + pad]
    return write_lines(root / rel, lines, "gbk")
