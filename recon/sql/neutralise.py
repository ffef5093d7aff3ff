"""Text neutralisation in SQL: ``r_safe``, applied to text from input files by every CSV writer.

Two rules, the same as ``neutralise`` in Python (``recon.report.cells``), so every text output agrees:

1. Control characters are stripped: NUL and the other C0 controls except tab, newline and carriage
   return (which CSV quoting carries and real exports hold), and DEL. A NUL cuts a cell short in
   many readers, and an escape sequence in a cell reaches the terminal of whoever ``cat``s the file.
2. Text that then begins with ``= + - @ ＝``, a tab or a CR gets a leading apostrophe, so a
   spreadsheet shows it as text instead of running it; NULL and '' pass through unchanged.

It lives here, below both the engine and the report writers, because the order of results.csv is the
order of its cells as written (the engine's ``run_line`` sorts by the neutralised file and sheet names).
The engine renders the expression (``r_safe(d, x)``) through its dialect; the CSV writers, which read
the DuckDB store, call the ``r_safe`` function that ``NEUTRALISE_MACRO`` defines on their connection.
"""

import re

from recon.sql.dialect import DUCKDB, Dialect

# The characters rule 1 strips: as a regular-expression class (RE2 and Python read it alike).
CONTROL_CLASS = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
CONTROL = re.compile(CONTROL_CLASS)

# ord(x) is the first code point (-1 for '', NULL for NULL): an integer test per cell. The strip is
# behind one RE2 search, so the common cell (no control character) costs a search and the integer
# test: about a third more than the test alone, where an unconditional replace cost ten times more.
# Two IN lists of at most four: DuckDB plans an IN list of five or more constants as a join against
# the list, and a join may hand rows on out of order, which results.csv (streamed from a sorted
# table) cannot allow.
_GUARD = "CASE WHEN {o} IN (61, 43, 45, 64) OR {o} IN (65309, 9, 13) THEN '''' || {v} ELSE {v} END"


def r_safe(d: Dialect, x: str) -> str:
    """The SQL of text ``x`` (an SQL expression) neutralised by both rules; ``d`` spells the code point."""
    stripped = f"regexp_replace({x}, '{CONTROL_CLASS}', '', 'g')"
    return (f"CASE WHEN regexp_matches({x}, '{CONTROL_CLASS}') "
            f"THEN {_GUARD.format(o=d.first_code_point(stripped), v=stripped)}\n"
            f"         ELSE {_GUARD.format(o=d.first_code_point(x), v=x)} END")


# the CSV writers' function r_safe(x) (they read the DuckDB store)
NEUTRALISE_MACRO = DUCKDB.define_function("r_safe", "x", r_safe(DUCKDB, "x"))


def strip_controls(text: str) -> str:
    """Rule 1 in Python: the characters ``r_safe`` strips, stripped (a fast test first: most text has none)."""
    if text.isprintable():
        return text
    cleaned = CONTROL.sub("", text)
    return text if cleaned == text else cleaned
