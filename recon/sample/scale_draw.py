"""The scale month's random draws, as numpy columns: one array per order attribute, money in cents.

The small generator (``orders.py``) builds one ``Order`` object per order from ``random.Random``;
at a million orders that is minutes and gigabytes. Here every attribute is one vectorised draw from
``numpy.random.Generator(PCG64(seed))`` in a fixed order, so the same seed gives the same arrays.
Money is ``int64`` cents and every fee is the contract formula of ``model.RATES`` computed in
integer arithmetic with ROUND_HALF_UP, the rounding ``model.fee_of`` uses: exact, never a float.

The scale month is clean: it keeps the small month's shapes (channels and weights, prices, merchant
discounts, Douyin sub-orders, subsidies and talent fees, refunds with their fee reversals) but plants
no discrepancy, so a run should match it all.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from recon.sample.model import CHANNELS, PRODUCTS, SETTLE_LAG, WEIGHTS

REFUND_SHARE = 0.08
SECONDS = 86400
DAY_OPEN = 8 * 3600  # orders and movements happen between 08:00 and 23:00 (model.random_time)
DAY_SPAN = 15 * 3600
PRICE_CENTS = np.array([int(p * 100) for _, p in PRODUCTS], dtype=np.int64)
QTY = np.array([1, 1, 1, 2, 3], dtype=np.int64)


def half_up(base: np.ndarray, num: int, den: int) -> np.ndarray:
    """round(base * num / den) to the cent, halves away from zero, on int64 cents (exact)."""
    mag = (np.abs(base) * num * 2 + den) // (2 * den)
    return np.where(base < 0, -mag, mag)


def fee(base: np.ndarray, rate: str) -> np.ndarray:
    """``model.fee_of`` on cents: the rate written as a fraction of a power of ten."""
    digits = rate.split(".")[1]
    return half_up(base, int(digits), 10 ** len(digits))


def _stamp(rng, day: np.ndarray) -> np.ndarray:
    """A time on day ``day`` (days from the period start), in seconds from the period start."""
    return day * SECONDS + DAY_OPEN + rng.integers(0, DAY_SPAN, day.size)


def draw(n: int, seed: int, start: dt.date, end: dt.date) -> dict:
    """Every order of the month as columns sorted by creation time; ``seq`` numbers them 1..n.

    Times are seconds from the period start (wall clock, Asia/Shanghai). ``ref`` marks the orders
    with a refund (at most one each); their refund columns are meaningless elsewhere.
    """
    rng = np.random.Generator(np.random.PCG64(seed))
    days = (end - start).days
    weights = np.array(WEIGHTS, dtype=float)
    ch = rng.choice(len(CHANNELS), n, p=weights / weights.sum()).astype(np.int8)
    low = np.array([SETTLE_LAG[c][0] for c in CHANNELS])[ch]
    high = np.array([SETTLE_LAG[c][1] for c in CHANNELS])[ch]
    day = rng.integers(0, np.maximum(days - high - 1, 1))
    created = _stamp(rng, day)
    lag = rng.integers(low, high + 1)
    settled = np.where(lag == 0, created, _stamp(rng, day + lag))
    prod, qty = rng.integers(0, len(PRODUCTS), n), QTY[rng.integers(0, QTY.size, n)]
    list_c = PRICE_CENTS[prod] * qty
    is_ = {c: ch == i for i, c in enumerate(CHANNELS)}

    # Alipay 当面付: a shop coupon on 12 % of orders of 50.00 or more (orders._alipay)
    coupon = is_["alipay"] & (list_c >= 5000) & (rng.random(n) < 0.12)
    disc = np.where(coupon, np.array([300, 500, 1000])[rng.integers(0, 3, n)], 0)
    # Douyin: 12 % of orders have a second sub-order; 20 % a platform subsidy on the first; 30 % a talent
    two = is_["douyin"] & (rng.random(n) < 0.12)
    prod2, qty2 = rng.integers(0, len(PRODUCTS), n), QTY[rng.integers(0, QTY.size, n)]
    sub2_c = np.where(two, PRICE_CENTS[prod2] * qty2, 0)
    subsidy = np.where(is_["douyin"] & (rng.random(n) < 0.2), np.array([200, 300, 500])[rng.integers(0, 3, n)], 0)
    talent = is_["douyin"] & (rng.random(n) < 0.3)
    marketing_on = is_["tmall"] & (rng.random(n) < 0.3)
    insured = is_["jd"] & (rng.random(n) < 0.25)
    insurance = np.where(insured, np.array([80, 120])[rng.integers(0, 2, n)], 0)
    received = list_c + sub2_c - disc
    sub1_c = list_c  # the first Douyin sub-order's line amount (paid + subsidy)
    cols = {
        "ch": ch, "created": created, "settled": settled, "prod": prod, "qty": qty, "list_c": list_c + sub2_c,
        "disc_c": disc, "received_c": received,
        "fee_c": np.where(is_["alipay"] | is_["wechatpay"] | is_["pdd"], fee(received, "0.006"), 0),
        "commission_c": np.where(is_["tmall"] | is_["jd"], fee(received, "0.05"), 0),
        "service_c": np.where(is_["jd"], fee(received, "0.01"), 0),
        "marketing_c": np.where(marketing_on, fee(received, "0.06"), 0),
        "insurance_c": insurance,
        "two": two, "prod2": prod2, "qty2": qty2, "sub1_c": sub1_c, "sub2_c": sub2_c, "subsidy_c": subsidy,
        "svc1_c": np.where(is_["douyin"], fee(sub1_c, "0.05"), 0),
        "svc2_c": np.where(two, fee(sub2_c, "0.05"), 0),
        "tal1_c": np.where(talent, fee(sub1_c, "0.10"), 0),
        "tal2_c": np.where(two & talent, fee(sub2_c, "0.10"), 0),
    }
    # cosmetic digits: random fronts of ids, buyers, stores, flow numbers (each < 10**18)
    for name in ("r1", "r2", "r3", "r4"):
        cols[name] = rng.integers(0, 10**18, n, dtype=np.int64)
    cols["surname"] = rng.integers(0, 20, n)
    cols["phone"] = rng.random(n) < 0.5
    cols["store"] = rng.integers(0, 4, n)  # 0/1: a store's POS; 2/3: no store (half the payments)

    # refunds: 8 % of orders, 1-4 days after settling, none after the period (orders.refund)
    rday = settled // SECONDS + rng.integers(1, 5, n)
    ref = (rng.random(n) < REFUND_SHARE) & (rday < days)
    ref_at = _stamp(rng, rday)
    full = rng.random(n) < 0.6
    part = half_up(received * rng.integers(20, 61, n), 1, 100)
    amount = np.where(full, received, part)
    cols.update({
        "ref": ref, "ref_at": ref_at, "ref_c": np.where(ref, amount, 0),
        "fee_back_c": np.where(ref & is_["wechatpay"], np.minimum(fee(amount, "0.006"), cols["fee_c"]), 0),
        "cb_c": np.where(ref & (is_["tmall"] | is_["jd"]), np.minimum(fee(amount, "0.05"), cols["commission_c"]), 0),
        "ib_c": np.where(ref & full & is_["jd"], insurance, 0),
        "r5": rng.integers(0, 10**18, n, dtype=np.int64),
    })
    order = np.lexsort((np.arange(n), created))
    out = {k: v[order] for k, v in cols.items()}
    out["seq"] = np.arange(1, n + 1, dtype=np.int64)
    return out
