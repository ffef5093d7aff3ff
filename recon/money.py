"""The only ways money enters Python: Decimal, never float.

DuckDB holds money as DECIMAL(18,2); Python code that must touch an amount goes through ``D``.
Spreadsheet readers hand numbers over as floats: ``from_float`` converts them with ``repr`` so the
shortest round-tripping decimal is kept (12.3 stays 12.3, not 12.2999999999999998).
"""

from decimal import Decimal


def D(value) -> Decimal:
    """Exact Decimal from a str, int or Decimal. Floats are refused: use ``from_float`` at the edge."""
    if isinstance(value, float):
        raise TypeError("money must not be a float; convert at the edge with from_float()")
    if isinstance(value, Decimal):
        return value
    return Decimal(str(value).strip())


def from_float(x: float) -> Decimal:
    """Decimal of a float a library handed us (an XLSX cell), via its shortest repr."""
    return Decimal(repr(x))
