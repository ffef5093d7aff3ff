"""Cells we hand to spreadsheets: formula-injection guards, money and date cells, streamed XLSX tables.

Text that came from an input file may begin with a character a spreadsheet treats as the start of
a formula (``= + - @``, the full-width ``＝``, or a tab/CR that some importers strip first).
``neutralise`` is the CSV guard (a leading apostrophe, the same rule as the SQL macro ``r_safe`` in
``results.py``). In XLSX a cell written as a string is never evaluated, but Excel re-parses it when
a user edits the cell; such cells also get the *quote prefix* style, Excel's own "this is text"
mark, which keeps the value byte-for-byte (an importer reading the 摘要 sees the original text).

Money is written from ``Decimal`` straight to the XML (xlsxwriter formats numbers with ``.16G``,
which a Decimal honours exactly), with the number format of its own currency (``money_format``:
¥ for CNY, US$ for USD, the ISO code for others, no symbol where the currency is not known), so a
clerk can sum it and never reads a dollar amount as yuan; never as text.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass

from recon.labels import say
from recon.sql.neutralise import strip_controls

HOSTILE_PREFIXES = ("=", "+", "-", "@", "＝", "\t", "\r")
_HOSTILE_SET = frozenset(HOSTILE_PREFIXES)
_EXCEL_EPOCH = dt.datetime(1899, 12, 30)  # day 0 of Excel's (1900, leap-bug-adjusted) date system
# Excel's limits: rows per sheet, characters per cell.
EXCEL_MAX_ROWS = 1_048_576
EXCEL_MAX_CELL = 32_767
MONEY_FORMAT = '"¥"#,##0.00;[Red]"¥"-#,##0.00'
_SYMBOLS = {"CNY": "¥", "USD": "US$", "HKD": "HK$", "EUR": "€", "GBP": "£", "JPY": "JP¥"}


def money_format(currency) -> str:
    """Excel's number format for an amount in ``currency`` (an ISO code; anything else: no symbol)."""
    code = currency if isinstance(currency, str) and re.fullmatch(r"[A-Z]{3}", currency) else None
    if code is None:
        return "#,##0.00;[Red]-#,##0.00"
    mark = f'"{_SYMBOLS.get(code, code + " ")}"'
    return f"{mark}#,##0.00;[Red]{mark}-#,##0.00"
DATE_FORMAT = "yyyy-mm-dd"


def is_hostile(text: str) -> bool:
    return text[:1] in _HOSTILE_SET


def neutralise(text):
    """The CSV guard: control characters stripped, then a leading apostrophe on text a spreadsheet would
    run as a formula (the rules of ``r_safe``, ``recon.sql.neutralise``). None stays None."""
    if text is None:
        return None
    text = strip_controls(str(text))
    return "'" + text if is_hostile(text) else text


def clip(text: str, limit: int = EXCEL_MAX_CELL) -> str:
    """Text cut to a cell's limit with a visible marker, so a long list never fails the write silently."""
    if len(text) <= limit:
        return text
    marker = f"…（截断，原文 {len(text)} 字符）"
    return text[: limit - len(marker)] + marker


@dataclass(frozen=True)
class Column:
    """One column of a streamed sheet: header, kind (text|int|money|amount|date) and width in characters."""

    header: str
    kind: str = "text"
    width: float = 12
    currency_col: int | None = None  # money: the column of the same row holding its currency


class Styles:
    """The formats a workbook shares; xlsxwriter wants each created once per workbook."""

    def __init__(self, wb):
        self._wb = wb
        self._money: dict = {}
        self.money = wb.add_format({"num_format": MONEY_FORMAT})
        self.date = wb.add_format({"num_format": DATE_FORMAT})
        self.guard = wb.add_format({"quote_prefix": True})
        self.header = wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True,
                                     "valign": "top"})
        self.caption = wb.add_format({"italic": True, "font_color": "#595959"})
        self.title = wb.add_format({"bold": True, "font_size": 14})
        self.link = wb.add_format({"font_color": "#0563C1", "underline": 1})
        self.plain_number = wb.add_format({"num_format": "0.00"})

    def money_for(self, currency):
        """The money format of ``currency``, created once per workbook."""
        fmt = money_format(currency)
        if fmt not in self._money:
            self._money[fmt] = self._wb.add_format({"num_format": fmt})
        return self._money[fmt]


def write_cell(ws, row: int, col: int, value, kind: str, styles: Styles, money_style=None) -> None:
    """Write one value by its column kind; None leaves the cell empty (blank means 'cannot say')."""
    cell_writer(ws, kind, styles, money_style)(row, col, value)


def cell_writer(ws, kind: str, styles: Styles, money_style=None):
    """A writer ``(row, col, value)`` for one column kind, bound once per sheet (this loop runs per cell)."""
    write_string, write_number = ws.write_string, ws.write_number
    if kind in ("money", "amount"):  # amount: money whose currency the sheet cannot say (no symbol)
        fmt = money_style or (styles.money if kind == "money" else styles.money_for(None))

        def write(r, c, v):
            if v is not None:
                write_number(r, c, v, fmt)
    elif kind == "int":
        def write(r, c, v):
            if v is not None:
                write_number(r, c, v)
    elif kind == "date":
        date_fmt = styles.date

        def write(r, c, v):
            # Excel stores a date as days since 1899-12-30 with a date format; computing the serial
            # here skips write_datetime's per-cell conversions
            if v is not None:
                if not isinstance(v, dt.datetime):
                    v = dt.datetime.combine(v, dt.time())
                delta = v - _EXCEL_EPOCH
                write_number(r, c, delta.days + delta.seconds / 86400, date_fmt)
    elif kind == "finding":  # results.csv's finding cell, written as its Chinese sentence (recon.labels)
        text = cell_writer(ws, "text", styles)

        def write(r, c, v):
            if v is not None:
                text(r, c, say(v, "zh"))
    else:
        guard = styles.guard

        def write(r, c, v):
            if v is None:
                return
            text = strip_controls(v if type(v) is str else str(v))
            if len(text) > EXCEL_MAX_CELL:
                text = clip(text)
            write_string(r, c, text, guard if text[:1] in _HOSTILE_SET else None)
    return write


def sheet_names(base: str, total: int, per_sheet: int) -> list[str]:
    """The sheet names a table of ``total`` rows needs: base, base(2), base(3)… (at least one)."""
    count = max(1, math.ceil(total / per_sheet))
    return [base] + [f"{base}({k})" for k in range(2, count + 1)]


def write_table(wb, styles: Styles, names: list[str], columns, rows, total: int, caption: str,
                per_sheet: int) -> None:
    """Stream ``rows`` (an iterator of tuples) into the sheets ``names``, ``per_sheet`` rows each.

    Each sheet: a caption row, the header row (frozen, with an autofilter over the data), column
    widths. Rows arrive in order, as constant_memory mode requires, so memory stays flat however
    long the table is.
    """
    rows = iter(rows)
    remaining = total
    for k, name in enumerate(names, start=1):
        n = min(per_sheet, remaining)
        remaining -= n
        ws = wb.add_worksheet(name)
        for c, col in enumerate(columns):
            ws.set_column(c, c, col.width)
        part = f"（第 {k}/{len(names)} 表）" if len(names) > 1 else ""
        ws.write_string(0, 0, caption + part, styles.caption)
        for c, col in enumerate(columns):
            ws.write_string(1, c, col.header, styles.header)
        ws.freeze_panes(2, 0)
        ws.autofilter(1, 0, 1 + max(n, 1), len(columns) - 1)
        writers = [(c, cell_writer(ws, col.kind, styles)) for c, col in enumerate(columns)
                   if col.currency_col is None]
        priced = [(c, col.currency_col) for c, col in enumerate(columns) if col.currency_col is not None]
        write_number, money_for = ws.write_number, styles.money_for
        for r in range(2, 2 + n):
            values = next(rows, None)
            if values is None:
                raise RuntimeError(f"sheet {name}: the query returned fewer rows than its count ({total})")
            for c, write in writers:
                write(r, c, values[c])
            for c, cur in priced:  # an amount carries its own currency's format
                if values[c] is not None:
                    write_number(r, c, values[c], money_for(values[cur]))
