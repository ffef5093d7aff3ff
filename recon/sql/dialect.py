"""The SQL an engine spells its own way, behind named methods: one class per engine.

The engine's steps are written in the SQL DuckDB and Spark SQL share (joins, CTEs, GROUP BY, FILTER,
CASE, window functions) and in the functions sqlglot translates faithfully from DuckDB to Spark
(``regexp_replace(x, p, r, 'g')``, ``string_agg``, ``list_sort``, ``unnest``). What neither holds, a
builder asks of the run's dialect (``Runner.dialect``) by name: an ASOF join, a QUALIFY filter, a
struct or list value and the lambdas over lists, NFC normalisation, a code point, a one-based list
element, a number of seconds, and a scalar function defined for a connection (DuckDB's temp macro).
``tests/test_dialect.py`` fails when one of these is written into an engine module instead.

The methods return SQL text and never touch a database; their arguments are SQL expressions the
caller built (identifiers through ``recon.sql.quote``, values as ``$name`` parameters). ``DUCKDB``
is the engine in use. The Spark issue adds a second subclass; the steps it cannot take through
sqlglot as they are, and why, are listed in ``bench/README.md`` ("Spark readiness of the engine
steps"). The model is splink's ``internals/dialects.py``: one pipeline, one object per engine.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from recon.sql.quote import quote_literal


class Dialect(ABC):
    """What a SQL engine must render for recon's steps that has no portable spelling.

    Attributes:
        sqlglot: the name sqlglot reads and writes this engine's SQL by (``tests/test_dialect.py``
            parses every step with it; a Spark dialect transpiles the portable steps to it).
    """

    sqlglot: str

    @abstractmethod
    def asof_join(self, left: str, right: str, on: str, nearest: str, outer: bool = False) -> str:
        """``left`` joined to the one row of ``right`` nearest by ``nearest`` among those matching ``on``.

        ``nearest`` is one inequality (``s.mag <= f.mag``: the smallest ``f.mag`` at or above);
        ``outer`` keeps a left row without a match (its right columns NULL).
        """

    @abstractmethod
    def qualify(self, select: str, condition: str) -> str:
        """``select`` keeping only the rows for which ``condition`` (over its window columns) holds."""

    @abstractmethod
    def struct(self, fields: dict[str, str]) -> str:
        """A struct value: field name -> SQL expression, in the given order."""

    @abstractmethod
    def list_value(self, items: list[str]) -> str:
        """A list of the given SQL expressions."""

    @abstractmethod
    def list_filter(self, items: str, var: str, predicate: str) -> str:
        """The elements of list ``items`` for which ``predicate`` (over ``var``) holds."""

    @abstractmethod
    def list_transform(self, items: str, var: str, expr: str) -> str:
        """List ``items`` with each element ``var`` replaced by ``expr``."""

    @abstractmethod
    def list_element(self, items: str, index: str) -> str:
        """Element ``index`` of list ``items``, counted from 1 (NULL past the end)."""

    @abstractmethod
    def nfc_normalize(self, text: str) -> str:
        """``text`` in Unicode normal form C."""

    @abstractmethod
    def first_code_point(self, text: str) -> str:
        """The code point of ``text``'s first character (-1 for '', NULL for NULL)."""

    @abstractmethod
    def seconds(self, n: str) -> str:
        """An interval of ``n`` seconds (an integer expression)."""

    @abstractmethod
    def define_function(self, name: str, arg: str, body: str) -> str:
        """The statement defining scalar function ``name(arg)`` as ``body`` for this connection."""


class DuckDBDialect(Dialect):
    """DuckDB's spelling: the SQL the engine has always run, so outputs stay byte-identical."""

    sqlglot = "duckdb"

    def asof_join(self, left, right, on, nearest, outer=False):
        return f"{left} ASOF {'LEFT ' if outer else ''}JOIN {right} ON {on} AND {nearest}"

    def qualify(self, select, condition):
        return f"{select}\n            QUALIFY {condition}"

    def struct(self, fields):
        return "{" + ", ".join(f"{quote_literal(k)}: {v}" for k, v in fields.items()) + "}"

    def list_value(self, items):
        return "[" + ", ".join(items) + "]"

    def list_filter(self, items, var, predicate):
        return f"list_filter({items}, lambda {var}: {predicate})"

    def list_transform(self, items, var, expr):
        return f"list_transform({items}, lambda {var}: {expr})"

    def list_element(self, items, index):
        return f"{items}[{index}]"

    def nfc_normalize(self, text):
        return f"nfc_normalize({text})"

    def first_code_point(self, text):
        return f"ord({text})"

    def seconds(self, n):
        return f"to_seconds({n})"

    def define_function(self, name, arg, body):
        return f"CREATE OR REPLACE TEMP MACRO {name}({arg}) AS\n    {body}"


DUCKDB = DuckDBDialect()
