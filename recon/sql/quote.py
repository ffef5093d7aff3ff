"""The one place identifiers are quoted, and the one place a string literal is.

Values never go through here: they are bound parameters. The one exception is a statement DuckDB
does not let us bind, ``COPY … TO 'path'``: its path, always one recon chose (a temp file), is
written with ``quote_literal``. Identifiers (column and alias names) are
always double-quoted, so a column called ``order`` or ``金额`` is a name and never a keyword.
SQL written as text uses ``quote_ident``; SQL built as a sqlglot tree uses ``ident_node``, whose
generator applies the same rule (and the right quote character for another dialect, e.g. Spark's
backticks).
"""

from __future__ import annotations

from sqlglot import exp


def _checked(name: str) -> str:
    if not isinstance(name, str) or not name or "\x00" in name:
        raise ValueError(f"not a usable SQL identifier: {name!r}")
    return name


def quote_ident(name: str) -> str:
    """``order_no`` -> ``"order_no"``; an embedded ``"`` is doubled (ANSI SQL, DuckDB)."""
    return '"' + _checked(name).replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """``it's`` -> ``'it''s'``: a SQL string literal (ANSI, DuckDB); for what cannot be a bound parameter."""
    return "'" + _checked(text).replace("'", "''") + "'"


def ident_node(name: str) -> exp.Identifier:
    """A sqlglot identifier that always renders quoted (the tree form of ``quote_ident``)."""
    return exp.Identifier(this=_checked(name), quoted=True)


def column_node(name: str, qualifier: str | None = None) -> exp.Column:
    """A quoted column reference, optionally qualified by a table alias: ``"p"."amount"``."""
    return exp.Column(this=ident_node(name), table=ident_node(qualifier) if qualifier else None)
