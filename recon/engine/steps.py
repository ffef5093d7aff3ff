"""Engine SQL as data: a ``Step`` names its statement and its output; one ``Runner`` executes steps.

The engine modules are SQL builders: they return steps (``Step(name, sql, params, writes)``) and the
runner executes them in order on one connection. Nothing else in a run's engine calls
``con.execute`` (only ``recon.engine.pragmas`` flips a connection setting around a stretch of steps;
``recon resolve`` and ``recon locate`` query the store directly), so one place

- times every step (``Runner.timings``: ``recon.api`` puts them in ``manifest.json`` as ``timings``);
- logs every step under ``recon run --debug-sql``: its name, SQL, bound parameters and the row count
  of the table it wrote, to stderr (stdout stays clean for ``--json``);
- wraps a failing step's DuckDB error in ``StepError``, which names the step and the first line of its
  SQL and is chained to the original. A failing step is a bug in recon (exit 3, with traceback),
  except when DuckDB ran out of memory: ``StepError.out_of_memory`` lets the CLI say what to change.

A builder that must read a small result to decide its next statement (a count that says whether the
dictionary has anything to judge, the decisions that were applied) takes the runner, runs its steps
and reads through ``Runner.fetch``, which is timed, logged and wrapped like any step. The model is
splink's ``pipeline.py``/``database_api.py``: SQL as data, one executor.

The runner also carries the run's dialect (``Runner.dialect``, ``recon.sql.dialect``): what SQL
engines spell apart (an ASOF join, QUALIFY, struct and list values, list lambdas, NFC, a code point)
a builder renders through it, never inline, so a second engine is a second ``Dialect``. A pure
builder that needs it takes it as its first argument (``customers.steps(d, …)``, ``outcome.steps(d)``).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

import duckdb

from recon.sql.dialect import DUCKDB, Dialect
from recon.sql.quote import quote_ident

_PARAM = re.compile(r"\$([A-Za-z_]\w*)")


@dataclass(frozen=True)
class Step:
    """One statement of the engine.

    Attributes:
        name: stable, dotted name (``universe``, ``pass.order_exact.matched``); what timings and
            errors show.
        sql: the statement; values only as ``$name`` parameters, identifiers only through
            ``recon.sql.quote``.
        params: values for the ``$name`` parameters (those the SQL does not name are dropped).
        writes: the table the step creates or appends to (None for a query), for the row count
            ``--debug-sql`` prints.
    """

    name: str
    sql: str
    params: dict = field(default_factory=dict, hash=False)
    writes: str | None = None

    def bound(self) -> dict:
        """Only the parameters the SQL names (DuckDB refuses unused ones)."""
        used = set(_PARAM.findall(self.sql))
        return {k: v for k, v in self.params.items() if k in used}


class StepError(Exception):
    """A step of the engine failed: an internal error (exit 3) naming the step; ``__cause__`` is DuckDB's."""

    def __init__(self, step: Step, cause: BaseException):
        first = next((ln.strip() for ln in step.sql.splitlines() if ln.strip()), "")
        said = str(cause).splitlines()[0] if str(cause) else repr(cause)
        super().__init__(f"step {step.name!r} failed: {said} (SQL: {first[:120]})")
        self.step = step.name

    @property
    def out_of_memory(self) -> bool:
        return isinstance(self.__cause__, duckdb.OutOfMemoryException)


class Runner:
    """Executes steps in order on one DuckDB connection, timing and (optionally) logging each.

    Args:
        con: the connection the steps run on.
        log: a text stream (stderr) to log each step to, or None.
        dialect: how the engine spells what SQL engines do not share (``recon.sql.dialect``); the
            builders render their steps through it.
    """

    def __init__(self, con, log=None, timings: list | None = None, dialect: Dialect = DUCKDB):
        self.con = con
        self.log = log
        self.timings: list = [] if timings is None else timings
        self.dialect = dialect

    def on(self, con) -> "Runner":
        """A runner for another connection (the classifier's locked one) sharing this one's timings, log and dialect."""
        return Runner(con, self.log, self.timings, self.dialect)

    def run(self, *steps) -> None:
        """Execute each step (or list of steps) in order."""
        for step in _flat(steps):
            self._execute(step)

    def fetch(self, step: Step) -> list:
        """Execute a query step and return its rows (small results only: counts, ids of decisions)."""
        return self._execute(step, fetch=True)

    def arrow(self, step: Step):
        """Execute a query step and return its rows as an Arrow table (copying to another connection)."""
        return self._execute(step, fetch="arrow")

    def scalar(self, name: str, sql: str, params: dict | None = None):
        """The first column of the first row of a query step."""
        return self.fetch(Step(name, sql, params or {}))[0][0]

    def phase(self, name: str, seconds: float) -> None:
        """Record a phase timed outside the runner (import, writing the outputs)."""
        self.timings.append({"step": name, "seconds": round(max(seconds, 0.0), 6)})

    def _execute(self, step: Step, fetch=False):
        started = time.perf_counter()
        try:
            if fetch == "arrow":  # a relation straight to Arrow (an executed result would be copied once more)
                rows = self.con.sql(step.sql, params=step.bound() or None).to_arrow_table()
            else:
                cur = self.con.execute(step.sql, step.bound())
                rows = cur.fetchall() if fetch else None
        except duckdb.Error as exc:
            raise StepError(step, exc) from exc
        seconds = time.perf_counter() - started
        self.phase(step.name, seconds)
        if self.log is not None:
            self._log(step, seconds, rows)
        return rows

    def _log(self, step: Step, seconds: float, rows) -> None:
        if step.writes:
            # fetchall, not fetchone: a half-read result would block the next statement on this connection
            n = self.con.execute("SELECT count(*) FROM " + quote_ident(step.writes)).fetchall()[0][0]
            written = f"{step.writes}: {n} rows"
        elif rows is not None:
            written = f"{len(rows)} rows returned"  # a list of tuples or an Arrow table
        else:
            written = "no table"
        print(f"-- step {step.name} ({seconds:.3f} s; {written})", file=self.log)
        print(step.sql.strip(), file=self.log)
        if step.params:
            print(f"-- params: {step.bound()!r}", file=self.log)
        self.log.flush()


def runner(con_or_runner) -> Runner:
    """The runner to use: the one given, or a plain one on a bare connection (tests, ``recon explain``)."""
    return con_or_runner if isinstance(con_or_runner, Runner) else Runner(con_or_runner)


def _flat(items):
    for item in items:
        if isinstance(item, Step):
            yield item
        elif item is not None:
            yield from _flat(item)


def values_table(name: str, step: str, columns: dict, rows, prefix: str = "v") -> Step:
    """A step creating temp table ``name`` (``columns``: name -> SQL type) holding ``rows``, all bound.

    Small configuration tables (the channel map, the dictionary's entries) go in as parameters of one
    statement instead of an ``executemany`` outside the runner.
    """
    cols = list(columns)
    params: dict = {}
    selects = []
    for i, row in enumerate(rows):
        cells = []
        for j, (col, value) in enumerate(zip(cols, row)):
            params[f"{prefix}{i}_{j}"] = value
            cells.append(f"CAST(${prefix}{i}_{j} AS {columns[col]}) AS {quote_ident(col)}")
        selects.append("SELECT " + ", ".join(cells))
    if not selects:
        selects = ["SELECT " + ", ".join(f"CAST(NULL AS {t}) AS {quote_ident(c)}" for c, t in columns.items())
                   + " WHERE false"]
    return Step(step, f"CREATE OR REPLACE TEMP TABLE {quote_ident(name)} AS " + " UNION ALL ".join(selects),
                params, name)
