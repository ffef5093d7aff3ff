"""`recon backtest`: what a changed rules file or dictionary would have done to runs already made.

Each stored run is replayed with the new configuration over the universe as it was at that run, and
compared line by line with what the run decided (``line_result``). Nothing is written to history:
the store is opened read-only (DuckDB refuses any write to it), every table the replay builds is a
temp table of that connection, and each run is replayed on a connection of its own.

"The universe as it was" is the store seen through temp views of the same names (DuckDB resolves a
name to the temp schema first): the ledger tables hold only the files the store held when the run
started plus the run's own files (``run_file``); a line replaced by a file imported later counts as
live again; the decisions are those made before the run started and not revoked by then. The run's
own files are the run's ``run_files``, and its evidence window is the one its manifest recorded.

The blast radius, per run:

- ``changes``: lines whose status or code would change, grouped by (status, code) before and after,
  with lines and amount per currency;
- ``false_clean``: every line that was ``unknown`` or ``review`` and would become ``known`` or
  ``matched``, listed one by one (a rule that explains away a real difference hides it);
- ``vouchers``: per (code, channel), a voucher's cases and debit total (its correction lines, as
  ``recon.report.vouchers`` posts them), where they would change.

Exit 1 when a run of a closed period would change (``closed_periods``).
"""

from __future__ import annotations

import json
from decimal import Decimal

from recon import store
from recon.engine import ledger
from recon.engine.steps import Runner, Step
from recon.engine.voucher_numbers import CLOSED_PERIODS
from recon.errors import ReconError
from recon.sql.quote import quote_ident

LINE_TABLES = ("platform_line", "erp_line", "bank_line")
CLEAN = ("known", "matched")
OPEN = ("unknown", "review")
FALSE_CLEAN_SHOWN = 200  # per run; the count is always whole


def closed_periods(con) -> set:
    """The periods a close has locked: those whose last close event is a close, not a reopen
    (``recon.engine.voucher_numbers.CLOSED_PERIODS`` over ``period_close``, which ``recon close``
    writes)."""
    return {p for (p, *_rest) in con.execute(CLOSED_PERIODS).fetchall()}


def _runs(con, wanted) -> list[tuple]:
    rows = con.execute("""SELECT run_id, period, started_at, manifest_json FROM run
                          WHERE exit_code IS DISTINCT FROM 130 ORDER BY started_at, run_id""").fetchall()
    if not wanted:
        return rows
    by_id = {r[0]: r for r in rows}
    missing = [w for w in wanted if w not in by_id]
    if missing:
        raise ReconError(f"no finished run {', '.join(missing)} in this store; `recon runs` lists them")
    return [by_id[w] for w in wanted]


def _as_of(con, db_name: str, run_id: str, started) -> None:
    """Temp views shadowing the store's ledger and decision tables with their state when ``run_id`` started."""
    con.execute("""CREATE OR REPLACE TEMP TABLE bt_files AS
        SELECT file_id FROM source_file WHERE imported_at <= $t
        UNION SELECT file_id FROM run_file WHERE run_id = $r""", {"t": started, "r": run_id})
    for table in LINE_TABLES:
        src = f"{quote_ident(db_name)}.main.{quote_ident(table)}"
        con.execute(f"""CREATE OR REPLACE TEMP VIEW {quote_ident(table)} AS
            SELECT * REPLACE (CASE WHEN superseded_by IN (SELECT file_id FROM bt_files) THEN superseded_by END
                              AS superseded_by)
            FROM {src} WHERE file_id IN (SELECT file_id FROM bt_files)""")
    con.execute(f"""CREATE OR REPLACE TEMP VIEW decision AS
        SELECT * FROM {quote_ident(db_name)}.main.decision WHERE created_at <= {_literal_ts(started)}""")
    con.execute(f"""CREATE OR REPLACE TEMP VIEW decision_revocation AS
        SELECT * FROM {quote_ident(db_name)}.main.decision_revocation WHERE revoked_at <= {_literal_ts(started)}""")
    from recon.api import RUN_FILES_COLUMNS

    con.execute(f"CREATE OR REPLACE TEMP TABLE {RUN_FILES_COLUMNS}")
    con.execute("INSERT INTO run_files SELECT file_id, rel_path, sha256 FROM run_file WHERE run_id = $r "
                "ORDER BY file_id", {"r": run_id})


def _literal_ts(value) -> str:
    # a view cannot hold a bound parameter: the run's own start time, from the store, as a typed literal
    return f"TIMESTAMP '{value.isoformat(sep=' ')}'"


def replay(db: str, run_id: str, period: str, started, evidence_days: int, settings) -> dict:
    """One run replayed with ``settings`` on a read-only connection; its blast radius."""
    from recon.api import _carry_of, reconcile

    con = store.connect(db, must_exist=True, read_only=True)
    try:
        db_name = con.execute("SELECT current_database()").fetchone()[0]
        _as_of(con, db_name, run_id, started)
        ledger.ensure(con)
        r = Runner(con)
        reconcile(con, period, settings, evidence_days, runner=r, carry=_carry_of(con, run_id))
        return _compare(r, run_id)
    finally:
        con.close()


def _compare(r: Runner, run_id: str) -> dict:
    p = {"r": run_id}
    r.run(Step("backtest.lines", """CREATE OR REPLACE TEMP TABLE bt_line AS
        SELECT coalesce(b.line_id, a.line_id) AS line_id, b.status AS was_status, b.code AS was_code,
               a.status AS now_status, a.code AS now_code
        FROM (SELECT line_id, status, code FROM line_result WHERE run_id = $r) b
        FULL JOIN result a USING (line_id)
        WHERE b.status IS DISTINCT FROM a.status OR b.code IS DISTINCT FROM a.code""", p, "bt_line"))
    changes = r.fetch(Step("backtest.changes", """
        SELECT was_status, was_code, now_status, now_code, coalesce(l.currency, '?'), count(*),
               coalesce(sum(l.amount), 0)
        FROM bt_line c LEFT JOIN ledger_line l USING (line_id)
        GROUP BY ALL ORDER BY 1 NULLS FIRST, 2 NULLS FIRST, 3 NULLS FIRST, 4 NULLS FIRST, 5"""))
    false_clean = r.fetch(Step("backtest.false_clean", """
        SELECT l.source, l.source_name || ':' || l.source_line || coalesce('@' || l.source_sheet, ''), l.order_no,
               l.currency, l.amount, c.was_status, c.was_code, c.now_status, c.now_code
        FROM bt_line c JOIN ledger_line l USING (line_id)
        WHERE c.was_status IN ('unknown', 'review') AND c.now_status IN ('known', 'matched')
        ORDER BY l.source, l.source_name, l.source_sheet NULLS FIRST, l.source_line""", {}))
    # a voucher is a (period, code, channel) of correction lines (recon.report.vouchers): its cases and debits
    vouchers = r.fetch(Step("backtest.vouchers", """
        WITH was AS (SELECT code, channel, count(DISTINCT case_id) AS cases, sum(debit) AS debit
                     FROM correction_line WHERE run_id = $r GROUP BY ALL),
             now AS (SELECT code, channel, count(DISTINCT case_id) AS cases, sum(debit) AS debit
                     FROM correction_tmp GROUP BY ALL)
        SELECT coalesce(w.code, n.code), coalesce(w.channel, n.channel), coalesce(w.cases, 0),
               coalesce(w.debit, 0), coalesce(n.cases, 0), coalesce(n.debit, 0)
        FROM was w FULL JOIN now n ON n.code = w.code AND n.channel IS NOT DISTINCT FROM w.channel
        WHERE w.debit IS DISTINCT FROM n.debit OR w.cases IS DISTINCT FROM n.cases
        ORDER BY 1, 2 NULLS FIRST""", p))
    grouped: dict = {}
    for ws, wc, ns, nc, cur, n, amt in changes:
        g = grouped.setdefault((ws, wc, ns, nc), {"from": {"status": ws, "code": wc}, "to": {"status": ns, "code": nc},
                                                  "lines": 0, "amount": {}})
        g["lines"] += n
        g["amount"][cur] = str(amt)
    return {
        "lines_changed": sum(g["lines"] for g in grouped.values()),
        "changes": list(grouped.values()),
        "false_clean_count": len(false_clean),
        "false_clean": [{"source": s, "ref": ref, "order_no": o, "currency": cur, "amount": str(a),
                         "from": {"status": ws, "code": wc}, "to": {"status": ns, "code": nc}}
                        for s, ref, o, cur, a, ws, wc, ns, nc in false_clean[:FALSE_CLEAN_SHOWN]],
        "vouchers": [{"code": c, "channel": ch, "cases_before": int(cb), "debit_before": str(db),
                      "cases_after": int(ca), "debit_after": str(da)} for c, ch, cb, db, ca, da in vouchers],
    }


def backtest(db: str, settings, runs=()) -> dict:
    """Replay ``runs`` (default: every finished run) of the store ``db`` with ``settings``."""
    con = store.connect(db, must_exist=True, read_only=True)
    try:
        chosen = _runs(con, list(runs))
        closed = closed_periods(con)
    finally:
        con.close()
    if not chosen:
        raise ReconError(f"{db} holds no finished run to replay: `recon run` first")
    out = []
    for run_id, period, started, manifest_json in chosen:
        manifest = json.loads(manifest_json) if manifest_json else {}
        days = int(manifest.get("evidence_days", 31))
        res = replay(db, run_id, period, started, days, settings)
        out.append({"run_id": run_id, "period": period, "closed": period in closed, **res})
    closed_changed = sorted({r["period"] for r in out if r["closed"] and r["lines_changed"]})
    return {"runs": out, "lines_changed": sum(r["lines_changed"] for r in out),
            "false_clean": sum(r["false_clean_count"] for r in out),
            "closed_periods_changed": closed_changed, "exit_code": 1 if closed_changed else 0}


def amounts(per_currency: dict) -> str:
    """``CNY 12.00 · USD 3.00``: never one figure across currencies."""
    return " · ".join(f"{cur} {Decimal(a):,.2f}" for cur, a in sorted(per_currency.items()))
