"""Streaming a query's lines into a file: header lines, the rows in large chunks, footer lines.

Each writer of the scale month is one SQL query yielding a single ``line`` column in file order.
The lines arrive in Arrow batches and are joined and encoded per batch (GBK/GB18030 included), so
a ten-million-line file never sits in memory as Python strings at once.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

BATCH = 200_000
BOM = b"\xef\xbb\xbf"


def cents(c) -> str:
    """``fmt.amt`` for integer cents (never a negative zero)."""
    d = Decimal(int(c or 0)).scaleb(-2)
    return f"{(d if d else abs(d)):.2f}"


def stamp(at: dt.datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S")


def write_query(con, path: Path, sql: str, head: list[str], foot: list[str], encoding: str,
                newline: str = "\r\n", bom: bool = False) -> Path:
    """Write ``head``, every ``line`` of ``sql`` in its ORDER BY order, then ``foot``."""
    path.parent.mkdir(parents=True, exist_ok=True)

    def enc(lines) -> bytes:
        return (newline.join(lines) + newline).encode(encoding, errors="strict") if lines else b""

    with open(path, "wb") as f:
        f.write((BOM if bom else b"") + enc(head))
        reader = con.sql(sql).to_arrow_reader(BATCH)
        for batch in reader:
            f.write(enc(batch.column(0).to_pylist()))
        f.write(enc(foot))
    return path


def one(con, sql: str, params=None) -> tuple:
    return con.execute(sql, params or []).fetchall()[0]
