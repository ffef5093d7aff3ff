"""Connection settings the engine changes for a stretch of statements, and always puts back.

DuckDB keeps the insertion order of rows by default (``preserve_insertion_order``): a table
created without ORDER BY lists its rows in the order they were produced, which costs an ordered
hand-over between threads at every step. The matching steps never rely on it (every id, list and
tie-break has an explicit ORDER BY, and nothing scans their tables expecting an order), so they run
without it; the tables whose order is an output (``run_baseline``, ``run_line``) are built with it.
"""

from __future__ import annotations

from contextlib import contextmanager


@contextmanager
def any_order(con):
    """Within the block, DuckDB may store and hand on rows of statements without ORDER BY in any order."""
    before = con.execute("SELECT current_setting('preserve_insertion_order')").fetchone()[0]
    con.execute("SET preserve_insertion_order = false")
    try:
        yield con
    finally:
        con.execute(f"SET preserve_insertion_order = {'true' if before else 'false'}")
