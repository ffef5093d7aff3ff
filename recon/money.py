"""The only ways money enters Python: Decimal, never float.

DuckDB holds money as DECIMAL(18,2); Python code that must touch an amount goes through ``D``.
Spreadsheet readers hand numbers over as floats: ``from_float`` converts them with ``repr`` so the
shortest round-tripping decimal is kept (12.3 stays 12.3, not 12.2999999999999998).
"""

import re
import unicodedata
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


_TYPED = re.compile(r"(?P<sign>[+-])?(?P<int>\d{1,3}(?:,\d{3})+|\d+)(?:\.(?P<frac>\d{1,2}))?")
_AFFIXES = ("¥", "元", "RMB", "CNY")


def parse_typed_amount(text: str) -> Decimal:
    """An amount as a person types it: ``-137.06``, ``¥12,500.00``, ``12500``, ``（12.30）``, full-width digits.

    Full-width characters are folded (NFKC), ``¥``/``元``/``RMB``/``CNY`` and spaces dropped, ``(x)`` and
    the typographic minus read as negative, thousands separators accepted only in groups of three. More
    than two decimals is refused rather than rounded: a difference is exact to the cent. Raises
    ValueError with what was expected.
    """
    s = unicodedata.normalize("NFKC", str(text)).replace("\u2212", "-").replace(" ", "")
    negative = s.startswith("(") and s.endswith(")")
    if negative:
        s = s[1:-1]
    for affix in _AFFIXES:
        s = s.replace(affix, "")
    m = _TYPED.fullmatch(s)
    if not m or (negative and m.group("sign")):
        raise ValueError(f"{text!r} is not an amount: write it as 428.36, -137.06, ¥12,500.00 or (12.30)")
    value = Decimal(m.group("int").replace(",", "") + "." + (m.group("frac") or "0"))
    return -value if negative or m.group("sign") == "-" else value
