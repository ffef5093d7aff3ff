"""OUT/recon.xlsx: the workbook accountants work in, rendered from the store alone.

Sheets: 汇总 (run, sheet index with links, status and per-code totals, voucher controls, control
totals, input files), 已匹配 (capped: the full list is results.csv), 已知差异 (capped per code, totals
on 汇总), 未知 and 待复核 (always complete, continued on 未知(2)… past Excel's 1,048,576 rows),
订单基线 (the six dimensions by source), 凭证 (the adjustment vouchers' lines), 人工决定 (the manual
decisions the run applied or found stale), 未结项 (the open items: each unknown or review line open in
the run or resolved by it, its change since the period's last run, first sighting and age).

Every Excel writer manages only ~10-18k rows/s (bench figures in /work/shared/PERFORMANCE.md), so
the workbook holds what people act on and CSV holds the full detail. xlsxwriter's constant_memory
mode streams rows to disk, so memory stays flat however many unknown lines a month has. The
document's created/modified time is the period end and the zip members carry xlsxwriter's fixed
timestamp, so the same run renders the same bytes.
"""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import Decimal
from pathlib import Path

from recon import tempfiles
from recon.engine import cny, decisions
from recon.labels import SHEETS_ZH as STATUS_ZH
from recon.labels import SOURCES
from recon.report.accounts import Chart, load_accounts
from recon.labels import LABELS
from recon.report import changes
from recon.report.cells import EXCEL_MAX_ROWS, Column, Styles, sheet_names, write_cell, write_table
from recon.report.runs import period_end, require_run
from recon.report import statement as bridge
from recon.report.vouchers import build_vouchers, code_controls, generic_rows
from recon.verdict import VERDICT_ZH, Verdict

SOURCE_ZH = SOURCES["zh"]
DATA_ROWS = EXCEL_MAX_ROWS - 2  # a caption row and the header row on every sheet

LINE_COLUMNS = (
    Column("来源", "text", 9), Column("文件", "text", 30), Column("行号", "int", 7), Column("工作表", "text", 12),
    Column("渠道", "text", 10), Column("订单号", "text", 24), Column("类型", "text", 12), Column("币种", "text", 6),
    Column("金额", "money", 15, currency_col=7), Column("日期", "date", 11), Column("状态", "text", 9), Column("代码", "text", 22),
    Column("匹配组", "text", 19), Column("摘要/备注", "text", 30), Column("说明", "text", 70),
    Column("判定原因", "finding", 60),
)
DIMENSIONS = (("receivable", "应收"), ("received", "实收"), ("refund_due", "应退"), ("refunded", "实退"),
              ("commission", "平台佣金"), ("tax", "税费"))
# the baseline holds each ledger's own figures, whose currency it does not record: no symbol is claimed
BASELINE_COLUMNS = (Column("订单号", "text", 24), Column("渠道", "text", 10)) + tuple(
    Column(f"{zh}({'平台' if s == 'platform' else 'ERP'})", "amount", 14) for _, zh in DIMENSIONS
    for s in ("platform", "erp"))
VOUCHER_COLUMNS = (
    Column("凭证号", "text", 16), Column("日期", "date", 11), Column("期间", "text", 8), Column("行号", "int", 6),
    Column("科目代码", "text", 12), Column("科目名称", "text", 24), Column("借方", "money", 15, currency_col=8),
    Column("贷方", "money", 15, currency_col=8), Column("币种", "text", 6), Column("摘要", "text", 30), Column("说明", "text", 70),
    Column("差异代码", "text", 22), Column("来源行", "text", 50),
)

DECISION_COLUMNS = (
    Column("编号", "int", 6), Column("状态", "text", 12), Column("类型", "text", 10), Column("决定人", "text", 10),
    Column("时间", "text", 17), Column("理由", "text", 40), Column("行数", "int", 6), Column("来源行", "text", 50),
    Column("失效原因", "text", 50),
)
# recon.report.changes.ITEM_KEYS, in Chinese
OPEN_ITEM_COLUMNS = (
    Column("变化", "text", 16), Column("解决方式", "text", 12), Column("来源", "text", 9), Column("文件", "text", 30),
    Column("行号", "int", 7), Column("工作表", "text", 12), Column("订单号", "text", 24), Column("币种", "text", 6),
    Column("金额", "money", 15, currency_col=7), Column("本次状态", "text", 9), Column("首次发现", "date", 11),
    Column("账龄（天）", "int", 9), Column("账龄段", "text", 8),
)
DECISION_STATE_ZH = {"applied": "已应用", "stale": "已失效（未应用）"}
DECISION_KIND_ZH = {"accept": "接受差异", "match": "指定配对"}

# One row per ledger line of the run: its outcome (line_result) beside the line as imported. The file is
# named as results.csv names it (relative to the input folder); memo is the line's own 摘要/备注 text.
_FAMILY_SQL = """
SELECT {rank} AS fam_rank, lr.family, coalesce(f.rel_path, l.source_name) AS file, l.source_line,
       l.source_sheet, lr.channel, l.order_no, l.line_type, l.currency, l.amount, l.movement_date, lr.status,
       lr.code, lr.match_group, {memo} AS memo, lr.explanation, lr.finding, l.line_id
FROM line_result lr JOIN {table} l ON l.line_id = lr.line_id
LEFT JOIN run_file f ON f.run_id = lr.run_id AND f.file_id = l.file_id
WHERE lr.run_id = $r AND lr.family = '{family}'"""
LINES_SQL = "(" + " UNION ALL ".join(
    _FAMILY_SQL.format(rank=i, family=fam, table=table, memo=memo) for i, (fam, table, memo) in enumerate((
        ("platform", "platform_line", "l.raw_desc"), ("erp", "erp_line", "l.summary"),
        ("bank", "bank_line", "coalesce(l.summary, l.purpose)")), start=1)) + ")"
ORDER = "fam_rank, file, source_sheet NULLS FIRST, source_line, line_id"
OUT_COLS = ("family, file, source_line, source_sheet, channel, order_no, line_type, currency, amount, "
            "movement_date, status, code, match_group, memo, explanation, finding")


def _stream(con, sql: str, params: dict, batch: int = 10_000):
    """Rows of a query in batches, on a cursor of its own so the connection stays free."""
    cur = con.cursor()
    try:
        cur.execute(sql, params)
        while rows := cur.fetchmany(batch):
            yield from rows
    finally:
        cur.close()


def write_workbook(con, run_id: str, path: Path, matched_cap: int = 100_000, known_cap_per_code: int = 100_000,
                   accounts: Chart | None = None, sheet_rows: int = DATA_ROWS) -> Path:
    """Render the run's workbook to ``path`` from the store (no re-import); returns the path.

    ``sheet_rows`` (data rows per sheet) exists so tests can show the continuation sheets without
    writing a million rows; real workbooks use Excel's limit.
    """
    import xlsxwriter

    run = require_run(con, run_id)
    chart = accounts or load_accounts()
    vouchers = build_vouchers(con, run_id, chart)  # validated before the workbook is opened
    controls = code_controls(con, run_id, vouchers)
    p = {"r": run_id}
    # amounts are added per currency only: a dollar is never added into yuan
    by_status_currency = con.execute(
        f"SELECT status, currency, count(*), coalesce(sum(amount), 0) FROM {LINES_SQL} "
        "GROUP BY status, currency ORDER BY status, currency NULLS FIRST", p).fetchall()
    by_status = {}
    for s, cur, n, amt in by_status_currency:
        by_status.setdefault(s, (0, []))
        by_status[s] = (by_status[s][0] + n, by_status[s][1] + [(cur, n, amt)])
    by_code_currency = con.execute(
        f"SELECT code, currency, count(*), coalesce(sum(amount), 0) FROM {LINES_SQL} WHERE status = 'known' "
        "GROUP BY code, currency ORDER BY code, currency NULLS FIRST", p).fetchall()
    by_code = []
    for code, cur, n, amt in by_code_currency:
        if by_code and by_code[-1][0] == code:
            by_code[-1] = (code, by_code[-1][1] + n, by_code[-1][2] + [(cur, n, amt)])
        else:
            by_code.append((code, n, [(cur, n, amt)]))
    n_baseline = con.execute("SELECT count(*) FROM order_baseline WHERE run_id = $r", p).fetchone()[0]
    n_voucher_lines = sum(len(v.lines) for v in vouchers)
    decided = decisions.for_run(con, run_id, run["manifest"])  # a handful: who decided what, applied or stale
    n_items = con.execute(f"SELECT count(*) FROM {changes.ITEMS_SQL}", p).fetchone()[0]

    count = {s: by_status.get(s, (0, 0))[0] for s in STATUS_ZH}
    shown_matched = min(count["matched"], matched_cap)
    shown_known = sum(min(n, known_cap_per_code) for _, n, _ in by_code)
    sheets = {
        "matched": sheet_names("已匹配", shown_matched, sheet_rows),
        "known": sheet_names("已知差异", shown_known, sheet_rows),
        "unknown": sheet_names("未知", count["unknown"], sheet_rows),
        "review": sheet_names("待复核", count["review"], sheet_rows),
        "baseline": sheet_names("订单基线", n_baseline, sheet_rows),
        "vouchers": sheet_names("凭证", n_voucher_lines, sheet_rows),
        "decisions": sheet_names("人工决定", len(decided), sheet_rows),
        "statement": sheet_names(bridge.SHEET, bridge.sheet_count(run["manifest"]), sheet_rows),
        "open_items": sheet_names("未结项", n_items, sheet_rows),
    }
    captions = {
        "matched": (f"已匹配：共 {count['matched']:,} 行" + (
            f"，本表列出前 {shown_matched:,} 行；完整清单见 results.csv" if shown_matched < count["matched"]
            else "（完整）")),
        "known": f"已知差异：共 {count['known']:,} 行，每个代码最多列出 {known_cap_per_code:,} 行；各代码合计见「汇总」",
        "unknown": f"未知差异：共 {count['unknown']:,} 行（完整）",
        "review": f"待复核：共 {count['review']:,} 行（完整；候选见说明列）",
        "baseline": f"订单基线：共 {n_baseline:,} 个订单；空白 = 该账无法说明，不是零",
        "decisions": f"人工决定：本次运行应用或判为失效的 {len(decided)} 项（recon decisions 列出全部，含已撤销）",
        "vouchers": f"调整凭证：{len(vouchers)} 张，{n_voucher_lines} 行；每张凭证的全部来源行见 voucher_sources.csv",
        "statement": "余额调节表：每个渠道、币种：ERP 应收 → 平台销售总额 → 费用补贴退款后净额 → 平台提现 → 银行入账；"
                     "每步差额 = 各代码说明 + 未解释余数（未知与待复核行的合计）",
        "open_items": f"未结项：本次运行未结或本次解决的 {n_items} 项，与本期上次运行相比（新增、持续、重新打开、已解决）及账龄",
    }
    shown = {"matched": shown_matched, "known": shown_known, "unknown": count["unknown"],
             "review": count["review"], "baseline": n_baseline, "vouchers": n_voucher_lines,
             "decisions": len(decided), "statement": bridge.sheet_count(run["manifest"]), "open_items": n_items}

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # constant_memory keeps each sheet's rows in temp files: in a folder of ours, so a killed run's are cleaned
    scratch = tempfiles.scratch_dir("xlsx")
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_numbers": False,
                                         "strings_to_formulas": False, "strings_to_urls": False,
                                         "tmpdir": str(scratch)})
    try:
        wb.set_properties({"title": f"recon {run_id}", "author": "recon", "company": "",
                           "created": dt.datetime.combine(period_end(run["period"]), dt.time())})
        styles = Styles(wb)
        _summary(wb, styles, run, sheets, captions, shown, by_status, by_code, known_cap_per_code, controls, sheet_rows,
                 chart.currency)

        line_sql = f"SELECT {OUT_COLS} FROM {LINES_SQL} WHERE status = $s ORDER BY {ORDER}"
        write_table(wb, styles, sheets["matched"], LINE_COLUMNS,
                    _stream(con, line_sql + " LIMIT $cap", {**p, "s": "matched", "cap": matched_cap}),
                    shown_matched, captions["matched"], sheet_rows)
        known_sql = (f"SELECT {OUT_COLS} FROM (SELECT *, row_number() OVER (PARTITION BY code ORDER BY {ORDER}) AS rn "
                     f"FROM {LINES_SQL} WHERE status = 'known') WHERE rn <= $cap ORDER BY code, {ORDER}")
        write_table(wb, styles, sheets["known"], LINE_COLUMNS, _stream(con, known_sql, {**p, "cap": known_cap_per_code}),
                    shown_known, captions["known"], sheet_rows)
        for status in ("unknown", "review"):
            write_table(wb, styles, sheets[status], LINE_COLUMNS, _stream(con, line_sql, {**p, "s": status}),
                        count[status], captions[status], sheet_rows)
        dims = ", ".join(f"{d}_{s}" for d, _ in DIMENSIONS for s in ("platform", "erp"))
        write_table(wb, styles, sheets["baseline"], BASELINE_COLUMNS,
                    _stream(con, f"SELECT order_no, channel, {dims} FROM order_baseline WHERE run_id = $r "
                                 "ORDER BY order_no, channel NULLS FIRST", p),
                    n_baseline, captions["baseline"], sheet_rows)
        voucher_rows = ((no, dt.date.fromisoformat(d), *rest) for no, d, *rest in generic_rows(vouchers, chart))
        write_table(wb, styles, sheets["vouchers"], VOUCHER_COLUMNS, voucher_rows, n_voucher_lines,
                    captions["vouchers"], sheet_rows)
        decision_rows = ((d["decision_id"], DECISION_STATE_ZH[d["state"]], DECISION_KIND_ZH[d["kind"]], d["created_by"],
                          d["created_at"], d["reason"], d["lines"], "; ".join(d["refs"]), d["why_stale"])
                         for d in decided)
        write_table(wb, styles, sheets["decisions"], DECISION_COLUMNS, decision_rows, len(decided),
                    captions["decisions"], sheet_rows)
        write_table(wb, styles, sheets["statement"], bridge.SHEET_COLUMNS, bridge.sheet_rows(run["manifest"]),
                    shown["statement"], captions["statement"], sheet_rows)
        zh = LABELS["zh"]
        item_rows = ((f"{zh['state_' + state]} ({state})", zh["by_" + by] if by else "", SOURCE_ZH[src], *rest)
                     for state, by, src, *rest in _stream(
                         con, f"SELECT {', '.join(changes.ITEM_KEYS)} FROM {changes.ITEMS_SQL} "
                              f"ORDER BY {changes.ITEMS_ORDER}", p))
        write_table(wb, styles, sheets["open_items"], OPEN_ITEM_COLUMNS, item_rows, n_items, captions["open_items"],
                    sheet_rows)
        wb.close()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return path


class _Rows:
    """Sequential row writer for the summary sheet (constant_memory mode writes rows in order)."""

    def __init__(self, ws, styles):
        self.ws, self.styles, self.r = ws, styles, 0

    def title(self, text):
        self.ws.write_string(self.r, 0, text, self.styles.title)
        self.r += 1

    def header(self, *cells):
        for c, h in enumerate(cells):
            self.ws.write_string(self.r, c, h, self.styles.header)
        self.r += 1

    def row(self, *cells):
        """(value, kind) pairs; kind 'link:SHEET' writes an internal hyperlink."""
        for c, (value, kind) in enumerate(cells):
            if kind.startswith("link:"):
                self.ws.write_url(self.r, c, f"internal:'{kind[5:]}'!A1", self.styles.link, string=str(value))
            elif kind.startswith("money:"):  # money in the currency named after the colon
                if value is not None:
                    self.ws.write_number(self.r, c, value, self.styles.money_for(kind[6:]))
            else:
                write_cell(self.ws, self.r, c, value, kind, self.styles)
        self.r += 1

    def gap(self):
        self.r += 1


def _summary(wb, styles, run, sheets, captions, shown, by_status, by_code, known_cap, controls, per_sheet,
             local: str) -> None:
    """The 汇总 sheet; ``local`` is the vouchers' currency (the chart's), in which case controls are kept."""
    m = run["manifest"]
    ws = wb.add_worksheet("汇总")
    for c, width in enumerate((24, 16, 18, 16, 16, 16, 16, 16, 16, 16, 12)):
        ws.set_column(c, c, width)
    out = _Rows(ws, styles)
    out.title("对账汇总")
    verdict = Verdict.from_manifest(m, run["exit_code"])  # first, as on the console and in the report
    out.row(("结论", "text"), (f"{VERDICT_ZH[verdict.state]} ({verdict.state})", "text"))
    for sentence in verdict.sentences("zh"):
        out.row(("", "text"), (sentence, "text"))
    for label, value, kind in (("运行", run["run_id"], "text"), ("期间", run["period"], "text"),
                               ("开始时间", run["started_at"], "text"), ("退出码", run["exit_code"], "int"),
                               ("版本", f"recon {m.get('version', '')}", "text")):
        out.row((label, "text"), (value, kind))
    out.gap()
    out.header("工作表", "本表行数", "说明")
    for key, names in sheets.items():
        for k, name in enumerate(names):
            rows_here = min(per_sheet, shown[key] - k * per_sheet)
            out.row((name, f"link:{name}"), (rows_here, "int"), (captions[key] if k == 0 else "续表", "text"))
    out.gap()
    # with another currency in the run: one CNY figure per status at the FX file's rates, labelled,
    # or the rates it lacks (recon.engine.cny); the per-currency rows stay as they are
    eq = m.get("cny_equivalent") or {}
    out.header("状态", "币种", "行数", "金额", *((eq["label"]["zh"], "缺少的汇率") if eq else ()))
    for s, zh in STATUS_ZH.items():
        n, per_currency = by_status.get(s, (0, []))
        for k, (cur, n_cur, amount) in enumerate(per_currency or [("CNY", 0, Decimal("0"))]):
            cells = [(f"{zh} ({s})" if k == 0 else "", "text"), (cur, "text"), (n_cur, "int"),
                     (amount, f"money:{cur}")]
            if eq and k == 0:
                st = eq["by_status"].get(s) or {"cny": "0", "missing": []}
                cells += [(Decimal(st["cny"]) if st["cny"] is not None else None, "money:CNY"),
                          (cny.missing_text(st["missing"]) or None, "text")]
            out.row(*cells)
    if eq:
        out.row((f"{eq['label']['zh']}：CNY 行按原额；其他币种按 FX 文件中当日汇率（每币种每日合计折算，保留两位）；"
                 "缺少汇率时不折算，列出缺少的币种和日期", "text"))
    out.gap()
    out.header("已知差异代码", "币种", "行数", "金额", "本簿列出行数", "个案", "需调整个案", "需调整个案|残差|合计",
               "凭证张数", "凭证金额", "凭证应为（轧差后）", "凭证=残差")
    ctl = {c["code"]: c for c in controls}
    for code, n, per_currency in by_code:
        c = ctl.get(code, {})
        for k, (cur, n_cur, amount) in enumerate(per_currency):
            first = k == 0  # the case and voucher controls are per code, in the voucher currency
            out.row((code if first else "", f"link:{sheets['known'][0]}" if first else "text"), (cur, "text"),
                    (n_cur, "int"), (amount, f"money:{cur}"), (min(n, known_cap) if first else None, "int"),
                    (c.get("cases") if first else None, "int"),
                    (c.get("corrected_cases") if first else None, "int"),
                    (c.get("residual_abs_corrected") if first else None, f"money:{local}"),
                    (c.get("vouchers") if first else None, "int"),
                    (c.get("voucher_total") if first else None, f"money:{local}"),
                    (c.get("due") if first else None, f"money:{local}"),
                    (("是" if c.get("agrees") else ("否" if c else "—")) if first else None, "text"))
    out.gap()
    out.header("控制总数", "币种", "输入行", "输入金额", "输出行", "输出金额", "期后证据行", "期后证据金额", "期外行",
               "期外金额")
    buckets = ("in", "out", "later_evidence", "outside_period")
    for src, t in sorted((m.get("control_totals") or {}).items()):
        # line counts are per source; amounts per currency, one row each (never added across currencies)
        currencies = sorted({cur for b in buckets for cur in ((t.get(b) or {}).get("by_currency") or {})}) or [None]
        for k, cur in enumerate(currencies):
            cells = [(SOURCE_ZH.get(src, src) if k == 0 else "", "text"), (cur, "text")]
            for bucket in buckets:
                b = t.get(bucket) or {}
                amount = (b.get("by_currency") or {}).get(cur)
                cells += [(b.get("count") if k == 0 else None, "int"),
                          (Decimal(amount) if amount is not None else None, f"money:{cur}")]
            out.row(*cells)
    out.gap()
    out.header("输入文件", "格式", "编码", "数据行", "载入", "重复", "隔离", "控制校验", "SHA-256")
    for f in m.get("inputs") or []:
        lines = f.get("lines") or {}
        out.row((f.get("path"), "text"), (", ".join(f.get("formats") or []), "text"), (f.get("encoding"), "text"),
                (lines.get("data"), "int"), (lines.get("loaded"), "int"), (lines.get("duplicate"), "int"),
                (lines.get("quarantined"), "int"), ("通过" if f.get("proofs_passed") else "未通过", "text"),
                (f.get("sha256"), "text"))
