"""Binding values to engine SQL: every value is a ``$name`` parameter, never pasted into the text."""

from __future__ import annotations

import re

_PARAM = re.compile(r"\$([A-Za-z_]\w*)")


def in_list(prefix: str, values, params: dict) -> str:
    """``$prefix0, $prefix1, …`` for an SQL ``IN (…)``, adding the values to ``params``."""
    names = []
    for i, v in enumerate(values):
        params[f"{prefix}{i}"] = str(v)
        names.append(f"${prefix}{i}")
    return ", ".join(names) or "NULL"


def execute(con, sql: str, params: dict | None = None):
    """Run ``sql`` with only the parameters it names (DuckDB refuses unused ones)."""
    used = set(_PARAM.findall(sql))
    return con.execute(sql, {k: v for k, v in (params or {}).items() if k in used})
