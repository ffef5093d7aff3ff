"""Marketplace exports: JD 对账单 (XLSX), Douyin 动账明细 (CSV), Pinduoduo 店铺账务明细 (CSV).

- JD v1 (formats notes §3.2): 22 columns, a description in row 1, header in row 2, signed 应结金额,
  收支方向, 账单生成时间 as YYYYMMDD text, refunds as 货款 + 支出.
- Douyin (§3.4): the 39-column header with 动帐流水号, ids prefixed with ``'``, unsigned amounts
  with 入账/出账.
- PDD (§3.3): GB18030, title, blank line 2, period line, separator, header on line 5, negative
  支出, ``code|name`` 业务描述 and ``#支出合计``/``#收入合计`` footers that count zero-amount rows.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from recon.sample.fmt import amt, ts, write_lines, write_xlsx
from recon.sample.model import SURNAMES, ZERO, Month

JD_HEADER = ("订单编号,父单号,订单状态,订单下单时间,订单完成时间,售后服务单号,售后退款时间,商品编号,商品名称,商品数量,"
             "扣点类型,佣金比例,费用名称,应结金额,币种,收支方向,结算状态,预计结算时间,账单生成时间,到账时间,"
             "商户订单号,资金动账备注").split(",")
JD_FEE_NAMES = {"sale": "货款", "refund": "货款", "commission": "佣金", "commission_back": "佣金",
                "service": "交易服务费", "service_back": "交易服务费", "insurance": "运费保险服务费", "insurance_back": "运费保险服务费"}
DOUYIN_HEADER = ("动账时间,动帐流水号,动账方向,动账金额,动账账户,动账场景,计费类型,子订单号,订单号,售后编号,下单时间,"
                 "商品ID,商品名称,达人ID,达人名称,订单类型,订单实付应结,运费实付,实际平台补贴_运费,实际平台补贴,"
                 "其他平台补贴,以旧换新抵扣,政府补贴平台垫资,实际达人补贴,实际抖音支付补贴,实际抖音月付营销补贴,银行补贴,"
                 "订单退款,平台服务费,佣金,服务商佣金,渠道分成,招商服务费,站外推广费,其他分成,是否免佣,免佣金额,"
                 "商户主体名称,备注")
PDD_HEADER = "商户订单号,发生时间,收入金额（+元）,支出金额（-元）,账务类型,备注,业务描述"
PDD_TYPES = {"sale": ("交易收入", "0010002|交易收入-订单收入"),
             "fee": ("技术服务费", "0030002|技术服务费-基础技术服务费"),
             "refund": ("交易退款", "0020002|交易退款-订单退款"),
             "payout": ("提现", "0050001|提现-提现到银行卡")}


def write_jd(month: Month, root: Path, rel: str) -> Path:
    rows: list[list] = [[f"京东商家对账单 店铺:{month.accounts['company']}京东POP店 账期:{month.start:%Y-%m-%d}至"
                         f"{month.last_day:%Y-%m-%d} 导出时间:{ts(month.export_at())}"], JD_HEADER]
    for e in month.entries["jd"]:
        o, r = e.order, e.refund
        paid = e.batch is not None
        rows.append([
            o.order_no, "0", "完成", ts(o.created), ts(o.settled), r.refund_no if r else "",
            ts(r.at) if r else "", "100" + o.order_no[-9:], o.product, 1, "基础扣点", "0.05",
            JD_FEE_NAMES[e.kind], e.amount, "CNY", "收入" if e.amount > 0 else "支出",
            "已结算" if paid else "待结算", f"{e.at.date() + dt.timedelta(days=1):%Y-%m-%d}",
            f"{e.at:%Y%m%d}", ts(e.batch.bank_at) if paid else "", o.merchant_order_no,
            f"结算单{e.batch.ref}" if paid else ""])
    return write_xlsx(root / rel, [("对账单", rows)], month.export_at(), {0: 20, 20: 30})


def write_douyin(month: Month, root: Path, rel: str) -> Path:
    rng = month.rng
    company = month.accounts["company"]
    out = [DOUYIN_HEADER]
    seq = 0
    zero = "0.00"
    for e in month.entries["douyin"]:
        seq += 1
        flow = f"AS{e.at:%Y%m%d%H%M%S}{seq:06d}" + "".join(rng.choice("0123456789") for _ in range(9))
        flow += "_IN" if e.amount > 0 else "_OUT"
        head = [ts(e.at), flow, "入账" if e.amount > 0 else "出账", amt(abs(e.amount)), "聚合支付"]
        o = e.order
        if e.kind == "sale":
            s = e.sub
            talent = (f"'{o.order_no[-10:]}", f"{SURNAMES[int(o.order_no[-1])]}小厨") if s.talent_fee else ("", "")
            row = head + ["订单入账", "订单结算", f"'{s.sub_no}", f"'{o.order_no}", "", ts(o.created),
                          f"'{s.product_id}", s.product, *talent, "普通订单", amt(s.paid), zero, zero,
                          amt(s.subsidy)] + [zero] * 7 + [zero, amt(s.service_fee), amt(s.talent_fee)] + \
                [zero] * 5 + ["否", zero, company, "订单结算"]
        elif e.kind == "refund":
            s, r = o.subs[0], e.refund
            row = head + ["售后退款", "", f"'{s.sub_no}", f"'{o.order_no}", r.refund_no, ts(o.created),
                          f"'{s.product_id}", s.product, "", "", "普通订单", zero, zero, zero, zero] + \
                [zero] * 7 + [amt(r.amount), zero, zero] + [zero] * 5 + ["否", zero, company, "原路退"]
        else:
            row = head + ["提现", "", "", "", "", "", "", "", "", "", "", zero, zero, zero, zero] + \
                [zero] * 7 + [zero, zero, zero] + [zero] * 5 + ["否", zero, company, f"提现至银行卡 {e.ref}"]
        assert len(row) == 39, row
        out.append(",".join(row))
    return write_lines(root / rel, out, "utf-8", newline="\n", bom=True)


def write_pdd(month: Month, root: Path, rel: str) -> Path:
    out, n_in, n_out, s_in, s_out = [], 0, 0, ZERO, ZERO
    for e in month.entries["pdd"]:
        kind, desc = PDD_TYPES[e.kind]
        order = e.order.order_no if e.order else ""
        note = f"售后单号{e.refund.refund_no}" if e.refund else ("提现至银行卡" if e.kind == "payout" else "-")
        if e.kind == "sale":
            cells = [amt(e.amount), "0"]
            n_in, s_in = n_in + 1, s_in + e.amount
        else:
            cells = ["0", amt(e.amount)]
            n_out, s_out = n_out + 1, s_out + e.amount
        out.append(",".join([order, ts(e.at), *cells, kind, note, desc]))
    end = dt.datetime.combine(month.last_day, dt.time(23, 59, 59))  # PDD states an inclusive end
    lines = ["拼多多店铺账务明细查询", "",
             f"起始时间：{month.start:%Y-%m-%d} 00:00:00  终止时间：{ts(end)}",
             "----------交易记录明细列表---------", PDD_HEADER] + out + [
        f"#支出合计：{n_out}笔{amt(s_out)}元", f"#收入合计：{n_in}笔{amt(s_in)}元",
        f"#导出时间：{ts(month.export_at())}"]
    return write_lines(root / rel, lines, "gb18030")
