"""The sample month at scale (100k-10M orders): vectorised draws, DuckDB-built lines, streamed files.

``generate`` (``recon.sample.generate`` calls it above ``SCALE_THRESHOLD`` orders, or when asked)
writes the same kind of month as the small generator, in the same layouts, but never builds a
Python object per order: the draws are numpy columns (``scale_draw``), the ids, balance movements,
sweeps and documents are DuckDB tables (``scale_ledger``), and every file is one query streamed in
chunks (``scale_pay``, ``scale_books``). Same (orders, seed, period) => byte-identical files.

What differs from the small month, and why:
- the month is clean: no planted discrepancy (``.planted.json`` lists none), so a run matches it;
- the CSV family replaces formats that cannot hold a month at scale: Alipay's 业务明细 is the zip's
  detail member as a plain CSV, JD's 对账单 and the ERP's 应收单 list are CSV exports of the same
  sheets (an XLSX sheet holds 1,048,576 rows);
- the bank statements (CMB XLSX, ICBC CSV, MT940, CAMT.053 XML) and the FX file keep their small
  writers and realistic sizes: a month has a few dozen payouts whatever the order count;
- no offline USD order, so the CAMT statement has no entries (opening = closing).
"""

from __future__ import annotations

import datetime as dt
import json
import random
import tempfile
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import duckdb

from recon.sample import scale_books, scale_pay, write_bank, write_evidence
from recon.sample.fmt import cn_ts
from recon.sample.ledger import PAYERS, fx_fixings
from recon.sample.model import BankTxn, period_bounds
from recon.sample.month import ACCOUNTS, OPENING
from recon.sample.scale_draw import draw
from recon.sample.scale_ledger import build_entries, build_ledger, build_payouts, load_orders

SCALE_THRESHOLD = 100_000


@dataclass
class ScaleMonth:
    """What the writers need to know about the month besides the tables (the small ``Month``'s shape)."""

    period: str
    start: dt.date
    end: dt.date
    seed: int
    accounts: dict
    opening: dict
    appid: str = ""
    bank: list = field(default_factory=list)
    fx: list = field(default_factory=list)

    @property
    def last_day(self) -> dt.date:
        return self.end - dt.timedelta(days=1)

    def export_at(self) -> dt.datetime:
        return dt.datetime.combine(self.end, dt.time(9, 30, 0))

    @property
    def export_cn(self) -> str:
        return cn_ts(self.export_at())


def file_map(month: ScaleMonth) -> dict:
    """The small generator's file names, with the three a month at scale writes as CSV instead.

    Alipay's 业务明细 is the zip's plain CSV member; JD's 对账单 and the ERP 应收单 list are CSV
    exports of the same sheets (a month at scale passes Excel's 1,048,576-row limit).
    """
    from recon.sample import file_map as small_files

    ym = f"{month.start:%Y%m}"
    files = small_files(month)
    del files["erp_csv"]  # the WeChat-shop AR export is not written at scale
    files.update({
        "alipay_trade": f"platform/alipay/{month.accounts['alipay_pid']}_{ym}_业务明细.csv",
        "jd": f"platform/jd/京东对账单_{ym}.csv",
        "erp": f"erp/金蝶应收单_{ym}.csv",
    })
    return files


def _bank_txns(payouts: list) -> list:
    out = []
    for ch, _at, amount_c, ref, bank_at, bank, *_ in payouts:
        name, account, summary = PAYERS[ch]
        out.append(BankTxn(bank, bank_at, Decimal(amount_c).scaleb(-2), name, account, summary, "", ref, ch))
    return sorted(out, key=lambda t: (t.bank, t.at, t.customer_ref))


def generate(out_dir: Path, orders: int, seed: int = 20260131, period: str = "2026-01",
             threads: int | None = None) -> list[Path]:
    """Write the scale month into ``out_dir``; return the written paths (``.planted.json`` last).

    The tables live in a throwaway DuckDB file in the system temp folder (a 10M-order month does not
    fit comfortably in memory on the 2-core benchmark machine); ``threads`` caps DuckDB's threads.
    """
    out_dir = Path(out_dir)
    start, end = period_bounds(period)
    opening = {k: Decimal(v) for k, v in OPENING.items()}
    rnd = random.Random(seed)
    month = ScaleMonth(period, start, end, seed, dict(ACCOUNTS), opening,
                       appid="wx" + "".join(rnd.choice("0123456789abcdef") for _ in range(16)),
                       fx=fx_fixings(rnd, start, end))
    files = file_map(month)
    with tempfile.TemporaryDirectory(prefix="recon-scale-") as tmp:
        con = duckdb.connect(str(Path(tmp) / "scale.duckdb"))
        con.execute("SET enable_progress_bar = false")  # DuckDB would draw it on our stdout
        try:
            if threads:
                con.execute(f"SET threads = {int(threads)}")
            load_orders(con, draw(orders, seed, start, end), start)
            build_entries(con)
            payouts = build_payouts(con, seed, start, end, opening)
            build_ledger(con, opening)
            month.bank = _bank_txns(payouts)
            written = [
                scale_pay.alipay_trade(con, month, out_dir, files["alipay_trade"]),
                scale_pay.alipay_fund(con, month, out_dir, files["alipay_fund"]),
                scale_pay.tmall(con, month, out_dir, files["tmall"]),
                scale_pay.wechat_trade(con, month, out_dir, files["wechat_trade"]),
                scale_pay.wechat_fund(con, month, out_dir, files["wechat_fund"]),
                scale_books.jd(con, month, out_dir, files["jd"]),
                scale_books.douyin(con, month, out_dir, files["douyin"]),
                scale_books.pdd(con, month, out_dir, files["pdd"]),
                scale_books.erp(con, month, out_dir, files["erp"]),
                write_bank.write_cmb(month, out_dir, files["cmb"]),
                write_bank.write_icbc(month, out_dir, files["icbc"]),
                write_bank.write_mt940(month, out_dir, files["mt940"]),
                write_bank.write_camt(month, out_dir, files["camt"]),
                scale_books.audit(con, month, out_dir, files["audit"]),
                write_evidence.write_fx(month, out_dir, files["fx"]),
            ]
        finally:
            con.close()
    truth = {"period": period, "seed": seed, "orders": orders, "scale": True, "codes": [], "items": []}
    planted = out_dir / ".planted.json"
    planted.write_text(json.dumps(truth, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return written + [planted]
