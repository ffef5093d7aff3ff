"""The runs a store remembers: listing them (``recon runs``) and picking one to re-render.

Reports, the workbook and vouchers render from the store alone (``run``, ``line_result``,
``known_case``, …), so any past run can be re-exported without re-importing its files.
"""

from __future__ import annotations

import datetime as dt
import json

from recon.errors import ReconError
from recon.verdict import Verdict

STATUSES = ("matched", "known", "unknown", "review")


def period_end(period: str) -> dt.date:
    """The last day of a YYYY-MM period: the date of its vouchers and of its workbook's metadata."""
    start = dt.date.fromisoformat(period + "-01")
    following = dt.date(start.year + (start.month == 12), start.month % 12 + 1, 1)
    return following - dt.timedelta(days=1)


def latest_run(con) -> str:
    # an interrupted run (exit code 130) is never taken for the last one: it may lack results
    row = con.execute("SELECT run_id FROM run WHERE exit_code IS DISTINCT FROM 130 "
                      "ORDER BY started_at DESC, run_id DESC LIMIT 1").fetchone()
    if not row:
        raise ReconError("no finished run in this store yet: run `recon run` first (or pass --db with the right store)")
    return row[0]


def require_run(con, run_id: str) -> dict:
    """The run's row as a dict (manifest parsed); a run id the store lacks is a user error naming the fix."""
    row = con.execute("SELECT run_id, period, started_at, exit_code, manifest_json FROM run WHERE run_id = ?",
                      [run_id]).fetchone()
    if not row:
        raise ReconError(f"no run {run_id} in this store; `recon runs` lists the runs it holds")
    return {"run_id": row[0], "period": row[1], "started_at": row[2], "exit_code": row[3],
            "manifest": json.loads(row[4]) if row[4] else {}}


def list_runs(con) -> list[dict]:
    """Every run, oldest first: id, period, start, verdict (clean, breaks, incomplete or aborted), exit code,
    lines by status, input files."""
    counts: dict = {}
    for run_id, status, n in con.execute(
            "SELECT run_id, status, count(*) FROM line_result GROUP BY ALL ORDER BY 1, 2").fetchall():
        counts.setdefault(run_id, {})[status] = n
    out = []
    for run_id, period, started, exit_code, inputs, manifest_json in con.execute(
            """SELECT r.run_id, r.period, r.started_at, r.exit_code,
                      (SELECT count(*) FROM run_file f WHERE f.run_id = r.run_id), r.manifest_json
               FROM run r ORDER BY r.started_at, r.run_id""").fetchall():
        c = counts.get(run_id, {})
        aborted = exit_code == 130
        out.append({"run_id": run_id, "period": period, "started_at": started.isoformat(),
                    "verdict": "aborted" if aborted else Verdict.from_manifest(
                        json.loads(manifest_json) if manifest_json else {}, exit_code).state,
                    "exit_code": exit_code, "state": "aborted" if aborted else "finished", "inputs": inputs,
                    "counts": {s: c.get(s, 0) for s in STATUSES}})
    return out
