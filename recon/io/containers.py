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
from recon.io import limits
from recon.money import from_float

MAX_ZIP_MEMBERS = 200
MAX_ENTRIES = 10_000  # entries in any zip, workbook parts included, read before ``zipfile`` lists them
MAX_DIRECTORY = 16 * 1024**2  # bytes of a zip's central directory (10,000 long names fit in 3 MB)
MAX_DEPTH = 8  # archives inside archives: a real export has one or two layers, a zip quine has no end
# Below this many bytes out, a stream's compression ratio is not judged: small files of repeated
# text compress far better than real exports, and hold no danger.
RATIO_FLOOR = 8 * 1024**2
CHUNK = 64 * 1024


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
    source: object | None = None  # a text part read in chunks (``recon.io.textsource.TextSource``)


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


class Budget:
    """What every layer of one file may still unpack to, together: a zip in a zip spends from the same
    budget, so nesting cannot multiply it. Header sizes are never consulted; bytes are counted as
    they come out of the decompressor."""

    def __init__(self, name: str, packed: int, lim: limits.Limits | None = None):
        self.name, self.packed, self.lim, self.used = name, packed, lim or limits.current(), 0
        self.depth = 0

    def spend(self, n: int, where: str, read: int, out: int) -> None:
        """Count ``n`` more bytes out of the stream ``where`` (``out`` so far from ``read`` bytes in)."""
        self.used += n
        lim = self.lim
        if self.used > lim.unpacked:
            self._refuse(where, f"more than {limits.human(lim.unpacked)} unpacked in all",
                         f"--limit unpacked={_next_size(lim.unpacked)}")
        if out > RATIO_FLOOR and out > lim.ratio * max(read, 1):
            self._refuse(where, f"more than {lim.ratio} times the {limits.human(read)} it was unpacked from "
                         f"(already {limits.human(out)})", f"--limit ratio={lim.ratio * 5}")
        if self.used > RATIO_FLOOR and self.used > lim.ratio * max(self.packed, 1):
            self._refuse(where, f"more than {lim.ratio} times the file's own {limits.human(self.packed)} "
                         f"(already {limits.human(self.used)} over all its layers)", f"--limit ratio={lim.ratio * 5}")

    def _refuse(self, where: str, how: str, raise_it: str):
        raise InputError(
            f"{where} would unpack to {how}: a decompression bomb (zip bomb) or a damaged archive, refused "
            f"before it was held in memory. Unpack it yourself and check what is inside; if it is a genuine "
            f"export, raise the limit with {raise_it}")


def _next_size(n: int) -> str:
    return limits.human(n * 2).replace(" ", "")


def open_parts(data: bytes, name: str) -> list[Part]:
    """Split a file into parts. Zip members and gzip streams are opened recursively, all of them
    unpacked in chunks against one ``Budget`` (``recon.io.limits``).

    A damaged container (a truncated download) is an InputError naming the file, not a traceback.
    """
    try:
        return _open_parts(data, name, Budget(name, len(data)))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise InputError(f"{name}: damaged or truncated archive ({exc}); download the file again") from None
    except NotImplementedError as exc:  # zipfile: a compression method it does not know (deflate64, …)
        raise InputError(f"{name}: {exc}; re-pack the archive as a plain zip (deflate) or unpack it first") from None


def _open_parts(data: bytes, name: str, budget: Budget) -> list[Part]:
    kind = sniff_container(data)
    if kind not in ("zip", "gzip"):
        return _open_layer(data, name, budget, kind)
    budget.depth += 1
    try:
        if budget.depth > MAX_DEPTH:
            raise InputError(f"{name}: archives nested more than {MAX_DEPTH} deep (an archive that contains "
                             "itself?); unpack it yourself first")
        return _open_layer(data, name, budget, kind)
    finally:
        budget.depth -= 1


def _open_layer(data: bytes, name: str, budget: Budget, kind: str) -> list[Part]:
    if kind == "zip":
        _check_directory(data, name)
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = zf.namelist()
            if "[Content_Types].xml" in names and any(n.startswith("xl/") for n in names):
                _check_workbook(zf, data, name, budget)
                return _xlsx_parts(data, "xlsx")
            return _zip_members(zf, data, name, budget)
    if kind == "gzip":
        inner = _gunzip(data, name, budget)
        return [
            Part(p.name, p.sheet, p.kind, "gzip", p.data, p.workbook) for p in _open_parts(inner, name, budget)
        ]
    if kind == "xls":
        return _xlsx_parts(data, "xls")
    if kind == "xml":
        return [Part("", None, "xml", "xml", data)]
    if kind == "mt940":
        return [Part("", None, "mt940", "mt940", data)]
    return [Part("", None, "text", "csv", data)]


def _inflate(d, src: memoryview, budget: Budget, where: str, keep: bool = True):
    """Run the decompressor ``d`` over ``src`` in chunks, each piece counted against the budget as it
    comes out. Returns (pieces kept, bytes of ``src`` consumed, CRC-32 of the output); a stream that
    ends early is damaged."""
    pieces, pos, out, crc = [], 0, 0, 0
    while not d.eof:
        if pos >= len(src):
            raise InputError(f"{where}: damaged or truncated archive (the compressed data ends before the "
                             "stream does); download the file again")
        tail = src[pos:pos + CHUNK]
        pos += len(tail)
        while not d.eof:  # until this input is used up and nothing more comes out of it
            piece = d.decompress(tail, CHUNK)
            tail = d.unconsumed_tail
            if not piece and not tail:
                break
            out += len(piece)
            budget.spend(len(piece), where, pos - len(tail), out)
            crc = zlib.crc32(piece, crc)
            if keep:
                pieces.append(piece)
    return pieces, pos - len(d.unused_data), crc


def _gunzip(data: bytes, name: str, budget: Budget) -> bytes:
    """Every member of a gzip stream, unpacked against the budget (zlib checks each member's CRC)."""
    src, pos, pieces = memoryview(data), 0, []
    while pos < len(data):
        if data[pos:pos + 2] != b"\x1f\x8b":
            if data[pos:].strip(b"\x00"):
                raise InputError(f"{name}: bytes after the end of the gzip stream that are not gzip; "
                                 "download the file again")
            break
        got, used, _ = _inflate(zlib.decompressobj(31), src[pos:], budget, f"{name} (gzip)")
        pieces += got
        pos += used
    return b"".join(pieces)


def _check_directory(data: bytes, name: str) -> None:
    """Refuse a zip whose central directory is absurd before ``zipfile`` builds an object per entry
    (a million entries of a few bytes each would take gigabytes to list)."""
    tail = data[-(65536 + 22):]
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) < at + 22:
        return  # zipfile says what is wrong with it
    entries = int.from_bytes(tail[at + 10:at + 12], "little")
    size = int.from_bytes(tail[at + 12:at + 16], "little")
    if entries > MAX_ENTRIES or (size > MAX_DIRECTORY and size != 0xFFFFFFFF):
        raise InputError(f"{name}: the archive lists {entries:,} entries in a {limits.human(size)} directory "
                         f"(at most {MAX_ENTRIES:,} are read): not an export; unpack it yourself first")


def _member_name(info: zipfile.ZipInfo) -> str:
    """Alipay zips store GBK member names without the UTF-8 flag: re-decode them."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        return info.filename.encode("cp437").decode("gb18030")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return info.filename


def _unpack_member(zf: zipfile.ZipFile, data: bytes, info: zipfile.ZipInfo, where: str, budget: Budget,
                   keep: bool = True) -> bytes | None:
    """One zip member's bytes, unpacked in chunks against the budget and checked against its CRC.

    The sizes in the zip's headers are not trusted: a member is unpacked until its compressed stream
    ends, each chunk counted, and a header that lies about the size fails the CRC check after.
    """
    if info.flag_bits & 0x1:
        raise InputError(f"{where} is encrypted; export it again without a password")
    if info.compress_type in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        off = info.header_offset
        if data[off:off + 4] != b"PK\x03\x04":
            raise zipfile.BadZipFile(f"bad local header for {info.filename!r}")
        start = off + 30 + int.from_bytes(data[off + 26:off + 28], "little") + int.from_bytes(
            data[off + 28:off + 30], "little")
        raw = memoryview(data)[start:start + info.compress_size]
        if len(raw) < info.compress_size:
            raise zipfile.BadZipFile(f"{info.filename!r} is cut short")
        if info.compress_type == zipfile.ZIP_STORED:
            budget.spend(len(raw), where, len(raw), len(raw))
            pieces, crc = [bytes(raw)] if keep else [], zlib.crc32(raw)
        else:
            pieces, _, crc = _inflate(zlib.decompressobj(-15), raw, budget, where, keep)
        if crc != info.CRC:
            raise InputError(f"{where}: the member's checksum does not match its content (a damaged archive, "
                             "or one whose header lies about the member); download the file again")
        return b"".join(pieces) if keep else None
    kept, out = [], 0
    with zf.open(info) as f:  # bzip2, lzma: zipfile's own reader, still read in chunks
        while chunk := f.read(CHUNK):
            out += len(chunk)
            budget.spend(len(chunk), where, info.compress_size, out)
            if keep:
                kept.append(chunk)
    return b"".join(kept) if keep else None


def _zip_members(zf: zipfile.ZipFile, data: bytes, name: str, budget: Budget) -> list[Part]:
    infos = [i for i in zf.infolist() if not i.is_dir()]
    if len(infos) > MAX_ZIP_MEMBERS:
        raise InputError(f"{name}: zip holds {len(infos)} members (limit {MAX_ZIP_MEMBERS}); unpack it first")
    parts = []
    for info in sorted(infos, key=lambda i: _member_name(i)):
        member = _member_name(info)
        inner = _unpack_member(zf, data, info, f"member {member} of {name}", budget)
        for p in _open_parts(inner, f"{name}/{member}", budget):
            label = member if not p.name else f"{member}/{p.name}"
            parts.append(Part(label, label, p.kind, "zip", p.data, p.workbook))
        del inner
    return parts


def _check_workbook(zf: zipfile.ZipFile, data: bytes, name: str, budget: Budget) -> None:
    """A workbook's parts (sheet XML, shared strings) can be bombs too: unpack each in chunks against
    the budget, keeping nothing, before the reader is given the workbook."""
    for info in zf.infolist():
        if not info.is_dir():
            _unpack_member(zf, data, info, f"workbook part {info.filename} of {name}", budget, keep=False)


def _xlsx_parts(data: bytes, container: str) -> list[Part]:
    import python_calamine

    try:
        wb = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
    except Exception as exc:  # calamine raises its own error types for corrupt workbooks
        raise InputError(f"cannot open the workbook: {exc}") from None
    return [Part(s, s, "xlsx-sheet", container, None, wb) for s in wb.sheet_names]


# ---------------------------------------------------------------- text

def decode(data: bytes) -> tuple[str, str]:
    """Decode text: BOM first, then strict UTF-8, then GB18030 (a superset of GBK/GB2312).

    A line longer than the ``field`` limit is cut out before decoding (``_cut_long_lines``): decoded,
    a 70 MB line of Chinese text would take 140 MB more.
    """
    if not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        data = _cut_long_lines(data, limits.current().field)
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8", errors="strict"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            raise _not_text(data, exc.start + 3, "starts with a UTF-8 byte-order mark but is not UTF-8 after it",
                            "save it again as UTF-8, or remove the mark if the text is GBK") from None
    if data.startswith(b"\xff\xfe") or data.startswith(b"\xfe\xff"):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as exc:
            raise _not_text(data, exc.start, "starts with a UTF-16 byte-order mark but is not UTF-16 after it",
                            "save it again as UTF-8 or UTF-16") from None
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


def _not_text(data: bytes, offset: int, what: str, fix: str) -> InputError:
    line = data.count(b"\n", 0, offset) + 1
    return InputError(f"line {line}: the file {what} (byte 0x{data[offset]:02x} at offset {offset}); "
                      f"nothing of it was loaded: {fix}")


# What stands in the text for a line cut out by ``_cut_long_lines``; ``text_rows`` makes it an
# ``Unreadable`` record. The NUL also keeps the fast reader (``fastcsv``) off the text.
OVERSIZE_MARK = "\x00recon: a line over the field limit was here\x00"


def _cut_long_lines(data: bytes, limit: int) -> bytes:
    """``data`` with every line longer than ``limit`` bytes replaced by ``OVERSIZE_MARK``.

    Such a line holds a whole window of ``limit // 2`` bytes without a line end, so looking at one
    window every ``limit // 2`` bytes finds it (a few ``find`` calls per megabyte). Both readers
    (``fastcsv`` and ``text_rows``) then see the same lines. Line ends are kept, so line numbers do
    not move.
    """
    step = max(limit // 2, 1)
    if len(data) <= limit:
        return data
    kept, pos, i, n = [], 0, 0, len(data)
    while i + step <= n:
        j = i + step
        if data.find(b"\n", i, j) < 0 and data.find(b"\r", i, j) < 0:
            start = max(data.rfind(b"\n", pos, i), data.rfind(b"\r", pos, i), pos - 1) + 1
            ends = [e for e in (data.find(b"\n", j), data.find(b"\r", j)) if e >= 0]
            end = min(ends) if ends else n
            if end - start > limit:
                kept += [data[pos:start], OVERSIZE_MARK.encode()]
                pos = end
            i = max(end, j)
            continue
        i = j
    if not kept:
        return data
    kept.append(data[pos:])
    return b"".join(kept)


class Unreadable(list):
    """A record the CSV reader could not give cells for (a cell over the ``field`` limit): no cells,
    and the reason, so ``tabular`` quarantines it with its line number like any bad row."""

    def __init__(self, reason: str):
        super().__init__()
        self.unreadable = reason


def _too_large(limit: int) -> str:
    return (f"a cell holds more than {limits.human(limit)} (the field limit): the line is not loaded; check the "
            f"export, or raise the limit with --limit field={_next_size(limit)}")


def text_rows(text, delimiter: str = ",", start: bool = True) -> Iterator[tuple[int, list[str]]]:
    """CSV rows with the 1-based physical line on which each record starts.

    Quoted cells may span lines; ``csv`` tracks the physical line count, so a record's start is the
    line after the previous record's end. Stray ``\\r`` are treated as line ends. A record with a cell
    over the ``field`` limit (``recon.io.limits``) comes out as ``Unreadable``: a physical line that
    long is never copied, and the rest of the text is read on. ``start``: the text is the start of a
    file, whose byte-order marks are dropped (not so for one record read back from inside it,
    ``recon.io.records``). ``text`` is a string, or an iterable of strings that each end after a
    line end but the last (``recon.io.textsource``: a large file is read in chunks).
    """
    limit = limits.current().field
    csv.field_size_limit(max(limit, 1024))
    chunks = iter([text] if isinstance(text, str) else text)
    if start:
        chunks = _lstrip_first(chunks)
    oversize: set = set()
    reader = csv.reader(_chunk_lines(chunks, limit, oversize), delimiter=delimiter, strict=False)
    prev_end = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # a (quoted, multi-line) cell grew past the limit
            cells = Unreadable(_too_large(limit) if "field limit" in str(exc)
                               else f"the CSV reader could not read this record ({exc}); check the export")
        start = prev_end + 1
        prev_end = reader.line_num
        if oversize and not isinstance(cells, Unreadable) and any(n in oversize for n in range(start, prev_end + 1)):
            cells = Unreadable(_too_large(limit))
        yield start, cells


_EOL = re.compile("\r\n|\r|\n")


def _lstrip_first(chunks):
    """The chunks with the byte-order marks at the start of the text dropped."""
    for chunk in chunks:
        chunk = chunk.lstrip("\ufeff")
        if chunk:
            yield chunk
            break
    yield from chunks


def _chunk_lines(chunks, limit: int | None, oversize: set) -> Iterator[str]:
    """``_lines`` over each chunk in turn, numbered on (chunks hold whole lines)."""
    base = 0
    for chunk in chunks:
        for line in _lines(chunk, limit, oversize, base):
            base += 1
            yield line


def _lines(text: str, limit: int | None = None, oversize: set | None = None, base: int = 0) -> Iterator[str]:
    """Lines as ``io.StringIO(text, newline=None)`` yields them (universal newlines, each ending in
    ``\\n``), but lazily: detection reads a few dozen rows, and StringIO translates the whole text
    before the first line (seconds on a 200 MB export the fast reader then reads itself).

    A line longer than ``limit`` is given as an empty line and its number (after ``base``, the lines
    of earlier chunks) added to ``oversize``."""
    pos, end, number = 0, len(text), base
    while pos < end:
        m = _EOL.search(text, pos)
        number += 1
        stop = end if m is None else m.start()
        if limit is not None and (stop - pos > limit or text.startswith(OVERSIZE_MARK, pos, stop)):
            oversize.add(number)
            line = "\n"
        else:
            line = text[pos:stop] + "\n" if m is not None else text[pos:]
        yield line
        if m is None:
            return
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
