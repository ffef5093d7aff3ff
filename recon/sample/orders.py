"""Orders and refunds of the month, channel by channel, with their contract fees.

``OrderMaker.order`` builds one order of a channel: ids in that platform's shape, a price from
the catalogue, the merchant discount, platform subsidy and sub-orders where the channel has them,
and every fee by its contract formula (``model.RATES``). ``OrderMaker.refund`` adds a refund with
the reversals that platform makes (WeChat returns its fee, JD and Tmall their commission).
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from recon.sample.ids import Ids
from recon.sample.model import (
    PRODUCTS, SETTLE_LAG, ZERO, Order, Refund, SubOrder, fee_of, masked_buyer, money, random_time,
)


class OrderMaker:
    def __init__(self, rng: random.Random, ids: Ids, start: dt.date, end: dt.date):
        self.rng, self.ids, self.start, self.end = rng, ids, start, end

    def day_for(self, channel: str) -> dt.date:
        """A creation day that still settles inside the period."""
        span = (self.end - self.start).days - SETTLE_LAG[channel][1] - 1
        return self.start + dt.timedelta(days=self.rng.randrange(max(span, 1)))

    def _price(self) -> tuple[str, Decimal]:
        name, price = self.rng.choice(PRODUCTS)
        qty = self.rng.choice((1, 1, 1, 2, 3))
        return (name if qty == 1 else f"{name} x{qty}"), price * qty

    def order(self, channel: str, day: dt.date | None = None, *, lag: int | None = None,
              price: Decimal | None = None, subs: int | None = None) -> Order:
        rng, ids = self.rng, self.ids
        day = day or self.day_for(channel)
        created = random_time(rng, day)
        low, high = SETTLE_LAG[channel]
        lag = rng.randint(low, high) if lag is None else lag
        settled = created if lag == 0 else random_time(rng, day + dt.timedelta(days=lag))
        product, list_amount = self._price()
        if price is not None:
            list_amount = price
        o = Order(channel, "", "", "", created, settled, product, masked_buyer(rng, ids), list_amount)
        getattr(self, "_" + channel)(o, subs)
        return o

    # ------------------------------------------------------------ per channel

    def _alipay(self, o: Order, _subs):
        o.merchant_order_no = o.order_no = f"ZFB{o.created:%Y%m%d}{self.ids.plain(6)}"
        o.txn_no = self.ids.alipay_trade_no(o.created.date())
        if o.list_amount >= 50 and self.rng.random() < 0.12:
            o.discount = self.rng.choice((Decimal("3.00"), Decimal("5.00"), Decimal("10.00")))
            o.coupon_name = f"店铺券{o.discount:.0f}元"
        o.fee = fee_of(o.received, "alipay_fee")

    def _wechatpay(self, o: Order, _subs):
        o.merchant_order_no = o.order_no = f"WX{o.created:%Y%m%d}{self.ids.plain(8)}"
        o.txn_no = self.ids.wechat_txn_no(o.created.date())
        o.fee = fee_of(o.received, "wechat_fee")

    def _tmall(self, o: Order, _subs):
        o.order_no = self.ids.taobao_order_no()
        o.merchant_order_no = "T200P" + o.order_no
        o.txn_no = self.ids.alipay_trade_no(o.created.date())
        o.commission = fee_of(o.received, "tmall_commission")
        if self.rng.random() < 0.3:
            o.marketing = fee_of(o.received, "tmall_marketing")

    def _jd(self, o: Order, _subs):
        o.order_no = self.ids.jd_order_no()
        o.merchant_order_no = o.txn_no = self.ids.jd_merchant_order_no()
        o.commission = fee_of(o.received, "jd_commission")
        o.service_fee = fee_of(o.received, "jd_service")
        if self.rng.random() < 0.25:
            o.insurance = self.rng.choice((Decimal("0.80"), Decimal("1.20")))

    def _offline(self, o: Order, _subs):
        o.order_no = o.merchant_order_no = f"PI{o.created:%Y%m%d}-{self.ids.plain(3)}"

    def _pdd(self, o: Order, _subs):
        o.order_no = o.merchant_order_no = self.ids.pdd_order_no(o.created.date())
        o.fee = fee_of(o.received, "pdd_fee")

    def _douyin(self, o: Order, subs: int | None):
        rng, ids = self.rng, self.ids
        o.order_no = o.merchant_order_no = ids.douyin_order_no()
        n = subs if subs is not None else (1 if rng.random() < 0.88 else rng.choice((2, 3)))
        lines = [(o.product, o.list_amount)] + [self._price() for _ in range(n - 1)]
        o.list_amount = sum((p for _, p in lines), ZERO)
        o.product = lines[0][0]
        if n > 1 and rng.random() < 0.5:
            o.discount = Decimal("10.00")
        subsidy = rng.choice((Decimal("2.00"), Decimal("3.00"), Decimal("5.00"))) if rng.random() < 0.2 else ZERO
        talent = rng.random() < 0.3
        left = o.discount
        for i, (name, amount) in enumerate(lines):
            share = left if i == n - 1 else money(o.discount * amount / o.list_amount)
            left -= share
            sub_subsidy = subsidy if i == 0 else ZERO
            o.subs.append(SubOrder(ids.douyin_order_no(), name, ids.digits(19, "3"), amount,
                                   amount - share - sub_subsidy, sub_subsidy))
        for s in o.subs:
            self.douyin_fees(s, talent)
        o.commission = sum((s.service_fee + s.talent_fee for s in o.subs), ZERO)

    @staticmethod
    def douyin_fees(s: SubOrder, talent: bool):
        s.service_fee = fee_of(s.paid + s.subsidy, "douyin_service")
        s.talent_fee = fee_of(s.paid + s.subsidy, "douyin_talent") if talent else ZERO

    # ------------------------------------------------------------ refunds

    def refund(self, o: Order, *, full: bool | None = None, at: dt.datetime | None = None) -> Refund | None:
        rng, ids = self.rng, self.ids
        if at is None:
            day = o.settled.date() + dt.timedelta(days=rng.randint(1, 4))
            if day >= self.end:
                return None
            at = random_time(rng, day)
        full = rng.random() < 0.6 if full is None else full
        amount = o.received if full else money(o.received * Decimal(rng.randint(20, 60)) / 100)
        r = Refund(o, amount, at, "", "", erp_date=at.date())
        if o.channel == "alipay":
            r.request_no = f"RQ{at:%Y%m%d}{ids.plain(6)}"
        elif o.channel == "wechatpay":
            r.refund_no = ids.wechat_refund_no(at.date())
            r.request_no = f"RF{o.merchant_order_no}{len(o.refunds) + 1}"
            r.fee_back = min(fee_of(amount, "wechat_fee"), o.fee)
        elif o.channel in ("tmall", "jd"):
            r.refund_no = ids.digits(19, "1") if o.channel == "tmall" else ids.plain(10)
            rate = "tmall_commission" if o.channel == "tmall" else "jd_commission"
            r.commission_back = min(fee_of(amount, rate), o.commission)
            if full and o.insurance:
                r.insurance_back = o.insurance
            if full and o.channel == "jd":  # a charge per order, returned with the whole order
                r.service_back = o.service_fee
        else:
            r.refund_no = ids.digits(19, "7") if o.channel == "douyin" else ids.plain(12)
        o.refunds.append(r)
        return r
