"""results.csv and quarantine.csv: the results contract scripts and auditors rely on.

UTF-8 with BOM (so Excel shows Chinese), RFC 4180 (CRLF, quotes doubled), rows sorted by source,
file, sheet, line. DuckDB writes the rows (``COPY``), so a ten-million-line month costs seconds; we
only prepend the BOM. Text from input files that begins with ``= + - @ ＝``, a tab or a CR gets a
leading apostrophe so a spreadsheet shows it as text instead of running it; ``amount`` is written
as a plain number and never neutralised.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from recon import tempfiles
from recon.engine import open_items, outcome
from recon.sql.neutralise import NEUTRALISE_MACRO  # noqa: F401  (the CSV writers' r_safe, also used by vouchers)
from recon.sql.quote import quote_literal

RESULT_COLUMNS = (
    "source", "source_file", "source_line", "source_sheet", "channel", "account", "order_no",
    "line_type", "currency", "amount", "status", "code", "match_group", "explanation", "finding",
)

def _copy_with_bom(con, select_sql: str, path: Path, params=None) -> None:
    """COPY to a temp file whose name we chose (a user's --out path never enters SQL), then add the BOM."""
    scratch = tempfiles.scratch_dir("copy")  # named by pid: a killed run's copy is cleaned by the next run
    tmp = str(scratch / "out.csv")
    try:
        con.execute(
            f"COPY ({select_sql}) TO {quote_literal(tmp)} (FORMAT csv, HEADER, DELIMITER ',', QUOTE '\"', "
            f"NEW_LINE '\r\n')", params or {})
        with open(path, "wb") as out, open(tmp, "rb") as src:
            out.write(b"\xef\xbb\xbf")
            shutil.copyfileobj(src, out, 1024 * 1024)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _write(con, select_sql: str, out_dir: Path, name: str) -> Path:
    """One CSV output: the neutralising macro in place, then COPY with a BOM."""
    con.execute(NEUTRALISE_MACRO)
    path = Path(out_dir) / name
    _copy_with_bom(con, select_sql, path)
    return path


def write_results(con, out_dir: Path) -> Path:
    """Write OUT/results.csv from ``run_line`` (``recon.engine.outcome``: the results with their lines).

    ``run_line`` is stored in the file's order, so the COPY streams it without sorting again; should
    DuckDB ever be told not to keep insertion order, the same order is asked for explicitly.
    """
    text = {"source_file", "source_sheet", "channel", "account", "order_no", "line_type", "currency",
            "code", "match_group", "explanation", "finding"}
    cols = ", ".join(
        f"r_safe({c}) AS {c}" if c in text else c for c in RESULT_COLUMNS)
    if not _has(con, "open_line"):  # the engine alone (tests): no open items computed, the columns stay blank
        cols += ", " + ", ".join(f"NULL AS {c}" for c in open_items.CSV_COLUMNS)
        order = "" if outcome.in_order(con) else f" ORDER BY {outcome.ORDER}"
        return _write(con, f"SELECT {cols} FROM run_line{order}", out_dir, "results.csv")
    # the open items' columns (recon.engine.open_items) come last, joined on the integer line id. A join
    # hands rows on in no set order: the few open-item columns are lined up with run_line's stored order
    # first (a narrow sort), then pasted beside it by position, so the wide rows are never sorted again
    if not outcome.in_order(con):
        return _write(con, f"SELECT {', '.join('r.' + c for c in RESULT_COLUMNS)}, {open_items.CSV_SELECT} "
                           f"FROM (SELECT {cols}, line_id FROM run_line) r LEFT JOIN open_line o USING (line_id) "
                           f"ORDER BY {outcome.ORDER}", out_dir, "results.csv")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE results_open AS SELECT {open_items.CSV_SELECT}
        FROM run_line r LEFT JOIN open_line o ON o.line_id = r.line_id ORDER BY r.rowid""")
    return _write(con, f"SELECT {cols}, o.* FROM run_line POSITIONAL JOIN results_open o", out_dir, "results.csv")


def _has(con, table: str) -> bool:
    """Whether the connection holds temp table ``table``."""
    return bool(con.execute("SELECT count(*) FROM duckdb_tables() WHERE temporary AND table_name = $t",
                            {"t": table}).fetchall()[0][0])


def write_quarantine(con, out_dir: Path) -> Path:
    """Write OUT/quarantine.csv for the run's files: file, line, column, reason, the raw cells."""
    select = (
        "SELECT r_safe(f.rel_path) AS file, q.source_line AS line, r_safe(q.source_sheet) AS sheet, "
        "r_safe(q.column_name) AS column, r_safe(q.reason) AS reason, r_safe(q.source_format) AS format, "
        "r_safe(array_to_string(q.raw, ' | ')) AS raw "
        "FROM quarantine q JOIN run_files f USING (file_id) "
        "ORDER BY f.rel_path, q.source_sheet NULLS FIRST, q.source_line")
    return _write(con, select, out_dir, "quarantine.csv")


def write_baseline(con, out_dir: Path) -> Path:
    """Write OUT/order_baseline.csv: per order, the six dimensions by source (blank = that source cannot say)."""
    cols = [r[0] for r in con.execute("DESCRIBE run_baseline").fetchall()]
    select = "SELECT " + ", ".join(
        f"r_safe({c}) AS {c}" if c in ("order_no", "channel") else c for c in cols) + " FROM run_baseline"
    return _write(con, select, out_dir, "order_baseline.csv")
