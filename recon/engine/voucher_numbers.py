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

Prior-period adjustments (``recon.engine.prior_period``): what new evidence for a closed period changes
in its corrections becomes known cases of the run's own period, linked to the closed period and run
in ``prior_period_case``; their voucher is keyed with ``adjusts`` and cites the closed run.

Both are decided when a run is recorded (``record_steps``), inside the transaction that records it,
so a run's vouchers are fixed by the close state at the time it ran.
"""

from __future__ import annotations

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


def record_steps(run_id: str, period: str) -> list:
    """What recording a run fixes about its vouchers: its prior-period adjustment cases
    (``recon.engine.prior_period``, from the run's temp tables ``ppa_known``/``ppa_correction``), then
    its numbers."""
    from recon.engine import prior_period

    return [prior_period.record_steps(run_id, period), corrections_step(run_id), assign_step(run_id)]


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
