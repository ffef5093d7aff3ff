"""The run's outcome line by line: temp tables ``result`` (owned here) and ``run_line``.

``result`` holds one row per decided line (status, code, match group, explanation, finding). The passes
append to it (``recon.engine.match``); a later module that changes a decided line (the fee checks'
notes, the dictionary's verdicts, the drill-down's findings) never UPDATEs it: it writes its own table
of amended rows (one per line), and ``amend`` (a step built here) folds that table into ``result``.

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

from recon.engine.steps import Step, runner
from recon.sql.dialect import DUCKDB, Dialect
from recon.sql.neutralise import r_safe
from recon.sql.quote import quote_ident

# finding: the engine's reason for the status as stable codes (recon.engine.findings, recon.labels)
RESULT_COLUMNS = ("line_id", "source", "status", "code", "match_group", "explanation", "finding")
RESULT_DDL = """CREATE OR REPLACE TEMP TABLE result (line_id BIGINT NOT NULL, source VARCHAR,
   status VARCHAR, code VARCHAR, match_group VARCHAR, explanation VARCHAR, finding VARCHAR)"""



def order(d: Dialect) -> str:
    """results.csv order: platform, ERP, bank; then file, sheet (as the file shows them, neutralised), line.

    (source, file, sheet, line) names one ledger line, so the order is total.
    """
    return (f"CASE source WHEN 'platform' THEN 1 WHEN 'erp' THEN 2 ELSE 3 END, {r_safe(d, 'source_file')}, "
            f"{r_safe(d, 'source_sheet')} NULLS FIRST, source_line")


ORDER = order(DUCKDB)  # the CSV writers' (they read the DuckDB store)
COLUMNS = ("line_id", "source", "source_file", "source_line", "source_sheet", "channel", "account", "order_no",
           "line_type", "currency", "amount", "status", "code", "match_group", "explanation", "finding")
# the result's own columns; ``family`` is the source the result was recorded under (line_result.family)
RESULT_SIDE = {"status": "r.status", "code": "r.code", "match_group": "r.match_group",
               "explanation": "r.explanation", "finding": "r.finding"}


def create() -> Step:
    """The empty ``result``; no PRIMARY KEY: maintaining its index on every insert cost more than all
    the passes' joins (one line, one outcome is checked after the passes, and again by conservation)."""
    return Step("result", RESULT_DDL, writes="result")


def amend(name: str, table: str, columns) -> Step:
    """Step ``name``: the lines ``table`` holds take its ``columns`` in ``result``; every other line keeps its row.

    ``table`` has one row per amended line (``line_id`` plus ``columns``), written by the module that
    found the change. Only this module's step writes ``result``: an UPDATE joined to the (small) table
    of amended rows, which rewrites those rows alone rather than the month's whole result.
    """
    sets = ", ".join(f"{quote_ident(c)} = a.{quote_ident(c)}" for c in columns if c in RESULT_COLUMNS)
    return Step(name, f"UPDATE result SET {sets} FROM {quote_ident(table)} a WHERE result.line_id = a.line_id",
                writes="result")


def steps(d: Dialect) -> list[Step]:
    """``run_line`` from the final ``result`` and ``universe``, sorted in results.csv order (``d``: the dialect).

    Run them once ``result`` is final; a later change to ``result`` is not seen here.
    """
    cols = ", ".join(RESULT_SIDE.get(c, f"u.{c}") for c in COLUMNS) + ", r.source AS family"
    # The sort happens once, here; DuckDB keeps a table's insertion order for a plain scan
    # (preserve_insertion_order, on by default), which is what recon.report.results relies on.
    return [Step("outcome.run_line", f"""CREATE OR REPLACE TEMP TABLE run_line AS
        SELECT * FROM (SELECT {cols} FROM universe u JOIN result r USING (line_id)) ORDER BY {order(d)}""",
                 writes="run_line")]


def build(con) -> None:
    """Run ``steps`` (``con``: the run's ``Runner`` or a bare connection)."""
    r = runner(con)
    r.run(steps(r.dialect))


def in_order(con) -> bool:
    """Whether a plain scan of ``run_line`` returns its rows in the order they were stored."""
    return bool(con.execute("SELECT current_setting('preserve_insertion_order')").fetchone()[0])
