"""The order baseline: six dimensions per order from the sources that can say them, in DuckDB.

receivable (应收), received (实收), refund due (应退), refunded (实退), commission (平台佣金) and tax
(税费), each per source (platform, ERP) as ``rules/baseline.yaml`` declares: which line types count
and what each line contributes (a validated rule expression over its columns). A dimension a source
cannot say stays NULL, never zero, so a blank in the export means "this ledger does not know", not
"nothing happened". One row per order number of the period.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from recon.config import Problems, load_yaml
from recon.errors import ConfigError
from recon.resources import rules_dir
from recon.rules import file_sha256
from recon.sql.bind import execute, in_list
from recon.sql.expr import Expr, compile_expr

DIMENSIONS = ("receivable", "received", "refund_due", "refunded", "commission", "tax")
SOURCES = {
    "platform": ("platform_line", {"amount": "DECIMAL(18,2)", "fee_amount": "DECIMAL(18,2)",
                                   "subsidy_amount": "DECIMAL(18,2)", "gross_amount": "DECIMAL(18,2)",
                                   "line_type": "VARCHAR"}),
    "erp": ("erp_line", {"amount": "DECIMAL(18,2)", "tax_amount": "DECIMAL(18,2)",
                         "settled_amount": "DECIMAL(18,2)", "open_amount": "DECIMAL(18,2)",
                         "amount_local": "DECIMAL(18,2)", "line_type": "VARCHAR"}),
}


@dataclass(frozen=True)
class Measure:
    dimension: str
    source: str
    line_types: tuple
    value: Expr


@dataclass(frozen=True)
class Baseline:
    source: str
    sha256: str
    measures: tuple


def load_baseline(path: Path | None = None) -> Baseline:
    path = Path(path) if path else rules_dir() / "baseline.yaml"
    data, lines = load_yaml(path)
    problems = Problems(lines)
    if not isinstance(data, dict) or not isinstance(data.get("dimensions"), dict):
        problems.add((), "a baseline file is a mapping with version: 1 and dimensions: {...}")
        problems.raise_if_any()
    problems.unknown_keys(data, {"version", "dimensions"}, ())
    measures = []
    for dim, by_source in data["dimensions"].items():
        if dim not in DIMENSIONS:
            problems.add(("dimensions", dim), f"unknown dimension '{dim}' (one of {', '.join(DIMENSIONS)})")
            continue
        for src, spec in (by_source or {}).items():
            at = ("dimensions", dim, src)
            if src not in SOURCES or not isinstance(spec, dict):
                problems.add(at, f"a source is one of {', '.join(SOURCES)} with line_types and value")
                continue
            problems.unknown_keys(spec, {"line_types", "value"}, at)
            try:
                value = compile_expr(str(spec.get("value", "amount")), SOURCES[src][1], kind="value",
                                     where=lines.at(at + ("value",)) + f": dimensions.{dim}.{src}.value",
                                     param_prefix=f"b{len(measures)}")
            except ConfigError as exc:
                problems.items.extend(exc.problems)
                continue
            measures.append(Measure(dim, src, tuple(spec.get("line_types") or ()), value))
    problems.raise_if_any()
    return Baseline(str(path), file_sha256(path), tuple(measures))


def build(con, baseline: Baseline) -> int:
    """Fill temp table ``run_baseline`` (one row per order of the period); return its row count."""
    con.execute("CREATE OR REPLACE TEMP TABLE baseline_long (order_no VARCHAR, channel VARCHAR, "
                "dimension VARCHAR, source VARCHAR, amount DECIMAL(18,2))")
    # one join of each ledger table with the universe, kept to the columns an expression may name;
    # every measure of that source then reads this small table instead of joining again
    for src in sorted({m.source for m in baseline.measures}):
        table, columns = SOURCES[src]
        execute(con, f"""CREATE OR REPLACE TEMP TABLE baseline_{src} AS
            SELECT t.order_no, u.channel AS run_channel, {", ".join(f"t.{c}" for c in columns)}
            FROM {table} t JOIN universe u USING (line_id)
            WHERE u.source = $src AND u.in_period AND u.order_no IS NOT NULL AND u.order_record""", {"src": src})
    for m in baseline.measures:
        params = dict(m.value.params)
        params.update({"dim": m.dimension, "src": m.source})
        types = in_list("lt", m.line_types, params)
        # the value expression sees one relation (the ledger table's own columns), never the universe's
        execute(con, f"""INSERT INTO baseline_long
            SELECT order_no, run_channel, $dim, $src, sum(v) FROM (
                SELECT order_no, run_channel, {m.value.sql} AS v FROM baseline_{m.source}
                WHERE line_type IN ({types}))
            GROUP BY order_no, run_channel""", params)
    cols = ", ".join(
        f"sum(amount) FILTER (WHERE dimension = '{d}' AND source = '{s}') AS {d}_{s}"
        for d in DIMENSIONS for s in SOURCES)
    con.execute(f"""CREATE OR REPLACE TEMP TABLE run_baseline AS
        SELECT order_no, coalesce(max(channel) FILTER (WHERE source = 'platform'), max(channel)) AS channel, {cols}
        FROM baseline_long GROUP BY order_no ORDER BY channel NULLS LAST, order_no""")
    return con.execute("SELECT count(*) FROM run_baseline").fetchone()[0]
