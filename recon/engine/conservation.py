"""The conservation proof: every line of the period ends in exactly one final state.

Lines in (the run's in-period ledger lines, by source: count and amount) must equal lines out
(rows of ``result`` for those lines), with no line decided twice and every status one of the four
final states. A failure means the engine lost or duplicated a line: the run stops with exit 3.
"""

from __future__ import annotations

from decimal import Decimal

from recon.errors import ConservationError

STATUSES = ("matched", "known", "unknown", "review")


def control_totals(con) -> dict:
    """Per source: in (period lines) and out (their results) as count and amount, plus late evidence."""
    rows = con.execute(
        """SELECT u.source,
                  count(*) FILTER (WHERE u.in_period), coalesce(sum(u.amount) FILTER (WHERE u.in_period), 0),
                  count(r.line_id) FILTER (WHERE u.in_period),
                  coalesce(sum(u.amount) FILTER (WHERE u.in_period AND r.line_id IS NOT NULL), 0),
                  count(r.line_id) FILTER (WHERE NOT u.in_period),
                  coalesce(sum(u.amount) FILTER (WHERE NOT u.in_period AND r.line_id IS NOT NULL), 0)
           FROM universe u LEFT JOIN result r USING (line_id)
           GROUP BY u.source ORDER BY u.source""").fetchall()
    out = {}
    for src, n_in, a_in, n_out, a_out, n_late, a_late in rows:
        out[src] = {"in": {"count": n_in, "amount": str(a_in)},
                    "out": {"count": n_out, "amount": str(a_out)},
                    "later_evidence": {"count": n_late, "amount": str(a_late)}}
    return out


def check(con) -> dict:
    """Raise ConservationError unless in = out for every source; return the control totals."""
    totals = control_totals(con)
    problems = []
    for src, t in totals.items():
        if t["in"]["count"] != t["out"]["count"] or Decimal(t["in"]["amount"]) != Decimal(t["out"]["amount"]):
            problems.append(f"{src}: in {t['in']} != out {t['out']}")
    dup = con.execute("SELECT count(*) - count(DISTINCT line_id) FROM result").fetchone()[0]
    if dup:
        problems.append(f"{dup} lines decided more than once")
    bad = con.execute(
        "SELECT count(*) FROM result WHERE status NOT IN ('matched', 'known', 'unknown', 'review')").fetchone()[0]
    if bad:
        problems.append(f"{bad} lines without a final state")
    stray = con.execute("SELECT count(*) FROM result ANTI JOIN universe USING (line_id)").fetchone()[0]
    if stray:
        problems.append(f"{stray} results for lines outside the run")
    if problems:
        raise ConservationError("conservation check failed: " + "; ".join(problems))
    return totals
