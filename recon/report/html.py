"""OUT/report.html: the clerk's root-cause report, one self-contained file rendered from the store.

Everything comes from persistent store tables (``run``, ``line_result`` with the line tables and
``source_part`` headers, ``known_case``, ``correction_line``, ``drilldown``, ``root_cause``,
``run_file``/``source_file``/``control_proof``, ``audit_event``), never from a run's temp tables, so
``recon report --run RUN`` re-renders a past run without re-importing. Tables written by later
stages (classification, drill-down) may be empty: their sections then say so instead of failing.

The file opens offline and runs no script: charts are inline SVG (``recon.report.charts``), styles
are inline, the drill-down is native ``<details>``, and a Content-Security-Policy forbids every
fetch, so a report can be mailed or archived and shows the same thing years later. Templates live in
``reports/`` (autoescape on, StrictUndefined); a user's own folder overrides them by name and can
still extend the packaged ones as ``default/report.html.j2``.

Determinism: every query has a total ORDER BY and the only time shown is the run's own start and
finish from the store, so the same store content renders byte-identical HTML.

A "root-cause code" in the charts is the dictionary code of a known line, the pass that sent a line to
review, or the status itself for an unknown line that no rule or dictionary entry named.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import jinja2
import markupsafe

from recon.engine import ledger
from recon.engine import cny, decisions
from recon.errors import ReconError
from recon.report import charts, next_steps
from recon.report import statement as statement_view
from recon.report.drill_view import LINE_COLS, LINE_NAMES, Line, unknown_lines
from recon.labels import LABELS, say
from recon.resources import reports_dir
from recon.sql.neutralise import strip_controls

HEATMAP_RUNS = 12  # runs shown in the trend heatmap: a year of monthly closes
KNOWN_CASES_SHOWN = 10  # per code: known cases are explained already, the largest few show what the code is
# conservation.check's buckets: lines received by matching, lines out, later-dated evidence, outside the period
CONTROL_BUCKETS = ("in", "out", "later_evidence", "outside_period")

# Every ledger line with what the report shows of it (raw cells are read for the lines shown only);
# family matches line_result.family. ``ledger_line`` is recon.engine.ledger's view.
LINES = """(
    SELECT source AS family, line_id, file_id, source_name, source_line, source_sheet, order_no, line_type,
           currency, amount FROM ledger_line)"""

# One row per line of the run, materialised once per report as the temp table ``report_line`` (every
# section reads it; a ten-million-line store is joined once, not once per section). ref is
# file:line[@sheet] with the file as the run found it.
RUN_LINES = f"""
    SELECT lr.line_id, lr.family, lr.status, lr.code, lr.match_group, lr.explanation, lr.finding AS finding_cell,
           lr.channel, l.file_id,
           coalesce(rf.rel_path, l.source_name) || ':' || l.source_line || coalesce('@' || l.source_sheet, '') AS ref,
           l.source_sheet, l.order_no, l.line_type, l.currency, l.amount
    FROM line_result lr
    JOIN {LINES} l ON l.line_id = lr.line_id AND l.family = lr.family
    LEFT JOIN run_file rf ON rf.run_id = lr.run_id AND rf.file_id = l.file_id
    WHERE lr.run_id = $run"""


# The sellers' books are kept in yuan: the amount charts draw this currency's lines only (their titles
# say so), and every table gives one total per currency; a dollar is never added into yuan.
LOCAL_CURRENCY = "CNY"


@dataclass(frozen=True)
class Category:
    """A bar of a distribution chart and a row of its table: a root-cause code (status and code) or a channel."""

    key: str
    status: str | None
    name: str | None
    lines: int
    gross: Decimal  # sum of |amount| of its LOCAL_CURRENCY lines: how much money they move, whatever their sign
    net: Decimal
    by_currency: tuple = ()  # (currency, gross, net) for every currency of its lines


@dataclass
class ReportData:
    """Everything the template shows, already ordered; built by ``collect``."""

    run: dict
    manifest: dict
    statuses: list
    control_totals: list
    by_code: list
    by_channel: list
    heatmap: dict
    stop_layers: list
    unknown: dict
    known: list
    review: dict
    files: list
    unknown_gross: list = field(default_factory=list)  # (currency, sum of |amount|) of the unknown lines
    decisions: list = field(default_factory=list)  # manual decisions the run applied or found stale
    # per status: {"cny": Decimal or None, "missing": {lang: text}} at the FX file's rates; empty when the
    # run holds CNY only or its manifest predates it (recon.engine.cny)
    cny: dict = field(default_factory=dict)
    next: next_steps.NextSteps | None = None  # the top of the report: verdict, changes, what to do next
    charts: dict = field(default_factory=dict)
    statement: dict = field(default_factory=dict)  # the 余额调节表 (recon.report.statement.html_data)


def write_report(con, run_id: str, path: Path, lang: str = "zh", top: int = 50,
                 template_dir: Path | None = None, accounts=None) -> Path:
    """Render the report of ``run_id`` from the store into ``path`` (UTF-8) and return the path.

    ``top`` bounds the unknown lines and review groups shown in full; the counts always cover all of
    them and point to the workbook for the rest. ``template_dir`` is a user's folder of templates that
    override the packaged ones by name.
    """
    if lang not in LABELS:
        raise ReconError(f"--lang {lang!r} is not available: use one of {', '.join(sorted(LABELS))}")
    if top < 1:
        raise ReconError("--top must be at least 1 (the number of unknown lines shown in full)")
    data = collect(con, run_id, top, accounts)
    html = render(data, lang, template_dir)
    path = Path(path)
    path.write_text(html, encoding="utf-8", newline="\n")
    return path


def render(data: ReportData, lang: str, template_dir: Path | None = None) -> str:
    """The HTML text of ``data`` in ``lang``; the charts are drawn here because their titles are labels."""
    t = LABELS[lang]
    data.charts = {  # an amount chart says which currency it draws
        name: (charts.bar_chart(name, t[title] + (f" ({LOCAL_CURRENCY})" if money else ""), bars, money)
               if bars else "")
        for name, title, bars, money in (
            ("by-code-lines", "chart_code_lines", _bars(data.by_code, "lines", t), False),
            ("by-code-amount", "chart_code_amount", _bars(data.by_code, "gross", t), True),
            ("by-channel-lines", "chart_channel_lines", _bars(data.by_channel, "lines", t), False),
            ("by-channel-amount", "chart_channel_amount", _bars(data.by_channel, "gross", t), True),
        )}
    env = _environment(template_dir)
    env.filters["say"] = lambda cell: say(cell, lang)  # a finding cell as its sentence (autoescaped)
    return env.get_template("report.html.j2").render(d=data, t=t, lang=lang, buckets=CONTROL_BUCKETS)


def _bars(categories, attr, t) -> list:
    return [charts.Bar(c.key, _label(c.status, c.name, t), Decimal(getattr(c, attr))) for c in categories
            if attr == "lines" or any(cur == LOCAL_CURRENCY for cur, *_ in c.by_currency)]


def _label(status: str | None, name: str | None, t) -> str:
    """A code category shows a known line's code as it is, a review line's pass after its status, and an
    unknown line without a code as its status; a channel category shows the channel (or 'no channel')."""
    if status is None:
        return name if name else t["no_channel"]
    if not name:
        return t.get(f"status_{status}", status)
    return name if status == "known" else f"{t.get('status_' + status, status)} · {name}"


def _environment(template_dir: Path | None) -> jinja2.Environment:
    packaged = jinja2.FileSystemLoader(str(reports_dir()))
    loaders = [jinja2.FileSystemLoader(str(template_dir))] if template_dir else []
    loaders += [jinja2.PrefixLoader({"default": packaged}), packaged]
    env = jinja2.Environment(loader=jinja2.ChoiceLoader(loaders), autoescape=True,
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                             trim_blocks=True, lstrip_blocks=True,
                             finalize=_no_controls)
    env.filters["money"] = money
    env.filters["amounts"] = amounts
    env.filters["gross_of"] = lambda per: [(cur, gross) for cur, gross, _ in per]
    env.filters["net_of"] = lambda per: [(cur, net) for cur, _, net in per]
    env.filters["category"] = _label
    return env


def _no_controls(value):
    """Every value a template prints, with the control characters ``r_safe`` strips stripped (Markup stays Markup)."""
    if isinstance(value, str):
        cleaned = strip_controls(value)
        if cleaned is not value:
            return markupsafe.Markup(cleaned) if isinstance(value, markupsafe.Markup) else cleaned
    return value


def money(value) -> str:
    """Exact money text with thousands separators; '' for a value a ledger cannot say (NULL)."""
    if value is None or value == "":
        return ""
    return f"{Decimal(str(value)):,.2f}"


def amounts(pairs) -> str:
    """Totals per currency as one cell, ``CNY 1,234.50 · USD 21,140.00``; never one sum across currencies."""
    return " · ".join(f"{cur} {money(amount)}" if cur else money(amount) for cur, amount in pairs if amount is not None)


# ---------------------------------------------------------------- collecting from the store

def collect(con, run_id: str, top: int = 50, accounts=None) -> ReportData:
    """Read one run's report content from the store (set-based queries; Python only shapes ≤ top rows).

    ``accounts`` (a chart, default the shipped one) names the vouchers' accounts as a ledger shows
    them, ``1002 银行存款``, not by their keys."""
    from recon.report.accounts import load_accounts

    chart = accounts or load_accounts()
    rows = _all(con, "SELECT run_id, period, started_at, exit_code, manifest_json FROM run WHERE run_id = ?", [run_id])
    if not rows:
        raise ReconError(f"no run {run_id!r} in this store: `recon runs` lists the runs it holds")
    _, period, started, exit_code, manifest_json = rows[0]
    manifest = json.loads(manifest_json) if manifest_json else {}
    run = {"run_id": run_id, "period": period, "started_at": manifest.get("started_at", started.isoformat()),
           "finished_at": manifest.get("finished_at", ""), "exit_code": exit_code,
           "version": manifest.get("version", ""), "quarantined": manifest.get("quarantined_lines"),
           "failed_proofs": manifest.get("failed_proofs", []),
           "skipped_files": [s for s in manifest.get("skipped_files", []) if isinstance(s, dict)],
           "refused_files": [f"{r['path']}: {r['reason']}" for r in manifest.get("refused_files", [])],
           "unmapped_customers": [u for u in manifest.get("unmapped_customers", []) if isinstance(u, dict)]}
    p = {"run": run_id}
    ledger.ensure(con)
    con.execute(f"CREATE OR REPLACE TEMP TABLE report_line AS {RUN_LINES}", p)
    names = {k: f"{a.code} {a.name}" for k, a in chart.accounts.items()}
    try:
        data = _collect(con, run, manifest, p, top, names)
        data.next = next_steps.collect(con, run_id, period, started, manifest, exit_code)
        return data
    finally:
        con.execute("DROP TABLE IF EXISTS temp.report_line")


def _collect(con, run, manifest, p, top, account_names) -> ReportData:
    run_id = p["run"]
    return ReportData(
        run=run, manifest=manifest,
        statuses=_per_currency(_all(con, """SELECT status, currency, count(*), sum(abs(amount)), sum(amount)
            FROM report_line GROUP BY status, currency
            ORDER BY CASE status WHEN 'matched' THEN 1 WHEN 'known' THEN 2 WHEN 'review' THEN 3
            ELSE 4 END, status, currency NULLS FIRST""")),
        control_totals=_control_totals(manifest),
        by_code=_categories(con, "status", "code"),
        by_channel=_categories(con, "NULL", "channel"),
        heatmap=_heatmap(con, run_id),
        stop_layers=_per_currency(_all(con, """SELECT d.layer, l.currency, count(*), sum(l.amount)
            FROM report_line l LEFT JOIN drilldown d ON d.run_id = $run AND d.line_id = l.line_id
            WHERE l.status = 'unknown' GROUP BY d.layer, l.currency
            ORDER BY d.layer NULLS LAST, l.currency NULLS FIRST""", p)),
        unknown=unknown_lines(con, run_id, top),
        known=_known(con, run_id, top, account_names, (manifest.get("classification") or {}).get("names") or {}),
        review=_review(con, top),
        files=_files(con, run_id),
        unknown_gross=_all(con, """SELECT currency, sum(abs(amount)) FROM report_line WHERE status = 'unknown'
            GROUP BY currency ORDER BY currency NULLS FIRST"""),
        decisions=decisions.for_run(con, run_id, manifest),
        cny=_cny(manifest),
        statement=statement_view.html_data(manifest),
    )


def _cny(manifest) -> dict:
    """The manifest's CNY equivalents per status, with the missing rates said in each language."""
    by = (manifest.get("cny_equivalent") or {}).get("by_status") or {}
    return {s: {"cny": Decimal(v["cny"]) if v["cny"] is not None else None,
                "missing": {lang: cny.missing_text(v["missing"], lang) for lang in LABELS}} for s, v in by.items()}


def _per_currency(rows) -> list:
    """Rows (key, currency, n, amount…) ordered by key, as (key, n, [(currency, amount)…] per amount column)."""
    out: list = []
    for key, currency, n, *values in rows:
        if not out or out[-1][0] != key:
            out.append([key, 0] + [[] for _ in values])
        out[-1][1] += n
        for i, v in enumerate(values):
            out[-1][2 + i].append((currency, v))
    return [tuple(r) for r in out]


def _all(con, sql, params=None) -> list:
    """Run a query and fetch every row (DuckDB keeps a connection busy until a result is fully read)."""
    return con.execute(sql, params or []).fetchall()


def _control_totals(manifest) -> list:
    """Per ledger source (from the manifest): (source, [(count, [(currency, amount)…]) per CONTROL_BUCKETS])."""
    def per_currency(bucket):
        if "by_currency" not in bucket:  # a manifest of an older recon: one total, currency not recorded
            return [(None, Decimal(bucket["amount"]))]
        return sorted((cur, Decimal(a)) for cur, a in bucket["by_currency"].items())
    return [(source, [(b[k]["count"], per_currency(b[k])) if k in b else (None, []) for k in CONTROL_BUCKETS])
            for source, b in sorted(manifest.get("control_totals", {}).items())]


def _categories(con, status_sql: str, name_sql: str) -> list:
    """Lines not matched, by (status, code) or by channel: count, gross and net amount, largest count first.

    The key (``status:code`` or the channel) is what the charts' data-key attributes carry."""
    rows = _all(con, f"""WITH c AS (SELECT {status_sql} AS s, {name_sql} AS k, currency, count(*) AS n,
            sum(abs(amount)) AS gross, sum(amount) AS net
        FROM report_line WHERE status <> 'matched' GROUP BY s, k, currency)
        SELECT s, k, sum(n) AS n, coalesce(sum(gross) FILTER (WHERE currency = $local), 0),
               coalesce(sum(net) FILTER (WHERE currency = $local), 0),
               list((currency, gross, net) ORDER BY currency NULLS FIRST)
        FROM c GROUP BY s, k ORDER BY n DESC, s NULLS FIRST, k NULLS FIRST""", {"local": LOCAL_CURRENCY})
    return [Category((k or "") if s is None else f"{s}:{k or ''}", s, k, n, gross, net, tuple(tuple(c) for c in per))
            for s, k, n, gross, net, per in rows]


def _heatmap(con, run_id) -> dict:
    """Root-cause code × run for the last HEATMAP_RUNS runs up to this one, oldest first."""
    runs = _all(con, """WITH me AS (SELECT started_at AS s, run_id AS r FROM run WHERE run_id = $run)
        SELECT run_id, period, strftime(started_at, '%Y-%m-%d %H:%M') FROM run, me
        WHERE started_at < me.s OR (started_at = me.s AND run_id <= me.r)
        ORDER BY started_at DESC, run_id DESC LIMIT $n""", {"run": run_id, "n": HEATMAP_RUNS})[::-1]
    counts = _all(con, """SELECT run_id, status, coalesce(code, ''), count(*) FROM line_result
        WHERE run_id IN (SELECT unnest($ids)) AND status <> 'matched' GROUP BY ALL ORDER BY ALL""",
                  {"ids": [r[0] for r in runs]})
    grid: dict = defaultdict(dict)
    for rid, status, code, n in counts:
        grid[(status, code)][rid] = n
    peak = max((n for *_, n in counts), default=0)
    rows = [{"key": f"{status}:{code}", "status": status, "code": code,
             "cells": [_cell(grid[(status, code)].get(r[0], 0), peak) for r in runs]} for status, code in sorted(grid)]
    return {"runs": runs, "rows": rows}


def _cell(n: int, peak: int) -> dict:
    """A heatmap cell: its count and a colour strength in steps of 0.05 (so the HTML does not carry float noise)."""
    strength = 0 if not peak or not n else max(1, round(20 * n / peak)) * 5
    return {"n": n, "alpha": f"{strength / 100:.2f}", "dark": strength > 55}


def _known(con, run_id, top, account_names=None, code_names=None) -> list:
    """Known discrepancies by code: lines, cases and residual, the largest cases, and the vouchers they call for."""
    p = {"run": run_id}
    codes = _all(con, """WITH lines AS (SELECT code, sum(n) AS n, list((currency, net) ORDER BY currency NULLS FIRST)
                AS net, sum(net) FILTER (WHERE currency = $local) AS local_net
            FROM (SELECT code, currency, count(*) AS n, sum(amount) AS net FROM report_line
                  WHERE status = 'known' GROUP BY code, currency) GROUP BY code),
        cases AS (SELECT code, count(*) AS cases, sum(residual) AS residual FROM known_case WHERE run_id = $run
            GROUP BY code)
        SELECT code, coalesce(n, 0), coalesce(net, []), coalesce(cases, 0), residual
        FROM lines FULL JOIN cases USING (code) ORDER BY abs(coalesce(residual, local_net, 0)) DESC, code""",
                 {**p, "local": LOCAL_CURRENCY})
    cases = _all(con, """SELECT code, case_id, channel, residual, source_refs, explanation, blocks_close FROM (
            SELECT *, row_number() OVER (PARTITION BY code ORDER BY abs(residual) DESC, case_id) AS k
            FROM known_case WHERE run_id = $run) WHERE k <= $top ORDER BY code, k""",
                 {**p, "top": min(top, KNOWN_CASES_SHOWN)})
    # as recon.report.vouchers posts them: a voucher on one pair of accounts net, one line per account
    vouchers = _all(con, """WITH a AS (SELECT code, coalesce(channel, '') AS ch, period, account, sum(debit) AS d,
                sum(credit) AS c FROM correction_line WHERE run_id = $run GROUP BY ALL),
            v AS (SELECT *, count(*) OVER (PARTITION BY code, ch, period) = 2 AS netted FROM a)
        SELECT code, ch, period, account, CASE WHEN netted THEN greatest(d - c, 0) ELSE d END AS debit,
               CASE WHEN netted THEN greatest(c - d, 0) ELSE c END AS credit
        FROM v WHERE NOT netted OR d <> c
        ORDER BY code, ch, period, debit = 0, account""", p)
    by_code: dict = defaultdict(lambda: {"cases": [], "vouchers": defaultdict(list)})
    for code, *case in cases:
        by_code[code]["cases"].append(case)
    account_names = account_names or {}
    for code, channel, period, account, *amounts in vouchers:
        by_code[code]["vouchers"][(channel, period)].append([account_names.get(account, account), *amounts])
    out = []
    for code, lines, net, n_cases, residual in codes:
        vs = [{"channel": ch, "period": per, "lines": ls, "debit": sum(e[1] for e in ls),
               "credit": sum(e[2] for e in ls)} for (ch, per), ls in by_code[code]["vouchers"].items()]
        net = [tuple(c) for c in net]  # (currency, net): DuckDB returns an unnamed struct as a tuple
        out.append({"code": code, "names": (code_names or {}).get(code) or {}, "lines": lines, "net": net,
                    "cases": n_cases, "residual": residual,
                    "shown": by_code[code]["cases"], "vouchers": vs})
    return out


def _review(con, top) -> dict:
    """Review groups (a key with several candidates): totals and the ``top`` largest groups with their lines."""
    rows = _all(con, f"""WITH r AS (SELECT *, coalesce(match_group, CAST(line_id AS VARCHAR)) AS grp FROM report_line
            WHERE status = 'review'),
        g AS (SELECT grp, sum(abs(amount)) AS gross, dense_rank() OVER (ORDER BY sum(abs(amount)) DESC, grp) AS k
            FROM r GROUP BY grp)
        SELECT g.k, {LINE_COLS} FROM r AS l JOIN g USING (grp)
        WHERE g.k <= $top ORDER BY g.k, l.ref, l.line_id""", {"top": top})
    totals = _all(con, "SELECT count(*), count(DISTINCT coalesce(match_group, CAST(line_id AS VARCHAR))) FROM report_line "
                       "WHERE status = 'review'")[0]
    groups: dict = {}
    for k, *line in rows:
        groups.setdefault(k, []).append(Line(**dict(zip(LINE_NAMES, line))))
    return {"lines": totals[0], "groups_total": totals[1], "groups": list(groups.values())}


def _files(con, run_id) -> list:
    """The run's files with their line buckets and control proofs (a file without proofs says so)."""
    rows = _all(con, """SELECT rf.rel_path, f.formats, f.data_lines, f.loaded, f.duplicates, f.quarantined,
            p.part, p.proof, p.expected, p.actual, p.passed, p.detail
        FROM run_file rf JOIN source_file f USING (file_id)
        LEFT JOIN control_proof p USING (file_id)
        WHERE rf.run_id = $run ORDER BY rf.rel_path, rf.sha256, p.part, p.proof""", {"run": run_id})
    files: dict = {}
    for path, formats, data, loaded, dup, quar, *proof in rows:
        f = files.setdefault(path, {"path": path, "formats": ", ".join(formats), "data": data, "loaded": loaded,
                                    "duplicates": dup, "quarantined": quar, "proofs": []})
        if proof[1] is not None:
            f["proofs"].append(proof)
    return list(files.values())
