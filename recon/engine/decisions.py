"""Manual decisions: a clerk's "these lines go together" or "accept this difference", remembered.

``recon resolve`` records a decision with who, when and why, and a fingerprint of the lines it
covers (their ids, amounts and dates). Every later run applies it before the match passes, as
status ``matched`` with code ``decision:<id>``, so reports show it as a person's decision, not a
rule's. A decision whose lines changed since (re-imported into new line ids, another amount or
date) or are missing from the run is *stale*: it is not applied, and the manifest lists it with why.

Decisions have a lifecycle: ``recon resolve --revoke ID`` revokes one (logged in
``decision_revocation``, never deleted), and a new decision over a line an in-force decision
already covers is refused, naming it. Should two decisions over one line still meet in a run (a
store written before that check), the earlier one is applied and the later one is stale: a line is
never decided twice. Decisions and revocations are events in the run log (``recon.runlog``): one
altered afterwards is found by ``recon verify``.
"""

from __future__ import annotations

import datetime as dt
import json

from recon import runlog
from recon.engine import ledger
from recon.engine.findings import finding
from recon.engine.steps import Step, runner
from recon.errors import ReconError

FINGERPRINT = ("md5(string_agg(line_id || '|' || CAST(amount AS VARCHAR) || '|' || "
               "coalesce(CAST(movement_date AS VARCHAR), ''), ',' ORDER BY line_id))")
KINDS = ("match", "accept")


def find_lines(con, refs=(), group: str | None = None) -> list[int]:
    """Line ids for ``FILE:LINE[@SHEET]`` references (as results.csv shows them) or a match group of the last run."""
    ids: list[int] = []
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
        # A re-export under the same name leaves the replaced version's lines in the store (for audit):
        # the live line is the one meant; among several live ones, the one the last run reported.
        found = con.execute(
            """SELECT line_id FROM ledger_line l WHERE source_name = ? AND source_line = ?
                AND coalesce(source_sheet, '') = ? AND superseded_by IS NULL
                ORDER BY line_id""", [path, int(line), sheet]).fetchall()
        if len(found) > 1:
            found = con.execute(
                """SELECT line_id FROM ledger_line l WHERE source_name = ? AND source_line = ?
                    AND coalesce(source_sheet, '') = ? AND superseded_by IS NULL
                    AND line_id IN (SELECT line_id FROM line_result WHERE run_id =
                        (SELECT run_id FROM run WHERE exit_code IS DISTINCT FROM 130
                         ORDER BY started_at DESC, run_id DESC LIMIT 1))""", [path, int(line), sheet]).fetchall()
        if len(found) != 1:
            raise ReconError(f"{ref}: {'no' if not found else str(len(found))} ledger lines found in the store "
                             "(use the source_file and source_line of results.csv)")
        ids.append(found[0][0])
    if len(set(ids)) < 1:
        raise ReconError("name the lines with --line FILE:LINE or --group GROUP")
    return sorted(set(ids))


def in_force(con):
    """(decision_id, kind, created_by, reason, line_ids) of decisions neither revoked nor stale in the store:
    every line still live (not superseded) with the amounts and dates it had when decided."""
    ledger.ensure(con)
    return con.execute(
        f"""SELECT d.decision_id, d.kind, d.created_by, d.reason, d.line_ids FROM decision d
            WHERE d.decision_id NOT IN (SELECT decision_id FROM decision_revocation)
              AND (SELECT count(*) FROM ledger_line l
                   WHERE list_contains(d.line_ids, l.line_id) AND l.superseded_by IS NULL) = len(d.line_ids)
              AND (SELECT {FINGERPRINT} FROM ledger_line l WHERE list_contains(d.line_ids, l.line_id))
                  = d.fingerprint
            ORDER BY d.decision_id""").fetchall()


def record(con, line_ids: list[int], kind: str, reason: str, by: str) -> int:
    """Store a decision; return its id. Refused when an in-force decision already covers one of its lines."""
    if kind not in KINDS:
        raise ReconError(f"kind must be one of {', '.join(KINDS)}")
    if not reason.strip() or not by.strip():
        raise ReconError("a decision needs --reason (why) and --by (who)")
    for decision_id, old_kind, old_by, old_reason, old_lines in in_force(con):
        shared = sorted(set(old_lines) & set(line_ids))
        if shared:
            raise ReconError(
                f"{len(shared)} of these lines {'is' if len(shared) == 1 else 'are'} already covered by decision "
                f"#{decision_id} ({'accept' if old_kind == 'accept' else 'match'}, by {old_by}: {old_reason}); "
                f"revoke it first (recon resolve --revoke {decision_id} --reason … --by …), then decide again")
    con.execute("CREATE OR REPLACE TEMP TABLE decided_lines (line_id BIGINT)")
    con.executemany("INSERT INTO decided_lines VALUES (?)", [(i,) for i in line_ids])
    ledger.ensure(con)
    fp = con.execute(f"SELECT {FINGERPRINT} FROM ledger_line WHERE line_id IN (SELECT line_id FROM decided_lines)"
                     ).fetchone()[0]
    new_id = con.execute("SELECT coalesce(max(decision_id), 0) + 1 FROM decision").fetchone()[0]
    with runlog.logged(con):  # the decision and its event in the run log commit together
        con.execute("INSERT INTO decision VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [new_id, kind, dt.datetime.now().replace(microsecond=0), by, reason, line_ids, fp])
        runlog.append(con, "decision", runlog.decision_fact(con, new_id))
    return new_id


def revoke(con, decision_id: int, reason: str, by: str) -> None:
    """Revoke a decision: logged with who, when and why; later runs no longer apply it."""
    if not reason.strip() or not by.strip():
        raise ReconError("revoking a decision needs --reason (why) and --by (who)")
    if not con.execute("SELECT 1 FROM decision WHERE decision_id = ?", [decision_id]).fetchone():
        raise ReconError(f"no decision #{decision_id} in this store; `recon decisions` lists them")
    done = con.execute("SELECT revoked_by, revoked_at FROM decision_revocation WHERE decision_id = ?",
                       [decision_id]).fetchone()
    if done:
        raise ReconError(f"decision #{decision_id} was already revoked by {done[0]} at {done[1]:%Y-%m-%d %H:%M}")
    with runlog.logged(con):
        con.execute("INSERT INTO decision_revocation VALUES (?, ?, ?, ?)",
                    [decision_id, dt.datetime.now().replace(microsecond=0), by, reason])
        runlog.append(con, "revoke", runlog.revocation_fact(con, decision_id))


def apply(con) -> dict:
    """Apply the store's decisions to the run's ``universe``; return applied and stale decision ids,
    and why each stale one is (``reasons``: id -> sentence).

    ``con`` is the run's ``Runner`` (or a bare connection): the ids are read back for the manifest.
    """
    r = runner(con)
    r.run(Step("decisions.state",
        f"""CREATE OR REPLACE TEMP TABLE decision_state AS
        WITH s AS (
            SELECT d.decision_id, d.kind, d.created_by, d.created_at, d.reason, d.line_ids, d.fingerprint,
                   (SELECT count(*) FROM universe u WHERE list_contains(d.line_ids, u.line_id)) AS present,
                   (SELECT {FINGERPRINT} FROM universe u WHERE list_contains(d.line_ids, u.line_id)) AS current,
                   (SELECT bool_or(in_period) FROM universe u WHERE list_contains(d.line_ids, u.line_id)) AS touches
            FROM decision d
            WHERE NOT EXISTS (SELECT 1 FROM decision_revocation r WHERE r.decision_id = d.decision_id)),
        fits AS (SELECT decision_id FROM s WHERE touches AND present = len(line_ids) AND current = fingerprint),
        -- two fitting decisions over one line: the earlier wins, the later is stale (never decided twice)
        pairs AS (SELECT DISTINCT b.decision_id, a.decision_id AS earlier
                  FROM (SELECT decision_id, unnest(line_ids) AS line_id FROM s SEMI JOIN fits USING (decision_id)) a
                  JOIN (SELECT decision_id, unnest(line_ids) AS line_id FROM s SEMI JOIN fits USING (decision_id)) b
                    ON a.line_id = b.line_id AND a.decision_id < b.decision_id),
        blocked AS (SELECT decision_id, min(earlier) AS earlier FROM pairs GROUP BY decision_id)
        SELECT s.*, coalesce(s.present = len(s.line_ids) AND s.current = s.fingerprint, false) AS whole,
               f.decision_id IS NOT NULL AND b.decision_id IS NULL AS fit, b.earlier
        FROM s LEFT JOIN fits f USING (decision_id) LEFT JOIN blocked b USING (decision_id)""",
        writes="decision_state"),
        Step("decisions.apply",
        f"""INSERT INTO result
        SELECT u.line_id, u.source, 'matched', 'decision:' || CAST(s.decision_id AS VARCHAR),
               'D' || CAST(s.decision_id AS VARCHAR),
               '人工决定 #' || CAST(s.decision_id AS VARCHAR) || ' (' || s.created_by || ', '
                   || strftime(s.created_at, '%Y-%m-%d %H:%M') || ', '
                   || CASE s.kind WHEN 'accept' THEN '接受差异' ELSE '指定配对' END || '): ' || s.reason,
               {finding("MANUAL_DECISION", id="s.decision_id", kind="s.kind")}
        FROM decision_state s JOIN universe u ON list_contains(s.line_ids, u.line_id)
        WHERE s.fit""", writes="result"))
    applied = [row[0] for row in r.fetch(Step("decisions.applied",
        "SELECT decision_id FROM decision_state WHERE fit ORDER BY 1"))]
    stale, reasons = [], {}
    for decision_id, present, total, earlier in r.fetch(Step("decisions.stale",
            """SELECT decision_id, present, len(line_ids), earlier FROM decision_state
               WHERE present > 0 AND (NOT whole OR (touches AND earlier IS NOT NULL)) ORDER BY 1""")):
        stale.append(decision_id)
        if earlier is not None:
            reasons[str(decision_id)] = (f"overlaps decision #{earlier}, which is applied instead; revoke one "
                                         "of them (recon resolve --revoke)")
        elif present < total:
            reasons[str(decision_id)] = (f"{total - present} of its {total} lines are no longer in the store as "
                                         "decided (replaced by a re-export, or outside this run); decide again")
        else:
            reasons[str(decision_id)] = "its lines changed (amount or date) since the decision; decide again"
    return {"applied": applied, "stale": stale, "reasons": reasons}


def listing(con, period_start=None, period_end=None) -> list[dict]:
    """Every decision (of a period: one of its lines dated in it) with who/when/why, its lines as
    ``FILE:LINE[@SHEET]`` and its state against the last finished run that could apply it:
    ``revoked``, ``applied``, ``stale`` (with why), or ``pending`` (made after that run, or in none)."""
    ledger.ensure(con)
    runs = con.execute("SELECT run_id, started_at, manifest_json FROM run WHERE exit_code IS DISTINCT FROM 130 "
                       "ORDER BY started_at DESC, run_id DESC").fetchall()
    rows = con.execute(
        """SELECT d.decision_id, d.kind, d.created_at, d.created_by, d.reason, len(d.line_ids),
                   (SELECT list(l.source_name || ':' || CAST(l.source_line AS VARCHAR)
                                || coalesce('@' || l.source_sheet, '') ORDER BY l.source_name, l.source_line)
                    FROM ledger_line l WHERE list_contains(d.line_ids, l.line_id)) AS refs,
                   r.revoked_at, r.revoked_by, r.reason
            FROM decision d LEFT JOIN decision_revocation r USING (decision_id)
            WHERE $start IS NULL OR EXISTS (
                SELECT 1 FROM ledger_line l WHERE list_contains(d.line_ids, l.line_id)
                  AND l.movement_date >= $start AND l.movement_date < $end)
            ORDER BY d.decision_id""", {"start": period_start, "end": period_end}).fetchall()
    out = []
    for decision_id, kind, created_at, by, reason, n, refs, revoked_at, revoked_by, revoke_reason in rows:
        item = {"decision_id": decision_id, "kind": kind, "created_at": created_at.isoformat(), "created_by": by,
                "reason": reason, "lines": n, "refs": sorted(set(refs or [])), "state": "pending", "run_id": None}
        if revoked_at is not None:
            item.update(state="revoked", revoked={"at": revoked_at.isoformat(), "by": revoked_by,
                                                  "reason": revoke_reason})
        else:
            for run_id, started, manifest in runs:
                decided = (json.loads(manifest or "{}").get("decisions") or {}) if started >= created_at else {}
                if decision_id in decided.get("applied", []):
                    item.update(state="applied", run_id=run_id)
                elif decision_id in decided.get("stale", []):
                    item.update(state="stale", run_id=run_id,
                                why=(decided.get("reasons") or {}).get(str(decision_id), "its lines changed"))
                else:
                    continue
                break
        out.append(item)
    return out


def for_run(con, run_id: str, manifest: dict) -> list[dict]:
    """The decisions a run applied or found stale (its manifest says which), with who/when/why, the
    lines each covers as ``FILE:LINE[@SHEET]`` and why a stale one was not applied: what the report's
    and the workbook's decision sections show an auditor."""
    decided = manifest.get("decisions") or {}
    state = {i: "applied" for i in decided.get("applied") or []}
    state.update({i: "stale" for i in decided.get("stale") or []})
    if not state:
        return []
    ledger.ensure(con)
    rows = con.execute(
        """SELECT d.decision_id, d.kind, strftime(d.created_at, '%Y-%m-%d %H:%M'), d.created_by, d.reason,
                  len(d.line_ids),
                  (SELECT list(l.source_name || ':' || CAST(l.source_line AS VARCHAR)
                               || coalesce('@' || l.source_sheet, '') ORDER BY l.source_name, l.source_line)
                   FROM ledger_line l WHERE list_contains(d.line_ids, l.line_id)) AS refs
           FROM decision d WHERE d.decision_id IN (SELECT unnest($ids)) ORDER BY d.decision_id""",
        {"ids": sorted(state)}).fetchall()
    reasons = decided.get("reasons") or {}
    return [{"decision_id": i, "state": state[i], "kind": kind, "created_at": at, "created_by": by, "reason": why,
             "lines": n, "refs": sorted(set(refs or [])), "why_stale": reasons.get(str(i), "") if state[i] == "stale"
             else ""} for i, kind, at, by, why, n, refs in rows]
