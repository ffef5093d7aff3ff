"""Deterministic sample data: one seller's month across every channel, bank and the ERP.

``generate(out_dir)`` writes the files a finance clerk would download (platform bills, the ERP's
receivable list, bank statements, evidence) in their real layouts (the formats notes, ``shared/formats.md``),
plus ``.planted.json``: the discrepancies planted on purpose, which the engine should find. The
same arguments always give byte-identical files.

Not here: importing (``recon.io``) or matching (``recon.engine``); this package only writes.
"""

from __future__ import annotations

import json
from pathlib import Path

from recon.sample import write_alipay, write_bank, write_erp, write_evidence, write_marketplaces, write_wechat
from recon.sample.books import build_docs
from recon.sample.month import build_month


def file_map(month) -> dict:
    """Planted-item file keys -> paths relative to the output folder."""
    ym = f"{month.start:%Y%m}"
    pid, tpid, mch = month.accounts["alipay_pid"], month.accounts["tmall_pid"], month.accounts["wechat_mchid"]
    return {
        "alipay_trade": f"platform/alipay/{pid}_{ym}.csv.zip",
        "alipay_fund": f"platform/alipay/{pid}_{ym}_账务明细.csv",
        "tmall": f"platform/tmall/{tpid}_{ym}_账务明细_天猫.csv",
        "wechat_trade": f"platform/wechatpay/{mch}_ALL_{ym}.csv",
        "wechat_fund": f"platform/wechatpay/{mch}_BASIC_{ym}_资金账单.csv",
        "jd": f"platform/jd/京东对账单_{ym}.xlsx",
        "douyin": f"platform/douyin/动账明细_{ym}.csv",
        "pdd": f"platform/pdd/店铺账务明细_{ym}.csv",
        "erp": f"erp/金蝶应收单_{ym}.xlsx",
        "erp_csv": f"erp/应收单_微信商城_{ym}.csv",
        "cmb": f"bank/招商银行交易明细_{ym}.xlsx",
        "icbc": f"bank/工商银行历史明细_{ym}.csv",
        "mt940": f"bank/BOC_MT940_{ym}.sta",
        "camt": f"bank/camt053_USD_{ym}.xml",
        "audit": f"evidence/售后审核日志_{ym}.csv",
        "fx": f"evidence/汇率中间价_{ym}.csv",
    }


def generate(out_dir: Path, orders: int = 300, seed: int = 20260131, period: str = "2026-01",
             scale: bool | None = None) -> list[Path]:
    """Write the sample month into ``out_dir``; return the written paths (``.planted.json`` last).

    From ``scale.SCALE_THRESHOLD`` orders on (or with ``scale=True``) the vectorised scale generator
    writes a clean month in the CSV-family layouts instead (``recon.sample.scale``): building one
    Python object per order would not reach the 1M/10M benchmark. ``scale=False`` forces this one.

    Example:
        >>> generate(Path("sample_data"))  # doctest: +SKIP
    """
    from recon.sample import scale as scale_mode

    if scale or (scale is None and orders >= scale_mode.SCALE_THRESHOLD):
        return scale_mode.generate(out_dir, orders, seed, period)
    out_dir = Path(out_dir)
    month = build_month(orders, seed, period)
    files = file_map(month)
    usd = {d: rate for d, cur, rate, _ in month.fx if cur == "USD"}
    docs = build_docs(month.rng, month, usd)
    written = [
        write_alipay.write_trade_zip(month, out_dir, files["alipay_trade"]),
        write_alipay.write_fund(month, out_dir, files["alipay_fund"]),
        write_alipay.write_tmall(month, out_dir, files["tmall"]),
        write_wechat.write_trade_bill(month, out_dir, files["wechat_trade"]),
        write_wechat.write_fund_bill(month, out_dir, files["wechat_fund"]),
        write_marketplaces.write_jd(month, out_dir, files["jd"]),
        write_marketplaces.write_douyin(month, out_dir, files["douyin"]),
        write_marketplaces.write_pdd(month, out_dir, files["pdd"]),
        write_erp.write_ar_xlsx(month, docs, out_dir, files["erp"]),
        write_erp.write_ar_csv(month, docs, "微信商城", out_dir, files["erp_csv"]),
        write_bank.write_cmb(month, out_dir, files["cmb"]),
        write_bank.write_icbc(month, out_dir, files["icbc"]),
        write_bank.write_mt940(month, out_dir, files["mt940"]),
        write_bank.write_camt(month, out_dir, files["camt"]),
        write_evidence.write_audit(month, out_dir, files["audit"]),
        write_evidence.write_fx(month, out_dir, files["fx"]),
    ]
    truth = {
        "period": period, "seed": seed, "orders": len(month.orders),
        "codes": sorted({p.code for p in month.planted}),
        "items": [p.as_dict(files) for p in month.planted],
    }
    planted = out_dir / ".planted.json"
    planted.write_text(json.dumps(truth, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return written + [planted]

