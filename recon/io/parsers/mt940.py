"""SWIFT MT940 customer statement: one row per ``:61:`` statement line.

The tag grammar is read by the ``mt-940`` library (import name ``mt940``, WoLpH): it is the
maintained, typed, dependency-free de-facto parser (formats notes §4.3), it already knows the
bank variants of ``:61:`` (entry dates across a year end, funds codes, ``//`` bank references,
long supplementary details) and the SWIFT envelope ``{1:…}{4:…-}``, and re-implementing that
grammar would be a second, less tested copy. This module only maps what it returns.

What the library does not give, and this module adds:

- ``source_line``: the physical line of each ``:61:`` tag, found by scanning the text with the
  same tag pattern the library uses, so a clerk can open the file at that line;
- quarantine instead of silence: the library skips a ``:61:`` it cannot read (and glues its
  ``:86:`` onto the previous entry). Every ``:61:`` is checked against the library's own pattern
  first; a bad one is returned as a reject with its line and the reason, and removed with its
  ``:86:`` before the library sees the text, so the other entries stay intact;
- the ``/EREF/ /NAME/ /REMI/ /IBAN/`` sub-fields of a structured ``:86:``;
- ``BookingDate``: the entry date, or the value date when the bank leaves the optional entry
  date out;
- per-statement opening (``:60F:``/``:60M:``) and closing (``:62F:``/``:62M:``) balances for the
  ``opening_closing`` proof.

Files as banks ship them, read before the library sees them (formats notes §4.2):

- bank header lines before the first tag (ABN AMRO ``ABNANL2A`` + ``940``, Rabobank ``:940:``, ING
  ``0000 01INGBNL2AXXXX00001``), a leading SOH control byte and SWIFT envelopes ``{1:…}{4:`` … ``-}``
  are not tags and are left out;
- a value wrapped onto the next line (``:28C:0000`` / ``0``) is joined again for one-line tags;
- a ``:61:`` whose customer reference is longer than SWIFT's 16 characters (ASN/SNS write the
  counterparty IBAN there) or that is followed by supplementary-details lines is re-shaped into the
  form the library reads, keeping the reference; an amount without a decimal comma (``C500NTRF``)
  is whole units; one with a point (``1250.50``) is ambiguous (decimal point or thousands
  separator) and quarantined with that reason;
- a statement the library still cannot parse is quarantined entry by entry with the library's
  message as a sentence; the other statements of the file load.

The amount is handed on unsigned beside the D/C mark; the profile signs it: C and RD (reversal
of a debit: money back in) are +, D and RC (reversal of a credit) are −.
"""

from __future__ import annotations

import datetime as dt
import re

import mt940 as swift

from recon.errors import InputError
from recon.io import containers
from recon.io.parsers import Structured
from recon.io.tabular import Reject

HEADER = [
    "StmtRef", "Account", "StmtNo", "BIC", "Currency", "ValueDate", "EntryDate", "BookingDate", "Mark",
    "FundsCode", "Amount", "TypeCode", "CustomerRef", "BankRef", "Supplementary", "Details",
    "EREF", "NAME", "REMI", "IBAN",
]
OPTIONS = swift.Options.all()  # RC negative, BOM stripped, :86: not truncated
_TAG = re.compile(r"^:\n?(?P<full>(?P<tag>[0-9]{2}|NS)(?P<sub>[A-Z])?):")  # the library's tag anchor
_STATEMENT_LINE = swift.tags.Tags.STATEMENT.value.re
_AMOUNT = re.compile(r"\d+(,\d*)?")
_HEAD61 = re.compile(r"^(?P<head>\d{6}(?:\d{4}|\s{4})?R?[DC][A-Z]?\d[\d,]*[NSF][A-Z0-9]{3})(?P<rest>.*)$")
_ONE_LINE_TAGS = {"20", "21", "25", "28", "28C", "60F", "60M", "62F", "62M", "64", "65", "13", "13D", "34F"}
_LOOSE_AMOUNT = re.compile(r"^\d{6}(?:\d{4}|\s{4})?R?[DC][A-Z]?(?P<amount>.*?)(?=[NSF][A-Z0-9]{3}|$)", re.I)
_SUBFIELD = re.compile(r"/(EREF|NAME|REMI|IBAN|BIC|TRTP|CSID|MARF|ORDP|BENM|PURP|RTRN|ULTC|ULTD|CNTP)/")
_ENVELOPE = re.compile(r"^\s*(-\}|-\s*$|\{[1-5]:)")  # SWIFT block ends/starts, never tag text
_ACCOUNT = re.compile(r"^([A-Z]{6}[A-Z0-9]{2}(?:[A-Z0-9]{3})?)/(.+)$")  # :25: BIC/account
_BLOCK1 = re.compile(r"\{1:F01([A-Z0-9]{8})[A-Z0-9]([A-Z0-9]{3})")


def sniff(data: bytes) -> bool:
    head = data[:8192].removeprefix(b"\xef\xbb\xbf").decode("latin-1")
    return bool(re.search(r"(?m)^:20:", head) and re.search(r"(?m)^:60[FM]?:", head))


def _tags(lines: list[str], start: int, end: int):
    """(physical line, tag, value) for the tags on lines[start:end]; values span continuation lines."""
    found = []
    for i in range(start, end):
        m = _TAG.match(lines[i])
        if m:
            found.append([i + 1, m.group("full"), [lines[i][m.end():]]])
        elif found and not _ENVELOPE.match(lines[i]):
            found[-1][2].append(lines[i])
    return [(line, tag, ("" if tag in _ONE_LINE_TAGS else "\n").join(
                x.strip() if tag in _ONE_LINE_TAGS else x.rstrip() for x in parts if x.strip()).strip())
            for line, tag, parts in found]


def _check_statement_line(value: str) -> tuple[str, str] | None:
    """None if the library reads this ``:61:`` as written, else (column, reason).

    Stricter than the library, whose type code is optional: ``D1250.50NMSC`` would otherwise be
    read as 1250 with '.50NMSC' taken for the customer reference.
    """
    m = _STATEMENT_LINE.match(value)
    if m and m.group("id") and _AMOUNT.fullmatch(m.group("amount")):
        return None
    loose = _LOOSE_AMOUNT.match(value)
    amount = loose.group("amount") if loose else ""
    if amount and not _AMOUNT.fullmatch(amount):
        why = ("MT940 writes a decimal comma; a point may be a decimal point or a thousands separator, "
               "so the amount is ambiguous" if "." in amount else "expected an amount like 1234,50")
        return "Amount", f"cannot read '{amount}': {why}; fix or re-download"
    return ":61:", ("the statement line does not follow the :61: layout (value date YYMMDD, optional "
                    "entry date MMDD, D/C/RD/RC mark, amount, type code); fix or re-download")


def _statement_variants(value: str):
    """(text, customer reference or None) shapes of one ``:61:`` value, as written first.

    Banks wrap the bank reference onto the next line, add supplementary-details lines, or write a
    reference longer than 16 characters; each shape below is one the library's pattern can read.
    """
    first, *more = value.split("\n")
    more = [m.strip() for m in more if m.strip()]
    yield value, None
    if more:
        wrapped = first + more[0] + ("\n" + " ".join(more[1:]) if more[1:] else "")
        if first[-1:].isdigit() and more[0].isdigit():  # a number cut by a line break (ING: //00000000001 / 005)
            yield wrapped, None
        yield first + "\n" + " ".join(more), None
        yield wrapped, None
    m = _HEAD61.match(first)
    if m:
        ref, _, bank_ref = m.group("rest").partition("//")
        head = m.group("head") + ("//" + bank_ref.strip() if bank_ref.strip() else "")
        details = " ".join(x for x in [ref.strip()] + more if x)
        yield head + ("\n" + details if details else ""), ref.strip()


def _reshape(value: str):
    """(text the library reads, customer reference override) or (None, problem)."""
    problem = None
    for text, ref in _statement_variants(value):
        found = _check_statement_line(text)
        if found is None and _whole(text):
            return text, ref
        problem = problem or found
    return None, problem or (":61:", "the statement line does not follow the :61: layout (value date YYMMDD, "
                                     "optional entry date MMDD, D/C/RD/RC mark, amount, type code); fix or re-download")


def _whole(text: str) -> bool:
    """The library's pattern reads all of ``text``, with nothing cut off.

    Its ``$`` also matches at a line end, so a longer text would be read in part: a reference longer
    than 16 characters silently split into reference and supplementary details, or the lines after
    the first supplementary line dropped.
    """
    m = _STATEMENT_LINE.match(text)
    if m is None or m.end() < len(text.rstrip()):
        return False
    extra = m.group("extra_details")
    return not extra or text[m.start("extra_details") - 1] == "\n"


def _details(text: str) -> dict:
    """Sub-fields of a structured ``:86:`` (``/EREF/…/NAME/…/REMI/…``); {} for free text."""
    flat = text.replace("\n", "")
    parts = _SUBFIELD.split(flat)
    if len(parts) < 3:
        return {}
    out = {}
    for key, value in zip(parts[1::2], parts[2::2]):
        out.setdefault(key, value.strip().strip("/").strip())
    return out


def _balance(data: dict, kinds: tuple[str, ...]):
    for kind in kinds:
        if data.get(kind) is not None:
            return data[kind]
    return None


def parse(data: bytes) -> Structured:
    text, _ = containers.decode(data)
    lines = re.split(r"\r\n|\r|\n", text.lstrip("\ufeff"))
    starts = [i for i, ln in enumerate(lines) if ln.startswith(":20:")]
    if not starts:
        raise InputError("no :20: tag found: this is not an MT940 statement")
    head = _BLOCK1.search("\n".join(lines[:starts[0] + 1]))
    bic = (head.group(1) + ("" if head.group(2) == "XXX" else head.group(2))) if head else ""
    rows, rejects, summary = [], [], []
    for n, start in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(lines)
        rows_before = len(rows)
        tags = _tags(lines, start, end)
        kept, entry_lines, refs, dropping = [], [], [], False
        for line, tag, value in tags:
            if tag == "61":
                value, ref = _reshape(value)
                dropping = value is None
                if dropping:
                    rejects.append(Reject(line, ref[0], ref[1], [_raw61(tags, line)]))
                    continue
                entry_lines.append(line)
                refs.append(ref)
            elif tag != "86":
                dropping = False
            if not dropping:
                kept.append(f":{tag}:{value}")
        try:
            stmt = swift.parse("\n".join(kept), options=OPTIONS)
            if len(stmt.transactions) != len(entry_lines):
                raise ValueError(f"{len(entry_lines)} :61: lines but the library read {len(stmt.transactions)}")
        except Exception as exc:  # the library raises bare exceptions with its regex in the text
            why = (f"MT940 statement at line {start + 1}: the MT940 library cannot read it ({_sentence(exc)}); "
                   f"the file is damaged or cut short, or a layout recon does not know: its entries are "
                   f"quarantined, the file's other statements load; re-download it")
            rejects.extend(Reject(line, ":20:", why, [value]) for line, tag, value in tags if tag == "61")
            summary.append({"id": f"line {start + 1}", "account": "", "currency": "", "unreadable": True,
                            "opening_balance": None, "closing_balance": None, "period_start": None,
                            "period_end": None, "first_line": None, "last_line": None})
            continue
        info = stmt.data
        opening = _balance(info, ("final_opening_balance", "intermediate_opening_balance", "opening_balance"))
        closing = _balance(info, ("final_closing_balance", "intermediate_closing_balance", "closing_balance"))
        currency = (opening or closing).amount.currency if (opening or closing) else ""
        account = info.get("account_identification") or ""
        bic_account = _ACCOUNT.match(account)
        if bic_account:
            bic, account = bic or bic_account.group(1), bic_account.group(2)
        for line, ref, tx in zip(entry_lines, refs, stmt.transactions):
            data = dict(tx.data)
            if ref is not None:
                data["customer_reference"] = ref
            rows.append((line, _row(info, account, bic, currency, data)))
        summary.append({
            "id": f"{info.get('transaction_reference', '')} {info.get('statement_number', '')}".strip(),
            "account": account, "currency": currency,
            "opening_balance": str(opening.amount.amount) if opening else None,
            "closing_balance": str(closing.amount.amount) if closing else None,
            "period_start": opening.date.isoformat() if opening else None,
            "period_end": closing.date.isoformat() if closing else None,  # inclusive last day
            "first_line": rows[rows_before][0] if len(rows) > rows_before else None,
            "last_line": rows[-1][0] if len(rows) > rows_before else None,
        })
    firsts = [st for st in summary if st["account"]] or summary
    values = {"account": firsts[0]["account"], "currency": firsts[0]["currency"],
              "period_start": firsts[0]["period_start"], "period_end": firsts[-1]["period_end"]}
    if len(summary) == 1:
        values.update(opening_balance=summary[0]["opening_balance"],
                      closing_balance=summary[0]["closing_balance"])
    else:
        values["statements"] = summary
    return Structured(HEADER, rows, values, rejects)


def _raw61(tags, line) -> str:
    return next((value for ln, tag, value in tags if ln == line and tag == "61"), "")


def _sentence(exc: Exception) -> str:
    """The library's message, first line only (it appends its whole regular expression)."""
    text = " ".join(str(exc).split("\n")[0].split()) or type(exc).__name__
    return text[:200]


def _row(info: dict, account: str, bic: str, currency: str, t: dict) -> list[str]:
    details = t.get("transaction_details") or ""
    sub = _details(details)
    customer_ref = t.get("customer_reference") or ""
    entry = t.get("entry_date")
    return [
        info.get("transaction_reference") or "", account,
        "/".join(x for x in (info.get("statement_number"), info.get("sequence_number")) if x),
        bic, t.get("currency") or currency, t["date"].isoformat(),
        entry.isoformat() if entry else "", (entry or t["date"]).isoformat(), t.get("status") or "", t.get("funds_code") or "",
        str(abs(t["amount"].amount)), t.get("id") or "",
        "" if customer_ref.upper() == "NONREF" else customer_ref, t.get("bank_reference") or "",
        t.get("extra_details") or "", " ".join(details.split("\n")) if not sub else details.replace("\n", ""),
        "" if sub.get("EREF", "").upper() in ("NOTPROVIDED", "NONREF") else sub.get("EREF", ""),
        sub.get("NAME", ""), sub.get("REMI", ""), sub.get("IBAN", ""),
    ]
