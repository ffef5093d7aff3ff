"""The size limits an import holds to, so a hostile or broken file is refused before it exhausts memory.

Four limits, each a ``--limit NAME=VALUE`` option of ``recon run``, ``recon import`` and ``recon sniff``:

- ``file`` (default 2GB): the largest input file read. A larger file, or one with holes (a sparse file,
  mostly never written), is refused before it is read.
- ``unpacked`` (default 4GB): the bytes all layers of one archive may unpack to together (a zip in a
  zip counts both layers), XLSX workbook parts included.
- ``ratio`` (default 200): how many times larger than what was read a stream may grow; checked as
  the stream is unpacked, so a decompression bomb stops within its first megabytes.
- ``field`` (default 1MB): the largest CSV cell; a line holding a larger one is quarantined with its
  line number and the rest of the file loads.

The limits are read by the importer wherever it runs (the file being prepared ahead runs in a
thread), so they are process state, set for the length of one command by ``use``.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, fields, replace

from recon.errors import ReconError

_UNITS = {"": 1, "B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}


@dataclass(frozen=True)
class Limits:
    file: int = 2 * 1024**3
    unpacked: int = 4 * 1024**3
    ratio: int = 200
    field: int = 1024**2

    @classmethod
    def parse(cls, items) -> "Limits":
        """``["unpacked=8GB", "ratio=500"]`` -> Limits; a bad item is a user error saying what is allowed."""
        out = cls()
        names = [f.name for f in fields(cls)]
        for item in items or ():
            name, _, value = str(item).partition("=")
            name = name.strip().lower()
            if name not in names or not value.strip():
                raise ReconError(f"--limit {item!r}: expected NAME=VALUE with NAME one of {', '.join(names)}, "
                                 "e.g. --limit unpacked=8GB or --limit ratio=500")
            out = replace(out, **{name: _number(item, value, name == "ratio")})
        return out


def _number(item: str, value: str, plain: bool) -> int:
    m = re.fullmatch(r"\s*(\d{1,15})\s*([A-Za-z]{0,2})\s*", value)
    unit = m.group(2).upper() if m else None
    if m is None or unit not in _UNITS or (plain and unit) or int(m.group(1)) < 1:
        what = "a whole number, e.g. ratio=500" if plain else "a size such as 500MB or 8GB"
        raise ReconError(f"--limit {item!r}: the value must be {what}")
    return int(m.group(1)) * _UNITS[unit]


def human(n: int) -> str:
    """A byte count as people read it: 1.5 GB, 700 MB, 12 KB."""
    for unit, size in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if n >= size:
            return f"{n / size:.1f}".rstrip("0").rstrip(".") + f" {unit}"
    return f"{n} bytes"


_current = Limits()


def current() -> Limits:
    return _current


@contextlib.contextmanager
def use(limits: Limits | None):
    """Hold the import to ``limits`` (None: the defaults) until the block ends."""
    global _current
    old, _current = _current, limits or Limits()
    try:
        yield _current
    finally:
        _current = old
