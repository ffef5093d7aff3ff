"""Adjustment vouchers: the correction of every known discrepancy, as journal entries an ERP imports.

Source: the store's ``correction_line`` (one balanced set of lines per known case, written by the
classification) and ``known_case`` (the case's residual and the source lines it explains). One
voucher per (period, dictionary code, channel).

A voucher whose cases all move money between the same two accounts (every shipped correction is
such a pair: FEE_PERIOD_MISMATCH accrues 平台服务费 against 应付平台费用) is posted net: one debit and
one credit for the period's balance. An accountant never debits and credits one account in one
voucher; a fee the platform charged (accrued) and one it returned (the accrual reversed) are one
net accrual, and the explanation names the gross each way. A voucher whose cases touch more
accounts keeps its lines summed by account and side. The relation the tests and the workbook
check, for each dictionary code:

    Σ voucher total (debits = credits) over the code's vouchers
        = Σ over its vouchers of |Σ ±|residual||   (netted: each case's residual signed by the
                                                    direction its correction moves the pair)
        = Σ |known_case.residual| over its corrected cases, when no voucher mixes directions,

because a correction moves the case's residual from where it sits to where it belongs, once.
Cases whose entry has no correction (no money moved, a mangled id to download again) appear in
the per-code controls with no voucher; a voucher whose cases cancel exactly posts nothing.

Numbers are kept by the store (``recon.engine.voucher_numbers``): a voucher keeps its number across
runs for as long as its (period, code, channel) exists, a new one gets the period's next free number,
and a first run numbers its vouchers in (period, code, channel) order from the chart's prefix,
``RC202601-0001``; the date is the period end. A prior-period adjustment (new evidence about a closed
period) is its own voucher, in the run's period, citing the closed run. Every line carries exactly one
non-zero amount, both positive (a negative debit is posted as the credit it means), and every
voucher balances; a violation is a bug upstream and stops the export (exit 3) before any file is
written.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from recon.engine import voucher_numbers
from recon.engine.steps import runner
from recon.errors import EXIT_INTERNAL, ReconError
from recon.report.accounts import Chart, load_accounts
from recon.report.cells import neutralise
from recon.report.results import NEUTRALISE_MACRO, _copy_with_bom
from recon.report.runs import period_end, require_run

GENERIC_COLUMNS = ("voucher_no", "date", "period", "line_no", "account_code", "account_name", "debit", "credit",
                   "currency", "summary", "explanation", "dictionary_code", "source_refs")
KINGDEE_COLUMNS = ("日期", "凭证字", "凭证号", "附单据数", "摘要", "科目代码", "科目名称", "借方金额", "贷方金额", "币别",
                   "汇率", "数量", "单价", "制单人", "审核人", "过账人")
# U8's optional fields after 金额贷方 (quantity, currency, auxiliaries…) are omitted, as its import allows; its
# 制单人 is the user who imports, so the chart's preparer goes only into the Kingdee layout.
U8_COLUMNS = ("制单日期", "凭证类别字", "业务号", "附单据数", "摘要", "科目编码", "金额借方", "金额贷方")
FORMATS = ("generic", "kingdee", "u8")
# How many source lines a voucher's explanation and source_refs cite before "… 共 N 行"; the complete
# list is always in voucher_sources.csv (one row per source line).
CITE_IN_EXPLANATION = 10
CITE_IN_REFS = 50
SUMMARY_BYTES = 60  # U8's 摘要 is 60 (GBK bytes); Kingdee's is no shorter


class VoucherError(ReconError):
    """Correction lines that cannot form a valid voucher: a bug in the classification, not user input."""

    exit_code = EXIT_INTERNAL


@dataclass(frozen=True)
class VoucherLine:
    line_no: int
    account: str  # the chart key
    account_code: str
    account_name: str
    debit: Decimal
    credit: Decimal


@dataclass(frozen=True)
class Voucher:
    """One journal entry: header fields, balanced lines, and what it corrects (code, cases, source lines)."""

    number: str
    seq: int
    word: str
    date: dt.date
    period: str
    code: str
    channel: str | None
    summary: str
    explanation: str
    basis: str
    cases: int
    residual_abs: Decimal
    source_count: int
    source_refs: tuple
    lines: tuple
    adjusts: str | None = None  # the closed period a prior-period adjustment corrects (None: ordinary)
    closed_runs: str | None = None  # the closed run(s) it cites

    @property
    def total(self) -> Decimal:
        return sum((ln.debit for ln in self.lines), Decimal("0"))

    @property
    def refs_cell(self) -> str:
        more = self.source_count - len(self.source_refs)
        return ";".join(self.source_refs) + (f";… 共 {self.source_count} 行，见 voucher_sources.csv" if more else "")


def _fit_bytes(text: str, limit: int) -> str:
    """Text cut so its GB18030 encoding fits ``limit`` bytes (the width ERPs give 摘要)."""
    while len(text.encode("gb18030")) > limit:
        text = text[:-2] + "…"
    return text


def _check_lines(con, run_id: str, chart: Chart) -> None:
    """Everything that must hold before a voucher is built: known accounts, sane and balanced cases."""
    used = {acc: [f"run {run_id} codes {codes}"] for acc, codes in con.execute(
        "SELECT account, string_agg(DISTINCT code, ', ' ORDER BY code) FROM correction_line WHERE run_id = $r "
        "GROUP BY account ORDER BY account", {"r": run_id}).fetchall()}
    chart.check(used)
    bad = con.execute(
        "SELECT case_id, line_no FROM correction_line WHERE run_id = $r AND debit <> 0 AND credit <> 0 "
        "ORDER BY case_id, line_no LIMIT 5", {"r": run_id}).fetchall()
    if bad:
        raise VoucherError(f"run {run_id}: correction lines with both a debit and a credit: {bad}")
    unbalanced = con.execute(
        "SELECT case_id, sum(debit), sum(credit) FROM correction_line WHERE run_id = $r GROUP BY case_id "
        "HAVING sum(debit) <> sum(credit) ORDER BY case_id LIMIT 5", {"r": run_id}).fetchall()
    if unbalanced:
        raise VoucherError(f"run {run_id}: corrections that do not balance (case, debit, credit): {unbalanced}")
    orphans = con.execute(
        "SELECT DISTINCT c.case_id FROM correction_line c ANTI JOIN known_case k "
        "ON k.run_id = c.run_id AND k.case_id = c.case_id WHERE c.run_id = $r ORDER BY 1 LIMIT 5",
        {"r": run_id}).fetchall()
    if orphans:
        raise VoucherError(f"run {run_id}: corrections without a known_case row: {[o[0] for o in orphans]}")


# Vouchers of a run: (period, code, channel, adjusts) keys with the number the store keeps for each
# (``recon.engine.voucher_numbers``), the cases behind each. A voucher whose cases all move money between
# the same two accounts is ``netted`` (one debit, one credit: the period's balance); one that nets to
# nothing (its cases cancel exactly) is no voucher and gets no number.
_KEYS_SQL = f"""
CREATE OR REPLACE TEMP TABLE voucher_case AS
WITH {voucher_numbers.KEYS_CTES}
SELECT n.seq, k.netted, k.first_account, l.case_id FROM live l
JOIN vkeys k ON {voucher_numbers.SAME_KEY.format(a='k', b='l')}
JOIN voucher_number n ON {voucher_numbers.SAME_KEY.format(a='n', b='k')}
"""

_HEADS_SQL = """
WITH refs AS (
    SELECT v.seq, ref, regexp_extract(ref, '^(.*):([0-9]+)(@.*)?$', 1) AS ref_file,
           TRY_CAST(regexp_extract(ref, '^(.*):([0-9]+)(@.*)?$', 2) AS BIGINT) AS ref_line
    FROM voucher_case v JOIN known_case k ON k.run_id = $r AND k.case_id = v.case_id, unnest(k.source_refs) AS t(ref)
), cited AS (
    SELECT seq, count(*) AS n, list(ref ORDER BY ref_file, ref_line, ref)[1:$cite] AS first_refs
    FROM refs GROUP BY seq
), cases AS (
    SELECT v.seq, count(*) AS cases, sum(abs(k.residual)) AS residual_abs
    FROM voucher_case v JOIN known_case k ON k.run_id = $r AND k.case_id = v.case_id GROUP BY v.seq
), head AS (
    SELECT v.seq, any_value(c.period) AS period, any_value(c.code) AS code, any_value(c.channel) AS channel,
           string_agg(DISTINCT c.basis, '；' ORDER BY c.basis) AS basis
    FROM voucher_case v JOIN correction_line c ON c.run_id = $r AND c.case_id = v.case_id GROUP BY v.seq
), prior AS (
    SELECT v.seq, any_value(p.adjusts) AS adjusts, string_agg(DISTINCT p.closed_run_id, '、' ORDER BY p.closed_run_id)
           AS closed_runs
    FROM voucher_case v JOIN prior_period_case p ON p.run_id = $r AND p.case_id = v.case_id GROUP BY v.seq
)
SELECT h.seq, h.period, h.code, h.channel, h.basis, s.cases, s.residual_abs, coalesce(ci.n, 0), ci.first_refs,
       pr.adjusts, pr.closed_runs
FROM head h JOIN cases s USING (seq) LEFT JOIN cited ci USING (seq) LEFT JOIN prior pr USING (seq) ORDER BY h.seq
"""

# Lines summed by account and side (a netted voucher: by account, on the side of its balance); debits
# first, then by account key, for a stable line order.
_LINES_SQL = """
SELECT seq, account, is_debit, amount FROM (
    SELECT v.seq, c.account, (c.debit - c.credit) > 0 AS is_debit, sum(abs(c.debit - c.credit)) AS amount
    FROM voucher_case v JOIN correction_line c ON c.run_id = $r AND c.case_id = v.case_id
    WHERE c.debit <> c.credit AND NOT v.netted
    GROUP BY ALL
    UNION ALL
    SELECT v.seq, c.account, sum(c.debit - c.credit) > 0, abs(sum(c.debit - c.credit))
    FROM voucher_case v JOIN correction_line c ON c.run_id = $r AND c.case_id = v.case_id
    WHERE v.netted
    GROUP BY v.seq, c.account HAVING sum(c.debit - c.credit) <> 0)
ORDER BY seq, is_debit DESC, account
"""

# What a netted voucher's cases move onto its first account (by key) and off it: the gross its
# explanation names beside the net it posts.
_GROSS_SQL = """
WITH per_case AS (
    SELECT v.seq, c.case_id, sum(c.debit - c.credit) FILTER (WHERE c.account = v.first_account) AS d
    FROM voucher_case v JOIN correction_line c ON c.run_id = $r AND c.case_id = v.case_id
    WHERE v.netted AND c.debit <> c.credit GROUP BY v.seq, c.case_id)
SELECT seq, count(*) FILTER (WHERE d > 0), coalesce(sum(d) FILTER (WHERE d > 0), 0),
       count(*) FILTER (WHERE d < 0), coalesce(-sum(d) FILTER (WHERE d < 0), 0)
FROM per_case GROUP BY seq ORDER BY seq
"""


def build_vouchers(con, run_id: str, accounts: Chart | None = None) -> list[Voucher]:
    """The run's vouchers, validated (accounts, sides, balance) before anything is written."""
    chart = accounts or load_accounts()
    require_run(con, run_id)
    _check_lines(con, run_id, chart)
    runner(con).run(voucher_numbers.numbering_steps(run_id))
    missing = voucher_numbers.unnumbered(con)
    if missing:
        raise ReconError(f"run {run_id} has vouchers without a number ({_keys_text(missing)}): it was recorded before "
                         "recon kept voucher numbers, and its period has been closed since, which fixed the "
                         "period's numbers; export the closed run's vouchers (`recon close --list` names it)")
    con.execute(_KEYS_SQL)
    heads = con.execute(_HEADS_SQL, {"r": run_id, "cite": CITE_IN_REFS}).fetchall()
    lines: dict = {}
    for seq, account, is_debit, amount in con.execute(_LINES_SQL, {"r": run_id}).fetchall():
        lines.setdefault(seq, []).append((account, is_debit, amount))
    gross = {seq: rest for seq, *rest in con.execute(_GROSS_SQL, {"r": run_id}).fetchall()}
    out = []
    for seq, period, code, channel, basis, cases, residual_abs, n_refs, first_refs, adjusts, closed_runs in heads:
        number = f"{chart.number_prefix}{period.replace('-', '')}-{seq:04d}"
        vlines = tuple(
            VoucherLine(i, acc, chart.accounts[acc].code, chart.accounts[acc].name,
                        amount if is_debit else Decimal("0.00"), Decimal("0.00") if is_debit else amount)
            for i, (acc, is_debit, amount) in enumerate(lines.get(seq, []), start=1))
        refs = tuple(first_refs or ())
        explanation = _explain(code, channel, period, cases, vlines, basis, refs, n_refs)
        if seq in gross:
            explanation += _netting(vlines, *gross[seq])
        summary = f"对账调整 {code} {channel or '-'}"
        if adjusts:  # new evidence about a closed period, posted in this one and citing the closed run
            summary = f"以前期间调整 {adjusts} {code} {channel or '-'}"
            explanation = (f"以前期间调整：更正已结账期间 {adjusts}（结账运行 {closed_runs}），在本期 {period} 入账；"
                           + explanation)
        voucher = Voucher(
            number=number, seq=seq, word=chart.word, date=period_end(period), period=period, code=code,
            channel=channel, summary=_fit_bytes(summary, SUMMARY_BYTES),
            explanation=explanation,
            basis=basis or "", cases=cases, residual_abs=residual_abs, source_count=n_refs, source_refs=refs,
            lines=vlines, adjusts=adjusts, closed_runs=closed_runs)
        _assert_balanced(voucher)
        out.append(voucher)
    return out


def _keys_text(keys) -> str:
    return "; ".join(f"{p} {c} {ch or '-'}" + (f" adjusting {a}" if a else "") for p, c, ch, a in keys[:5])


def _explain(code, channel, period, cases, vlines, basis, refs, n_refs) -> str:
    total = sum((ln.debit for ln in vlines), Decimal("0"))
    cited = "、".join(refs[:CITE_IN_EXPLANATION]) or "（未记录来源行）"
    more = f" 等共 {n_refs} 行（完整列表见 voucher_sources.csv）" if n_refs > CITE_IN_EXPLANATION else ""
    return (f"差异代码 {code}，渠道 {channel or '-'}，期间 {period}：{cases} 个已知差异，调整金额 {total}；"
            f"依据：{basis or '（词典未注明依据）'}；更正来源行：{cited}{more}")


def _netting(vlines, n_onto, onto, n_off, off) -> str:
    """What a netted voucher's cases moved each way, so the gross behind its one net entry stays visible.

    ``onto``/``off``: the amount its cases moved onto and off the pair's first account (by key). Only
    said when the cases went both ways (otherwise the net is the gross)."""
    if not (n_onto and n_off):
        return ""
    dr, cr = (next(ln for ln in vlines if ln.debit), next(ln for ln in vlines if ln.credit))
    first_is_debit = (dr.account < cr.account)
    fwd, n_fwd, back, n_back = (onto, n_onto, off, n_off) if first_is_debit else (off, n_off, onto, n_onto)
    return (f"；按科目轧差：{n_fwd} 个差异 借 {dr.account_code} {dr.account_name} 贷 {cr.account_code} "
            f"{cr.account_name} 共 {fwd}，{n_back} 个差异反向（冲回）共 {back}，净额 {fwd - back} 入账")


def _assert_balanced(v: Voucher) -> None:
    """Each line exactly one positive amount; debits = credits; at least two lines."""
    debit = sum((ln.debit for ln in v.lines), Decimal("0"))
    credit = sum((ln.credit for ln in v.lines), Decimal("0"))
    sides_ok = all((ln.debit > 0) != (ln.credit > 0) and min(ln.debit, ln.credit) == 0 for ln in v.lines)
    if not (sides_ok and debit == credit and len(v.lines) >= 2):
        raise VoucherError(f"voucher {v.number} ({v.code}, {v.channel}) does not balance or has a line with "
                           f"both or no amounts: debit {debit}, credit {credit}, {len(v.lines)} lines")


# What each code's vouchers must total, from the cases alone: a voucher summed by side moves
# Σ|residual| of its cases; a netted one (two accounts) moves |Σ ±|residual||, each case's residual
# signed by the direction its correction moves money between the pair.
_CONTROL_SQL = """
WITH cl AS (SELECT * FROM run_correction),
corrected AS (SELECT DISTINCT case_id FROM cl WHERE debit <> credit),
acc AS (SELECT period, code, channel, adjusts, account FROM cl WHERE debit <> credit GROUP BY ALL),
shape AS (SELECT period, code, channel, adjusts, count(*) = 2 AS netted, min(account) AS first_account
          FROM acc GROUP BY ALL),
per_case AS (
    SELECT c.period, c.code, c.channel, c.adjusts, c.case_id, s.netted,
           sign(sum(c.debit - c.credit) FILTER (WHERE c.account = s.first_account)) AS direction
    FROM cl c JOIN shape s
      ON s.period = c.period AND s.code = c.code AND s.channel IS NOT DISTINCT FROM c.channel
     AND s.adjusts IS NOT DISTINCT FROM c.adjusts
    WHERE c.debit <> c.credit GROUP BY ALL),
due AS (
    SELECT p.code, bool_or(p.netted) AS netted,
           CASE WHEN bool_or(p.netted) THEN abs(sum(coalesce(p.direction, 0) * abs(k.residual)))
                ELSE sum(abs(k.residual)) END AS due
    FROM per_case p JOIN known_case k ON k.run_id = $r AND k.case_id = p.case_id
    GROUP BY p.code, p.period, p.channel, p.adjusts),
due_code AS (SELECT code, bool_or(netted) AS netted, sum(due) AS due FROM due GROUP BY code)
SELECT k.code, count(*) AS cases,
       count(*) FILTER (WHERE c.case_id IS NOT NULL) AS corrected,
       coalesce(sum(abs(k.residual)) FILTER (WHERE c.case_id IS NOT NULL), 0) AS residual_abs,
       sum(k.residual) AS residual, coalesce(any_value(d.due), 0), coalesce(any_value(d.netted), false)
FROM known_case k LEFT JOIN corrected c USING (case_id) LEFT JOIN due_code d USING (code)
WHERE k.run_id = $r GROUP BY k.code ORDER BY k.code
"""


def code_controls(con, run_id: str, vouchers: list[Voucher]) -> list[dict]:
    """Per dictionary code: cases, Σ|residual| of the corrected cases, what the vouchers must total
    (``due``: that Σ, or for netted vouchers the net of the cases' residuals), the vouchers' total,
    and whether they agree."""
    runner(con).run(voucher_numbers.corrections_step(run_id))
    rows = con.execute(_CONTROL_SQL, {"r": run_id}).fetchall()
    totals: dict = {}
    for v in vouchers:
        t = totals.setdefault(v.code, [0, Decimal("0")])
        t[0] += 1
        t[1] += v.total
    out = []
    for code, cases, corrected, residual_abs, residual, due, netted in rows:
        n, total = totals.get(code, (0, Decimal("0")))
        out.append({"code": code, "cases": cases, "corrected_cases": corrected, "residual": residual,
                    "residual_abs_corrected": residual_abs, "netted": netted, "due": due,
                    "vouchers": n, "voucher_total": total, "agrees": due == total})
    return out


# ---------------------------------------------------------------- writers

def generic_rows(vouchers: list[Voucher], chart: Chart):
    """Rows of the generic layout (formats notes §10), raw values; writers neutralise text."""
    for v in vouchers:
        for ln in v.lines:
            yield (v.number, v.date.isoformat(), v.period, ln.line_no, ln.account_code, ln.account_name,
                   ln.debit, ln.credit, chart.currency, v.summary, v.explanation, v.code, v.refs_cell)


def _csv_bytes(header, rows) -> str:
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(header)
    for row in rows:
        w.writerow([str(x) if isinstance(x, (Decimal, int)) else neutralise(x) for x in row])
    return buf.getvalue()


def _u8_rows(vouchers: list[Voucher]):
    """U8 总账工具 凭证引入: [制单日期+凭证类别字+业务号] names a voucher; its lines are consecutive."""
    for v in vouchers:
        for ln in v.lines:
            yield (v.date.isoformat(), v.word, v.number, v.source_count, v.summary, ln.account_code,
                   f"{ln.debit:.2f}", f"{ln.credit:.2f}")


def kingdee_summary(v: Voucher) -> str:
    """The Kingdee 摘要: recon's voucher number, then the summary, within the 摘要's width."""
    return _fit_bytes(f"{v.number} {v.summary}", SUMMARY_BYTES)


def _write_kingdee(vouchers: list[Voucher], chart: Chart, path: Path, created: dt.datetime) -> None:
    """Kingdee KIS 引入凭证 workbook: one row per entry line, header fields repeated, xlsx as the guides advise."""
    import xlsxwriter

    from recon.report.cells import Styles, write_cell

    wb = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False, "strings_to_formulas": False,
                                         "strings_to_urls": False})
    wb.set_properties({"created": created, "author": "recon", "company": ""})
    styles = Styles(wb)
    ws = wb.add_worksheet("凭证")
    kinds = ("date", "text", "int", "int", "text", "text", "text", "money", "money", "text", "int", "int", "int",
             "text", "text", "text")
    for c, h in enumerate(KINGDEE_COLUMNS):
        ws.write_string(0, c, h)
        ws.set_column(c, c, 14 if c != 4 else 36)
    r = 1
    for v in vouchers:
        for ln in v.lines:
            # KIS numbers vouchers with integers and has no reference column: recon's number leads the
            # 摘要 (what the ledger shows), so an auditor gets from the posted entry to voucher_sources.csv
            row = (v.date, v.word, v.seq, v.source_count, kingdee_summary(v), ln.account_code, ln.account_name,
                   ln.debit, ln.credit, chart.kingdee_currency, 1, 0, 0, chart.preparer, None, None)
            for c, (value, kind) in enumerate(zip(row, kinds)):
                write_cell(ws, r, c, value, kind, styles, money_style=styles.plain_number)
            r += 1
    wb.close()


def _replace(tmp: Path, final: Path) -> Path:
    os.replace(tmp, final)
    return final


def write_vouchers(con, run_id: str, out_dir: Path, fmt: str = "generic", accounts: Chart | None = None) -> list[Path]:
    """Write OUT/vouchers.csv (generic), OUT/voucher_sources.csv and OUT/decision_sources.csv, plus the
    Kingdee or U8 file for ``fmt``.

    Everything is validated and built first; each file is written to a temporary name and renamed,
    so a failure never leaves a half-written voucher file.
    """
    if fmt not in FORMATS:
        raise ReconError(f"--voucher-format {fmt!r}: choose one of {', '.join(FORMATS)}")
    chart = accounts or load_accounts()
    vouchers = build_vouchers(con, run_id, chart)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    staged: list[tuple[Path, Path]] = []
    try:
        tmp = out_dir / ".vouchers.csv.tmp"
        tmp.write_bytes(b"\xef\xbb\xbf" + _csv_bytes(GENERIC_COLUMNS, generic_rows(vouchers, chart)).encode("utf-8"))
        staged.append((tmp, out_dir / "vouchers.csv"))
        tmp = out_dir / ".voucher_sources.csv.tmp"
        _write_sources(con, run_id, chart, tmp)
        staged.append((tmp, out_dir / "voucher_sources.csv"))
        tmp = out_dir / ".decision_sources.csv.tmp"
        _write_decision_sources(con, run_id, tmp)
        staged.append((tmp, out_dir / "decision_sources.csv"))
        if fmt == "u8":
            # U8 reads ANSI text on Chinese Windows: GB18030 (GBK-identical for every GBK character), CRLF.
            tmp = out_dir / ".vouchers_u8.csv.tmp"
            tmp.write_bytes(_csv_bytes(U8_COLUMNS, _u8_rows(vouchers)).encode("gb18030"))
            staged.append((tmp, out_dir / "vouchers_u8.csv"))
        elif fmt == "kingdee":
            tmp = out_dir / ".vouchers_kingdee.xlsx.tmp"
            created = dt.datetime.combine(period_end(require_run(con, run_id)["period"]), dt.time())
            _write_kingdee(vouchers, chart, tmp, created)
            staged.append((tmp, out_dir / "vouchers_kingdee.xlsx"))
        return [_replace(t, f) for t, f in staged]
    finally:
        for t, _ in staged:
            if t.exists():
                t.unlink()


def _write_sources(con, run_id: str, chart: Chart, path: Path) -> None:
    """voucher_sources.csv: every source line each voucher corrects, one row each, with its case."""
    con.execute(NEUTRALISE_MACRO)
    select = (
        "SELECT $prefix || replace(k.period, '-', '') || '-' || lpad(CAST(v.seq AS VARCHAR), 4, '0') AS voucher_no, "
        "r_safe(k.code) AS dictionary_code, r_safe(k.case_id) AS case_id, r_safe(ref) AS source_ref, "
        "k.residual, r_safe(k.explanation) AS case_explanation "
        "FROM voucher_case v JOIN known_case k ON k.run_id = $r AND k.case_id = v.case_id, "
        "unnest(k.source_refs) AS t(ref) "
        "ORDER BY v.seq, k.case_id, regexp_extract(ref, '^(.*):([0-9]+)(@.*)?$', 1), "
        "TRY_CAST(regexp_extract(ref, '^(.*):([0-9]+)(@.*)?$', 2) AS BIGINT), ref")
    _copy_with_bom(con, select, path, {"r": run_id, "prefix": chart.number_prefix})


# The lines a run settled by a manual decision (status matched, code decision:<id>): no voucher corrects
# them, so the auditor's view of the vouchers lists them beside voucher_sources.csv with who decided,
# when and why. The file is named as results.csv names it (relative to the input folder).
DECISION_SOURCE_COLUMNS = ("decision_id", "decision_kind", "decided_by", "decided_at", "reason", "source",
                           "source_ref", "currency", "amount", "match_group")
_DECISION_SOURCES_SQL = """
SELECT d.decision_id, CASE d.kind WHEN 'accept' THEN '接受差异' ELSE '指定配对' END AS decision_kind,
       r_safe(d.created_by) AS decided_by, strftime(d.created_at, '%Y-%m-%d %H:%M:%S') AS decided_at,
       r_safe(d.reason) AS reason, lr.family AS source,
       r_safe(coalesce(rf.rel_path, l.source_name) || ':' || CAST(l.source_line AS VARCHAR)
              || coalesce('@' || l.source_sheet, '')) AS source_ref,
       l.currency, l.amount, lr.match_group
FROM line_result lr
JOIN decision d ON lr.code = 'decision:' || CAST(d.decision_id AS VARCHAR)
JOIN ledger_line l ON l.line_id = lr.line_id AND l.source = lr.family
LEFT JOIN run_file rf ON rf.run_id = lr.run_id AND rf.file_id = l.file_id
WHERE lr.run_id = $r AND starts_with(lr.code, 'decision:')
ORDER BY d.decision_id, coalesce(rf.rel_path, l.source_name), l.source_sheet NULLS FIRST, l.source_line, l.line_id
"""


def _write_decision_sources(con, run_id: str, path: Path) -> None:
    """decision_sources.csv: every line the run settled by a manual decision, with the decision's
    id, kind, who, when and why (header only when the run applied none)."""
    from recon.engine import ledger

    ledger.ensure(con)
    con.execute(NEUTRALISE_MACRO)
    _copy_with_bom(con, _DECISION_SOURCES_SQL, path, {"r": run_id})
