"""The run log: one append-only hash chain over everything an auditor must be able to trust.

Why: the store is a DuckDB file anyone with a SQL prompt can edit. A run's outcome, a clerk's
decision or its revocation changed afterwards must not pass unnoticed. Every such event is appended
to table ``log_event`` (``seq, kind, logged_at, payload_json, prev_hash, hash``): ``hash`` is the
SHA-256 of the event's canonical serialisation (``link``) including ``prev_hash``, the hash of the
event before it, so altering, deleting or re-ordering one event breaks every link after it.

Kinds: ``start`` (the chain's first event: the facts of every run, decision and revocation the
store held before it had a log, so a store made before this change is chained from then on),
``run`` (a recorded run: its row, its manifest's hash, inputs, rules and dictionary hashes and a
digest of its recorded outcome), ``abort`` (a recorded run later marked interrupted), ``outputs``
(the SHA-256 of each file a run published), ``decision`` and ``revoke``, ``close`` and ``reopen`` (a
period locked on a run, with the voucher numbers it fixed, or opened again: ``recon.period``).

``recon verify`` (``verify``) re-computes every link, then checks the store against the log: each
run, decision and revocation must equal the last fact logged for it, and nothing may be in the
store that the log does not hold. Findings name the event (seq, kind) and what differs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
from decimal import Decimal

GENESIS = "0" * 64
DDL = """CREATE TABLE IF NOT EXISTS log_event (seq BIGINT PRIMARY KEY, kind VARCHAR NOT NULL,
    logged_at TIMESTAMP NOT NULL, payload_json VARCHAR NOT NULL, prev_hash VARCHAR NOT NULL, hash VARCHAR NOT NULL)"""

# The recorded outcome of a run, digested per table (explicit columns: a column another feature adds
# later does not change the digest of runs logged before it).
_RUN_TABLES = {
    "line_result": ("family", "line_id", "status", "code", "match_group", "explanation", "channel", "finding"),
    "known_case": ("case_id", "code", "channel", "period", "residual", "line_ids", "source_refs", "explanation",
                   "blocks_close"),
    "correction_line": ("case_id", "code", "channel", "period", "line_no", "account", "debit", "credit",
                        "explanation", "basis"),
}


def _plain(value):
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot log a {type(value).__name__}")


def canonical(obj) -> str:
    """The one serialisation hashed: sorted keys, no spaces, UTF-8 text kept as is."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_plain)


def link(seq: int, kind: str, at: str, payload_json: str, prev_hash: str) -> str:
    """An event's hash: SHA-256 over its sequence number, kind, time, predecessor's hash and payload."""
    return hashlib.sha256(canonical([seq, kind, at, prev_hash, payload_json]).encode("utf-8")).hexdigest()


def _at(value) -> str:
    return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else str(value)


# ---------------------------------------------------------------- facts: what the log remembers


def _digest(con, table: str, run_id) -> str:
    """``rows:sum-hi:sum-lo`` over each row's MD5 (of its columns, each length-prefixed, so the
    encoding is one-to-one): any row changed, added or removed changes it. Order-free, and one SQL
    scan with one MD5 a row, so recording a run of millions of lines stays a matter of seconds."""
    cols = ", ".join(f"coalesce(length(CAST({c} AS VARCHAR)) || ':' || CAST({c} AS VARCHAR), '-'), ','"
                     for c in _RUN_TABLES[table])
    n, hi, lo = con.execute(
        f"""SELECT count(*), coalesce(sum(CAST(CAST(x >> 64 AS UBIGINT) AS HUGEINT)), 0),
                   coalesce(sum(CAST(CAST(x & CAST(18446744073709551615 AS UHUGEINT) AS UBIGINT) AS HUGEINT)), 0)
            FROM (SELECT md5_number(concat({cols})) AS x FROM {table} WHERE run_id = ?)""", [run_id]).fetchone()
    return f"{n}:{hi}:{lo}"


def run_fact(con, run_id) -> dict | None:
    """What the log holds about a run, read from the store now (None: no such run)."""
    row = con.execute("SELECT run_id, period, started_at, exit_code, summary_json, manifest_json FROM run "
                      "WHERE run_id = ?", [run_id]).fetchone()
    if row is None:
        return None
    manifest = json.loads(row[5]) if row[5] else {}
    sha = (lambda s: hashlib.sha256(s.encode("utf-8")).hexdigest() if s is not None else None)
    return {
        "run_id": row[0], "period": row[1], "started_at": _at(row[2]), "exit_code": row[3],
        "summary_sha256": sha(row[4]), "manifest_sha256": sha(row[5]),
        "inputs": [[p, f] for f, p in con.execute(
            "SELECT sha256, rel_path FROM run_file WHERE run_id = ? ORDER BY rel_path, 1",
            [run_id]).fetchall()],
        "rules": manifest.get("rules"), "dictionaries": manifest.get("dictionaries"),
        "fees": manifest.get("fees"), "decisions": (manifest.get("decisions") or {}).get("applied"),
        **{t: _digest(con, t, run_id) for t in _RUN_TABLES},
    }


def decision_fact(con, decision_id) -> dict | None:
    row = con.execute("SELECT decision_id, kind, created_at, created_by, reason, line_ids, fingerprint "
                      "FROM decision WHERE decision_id = ?", [decision_id]).fetchone()
    if row is None:
        return None
    return {"decision_id": row[0], "kind": row[1], "created_at": _at(row[2]), "created_by": row[3],
            "reason": row[4], "line_ids": [str(i) for i in row[5]], "fingerprint": row[6]}


def revocation_fact(con, decision_id) -> dict | None:
    row = con.execute("SELECT decision_id, revoked_at, revoked_by, reason FROM decision_revocation "
                      "WHERE decision_id = ?", [decision_id]).fetchone()
    if row is None:
        return None
    return {"decision_id": row[0], "revoked_at": _at(row[1]), "revoked_by": row[2], "reason": row[3]}


def close_fact(con, event_no) -> dict | None:
    """A period's close or reopen event (``recon.period``) as the store holds it."""
    row = con.execute("SELECT event_no, period, action, run_id, logged_at, by_name, reason, forced, verdict, "
                      "vouchers_json, overridden_json FROM period_close WHERE event_no = ?", [event_no]).fetchone()
    if row is None:
        return None
    return {"event_no": row[0], "period": row[1], "action": row[2], "run_id": row[3], "at": _at(row[4]),
            "by": row[5], "reason": row[6], "forced": row[7], "verdict": row[8],
            "vouchers": json.loads(row[9]) if row[9] else None, "overridden": json.loads(row[10]) if row[10] else []}


# (event kind that logs it, fact reader, SQL listing the store's ids) per subject
SUBJECTS = {
    "run": (("run", "abort"), run_fact, "SELECT run_id FROM run ORDER BY started_at, run_id"),
    "decision": (("decision",), decision_fact, "SELECT decision_id FROM decision ORDER BY 1"),
    "revocation": (("revoke",), revocation_fact, "SELECT decision_id FROM decision_revocation ORDER BY 1"),
    "period close": (("close", "reopen"), close_fact, "SELECT event_no FROM period_close ORDER BY 1"),
}
_KEYS = {"run": "run_id", "decision": "decision_id", "revocation": "decision_id", "period close": "event_no"}


# ---------------------------------------------------------------- writing


def ensure(con) -> None:
    con.execute(DDL)


@contextlib.contextmanager
def logged(con):
    """One transaction around a change and its event: both are kept, or neither."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def append(con, kind: str, payload: dict) -> int:
    """Append one event (after the ``start`` event, if the log is empty); return its seq.

    Call it inside the transaction that makes the change it logs, so the two commit together.
    """
    ensure(con)
    if con.execute("SELECT count(*) FROM log_event").fetchone()[0] == 0:
        # remembered beside the log: a log emptied later is then a finding, not a store made before it
        con.execute("INSERT OR REPLACE INTO store_meta VALUES ('run_log', 'started')")
        _write(con, "start", {subject: [fact(con, key) for (key,) in con.execute(sql).fetchall()]
                              for subject, (_, fact, sql) in SUBJECTS.items()})
    return _write(con, kind, payload)


def _write(con, kind: str, payload: dict) -> int:
    last = con.execute("SELECT seq, hash FROM log_event ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    at = dt.datetime.now().replace(microsecond=0)
    body = canonical(payload)
    con.execute("INSERT INTO log_event VALUES (?, ?, ?, ?, ?, ?)",
                [seq, kind, at, body, prev, link(seq, kind, _at(at), body, prev)])
    return seq


def record_run(con, run_id, kind: str = "run") -> int:
    """Log a run as the store now records it (``abort``: a recorded run marked interrupted)."""
    return append(con, kind, run_fact(con, run_id))


def record_outputs(con, run_id, output_sha256: dict, manifest_sha256: str | None = None) -> int:
    """Log the SHA-256 of each file a run published (the manifest's ``output_sha256``)."""
    return append(con, "outputs", {"run_id": run_id, "output_sha256": dict(sorted(output_sha256.items())),
                                   "manifest_sha256": manifest_sha256})


# ---------------------------------------------------------------- reading and checking


def events(con, upto: int | None = None):
    """Every event in seq order as dicts (``upto``: up to that seq), fetched in batches."""
    ensure(con)
    cur = con.execute("SELECT seq, kind, logged_at, payload_json, prev_hash, hash FROM log_event "
                      "WHERE $upto IS NULL OR seq <= $upto ORDER BY seq", {"upto": upto})
    while batch := cur.fetchmany(1000):
        for seq, kind, at, payload, prev, digest in batch:
            yield {"seq": seq, "kind": kind, "at": _at(at), "payload_json": payload, "prev_hash": prev,
                   "hash": digest}


def check_links(stream) -> tuple[list[dict], dict]:
    """Re-compute each link of ``stream`` (events in seq order). Returns (problems, {events, head}).

    A segment may start anywhere (a pack carries the log up to its run): its first ``prev_hash`` is
    taken as given unless it is seq 1, whose predecessor is ``GENESIS``.
    """
    problems, prev, n, head = [], None, 0, None
    for e in stream:
        n += 1
        seq, kind = e["seq"], e["kind"]
        if prev is None:
            if seq == 1 and e["prev_hash"] != GENESIS:
                problems.append(_problem(seq, kind, "the first event does not start the chain (its prev_hash is "
                                                    "not the genesis value)"))
        elif seq != prev["seq"] + 1:
            problems.append(_problem(seq, kind, f"events {prev['seq'] + 1}..{seq - 1} are missing (deleted)"))
        elif e["prev_hash"] != prev["hash"]:
            problems.append(_problem(seq, kind, f"its prev_hash {e['prev_hash'][:12]}… is not the hash of event "
                                                f"{prev['seq']} ({prev['hash'][:12]}…): an event was replaced"))
        if link(seq, kind, e["at"], e["payload_json"], e["prev_hash"]) != e["hash"]:
            problems.append(_problem(seq, kind, "its content no longer hashes to its hash: the logged event "
                                                "was altered"))
        prev, head = e, e["hash"]
    return problems, {"events": n, "head": head}


def _problem(seq, kind, what, subject=None) -> dict:
    return {"seq": seq, "kind": kind, "subject": subject, "problem": what}


def _differs(logged: dict, now: dict) -> str:
    keys = sorted(set(logged) | set(now), key=lambda k: (k != "exit_code", k))
    parts = []
    for k in (k for k in keys if logged.get(k) != now.get(k)):
        if k in _RUN_TABLES:
            rows = (str(now.get(k) or "0").split(":")[0], str(logged.get(k) or "0").split(":")[0])
            parts.append(f"its {k} rows differ ({rows[0]} rows now, {rows[1]} logged)")
        elif isinstance(now.get(k), (list, dict)) or isinstance(logged.get(k), (list, dict)):
            parts.append(f"{k} differs from what the log recorded")
        else:
            parts.append(f"{k} is {now.get(k)!r}, the log recorded {logged.get(k)!r}")
    return "; ".join(parts)


def verify(con) -> dict:
    """Check the chain's links, then the store against the log.

    Returns ``{"events", "head", "problems": [{seq, kind, subject, problem}], "first": problem or None}``,
    problems ordered by seq (a subject the log never saw last): ``first`` is the first broken link.
    """
    logged: dict = {s: {} for s in SUBJECTS}  # subject -> key -> (seq, kind, fact)
    order = {kinds_: s for s, (kinds, _, _) in SUBJECTS.items() for kinds_ in kinds}

    def remember(stream):
        for e in stream:
            payload = json.loads(e["payload_json"])
            if e["kind"] == "start":
                for subject in SUBJECTS:
                    for fact in payload.get(subject) or []:
                        logged[subject][fact[_KEYS[subject]]] = (e["seq"], "start", fact)
            elif e["kind"] in order:
                subject = order[e["kind"]]
                logged[subject][payload[_KEYS[subject]]] = (e["seq"], e["kind"], payload)
            yield e

    problems, info = check_links(remember(events(con)))
    started = con.execute("SELECT 1 FROM store_meta WHERE key = 'run_log'").fetchone() is not None
    info["started"] = started or bool(info["events"])
    if started and not info["events"]:
        problems.append(_problem(None, None, "the run log was emptied: the store says it was started, and it "
                                             "holds no event", "run log"))
    if info["events"]:
        for subject, (_, fact, sql) in SUBJECTS.items():
            keys = [k for (k,) in con.execute(sql).fetchall()]
            for key in keys:
                now = fact(con, key)
                if key not in logged[subject]:
                    problems.append(_problem(None, None, f"{subject} {key} is in the store but not in the run log: "
                                                         "it was added outside recon", f"{subject} {key}"))
                    continue
                seq, kind, was = logged[subject][key]
                if was != now:
                    problems.append(_problem(seq, kind, f"the store's {subject} {key} differs from the log: "
                                                        f"{_differs(was, now)}", f"{subject} {key}"))
            for key, (seq, kind, _) in logged[subject].items():
                if key not in set(keys):
                    problems.append(_problem(seq, kind, f"{subject} {key} is in the run log but no longer in the "
                                                        "store (deleted)", f"{subject} {key}"))
    problems.sort(key=lambda p: (p["seq"] is None, p["seq"] or 0))
    return {**info, "problems": problems, "first": problems[0] if problems else None}


def check_published(con, run_id, manifest_sha256: str) -> str | None:
    """Whether a published ``manifest.json`` (by its SHA-256) is the one run ``run_id`` logged when it
    published its outputs: its ``output_sha256`` then vouches for every output. None when it is."""
    ensure(con)
    row = con.execute("SELECT seq, payload_json FROM log_event WHERE kind = 'outputs' "
                      "AND json_extract_string(payload_json, '$.run_id') = ? ORDER BY seq DESC LIMIT 1",
                      [str(run_id)]).fetchone()
    if row is None:
        return (f"the run log holds no published outputs of run {run_id} (a run made before the store kept a "
                "log, or not run against this store): its manifest.json cannot be checked against the log")
    if json.loads(row[1]).get("manifest_sha256") != manifest_sha256:
        return (f"manifest.json is not the manifest run {run_id} published (event {row[0]} of the run log holds "
                "another SHA-256): the set and its manifest were changed together, or come from another store")
    return None


def seq_of_run(con, run_id) -> int | None:
    """The seq of the last event about ``run_id`` (its run, abort or outputs event); None if unlogged."""
    ensure(con)
    row = con.execute("SELECT max(seq) FROM log_event WHERE kind IN ('run', 'abort', 'outputs') "
                      "AND json_extract_string(payload_json, '$.run_id') = ?", [str(run_id)]).fetchone()
    return row[0] if row else None
