"""The planted discrepancies: a few orders per code, each bent in one documented way.

Every planter builds its own orders (so a plant exists whatever the order count), bends exactly
one thing, and returns ``Planted`` records naming the files where the difference shows. All other
orders of the month reconcile to the cent; ``.planted.json`` is the answer key for the engine.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from recon.sample.model import ZERO, BankTxn, Planted, Refund, SubOrder, fee_of, money, random_time
from recon.sample.orders import OrderMaker

D = Decimal


def _late_day(mk: OrderMaker, back: int) -> dt.date:
    return mk.end - dt.timedelta(days=back)


def plant_all(mk: OrderMaker, fx: dict) -> tuple[list, list, list]:
    """Return (orders, planted, extra bank transactions)."""
    orders, planted, bank = [], [], []
    rng, ids = mk.rng, mk.ids

    # COUPON_FACE_VS_ACTUAL: the ERP books the coupon's face value, the platform the capped discount.
    for _ in range(2):
        o = mk.order("alipay", price=D("128.00"))
        o.discount, o.coupon_name = D("15.00"), "店铺满减券20元"
        o.fee = fee_of(o.received, "alipay_fee")
        o.erp["amount"] = o.list_amount - D("20.00")
        orders.append(o)
        planted.append(Planted("COUPON_FACE_VS_ACTUAL", "alipay", o.order_no,
                               ["alipay_trade", "alipay_fund", "erp"],
                               "券面额20.00 booked by the ERP; the platform applied 15.00 (商家优惠)",
                               o.received, o.erp["amount"]))

    # SUBSIDY_CLASSIFICATION: ERP splits the platform subsidy into a 其他应收单.
    for _ in range(2):
        o = mk.order("douyin", subs=1)
        s = o.subs[0]
        s.paid, s.subsidy = s.paid + s.subsidy - D("5.00"), D("5.00")
        mk.douyin_fees(s, s.talent_fee > 0)
        o.commission = s.service_fee + s.talent_fee
        o.erp["subsidy_split"] = True
        orders.append(o)
        planted.append(Planted("SUBSIDY_CLASSIFICATION", "douyin", o.order_no, ["douyin", "erp"],
                               "实际平台补贴 5.00 is inside the platform sale; the ERP books it as a "
                               "separate 其他应收单 (平台补贴) and the 标准应收单 without it",
                               o.received, o.received - D("5.00")))

    # ROUNDING_ALLOCATION: a 10.00 coupon split over three lines rounds to 9.99 on the platform.
    o = mk.order("douyin", subs=1)
    price = D("33.30")
    o.subs = [SubOrder(ids.douyin_order_no(), "陶瓷马克杯 礼盒", ids.digits(19, "3"), price,
                       price - money(D("10.00") / 3)) for _ in range(3)]
    for s in o.subs:
        mk.douyin_fees(s, False)
    o.list_amount, o.discount, o.product = price * 3, D("10.00"), "陶瓷马克杯 礼盒"
    o.commission = sum((s.service_fee for s in o.subs), ZERO)
    orders.append(o)
    platform = sum((s.paid for s in o.subs), ZERO)
    planted.append(Planted("ROUNDING_ALLOCATION", "douyin", o.order_no, ["douyin", "erp"],
                           "coupon 10.00 allocated per sub-order (3 x 3.33): platform total is "
                           f"{platform}, the ERP {o.received} (0.01 rounding)", platform, o.received))

    # REFUND_IN_REVIEW: 退款成功 on the platform, a later 二审 in the audit log, no credit note.
    o = mk.order("douyin", day=_late_day(mk, 12), lag=2)
    r = mk.refund(o, full=True)
    r.in_review, r.erp_date = True, None
    orders.append(o)
    planted.append(Planted("REFUND_IN_REVIEW", "douyin", o.order_no, ["douyin", "audit", "erp"],
                           "refund shown 退款成功 on the platform; the audit log moves it to 二审中 "
                           "afterwards; the ERP has no 红字应收单", -r.amount, ZERO))

    # REFUND_PERIOD_TIMING: refund on the last days, credit note dated early next month.
    for channel, key in (("pdd", "pdd"), ("tmall", "tmall")):
        o = mk.order(channel, day=_late_day(mk, 6), lag=2)
        r = mk.refund(o, full=False, at=random_time(rng, _late_day(mk, 1)))
        r.erp_date = mk.end + dt.timedelta(days=2)
        orders.append(o)
        planted.append(Planted("REFUND_PERIOD_TIMING", channel, o.order_no, [key, "erp"],
                               f"refund {r.amount} on {r.at:%Y-%m-%d}; the 红字应收单 is dated "
                               f"{r.erp_date:%Y-%m-%d} (next period)", -r.amount, ZERO))

    # COMMISSION_NOT_REVERSED / SHIPPING_INSURANCE_NOT_REVERSED on full JD refunds.
    o = mk.order("jd")
    r = mk.refund(o, full=True, at=random_time(rng, o.settled.date() + dt.timedelta(days=1)))
    # JD kept every fee of this order: the 佣金 and the 交易服务费 (both returned with a full refund)
    missing, r.commission_back = r.commission_back, ZERO
    service, r.service_back = r.service_back, ZERO
    orders.append(o)
    planted.append(Planted("COMMISSION_NOT_REVERSED", "jd", o.order_no, ["jd"],
                           f"full refund {r.amount} but neither the 佣金 {missing} nor the 交易服务费 {service} was "
                           "returned (no 佣金 or 交易服务费 收入 row)", ZERO, missing + service))
    o = mk.order("jd")
    o.insurance = D("1.20")
    r = mk.refund(o, full=True, at=random_time(rng, o.settled.date() + dt.timedelta(days=1)))
    service, r.insurance_back, r.service_back = r.service_back, ZERO, ZERO
    orders.append(o)
    planted.append(Planted("SHIPPING_INSURANCE_NOT_REVERSED", "jd", o.order_no, ["jd"],
                           "full refund but the 运费保险服务费 1.20 was not returned", ZERO, o.insurance))
    planted.append(Planted("COMMISSION_NOT_REVERSED", "jd", o.order_no, ["jd"],
                           f"the same full refund: the 交易服务费 {service} was not returned either", ZERO, service))

    # FX_RATE_DATE: two USD export orders paid by SWIFT; the second is booked at a later day's rate.
    usd_days = sorted(fx)
    for i, amount in enumerate((D("12500.00"), D("8640.00"))):
        day = usd_days[2 + i * 5]
        o = mk.order("offline", day=day)
        o.list_amount, o.currency, o.product = amount, "USD", "出口订单 FOB Ningbo"
        o.erp["rate_day"] = usd_days[2 + i * 5 + (3 if i else 0)]
        paid = random_time(rng, min(day + dt.timedelta(days=9), mk.end - dt.timedelta(days=1)))
        bank.append(BankTxn("camt", paid, amount, "GLOBAL TRADE LLC", "US12345678901234567",
                            f"PAYMENT {o.order_no}", ids.bank_ref("CAMT", 10), o.order_no, "offline", "USD"))
        orders.append(o)
        if i:
            right, wrong = fx[day], fx[o.erp["rate_day"]]
            planted.append(Planted("FX_RATE_DATE", "offline", o.order_no, ["erp", "fx", "camt"],
                                   f"booked at the {o.erp['rate_day']:%Y-%m-%d} rate {wrong} instead of the "
                                   f"业务日期 {day:%Y-%m-%d} rate {right}", money(amount * right),
                                   money(amount * wrong)))

    # SETTLEMENT_CUTOFF: booked in the ERP this month, settled by the platform next month.
    for channel in ("tmall", "douyin"):
        o = mk.order(channel, day=_late_day(mk, 1))
        o.settled = None
        orders.append(o)
        planted.append(Planted("SETTLEMENT_CUTOFF", channel, o.order_no, ["erp", channel],
                               "标准应收单 dated in the period; the platform settles it next period",
                               ZERO, o.received))
        if channel == "tmall":
            # the customer typed with a full-width space (U+3000) in the ERP's customer master: it must
            # still map to its channel (rules/channels.yaml, names compared normalised), or the channel's
            # settlement lag is unknown and the cut-off stays unexplained
            o.erp["customer"] = "天猫\u3000旗舰店"
            planted.append(Planted("CUSTOMER_NAME_VARIANT", channel, o.order_no, ["erp"],
                                   "the ERP's 客户 is 天猫\u3000旗舰店 (a full-width space), not 天猫旗舰店: mapped "
                                   "to tmall all the same, so the channel-scoped SETTLEMENT_CUTOFF fires",
                                   ZERO, o.received))

    # DUPLICATE_ERP_ENTRY: the same PDD order booked twice.
    o = mk.order("pdd")
    o.erp["duplicate"] = True
    orders.append(o)
    planted.append(Planted("DUPLICATE_ERP_ENTRY", "pdd", o.order_no, ["erp", "pdd"],
                           "two 标准应收单 for one order", o.received, o.received * 2))

    # PAYMENT_FEE_NOT_IN_COST: 花呗/信用卡 payment fee on Tmall, left out of the ERP fee document.
    for _ in range(2):
        o = mk.order("tmall")
        o.fee = fee_of(o.received, "tmall_payfee")
        orders.append(o)
        planted.append(Planted("PAYMENT_FEE_NOT_IN_COST", "tmall", o.order_no, ["tmall", "erp"],
                               f"花呗支付服务费 {o.fee} charged by Alipay; the ERP 平台费用 document leaves it out",
                               -o.fee, ZERO))

    # FEE_RULE_DEVIATION: a fee off its contract formula.
    o = mk.order("jd")
    right = o.commission
    o.commission += D("0.03")
    orders.append(o)
    planted.append(Planted("FEE_RULE_DEVIATION", "jd", o.order_no, ["jd"],
                           f"佣金 {o.commission} but round(货款 x 5%, 2) = {right}", -o.commission, -right))
    o = mk.order("pdd")
    right = o.fee
    o.fee += D("0.01")
    orders.append(o)
    planted.append(Planted("FEE_RULE_DEVIATION", "pdd", o.order_no, ["pdd"],
                           f"技术服务费 {o.fee} but round(交易收入 x 0.6%, 2) = {right}", -o.fee, -right))

    # EXCEL_MANGLED_ID: the ERP row's 平台订单号 went through Excel and became 6.9xxxxE+18.
    o = mk.order("douyin", subs=1)
    o.erp["mangled"] = True
    orders.append(o)
    planted.append(Planted("EXCEL_MANGLED_ID", "douyin", o.order_no, ["erp"],
                           "平台订单号 stored as scientific-notation text; digits lost",
                           o.received, o.received))

    # OFFLINE_PAYMENT_NOT_IN_AR: a customer transfer with no receivable behind it.
    at = random_time(rng, mk.start + dt.timedelta(days=17))
    amount = D("36800.00")
    bank.append(BankTxn("mt940", at, amount, "NINGBO HAISHU DEMO TRADING CO LTD", "6217000010002233445",
                        "PAYMENT FOR GOODS HT2026-017", ids.bank_ref("MT", 10), "HT2026-017", "offline"))
    planted.append(Planted("OFFLINE_PAYMENT_NOT_IN_AR", "offline", None, ["mt940"],
                           "bank credit 36800.00 from NINGBO HAISHU DEMO TRADING with no receivable in the ERP",
                           amount, ZERO))

    # UNKNOWN_PAYER_CREDIT (no dictionary code: it must stay unknown): a transfer from a payer the ERP
    # does not know, memo 汇入汇款 only. A loan, a supplier's refund or a misdirected payment look the
    # same; explaining it away as a customer's offline payment would be a false clean. Dated after every
    # other CMB line of the month and drawing nothing from the RNG, so the rest of the month is unchanged.
    at = dt.datetime.combine(mk.end - dt.timedelta(days=1), dt.time(15, 42, 7))
    amount = D("50000.00")
    bank.append(BankTxn("cmb", at, amount, "深圳前海示例投资有限公司", "755912345610201", "汇入汇款", ""))
    planted.append(Planted("UNKNOWN_PAYER_CREDIT", "offline", None, ["cmb"],
                           "bank credit 50000.00 from a payer the ERP does not know, no order or contract "
                           "reference and no goods wording in the memo: must stay unknown", amount, ZERO))
    return orders, planted, bank


def plant_short_keys(mk: OrderMaker, ordinary: list) -> tuple[list, list]:
    """Shortened keys on ordinary WeChat Pay orders: the ERP's 平台订单号 holds the seller's own number,
    XS + the order number's last 8 characters (WX + date + 8 digits: the 8 digits). Returns (orders
    made for it, planted).

    - SHORT_KEY_MATCHED: one order so keyed; the fallback pass finds exactly one candidate.
    - SHORT_KEY_REVIEW: two orders of the same amount on different days, the second renumbered so
      that both end in the same 8 characters, both so keyed: all four lines go to review.

    The orders are picked from the month's ordinary ones and bent without drawing from the RNG, so the
    rest of the month stays as it was; only a month too small to hold them gets orders of its own.
    """
    end = mk.end
    fit = sorted((o for o in ordinary if o.channel == "wechatpay" and not o.refunds and o.settled is not None
                  and o.settled.date() < end and o.created.date() <= end - dt.timedelta(days=5)),
                 key=lambda o: o.order_no)
    pair = next(((a, b) for i, a in enumerate(fit) for b in fit[i + 1:]
                 if a.received == b.received and a.created.date() != b.created.date()), None)
    single = next((o for o in fit if pair is None or (o not in pair and o.order_no[-8:] != pair[0].order_no[-8:])),
                  None)
    made = []
    if pair is None or single is None:
        price = D("178.00")
        pair = (mk.order("wechatpay", day=mk.start + dt.timedelta(days=1), lag=1, price=price),
                mk.order("wechatpay", day=mk.start + dt.timedelta(days=4), lag=1, price=price))
        single = mk.order("wechatpay", day=mk.start + dt.timedelta(days=2), lag=1)
        made = [*pair, single]
    a, b = pair
    b.order_no = b.merchant_order_no = b.order_no[:-8] + a.order_no[-8:]
    planted = []
    for o in pair:
        o.erp["short_key"] = f"XS{o.order_no[-8:]}"
        planted.append(Planted("SHORT_KEY_REVIEW", "wechatpay", o.order_no, ["wechat_trade", "wechat_fund", "erp"],
                               f"the ERP keys the order {o.erp['short_key']}; two orders of {o.received} end in "
                               f"{o.order_no[-8:]}: every line goes to review with both candidates",
                               o.received, o.received))
    single.erp["short_key"] = f"XS{single.order_no[-8:]}"
    planted.append(Planted("SHORT_KEY_MATCHED", "wechatpay", single.order_no, ["wechat_trade", "wechat_fund", "erp"],
                           f"the ERP keys the order {single.erp['short_key']} (its last 8 characters): one "
                           "candidate, matched by the fallback pass", single.received, single.received))
    return made, planted


def plant_rounding_one_to_one(mk: OrderMaker, ordinary: list) -> tuple[list, list]:
    """ROUNDING_ALLOCATION between one settlement line and one ERP document: an ordinary Tmall order
    whose 标准应收单 is 0.01 short (its 价税合计 summed from rounded tax lines). Picked and bent
    without drawing from the RNG; a month too small to hold one gets an order of its own."""
    fit = sorted((o for o in ordinary if o.channel == "tmall" and not o.refunds and o.settled is not None
                  and o.settled.date() < mk.end and not o.erp), key=lambda o: o.order_no)
    made = [] if fit else [mk.order("tmall", day=mk.start + dt.timedelta(days=3), lag=1)]
    o = (fit or made)[0]
    o.erp["amount"] = o.received - D("0.01")
    return made, [Planted("ROUNDING_ALLOCATION", "tmall", o.order_no, ["tmall", "erp"],
                          f"one settlement line {o.received} against one 标准应收单 {o.erp['amount']}: the ERP "
                          "total was summed from rounded tax lines (0.01)", o.received, o.erp["amount"])]


def plant_refund_review_erp_side(mk: OrderMaker, ordinary: list) -> tuple[list, list]:
    """REFUND_IN_REVIEW seen from the ERP: an ordinary Douyin order whose full refund the ERP books as a
    红字应收单 on the last day, while the after-sale log sends it to 二审中 and no money moves, so the
    platform's bill shows no refund. Picked and bent without drawing from the RNG (the refund number is
    the order number with a 7 in front, as Douyin's 售后单号 start); a month too small gets an order of its own."""
    last = mk.end - dt.timedelta(days=1)
    fit = sorted((o for o in ordinary if o.channel == "douyin" and not o.refunds and o.settled is not None
                  and o.settled.date() < last and not o.erp), key=lambda o: o.order_no)
    made = [] if fit else [mk.order("douyin", day=mk.start + dt.timedelta(days=3), lag=1)]
    o = (fit or made)[0]
    at = dt.datetime.combine(last, dt.time(10, 15, 2))
    o.refunds.append(Refund(o, o.received, at, "7" + o.order_no[1:], "", erp_date=last, on_platform=False))
    return made, [Planted("REFUND_IN_REVIEW", "douyin", o.order_no, ["douyin", "audit", "erp"],
                          f"the ERP booked a 红字应收单 {-o.received} for a refund the audit log moves to 二审中 "
                          "with no money moved; the platform's bill shows no refund", o.received, ZERO)]


def plant_service_fee_kept(mk: OrderMaker, ordinary: list) -> tuple[list, list]:
    """COMMISSION_NOT_REVERSED on a commission-like charge: an ordinary JD order refunded in full whose
    交易服务费 JD kept (no 交易服务费 收入 row), while it returned the 佣金. Picked and bent without drawing
    from the RNG; a month without such an order gets one of its own."""
    fit = sorted((o for o in ordinary if o.channel == "jd" and o.refunds and o.refunds[0].service_back > 0),
                 key=lambda o: o.order_no)
    made = []
    if not fit:
        o = mk.order("jd", day=mk.start + dt.timedelta(days=3), lag=1)
        mk.refund(o, full=True, at=random_time(mk.rng, o.settled.date() + dt.timedelta(days=1)))
        made = [o]
    o = (fit or made)[0]
    r = o.refunds[0]
    kept, r.service_back = r.service_back, ZERO
    return made, [Planted("COMMISSION_NOT_REVERSED", "jd", o.order_no, ["jd"],
                          f"full refund {r.amount}: the 佣金 came back, the 交易服务费 {kept} did not "
                          "(no 交易服务费 收入 row)", ZERO, kept)]


def plant_fx_local(mk: OrderMaker, ordinary: list, usd: dict) -> tuple[list, list]:
    """FX_RATE_DATE on a cross-border order (Tmall Global): the platform settles it in CNY at the 业务日期's
    rate, the ERP books the receivable in USD at the month's opening rate (its first fixing), so the
    本位币 amounts differ by the USD amount × the rate difference. An ordinary Tmall order whose CNY
    amount is a whole number of US cents at its day's rate is picked and bent without drawing from the
    RNG; a month without one gets orders of its own until one fits (a 29.90 order is too small: its
    rate difference rounds away)."""
    book_day = min(usd)
    booked = usd[book_day]

    def usd_of(o) -> Decimal | None:
        rate = usd.get(o.created.date())
        if rate is None or rate == booked:
            return None
        amount = money(o.received / rate)
        local = money(amount * booked)
        # the CNY settlement is the USD amount at the day's rate to the cent, and the difference is the
        # rate's: more than an allocation cent (ROUNDING_ALLOCATION's 0.03), equal to USD × Δrate within 0.01
        if money(amount * rate) != o.received or abs(o.received - local) <= D("0.03") \
                or abs(o.received - local - amount * (rate - booked)) > D("0.01"):
            return None
        return amount

    fit = sorted((o for o in ordinary if o.channel == "tmall" and not o.refunds and o.settled is not None
                  and o.settled.date() < mk.end and not o.erp), key=lambda o: o.order_no)
    o = next((o for o in fit if usd_of(o) is not None), None)
    made = []
    while o is None:
        made.append(mk.order("tmall", day=sorted(usd)[5], lag=1))
        o = made[-1] if usd_of(made[-1]) is not None else None
    amount, day = usd_of(o), o.created.date()
    o.erp.update({"currency": "USD", "amount": amount, "rate_day": book_day})
    return made, [Planted("FX_RATE_DATE", "tmall", o.order_no, ["tmall", "erp", "fx"],
                          f"cross-border order settled in CNY {o.received}; the ERP books USD {amount} at the "
                          f"month's opening rate {booked} ({book_day:%Y-%m-%d}) instead of the 业务日期 "
                          f"{day:%Y-%m-%d} rate {usd[day]}", o.received, money(amount * booked))]
