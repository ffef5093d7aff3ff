"""The conservation proof: every line of the period ends in exactly one final state.

Lines in (the run's in-period ledger lines, by source: count and amount) must equal lines out
(rows of ``result`` for those lines), with no line decided twice and every status one of the four
final states. The run's universe must also hold exactly the lines its files loaded, so a line
cannot slip out between the store and the matching: of the run's files' lines, those taken (in the
period, later evidence, or outside the period and in no group) plus those a newer version of their
document replaced (``superseded``) = loaded. The universe also holds lines of earlier nights'
files still open in the period; they are in ``in`` and must come ``out`` like any other. Lines carried
from the period before (``recon.engine.carry_forward``) are counted apart, ``carried_in`` = ``carried_out``,
never in ``in``. A failure means the engine lost or duplicated a line: the run stops with exit 3.

The proof only reads (each query a named step of the run's ``Runner``, so it is timed and logged);
Python compares the figures.
"""

from __future__ import annotations

from decimal import Decimal

from recon.engine.steps import Step, runner, values_table
from recon.errors import ConservationError

STATUSES = ("matched", "known", "unknown", "review")


def _bucket(count, amount, by_currency):
    return {"count": count, "amount": str(amount), "by_currency": by_currency}


def control_totals(con) -> dict:
    """Per source: in (period lines), out (their results), later evidence and the rest outside the period.

    Amounts are also split by currency: a sum over CNY and USD lines is a checksum, not money.
    """
    return _join_totals(runner(con))[0]


def _join_totals(con) -> tuple[dict, int, int]:
    """The control totals, and from the same pass over ``universe`` FULL JOIN ``result``: results for
    lines dated before the period (``early``) and results for lines outside the run (``stray``).

    One join of every line of the month with every result, instead of three (a left join for the
    totals, an inner join for the early results, an anti join for the stray ones): the counts are the
    ones those joins gave, a line decided twice counting twice as it did.
    """
    rows = con.fetch(Step("conservation.totals",
        """SELECT u.source,
                  CASE WHEN u.line_id IS NULL THEN 'stray' WHEN u.carried_from IS NOT NULL THEN 'carried_in'
                       WHEN u.in_period THEN 'in'
                       WHEN r.line_id IS NOT NULL THEN 'later_evidence' ELSE 'outside_period' END AS bucket,
                  coalesce(u.currency, '?') AS currency,
                  count(*) AS n, coalesce(sum(u.amount), 0) AS amt,
                  count(r.line_id) AS n_out, coalesce(sum(u.amount) FILTER (WHERE r.line_id IS NOT NULL), 0),
                  count(*) FILTER (WHERE u.line_id IS NOT NULL AND r.line_id IS NOT NULL
                                   AND NOT u.in_period AND NOT u.after_period) AS early
           FROM universe u FULL JOIN result r ON r.line_id = u.line_id
           GROUP BY ALL ORDER BY 1, 2, 3"""))
    out: dict = {}
    early = stray = 0
    for src, bucket, cur, n, amt, n_out, amt_out, n_early in rows:
        early += n_early
        if bucket == "stray":
            stray += n
            continue
        t = out.setdefault(src, {k: {"count": 0, "amount": Decimal(0), "by_currency": {}}
                                 for k in ("in", "out", "later_evidence", "outside_period")})
        if bucket == "carried_in":
            for k in ("carried_in", "carried_out"):
                t.setdefault(k, {"count": 0, "amount": Decimal(0), "by_currency": {}})
            t["carried_out"]["count"] += n_out
            t["carried_out"]["amount"] += amt_out
            t["carried_out"]["by_currency"][cur] = str(amt_out)
        t[bucket]["count"] += n
        t[bucket]["amount"] += amt
        t[bucket]["by_currency"][cur] = str(amt)
        if bucket == "in":
            t["out"]["count"] += n_out
            t["out"]["amount"] += amt_out
            t["out"]["by_currency"][cur] = str(amt_out)
    for src, cur, n, amt in con.fetch(Step("conservation.superseded",
            """SELECT source, coalesce(currency, '?'), count(*), coalesce(sum(amount), 0)
               FROM superseded_lines GROUP BY ALL ORDER BY 1, 2""")):
        t = out.setdefault(src, {k: {"count": 0, "amount": Decimal(0), "by_currency": {}}
                                 for k in ("in", "out", "later_evidence", "outside_period")})
        b = t.setdefault("superseded", {"count": 0, "amount": Decimal(0), "by_currency": {}})
        b["count"] += n
        b["amount"] += amt
        b["by_currency"][cur] = str(amt)
    totals = {src: {k: _bucket(v["count"], v["amount"], v["by_currency"]) for k, v in t.items()}
              for src, t in out.items()}
    return totals, early, stray


def from_run_files(con) -> dict:
    """Per source, the lines of the run's own files that reached the run: taken, or replaced by a newer version."""
    rows = runner(con).fetch(Step("conservation.reached",
        """SELECT source, count(*), coalesce(sum(amount), 0) FROM (
               SELECT source, amount FROM universe SEMI JOIN run_files USING (file_id)
               UNION ALL SELECT source, amount FROM superseded_lines SEMI JOIN run_files USING (file_id))
           GROUP BY source"""))
    return {src: (n, amt) for src, n, amt in rows}


def unbalanced_groups(con, tolerances: dict) -> list[str]:
    """Matched order groups whose platform and ERP sums differ by more than their pass's tolerance."""
    if not tolerances:
        return []
    r = runner(con)
    r.run(values_table("pass_tolerance", "conservation.tolerances",
                       {"code": "VARCHAR", "tol": "DECIMAL(18,2)", "rel": "DECIMAL(18,6)"},
                       [(k, str(v[0]), str(v[1])) if isinstance(v, tuple) else (k, str(v), "0")
                        for k, v in tolerances.items()], "t"))
    # the ERP side as the order leg compared it: in local currency (CNY) against a platform side in CNY
    rows = r.fetch(Step("conservation.groups",
        """WITH s AS (
           SELECT r.match_group, r.code, bool_or(NOT u.in_period) AS spans,
                  coalesce(sum(u.amount) FILTER (WHERE u.source = 'platform'), 0) AS p_sum,
                  coalesce(CASE WHEN min(u.currency) FILTER (WHERE u.source = 'platform') = 'CNY'
                                 AND max(u.currency) FILTER (WHERE u.source = 'platform') = 'CNY'
                                THEN sum(CASE WHEN u.currency = 'CNY' OR u.local_amount IS NULL THEN u.amount
                                              ELSE u.local_amount END) FILTER (WHERE u.source = 'erp')
                                ELSE sum(u.amount) FILTER (WHERE u.source = 'erp') END, 0) AS e_sum,
                  any_value(t.tol) AS tol, any_value(t.rel) AS rel
           FROM result r JOIN universe u USING (line_id) JOIN pass_tolerance t USING (code)
           WHERE r.status = 'matched'
           GROUP BY r.match_group, r.code)
           SELECT match_group, code, p_sum - e_sum AS diff, greatest(tol, rel * abs(e_sum)) AS allowed FROM s
           WHERE abs(p_sum - e_sum) > greatest(tol, rel * abs(e_sum)) OR spans
           ORDER BY match_group LIMIT 5"""))
    return [f"matched group {g} ({code}) is off by {diff} (tolerance {tol}) or spans periods"
            for g, code, diff, tol in rows]


def check(con, loaded_by_source: dict | None = None, tolerances: dict | None = None) -> dict:
    """Raise ConservationError unless in = out for every source; return the control totals.

    ``loaded_by_source`` (per source: ``{"count", "amount"}`` the run's files loaded) is checked against
    the universe, so a line lost or an amount changed between the store and the check is caught;
    ``tolerances`` (order pass name -> tolerance) against every group those passes matched.
    """
    con = runner(con)
    totals, early, stray = _join_totals(con)
    problems = unbalanced_groups(con, tolerances or {})
    for src, t in totals.items():
        for a, b in (("in", "out"), ("carried_in", "carried_out")):
            if a in t and (t[a]["count"] != t[b]["count"] or Decimal(t[a]["amount"]) != Decimal(t[b]["amount"])):
                problems.append(f"{src}: {a} {t[a]['count']} / {t[a]['amount']} != "
                                f"{b} {t[b]['count']} / {t[b]['amount']}")
    reached = from_run_files(con)
    for src, expected in (loaded_by_source or {}).items():
        have, have_amount = reached.get(src, (0, Decimal(0)))
        if have != expected["count"]:
            problems.append(f"{src}: the run's files loaded {expected['count']} lines but {have} reached matching")
        elif have_amount != Decimal(expected["amount"]):
            problems.append(f"{src}: the run's files loaded an amount of {expected['amount']} but "
                            f"{have_amount} reached matching")
    if early:
        problems.append(f"{early} results for lines dated before the period (outside the period)")
    # one pass over result for both: a line decided twice, a status that is not final
    dup, bad = con.fetch(Step("conservation.outcomes",
        """SELECT count(*) - count(DISTINCT line_id),
                  count(*) FILTER (WHERE status NOT IN ('matched', 'known', 'unknown', 'review'))
           FROM result"""))[0]
    if dup:
        problems.append(f"{dup} lines decided more than once")
    if bad:
        problems.append(f"{bad} lines without a final state")
    if stray:
        problems.append(f"{stray} results for lines outside the run")
    if problems:
        raise ConservationError("conservation check failed: " + "; ".join(problems))
    return totals
