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
from recon.engine.steps import Step, runner
from recon.sql.bind import in_list
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
    """Fill temp table ``run_baseline`` (``step``); return its row count. ``con``: a ``Runner`` or a connection."""
    r = runner(con)
    r.run(step(baseline))
    return r.scalar("baseline.count", "SELECT count(*) FROM run_baseline")


def step(baseline: Baseline) -> Step:
    """Temp table ``run_baseline``: one row per order of the period.

    One statement: per source, one pass over that source's lines of the period computes every
    measure of the source at once (a ``FILTER`` per measure, grouped by order and run channel), and
    one more groups those rows by order. A measure's sum per order and channel is cast to
    DECIMAL(18,2) before the order's total, as one row per measure used to be; the old shape (one
    INSERT and one grouping per measure) read the lines nine times.
    """
    params: dict = {}
    by_source: dict = {}
    for n, m in enumerate(baseline.measures):
        by_source.setdefault(m.source, []).append((n, m))
    rows = []
    for src, measures in sorted(by_source.items()):
        table, columns = SOURCES[src]
        params[f"src_{src}"] = src
        aggs = []
        for n, m in measures:
            params.update(m.value.params)
            types = in_list(f"lt{n}_", m.line_types, params)
            aggs.append(f"CAST(sum({m.value.sql}) FILTER (WHERE line_type IN ({types})) AS DECIMAL(18,2)) AS m{n}")
        every = in_list(f"lt_{src}_", sorted({t for _, m in measures for t in m.line_types}), params)
        # the value expressions see one relation (the ledger table's own columns), never the universe's;
        # a group exists only where a line of some measure's types does, as a measure's row did
        rows.append(f"""SELECT order_no, run_channel AS channel, $src_{src} AS source, {", ".join(
                            f"m{n}" if m.source == src else f"CAST(NULL AS DECIMAL(18,2)) AS m{n}"
                            for n, m in enumerate(baseline.measures))}
            FROM (SELECT order_no, run_channel, {", ".join(aggs)}
                  FROM (SELECT t.order_no, u.channel AS run_channel, {", ".join(f"t.{c}" for c in columns)}
                        FROM {table} t JOIN universe u USING (line_id)
                        WHERE u.source = $src_{src} AND u.in_period AND u.order_no IS NOT NULL AND u.order_record)
                  WHERE line_type IN ({every})
                  GROUP BY order_no, run_channel)""")
    cols = []
    for d in DIMENSIONS:
        for s in SOURCES:
            ns = [n for n, m in enumerate(baseline.measures) if (m.dimension, m.source) == (d, s)]
            if not ns:
                value = "CAST(NULL AS DECIMAL(38,2))"
            elif len(ns) == 1:
                value = f"sum(m{ns[0]})"
            else:  # two measures of one dimension and source add up (NULL only where both are)
                value = (f"CAST(CASE WHEN {' OR '.join(f'count(m{n}) > 0' for n in ns)} THEN "
                         + " + ".join(f"coalesce(sum(m{n}), 0)" for n in ns) + " END AS DECIMAL(38,2))")
            cols.append(f"{value} AS {d}_{s}")
    if not rows:  # no measure at all: no order has anything to say
        rows = ["SELECT CAST(NULL AS VARCHAR) AS order_no, CAST(NULL AS VARCHAR) AS channel, CAST(NULL AS VARCHAR) AS source WHERE false"]
    return Step("baseline", f"""CREATE OR REPLACE TEMP TABLE run_baseline AS
        SELECT order_no, coalesce(max(channel) FILTER (WHERE source = 'platform'), max(channel)) AS channel,
               {", ".join(cols)}
        FROM ({" UNION ALL ".join(rows)}) GROUP BY order_no ORDER BY channel NULLS LAST, order_no""",
        params, "run_baseline")
