"""Closing a period: `recon close` locks a month on its last finished run, `recon reopen` opens it again.

Why: after month end the books of the month are posted; a run of that month tonight must not quietly
produce other results or other vouchers. What the close does, and what an auditor can rely on:

- It locks the period's **last finished run** (not aborted) and names it. A period with no finished
  run cannot close. A run whose verdict is *incomplete* (a missing file or family, a failed proof:
  its counts say nothing about the month), that holds a dictionary code marked ``blocks_close``, or
  that lines of the period imported after it never saw, closes only with ``--force``; the close record and the log then say it was forced, and why. A run
  with breaks (unknown, review or quarantined lines) closes: its open items are part of what was
  closed, and the record carries the verdict.
- It refuses while the run log is broken (``recon verify``): a close on a store edited outside recon
  would vouch for what nobody can trust.
- It fixes the closed run's voucher numbers and totals in the close record; no number is ever
  assigned in a closed period again (``recon.engine.voucher_numbers``).
- A run of a closed period is refused (exit 2), naming `recon reopen`; new evidence for it goes into
  the next open period's run, where it becomes a prior-period adjustment voucher citing the closed run.
- Close and reopen each take who and why, are kept in table ``period_close`` (append-only: a period's
  state is its last event) and are events of the run log (kinds ``close``/``reopen``), so `recon verify`
  names a close record changed or deleted afterwards.
"""

from __future__ import annotations

import datetime as dt
import json

from recon import runlog
from recon.errors import ReconError
from recon.verdict import INCOMPLETE, Verdict


def _text(value: str | None, flag: str, what: str) -> str:
    text = (value or "").strip()
    if not text:
        raise ReconError(f"{flag} is required: {what}")
    return text


def state(con, period: str) -> dict | None:
    """The period's last close or reopen event (None: never closed)."""
    row = con.execute("SELECT event_no, action, run_id, logged_at, by_name, reason, forced, verdict FROM period_close "
                      "WHERE period = ? ORDER BY event_no DESC LIMIT 1", [period]).fetchone()
    if row is None:
        return None
    return {"event_no": row[0], "period": period, "action": row[1], "run_id": row[2], "at": row[3],
            "by": row[4], "reason": row[5], "forced": row[6], "verdict": row[7]}


def refuse_if_closed(con, period: str, imported: bool = False) -> None:
    """A run of a closed period would change its results: refuse it (exit 2), saying what to do."""
    s = state(con, period)
    if s is None or s["action"] != "close":
        return
    kept = (" The files were imported into the store; no results were written." if imported
            else " Nothing was imported or written.")
    raise ReconError(
        f"period {period} is closed (by {s['by']} at {s['at']:%Y-%m-%d %H:%M:%S}, on run {s['run_id']}; reason: "
        f"{s['reason']}): a run would change its results.{kept} Late files for {period} go into the next open "
        f"period's run, where what they change becomes a prior-period adjustment citing run {s['run_id']}; to "
        f"run {period} itself again, first: recon reopen --period {period} --by NAME --reason TEXT")


def _last_finished_run(con, period: str):
    return con.execute("SELECT run_id, exit_code, manifest_json FROM run WHERE period = ? AND exit_code IS NOT NULL "
                       "AND exit_code <> 130 ORDER BY started_at DESC, run_id DESC LIMIT 1", [period]).fetchone()


def _next_event(con) -> int:
    return con.execute("SELECT coalesce(max(event_no), 0) + 1 FROM period_close").fetchone()[0]


def close(con, period: str, by: str, reason: str, force: bool = False, chart=None) -> dict:
    """Lock ``period`` on its last finished run; returns the close record (with the vouchers it fixed)."""
    from recon.report.vouchers import build_vouchers

    by, reason = _text(by, "--by", "who closes the period"), _text(reason, "--reason", "why it closes now")
    with runlog.logged(con):
        chain = runlog.verify(con)
        if chain["problems"]:
            first = chain["first"]
            raise ReconError(f"the run log is broken ({first['problem']}): a close would vouch for a store changed "
                             "outside recon; `recon verify` names every broken link")
        s = state(con, period)
        if s is not None and s["action"] == "close":
            raise ReconError(f"period {period} is already closed (by {s['by']} at {s['at']:%Y-%m-%d %H:%M:%S}, on "
                             f"run {s['run_id']}); to close it on a newer run, reopen it first: recon reopen "
                             f"--period {period} --by NAME --reason TEXT")
        row = _last_finished_run(con, period)
        if row is None:
            raise ReconError(f"period {period} has no finished run to close on: run it first "
                             f"(recon run FOLDER --period {period}); `recon runs` lists the runs the store holds")
        run_id, exit_code, manifest_json = row
        verdict = Verdict.from_manifest(json.loads(manifest_json) if manifest_json else {}, exit_code)
        holds = _why_not(verdict) + _unseen(con, period, run_id)
        if holds and not force:
            raise ReconError(f"period {period}'s last finished run {run_id} cannot close it: " + "; ".join(holds)
                             + ". Fix what it names and run the period again, or, if it must close as it is, "
                               "pass --force (the close record and the run log then say it was forced, and why)")
        vouchers = [{"number": v.number, "code": v.code, "channel": v.channel, "adjusts": v.adjusts,
                     "total": str(v.total)} for v in build_vouchers(con, run_id, chart)]
        event_no = _record(con, period, "close", run_id, by, reason, verdict.state, vouchers, holds)
    return {"event_no": event_no, "period": period, "run_id": run_id, "verdict": verdict.state,
            "forced": bool(holds), "overridden": holds, "vouchers": vouchers, "by": by, "reason": reason}


def _why_not(verdict: Verdict) -> list[str]:
    """Why a run's verdict should not close its period (empty: it may)."""
    out = []
    if verdict.state == INCOMPLETE:
        out.append("its verdict is incomplete (" + "; ".join(
            r.sentence("en") for r in verdict.reasons if r.state == INCOMPLETE) + ")")
    out += [r.sentence("en") for r in verdict.reasons if r.code == "blocks_close"]
    return out


def _unseen(con, period: str, run_id: str) -> list[str]:
    """Lines of the period the store holds now that the run never saw (imported after it): the run is
    not the period's last word, so it should not be what closes it."""
    from recon.engine import ledger
    from recon.report.runs import period_end

    ledger.ensure(con)
    start, last = dt.date.fromisoformat(period + "-01"), period_end(period)
    n = con.execute("""SELECT count(*) FROM ledger_line l
        WHERE l.superseded_by IS NULL AND l.movement_date >= ? AND l.movement_date <= ?
          AND NOT EXISTS (SELECT 1 FROM line_result r WHERE r.run_id = ? AND r.line_id = l.line_id)""",
                    [start, last, run_id]).fetchone()[0]
    return [f"{n} line(s) dated in {period} were imported after run {run_id} and are not in it "
            f"(run the period again: recon run FOLDER --period {period})"] if n else []


def reopen(con, period: str, by: str, reason: str) -> dict:
    """Open a closed period again (logged); its next run may change its results."""
    by, reason = _text(by, "--by", "who reopens the period"), _text(reason, "--reason", "why it must change")
    with runlog.logged(con):
        s = state(con, period)
        if s is None or s["action"] != "close":
            raise ReconError(f"period {period} is not closed; `recon close --list` shows the closed periods")
        event_no = _record(con, period, "reopen", s["run_id"], by, reason, None, None, [])
    return {"event_no": event_no, "period": period, "run_id": s["run_id"], "by": by, "reason": reason}


def _record(con, period, action, run_id, by, reason, verdict, vouchers, overridden) -> int:
    """One close or reopen event, in the store and in the run log (inside the caller's transaction)."""
    event_no = _next_event(con)
    con.execute("INSERT INTO period_close VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [event_no, period, action, run_id, dt.datetime.now().replace(microsecond=0), by, reason,
                 bool(overridden), verdict, None if vouchers is None else json.dumps(vouchers, ensure_ascii=False),
                 json.dumps(overridden, ensure_ascii=False) if overridden else None])
    runlog.append(con, action, runlog.close_fact(con, event_no))
    return event_no


def listing(con) -> dict:
    """Every close and reopen event, oldest first, and each period's state now."""
    events = [runlog.close_fact(con, n) for (n,) in con.execute(
        "SELECT event_no FROM period_close ORDER BY event_no").fetchall()]
    periods: dict = {}
    for e in events:
        periods[e["period"]] = {"period": e["period"], "state": "closed" if e["action"] == "close" else "reopened",
                                "run_id": e["run_id"], "by": e["by"], "at": e["at"], "reason": e["reason"],
                                "forced": e["forced"], "overridden": e["overridden"]}
    return {"periods": [periods[p] for p in sorted(periods)], "events": events}
