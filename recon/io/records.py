"""Raw records of stored lines, read back from the evidence store (``recon.evidence``).

The store keeps no cells for a loaded line. This module gives them back for a bounded set of lines
(the drilled ones, the report's top unknowns), equal to what the import's row reader produced:

- **by offset**, for text parts in UTF-8 (with or without BOM) or GB18030 with LF or CRLF line ends:
  byte 0x0A never occurs inside a multi-byte character of these, so the import finds every line's
  start as it reads the bytes (``recon.io.textsource``) and stores each line's ``rec_offset``/``rec_length`` (its record's bytes
  in the part, the last line end excluded). The bytes are decoded and parsed by the same
  ``containers.text_rows``; a record parsed alone reads as in the whole file (the CSV reader starts
  afresh at each record);
- **by reading the part again** where offsets would not be exact (UTF-16, lone CRs, XLSX, CAMT,
  MT940): the same row reader (``text_rows``, ``sheet_rows`` with a continued sheet's alignment, the
  parser registry) runs over the part and the lines are picked by ``source_line``.

Either way the cells then pass ``tabular.shape`` with the part's recorded width and repairs, as at
import. The part's reader, encoding, delimiter and repairs are in ``source_part``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools

import pyarrow as pa

from recon import evidence, store
from recon.io import containers, tabular
from recon.io.parsers import registry as parser_registry
from recon.sql.quote import quote_ident, quote_literal



def position_view(con, name: str, spans, lines: int, starts: str | None = None) -> None:
    """Temp view ``name`` (line, rec_offset, rec_length) for the records of a text part, from its line
    spans (a Parquet file of line, start, stop: ``recon.io.textsource``) of ``lines`` lines: every
    line a record of its own (the DuckDB reader proved it), or (``starts``: a table of each record's
    first line, as the Python reader read them, which a quoted newline can stretch) records running
    from their first line to the line before the next record's."""
    src = f"read_parquet({quote_literal(str(spans))})"
    if starts is None:
        sql = f"SELECT line, start AS rec_offset, CAST(stop - start AS INTEGER) AS rec_length FROM {src}"
    else:
        sql = (f"WITH r AS (SELECT line AS first, coalesce(lead(line) OVER (ORDER BY line) - 1, {int(lines)}) AS last "
               f"FROM {quote_ident(starts)}) "
               f"SELECT r.first AS line, a.start AS rec_offset, CAST(b.stop - a.start AS INTEGER) AS rec_length "
               f"FROM r JOIN {src} a ON a.line = r.first JOIN {src} b ON b.line = r.last")
    con.execute(f"CREATE OR REPLACE TEMP VIEW {quote_ident(name)} AS {sql}")


def settle(con) -> None:
    """Finish the connection's last result before ``register``: a count read with ``fetchone()``
    leaves its result open, and DuckDB 2 refuses ``register`` until it is done (``complete()`` is
    DuckDB 2 only; a statement fully read works on every version recon supports)."""
    con.execute("SELECT 1").fetchall()


def recording(rows, starts: list):
    """``rows`` passed through, each record's first line appended to ``starts``."""
    for line, cells in rows:
        starts.append(line)
        yield line, cells


def raw_cells(con, ids_table: str, out: str = "evidence_raw") -> None:
    """Temp table ``out`` (line_id, file_id, source_sheet, raw VARCHAR[]) for the ledger or audit
    lines whose ids are in table ``ids_table`` (column ``line_id``; a bounded set). Each evidence file
    is read and its SHA-256 checked once; ``evidence.EvidenceError`` if it is missing or altered."""
    lines = " UNION ALL ".join(
        f"SELECT line_id, file_id, source_sheet, source_line, rec_offset, rec_length FROM {t} "
        f"SEMI JOIN {quote_ident(ids_table)} USING (line_id)" for t, _, _ in store.FAMILIES.values())
    rows = con.execute(
        f"""WITH l AS ({lines})
        SELECT l.line_id, l.file_id, l.source_sheet, l.source_line, l.rec_offset, l.rec_length,
               coalesce(f.original_name, CAST(l.file_id AS VARCHAR)), sp.reader, sp.encoding, sp.delimiter,
               sp.width, sp.merge_at, sp.pad_short, sp.col_shift, f.sha256
        FROM l LEFT JOIN source_file f USING (file_id)
        LEFT JOIN source_part sp ON sp.file_id = l.file_id AND sp.part = coalesce(l.source_sheet, '')
        ORDER BY l.file_id, l.source_sheet NULLS FIRST, l.source_line, l.line_id""").fetchall()
    ids, cells = [], []
    for file_id, group in itertools.groupby(rows, key=lambda r: r[1]):
        group = list(group)
        data = evidence.fetch(con, group[0][14], group[0][6])  # the evidence file is named by SHA-256
        parts = None
        for sheet, lines_ in itertools.groupby(group, key=lambda r: r[2]):
            lines_ = list(lines_)
            if parts is None:
                parts = {(p.sheet or ""): p for p in containers.open_parts(data, group[0][6])}
            part = parts.get(sheet or "")
            if part is None:
                raise AssertionError(f"{group[0][6]}: part {sheet!r} is not in its evidence file")
            for line_id, got in _part_cells(part, lines_):
                ids.append(line_id)
                cells.append(got)
    settle(con)
    con.register("evidence_rows", pa.table({"line_id": pa.array(ids, pa.int64()),
                                            "raw": pa.array(cells, pa.list_(pa.string()))}))
    try:
        con.execute(f"""CREATE OR REPLACE TEMP TABLE {quote_ident(out)} AS
            SELECT l.line_id, l.file_id, l.source_sheet, r.raw FROM ({lines}) l JOIN evidence_rows r USING (line_id)""")
    finally:
        con.unregister("evidence_rows")


def _part_cells(part, lines):
    """(line_id, cells) for the stored ``lines`` (rows of ``raw_cells``' query) of one part."""
    reader, encoding, delimiter, width, merge_at, pad_short, shift = lines[0][7:14]
    if all(r[4] is not None for r in lines):
        for r in lines:
            # a byte-order mark is dropped at the start of the part only, as the import decoded it
            at_start = r[4] == 0
            record = part.data[r[4]:r[4] + r[5]].decode(encoding if at_start else encoding.replace("-sig", ""))
            # an empty record is a row of no cells (only a synthetic file has one: a data row is never blank)
            got = list(containers.text_rows(record, delimiter, at_start)) if record else [(1, [])]
            if len(got) != 1:
                raise AssertionError(f"{r[6]}: line {r[3]}: {len(got)} records at its offset, expected 1")
            yield r[0], _shaped(got[0][1], width, merge_at, pad_short)
        return
    wanted = {r[3] for r in lines}
    found = {line: cells for line, cells in _rows(part, reader, encoding, delimiter, width, shift)
             if line in wanted}
    for r in lines:
        if r[3] not in found:
            raise AssertionError(f"{r[6]}: line {r[3]} is not in its evidence file")
        yield r[0], _shaped(found[r[3]], width, merge_at, pad_short)


def _rows(part, reader, encoding, delimiter, width, shift):
    """The part's rows as the import's row reader gave them."""
    if reader == "text":
        text, _ = containers.decode(part.data)
        return containers.text_rows(text, delimiter)
    if reader == "sheet":
        rows = containers.sheet_rows(part.workbook, part.name)
        if shift is None:
            return rows
        return ((line, [""] * shift + list(c) + [""] * (width - shift - len(c))) for line, c in rows)
    return iter(parser_registry()[reader].parse(part.data).rows)


def _shaped(cells, width, merge_at, pad_short) -> list:
    if width is None:  # rows kept as written (a dictionary example's synthetic lines)
        return [str(c) for c in cells]
    cells = tabular.shape(cells, width, merge_at, pad_short)
    if len(cells) != width:
        raise AssertionError(f"a stored line read back {len(cells)} cells wide, its part is {width}")
    return [str(c) for c in cells]


def synthetic(con, name: str, family: str, rows, header=()) -> tuple[int, list]:
    """Keep made-up rows (a dictionary example's lines) as a UTF-8 CSV evidence file, one record per
    row after a title line, registered in ``source_file``; return its file_id and each row's
    ``(source_line, rec_offset, rec_length)``. Its ``source_part`` has ``header`` (default none: the
    cells are named ``#1``, ``#2``…) and no width, so rows of any length are read back as written."""
    buf, spans, line = io.BytesIO(), [], 2
    buf.write(f"# recon example: {name} {list(header)}\n".encode("utf-8"))
    for cells in rows:
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerow([str(c) for c in cells])
        record = text.getvalue().encode("utf-8")
        spans.append((line, buf.tell(), len(record) - 1))
        buf.write(record)
        line += record.count(b"\n")
    data = buf.getvalue()
    sha = hashlib.sha256(data).hexdigest()
    evidence.keep(con, sha, data)
    known = con.execute("SELECT file_id FROM source_file WHERE sha256 = ?", [sha]).fetchone()
    file_id = known[0] if known else store.new_file_id(con)
    con.execute("""INSERT OR IGNORE INTO source_file BY NAME SELECT $f AS file_id, $sha AS sha256, $n AS original_name,
                   $n AS original_path, $size AS size_bytes, 'example' AS container, ['example'] AS formats,
                   0 AS data_lines, 0 AS loaded, 0 AS duplicates, 0 AS quarantined,
                   TIMESTAMP '2000-01-01' AS imported_at, '{}' AS report_json""",
                {"f": file_id, "sha": sha, "n": name, "size": len(data)})
    con.execute("INSERT OR IGNORE INTO source_part BY NAME SELECT $f AS file_id, '' AS part, 'example' AS format, "
                "$fam AS family, CAST($h AS VARCHAR[]) AS header, CAST([] AS VARCHAR[]) AS preamble, "
                "CAST([] AS VARCHAR[]) AS footer, 'text' AS reader, 'utf-8' AS encoding, ',' AS delimiter",
                {"f": file_id, "fam": family, "h": [str(h) for h in header]})
    return file_id, spans

