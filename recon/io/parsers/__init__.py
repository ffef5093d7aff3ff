"""Parsers for non-tabular statements (CAMT.053 XML, SWIFT MT940).

Each parser module exposes ``sniff(data: bytes) -> bool`` and ``parse(data: bytes) -> Structured``:
it flattens the statement into rows of strings under a synthetic header, so the same profile
mapping, de-duplication, quarantine and proofs apply as for CSV and XLSX. Opening and closing
balances, account and currency go into ``values`` for the ``opening_closing`` proof.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Structured:
    header: list
    rows: list  # [(source_line, [cells as str])]
    values: dict = field(default_factory=dict)  # account, currency, opening_balance, closing_balance, period_start, period_end
    rejects: list = field(default_factory=list)  # recon.io.tabular.Reject


def registry() -> dict:
    """Parser name -> module. Imported lazily so a broken optional parser cannot break CSV imports."""
    from recon.io.parsers import camt053, mt940

    return {"camt053": camt053, "mt940": mt940}
