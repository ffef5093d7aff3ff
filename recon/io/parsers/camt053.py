"""ISO 20022 CAMT.053 bank-to-customer statement (``Document/BkToCstmrStmt/Stmt/Ntry``).

Any ``camt.053.001.xx`` version: tags are compared by local name, so the namespace URI (which
carries the version) does not matter, and the few places where versions differ (``Sts`` as text
or ``Sts/Cd``; parties as ``Dbtr/Nm`` or ``Dbtr/Pty/Nm``; ``BIC`` or ``BICFI``) accept both.

One row per ``Ntry``, whose ``source_line`` is its 1-based position among all entries of the
document (statements in document order). A batch booking (one ``Ntry`` with many ``TxDtls``) stays
one line, because one amount left or reached the account; ``TxCount`` says how many transactions
it carries, and the per-transaction references are only copied when there is exactly one.
``Amt`` stays unsigned beside ``CdtDbtInd``: the profile signs it, as it does for any unsigned
amount with a direction column. Times with an offset become the Asia/Shanghai wall clock.

The document is refused when it declares a DTD or entities: a bank statement never needs one,
and refusing them rules out entity expansion attacks whatever the XML library does.
"""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from zoneinfo import ZoneInfo

from recon.errors import InputError
from recon.io.parsers import Structured

SHANGHAI = ZoneInfo("Asia/Shanghai")
HEADER = [
    "StmtId", "Acct", "Ccy", "Svcr", "Amt", "CdtDbtInd", "RvslInd", "Sts", "BookgDt", "BookgDtTm",
    "ValDt", "AcctSvcrRef", "EndToEndId", "CdtrDbtrNm", "CdtrDbtrAcct", "Ustrd", "AddtlNtryInf",
    "BkTxCd", "TxCount",
]
_SNIFF = re.compile(rb"<(?:[\w.-]+:)?Document\b.*?<(?:[\w.-]+:)?BkToCstmrStmt\b", re.S)
_DTD = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.I)
_DATE_WITH_ZONE = re.compile(r"(\d{4}-\d{2}-\d{2})(?:Z|[+-]\d{2}:?\d{2})")


def sniff(data: bytes) -> bool:
    """A CAMT.053 document: root ``Document`` whose first child is ``BkToCstmrStmt``."""
    return bool(_SNIFF.search(data[:4096]))


def _local(tree: ET.Element) -> ET.Element:
    for el in tree.iter():
        if isinstance(el.tag, str) and "}" in el.tag:
            el.tag = el.tag.rsplit("}", 1)[1]
    return tree


def _text(el, path: str) -> str:
    """Text at the first of ``a|b`` alternative paths, stripped; '' when absent."""
    if el is None:
        return ""
    for alt in path.split("|"):
        found = el.find(alt)
        if found is not None and found.text and found.text.strip():
            return found.text.strip()
    return ""


def _wall_clock(value: str) -> str:
    """ISO date or date-time as Asia/Shanghai wall clock ('YYYY-MM-DD HH:MM:SS' or the date)."""
    if not value or "T" not in value:
        m = _DATE_WITH_ZONE.fullmatch(value or "")
        return m.group(1) if m else value
    try:
        t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value  # left as written: the profile's typing quarantines it with the column name
    if t.tzinfo is not None:
        t = t.astimezone(SHANGHAI).replace(tzinfo=None)
    return t.strftime("%Y-%m-%d %H:%M:%S")


def _date_pair(el) -> tuple[str, str]:
    """(date, date-time) of a ``BookgDt``/``ValDt`` element; the date-time only if one was given."""
    if el is None:
        return "", ""
    stamp = _wall_clock(_text(el, "DtTm"))
    if stamp:
        return stamp[:10], stamp
    day = _text(el, "Dt")
    # xs:date may carry a zone (Raiffeisen: 2017-04-01+02:00): the calendar day is the bank's own
    m = _DATE_WITH_ZONE.fullmatch(day)
    return (m.group(1) if m else day), ""


def _account(el) -> str:
    return _text(el, "Id/IBAN|Id/Othr/Id")


def _balance(stmt, codes: tuple[str, ...]) -> str | None:
    """Signed amount of the first balance whose type code is in ``codes`` (DBIT is negative)."""
    for code in codes:
        for bal in stmt.findall("Bal"):
            if _text(bal, "Tp/CdOrPrtry/Cd|Tp/CdOrPrtry/Prtry") == code:
                amount = _text(bal, "Amt")
                return f"-{amount}" if _text(bal, "CdtDbtInd") == "DBIT" else amount
    return None


def _party(tx, credit: bool) -> tuple[str, str]:
    """Counterparty name and account: the debtor pays us on a credit, the creditor on a debit."""
    who = "Dbtr" if credit else "Cdtr"
    rp = tx.find("RltdPties")
    if rp is None:
        return "", ""
    name = _text(rp, f"{who}/Nm|{who}/Pty/Nm")
    acct = rp.find(f"{who}Acct")
    return name, _account(acct) if acct is not None else ""


def _entry_row(stmt_id, acct, ccy, svcr, ntry) -> list[str]:
    credit = _text(ntry, "CdtDbtInd") == "CRDT"
    txs = ntry.findall("NtryDtls/TxDtls")
    count = _text(ntry, "NtryDtls/Btch/NbOfTxs") or str(len(txs))
    one = txs[0] if len(txs) == 1 else None
    e2e = _text(one, "Refs/EndToEndId") if one is not None else ""
    name, cp_acct = _party(one, credit) if one is not None else ("", "")
    ustrd = " ".join(u.text.strip() for u in one.findall("RmtInf/Ustrd") if u.text) if one is not None else ""
    booked, booked_at = _date_pair(ntry.find("BookgDt"))
    valued, _ = _date_pair(ntry.find("ValDt"))
    amt = ntry.find("Amt")
    bk = _text(ntry, "BkTxCd/Domn/Cd")
    if bk:
        bk = "/".join(x for x in (bk, _text(ntry, "BkTxCd/Domn/Fmly/Cd"),
                                  _text(ntry, "BkTxCd/Domn/Fmly/SubFmlyCd")) if x)
    else:
        bk = _text(ntry, "BkTxCd/Prtry/Cd")
    return [
        stmt_id, acct, (amt.get("Ccy") if amt is not None else "") or ccy, svcr,
        (amt.text or "").strip() if amt is not None else "", _text(ntry, "CdtDbtInd"),
        _text(ntry, "RvslInd"), _text(ntry, "Sts/Cd|Sts"), booked, booked_at, valued,
        _text(ntry, "AcctSvcrRef"), "" if e2e == "NOTPROVIDED" else e2e, name, cp_acct,
        ustrd, _text(ntry, "AddtlNtryInf"), bk, count,
    ]


def parse(data: bytes) -> Structured:
    """Flatten every statement's entries into rows; statement balances go into ``values``."""
    if _DTD.search(data):
        raise InputError("the CAMT.053 file declares a DTD or entities (<!DOCTYPE/<!ENTITY); a bank "
                         "statement never needs one, so it is refused. Re-download it from the bank")
    try:
        root = _local(ET.fromstring(data))
    except ET.ParseError as exc:
        raise InputError(f"the CAMT.053 file is not well-formed XML ({exc}); re-download it") from None
    statements = root.findall("BkToCstmrStmt/Stmt")
    rows, summary = [], []
    for stmt in statements:
        stmt_id = _text(stmt, "Id")
        acct = _account(stmt.find("Acct"))
        ccy = _text(stmt, "Acct/Ccy")
        svcr = _text(stmt, "Acct/Svcr/FinInstnId/BICFI|Acct/Svcr/FinInstnId/BIC")
        first = len(rows) + 1
        for ntry in stmt.findall("Ntry"):
            rows.append((len(rows) + 1, _entry_row(stmt_id, acct, ccy, svcr, ntry)))
        summary.append({
            "id": stmt_id, "account": acct, "currency": ccy or _currency_of_balances(stmt),
            "opening_balance": _balance(stmt, ("OPBD", "PRCD")),
            "closing_balance": _balance(stmt, ("CLBD",)),
            "balance_currency": "/".join(_balance_currencies(stmt)),
            "period_start": _wall_clock(_text(stmt, "FrToDt/FrDtTm")),
            "period_end": _wall_clock(_text(stmt, "FrToDt/ToDtTm")),
            "first_line": first if len(rows) >= first else None,
            "last_line": len(rows) if len(rows) >= first else None,
        })
    return Structured(HEADER, rows, _values(summary))


def _balance_currencies(stmt) -> list[str]:
    """The distinct currencies of the opening and closing balances, in that order."""
    out = []
    for bal in stmt.findall("Bal"):
        if _text(bal, "Tp/CdOrPrtry/Cd|Tp/CdOrPrtry/Prtry") in ("OPBD", "PRCD", "CLBD"):
            amt = bal.find("Amt")
            ccy = (amt.get("Ccy") or "") if amt is not None else ""
            if ccy and ccy not in out:
                out.append(ccy)
    return out


def _currency_of_balances(stmt) -> str:
    """The currency the statement's balances are written in (``Bal/Amt@Ccy``), '' if none."""
    amt = stmt.find("Bal/Amt")
    return (amt.get("Ccy") or "") if amt is not None else ""


def _values(summary: list[dict]) -> dict:
    """File-level values: one statement's own, or every statement's under ``statements``."""
    if not summary:
        return {}
    if len(summary) == 1:
        return {k: v for k, v in summary[0].items() if k not in ("id", "first_line", "last_line")}
    starts = [s["period_start"] for s in summary if s["period_start"]]
    ends = [s["period_end"] for s in summary if s["period_end"]]
    return {
        "account": summary[0]["account"], "currency": summary[0]["currency"],
        "period_start": min(starts) if starts else None, "period_end": max(ends) if ends else None,
        "statements": summary,
    }
