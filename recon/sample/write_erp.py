"""The ERP's receivables: a Kingdee-style 应收单 list export (XLSX) and one channel's CSV copy.

Columns are exactly ``COLUMNS``; dates are date cells, amounts numbers, the 平台订单号 a text
cell (one planted row holds Excel's scientific-notation rendering of a long id). A clerk who
exports one customer's list to CSV gets UTF-8 with a BOM and the same documents.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from recon.sample.books import ArDoc
from recon.sample.fmt import amt, write_lines, write_xlsx
from recon.sample.model import Month

COLUMNS = ["单据编号", "业务日期", "单据类型", "客户", "币别", "汇率", "价税合计", "税额", "本位币价税合计",
           "已核销金额", "未核销金额", "单据状态", "平台订单号", "摘要"]


def _rate(d: ArDoc) -> Decimal:
    return d.rate if d.rate != 1 else Decimal("1")


def write_ar_xlsx(month: Month, docs: list[ArDoc], root: Path, rel: str) -> Path:
    rows: list[list] = [COLUMNS]
    for d in docs:
        rows.append([d.bill_no, d.date, d.doc_type, d.customer, d.currency, _rate(d), d.amount, d.tax,
                     d.amount_local, d.settled, d.open_amount, "已审核", d.order_col or None, d.summary])
    return write_xlsx(root / rel, [("应收单", rows)], month.export_at(), {0: 16, 12: 22, 13: 40})


def write_ar_csv(month: Month, docs: list[ArDoc], customer: str, root: Path, rel: str) -> Path:
    lines = [",".join(COLUMNS)]
    for d in docs:
        if d.customer != customer:
            continue
        lines.append(",".join([d.bill_no, f"{d.date:%Y-%m-%d}", d.doc_type, d.customer, d.currency,
                               str(_rate(d)), amt(d.amount), amt(d.tax), amt(d.amount_local),
                               amt(d.settled), amt(d.open_amount), "已审核", d.order_col, d.summary]))
    return write_lines(root / rel, lines, "utf-8", bom=True)
