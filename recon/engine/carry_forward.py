"""Timing carry-forward: the lines a period leaves open because their counterpart is expected next period.

Why: a receivable booked on the 31st is settled by the platform on the 2nd; a refund paid on the 30th gets
its credit note on the 3rd; a payout leaves the platform on the 31st and reaches the bank on the 1st. At
period end these lines are open (``unknown``/``review``) or explained as a timing difference (``known``
with a dictionary entry marked ``timing: true``: SETTLEMENT_CUTOFF, REFUND_PERIOD_TIMING,
FEE_PERIOD_MISMATCH). Their counterpart arrives in the next period's files, and only there can they be
cleared: a period's run reconciles its own lines and takes later lines only as evidence, it never takes a
line dated before its period.

**The carried set** (this module, built): for period P, the lines of the *source run*, the last finished run
of P-1 that recorded open items (``open_items.previous_run``; closed or not: a closed P-1's closing run is
its last), whose outcome there was ``unknown``/``review``, or ``known`` with a timing code, that are dated before P
(a line of P the source run held as evidence, a next-month settlement cited by a SETTLEMENT_CUTOFF case,
is P's own line, never carried: so the carried set and P's own lines cannot overlap) and that are still
live (a newer version of the document replaced none of them). Joined on the integer line ids of
``line_result``; each keeps its status, code and finding in P-1, its open-item identity and first sighting
(``open_item_state``: ``first_seen``/``age_days`` as the open items count them), and its due date: its
channel's ``settlement_lag_days`` (rules/channels.yaml) after the end of the line's own month (a line open at
period end has the lag into the next period to be met: a JD fee of the 11th whose ERP document comes with next
month's invoice is due 7 days into P, not on the 18th; a line of P-2 that P-1 did not clear either keeps its due
date in P-2's lag, it does not get a new one); a line without a channel has no lag. ``recon carried --period P`` lists it before P's run, with the lines overdue as of
``--as-of``; the source run's own results are read, never changed, so a run of P-1 alone is unchanged.

**How P's run uses it** (``recon.api.reconcile`` with ``carry``; ``prepare`` and ``outcome_steps``):

- universe (``match.universe_steps``): the carried lines join P's universe (``taken`` also takes
  ``line_id IN carried_line``; ``ensure`` leaves it empty for the engine run alone) with ``carried_from = P-1`` and ``in_period`` true, so the same passes take them
  together with P's own lines (a P-1 ERP receivable meets its P settlement in the order pass; a payout meets its
  bank credit in the cash pass). A line is either P's own (dated in P) or carried (dated before P): the two sets
  cannot overlap, so nothing is counted twice.
- classification: a carried line is never classified again (``cases`` leaves ``carried_from`` lines out of
  ``c_open``): its timing entry's voucher was posted in P-1 (FEE_PERIOD_MISMATCH accrues the fee,
  REFUND_PERIOD_TIMING the credit note; SETTLEMENT_CUTOFF posts none), and the counterpart that arrives in P
  (the fee document, the credit note) clears that accrual in the ERP's own books; classifying the line again
  would accrue the same fee twice. So a carried line posts no voucher in P, cleared or not.
- outcome: after classification and before the drill-down (which builds ``run_line``), a table of amended
  rows (``outcome.amend``) prefixes each carried line's finding: ``CARRIED_CLEARED`` (matched or known in P),
  ``CARRIED_OPEN`` (not yet, still before its due date as of the run's ``--as-of``) or ``CARRIED_NOT_CLEARED``
  (past it: the aged exception, status ``unknown``, with its open-item age since its first sighting in P-1).
- conservation: the control totals count carried lines in their own buckets (``carried_in`` = ``carried_out``),
  never in ``in``; the statement of P then includes the carried amounts in its steps.
- every other reconciliation of P must carry the same set: the prior-period shadow of a closed P
  (``recon.engine.prior_period``) and ``recon backtest`` replay P's run, so the run records its source run and
  they read it (``manifest.json`` ``carried``: the source run and the as-of date), or the lines P's settlements
  met would turn up as spurious differences.
- a closed P-1 is never changed: new evidence dated in P-1 is still a prior-period adjustment; carried lines
  are P-1 lines that P's run decides as P's work.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from recon.engine import ledger, open_items, outcome
from recon.engine.findings import finding, then
from recon.engine.steps import Runner, Step
from recon.report.results import _write
from recon.sql.bind import in_list

COLUMNS = ("source", "source_file", "source_line", "source_sheet", "channel", "order_no", "currency", "amount",
           "movement_date", "status", "code", "finding", "first_seen", "age_days", "due_by", "overdue", "days_overdue")


def prior_period(period: str) -> str:
    """The period before ``period`` (both ``YYYY-MM``)."""
    year, month = int(period[:4]), int(period[5:7])
    return f"{year - 1}-12" if month == 1 else f"{year}-{month - 1:02d}"


def period_after(period: str) -> str:
    """The period after ``period``."""
    year, month = int(period[:4]), int(period[5:7])
    return f"{year + 1}-01" if month == 12 else f"{year}-{month + 1:02d}"


def source_run(con, period: str) -> str | None:
    """The run whose open lines ``period`` carries: the last finished run of the period before it."""
    found = open_items.previous_run(con, prior_period(period))
    return found[0] if found else None


def steps(run_id: str, carried_from: str, timing_codes, lags: dict, as_of: dt.date) -> list[Step]:
    """Temp table ``carried_line``: the source run's lines carried into the next period (``COLUMNS``,
    plus ``line_id``, ``family``, ``item_id`` and ``carried_from``).

    ``timing_codes``: the dictionary's timing codes (``Dictionary.timing_codes``); ``lags``: channel code ->
    settlement lag in days. Every value is bound; the codes and lags are parameters, never SQL text.
    """
    nxt = period_after(carried_from)
    p = {"r": run_id, "from": carried_from, "as_of": as_of,
         "end": dt.date(int(nxt[:4]), int(nxt[5:7]), 1) - dt.timedelta(days=1)}  # the last day of carried_from
    codes = in_list("tc", sorted(timing_codes), p)
    lag_rows = " UNION ALL ".join(f"SELECT $ch{i} AS channel, CAST($lag{i} AS INTEGER) AS lag"
                                  for i in range(len(lags))) or "SELECT NULL AS channel, NULL AS lag WHERE false"
    for i, (ch, lag) in enumerate(sorted(lags.items())):
        p[f"ch{i}"], p[f"lag{i}"] = ch, int(lag)
    return [ledger.view(), Step("carry_forward.lines", f"""CREATE OR REPLACE TEMP TABLE carried_line AS
        WITH lags AS ({lag_rows}),
        src AS (SELECT family, line_id, status, code, channel, finding FROM line_result
                WHERE run_id = $r AND (status IN ('unknown', 'review') OR (status = 'known' AND code IN ({codes})))),
        lines AS (SELECT l.source, l.line_id, l.file_id, l.source_name, l.source_line, l.source_sheet, l.order_no,
                         l.currency, l.amount, l.movement_date
                  FROM ledger_line l SEMI JOIN src USING (line_id)
                  -- a line dated in P or later is P's own (the source run held it as evidence): never carried
                  WHERE l.superseded_by IS NULL AND l.movement_date <= CAST($end AS DATE)),
        due AS (SELECT l.*, s.family, s.status, s.code, s.channel, s.finding,
                       -- from the end of the line's own month: a line carried on again keeps its due date
                       CAST(last_day(l.movement_date) + coalesce(g.lag, 0) * INTERVAL 1 DAY AS DATE) AS due_by
                FROM lines l JOIN src s ON s.line_id = l.line_id AND s.family = l.source
                LEFT JOIN lags g ON g.channel = s.channel)
        SELECT d.source, coalesce(f.rel_path, d.source_name) AS source_file, d.source_line, d.source_sheet,
               d.channel, d.order_no, d.currency, d.amount, d.movement_date, d.status, d.code, d.finding,
               o.first_seen, CASE WHEN o.first_seen IS NOT NULL
                                  THEN greatest(date_diff('day', o.first_seen, $as_of), 0) END AS age_days,
               d.due_by, $as_of > d.due_by AS overdue, greatest(date_diff('day', d.due_by, $as_of), 0) AS days_overdue,
               d.line_id, d.family, o.item_id, $from AS carried_from
        FROM due d
        LEFT JOIN open_item_state o ON o.run_id = $r AND o.line_id = d.line_id AND o.state <> 'resolved'
        LEFT JOIN run_file f ON f.run_id = $r AND f.file_id = d.file_id""", p, "carried_line")]


def carried(con, period: str, timing_codes, lags: dict, as_of: dt.date) -> dict:
    """``recon carried``: what the run of ``period`` carries in from the period before it, with a summary.

    Returns {period, carried_from, source_run, as_of, summary, lines}; no source run: nothing carried.
    """
    frm = prior_period(period)
    run_id = source_run(con, period)
    out = {"period": period, "carried_from": frm, "source_run": run_id, "as_of": as_of.isoformat(),
           "timing_codes": sorted(timing_codes), "summary": [], "lines": []}
    if run_id is None:
        return out
    r = Runner(con)
    r.run(steps(run_id, frm, timing_codes, lags, as_of))
    out["summary"] = [dict(zip(("status", "code", "currency", "lines", "amount", "overdue"), row)) for row in r.fetch(
        Step("carry_forward.summary", """SELECT status, code, currency, count(*), sum(amount),
            count(*) FILTER (WHERE overdue) FROM carried_line GROUP BY ALL ORDER BY ALL"""))]
    out["lines"] = [dict(zip(COLUMNS, row)) for row in r.fetch(Step("carry_forward.rows", f"""
        SELECT {', '.join(COLUMNS)} FROM carried_line
        ORDER BY overdue DESC, due_by, abs(amount) DESC, source, source_file, source_line, line_id"""))]
    return out


def write_csv(con, path) -> str:
    """``recon carried --out FILE.csv``: ``carried_line`` in results.csv's dialect (BOM, text made safe)."""
    text = {"source_file", "source_sheet", "channel", "order_no", "currency", "code", "finding"}
    cols = ", ".join(f"r_safe({c}) AS {c}" if c in text else c for c in COLUMNS)
    path = Path(path)
    return str(_write(con, f"SELECT {cols} FROM carried_line ORDER BY overdue DESC, due_by, abs(amount) DESC, "
                           "source, source_file, source_line, line_id", path.parent, path.name))


EMPTY = """CREATE OR REPLACE TEMP TABLE carried_line (line_id BIGINT, carried_from VARCHAR, due_by DATE,
    overdue BOOLEAN, days_overdue INTEGER)"""


def ensure() -> Step:
    """``carried_line`` as the universe reads it: kept when ``prepare`` built it, else empty (the engine alone)."""
    return Step("carry_forward.ensure", EMPTY.replace("CREATE OR REPLACE TEMP TABLE", "CREATE TEMP TABLE IF NOT EXISTS"),
                writes="carried_line")


def carry_of(con, period: str, as_of: dt.date) -> dict | None:
    """What a run of ``period`` on ``as_of`` carries: {source_run, carried_from, as_of}; None without a source run."""
    run_id = source_run(con, period)
    if run_id is None:
        return None
    return {"source_run": run_id, "carried_from": prior_period(period), "as_of": as_of.isoformat()}


def prepare(r: Runner, carry: dict | None, dictionary, lags: dict) -> dict | None:
    """Temp table ``carried_line`` for a reconciliation (empty when ``carry`` is None); the carry, to record."""
    if carry is None:
        r.run(Step("carry_forward.none", EMPTY, writes="carried_line"))
        return None
    r.run(steps(carry["source_run"], carry["carried_from"], dictionary.timing_codes(), lags,
                dt.date.fromisoformat(carry["as_of"])))
    return carry


def summary(r: Runner, carry: dict | None) -> dict | None:
    """The run's carried lines by outcome (after ``outcome_steps``), for the manifest and the console."""
    if carry is None:
        return None
    rows = r.fetch(Step("carry_forward.counts", """SELECT kind, count(*), coalesce(sum(c.amount), 0), c.currency
        FROM carried_outcome o JOIN carried_line c USING (line_id) GROUP BY ALL ORDER BY ALL"""))
    out = dict(carry, cleared=0, open=0, not_cleared=0, by_currency={})
    for kind, n, amount, currency in rows:
        out[kind.lower()] += n
        cur = out["by_currency"].setdefault(currency or "?", {"cleared": "0", "open": "0", "not_cleared": "0"})
        cur[kind.lower()] = str(amount)
    out["lines"] = out["cleared"] + out["open"] + out["not_cleared"]
    return out


def outcome_steps() -> list[Step]:
    """After the last step that decides lines: each carried line's finding says it was carried, and whether it
    cleared (matched or known in this run), is still within its lag, or is overdue (an aged exception).
    Writes ``carried_outcome`` (one row per carried line) and folds it into ``result`` (``outcome.amend``)."""
    return [Step("carry_forward.outcome", """CREATE OR REPLACE TEMP TABLE carried_outcome AS
        SELECT r.line_id, CASE WHEN r.status IN ('matched', 'known') THEN 'CLEARED'
                               WHEN c.overdue THEN 'NOT_CLEARED' ELSE 'OPEN' END AS kind,
               r.explanation, r.finding, c.carried_from, c.due_by, c.days_overdue
        FROM result r JOIN carried_line c USING (line_id)""", writes="carried_outcome"),
        Step("carry_forward.findings", f"""CREATE OR REPLACE TEMP TABLE carried_amend AS
        SELECT line_id,
               CASE kind WHEN 'CLEARED' THEN '上期结转, 本期已核销: ' WHEN 'OPEN' THEN '上期结转, 结算周期内: '
                         ELSE '上期结转, 逾期未核销: ' END || coalesce(explanation, '') AS explanation,
               {then(
                   "CASE kind WHEN 'CLEARED' THEN " + finding("CARRIED_CLEARED", carried_from="carried_from")
                   + " WHEN 'OPEN' THEN " + finding("CARRIED_OPEN", carried_from="carried_from", due_by="due_by")
                   + " ELSE " + finding("CARRIED_NOT_CLEARED", carried_from="carried_from", due_by="due_by",
                                        days="days_overdue") + " END", "finding")} AS finding
        FROM carried_outcome""", writes="carried_amend"),
        outcome.amend("carry_forward.amend", "carried_amend", ("explanation", "finding"))]
