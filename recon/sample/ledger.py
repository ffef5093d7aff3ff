"""Platform balances, payouts and the bank credits they become; the month's FX fixings.

Each channel's orders become balance movements (``Entry``) in time order. On the payout days the
platform sweeps the balance above ``RESERVE`` to the seller's bank (Alipay/Tmall/WeChat/Douyin/
PDD ``提现``); JD has no balance, it pays settled 对账单 lines in weekly batches. Every payout lands
0-2 days later as a bank credit on the account that channel pays into (``BANK_OF``).
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from recon.sample.ids import Ids
from recon.sample.model import (
    JD_BATCH_DAYS, PAYOUT_DAYS, RESERVE, ZERO, BankTxn, Entry, Order, Payout, random_time,
)

BANK_OF = {"tmall": "cmb", "alipay": "cmb", "wechatpay": "cmb", "jd": "icbc", "pdd": "icbc",
           "douyin": "mt940"}
PAYERS = {
    "tmall": ("支付宝（中国）网络技术有限公司", "571905400010288", "天猫提现"),
    "alipay": ("支付宝（中国）网络技术有限公司", "571905400010288", "支付宝提现"),
    "wechatpay": ("财付通支付科技有限公司", "4000023329100191", "微信支付提现"),
    "jd": ("网银在线（北京）科技有限公司", "110060576018010041580", "京东结算款"),
    "pdd": ("上海寻梦信息技术有限公司", "31050161393700002185", "拼多多提现"),
    "douyin": ("DOUYIN PAYMENT TECHNOLOGY CO LTD", "110935503010801", "DOUDIAN WITHDRAWAL"),
}


def order_entries(o: Order) -> list[Entry]:
    """The balance movements one order causes, in the order the platform books them."""
    if o.settled is None or o.channel == "offline":
        return []
    out: list[Entry] = []
    at = o.settled

    def add(kind, amount, when=at, keep_zero=False, **kw):
        if amount or keep_zero:
            out.append(Entry(o.channel, when, kind, amount, o, **kw))

    if o.channel == "douyin":
        for s in o.subs:
            add("sale", s.paid + s.subsidy - s.service_fee - s.talent_fee, sub=s)
    else:
        add("sale", o.received)
        # PDD books its 技术服务费 row even when it rounds to 0.00 (the footer counts it)
        add("fee" if o.channel != "tmall" else "payfee", -o.fee, at + dt.timedelta(seconds=1),
            keep_zero=o.channel == "pdd")
        add("commission", -o.commission, at + dt.timedelta(seconds=2))
        add("service", -o.service_fee, at + dt.timedelta(seconds=2))
        add("marketing", -o.marketing, at + dt.timedelta(seconds=3))
        add("insurance", -o.insurance, at + dt.timedelta(seconds=3))
    for r in o.refunds:
        if not r.on_platform:  # still in review: the platform has moved no money
            continue
        if o.channel == "wechatpay":  # the fund bill shows the refund net of the returned fee
            add("refund", -(r.amount - r.fee_back), r.at, refund=r)
            continue
        add("refund", -r.amount, r.at, refund=r)
        add("commission_back", r.commission_back, r.at + dt.timedelta(seconds=1), refund=r)
        add("service_back", r.service_back, r.at + dt.timedelta(seconds=1), refund=r)
        add("insurance_back", r.insurance_back, r.at + dt.timedelta(seconds=1), refund=r)
    return out


def _bank_day(rng: random.Random, at: dt.datetime, end: dt.date) -> dt.datetime:
    day = min(at.date() + dt.timedelta(days=rng.randint(0, 2)), end - dt.timedelta(days=1))
    when = random_time(rng, day)
    return max(when, at + dt.timedelta(minutes=20))


def run_balances(rng: random.Random, ids: Ids, orders: list, opening: dict, start: dt.date,
                 end: dt.date) -> tuple[dict, list]:
    """Entries per channel with running balances and sweeping payouts; JD batches."""
    entries: dict = {c: [] for c in BANK_OF}
    for o in orders:
        for e in order_entries(o):
            entries[e.channel].append(e)
    payouts: list[Payout] = []
    for channel, rows in entries.items():
        rows.sort(key=lambda e: e.at)
        if channel == "jd":
            payouts += _jd_batches(rng, ids, rows, start, end)
            continue
        days = [dt.datetime.combine(start.replace(day=d), dt.time(10)) for d in PAYOUT_DAYS
                if start.replace(day=d) < end]
        balance, out = opening[channel], []
        for e in rows:
            while days and days[0] <= e.at:
                balance = _sweep(rng, ids, channel, days.pop(0), balance, out, payouts, end)
            balance += e.amount
            e.balance = balance
            out.append(e)
        while days:
            balance = _sweep(rng, ids, channel, days.pop(0), balance, out, payouts, end)
        entries[channel] = out
    return entries, payouts


def _sweep(rng, ids, channel, at, balance, out, payouts, end) -> Decimal:
    amount = balance - RESERVE
    if amount <= 0:
        return balance
    ref = ids.bank_ref("WD" if channel != "douyin" else "DY", 14)
    p = Payout(channel, at, amount, ref, _bank_day(rng, at, end), BANK_OF[channel])
    payouts.append(p)
    balance -= amount
    out.append(Entry(channel, at, "payout", -amount, ref=ref, balance=balance, batch=p))
    return balance


def _jd_batches(rng, ids, rows, start, end) -> list:
    """JD pays every line whose 预计结算时间 (next day) has passed on each batch day."""
    payouts = []
    for d in JD_BATCH_DAYS:
        day = start.replace(day=d) if d <= (end - start).days else None
        if day is None:
            continue
        batch = [e for e in rows if e.batch is None and e.at.date() + dt.timedelta(days=1) < day]
        amount = sum((e.amount for e in batch), ZERO)
        if not batch or amount <= 0:
            continue
        at = dt.datetime.combine(day, dt.time(9))
        p = Payout("jd", at, amount, ids.bank_ref("JDJS", 14), _bank_day(rng, at, end), "icbc")
        for e in batch:
            e.batch = p
        payouts.append(p)
    return payouts


def bank_credits(payouts: list) -> list[BankTxn]:
    out = []
    for p in payouts:
        name, account, summary = PAYERS[p.channel]
        out.append(BankTxn(p.bank, p.bank_at, p.amount, name, account, summary, "", p.ref, p.channel))
    return out


def fx_fixings(rng: random.Random, start: dt.date, end: dt.date) -> list:
    """CFETS-style 中间价 on business days: USD per 1, JPY per 100 (New Year's Day is a holiday)."""
    usd, jpy = Decimal("7.1860"), Decimal("4.5920")
    out = []
    day = start
    while day < end:
        if day.weekday() < 5 and (day.month, day.day) != (1, 1):
            usd += Decimal(rng.randint(-30, 30)) / 10000
            jpy += Decimal(rng.randint(-80, 80)) / 10000
            out += [(day, "USD", usd, 1), (day, "JPY", jpy, 100)]
        day += dt.timedelta(days=1)
    return out
