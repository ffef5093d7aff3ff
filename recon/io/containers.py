"""Open what a clerk downloaded: sniff the container by magic bytes, never by file name.

A file becomes one or more *parts*: a plain CSV is one part; an Alipay zip holds two CSV members;
an XLSX workbook has one part per sheet. Each part yields ``(physical_line, cells)`` rows of
strings, so every format downstream sees the same thing whatever the container.

XLSX numbers arrive as floats from the reader; ``cell_text`` converts them at the edge with
``Decimal(repr(x))``. A whole number of 16+ digits stored as a number has already lost digits in
Excel, so it is rendered in scientific notation and the id check flags it rather than letting a
plausible-looking but wrong order number through.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import re
import zipfile
import zlib
from dataclasses import dataclass
from decimal import Decimal
from typing import Iterator

from recon.errors import InputError
from recon.money import from_float

MAX_ZIP_MEMBERS = 200
MAX_UNPACKED_BYTES = 4 * 1024**3
MAX_RATIO = 200  # a compression ratio above this is treated as a zip bomb

csv.field_size_limit(64 * 1024 * 1024)


# an MT940 statement whatever precedes it: a :20: tag line and a :60F:/:60M: opening balance line
_MT940_TAGS = re.compile(rb"(?ms)^\x01?:20:.*^:60[FM]:")


@dataclass
class Part:
    """One tabular or structured unit inside a file."""

    name: str  # '' for a plain file, else the zip member or sheet name
    sheet: str | None  # what results.csv shows as source_sheet
    kind: str  # text | xlsx-sheet | xml | mt940
    container: str  # csv | xlsx | zip | gzip | xml | mt940
    data: bytes | None = None
    workbook: object | None = None  # python-calamine workbook for xlsx parts


def sniff_container(data: bytes) -> str:
    head = data[:512].lstrip(b"\xef\xbb\xbf")
    if data[:4] == b"PK\x03\x04":
        return "zip"
    if data[:2] == b"\x1f\x8b":
        return "gzip"
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        return "xls"
    stripped = head.lstrip()
    if stripped.startswith(b"<?xml") or stripped.startswith(b"<Document"):
        return "xml"
    if stripped.startswith(b"{1:") or stripped.startswith(b":20:") or _MT940_TAGS.search(data[:8192]):
        return "mt940"  # also after a bank header (ABNANL2A / :940: / ING 0000 01…) or a SOH byte
    return "text"


def open_parts(data: bytes, name: str) -> list[Part]:
    """Split a file into parts. Zip members and gzip streams are opened recursively.

    A damaged container (a truncated download) is an InputError naming the file, not a traceback.
    """
    try:
        return _open_parts(data, name)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise InputError(f"{name}: damaged or truncated archive ({exc}); download the file again") from None


def _open_parts(data: bytes, name: str) -> list[Part]:
    kind = sniff_container(data)
    if kind == "zip":
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = zf.namelist()
            if "[Content_Types].xml" in names and any(n.startswith("xl/") for n in names):
                return _xlsx_parts(data, "xlsx")
            return _zip_members(zf, data)
    if kind == "gzip":
        inner = gzip.decompress(data)
        if len(inner) > MAX_UNPACKED_BYTES:
            raise InputError(f"{name}: gzip stream unpacks to more than {MAX_UNPACKED_BYTES} bytes")
        return [
            Part(p.name, p.sheet, p.kind, "gzip", p.data, p.workbook) for p in open_parts(inner, name)
        ]
    if kind == "xls":
        return _xlsx_parts(data, "xls")
    if kind == "xml":
        return [Part("", None, "xml", "xml", data)]
    if kind == "mt940":
        return [Part("", None, "mt940", "mt940", data)]
    return [Part("", None, "text", "csv", data)]


def _member_name(info: zipfile.ZipInfo) -> str:
    """Alipay zips store GBK member names without the UTF-8 flag: re-decode them."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        return info.filename.encode("cp437").decode("gb18030")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return info.filename


def _zip_members(zf: zipfile.ZipFile, data: bytes) -> list[Part]:
    infos = [i for i in zf.infolist() if not i.is_dir()]
    if len(infos) > MAX_ZIP_MEMBERS:
        raise InputError(f"zip holds {len(infos)} members (limit {MAX_ZIP_MEMBERS}); unpack it first")
    total = sum(i.file_size for i in infos)
    if total > MAX_UNPACKED_BYTES or total > MAX_RATIO * max(len(data), 1):
        raise InputError("zip unpacks to an implausible size (zip bomb?); unpack it yourself first")
    parts = []
    for info in sorted(infos, key=lambda i: _member_name(i)):
        member = _member_name(info)
        for p in open_parts(zf.read(info), member):
            label = member if not p.name else f"{member}/{p.name}"
            parts.append(Part(label, label, p.kind, "zip", p.data, p.workbook))
    return parts


def _xlsx_parts(data: bytes, container: str) -> list[Part]:
    import python_calamine

    try:
        wb = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
    except Exception as exc:  # calamine raises its own error types for corrupt workbooks
        raise InputError(f"cannot open the workbook: {exc}") from None
    return [Part(s, s, "xlsx-sheet", container, None, wb) for s in wb.sheet_names]


# ---------------------------------------------------------------- text

def decode(data: bytes) -> tuple[str, str]:
    """Decode text: BOM first, then strict UTF-8, then GB18030 (a superset of GBK/GB2312)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="strict"), "utf-8-sig"
    if data.startswith(b"\xff\xfe") or data.startswith(b"\xfe\xff"):
        return data.decode("utf-16"), "utf-16"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError as exc:
        raise InputError(
            f"not UTF-8 and not GB18030 text (bad byte at offset {exc.start}); "
            "is it a spreadsheet or a damaged download?"
        ) from None


def text_rows(text: str, delimiter: str = ",", start: bool = True) -> Iterator[tuple[int, list[str]]]:
    """CSV rows with the 1-based physical line on which each record starts.

    Quoted cells may span lines; ``csv`` tracks the physical line count, so a record's start is the
    line after the previous record's end. Stray ``\\r`` are treated as line ends. ``start``: the
    text is the start of a file, whose byte-order marks are dropped (not so for one record read back
    from inside it, ``recon.io.records``).
    """
    if start:
        text = text.lstrip("\ufeff")
    reader = csv.reader(_lines(text), delimiter=delimiter, strict=False)
    prev_end = 0
    for cells in reader:
        start = prev_end + 1
        prev_end = reader.line_num
        yield start, cells


_EOL = re.compile("\r\n|\r|\n")


def _lines(text: str) -> Iterator[str]:
    """Lines as ``io.StringIO(text, newline=None)`` yields them (universal newlines, each ending in
    ``\\n``), but lazily: detection reads a few dozen rows, and StringIO translates the whole text
    before the first line (seconds on a 200 MB export the fast reader then reads itself)."""
    pos, end = 0, len(text)
    while pos < end:
        m = _EOL.search(text, pos)
        if m is None:
            yield text[pos:]
            return
        yield text[pos:m.start()] + "\n"
        pos = m.end()


# ---------------------------------------------------------------- xlsx

def cell_text(value) -> str:
    """An XLSX cell as the string a CSV of the same data would hold."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value) if abs(value) < 10**15 else f"{Decimal(value).normalize():E}"
    if isinstance(value, float):
        d = from_float(value)
        if abs(d) >= 10**15:
            return f"{d.normalize():E}"  # digits were already lost in Excel: keep it visibly inexact
        if d == d.to_integral_value():
            return str(int(d))
        return format(d.normalize(), "f")
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, dt.time):
        return value.strftime("%H:%M:%S")
    if isinstance(value, dt.timedelta):
        return str(value)
    return str(value)


def sheet_rows(workbook, sheet: str) -> Iterator[tuple[int, list[str]]]:
    """Rows of a sheet numbered as Excel shows them (row 1 is the first row of the sheet)."""
    ws = workbook.get_sheet_by_name(sheet)
    for idx, row in enumerate(ws.iter_rows(), start=1):
        yield idx, [cell_text(v) for v in row]
