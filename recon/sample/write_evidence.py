"""Evidence files: the platforms' after-sale audit log and the month's FX 中间价.

The audit log is what a clerk exports from the platforms' 售后 back offices, one row per status
change. Every marketplace refund goes 退款申请中 -> 退款中 -> 退款成功; a refund planted as
REFUND_IN_REVIEW gets a later 人工复核 event that moves it to 二审中, so the platform's settlement
shows it refunded while the refund is in fact still being reviewed. A refund that never reached the
platform (``on_platform`` False: the ERP-side REFUND_IN_REVIEW) goes from 退款中 straight to 二审中.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from recon.sample.fmt import amt, ts, write_lines
from recon.sample.model import Month

AUDIT_HEADER = "平台,订单号,售后单号,事件时间,事件,原状态,新状态,操作人,备注"
PLATFORM_NAMES = {"tmall": "天猫", "jd": "京东", "douyin": "抖音小店", "pdd": "拼多多"}


def write_audit(month: Month, root: Path, rel: str) -> Path:
    events = []
    for o in month.orders:
        if o.channel not in PLATFORM_NAMES:
            continue
        name = PLATFORM_NAMES[o.channel]
        for r in o.refunds:
            steps = [(r.at - dt.timedelta(hours=3), "买家申请退款", "", "退款申请中", "买家", f"申请金额{amt(r.amount)}"),
                     (r.at - dt.timedelta(hours=1), "商家同意退款", "退款申请中", "退款中", "客服-小林", ""),
                     (r.at, "退款成功", "退款中", "退款成功", "系统", f"退款金额{amt(r.amount)}")]
            if not r.on_platform:  # the ERP booked it; the platform sent it to review before any money moved
                steps[2:] = [(r.at, "人工复核", "退款中", "二审中", "风控-二审", "售后凭证待核实，转人工复核")]
            if r.in_review:
                steps.append((r.at + dt.timedelta(hours=20), "人工复核", "退款成功", "二审中", "风控-二审",
                              "退款金额与售后凭证不符，转人工复核"))
            events += [(at, name, o.order_no, r.refund_no, *rest) for at, *rest in steps]
    events.sort(key=lambda e: (e[0], e[2]))
    lines = [AUDIT_HEADER] + [",".join([name, order, refund, ts(at), *rest])
                              for at, name, order, refund, *rest in events]
    return write_lines(root / rel, lines, "utf-8", bom=True)


def write_fx(month: Month, root: Path, rel: str) -> Path:
    lines = ["日期,币种,中间价,单位"] + [f"{day:%Y-%m-%d},{cur},{rate:.4f},{unit}" for day, cur, rate, unit in month.fx]
    return write_lines(root / rel, lines, "utf-8")
