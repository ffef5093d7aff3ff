"""New evidence for a closed period, posted as a prior-period adjustment in the run's own period.

Why: once a month is closed (``recon.period``) its results and vouchers stay as they were, and a run of
it is refused. Late files still arrive: a platform bill re-issued with two more lines dated the 31st, an
ERP document keyed in after the close. Lines dated before a run's period never take part in its
matching (they are outside its period), so the run of the next period would not see what they change.

What a run of period Q does, before it reconciles Q (``evidence``): for every closed period P < Q whose
lines in this run's files are not in P's closed run (new evidence), it reconciles P again in the same
connection, as P's closed run did (P's lines, its evidence window, the closed run's files plus this
run's) but writing nothing to P's history, with tonight's rules and dictionary. What differs from the
closed run is the prior-period adjustment:

- per (code, channel, account), the shadow's corrections minus the closed run's and minus the
  prior-period adjustments for P that closed later runs already posted: the entry that brings P's
  books to what the new evidence says (a case the evidence explains, one it changes, one that is no
  longer there, reversed). Lines such an adjustment already covered are not new evidence again, so
  a late file read once more in a later period posts nothing twice;
- one known case per (code, channel) with a difference, case id ``PPA-<P>-<hash>``, in period Q,
  whose lines are those of P's new, changed and vanished cases, and whose explanation cites the
  closed run.

These are kept in temp tables ``ppa_known`` and ``ppa_correction``; recording the run (``record_steps``)
adds them to the run's ``known_case`` and ``correction_line`` and names them in ``prior_period_case``
(``adjusts`` = P, ``closed_run_id``), so the vouchers of Q carry a separate voucher per (code, channel)
for P, numbered in Q, whose 说明 cites the closed run (``recon.report.vouchers``). A later nightly run of
Q finds the same evidence and posts the same adjustment under the same number. Evidence that changes
nothing in P's corrections (a line that matches) posts nothing.
"""

from __future__ import annotations

from recon.engine import ledger
from recon.engine.steps import Step
from recon.engine.voucher_numbers import CLOSED_PERIODS

_EMPTY = [
    Step("prior_period.known", """CREATE OR REPLACE TEMP TABLE ppa_known (case_id VARCHAR, code VARCHAR,
        channel VARCHAR, adjusts VARCHAR, closed_run_id VARCHAR, residual DECIMAL(18,2), line_ids BIGINT[],
        source_refs VARCHAR[], explanation VARCHAR)""", writes="ppa_known"),
    Step("prior_period.correction", """CREATE OR REPLACE TEMP TABLE ppa_correction (case_id VARCHAR, code VARCHAR,
        channel VARCHAR, line_no INTEGER, account VARCHAR, debit DECIMAL(18,2), credit DECIMAL(18,2),
        explanation VARCHAR, basis VARCHAR)""", writes="ppa_correction"),
]

# The prior-period adjustments already posted for a period by runs that are closed themselves (the
# closed run of a later period): they are part of the closed period's books now.
_POSTED = f"""SELECT k.run_id, k.case_id, p.adjusts FROM known_case k
    JOIN prior_period_case p ON p.run_id = k.run_id AND p.case_id = k.case_id
    WHERE k.run_id IN (SELECT run_id FROM ({CLOSED_PERIODS}))"""

# Closed periods before the run's whose lines in the run's files neither the closed run had nor a
# closed later run already adjusted for.
_NEW_EVIDENCE = f"""
WITH closed AS ({CLOSED_PERIODS}),
posted AS (SELECT DISTINCT x.adjusts, t.line_id FROM ({_POSTED}) x
           JOIN known_case k ON k.run_id = x.run_id AND k.case_id = x.case_id, unnest(k.line_ids) AS t(line_id))
SELECT c.period, c.run_id, count(*) AS lines
FROM ledger_line l JOIN run_files f USING (file_id) JOIN closed c ON c.period = strftime(l.movement_date, '%Y-%m')
WHERE l.superseded_by IS NULL AND c.period < $period
  AND NOT EXISTS (SELECT 1 FROM line_result lr WHERE lr.run_id = c.run_id AND lr.line_id = l.line_id)
  AND NOT EXISTS (SELECT 1 FROM posted p WHERE p.adjusts = c.period AND p.line_id = l.line_id)
GROUP BY ALL ORDER BY c.period
"""


def evidence(r, period: str, reconcile) -> list[dict]:
    """Reconcile each closed period with new evidence in this run's files again, and keep what differs
    from its closed run as prior-period adjustment cases (temp tables ``ppa_known``/``ppa_correction``).

    ``r``: the run's Runner, with temp table ``run_files``; ``reconcile(period, closed_run)`` runs the
    engine over the store for a period as the closed run did (its evidence window, its carried lines).
    Returns one dict per closed period with new evidence: period, closed run, new lines, cases posted.
    """
    r.run(ledger.view(), _EMPTY)
    found = r.fetch(Step("prior_period.new_evidence", _NEW_EVIDENCE, {"period": period}))
    if not found:
        return []
    r.run(Step("prior_period.keep_run_files", "CREATE OR REPLACE TEMP TABLE ppa_run_files AS SELECT * FROM run_files",
               writes="ppa_run_files"))
    out = []
    for closed_period, closed_run, lines in found:
        r.run(_closed_run_files(closed_run))
        reconcile(closed_period, closed_run)
        r.run(_adjustment_steps(closed_period, closed_run, period))
        posted = r.scalar("prior_period.posted", "SELECT count(*) FROM ppa_known WHERE adjusts = $p",
                          {"p": closed_period})
        out.append({"period": closed_period, "closed_run": closed_run, "new_lines": int(lines), "cases": int(posted)})
    r.run(Step("prior_period.restore_run_files", """CREATE OR REPLACE TEMP TABLE run_files
        (file_id BIGINT PRIMARY KEY, rel_path VARCHAR, sha256 VARCHAR)""", writes="run_files"),
          Step("prior_period.restore_run_files_rows", "INSERT INTO run_files SELECT * FROM ppa_run_files",
               writes="run_files"))
    return out


def _closed_run_files(closed_run: str) -> list[Step]:
    """``run_files`` as the shadow of the closed period reads them: the closed run's files and this run's
    (this run's name wins for a file in both)."""
    return [
        Step("prior_period.run_files", """CREATE OR REPLACE TEMP TABLE run_files
            (file_id BIGINT PRIMARY KEY, rel_path VARCHAR, sha256 VARCHAR)""", writes="run_files"),
        Step("prior_period.run_files_rows", """INSERT INTO run_files
            SELECT file_id, rel_path, sha256 FROM (
                SELECT *, row_number() OVER (PARTITION BY file_id ORDER BY pref, rel_path) AS k FROM (
                    SELECT file_id, rel_path, sha256, 0 AS pref FROM ppa_run_files
                    UNION ALL SELECT file_id, rel_path, sha256, 1 FROM run_file WHERE run_id = $closed))
            WHERE k = 1""",
             {"closed": closed_run}, "run_files"),
    ]


def _adjustment_steps(closed_period: str, closed_run: str, period: str) -> list[Step]:
    """From the shadow's ``known_case_tmp``/``correction_tmp`` and the closed run's rows: the difference."""
    p = {"closed": closed_run, "adjusts": closed_period, "period": period}
    return [
        Step("prior_period.delta", f"""CREATE OR REPLACE TEMP TABLE ppa_delta AS
            SELECT code, channel, account, sum(net) AS delta, max(basis) AS basis FROM (
                SELECT code, channel, account, debit - credit AS net, basis FROM correction_tmp
                UNION ALL
                SELECT code, channel, account, credit - debit, NULL FROM correction_line WHERE run_id = $closed
                UNION ALL  -- what closed later runs already adjusted the period by
                SELECT c.code, c.channel, c.account, c.credit - c.debit, NULL FROM correction_line c
                JOIN ({_POSTED}) x ON x.run_id = c.run_id AND x.case_id = c.case_id WHERE x.adjusts = $adjusts)
            GROUP BY code, channel, account HAVING sum(net) <> 0""", p, "ppa_delta"),
        # the cases behind the difference: new or changed in the shadow, or no longer there
        Step("prior_period.changed_cases", """CREATE OR REPLACE TEMP TABLE ppa_changed AS
            SELECT k.code, k.channel, k.line_ids, k.source_refs FROM known_case_tmp k
            WHERE NOT EXISTS (SELECT 1 FROM known_case c WHERE c.run_id = $closed AND c.case_id = k.case_id
                              AND c.code = k.code AND c.residual = k.residual AND c.line_ids = k.line_ids)
            UNION ALL
            SELECT c.code, c.channel, c.line_ids, c.source_refs FROM known_case c
            WHERE c.run_id = $closed
              AND NOT EXISTS (SELECT 1 FROM known_case_tmp k WHERE k.case_id = c.case_id AND k.code = c.code)""",
             p, "ppa_changed"),
        Step("prior_period.cases", """INSERT INTO ppa_known
            WITH keys AS (
                SELECT code, channel, sum(delta) FILTER (WHERE delta > 0) AS moved FROM ppa_delta GROUP BY ALL),
            lines AS (
                SELECT x.code, x.channel, list(DISTINCT t.line_id ORDER BY t.line_id) AS line_ids
                FROM ppa_changed x, unnest(x.line_ids) AS t(line_id) GROUP BY ALL),
            refs AS (
                SELECT x.code, x.channel, list(DISTINCT t.ref ORDER BY t.ref) AS refs
                FROM ppa_changed x, unnest(x.source_refs) AS t(ref) GROUP BY ALL)
            SELECT 'PPA-' || $adjusts || '-' || left(md5(k.code || chr(31) || coalesce(k.channel, '')), 12),
                   k.code, k.channel, $adjusts, $closed, coalesce(k.moved, 0),
                   coalesce(l.line_ids, []), coalesce(r.refs, []),
                   k.code || ' 以前期间调整: 已结账期间 ' || $adjusts || ' (结账运行 ' || $closed || ') 的新证据使其更正变化, '
                       || '在 ' || $period || ' 入账'
            FROM keys k
            LEFT JOIN lines l ON l.code = k.code AND l.channel IS NOT DISTINCT FROM k.channel
            LEFT JOIN refs r ON r.code = k.code AND r.channel IS NOT DISTINCT FROM k.channel""", p, "ppa_known"),
        Step("prior_period.correction_rows", """INSERT INTO ppa_correction
            SELECT k.case_id, d.code, d.channel,
                   row_number() OVER (PARTITION BY k.case_id ORDER BY d.delta < 0, d.account),
                   d.account, greatest(d.delta, 0), greatest(-d.delta, 0), k.explanation, d.basis
            FROM ppa_delta d JOIN ppa_known k
              ON k.adjusts = $adjusts AND k.code = d.code AND k.channel IS NOT DISTINCT FROM d.channel""",
             p, "ppa_correction"),
    ]


def record_steps(run_id: str, period: str) -> list[Step]:
    """Recording the run: its prior-period adjustment cases join its known cases and corrections."""
    p = {"r": run_id, "period": period}
    return [
        Step("prior_period.record_cases", """INSERT INTO known_case
            SELECT $r, case_id, code, channel, $period, residual, line_ids, source_refs, explanation, false
            FROM ppa_known ORDER BY case_id""", p, "known_case"),
        Step("prior_period.record_corrections", """INSERT INTO correction_line
            SELECT $r, case_id, code, channel, $period, line_no, account, debit, credit, explanation, basis
            FROM ppa_correction ORDER BY case_id, line_no""", p, "correction_line"),
        Step("prior_period.record_links", """INSERT INTO prior_period_case
            SELECT $r, case_id, adjusts, closed_run_id FROM ppa_known ORDER BY case_id""", p, "prior_period_case"),
    ]
