"""The run's outcome line by line: temp table ``run_line``, each result with its universe line.

results.csv, the run record (``line_result``) and the root-cause summary all need a line's result
(status, code, group, explanation) beside its universe fields (file, line, channel, amount). Each
used to join ``result`` with ``universe`` on its own: three hash joins of every line of the month
on a 32-character id (at a million orders, 3.5 million lines a side and seconds each). ``run_line``
is that join done once, after the last step that writes ``result`` (the drill-down's findings), and
stored in results.csv order so the file is written straight from it without a second sort.

The conservation proof does not read ``run_line``: it checks ``result`` against ``universe``
directly, so a line lost or doubled on the way is caught whatever this table holds.
"""

from __future__ import annotations

from recon.sql.neutralise import NEUTRALISE_MACRO

# results.csv order: platform, ERP, bank; then file, sheet (as the file shows them, neutralised), line.
# (source, file, sheet, line) names one ledger line, so the order is total.
ORDER = ("CASE source WHEN 'platform' THEN 1 WHEN 'erp' THEN 2 ELSE 3 END, r_safe(source_file), "
         "r_safe(source_sheet) NULLS FIRST, source_line")
COLUMNS = ("line_id", "source", "source_file", "source_line", "source_sheet", "channel", "account", "order_no",
           "line_type", "currency", "amount", "status", "code", "match_group", "explanation")
# the result's own columns; ``family`` is the source the result was recorded under (line_result.family)
RESULT_SIDE = {"status": "r.status", "code": "r.code", "match_group": "r.match_group",
               "explanation": "r.explanation"}


def build(con) -> None:
    """Create ``run_line`` from the final ``result`` and ``universe``, sorted in results.csv order.

    Call it once ``result`` is final; a later change to ``result`` is not seen here.
    """
    con.execute(NEUTRALISE_MACRO)
    cols = ", ".join(RESULT_SIDE.get(c, f"u.{c}") for c in COLUMNS) + ", r.source AS family"
    # The sort happens once, here; DuckDB keeps a table's insertion order for a plain scan
    # (preserve_insertion_order, on by default), which is what recon.report.results relies on.
    con.execute(f"""CREATE OR REPLACE TEMP TABLE run_line AS
        SELECT * FROM (SELECT {cols} FROM universe u JOIN result r USING (line_id)) ORDER BY {ORDER}""")


def in_order(con) -> bool:
    """Whether a plain scan of ``run_line`` returns its rows in the order they were stored."""
    return bool(con.execute("SELECT current_setting('preserve_insertion_order')").fetchone()[0])
