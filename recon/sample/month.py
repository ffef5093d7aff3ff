"""Assemble the business month: planted orders first, then ordinary ones, then money movements.

``build_month`` is the only entry point the writers need. The order of RNG draws is fixed
(plants, orders, refunds, balances, ERP), so the same (orders, seed, period) gives the same month.
"""

from __future__ import annotations

import random
from decimal import Decimal

from recon.sample.ids import Ids
from recon.sample.ledger import bank_credits, fx_fixings, run_balances
from recon.sample.model import CHANNELS, WEIGHTS, ZERO, Month, Planted, period_bounds
from recon.sample.orders import OrderMaker
from recon.sample.plants import (plant_all, plant_fx_local, plant_refund_review_erp_side,
                                 plant_rounding_one_to_one, plant_service_fee_kept, plant_short_keys)

REFUND_SHARE = 0.08
OPENING = {"alipay": "3200.00", "tmall": "5600.00", "wechatpay": "1800.00", "douyin": "2600.00",
           "pdd": "1500.00", "jd": "0.00", "cmb": "286540.15", "icbc": "98320.40",
           "mt940": "152000.00", "camt": "4820.75"}
ACCOUNTS = {
    "alipay_pid": "20880211096256330156", "tmall_pid": "20885021337845610156",
    "wechat_mchid": "1900012345", "company": "宁波示例日用品有限公司",
    "cmb": "571908765410601", "icbc": "3901020109000123456", "mt940": "BKCHCNBJ300/340876543210",
    "camt": "CN6201040000001234567890", "camt_bic": "BKCHCNBJXXX",
}


def build_month(orders: int = 300, seed: int = 20260131, period: str = "2026-01") -> Month:
    rng = random.Random(seed)
    ids = Ids(rng)
    start, end = period_bounds(period)
    fx = fx_fixings(rng, start, end)
    usd = {d: rate for d, cur, rate, _ in fx if cur == "USD"}
    maker = OrderMaker(rng, ids, start, end)
    planted_orders, planted, extra_bank = plant_all(maker, usd)
    # two sample-size PDD orders whose 0.6% fee rounds to 0.00: zero-amount rows in the footer count
    ordinary = [maker.order("pdd", price=Decimal(p)) for p in ("0.50", "0.80")]
    for _ in range(max(orders - len(planted_orders) - len(ordinary), 0)):
        o = maker.order(rng.choices(CHANNELS, WEIGHTS)[0])
        if rng.random() < REFUND_SHARE:
            maker.refund(o)
        ordinary.append(o)
    # plants on ordinary orders, bent without drawing from the RNG (the month around them is unchanged)
    for plant in (plant_short_keys, plant_rounding_one_to_one, plant_refund_review_erp_side, plant_service_fee_kept,
                  lambda mk, ordinary: plant_fx_local(mk, ordinary, usd)):
        made, items = plant(maker, ordinary)
        ordinary += made
        planted += items
    all_orders = sorted(planted_orders + ordinary, key=lambda o: (o.created, o.order_no))
    opening = {k: Decimal(v) for k, v in OPENING.items()}
    entries, payouts = run_balances(rng, ids, all_orders, opening, start, end)
    planted.insert(0, _fee_period_mismatch(entries["jd"]))
    bank = sorted(bank_credits(payouts) + extra_bank, key=lambda t: (t.bank, t.at))
    return Month(period, start, end, seed, all_orders, entries, opening, payouts, bank, fx,
                 planted, dict(ACCOUNTS), rng)


def _fee_period_mismatch(jd_entries: list) -> Planted:
    """Channel-wide: every JD fee of the period lacks an ERP document (booked on next month's invoice)."""
    fees = sum((e.amount for e in jd_entries if e.kind not in ("sale", "refund")), ZERO)
    return Planted("FEE_PERIOD_MISMATCH", "jd", None, ["jd", "erp"],
                   f"JD 佣金/交易服务费/运费保险服务费 net {fees} in the period's 对账单; the ERP books JD fees "
                   "when the invoice arrives next period and holds no JD fee document", fees, ZERO)
