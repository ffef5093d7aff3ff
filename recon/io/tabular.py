"""Find the header by content, split preamble / data / footer, and repair or reject rows.

Real exports move their header (WeChat 17→18, JD row 2, Alipay row 5), pad footers with commas
and end with summary blocks. Nothing here counts skip rows: the header is the row among the
first ``SCAN_ROWS`` that holds every column a profile's ``detect.header`` names, and data ends at
the first footer row (``#…``, ``----…结束``, ``合计``/``总计``, or a summary title).
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Iterator

from recon.io.profile import Profile, norm_header

SCAN_ROWS = 60
DEFAULT_STOPS = (r"^#", r"^-{5,}", r"^(合计|总计|本页合计|小计|本页小计)(\b|$|:)")


def row_text(cells) -> str:
    """A row as one NFKC string, trailing empty cells dropped (footers are padded with commas)."""
    cells = list(cells)
    while cells and not str(cells[-1]).strip():
        cells.pop()
    return unicodedata.normalize("NFKC", ",".join(str(c) for c in cells)).strip()


def is_blank(cells) -> bool:
    return all(not str(c).strip(" \t\u3000`") for c in cells)


@dataclass
class Detection:
    profile: Profile
    header_index: int  # index into the buffered rows


def detect(rows: list, profiles: list[Profile]) -> Detection | None:
    """Best profile whose header columns (and preamble markers) appear in the first rows."""
    best = None
    norms = [{norm_header(c) for c in cells} for _, cells in rows[:SCAN_ROWS]]
    for prof in profiles:
        if prof.parser or not prof.detect_header:
            continue
        for i, names in enumerate(norms):
            if not all(any(alt in names for alt in group) for group in prof.detect_header):
                continue
            before = "\n".join(row_text(c) for _, c in rows[:i])
            if all(re.search(m, before, re.M) for m in prof.detect_markers) and _values_match(
                    rows[i][1], rows[i + 1:SCAN_ROWS], prof.detect_values):
                cand = Detection(prof, i)
                if best is None or prof.specificity > best.profile.specificity:
                    best = cand
            break
    return best


def _values_match(header, data_rows, wanted) -> bool:
    """Each (column, regex) of ``detect.values`` matches a cell of at least one early data row.

    Two layouts can share a header and differ only in what the rows hold: an Alipay 账务明细 whose
    业务基础订单号 column carries 19-digit Taobao order numbers is a Tmall shop's settlement.
    """
    names = [norm_header(c) for c in header]
    for col, pattern in wanted:
        if col not in names:
            return False
        j = names.index(col)
        if not any(j < len(cells) and re.search(pattern, str(cells[j]).strip(" \t`'\u3000"))
                   for _, cells in data_rows):
            return False
    return True


@dataclass
class Reject:
    line: int
    column: str | None
    reason: str
    raw: list


@dataclass
class Table:
    """One detected table: the header, preamble and a lazy stream of data rows."""

    profile: Profile
    header: list
    header_line: int
    preamble: list
    rows_iter: Iterator
    footer: list = field(default_factory=list)
    rejects: list = field(default_factory=list)
    data_lines: int = 0
    source: tuple | None = None  # (decoded text, delimiter) of a text part: lets ``fastcsv`` read it in DuckDB
    payload: object = None  # its data region already written out by ``fastcsv.prepare`` (or why not)
    spans: object = None  # a text part's line positions in its bytes (``recon.io.records.line_spans``)
    record_starts: list = field(default_factory=list)  # every record's first line, as the Python reader read
    read: dict = field(default_factory=dict)  # how it was read: source_part reader, encoding, delimiter, col_shift

    def preamble_values(self) -> dict:
        text = "\n".join(self.preamble)
        values = {}
        for key, pattern in self.profile.preamble.items():
            m = re.search(pattern, text, re.M)
            if m:
                values[key] = (m.group(1) if m.groups() else m.group(0)).strip()
        return values

    def _is_footer(self, cells) -> bool:
        if self.profile.summary_titles and cells and norm_header(cells[0]) in self.profile.summary_titles:
            return True
        if self.profile.footer_first_cell and cells:
            first = unicodedata.normalize("NFKC", str(cells[0])).strip()
            if first and any(re.search(p, first) for p in self.profile.footer_first_cell):
                return True
        if self.profile.footer_stop:
            text = row_text(cells)
            return any(re.search(p, text) for p in self.profile.footer_stop + DEFAULT_STOPS)
        # The default stops look only at the start of the row: test the first cell, not the joined row
        # (this runs once per data line).
        head = unicodedata.normalize("NFKC", str(cells[0])[:12]).strip() if cells else ""
        return bool(head) and any(re.search(p, head) for p in DEFAULT_STOPS)

    def merge_at(self) -> int | None:
        """0-based column into which a row's surplus cells are merged (``repair.merge_column``)."""
        if not self.profile.repair_merge_column:
            return None
        names = [norm_header(h) for h in self.header]
        key = norm_header(self.profile.repair_merge_column)
        return names.index(key) if key in names else None

    def data_rows(self) -> Iterator[tuple[int, list]]:
        """Yield (line, cells) of good-shaped data rows; count lines; collect rejects and footer."""
        width = len(self.header)
        norm_header_row = [norm_header(h) for h in self.header]
        pad_short = self.profile.allow_short_rows
        described = self.profile.description_row  # a regex, or None
        first_data_seen = False
        merge_at = self.merge_at()
        in_footer = False
        for line, cells in self.rows_iter:
            unreadable = getattr(cells, "unreadable", None)  # containers.Unreadable: no cells to judge
            if unreadable and not in_footer:
                self.data_lines += 1
                self.rejects.append(Reject(line, None, unreadable, ["(not kept: see the reason)"]))
                continue
            if in_footer:
                if not is_blank(cells):
                    self.footer.append(row_text(cells))
                continue
            if not first_data_seen and described and re.search(described, row_text(cells)):
                self.preamble.append(row_text(cells))  # a description row under the header, kept for audit
                continue
            if is_blank(cells):
                continue
            if self._is_footer(cells):
                in_footer = True
                self.footer.append(row_text(cells))
                continue
            if (cells and norm_header(cells[0]) == norm_header_row[0]
                    and [norm_header(c) for c in cells[:width]] == norm_header_row):
                continue  # a repeated header (multi-sheet or concatenated exports)
            self.data_lines += 1
            first_data_seen = True
            cells = shape(cells, width, merge_at, pad_short)
            if len(cells) != width:
                where = f" on line {self.header_line}" if self.header_line else ""  # None: a continued sheet
                self.rejects.append(Reject(
                    line, None,
                    f"expected {width} columns as in the header{where}, "
                    f"found {len(cells)}: the row is cut or has an unquoted comma; fix or re-download",
                    list(cells)))
                continue
            yield line, cells


def shape(cells, width: int, merge_at: int | None = None, pad_short: bool = False) -> list:
    """A data row's cells as the import keeps them: trailing empty cells beyond the header dropped,
    surplus cells merged back into ``merge_at`` (an unquoted comma), a short row padded when the
    profile allows it. A row still not ``width`` wide is rejected by the caller.

    ``recon.io.records`` applies the same function when it reads a record back from the evidence.
    """
    cells = list(cells)
    while len(cells) > width and not str(cells[-1]).strip():
        cells.pop()
    if len(cells) > width and merge_at is not None:
        extra = len(cells) - width
        merged = ",".join(cells[merge_at:merge_at + extra + 1])
        cells = cells[:merge_at] + [merged] + cells[merge_at + extra + 1:]
    if len(cells) < width and pad_short:
        cells = cells + [""] * (width - len(cells))
    return cells


def split(rows: Iterator, profiles: list[Profile], forced: Profile | None = None):
    """Buffer the first rows, detect the layout, and return a Table streaming the rest.

    Returns None when no profile matches.
    """
    rows = iter(rows)
    head = list(itertools.islice(rows, SCAN_ROWS))
    found = detect(head, [forced] if forced else profiles)
    if found is None:
        return None
    i = found.header_index
    header_line, header = head[i]
    header = list(header)
    while header and not str(header[-1]).strip():
        header.pop()  # a trailing comma makes an empty last column
    preamble = [row_text(c) for _, c in head[:i] if not is_blank(c)]
    rest = itertools.chain(head[i + 1:], rows)
    return Table(found.profile, header, header_line, preamble, rest)


# ---------------------------------------------------------------- why a part was not read

# Words of a ledger's header: an amount column and a date column make a file that must not be skipped
# quietly (a bank or platform download in a layout no profile describes yet).
AMOUNT_WORDS = ("金额", "收入", "支出", "借方", "贷方", "余额", "发生额", "实收", "应结", "结算", "收支",
                "amount", "debit", "credit", "balance")
DATE_WORDS = ("日期", "时间", "交易日", "记账日", "date", "time")


def ledger_hint(rows) -> tuple[int, list] | None:
    """(line, header cells) of the first row among the first ``SCAN_ROWS`` that reads like a ledger
    header (an amount word and a date word in different cells, three or more cells), else None."""
    for line, cells in itertools.islice(rows, SCAN_ROWS):
        names = [norm_header(c).lower() for c in cells if str(c).strip()]
        if len(names) < 3 or any(len(n) > 40 for n in names):
            continue
        money = {i for i, n in enumerate(names) if any(w in n for w in AMOUNT_WORDS)}
        dates = {i for i, n in enumerate(names) if any(w in n for w in DATE_WORDS)}
        if money and dates and (money | dates) != (money & dates):
            return line, [str(c).strip() for c in cells if str(c).strip()]
    return None


def missing_columns(rows, profile: Profile) -> tuple[int, list] | None:
    """For a forced profile that detected nothing: (line, missing column groups) of the row among
    the first ``SCAN_ROWS`` holding most of the columns its ``detect.header`` names."""
    best = None
    for line, cells in itertools.islice(rows, SCAN_ROWS):
        names = {norm_header(c) for c in cells}
        missing = [g for g in profile.detect_header if not any(alt in names for alt in g)]
        if best is None or len(missing) < len(best[1]):
            best = (line, missing)
    return best


def skip_reason(rows, profiles: list[Profile], forced: Profile | None) -> dict:
    """Why a part was skipped, as data: reason (a sentence), looks_like_ledger, and the header seen."""
    rows = list(itertools.islice(rows, SCAN_ROWS))
    hint = ledger_hint(rows)
    info = {"reason": "", "looks_like_ledger": hint is not None,
            "header_line": hint[0] if hint else None, "header": hint[1] if hint else []}
    if forced is not None and forced.detect_header:
        found = missing_columns(rows, forced)
        if found and found[1]:
            cols = "; ".join(" or ".join(g) for g in found[1])
            info["reason"] = (f"--format {forced.name}: no header row has the columns this format needs; the "
                              f"closest (line {found[0]}) lacks {cols}. Check that this is a {forced.title} "
                              f"file, or describe its layout in a profile (--profile)")
            return info
        if found:
            info["reason"] = (f"--format {forced.name}: the header on line {found[0]} has its columns, but "
                              f"its preamble markers or early values do not match; check the file")
            return info
    if forced is not None:
        info["reason"] = f"--format {forced.name}: this part is not a {forced.title} file"
        return info
    if hint:
        info["reason"] = (f"it looks like a ledger (line {hint[0]} has amount and date columns: "
                          f"{', '.join(hint[1][:8])}) but no known format matches; it is NOT in this run: "
                          f"describe its layout in a profile (--profile) or force one with --format")
    else:
        info["reason"] = "no known layout (no header with amount and date columns in its first rows)"
    return info
