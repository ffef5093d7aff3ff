"""Read a clean CSV/TSV part with DuckDB's own CSV reader instead of row by row through Python.

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

The plan reads the part's text a piece at a time (``recon.io.textsource``: whole lines, 16 MB of
bytes each) and writes the data region out as UTF-8 as it goes, so a file of gigabytes is never held
whole; the header and the rows under it must lie in the first piece. Nothing is staged in DuckDB:
``stage`` makes a view over the written region, the typing SELECT (``recon.io.sqlmap``) reads it
once, reading only the columns the profile maps, and ``confirm`` checks the row count and widths on
the typed rows (a quarantined line's cells are read again, for those lines only).

The physical line numbers are those of ``containers.text_rows`` (universal newlines): a text with a
lone ``\\r`` is read whole and normalised first; ``\\r\\n`` line ends are written as ``\\n``. Should
DuckDB raise anyway (which aborts the file's transaction), ``ReadFailed`` makes ``load.import_file``
import the whole file again on the Python path.
"""

from __future__ import annotations

import csv
import itertools
import re
import shutil
import string
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from recon import tempfiles
from recon.io import containers, tabular
from recon.io.profile import norm_header
from recon.sql.quote import quote_literal

ENABLED = True  # tests switch it off to compare against the Python path
EXTRA = 4  # cells read beyond the header's width, to see trailing empty cells (a trailing comma or tab)
MAX_HEAD_LINES = 1000  # blank/description lines tolerated between the header and the first data row
_NULL_MARK = "\x01"  # DuckDB's NULL string: no cell may hold it (checked), so NULL means "no cell"
_SKIP = ' "`\'\u3000'  # characters before a cell's first letter that no footer/title rule can look through


@dataclass
class Region:
    """What the plan found in a part's data rows, and what the Python path would have collected."""

    first_line: int  # the physical line number of the first data row
    lines: int  # data rows = physical lines written out for DuckDB
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


class _Refused(Exception):
    """The fast path does not apply (its reason); raised from deep in the chunk loop."""


def _clean(chunks):
    """The chunks, refused at the first that holds a NUL (an oversize mark, a binary file) or the NULL marker."""
    for chunk in chunks:
        if "\x00" in chunk or _NULL_MARK in chunk:
            raise _Refused("the text holds control characters")
        yield chunk


def plan(table, chunks, delimiter: str, out, crlf: bool = False) -> Region | str:
    """Find the data region of a detected text part and write it to ``out`` as UTF-8, chunk by chunk;
    return the Region, or why the fast path does not apply (what was written is then void).

    ``chunks`` is the part's text from the start in pieces of whole lines (``TextSource.chunks``, or
    the whole text in one piece); memory holds one piece. The header and the rows under it must lie
    in the first piece. ``crlf``: every line end of the text is CRLF, and is written as it is.
    """
    prof = table.profile
    if prof.footer_stop:
        return "the profile's footer.stop patterns look at whole rows"
    if table.header_line is None or not table.header:
        return "no header line"
    head0 = norm_header(table.header[0])
    if not head0 or head0.startswith('"') or any(t.startswith('"') for t in prof.summary_titles):
        return "the header's first cell is empty or quoted oddly"
    try:
        return _plan(table, _clean(iter(chunks)), delimiter, out, head0, crlf)
    except _Refused as exc:
        return str(exc)


def _plan(table, chunks, delimiter: str, out, head0: str, crlf: bool) -> Region | str:
    prof = table.profile
    text = next(chunks, "").lstrip("\ufeff")
    if "\r" in text and text.count("\r") != text.count("\r\n"):
        text = text.replace("\r\n", "\n").replace("\r", "\n")  # universal newlines (a text read whole)
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
    if pos >= len(text) and next(chunks, None) is not None:
        return "the rows under the header fill a whole chunk"
    # Footer, blank and repeated-header rows: only a line whose first cell does not start with a safe
    # letter can be one; the first cells of those lines are judged (once each) by tabular's own rules,
    # up to the first footer row. Lines are matched after their preceding newline or at a piece's
    # start (a '^' under re.M is tried at every character).
    d = re.escape(delimiter)
    skip = re.escape(_SKIP.replace(delimiter, "") + ("\t" if delimiter != "\t" else ""))
    safe = "".join(c for c in string.ascii_letters + string.digits if c not in _risky_letters(table))
    # (a pattern led by the literal newline is searched for fast; a piece's first line is tried alone)
    scan = re.compile(rf"\n(?![{skip}]*[{safe}])([^{d}\r\n]*)")
    first_of_piece = re.compile(rf"(?![{skip}]*[{safe}])([^{d}\r\n]*)")
    kinds: dict = {}
    first_line, lines, pending_blank, footer, start = line, 0, None, None, pos
    while True:  # one piece at a time; ``line`` is the number of the line at ``start``
        end = len(text)
        lead = [first_of_piece.match(text, 0)] if start == 0 else []
        for m in itertools.chain(filter(None, lead), scan.finditer(text, max(start - 1, 0))):
            field = m.group(1)
            kind = kinds.get(field)
            if kind is None:
                value = _first_cell(field)
                kind = kinds[field] = ("odd" if value is None else "footer" if table._is_footer([value])
                                       else "header" if norm_header(value) == head0 else "data")
            if kind == "footer":
                end = m.start(1)
                footer = [tabular.row_text(c) for _, c in
                          containers.text_rows(itertools.chain([text[end:]], chunks), delimiter)
                          if not tabular.is_blank(c)]
                break
            if kind != "data":
                at = line + text.count("\n", start, m.start(1))
                return f"line {at}: " + ("a repeated header row" if kind == "header"
                                         else "a quoted first cell that spans cells or lines")
        # this piece's data lines; trailing blank lines are held back (tabular skips them at the end,
        # and a data line after them makes them blank rows inside the data)
        stop = _trim_blank_tail(text, start, end, delimiter)
        if stop > start:
            if pending_blank is not None:
                return f"line {pending_blank}: a blank row"
            blank_at = _blank_line(text, start, stop, delimiter)
            if blank_at < stop:
                return f"line {line + text.count(chr(10), start, blank_at)}: a blank row"
            if not _quotes_agree(text, delimiter, start, stop):
                return "a quoted cell spans lines or a quote is not at a cell's start"
            lines += text.count("\n", start, stop) + (text[stop - 1] != "\n")
            _write(out, text, start, stop, crlf)
        if end > stop and pending_blank is None:
            pending_blank = line + text.count("\n", start, stop)
        if footer is not None:
            break
        nxt = next(chunks, None)
        if nxt is None:
            break
        line, text, start = line + text.count("\n", start), nxt, 0
    if lines == 0:
        return "no data rows"
    return Region(first_line, lines, footer or [], described)


def _write(out, text: str, start: int, stop: int, crlf: bool) -> None:
    """text[start:stop] to ``out`` as UTF-8: CRLF kept (``crlf``: the only line end) or made LF (DuckDB
    wants one kind of line end, and no lone CR is left here: a text with one was read whole and made
    universal newlines)."""
    piece = text[start:stop]
    if not crlf and "\r" in piece:
        piece = piece.replace("\r\n", "\n")
    if not piece.endswith("\n"):
        piece += "\r\n" if crlf else "\n"
    try:
        out.write(piece.encode("utf-8"))
    except UnicodeEncodeError:
        raise _Refused("the text is not encodable as UTF-8") from None


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
    new_line: str = "\\n"  # DuckDB's spelling of the line end

    def close(self) -> None:
        shutil.rmtree(self.path.parent, ignore_errors=True)


def prepare(table) -> "Payload | str":
    """Plan the part and write its data region to a temp file, a piece at a time; the Payload, else
    why not. Pure Python and no store: ``load.prepare_file`` runs it for the next file in a thread
    while DuckDB loads the current one. The caller closes the payload (``release``).
    """
    if table.source is None:
        return "not a text part"
    source, delimiter = table.source
    path = tempfiles.scratch_dir("fastcsv") / "part.csv"
    try:
        with open(path, "wb") as out:
            region = plan(table, source.chunks(), delimiter, out, source.crlf_only)
    except BaseException:
        shutil.rmtree(path.parent, ignore_errors=True)
        raise
    if isinstance(region, str):
        shutil.rmtree(path.parent, ignore_errors=True)
    return Payload(region, path, r"\r\n" if source.crlf_only else r"\n") if isinstance(region, Region) else region


def stage(con, table, off: str = "") -> str:
    """Make the view ``stage_csv`` (source_line, c1..cN, __odd) over the part's data rows as DuckDB
    reads them; '' when done, else why not (the Python reader stages the part instead).

    Nothing is materialised here: the typing SELECT reads the CSV once, carrying ``__odd``, and
    ``confirm`` then checks on the typed rows that DuckDB read one row per line, each of the header's
    shape. ``off`` is a reason the caller already has for not trying (a failed first attempt). A
    payload prepared ahead (``table.payload``) is used; ``release`` removes it.
    """
    if off or not ENABLED:
        release(table)
        return off or "the fast reader is switched off"
    if table.payload is None:
        table.payload = prepare(table)
    if isinstance(table.payload, str):
        why, table.payload = table.payload, None
        return why
    width = len(table.header)
    cols = "{" + ", ".join(f"'c{i + 1}': 'VARCHAR'" for i in range(width + EXTRA)) + "}"
    # ignore_errors: a row DuckDB cannot read is dropped (``confirm``'s count catches it) rather than
    # raising; what raises anyway aborts the file's transaction, so the caller starts the file again
    # without the fast path (ReadFailed). WITH ORDINALITY numbers rows in the reader's output order,
    # i.e. file order (DuckDB computes it as row_number() OVER (), "a monotonically increasing series
    # of numbers in the original order of the source", duckdb/duckdb#21971); with one row per line it
    # is the line offset. DuckDB reads ``EXTRA`` cells more than the header, padding with NULL: a NULL
    # is a cell the row does not have (no cell equals the NULL marker), so short rows and surplus
    # cells are told apart from empty ones. (A view cannot hold bound parameters: the path is ours,
    # the delimiter a profile's, both quoted as literals.)
    read = (f"read_csv({quote_literal(str(table.payload.path))}, columns = {cols}, "
            f"delim = {quote_literal(table.source[1])}, quote = '\"', escape = '\"', header = false, "
            f"auto_detect = false, new_line = {quote_literal(table.payload.new_line)}, null_padding = true, "
            f"nullstr = {quote_literal(_NULL_MARK)}, ignore_errors = true) WITH ORDINALITY")
    short_ok = table.profile.allow_short_rows  # tabular pads a short row with empty cells
    cells = "".join((f", coalesce(c{i + 1}, '') AS c{i + 1}" if short_ok else f", c{i + 1}") for i in range(width))
    blank_extra = " AND ".join(rf"coalesce(regexp_full_match(c{width + i + 1}, '[ \t]*'), TRUE)"
                               for i in range(EXTRA))
    odd = f"NOT ({blank_extra})" + ("" if short_ok else f" OR c{width} IS NULL")
    first = int(table.payload.region.first_line)
    con.execute(f"CREATE OR REPLACE TEMP VIEW stage_csv AS SELECT CAST(ordinality - 1 + {first} AS INTEGER) "
                f"AS source_line{cells}, {odd} AS __odd FROM {read}")
    return ""


def confirm(con, table, typed: str) -> str:
    """'' if DuckDB read every data line as one row of the header's shape (``typed``: the rows typed
    from ``stage_csv``, with ``__odd``), else why not. On '' the table's line count, footer and
    description rows are filled in as ``data_rows`` would."""
    region = table.payload.region
    rows, odd = con.execute(f"SELECT count(*), count(*) FILTER (WHERE __odd) FROM {typed}").fetchone()
    if rows != region.lines or odd:
        return (f"DuckDB read {rows} rows from {region.lines} data lines" if rows != region.lines
                else f"{odd} rows are not as wide as the header")
    table.data_lines = region.lines
    table.footer.extend(region.footer)
    table.preamble.extend(region.described)
    return ""


def release(table) -> None:
    """Remove the part's written-out data region, if any."""
    payload, table.payload = table.payload, None
    if isinstance(payload, Payload):
        payload.close()
