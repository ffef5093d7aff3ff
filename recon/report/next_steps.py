"""The top of report.html: the verdict, what changed since the last run, and what to do next (issue 12 point 9).

A clerk opening the report first needs to know whether the month can close and, if not, where to
start: the verdict with its reasons (``recon.verdict``, as the run recorded it in its manifest), the
change against the last finished run of the same period, the items that block the close, and the
largest unknown lines, each with its finding and the command that explains it.

Reads the store only (``run``, ``line_result``, ``known_case``, ``drilldown``) and the temp table
``report_line`` that ``recon.report.html.collect`` builds; every query is set-based with a total
ORDER BY, and Python shapes at most ``SHOWN`` rows per list.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal

from recon.report import changes
from recon.verdict import Verdict

SHOWN = 10  # blocking items and largest unknowns listed at the top; the sections below have all
STATUSES = ("matched", "known", "review", "unknown")


@dataclass(frozen=True)
class Unknown:
    """One of the largest unknown lines, with the command that shows why it is unknown."""

    ref: str
    source: str
    channel: str | None
    order_no: str | None
    currency: str | None
    amount: Decimal
    explanation: str | None
    finding: str | None
    finding_en: str | None
    command: str


@dataclass(frozen=True)
class NextSteps:
    """The verdict, the change since the last run of the period (None: the first run), blocking cases, top unknowns."""

    verdict: Verdict
    changes: dict | None = None
    blocking: tuple = ()
    blocking_total: int = 0
    unknown: tuple = field(default_factory=tuple)
    open_items: dict | None = None  # recon.report.changes.for_run: new, persisting, resolved, reopened and ages


def collect(con, run_id: str, period: str, started, manifest: dict, exit_code: int | None) -> NextSteps:
    """What the top of the report shows for ``run_id`` (``report_line`` must hold its lines)."""
    return NextSteps(Verdict.from_manifest(manifest, exit_code), _changes(con, run_id, period, started),
                     *_blocking(con, run_id), _unknown(con, run_id), changes.for_run(con, run_id, SHOWN))


def _changes(con, run_id, period, started) -> dict | None:
    """Against the last finished run of the same period before this one: lines per status then and now,
    lines unknown now that were not unknown then (new lines included), and lines unknown or in review
    then that are matched or known now."""
    prev = con.execute("""SELECT run_id FROM run WHERE period = $period AND exit_code IS DISTINCT FROM 130
            AND (started_at < $started OR (started_at = $started AND run_id < $run))
            ORDER BY started_at DESC, run_id DESC LIMIT 1""",
                       {"period": period, "started": started, "run": run_id}).fetchone()
    if prev is None:
        return None
    p = {"run": run_id, "prev": prev[0]}
    counts = {s: [0, 0] for s in STATUSES}
    for rid, status, n in con.execute("""SELECT run_id, status, count(*) FROM line_result
            WHERE run_id IN ($run, $prev) GROUP BY ALL ORDER BY ALL""", p).fetchall():
        counts.setdefault(status, [0, 0])[0 if rid == prev[0] else 1] = n
    newly, resolved = con.execute("""SELECT
            count(*) FILTER (WHERE c.status = 'unknown' AND p.status IS DISTINCT FROM 'unknown'),
            count(*) FILTER (WHERE p.status IN ('unknown', 'review') AND c.status IN ('matched', 'known'))
        FROM (SELECT family, line_id, status FROM line_result WHERE run_id = $run) c
        LEFT JOIN (SELECT family, line_id, status FROM line_result WHERE run_id = $prev) p USING (family, line_id)""",
                                  p).fetchone()
    return {"previous_run": prev[0],
            "statuses": [(s, then, now, now - then) for s, (then, now) in counts.items()],
            "newly_unknown": newly, "resolved": resolved}


def _blocking(con, run_id) -> tuple:
    """The cases whose dictionary code blocks the close, largest residual first, and how many there are."""
    p = {"run": run_id}
    total = con.execute("SELECT count(*) FROM known_case WHERE run_id = $run AND blocks_close", p).fetchone()[0]
    rows = con.execute("""SELECT code, case_id, channel, residual, source_refs, explanation FROM known_case
            WHERE run_id = $run AND blocks_close ORDER BY abs(residual) DESC NULLS LAST, code, case_id LIMIT $n""",
                       {**p, "n": SHOWN}).fetchall()
    return tuple(tuple(r) for r in rows), total


def _unknown(con, run_id) -> tuple:
    """The SHOWN largest unknown lines by |amount| with their drill-down finding."""
    rows = con.execute("""SELECT l.ref, l.family, l.channel, l.order_no, l.currency, l.amount, l.explanation,
               d.finding, d.detail_json
        FROM report_line l LEFT JOIN drilldown d ON d.run_id = $run AND d.line_id = l.line_id
        WHERE l.status = 'unknown' ORDER BY abs(l.amount) DESC, l.ref, l.line_id LIMIT $n""",
                       {"run": run_id, "n": SHOWN}).fetchall()
    out = []
    for ref, source, channel, order_no, currency, amount, explanation, finding, detail_json in rows:
        try:
            detail = json.loads(detail_json) if detail_json else {}
        except ValueError:
            detail = {}
        en = detail.get("finding_en") if isinstance(detail, dict) else None
        out.append(Unknown(ref, source, channel, order_no, currency, amount, explanation, finding, en,
                           _command(run_id, order_no, amount)))
    return tuple(out)


def _command(run_id: str, order_no: str | None, amount) -> str:
    """`recon explain ORDER --run RUN`; a line without an order number: `recon locate AMOUNT --run RUN`."""
    if order_no:
        return f"recon explain {_shell_word(order_no)} --run {run_id}"
    return f"recon locate {amount} --run {run_id}"


def _shell_word(text: str) -> str:
    """The order number as one shell word (an order number is input text: quote it unless plainly safe)."""
    if text and all(c.isalnum() or c in "-_.:/" for c in text):
        return text
    return "'" + text.replace("'", "'\"'\"'") + "'"
