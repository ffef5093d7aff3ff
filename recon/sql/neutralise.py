"""Spreadsheet formula neutralisation in SQL: the ``r_safe`` macro every CSV writer applies to text.

Text from input files that begins with ``= + - @ ＝``, a tab or a CR gets a leading apostrophe, so a
spreadsheet shows it as text instead of running it; NULL and '' pass through unchanged. It lives
here, below both the engine and the report writers, because the order of results.csv is the order
of its cells as written (the engine's ``run_line`` sorts by the neutralised file and sheet names).
"""

# ord(x) is the first code point (-1 for '', NULL for NULL): an integer test per cell, not a regular
# expression per cell. Two IN lists of at most four: DuckDB plans an IN list of five or more constants
# as a join against the list, and a join may hand rows on out of order, which results.csv (streamed
# from a sorted table) cannot allow.
NEUTRALISE_MACRO = r"""CREATE OR REPLACE TEMP MACRO r_safe(x) AS
    CASE WHEN ord(x) IN (61, 43, 45, 64) OR ord(x) IN (65309, 9, 13) THEN '''' || x ELSE x END"""
