"""Open items across runs: every unknown or review line keeps its first-seen date, its age and its change.

A clerk runs recon every night of the month. This module turns each run from an island into one link
of a chain: each open line (status ``unknown`` or ``review``) is an *open item* with an identity that
survives re-imports, the date it was first seen open, and its state against the previous finished run
of the same period:

- ``new``: open tonight, never open in an earlier run of the period;
- ``persisting``: open tonight and in the previous run;
- ``reopened``: open tonight, not in the previous run, but open in an earlier run of the period;
- ``resolved``: open in the previous run, not tonight, with how (``resolved_by``):
  ``decision`` (a manual decision, code ``decision:<id>``, now decides it), ``correction`` (its line
  was replaced by a newer version of its document and is no longer live), ``new_file`` (it is now
  matched or explained together with a line the previous run did not hold, or the run read files the
  previous one did not), ``rule`` (the rules, fees, baseline, channels, dictionaries or evidence
  window changed and no new file explains it) and ``other`` (none of these; the store keeps every line
  of the period and the same files and configuration reproduce a run's results, so it should not occur).

**Identity.** An item is keyed on its line's *natural key*: (family, source format, natural key,
occurrence of that key), plus, should two live lines of one run still share that, their rank by line
id. Not on the line id, nor on the file's SHA-256 and physical line: a re-downloaded file whose
overlapping lines are duplicates keeps the original line ids anyway (``recon.io.load``), but a
corrected version of a document (a profile's ``version_key``) loads every line of the document anew
under new line ids, and a bill saved again with one row inserted shifts every physical line after it.
In both cases the same business line is the same open item and keeps its age; the natural key is
exactly what the import uses to say "this line is already here". The join goes by a 63-bit integer
(``item_key``: the MD5 of the key, stable across DuckDB versions, unlike ``hash``) and, since an
integer can collide, by the key's own fields too (as ``recon.engine.keys`` does).

**Clock.** ``first_seen`` is the run's ``as_of`` date (``recon run --as-of``, default today) of the
first run that saw the item open; ``age_days`` is ``as_of - first_seen`` (never below 0) and the
bucket is 0-1, 2-7, 8-30 or >30 days. Setting the clock per run lets nightly runs be replayed and tested.

Tables (``recon.store``): ``open_item`` (one row per identity, with its first sighting),
``open_item_run`` (per run: period, as-of date, the previous run compared against, the configuration
fingerprint) and ``open_item_state`` (per run: each item open in it or resolved by it). The run's
temp table ``open_line`` holds tonight's rows for results.csv (joined on the integer line id).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

from recon.engine.steps import Runner, Step

OPEN = ("unknown", "review")
STATES = ("new", "persisting", "reopened", "resolved")
RESOLVED_BY = ("new_file", "rule", "decision", "correction", "other")
BUCKETS = ("0-1", "2-7", "8-30", ">30")
# results.csv's new columns, appended after the existing ones (existing readers keep working)
CSV_COLUMNS = ("open_state", "resolved_by", "first_seen", "age_days", "age_bucket")


def bucket_sql(days: str) -> str:
    """The age bucket of an age in days (a SQL expression of ``days``)."""
    return (f"CASE WHEN {days} IS NULL THEN NULL WHEN {days} <= 1 THEN '0-1' WHEN {days} <= 7 THEN '2-7' "
            f"WHEN {days} <= 30 THEN '8-30' ELSE '>30' END")


# The key fields of each ledger family's lines, and whether a newer version replaced the line.
OI_LEDGER = " UNION ALL ".join(
    f"SELECT '{fam}' AS family, line_id, source_format, natural_key, occurrence, superseded_by FROM {table}"
    for fam, table in (("platform", "platform_line"), ("erp", "erp_line"), ("bank", "bank_line")))
ITEM_KEY = ("CAST(md5_number(family || chr(31) || source_format || chr(31) || natural_key || chr(31) "
            "|| CAST(occurrence AS VARCHAR) || chr(31) || CAST(nth AS VARCHAR)) >> 65 AS BIGINT)")
SAME_KEY = ("{a}.item_key = {b}.item_key AND {a}.family = {b}.family AND {a}.source_format = {b}.source_format "
            "AND {a}.natural_key = {b}.natural_key AND {a}.occurrence = {b}.occurrence AND {a}.nth = {b}.nth")


def compare_sql(prev_open: str, cur_open: str, cur_lines: str, prev_lines: str, earlier: str,
                prev_files: str, cur_files: str) -> str:
    """One SELECT classifying every item open in either run: (item_id, line_id, status, state, resolved_by).

    Shared by the run (tonight against the previous run) and ``recon diff`` (any two runs of a
    period). The arguments are relations (table names or parenthesised queries built by recon, never
    user text): ``prev_open``/``cur_open`` (item_id, line_id[, status]) the items open in each run,
    ``cur_lines``/``prev_lines`` (line_id[, status, code, match_group]) each run's lines,
    ``earlier`` (item_id) the items open in some run of the period up to the earlier one,
    ``prev_files``/``cur_files`` (file_id) the files each run read. ``$rule_changed`` is bound.
    """
    return f"""
    -- open then, not now; a line open now under another identity is not resolved (one row per line)
    WITH gone AS (SELECT p.item_id, p.line_id FROM {prev_open} p ANTI JOIN {cur_open} o USING (item_id)
                  ANTI JOIN {cur_open} l ON l.line_id = p.line_id),
    -- the gone lines' outcome now and whether a newer version replaced them: the month's lines are
    -- probed against the few gone ones, never built into a hash table
    now AS (SELECT c.line_id, c.status, c.code, c.match_group FROM {cur_lines} c SEMI JOIN gone USING (line_id)),
    sup AS (SELECT k.line_id, k.superseded_by FROM oi_ledger k SEMI JOIN gone USING (line_id)),
    -- the match groups that now hold a resolved line, their members, and those the earlier run lacked
    res_groups AS (SELECT DISTINCT match_group FROM now WHERE match_group IS NOT NULL),
    members AS (SELECT c.line_id, c.match_group FROM {cur_lines} c SEMI JOIN res_groups USING (match_group)),
    -- the earlier run's lines probed against the few members (never a hash table of a whole month's lines)
    held AS (SELECT p.line_id FROM {prev_lines} p SEMI JOIN members USING (line_id)),
    grp_new AS (SELECT DISTINCT m.match_group FROM members m ANTI JOIN held USING (line_id)),
    new_files AS (SELECT count(*) > 0 AS yes FROM {cur_files} f ANTI JOIN {prev_files} p USING (file_id))
    SELECT o.item_id, o.line_id, o.status,
           CASE WHEN p.item_id IS NOT NULL THEN 'persisting' WHEN e.item_id IS NOT NULL THEN 'reopened'
                ELSE 'new' END AS state, CAST(NULL AS VARCHAR) AS resolved_by
    FROM {cur_open} o LEFT JOIN {prev_open} p USING (item_id)
    LEFT JOIN (SELECT DISTINCT item_id FROM {earlier}) e USING (item_id)
    UNION ALL
    SELECT g.item_id, g.line_id, c.status, 'resolved',
           CASE WHEN c.code LIKE 'decision:%' THEN 'decision'
                WHEN c.line_id IS NULL AND s.superseded_by IS NOT NULL THEN 'correction'
                WHEN c.line_id IS NULL THEN 'other'
                WHEN n.match_group IS NOT NULL THEN 'new_file'
                WHEN $rule_changed THEN 'rule'
                WHEN (SELECT yes FROM new_files) THEN 'new_file'
                ELSE 'other' END
    FROM gone g LEFT JOIN now c ON c.line_id = g.line_id
    LEFT JOIN sup s ON s.line_id = g.line_id
    LEFT JOIN grp_new n ON n.match_group = c.match_group"""


def ledger_view() -> Step:
    """Temp view ``oi_ledger``: every ledger line's key fields (``OI_LEDGER``)."""
    return Step("open_items.ledger", f"CREATE OR REPLACE TEMP VIEW oi_ledger AS {OI_LEDGER}")


def config_sha(settings, evidence_days: int) -> str:
    """A fingerprint of everything besides the inputs that decides a line's status: a change is a ``rule`` change."""
    dictionary = settings.dictionary
    facts = {"rules": settings.rules.sha256, "fees": settings.fee_rules.sha256,
             "baseline": settings.baseline_rules.sha256, "channels": repr(settings.channels),
             "dictionaries": list(dictionary.sources) if dictionary is not None else None,
             "evidence_days": evidence_days}
    return hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()


def previous_run(con, period: str):
    """(run_id, config_sha) of the last finished run of ``period`` that recorded open items, or None.

    Ordered by the store's own sequence (``open_item_run.seq``), not the start time: two runs in
    one second must still be told apart.
    """
    row = con.execute("""SELECT o.run_id, o.config_sha FROM open_item_run o JOIN run r USING (run_id)
        WHERE o.period = $p AND r.exit_code IS DISTINCT FROM 130 ORDER BY o.seq DESC LIMIT 1""",
                      {"p": period}).fetchall()
    return tuple(row[0]) if row else None


def steps(as_of: dt.date, period: str, prev: str | None, rule_changed: bool) -> list[Step]:
    """Tonight's items (``oi_cur``), their comparison with ``prev`` and the temp table ``open_line``.

    Reads ``run_line`` (``recon.engine.outcome``) and ``run_files``; writes only its own tables.
    """
    p = {"as_of": as_of, "period": period, "prev": prev or "", "rule_changed": rule_changed}
    now = Step("open_items.now", f"""CREATE OR REPLACE TEMP TABLE oi_now AS
        SELECT *, {ITEM_KEY} AS item_key FROM (
            SELECT r.line_id, r.family, r.status, k.source_format, k.natural_key, k.occurrence,
                   row_number() OVER (PARTITION BY r.family, k.source_format, k.natural_key, k.occurrence
                                      ORDER BY r.line_id) AS nth
            FROM run_line r JOIN oi_ledger k ON k.line_id = r.line_id AND k.family = r.family
            WHERE r.status IN ('unknown', 'review'))""", p, "oi_now")
    # an identity seen before keeps its item id and first sighting; a new one is numbered after the store's last
    ids = Step("open_items.ids", f"""CREATE OR REPLACE TEMP TABLE oi_cur AS
        SELECT n.line_id, n.family, n.status, n.source_format, n.natural_key, n.occurrence, n.nth, n.item_key,
               coalesce(i.item_id, (SELECT coalesce(max(item_id), 0) FROM open_item)
                        + row_number() OVER (ORDER BY i.item_id IS NOT NULL, n.line_id)) AS item_id,
               i.item_id IS NULL AS is_new, coalesce(i.first_seen, $as_of) AS first_seen
        FROM oi_now n LEFT JOIN open_item i ON {SAME_KEY.format(a='i', b='n')}""", p, "oi_cur")
    prev_open = Step("open_items.prev", """CREATE OR REPLACE TEMP TABLE oi_prev AS
        SELECT item_id, line_id FROM open_item_state WHERE run_id = $prev AND state <> 'resolved'""", p, "oi_prev")
    earlier = Step("open_items.earlier", """CREATE OR REPLACE TEMP TABLE oi_earlier AS
        SELECT DISTINCT s.item_id FROM open_item_state s JOIN open_item_run o USING (run_id) JOIN run r USING (run_id)
        WHERE o.period = $period AND s.state <> 'resolved' AND r.exit_code IS DISTINCT FROM 130""", p, "oi_earlier")
    compare = compare_sql(
        "oi_prev", "oi_cur", "run_line",
        "(SELECT line_id FROM line_result WHERE run_id = $prev)", "oi_earlier",
        "(SELECT file_id FROM run_file WHERE run_id = $prev)", "run_files")
    state = Step("open_items.state", f"""CREATE OR REPLACE TEMP TABLE open_line AS
        SELECT c.item_id, c.line_id, c.status, c.state, c.resolved_by, f.first_seen,
               greatest(date_diff('day', f.first_seen, $as_of), 0) AS age_days
        FROM ({compare}) c
        JOIN (SELECT item_id, first_seen FROM oi_cur UNION ALL
              SELECT item_id, first_seen FROM open_item
              SEMI JOIN oi_prev USING (item_id) ANTI JOIN oi_cur USING (item_id)) f
          USING (item_id)""", p, "open_line")
    return [ledger_view(), now, ids, prev_open, earlier, state]


def run(r: Runner, period: str, as_of: dt.date, config: str) -> dict:
    """Compute tonight's open items and their changes; return the summary for the manifest (``--json``)."""
    prev = previous_run(r.con, period)
    rule_changed = prev is not None and prev[1] != config
    r.run(steps(as_of, period, prev[0] if prev else None, rule_changed))
    r.run(Step("open_items.run", """CREATE OR REPLACE TEMP TABLE oi_run AS
        SELECT $period AS period, $as_of AS as_of, $prev AS previous_run, $config AS config_sha""",
               {"period": period, "as_of": as_of, "prev": prev[0] if prev else None, "config": config}, "oi_run"))
    return summarise(r, "open_line", as_of, prev[0] if prev else None)


def summarise(r: Runner, table: str, as_of: dt.date, prev: str | None, params: dict | None = None) -> dict:
    """Counts by state, by age bucket of the open items, and by how the resolved ones were resolved.

    ``table``: a relation with ``state``, ``resolved_by`` and ``age_days`` (``params`` bound in it).
    """
    rows = r.fetch(Step("open_items.summary", f"""SELECT state, resolved_by, {bucket_sql('age_days')}, count(*)
        FROM {table} GROUP BY ALL ORDER BY ALL""", params or {}))
    states = {s: 0 for s in STATES}
    ages = {b: 0 for b in BUCKETS}
    how = {b: 0 for b in RESOLVED_BY}
    for state, resolved_by, bucket, n in rows:
        states[state] += n
        if state == "resolved":
            how[resolved_by] += n
        else:
            ages[bucket] += n
    return {"as_of": as_of.isoformat(), "previous_run": prev, "open": sum(ages.values()),
            "states": states, "age_buckets": ages, "resolved_by": how}


def record(con, run_id: str) -> None:
    """Keep tonight's items in the store (inside the run's transaction): new identities, states, the run."""
    p = {"r": run_id}
    con.execute("""INSERT INTO open_item SELECT item_id, item_key, family, source_format, natural_key, occurrence,
        nth, $r, first_seen FROM oi_cur WHERE is_new""", p)
    con.execute("""INSERT INTO open_item_state SELECT $r, item_id, line_id, status, state, resolved_by, first_seen,
        age_days FROM open_line""", p)
    con.execute("""INSERT INTO open_item_run SELECT $r, (SELECT coalesce(max(seq), 0) + 1 FROM open_item_run),
        period, as_of, previous_run, config_sha FROM oi_run""", p)


# results.csv's open-item columns over ``open_line o`` (a line that is not an open item: all blank)
CSV_SELECT = (f"o.state AS open_state, o.resolved_by, o.first_seen, o.age_days, "
              f"{bucket_sql('o.age_days')} AS age_bucket")
