"""DuckDB-only SQL lives in recon.sql.dialect: the engine renders it through the run's dialect.

Three checks: the engine's source holds none of the constructs only DuckDB has (outside the dialect
module); a real run asks the runner's dialect for each of them; and every step of that run is SQL
sqlglot reads as DuckDB's (what the Spark backend will transpile). The Spark-side measurement is
``bench/spark_readiness.py``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import duckdb
import pytest
import sqlglot

from recon.engine import steps
from recon.sql.dialect import DUCKDB, Dialect, DuckDBDialect

ROOT = Path(__file__).resolve().parent.parent
# the engine's SQL builders, and the SQL building blocks below them (the dialect itself aside)
MODULES = sorted((ROOT / "recon" / "engine").glob("*.py")) + sorted(
    p for p in (ROOT / "recon" / "sql").glob("*.py") if p.name != "dialect.py")
FORBIDDEN = {
    "ASOF join": r"\bASOF\b",
    "QUALIFY": r"\bQUALIFY\b",
    "macro": r"\bMACRO\b",
    "list lambda": r"\blambda\s+\w+\s*:|\b(list|array)_(filter|transform|apply|reduce)\s*\(",
    "struct literal": r"\{\s*'[^']*'\s*:",
    "list literal": r"\[\s*CASE\b",
    ":: cast": r"::\s*[A-Za-z]",
    "nfc_normalize": r"\bnfc_normalize\s*\(",
    "ord": r"\bord\s*\(",
    "to_seconds": r"\bto_seconds\s*\(",
}


def _strings(source: str):
    """(line, text) of every string literal in ``source`` but docstrings (f-strings by their parts)."""
    tree = ast.parse(source)
    docs = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docs.add(id(first.value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            yield node.lineno, node.value


def duckdb_only(source: str) -> list:
    """(line, construct) for each DuckDB-only construct written into ``source``'s SQL strings."""
    return [(line, name) for line, text in _strings(source) for name, rx in FORBIDDEN.items()
            if re.search(rx, text, re.I)]


def test_the_engine_writes_no_duckdb_only_construct_outside_the_dialect():
    found = [f"{p.relative_to(ROOT)}:{line}: {name}" for p in MODULES
             for line, name in duckdb_only(p.read_text(encoding="utf-8"))]
    assert not found, "render these through the run's dialect (recon.sql.dialect):\n" + "\n".join(found)


def test_the_scan_sees_each_construct_and_not_docstrings_or_comments():
    source = '''"""Docstring: an ASOF join, QUALIFY, x::INT, lambda x: x."""
# comment: CREATE TEMP MACRO m(x) AS x
A = f"""SELECT {{'field': 1}} FROM a ASOF JOIN b ON a.k = b.k AND a.t >= b.t QUALIFY rn = 1"""
B = "SELECT list_filter([CASE WHEN x THEN 1 END], lambda v: v IS NOT NULL), NULL::VARCHAR"
C = "CREATE OR REPLACE TEMP MACRO m(x) AS nfc_normalize(x) || ord(x)" + f"{1} + to_seconds(3)"
'''
    assert sorted({name for _, name in duckdb_only(source)}) == sorted(FORBIDDEN)
    assert all(line >= 3 for line, _ in duckdb_only(source))


class Recording(DuckDBDialect):
    """DuckDB's SQL, noting which methods the engine asked for."""

    def __init__(self):
        self.asked: set = set()

    def __getattribute__(self, name):
        if name in Dialect.__abstractmethods__:
            object.__getattribute__(self, "asked").add(name)
        return object.__getattribute__(self, name)


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    """The steps of a run of sample_data, by name (a step run twice counts once), and the dialect it used."""
    out = tmp_path_factory.mktemp("sample")
    seen: dict = {}
    recording = Recording()
    mp = pytest.MonkeyPatch()
    real_init, real_execute = steps.Runner.__init__, steps.Runner._execute

    def init(self, con, log=None, timings=None, dialect=None):
        real_init(self, con, log, timings, dialect or recording)

    def execute(self, step, fetch=False):
        seen.setdefault(step.name, step.sql)
        return real_execute(self, step, fetch)

    mp.setattr(steps.Runner, "__init__", init)
    mp.setattr(steps.Runner, "_execute", execute)
    try:
        with pytest.raises(SystemExit) as exc:
            from recon.cli import main
            main(["run", str(ROOT / "sample_data"), "--out", str(out / "out"), "--db", str(out / "s.duckdb"),
                  "--no-reports"])
    finally:
        mp.undo()
    assert exc.value.code == 1  # the sample month has unknown lines by design
    return seen, recording


def test_a_run_renders_every_duckdb_only_construct_through_the_runners_dialect(sample_run):
    _, dialect = sample_run
    assert dialect.asked == Dialect.__abstractmethods__ - {"define_function"}  # that one is the CSV writers'


def test_every_step_of_a_sample_run_is_duckdb_sql_sqlglot_reads(sample_run):
    stepped, _ = sample_run
    assert len(stepped) > 100 and "drill.layer1" in stepped and "outcome.run_line" in stepped
    unread = []
    for name, sql in stepped.items():
        try:
            sqlglot.parse_one(sql, read=DUCKDB.sqlglot)
        except sqlglot.errors.ParseError as exc:
            unread.append(f"{name}: {str(exc).splitlines()[0]}")
    assert not unread, "\n".join(unread)


def test_duckdbs_renderings_do_what_their_methods_say():
    con = duckdb.connect()
    con.execute("CREATE TABLE a AS SELECT * FROM (VALUES ('x', 5), ('x', 12), ('y', 1)) t(k, v)")
    con.execute("CREATE TABLE b AS SELECT * FROM (VALUES ('x', 4, 'four'), ('x', 10, 'ten'), ('x', 20, 'twenty')) t(k, v, w)")
    d = DUCKDB
    nearest = con.execute(f"SELECT a.k, a.v, b.w FROM {d.asof_join('a', 'b', 'a.k = b.k', 'a.v >= b.v', outer=True)} "
                          "ORDER BY a.k, a.v").fetchall()
    assert nearest == [("x", 5, "four"), ("x", 12, "ten"), ("y", 1, None)]
    top = con.execute(d.qualify("SELECT k, v, row_number() OVER (PARTITION BY k ORDER BY v DESC) AS rn FROM a",
                                "rn = 1") + " ORDER BY k").fetchall()
    assert top == [("x", 12, 1), ("y", 1, 1)]
    items = d.list_value(["1", "NULL", "3"])
    decomposed = quote("e\u0301")
    row = con.execute(f"SELECT {d.list_filter(items, 'x', 'x IS NOT NULL')}, "
                      f"{d.list_transform(items, 'x', 'x * 2')}, {d.list_element(items, '1')}, "
                      f"{d.struct({'a': '1', 'b': quote('t')})}.b, {d.first_code_point(quote('='))}, "
                      f"{d.nfc_normalize(decomposed)}, TIMESTAMP '2026-01-01' + {d.seconds('61')}").fetchone()
    assert row[:6] == ([1, 3], [2, None, 6], 1, "t", 61, "\u00e9") and str(row[6]) == "2026-01-01 00:01:01"
    con.execute(d.define_function("twice", "x", "x * 2"))
    assert con.execute("SELECT twice(21)").fetchone()[0] == 42


def quote(text: str) -> str:
    from recon.sql.quote import quote_literal
    return quote_literal(text)
