"""The scale month in DuckDB: orders with their ids, balance movements, sweeps and JD batches.

Tables built on the connection (all set-based; the only Python loops run over the month's few payout
days, never over rows):

- ``o``: one row per order (``scale_draw`` columns plus ids, product text, buyer, timestamps).
- ``e``: every balance movement an order causes (``mt``: its time) (``ledger.order_entries`` rules, cents).
- ``payout``: the sweeps on ``PAYOUT_DAYS`` (balance above ``RESERVE``) and JD's weekly batches,
  each with the bank credit it becomes.
- ``led``: ``e`` plus the sweeps (``pref``: the payout's reference), with ``pos`` (file order per
  channel) and the running ``balance``; ``jd_led``: JD's lines with the batch that paid them.

Ids keep the small generator's shapes (``ids.py``) with the order's sequence number as their last
eight digits, so they are unique by construction; a random front makes them look real.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

from recon.sample.ledger import BANK_OF
from recon.sample.model import CHANNELS, JD_BATCH_DAYS, PAYOUT_DAYS, PRODUCTS, RESERVE, SURNAMES
from recon.sample.scale_draw import DAY_OPEN, DAY_SPAN

MAX_ORDERS = 99_999_999  # ids end in an 8-digit sequence number

MACROS = """
CREATE OR REPLACE MACRO rd(r, k) AS lpad(CAST(r % CAST(10 ** k AS BIGINT) AS VARCHAR), k, '0');
CREATE OR REPLACE MACRO amt(c) AS (CASE WHEN c < 0 THEN '-' ELSE '' END)
    || CAST(abs(c) // 100 AS VARCHAR) || '.' || lpad(CAST(abs(c) % 100 AS VARCHAR), 2, '0');
CREATE OR REPLACE MACRO ts(t) AS strftime(t, '%Y-%m-%d %H:%M:%S');
CREATE OR REPLACE MACRO ymd(t) AS strftime(t, '%Y%m%d');
"""

_IDS = """
CREATE TABLE o AS
WITH b AS (
  SELECT * EXCLUDE (ch, created, settled, ref_at), ['{ch}'][ch + 1] AS ch, lpad(CAST(seq AS VARCHAR), 8, '0') AS s8,
         TIMESTAMP '{start}' + to_seconds(created) AS c_at, TIMESTAMP '{start}' + to_seconds(settled) AS s_at,
         TIMESTAMP '{start}' + to_seconds(ref_at) AS r_at
  FROM draws)
SELECT *,
  CASE ch WHEN 'alipay' THEN 'ZFB' || ymd(c_at) || s8 WHEN 'wechatpay' THEN 'WX' || ymd(c_at) || s8
    WHEN 'tmall' THEN CAST(2 + r1 % 3 AS VARCHAR) || rd(r2, 10) || s8 WHEN 'jd' THEN '3' || rd(r1, 7) || s8
    WHEN 'douyin' THEN '69' || rd(r1, 8) || '0' || s8 ELSE strftime(c_at, '%y%m%d') || '-' || rd(r1, 7) || s8
  END AS order_no,
  CASE ch WHEN 'tmall' THEN 'T200P' || order_no WHEN 'jd' THEN '1' || rd(r2, 18) || s8 ELSE order_no
  END AS merchant_order_no,
  CASE ch WHEN 'wechatpay' THEN '4200000' || rd(r1, 3) || ymd(c_at) || rd(r2, 2) || s8
    WHEN 'jd' THEN merchant_order_no ELSE ymd(c_at) || '2200' || rd(r1 // 10, 8) || s8 END AS txn_no,
  '69' || rd(r2, 8) || '1' || s8 AS sub1_no, '69' || rd(r2, 8) || '2' || s8 AS sub2_no,
  '3' || rd(r3, 18) AS pid1, '3' || rd(r3 // 7, 18) AS pid2,
  ['{names}'][prod + 1] || CASE WHEN qty > 1 THEN ' x' || qty ELSE '' END AS product,
  ['{names}'][prod2 + 1] || CASE WHEN qty2 > 1 THEN ' x' || qty2 ELSE '' END AS product2,
  '*' || ['{surnames}'][surname + 1] || CASE WHEN phone THEN '(1' || rd(r4, 2) || '******' || rd(r4 // 100, 2) || ')'
    ELSE '(' || rd(r4, 3) || '***@example.com)' END AS buyer,
  CASE WHEN disc_c > 0 THEN '店铺券' || CAST(disc_c // 100 AS VARCHAR) || '元' ELSE '' END AS coupon,
  CASE ch WHEN 'wechatpay' THEN '503' || rd(r5, 5) || ymd(r_at) || rd(r5 // 100000, 5) || s8
    WHEN 'tmall' THEN '1' || rd(r5, 10) || s8 WHEN 'jd' THEN rd(r5, 2) || s8
    WHEN 'douyin' THEN '7' || rd(r5, 10) || s8 WHEN 'pdd' THEN rd(r5, 4) || s8 ELSE '' END AS refund_no,
  CASE ch WHEN 'alipay' THEN 'RQ' || ymd(r_at) || s8 WHEN 'wechatpay' THEN 'RF' || order_no || '1' ELSE ''
  END AS request_no
FROM b
"""

# (kind, time offset in seconds, amount in cents, rank in the platform's booking order, condition)
_ORDER_ENTRIES = [
    ("sale", 0, "received_c", 0, "ch <> 'douyin'"),
    ("fee", 1, "-fee_c", 1, "fee_c <> 0 OR ch = 'pdd'"),  # PDD books a 0.00 技术服务费 row too
    ("commission", 2, "-commission_c", 2, "commission_c <> 0"),
    ("service", 2, "-service_c", 3, "service_c <> 0"),
    ("marketing", 3, "-marketing_c", 4, "marketing_c <> 0"),
    ("insurance", 3, "-insurance_c", 5, "insurance_c <> 0"),
]
_REFUND_ENTRIES = [
    ("refund", 0, "CASE WHEN ch = 'wechatpay' THEN fee_back_c - ref_c ELSE -ref_c END", 6, "true"),
    ("commission_back", 1, "cb_c", 7, "cb_c <> 0"),
    ("insurance_back", 1, "ib_c", 8, "ib_c <> 0"),
]


def load_orders(con, cols: dict, start: dt.date) -> None:
    if cols["seq"].size > MAX_ORDERS:
        raise ValueError(f"at most {MAX_ORDERS} orders")
    con.execute(MACROS)
    con.register("draws", pa.table(cols))
    con.execute(_IDS.format(start=start.isoformat(), ch="','".join(CHANNELS),
                            names="','".join(n for n, _ in PRODUCTS), surnames="','".join(SURNAMES)))
    con.unregister("draws")


def build_entries(con) -> None:
    parts = [f"SELECT ch, s_at + INTERVAL {off} SECOND AS mt, '{kind}' AS kind, {amount} AS amount_c, seq, "
             f"0 AS k, {rank} AS rk FROM o WHERE ({cond}) AND ch <> 'offline'"
             for kind, off, amount, rank, cond in _ORDER_ENTRIES]
    parts += ["SELECT ch, s_at, 'sale', sub1_c - svc1_c - tal1_c, seq, 1, 0 FROM o WHERE ch = 'douyin'",
              "SELECT ch, s_at, 'sale', sub2_c - svc2_c - tal2_c, seq, 2, 0 FROM o WHERE two"]
    parts += [f"SELECT ch, r_at + INTERVAL {off} SECOND, '{kind}', {amount}, seq, 0, {rank} FROM o "
              f"WHERE ref AND ({cond})" for kind, off, amount, rank, cond in _REFUND_ENTRIES]
    con.execute("CREATE TABLE e AS " + " UNION ALL ".join(parts))


def _bank_at(rng, at: dt.datetime, end: dt.date) -> dt.datetime:
    """``ledger._bank_day``: 0-2 days later, during the day, never before the payout plus 20 minutes."""
    day = min(at.date() + dt.timedelta(days=int(rng.integers(0, 3))), end - dt.timedelta(days=1))
    when = dt.datetime.combine(day, dt.time(0)) + dt.timedelta(seconds=DAY_OPEN + int(rng.integers(0, DAY_SPAN)))
    return max(when, at + dt.timedelta(minutes=20))


def build_payouts(con, seed: int, start: dt.date, end: dt.date, opening: dict) -> list:
    """Sweeps and JD batches from per-window sums (a loop over payout days, not rows)."""
    rng = np.random.Generator(np.random.PCG64([seed, 1]))
    days = [start.replace(day=d) for d in PAYOUT_DAYS if start.replace(day=d) < end]
    cuts = [dt.datetime.combine(d, dt.time(10)) for d in days]
    reserve = int(RESERVE * 100)
    payouts = []  # (channel, at, cents, ref, bank_at, bank, first day covered, last day covered)
    bucket = " + ".join(f"(mt >= TIMESTAMP '{c}')::INT" for c in cuts)
    sums = {(ch, b): int(s) for ch, b, s in con.execute(
        f"SELECT ch, {bucket} AS b, sum(amount_c) FROM e WHERE ch <> 'jd' GROUP BY ALL").fetchall()}
    n = 0
    for ch in CHANNELS:
        if ch == "jd":
            continue
        balance = int(opening[ch] * 100)
        for i, cut in enumerate(cuts):  # window i: the movements before cut i and after cut i-1
            balance += sums.get((ch, i), 0)
            if balance - reserve > 0:
                n += 1
                ref = ("DY" if ch == "douyin" else "WD") + f"{int(rng.integers(0, 10**6)):06d}{n:08d}"
                payouts.append((ch, cut, balance - reserve, ref, _bank_at(rng, cut, end), BANK_OF[ch], None, None))
                balance = reserve
    covered = start - dt.timedelta(days=1)
    for d in JD_BATCH_DAYS:
        if d > (end - start).days:
            continue
        day = start.replace(day=d)
        last = day - dt.timedelta(days=2)  # JD pays lines whose 预计结算时间 (next day) has passed
        (amount,) = con.execute("SELECT coalesce(sum(amount_c), 0) FROM e WHERE ch = 'jd' AND CAST(mt AS DATE) > ? "
                                "AND CAST(mt AS DATE) <= ?", [covered, last]).fetchall()[0]
        if amount <= 0:
            continue
        n += 1
        at = dt.datetime.combine(day, dt.time(9))
        ref = f"JDJS{int(rng.integers(0, 10**6)):06d}{n:08d}"
        payouts.append(("jd", at, int(amount), ref, _bank_at(rng, at, end), "icbc", covered, last))
        covered = last
    con.execute("CREATE TABLE payout (ch VARCHAR, mt TIMESTAMP, amount_c BIGINT, ref VARCHAR, bank_at TIMESTAMP, "
                "bank VARCHAR, first_excl DATE, last_incl DATE)")
    if payouts:
        con.executemany("INSERT INTO payout VALUES (?, ?, ?, ?, ?, ?, ?, ?)", payouts)
    return payouts


def build_ledger(con, opening: dict) -> None:
    """``led``: movements and sweeps in file order per channel, with the running balance."""
    cases = " ".join(f"WHEN '{ch}' THEN {int(opening[ch] * 100)}" for ch in CHANNELS)
    con.execute(f"""
CREATE TABLE led AS
WITH m AS (
  SELECT ch, mt, kind, amount_c, seq, k, rk, NULL AS pref FROM e
  UNION ALL
  SELECT ch, mt, 'payout', -amount_c, 0, 0, -1, ref FROM payout WHERE ch <> 'jd')
SELECT m.*, row_number() OVER w AS pos,
       (CASE ch {cases} ELSE 0 END) + sum(amount_c) OVER (w ROWS UNBOUNDED PRECEDING) AS balance
FROM m WINDOW w AS (PARTITION BY ch ORDER BY mt, rk, seq, k)
""")
    # JD: which batch paid each line (first batch whose cut-off covers its day)
    con.execute("""
CREATE TABLE jd_led AS
SELECT l.*, p.ref AS batch_ref, p.bank_at AS batch_bank_at
FROM led l LEFT JOIN payout p
  ON p.ch = 'jd' AND CAST(l.mt AS DATE) > p.first_excl AND CAST(l.mt AS DATE) <= p.last_incl
WHERE l.ch = 'jd'
""")
