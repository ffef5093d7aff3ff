"""Voucher numbers that stay put, and the known cases that correct a closed period.

Why: a clerk runs recon every night and exports vouchers into the ERP before month end. If each run
numbered its vouchers afresh (``row_number`` over the run's keys), a code that appeared tonight would
shift every number after it, and ``RC202601-0004`` in the ERP would no longer be ``RC202601-0004`` in
recon. So a number belongs to its key, for good:

- A voucher's key is (period, dictionary code, channel, adjusts): ``adjusts`` is the closed period a
  prior-period adjustment corrects, NULL for an ordinary voucher.
- ``voucher_number`` holds one number (``seq``, per period) per key, assigned by the first run that
  needed it: the next free number of the period, new keys of one run in (adjusts, code, channel)
  order. A first run on a fresh store therefore numbers exactly as the per-run ``row_number`` did.
- The key keeps its number while cases join or leave it; a key that disappears keeps its number
  (a gap in the sequence, never re-issued to another key), and gets it back if it reappears.
- No number is ever assigned in a closed period (``recon close``): its numbers were fixed at close.

Prior-period adjustments: a known case of a run is one when one of its lines is dated in a closed
period before the run's and that line's outcome differs from the closed run's (the line was not in
the closed run, or had another status or code there): new evidence about a closed month. Such
cases go to a voucher of the run's own period keyed with ``adjusts``, whose explanation cites the
closed run (``recon.report.vouchers``). Cases whose closed-period lines had the same outcome in the
closed run change nothing about that period and stay in the ordinary vouchers.

Both are decided when a run is recorded (``record_steps``), inside the transaction that records it,
so a run's vouchers are fixed by the close state at the time it ran.
"""

from __future__ import annotations

from recon.engine import ledger
from recon.engine.steps import Step, runner

# Every period's state is its last close/reopen event; the closed ones, with the run the close locked.
CLOSED_PERIODS = """SELECT period, run_id, by_name, logged_at FROM (
    SELECT *, row_number() OVER (PARTITION BY period ORDER BY event_no DESC) AS k FROM period_close)
    WHERE k = 1 AND action = 'close'"""



def corrections_step(run_id: str) -> Step:
    """Step: temp table ``run_correction``, the run's correction lines each with the closed period its
    case adjusts (NULL: none). Materialised, not a CTE: DuckDB 2.0.1 answered ``bool_or(net <> 0)``
    wrongly (false for a net of 10.35) over the aggregate of this LEFT JOIN inlined as a CTE."""
    return Step("vouchers.run_corrections", """CREATE OR REPLACE TEMP TABLE run_correction AS
        SELECT c.*, p.adjusts, p.closed_run_id FROM correction_line c
        LEFT JOIN prior_period_case p ON p.run_id = c.run_id AND p.case_id = c.case_id WHERE c.run_id = $r""",
                {"r": run_id}, "run_correction")


# CTEs naming the run's vouchers over ``run_correction``: ``live`` (the cases of each key), ``vkeys`` (each
# key that makes a voucher: its cases move money, or touch more than two accounts; ``netted``: exactly two
# accounts, posted as one net debit and credit).
KEYS_CTES = """
corr AS (SELECT * FROM run_correction),
live AS (
    SELECT period, code, channel, adjusts, case_id FROM corr WHERE debit <> 0 OR credit <> 0 GROUP BY ALL
), acc AS (
    SELECT period, code, channel, adjusts, account, sum(debit - credit) AS net FROM corr
    WHERE debit <> credit GROUP BY ALL
), shape AS (
    SELECT period, code, channel, adjusts, count(*) = 2 AS netted, bool_or(net <> 0) AS moves,
           min(account) AS first_account
    FROM acc GROUP BY ALL
), vkeys AS (
    SELECT period, code, channel, adjusts, netted, first_account FROM shape WHERE moves OR NOT netted
)"""

SAME_KEY = ("{a}.period = {b}.period AND {a}.code = {b}.code AND {a}.channel IS NOT DISTINCT FROM {b}.channel "
            "AND {a}.adjusts IS NOT DISTINCT FROM {b}.adjusts")


def prior_period_step(run_id: str, period: str) -> Step:
    """Step: the run's known cases that correct a closed period (table ``prior_period_case``)."""
    return Step("vouchers.prior_period_cases", f"""
        INSERT INTO prior_period_case
        WITH closed AS ({CLOSED_PERIODS}),
        case_line AS (
            SELECT k.case_id, k.code, t.line_id FROM known_case k, unnest(k.line_ids) AS t(line_id)
            WHERE k.run_id = $r),
        dated AS (
            SELECT c.case_id, c.code, c.line_id, strftime(l.movement_date, '%Y-%m') AS line_period
            FROM case_line c JOIN ledger_line l ON l.line_id = c.line_id),
        changed AS (
            SELECT d.case_id, d.line_period, cl.run_id AS closed_run_id
            FROM dated d JOIN closed cl ON cl.period = d.line_period
            LEFT JOIN line_result lr ON lr.run_id = cl.run_id AND lr.line_id = d.line_id
            WHERE d.line_period < $period
              AND (lr.line_id IS NULL OR lr.status <> 'known' OR lr.code IS DISTINCT FROM d.code))
        -- a case touching two closed periods adjusts the earlier one
        SELECT $r, case_id, min(line_period), arg_min(closed_run_id, line_period) FROM changed
        GROUP BY case_id ORDER BY case_id""", {"r": run_id, "period": period}, "prior_period_case")


def assign_step(run_id: str) -> Step:
    """Step: a number for each voucher key of the run that has none, unless its period is closed."""
    return Step("vouchers.assign_numbers", f"""
        INSERT INTO voucher_number
        WITH {KEYS_CTES},
        fresh AS (
            SELECT k.period, k.code, k.channel, k.adjusts FROM vkeys k
            WHERE NOT EXISTS (SELECT 1 FROM voucher_number n WHERE {SAME_KEY.format(a='n', b='k')})
              AND k.period NOT IN (SELECT period FROM ({CLOSED_PERIODS}))),
        top AS (SELECT period, max(seq) AS top FROM voucher_number GROUP BY period)
        SELECT f.period, f.code, f.channel, f.adjusts,
               coalesce(t.top, 0) + row_number() OVER (
                   PARTITION BY f.period ORDER BY f.adjusts NULLS FIRST, f.code, f.channel NULLS FIRST),
               $r
        FROM fresh f LEFT JOIN top t USING (period)""", {"r": run_id}, "voucher_number")


def record_steps(run_id: str, period: str) -> list[Step]:
    """What recording a run fixes about its vouchers: its prior-period cases, then its numbers."""
    return [ledger.view(), prior_period_step(run_id, period), corrections_step(run_id), assign_step(run_id)]


def numbering_steps(run_id: str) -> list[Step]:
    """What exporting a run's vouchers needs: ``run_correction``, and a number for any key still without
    one (a run recorded before numbers were kept). Never the prior-period cases: those were decided by
    the close state when the run was recorded, not by today's."""
    return [corrections_step(run_id), assign_step(run_id)]


def record(con, run_id: str, period: str) -> None:
    """Run ``record_steps`` (``con``: a connection or a Runner), inside the transaction recording the run."""
    runner(con).run(record_steps(run_id, period))


def unnumbered(con) -> list[tuple]:
    """The run's voucher keys without a number: (period, code, channel, adjusts). Only a run recorded
    before numbers were kept, of a period closed since, can have any. Reads ``run_correction``."""
    return con.execute(f"""WITH {KEYS_CTES}
        SELECT k.period, k.code, k.channel, k.adjusts FROM vkeys k
        WHERE NOT EXISTS (SELECT 1 FROM voucher_number n WHERE {SAME_KEY.format(a='n', b='k')})
        ORDER BY 1, 2, 3 NULLS FIRST, 4 NULLS FIRST""").fetchall()
