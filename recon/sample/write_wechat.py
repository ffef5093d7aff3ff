"""WeChat Pay merchant bills: 交易账单 (ALL) and 资金账单 (Basic account), formats notes §2.1/§2.2.

UTF-8 with a BOM, CRLF line ends, no preamble; plain header and summary-title rows; every data
and summary cell backtick-prefixed (empty cells are a lone backtick). Fees carry 5 decimals.
A refund row keeps the payment's 交易时间, shows 应结订单金额 ``0.00``, a positive 退款金额 and a
negative (returned) fee; it sits among the rows of its refund date.
"""

from __future__ import annotations

from pathlib import Path

from recon.sample.fmt import amt, ts, write_lines
from recon.sample.ids import Ids
from recon.sample.model import ZERO, Month

ALL_HEADER = ("交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,"
              "货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,"
              "商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注")
ALL_SUMMARY = "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"
FUND_HEADER = "记账时间,微信支付业务单号,资金流水单号,业务名称,业务类型,收支类型,收支金额（元）,账户结余（元）,资金变更提交申请人,备注,业务凭证号"
FUND_SUMMARY = "资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额"
BANKS = ("CFT", "CFT", "OTHERS", "ICBC_DEBIT", "CMB_CREDIT", "PSBC_DEBIT")


def tick(cells) -> str:
    return ",".join("`" + str(c) for c in cells)


def write_trade_bill(month: Month, root: Path, rel: str) -> Path:
    rng = month.rng
    ids = Ids(rng)
    mchid = month.accounts["wechat_mchid"]
    appid = ids.appid()
    events = []
    for o in month.orders_of("wechatpay"):
        events.append((o.created, o, None))
        events += [(r.at, o, r) for r in o.refunds if r.on_platform]
    rows, n, settle, refund, fees, orders, asked = [], 0, ZERO, ZERO, ZERO, ZERO, ZERO
    for _, o, r in sorted(events, key=lambda e: e[0]):
        openid, bank = ids.openid(), rng.choice(BANKS)
        if r is None:
            cells = [ts(o.created), appid, mchid, "0", "", o.txn_no, o.merchant_order_no, openid, "JSAPI",
                     "SUCCESS", bank, "CNY", amt(o.received), "0.00", "0", "0", "0.00", "0.00", "", "",
                     o.product, "", amt(o.fee, 5), "0.60%", amt(o.list_amount), "0.00", ""]
            settle, fees, orders = settle + o.received, fees + o.fee, orders + o.list_amount
        else:
            cells = [ts(o.created), appid, mchid, "0", "", o.txn_no, o.merchant_order_no, openid, "JSAPI",
                     "REFUND", bank, "CNY", "0.00", "0.00", r.refund_no, r.request_no, amt(r.amount), "0.00",
                     "ORIGINAL", "SUCCESS", o.product, "", amt(-r.fee_back, 5), "0.60%", "0.00",
                     amt(r.amount), ""]
            refund, fees, asked = refund + r.amount, fees - r.fee_back, asked + r.amount
        rows.append(tick(cells))
        n += 1
    lines = [ALL_HEADER] + rows + [ALL_SUMMARY, tick([n, amt(settle), amt(refund), "0.00", amt(fees, 5),
                                                      amt(orders), amt(asked)])]
    return write_lines(root / rel, lines, "utf-8", bom=True)


def write_fund_bill(month: Month, root: Path, rel: str) -> Path:
    rng = month.rng
    mchid = month.accounts["wechat_mchid"]
    rows, n_in, n_out, s_in, s_out = [], 0, 0, ZERO, ZERO
    for seq, e in enumerate(month.entries["wechatpay"], start=1):
        o = e.order
        flow = f"{mchid}{e.at:%Y%m%d}{seq:06d}" + "".join(rng.choice("0123456789") for _ in range(4))
        if e.kind == "sale":
            ref, name, who, note, voucher = o.txn_no, "交易", "system", "", o.merchant_order_no
        elif e.kind == "fee":
            ref, name, who, note, voucher = o.txn_no, "扣除交易手续费", "system", "", o.merchant_order_no
        elif e.kind == "refund":
            r = e.refund
            ref, name, who, voucher = r.refund_no, "退款", f"{mchid}API", "REF" + o.txn_no
            note = f"退款总金额{amt(r.amount)}元;含手续费{amt(r.fee_back)}元"
        else:
            ref, name, who, note, voucher = e.ref, "提现", "system", "自动提现", e.ref
        inbound = e.amount > 0
        if inbound:
            n_in, s_in = n_in + 1, s_in + e.amount
        else:
            n_out, s_out = n_out + 1, s_out - e.amount
        rows.append(tick([ts(e.at), ref, flow, name, name, "收入" if inbound else "支出", amt(abs(e.amount)),
                          amt(e.balance), who, note, voucher]))
    count = lambda k: f"{k}.0"  # noqa: E731 - the v2 bill renders counts as floats
    lines = [FUND_HEADER] + rows + [FUND_SUMMARY, tick([count(n_in + n_out), count(n_in), amt(s_in),
                                                        count(n_out), amt(s_out)])]
    return write_lines(root / rel, lines, "utf-8", bom=True)
