"""Byte-level helpers shared by the writers: number and date text, CSV lines, zips, workbooks.

Nothing here reads the clock. Zip members carry a fixed timestamp, workbooks fixed document
properties, so two runs with the same arguments write byte-identical files.
"""

from __future__ import annotations

import datetime as dt
import struct
import zlib
from decimal import Decimal
from pathlib import Path

T = "\t"


def amt(d: Decimal, places: int = 2) -> str:
    """Fixed decimals, never a negative zero (``-0.00`` appears in no real export)."""
    return f"{(d if d else abs(d)):.{places}f}"


def ts(at: dt.datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S")


def cn_ts(at: dt.datetime) -> str:
    """Alipay preamble style: 2026年01月01日 00:00:00."""
    return at.strftime("%Y年%m月%d日 %H:%M:%S")


def midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0))


def write_lines(path: Path, lines: list[str], encoding: str, newline: str = "\r\n",
                bom: bool = False) -> Path:
    """Write text lines with an explicit line ending and encoding (strict: unencodable text fails)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = newline.join(lines) + newline
    raw = data.encode(encoding, errors="strict")
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + raw)
    return path


# ---------------------------------------------------------------- zip with GBK member names

def zip_bytes(members: list[tuple[str, bytes]], when: dt.datetime, name_encoding: str = "gbk") -> bytes:
    """A deflated zip whose member names are ``name_encoding`` bytes with the UTF-8 flag clear.

    Python's ``zipfile`` always flags non-ASCII names as UTF-8; Alipay's zips do not (formats
    notes §1, §7.2), so the few records are written here by hand.
    """
    dos_time = (when.hour << 11) | (when.minute << 5) | (when.second // 2)
    dos_date = ((when.year - 1980) << 9) | (when.month << 5) | when.day
    local, central, offset = b"", b"", 0
    for name, data in members:
        raw_name = name.encode(name_encoding)
        comp = zlib.compressobj(6, zlib.DEFLATED, -15)
        body = comp.compress(data) + comp.flush()
        crc = zlib.crc32(data) & 0xFFFFFFFF
        head = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, dos_time, dos_date, crc,
                           len(body), len(data), len(raw_name), 0)
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, dos_time, dos_date,
                               crc, len(body), len(data), len(raw_name), 0, 0, 0, 0, 0o644 << 16,
                               offset) + raw_name
        chunk = head + raw_name + body
        local += chunk
        offset += len(chunk)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central),
                      len(local), 0)
    return local + central + end


# ---------------------------------------------------------------- xlsx

def write_xlsx(path: Path, sheets: list[tuple[str, list[list]]], created: dt.datetime,
               widths: dict | None = None) -> Path:
    """Write sheets of rows. str -> text cell, Decimal/int -> number, date -> date cell, None -> empty.

    Ids are always passed as str so Excel keeps every digit. Decimal goes to the XML as its own
    digits (xlsxwriter formats numbers with ``.16g``), never through a float.
    """
    import xlsxwriter

    path.parent.mkdir(parents=True, exist_ok=True)
    wb = xlsxwriter.Workbook(str(path), {"in_memory": True, "strings_to_numbers": False,
                                         "strings_to_formulas": False, "strings_to_urls": False})
    wb.set_properties({"created": created, "author": "recon sample", "company": ""})
    date_fmt = wb.add_format({"num_format": "yyyy-mm-dd"})
    money_fmt = wb.add_format({"num_format": "0.00"})
    for name, rows in sheets:
        ws = wb.add_worksheet(name)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if value is None:
                    continue
                if isinstance(value, str):
                    ws.write_string(r, c, value)
                elif isinstance(value, dt.datetime):
                    ws.write_datetime(r, c, value, date_fmt)
                elif isinstance(value, dt.date):
                    ws.write_datetime(r, c, midnight(value), date_fmt)
                elif isinstance(value, Decimal):
                    ws.write_number(r, c, value, money_fmt if value.as_tuple().exponent == -2 else None)
                else:
                    ws.write_number(r, c, value)
        for col, width in (widths or {}).items():
            ws.set_column(col, col, width)
    wb.close()
    return path
