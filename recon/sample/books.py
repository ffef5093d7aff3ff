"""The seller's ERP receivables (Kingdee-style 应收单 list), derived from the same orders.

One 标准应收单 per order at the goods amount the platform owes (``Order.received``), one 红字应收单
(negative) per refund on its refund date, and per channel one month-end 其他应收单 (negative) for
the platform fees the clerk books against the receivable. JD fees are booked when JD's invoice
arrives next month, so the ERP holds no JD fee document (FEE_PERIOD_MISMATCH). The plants in
``Order.erp`` / ``Refund`` bend individual documents.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from decimal import Decimal

from recon.sample.model import CUSTOMERS, ZERO, money

TAX_RATE = Decimal("0.13")
FEE_KINDS = ("fee", "commission", "service", "marketing", "insurance", "commission_back",
             "insurance_back", "service_back")


@dataclass
class ArDoc:
    bill_no: str
    date: dt.date
    doc_type: str  # 标准应收单 | 红字应收单 | 其他应收单
    customer: str
    currency: str  # 人民币 | 美元
    rate: Decimal
    amount: Decimal
    order_col: str  # what the 平台订单号 cell holds ('' when only the 摘要 names the order)
    summary: str
    channel: str
    order_no: str | None
    settled: Decimal = ZERO

    @property
    def tax(self) -> Decimal:
        return money(self.amount - self.amount / (1 + TAX_RATE))

    @property
    def amount_local(self) -> Decimal:
        return money(self.amount * self.rate)

    @property
    def open_amount(self) -> Decimal:
        return self.amount - self.settled


def mangle(order_no: str) -> str:
    """What Excel shows for a long number in a General cell: 6 significant digits, E+NN."""
    mantissa = f"{Decimal(order_no):.5E}"  # e.g. 6.91235E+18
    head, exp = mantissa.split("E")
    return f"{head}E+{int(exp):02d}"


def build_docs(rng: random.Random, month, fx_by_day: dict) -> list[ArDoc]:
    docs: list[ArDoc] = []
    cutoff_paid = month.start + dt.timedelta(days=19)
    for o in month.orders:
        customer = o.erp.get("customer", CUSTOMERS[o.channel])
        currency, rate = ("美元", fx_by_day[o.erp.get("rate_day", o.created.date())]) \
            if "USD" in (o.currency, o.erp.get("currency")) else ("人民币", Decimal("1"))
        amount = o.erp.get("amount", o.received)
        subsidy = sum((s.subsidy for s in o.subs), ZERO) if o.erp.get("subsidy_split") else ZERO
        in_summary = rng.random() < 0.06
        col = "" if in_summary else o.order_no
        if o.erp.get("mangled"):
            col = mangle(o.order_no)
        if o.erp.get("short_key"):  # the seller's own number (plants.plant_short_keys); 摘要 does not name the order
            col, in_summary = o.erp["short_key"], False
        text = f"订单号:{o.order_no} {o.product}" if in_summary else f"{customer} 销售 {o.product}"
        settled = amount - subsidy if o.created.date() < cutoff_paid and o.settled is not None else ZERO
        copies = 2 if o.erp.get("duplicate") else 1
        for _ in range(copies):
            docs.append(ArDoc("", o.created.date(), "标准应收单", customer, currency, rate,
                              amount - subsidy, col, text, o.channel, o.order_no, settled))
        if subsidy:
            docs.append(ArDoc("", o.created.date(), "其他应收单", customer, currency, rate, subsidy,
                              o.order_no, f"平台补贴 订单号:{o.order_no}", o.channel, o.order_no))
        for r in o.refunds:
            if r.erp_date is None:
                continue
            docs.append(ArDoc("", r.erp_date, "红字应收单", customer, currency, rate, -r.amount,
                              o.order_no, f"退款 售后单:{r.refund_no or r.request_no}", o.channel,
                              o.order_no))
    for channel, rows in month.entries.items():
        if channel == "jd":
            continue
        total = sum((e.amount for e in rows if e.kind in FEE_KINDS), ZERO)
        if channel == "douyin":
            total = -sum((e.sub.service_fee + e.sub.talent_fee for e in rows if e.sub), ZERO)
        if channel == "wechatpay":  # WeChat returns part of its fee on refunds
            total += sum((e.refund.fee_back for e in rows if e.refund), ZERO)
        if total:
            docs.append(ArDoc("", month.last_day, "其他应收单", CUSTOMERS[channel], "人民币",
                              Decimal("1"), total, "", f"平台费用 {month.period} {CUSTOMERS[channel]}",
                              channel, None))
    docs.sort(key=lambda d: (d.date, d.doc_type != "标准应收单", d.channel, d.order_no or ""))
    for i, d in enumerate(docs, start=1):
        d.bill_no = f"AR{month.start:%Y%m}{i:06d}"
    return docs
