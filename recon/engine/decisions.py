"""Manual decisions: a clerk's "these lines go together" or "accept this difference", remembered.

``recon resolve`` records a decision with who, when and why, and a fingerprint of the lines it
covers (their ids, amounts and dates). Every later run applies it before the match passes, as
status ``matched`` with code ``decision:<id>``, so reports show it as a person's decision, not a
rule's. A decision whose lines changed since (re-imported into new line ids, another amount or
date) or are missing from the run is *stale*: it is not applied, and the manifest lists it.
"""

from __future__ import annotations

import datetime as dt

from recon.engine import ledger
from recon.engine.steps import Step, runner
from recon.errors import ReconError

FINGERPRINT = ("md5(string_agg(line_id || '|' || CAST(amount AS VARCHAR) || '|' || "
               "coalesce(CAST(movement_date AS VARCHAR), ''), ',' ORDER BY line_id))")
KINDS = ("match", "accept")


def find_lines(con, refs=(), group: str | None = None) -> list[str]:
    """Line ids for ``FILE:LINE[@SHEET]`` references (as results.csv shows them) or a match group of the last run."""
    ids: list[str] = []
    ledger.ensure(con)
    if group:
        run = con.execute("SELECT run_id FROM run ORDER BY started_at DESC, run_id DESC LIMIT 1").fetchone()
        if not run:
            raise ReconError("no run in this store yet: run `recon run` first")
        ids += [r[0] for r in con.execute(
            "SELECT line_id FROM line_result WHERE run_id = ? AND match_group = ? ORDER BY line_id",
            [run[0], group]).fetchall()]
        if not ids:
            raise ReconError(f"match group {group} is not in the last run ({run[0]})")
    for ref in refs:
        path, _, rest = ref.rpartition(":")
        line, _, sheet = rest.partition("@")
        if not path or not line.isdigit():
            raise ReconError(f"{ref!r}: expected FILE:LINE or FILE:LINE@SHEET as in results.csv")
        found = con.execute(
            "SELECT line_id FROM ledger_line WHERE source_name = ? AND source_line = ? "
            "AND coalesce(source_sheet, '') = ?", [path, int(line), sheet]).fetchall()
        if len(found) != 1:
            raise ReconError(f"{ref}: {'no' if not found else str(len(found))} ledger lines found in the store "
                             "(use the source_file and source_line of results.csv)")
        ids.append(found[0][0])
    if len(set(ids)) < 1:
        raise ReconError("name the lines with --line FILE:LINE or --group GROUP")
    return sorted(set(ids))


def record(con, line_ids: list[str], kind: str, reason: str, by: str) -> int:
    """Store a decision; return its id."""
    if kind not in KINDS:
        raise ReconError(f"kind must be one of {', '.join(KINDS)}")
    if not reason.strip() or not by.strip():
        raise ReconError("a decision needs --reason (why) and --by (who)")
    con.execute("CREATE OR REPLACE TEMP TABLE decided_lines (line_id VARCHAR)")
    con.executemany("INSERT INTO decided_lines VALUES (?)", [(i,) for i in line_ids])
    ledger.ensure(con)
    fp = con.execute(f"SELECT {FINGERPRINT} FROM ledger_line WHERE line_id IN (SELECT line_id FROM decided_lines)"
                     ).fetchone()[0]
    new_id = con.execute("SELECT coalesce(max(decision_id), 0) + 1 FROM decision").fetchone()[0]
    con.execute("INSERT INTO decision VALUES (?, ?, ?, ?, ?, ?, ?)",
                [new_id, kind, dt.datetime.now().replace(microsecond=0), by, reason, line_ids, fp])
    return new_id


def apply(con) -> dict:
    """Apply the store's decisions to the run's ``universe``; return applied and stale decision ids.

    ``con`` is the run's ``Runner`` (or a bare connection): the ids are read back for the manifest.
    """
    r = runner(con)
    r.run(Step("decisions.state",
        f"""CREATE OR REPLACE TEMP TABLE decision_state AS
        SELECT d.decision_id, d.kind, d.created_by, d.created_at, d.reason, d.line_ids, d.fingerprint,
               (SELECT count(*) FROM universe u WHERE list_contains(d.line_ids, u.line_id)) AS present,
               (SELECT {FINGERPRINT} FROM universe u WHERE list_contains(d.line_ids, u.line_id)) AS current,
               (SELECT bool_or(in_period) FROM universe u WHERE list_contains(d.line_ids, u.line_id)) AS touches
        FROM decision d""", writes="decision_state"),
        Step("decisions.apply",
        """INSERT INTO result
        SELECT u.line_id, u.source, 'matched', 'decision:' || CAST(s.decision_id AS VARCHAR),
               'D' || CAST(s.decision_id AS VARCHAR),
               '人工决定 #' || CAST(s.decision_id AS VARCHAR) || ' (' || s.created_by || ', '
                   || strftime(s.created_at, '%Y-%m-%d %H:%M') || ', '
                   || CASE s.kind WHEN 'accept' THEN '接受差异' ELSE '指定配对' END || '): ' || s.reason
        FROM decision_state s JOIN universe u ON list_contains(s.line_ids, u.line_id)
        WHERE s.touches AND s.present = len(s.line_ids) AND s.current = s.fingerprint""", writes="result"))
    applied = [row[0] for row in r.fetch(Step("decisions.applied",
        "SELECT decision_id FROM decision_state WHERE touches AND present = len(line_ids) AND current = fingerprint "
        "ORDER BY 1"))]
    stale = [row[0] for row in r.fetch(Step("decisions.stale",
        "SELECT decision_id FROM decision_state WHERE present > 0 AND NOT (present = len(line_ids) "
        "AND current = fingerprint) ORDER BY 1"))]
    return {"applied": applied, "stale": stale}
