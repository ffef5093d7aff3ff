"""What changed between two runs of a period: the open items each run had, compared (``recon diff``).

Reads the store only: ``open_item_state`` and ``open_item_run`` (``recon.engine.open_items``) for the
items open in each run, ``line_result`` and ``run_file`` for the runs' lines and files. The
comparison is the one a run makes against the previous run of its period (``open_items.compare_sql``),
so ``recon diff`` of two consecutive runs says exactly what the later run reported; any two runs of a
period can be compared (the earlier one is taken as "before", whatever order they are given in).
Ages are counted to the later run's as-of date.
"""

from __future__ import annotations

from pathlib import Path

from recon.engine import open_items
from recon.engine.steps import Runner, Step
from recon.errors import ReconError
from recon.report.results import _write

COLUMNS = ("source", "source_file", "source_line", "source_sheet", "channel", "order_no", "currency", "amount",
           "status_before", "status_now", "state", "resolved_by", "first_seen", "age_days", "age_bucket")
# the lines' own fields, per family (the files named as the later run, else the earlier one, read them)
_LINES = " UNION ALL ".join(
    f"SELECT '{fam}' AS source, line_id, file_id, source_name, source_line, source_sheet, order_no, currency, amount "
    f"FROM {table}" for fam, table in (("platform", "platform_line"), ("erp", "erp_line"), ("bank", "bank_line")))
STATE_ORDER = "CASE state WHEN 'new' THEN 1 WHEN 'reopened' THEN 2 WHEN 'resolved' THEN 3 ELSE 4 END"


def runs_to_compare(con, run_a: str | None, run_b: str | None) -> tuple[dict, dict]:
    """The two runs (earlier first): those named, or one named and the run before it in its period, or
    the last two runs of the latest period. Each as {run_id, seq, period, as_of, config_sha}."""
    known = {r[0]: {"run_id": r[0], "seq": r[1], "period": r[2], "as_of": r[3], "config_sha": r[4]}
             for r in con.execute("""SELECT o.run_id, o.seq, o.period, o.as_of, o.config_sha FROM open_item_run o
                 JOIN run r USING (run_id) WHERE r.exit_code IS DISTINCT FROM 130 ORDER BY o.seq""").fetchall()}
    for rid in (run_a, run_b):
        if rid is not None and rid not in known:
            raise ReconError(f"no run {rid} with open items in this store; `recon runs` lists the runs "
                             "(runs made before recon kept open items cannot be compared)")
    if run_a is None:
        if not known:
            raise ReconError("no finished run with open items in this store yet: run `recon run` first")
        latest = list(known.values())[-1]["period"]
        chain = [r for r in known.values() if r["period"] == latest]
    elif run_b is None:
        a = known[run_a]
        chain = [r for r in known.values() if r["period"] == a["period"] and r["seq"] <= a["seq"]]
    else:
        a, b = sorted((known[run_a], known[run_b]), key=lambda r: r["seq"])
        if a["period"] != b["period"]:
            raise ReconError(f"{a['run_id']} is of {a['period']} and {b['run_id']} of {b['period']}: "
                             "`recon diff` compares two runs of one period")
        if a["run_id"] == b["run_id"]:
            raise ReconError("`recon diff` needs two different runs")
        return a, b
    if len(chain) < 2:
        raise ReconError(f"period {chain[-1]['period']} has only one run to compare ({chain[-1]['run_id']}); "
                         "run it again tomorrow, or name two runs")
    return chain[-2], chain[-1]


def steps(a: dict, b: dict) -> list[Step]:
    """Temp table ``run_diff``: one row per item open in either run, with its lines' fields (``COLUMNS``)."""
    p = {"a": a["run_id"], "b": b["run_id"], "period": a["period"], "seq_a": a["seq"], "as_of": b["as_of"],
         "rule_changed": a["config_sha"] != b["config_sha"]}
    compare = open_items.compare_sql(
        "(SELECT item_id, line_id FROM open_item_state WHERE run_id = $a AND state <> 'resolved')",
        "(SELECT item_id, line_id, status FROM open_item_state WHERE run_id = $b AND state <> 'resolved')",
        "(SELECT line_id, status, code, match_group FROM line_result WHERE run_id = $b)",
        "(SELECT line_id FROM line_result WHERE run_id = $a)",
        """(SELECT s.item_id FROM open_item_state s JOIN open_item_run o USING (run_id) JOIN run r USING (run_id)
            WHERE o.period = $period AND o.seq <= $seq_a AND s.state <> 'resolved'
              AND r.exit_code IS DISTINCT FROM 130)""",
        "(SELECT file_id FROM run_file WHERE run_id = $a)", "(SELECT file_id FROM run_file WHERE run_id = $b)")
    # the runs' outcomes are probed against the few compared lines (a month's lines never built into a hash table)
    diff = Step("diff.changes", f"""CREATE OR REPLACE TEMP TABLE run_diff AS
        WITH c AS MATERIALIZED ({compare}),
        ra AS (SELECT line_id, status, channel FROM line_result SEMI JOIN c USING (line_id) WHERE run_id = $a),
        rb AS (SELECT line_id, status, channel FROM line_result SEMI JOIN c USING (line_id) WHERE run_id = $b)
        SELECT l.source, coalesce(fb.rel_path, fa.rel_path, l.source_name) AS source_file, l.source_line,
               l.source_sheet, coalesce(rb.channel, ra.channel) AS channel, l.order_no, l.currency, l.amount,
               ra.status AS status_before, c.status AS status_now, c.state, c.resolved_by, i.first_seen,
               greatest(date_diff('day', i.first_seen, $as_of), 0) AS age_days,
               {open_items.bucket_sql("greatest(date_diff('day', i.first_seen, $as_of), 0)")} AS age_bucket,
               c.item_id, c.line_id
        FROM c JOIN open_item i USING (item_id)
        JOIN ({_LINES}) l ON l.line_id = c.line_id
        LEFT JOIN ra ON ra.line_id = c.line_id
        LEFT JOIN rb ON rb.line_id = c.line_id
        LEFT JOIN run_file fa ON fa.run_id = $a AND fa.file_id = l.file_id
        LEFT JOIN run_file fb ON fb.run_id = $b AND fb.file_id = l.file_id""", p, "run_diff")
    return [open_items.ledger_view(), diff]


def between(con, run_a: str | None = None, run_b: str | None = None) -> dict:
    """The changes from one run to another (``runs_to_compare``): a summary and one row per changed item.

    Items open in both runs (``persisting``) are counted and listed too: they are the ones ageing.
    """
    a, b = runs_to_compare(con, run_a, run_b)
    r = Runner(con)
    r.run(steps(a, b))
    summary = open_items.summarise(r, "run_diff", b["as_of"], a["run_id"])
    rows = r.fetch(Step("diff.rows", f"SELECT {', '.join(COLUMNS)} FROM run_diff "
                                     f"ORDER BY {STATE_ORDER}, abs(amount) DESC, source, source_file, source_line, "
                                     "line_id"))
    return {"before": a["run_id"], "now": b["run_id"], "period": a["period"], "as_of": b["as_of"].isoformat(),
            "summary": summary, "items": [dict(zip(COLUMNS, row)) for row in rows]}


# A run's items as it recorded them (open_item_state, $r), with their lines: the report's list, the workbook's sheet
ITEM_KEYS = ("state", "resolved_by", "source", "source_file", "source_line", "source_sheet", "order_no", "currency",
             "amount", "status", "first_seen", "age_days", "age_bucket")
ITEMS_SQL = f"""(SELECT s.state, s.resolved_by, l.source, coalesce(f.rel_path, l.source_name) AS source_file,
        l.source_line, l.source_sheet, l.order_no, l.currency, l.amount, s.status, s.first_seen, s.age_days,
        {open_items.bucket_sql('s.age_days')} AS age_bucket, l.line_id
    FROM open_item_state s JOIN ({_LINES}) l ON l.line_id = s.line_id
    LEFT JOIN run_file f ON f.run_id = s.run_id AND f.file_id = l.file_id
    WHERE s.run_id = $r)"""
ITEMS_ORDER = f"{STATE_ORDER}, abs(amount) DESC, source, source_file, source_line, line_id"


def for_run(con, run_id: str, shown: int = 10) -> dict | None:
    """What the top of a run's report shows (``recon.report.next_steps``): its open items' summary as
    the run recorded it, and its ``shown`` largest new, reopened and resolved items. None: a run made
    before recon kept open items."""
    row = con.execute("SELECT as_of, previous_run FROM open_item_run WHERE run_id = $r", {"r": run_id}).fetchall()
    if not row:
        return None
    as_of, prev = row[0]
    p = {"r": run_id, "n": shown}
    summary = open_items.summarise(Runner(con), "(SELECT * FROM open_item_state WHERE run_id = $r)", as_of, prev, p)
    rows = con.execute(f"SELECT * FROM {ITEMS_SQL} WHERE state <> 'persisting' ORDER BY {ITEMS_ORDER} LIMIT $n",
                       p).fetchall()
    return {"as_of": as_of.isoformat(), "previous_run": prev, "summary": summary,
            "changed": [dict(zip(ITEM_KEYS, r)) for r in rows]}


def write_csv(con, path: Path) -> Path:
    """``recon diff --out FILE.csv``: ``run_diff`` (built by ``between`` on ``con``) in results.csv's dialect."""
    text = {"source_file", "source_sheet", "channel", "order_no", "currency"}
    cols = ", ".join(f"r_safe({c}) AS {c}" if c in text else c for c in COLUMNS)
    path = Path(path)
    written = _write(con, f"SELECT {cols} FROM run_diff ORDER BY {STATE_ORDER}, abs(amount) DESC, source, "
                          "source_file, source_line, line_id", path.parent, path.name)
    return written
