"""The reconciliation statement (余额调节表) as the reports show it: CSV, a workbook sheet, the HTML section.

The statement is built and proven by ``recon.engine.statement`` during the run and kept in the run's
manifest (``statement``), so ``recon report --run`` renders the same figures from the store. All three
renderers read the same flat rows (``recon.engine.statement.flat_rows``): they agree by construction.
Amounts stay strings of exact cents until the writer needs them; text cells (channel, code: from the
input files and the dictionary) are neutralised like every other CSV cell.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path

from recon.engine.statement import NAMES, STEPS, flat_rows
from recon.report.cells import Column, neutralise

CSV_NAME = "reconciliation_statement.csv"
CSV_COLUMNS = ("period", "channel", "currency", "step_no", "step", "row", "status", "code", "lines", "amount")
SHEET = "余额调节表"
ROW_ZH = {"balance": "余额", "gap": "差额", "code": "代码说明", "remainder": "未解释余数"}
STATUS_ZH = {"matched": "已匹配", "known": "已知差异"}
SHEET_COLUMNS = (
    Column("期间", "text", 8), Column("渠道", "text", 12), Column("币种", "text", 6), Column("步骤", "int", 5),
    Column("项目", "text", 22), Column("行类别", "text", 10), Column("状态", "text", 9), Column("代码", "text", 28),
    Column("行数", "int", 8), Column("金额", "money", 16, currency_col=2),
)


def statement_of(manifest: dict) -> dict:
    """The manifest's statement (an empty one for a run recorded before statements existed)."""
    return manifest.get("statement") or {"period": manifest.get("period", ""), "steps": list(STEPS), "rows": []}


def summary(manifest: dict) -> dict:
    """The statement in brief, for `recon run --json`: whether it foots, how many channel/currency bridges
    it holds, and every step whose unexplained remainder is not nil (its lines and signed amount). The
    whole statement stays in manifest.json and reconciliation_statement.csv."""
    s = statement_of(manifest)
    unexplained = [{"channel": b["channel"], "currency": b["currency"], "step_no": st["step_no"], "step": st["step"],
                    "lines": st["remainder"]["lines"], "amount": st["remainder"]["amount"]}
                   for b in s["rows"] for st in b["steps"]
                   if "remainder" in st and (st["remainder"]["lines"] or Decimal(st["remainder"]["amount"]))]
    return {"period": s["period"], "foots": s.get("foots"), "bridges": len(s["rows"]), "unexplained": unexplained}


def write_csv(manifest: dict, out_dir: Path) -> Path:
    """OUT/reconciliation_statement.csv: UTF-8 with BOM, CRLF, one row per balance, gap, code and remainder."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(CSV_COLUMNS)
    for row in flat_rows(statement_of(manifest)):
        w.writerow(["" if v is None else (neutralise(v) if isinstance(v, str) and i not in (9,) else v)
                    for i, v in enumerate(row)])
    path = Path(out_dir) / CSV_NAME
    path.write_bytes(b"\xef\xbb\xbf" + buf.getvalue().encode("utf-8"))
    return path


def sheet_rows(manifest: dict):
    """The workbook sheet's rows: the CSV's, with Chinese names for steps, row kinds and statuses."""
    for period, ch, cur, no, step, kind, status, code, lines, amount in flat_rows(statement_of(manifest)):
        yield (period, ch if ch is not None else "（无渠道）", cur, no, NAMES["zh"][no - 1], ROW_ZH[kind],
               STATUS_ZH.get(status, status), code, lines, Decimal(amount))


def sheet_count(manifest: dict) -> int:
    return sum(1 for _ in flat_rows(statement_of(manifest)))


LABELS = {
    "zh": {"title": "余额调节表", "channel": "渠道", "currency": "币种", "step": "步骤", "balance": "余额",
           "gap": "差额", "codes": "说明差额的代码（行数：金额）", "remainder": "未解释余数（未知与待复核行）",
           "no_channel": "（无渠道）", "empty": "本次运行没有余额调节表（运行早于此功能）",
           "note": "每个渠道、币种：ERP 应收 → 平台销售总额 → 费用补贴退款后净额 → 平台提现 → 银行入账。"
                   "每步差额 = 各代码说明之和 + 未解释余数；余数是该步未知与待复核行的合计，不是轧差数。"
                   "不同币种从不相加。完整数据见 reconciliation_statement.csv。",
           "steps": NAMES["zh"]},
    "en": {"title": "Reconciliation statement", "channel": "channel", "currency": "currency", "step": "step",
           "balance": "balance", "gap": "gap", "codes": "codes explaining the gap (lines: amount)",
           "remainder": "unexplained remainder (unknown and review lines)", "no_channel": "(no channel)",
           "empty": "this run has no reconciliation statement (recorded before the feature)",
           "note": "Per channel and currency: ERP receivable → platform gross → after fees, subsidies and refunds → "
                   "payouts → bank credits. Each gap = the codes' amounts + the unexplained remainder, the sum of "
                   "the step's unknown and review lines, never a balancing figure. Currencies are never added. "
                   "reconciliation_statement.csv has every figure.",
           "steps": NAMES["en"]},
}


def html_data(manifest: dict) -> dict:
    """What the report's statement section shows: the statement's rows and the labels in each language."""
    return {"rows": statement_of(manifest).get("rows", []), "labels": LABELS}
