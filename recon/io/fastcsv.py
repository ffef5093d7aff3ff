"""Stage a clean CSV/TSV part with DuckDB's own CSV reader instead of row by row through Python.

Why: the Python path (``containers.text_rows`` -> ``tabular.Table.data_rows`` -> Arrow batches)
costs a few microseconds per row in the interpreter, which at millions of ledger lines is most of an
import. DuckDB parses the same text in C, in parallel.

When: only when the result is provably the one the Python path would give, so nothing downstream
(typing, keys, quarantine, proofs, line numbers) can tell which reader ran. The data region (after
the header, before the first footer row) must be made of one-line records only, every row as wide
as the header (trailing empty cells aside), no blank or repeated-header row inside it, and quotes
only where both readers agree on them. Anything else, and any profile whose footer rule looks at
whole rows (``footer.stop``), falls back to the Python path for that part. A fallback is never an
error; ``PartReport.reader`` and ``fallback`` say which reader ran and why.

How each condition is proved, cheaply (C-speed string scans, no Python loop over data rows):

- records are lines: every ``"`` must belong to a well-formed quoted cell on one line (``"…"`` from a
  cell's start to its end, inner quotes doubled) or to an Excel text cell ``="…"``; then DuckDB
  sees no quoted newline and must return exactly one row per line, which is checked (a skipped blank
  line or a row it could not read makes the counts differ);
- footer and repeated-header rows are decided by ``tabular`` from the first cell alone
  (``footer.stop`` aside). A line whose first cell starts, after spaces, tabs, quotes, backticks or
  apostrophes, with an ASCII letter or digit cannot be either (unless the header or a summary title
  starts with that letter, which is then checked too); the first cells of all other lines are found
  with one regex and each distinct one is judged once by ``tabular``'s own rules, up to the first
  footer row. Only a line made of spaces, tabs, backticks, quotes and delimiters can be blank: such
  lines are parsed and judged by ``tabular.is_blank`` (trailing blank lines are skipped, as there);
- widths: DuckDB reads ``width + EXTRA`` columns with NULL padding and a NULL marker that no cell
  holds, so a missing cell is NULL and an empty one is ``''``; a short row, or a cell beyond the
  header that is not blank, sends the part back to Python (which quarantines or repairs it).

The physical line numbers are those of ``containers.text_rows`` (universal newlines): a text with a
lone ``\\r`` is normalised first; ``\\r\\n`` line ends are passed to DuckDB as they are. Should DuckDB
raise anyway (which aborts the file's transaction), ``ReadFailed`` makes ``load.import_file`` import
the whole file again on the Python path.
"""

from __future__ import annotations

import csv
import re
import shutil
import string
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import duckdb

from recon import tempfiles
from recon.io import containers, tabular
from recon.io.profile import norm_header

ENABLED = True  # tests switch it off to compare against the Python path
EXTRA = 4  # cells read beyond the header's width, to see trailing empty cells (a trailing comma or tab)
MAX_HEAD_LINES = 1000  # blank/description lines tolerated between the header and the first data row
_NULL_MARK = "\x01"  # DuckDB's NULL string: no cell may hold it (checked), so NULL means "no cell"
_SKIP = ' "`\'\u3000'  # characters before a cell's first letter that no footer/title rule can look through


@dataclass
class Region:
    """Where the data rows of a part are in its text, and what the Python path would have collected."""

    text: str  # the part's text (lone CRs already made newlines)
    start: int  # offset of the first data line
    end: int  # offset just after the last data line
    first_line: int  # its physical line number
    lines: int  # data rows = physical lines in text[start:end]
    footer: list  # row texts from the first footer row on, as tabular collects them
    described: list  # description rows under the header, kept with the preamble


class ReadFailed(Exception):
    """DuckDB raised while reading a part the checks let through; the file is imported again by Python."""


def _cells(line: str, delimiter: str) -> list:
    return next(csv.reader([line], delimiter=delimiter, strict=False), [])


def _quoted_cell(delimiter: str):
    d = re.escape(delimiter)
    # A quoted cell from a cell's start to its end on one line, or an Excel text cell ="…" without the
    # delimiter inside: both readers agree on these (tests/test_fastcsv.py pins it).
    return re.compile(rf'(?:^|(?<={d}))(?:"(?:[^"\r\n]|"")*"|="[^"\r\n{d}]*")(?={d}|\r?$)', re.M)


def _quotes_agree(text: str, delimiter: str, start: int = 0, end: int | None = None) -> bool:
    """Every quote character in text[start:end] belongs to a one-line cell both readers read alike."""
    end = len(text) if end is None else end
    if text.find('"', start, end) < 0:
        return True
    return '"' not in _quoted_cell(delimiter).sub("", text[start:end])


def _first_cell(field: str) -> str | None:
    """The value of a line's first cell from its raw text up to the first delimiter, or None if unsure."""
    if '"' not in field:
        return field
    if len(field) >= 2 and field[0] == '"' and field[-1] == '"' and '"' not in field[1:-1].replace('""', ''):
        return field[1:-1].replace('""', '"')
    return None


def _risky_letters(table) -> str:
    """ASCII letters/digits a header or summary-title cell starts with (composed forms included)."""
    names = [norm_header(table.header[0])] + list(table.profile.summary_titles)
    out = set()
    for n in names:
        for form in (n, unicodedata.normalize("NFD", n), unicodedata.normalize("NFKD", n)):
            if form:
                out.add(form[0])
    return "".join(sorted(out))


def _line_at(text: str, pos: int) -> tuple[str, int]:
    """The line starting at ``pos`` without its terminator, and the offset of the next line."""
    nl = text.find("\n", pos)
    nxt = len(text) if nl < 0 else nl + 1
    end = len(text) if nl < 0 else nl
    if end > pos and text[end - 1] == "\r":
        end -= 1
    return text[pos:end], nxt


def plan(table, text: str, delimiter: str) -> Region | str:
    """Find the data region of a detected text part, or return why the fast path does not apply."""
    prof = table.profile
    if prof.footer_stop:
        return "the profile's footer.stop patterns look at whole rows"
    if table.header_line is None or not table.header:
        return "no header line"
    head0 = norm_header(table.header[0])
    if not head0 or head0.startswith('"') or any(t.startswith('"') for t in prof.summary_titles):
        return "the header's first cell is empty or quoted oddly"
    if "\x00" in text or _NULL_MARK in text:
        return "the text holds control characters"
    text = text.lstrip("\ufeff")
    if "\r" in text and text.count("\r") != text.count("\r\n"):
        text = text.replace("\r\n", "\n").replace("\r", "\n")  # universal newlines, as text_rows reads
    # the header record must be exactly its physical line
    pos = 0
    for _ in range(table.header_line - 1):
        pos = text.find("\n", pos) + 1
        if pos == 0:
            return "the header line is not where the reader saw it"
    row, pos = _line_at(text, pos)
    cells = _cells(row, delimiter)
    while cells and not str(cells[-1]).strip():
        cells.pop()
    if not _quotes_agree(row, delimiter) or cells != list(table.header):
        return "the header row spans lines or is quoted oddly"
    # blank and description rows between the header and the first data row, judged as tabular does
    line, described = table.header_line + 1, []
    while pos < len(text):
        row, nxt = _line_at(text, pos)
        if line - table.header_line > MAX_HEAD_LINES or not _quotes_agree(row, delimiter):
            return "unusual rows under the header"
        cells = _cells(row, delimiter)
        if prof.description_row and re.search(prof.description_row, tabular.row_text(cells)):
            described.append(tabular.row_text(cells))
        elif not tabular.is_blank(cells):
            break
        line, pos = line + 1, nxt
    start = pos
    # Footer, blank and repeated-header rows: only a line whose first cell does not start with a safe
    # letter can be one; the first cells of those lines are judged (once each) by tabular's own rules,
    # up to the first footer row. Lines are matched after their preceding newline (a '^' under re.M is
    # tried at every character).
    d = re.escape(delimiter)
    skip = re.escape(_SKIP.replace(delimiter, "") + ("\t" if delimiter != "\t" else ""))
    safe = "".join(c for c in string.ascii_letters + string.digits if c not in _risky_letters(table))
    scan = re.compile(rf"\n(?![{skip}]*[{safe}])([^{d}\r\n]*)")
    footer_at, bad_at, bad_why, kinds = len(text), len(text), "", {}
    for m in scan.finditer(text, start - 1):
        field = m.group(1)
        kind = kinds.get(field)
        if kind is None:
            value = _first_cell(field)
            kind = kinds[field] = ("odd" if value is None else "footer" if table._is_footer([value])
                                   else "header" if norm_header(value) == head0 else "data")
        if kind == "footer":
            footer_at = m.start() + 1
            break
        if kind != "data" and bad_at == len(text):
            bad_at = m.start() + 1
            bad_why = ("a repeated header row" if kind == "header"
                       else "a quoted first cell that spans cells or lines")
    end = _trim_blank_tail(text, start, footer_at, delimiter)
    if end == start:
        return "no data rows"
    blank_at = _blank_line(text, start, end, delimiter)
    if blank_at < bad_at:
        bad_at, bad_why = blank_at, "a blank row"
    if bad_at < end:
        return f"line {line + text.count(chr(10), start, bad_at)}: {bad_why}"
    if not _quotes_agree(text, delimiter, start, end):
        return "a quoted cell spans lines or a quote is not at a cell's start"
    lines = text.count("\n", start, end) + (text[end - 1] != "\n")
    footer = [tabular.row_text(c) for _, c in containers.text_rows(text[footer_at:], delimiter)
              if not tabular.is_blank(c)]
    return Region(text, start, end, line, lines, footer, described)


def _blank_line(text: str, start: int, end: int, delimiter: str) -> int:
    """Offset of the first blank row in text[start:end] (tabular skips it, uncounted), else ``end``.

    Only a line made of nothing but spaces, tabs, backticks, quotes and delimiters can be blank;
    such a line is then parsed and judged by ``tabular.is_blank`` itself.
    """
    maybe = re.compile(rf"\n([ \t\u3000`\"{re.escape(delimiter)}]*)\r?(?=\n|$)")
    stop = end - (text[end - 1] == "\n")  # the last line's newline starts no line of the region
    for m in maybe.finditer(text, start - 1, stop):
        if tabular.is_blank(_cells(m.group(1), delimiter)):
            return m.start() + 1
    return end


def _trim_blank_tail(text: str, start: int, end: int, delimiter: str) -> int:
    """``end`` moved back over trailing blank lines (tabular skips them; they are not data lines)."""
    blank = re.compile(rf"[ \t\u3000`{re.escape(delimiter)}]*\r?\n?")
    while end > start:
        prev = text.rfind("\n", start, end - 1) + 1  # start of the last line before end
        prev = max(prev, start)
        if not blank.fullmatch(text, prev, end):
            break
        end = prev
    return end


@dataclass
class Payload:
    """A planned data region written out as UTF-8 for DuckDB to read; ``close`` removes the file."""

    region: Region
    path: Path
    new_line: str  # DuckDB's spelling of the line end

    def close(self) -> None:
        shutil.rmtree(self.path.parent, ignore_errors=True)


def prepare(table) -> "Payload | str":
    """Plan the part and write its data region to a temp file; the Payload, else why not.

    Pure Python and no store: ``load.prepare_file`` runs it for the next file in a thread while
    DuckDB loads the current one. The caller closes the payload.
    """
    if table.source is None:
        return "not a text part"
    text, delimiter = table.source
    region = plan(table, text, delimiter)
    if isinstance(region, str):
        return region
    # One encoded copy of the whole text, its data region written through a view: slicing the text
    # first would hold a third copy of a file that can be gigabytes.
    text = region.text
    try:
        encoded = text.encode("utf-8")
    except UnicodeEncodeError:
        return "the text is not encodable as UTF-8"
    start = len(text[:region.start].encode("utf-8"))
    end = len(encoded) - len(text[region.end:].encode("utf-8"))
    crlf = encoded.count(b"\r\n", start, end)
    if crlf and crlf != encoded.count(b"\n", start, end):  # mixed line ends: DuckDB wants one kind
        encoded, start, crlf = encoded[start:end].replace(b"\r\n", b"\n"), 0, 0
        end = len(encoded)
    path = tempfiles.scratch_dir("fastcsv") / "part.csv"
    try:
        with open(path, "wb") as out:
            out.write(memoryview(encoded)[start:end])
    except BaseException:
        shutil.rmtree(path.parent, ignore_errors=True)
        raise
    del encoded
    # DuckDB takes the line end spelt with backslashes
    return Payload(region, path, r"\r\n" if crlf else r"\n")


def stage(con, table, off: str = "") -> str:
    """Write ``stage`` (source_line, c1..cN) for ``table`` with DuckDB; '' when done, else why not.

    On '' the table's line count, footer and description rows are filled in as ``data_rows`` would.
    ``off`` is a reason the caller already has for not trying (a failed first attempt). A payload
    prepared ahead (``table.payload``) is used and closed here.
    """
    payload, table.payload = table.payload, None
    try:
        if off or not ENABLED:
            return off or "the fast reader is switched off"
        if payload is None:
            payload = prepare(table)
        if isinstance(payload, str):
            return payload
        region = payload.region
        why = _read(con, str(payload.path), table.source[1], payload.new_line, table, region)
    finally:
        if isinstance(payload, Payload):
            payload.close()
    if why:
        return why
    table.data_lines = region.lines
    table.footer.extend(region.footer)
    table.preamble.extend(region.described)
    return ""


def _read(con, path: str, delimiter: str, new_line: str, table, region: Region) -> str:
    """Read the region into ``stage``; '' if every row is one line of the header's shape, else why not.

    DuckDB reads ``EXTRA`` cells more than the header, padding with NULL: a NULL is a cell the row
    does not have (no cell equals the NULL marker), so short rows and surplus cells can be told apart
    from empty ones; the surplus columns are dropped once the rows pass.
    """
    width = len(table.header)
    cols = {f"c{i + 1}": "VARCHAR" for i in range(width + EXTRA)}
    # ignore_errors: a row DuckDB cannot read is dropped (the count check below catches it) rather
    # than raising; what raises anyway aborts the file's transaction, so the caller starts the file
    # again without the fast path (ReadFailed). WITH ORDINALITY numbers rows in the reader's output
    # order, i.e. file order (DuckDB computes it as row_number() OVER (), "a monotonically
    # increasing series of numbers in the original order of the source", duckdb/duckdb#21971); with
    # one row per line it is the line offset.
    try:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE stage AS "
            "SELECT CAST(ordinality - 1 + $first AS INTEGER) AS source_line, * EXCLUDE (ordinality) FROM read_csv($path, columns = $cols, delim = $delim, quote = '\"', "
            "escape = '\"', header = false, auto_detect = false, new_line = $nl, null_padding = true, "
            "nullstr = $null, ignore_errors = true) WITH ORDINALITY",
            {"first": region.first_line, "path": path, "cols": cols, "delim": delimiter, "nl": new_line,
             "null": _NULL_MARK})
        blank_extra = " AND ".join(f"coalesce(regexp_full_match(c{width + i + 1}, '[ \\t]*'), TRUE)"
                                   for i in range(EXTRA))
        short_ok = table.profile.allow_short_rows
        rows, odd = con.execute(
            f"SELECT count(*), count(*) FILTER (WHERE NOT ({blank_extra})"
            + ("" if short_ok else f" OR c{width} IS NULL") + ") FROM stage").fetchone()
    except duckdb.Error as exc:
        raise ReadFailed(f"DuckDB could not read the part ({str(exc).splitlines()[0]})") from exc
    if rows != region.lines or odd:  # the Python reader replaces ``stage``
        return (f"DuckDB read {rows} rows from {region.lines} data lines" if rows != region.lines
                else f"{odd} rows are not as wide as the header")
    if short_ok:  # tabular pads a short row with empty cells
        for i in range(width):
            con.execute(f"UPDATE stage SET c{i + 1} = '' WHERE c{i + 1} IS NULL")
    for i in range(EXTRA):
        con.execute(f"ALTER TABLE stage DROP COLUMN c{width + i + 1}")
    return ""
