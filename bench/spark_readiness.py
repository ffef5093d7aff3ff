"""Spark readiness of the engine steps: every step of a sample_data run, parsed and sent through sqlglot.

Runs ``recon run sample_data`` with the runner recording each step's SQL, then for each distinct step
name: parses it as DuckDB SQL, transpiles it to Spark SQL (sqlglot, unsupported constructs raised) and
looks in the Spark text for what Spark SQL does not have or reads otherwise (``UNFAITHFUL``). Prints
one line per step that does not go over as it is, and the counts; ``--json PATH`` writes them too.

A measurement for the Spark issue (bench/README.md, "Spark readiness of the engine steps"), not a test:
the test that every step parses as DuckDB SQL is ``tests/test_dialect.py``.

Usage: python bench/spark_readiness.py [--json bench/spark_readiness.json]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path

import sqlglot
from sqlglot.errors import ErrorLevel

ROOT = Path(__file__).resolve().parent.parent

# What sqlglot leaves in its Spark output that Spark SQL has not got, or reads differently: pattern -> why
UNFAITHFUL = {
    r"\bASOF\b": "ASOF join (Spark has none: a window over the union, or a range join, by hand)",
    r"\bMACRO\b": "temp macro (Spark: inline the expression or a SQL function)",
    r"\bBY NAME\b": "UNION ALL BY NAME (Spark SQL has no BY NAME: list the columns)",
    r"\bEXCLUDE\s*\(": "SELECT * EXCLUDE (Spark SQL has none: list the columns)",
    r"\bORD\(": "ord() (Spark: ascii(), or the dialect's first_code_point)",
    r"\bNFC_NORMALIZE\(": "nfc_normalize() (no Spark built-in: a UDF)",
    r"\bTO_SECONDS\(": "to_seconds() (Spark: make_interval / INTERVAL)",
    r"\bJSON_OBJECT\(": "json_object() (Spark: to_json(named_struct(...)), whose key order and spacing differ)",
    r"TO_JSON\('": "'...'::JSON read as to_json of a string (Spark would quote it)",
    r"\bHASH\(": "hash() (Spark's is 32-bit murmur3: equal keys still join, more collisions to compare)",
    r"\bSTRUCT_PACK\(|\bROW\(": "row/struct constructor not rendered for Spark",
    r"\bLIST_\w+\(": "a DuckDB list function sqlglot does not rename",
    r"\bREGEXP_MATCHES\(": "regexp_matches() left as is",
    r"^\s*(PRAGMA|SET)\b": "DuckDB setting",
    r"\bUPDATE\b": "UPDATE (Spark SQL updates Delta/Iceberg tables only: write a new table)",
    r"^\s*INSERT INTO\b": "INSERT INTO a temp table (a Spark temp view takes no rows: union the parts)",
    r"\bTRY_STRPTIME\(|\bSTRPTIME\(": "strptime() format",
    r"\w\[\w+\]": "list index (DuckDB counts from 1, Spark from 0)",
    r"\bARG_(MIN|MAX)\(\w+, \(": "arg_min/arg_max over a row value",
    r"\bRANGE\(": "range() table function",
}


def capture(sample: Path, work: Path) -> list:
    """Every step a run of ``sample`` executes: (name, sql), in order (a step run twice counts once)."""
    from recon.cli import main
    from recon.engine import steps

    seen: dict = {}
    real = steps.Runner._execute

    def recording(self, step, fetch=False):
        seen.setdefault(step.name, step.sql)
        return real(self, step, fetch)

    steps.Runner._execute = recording
    try:
        main(["run", str(sample), "--out", str(work / "out"), "--db", str(work / "s.duckdb"), "--no-reports"])
    except SystemExit:
        pass
    finally:
        steps.Runner._execute = real
    return list(seen.items())


def judge(sql: str) -> tuple[str, list]:
    """(state, reasons): ``ok``, ``parse`` (not DuckDB SQL sqlglot reads), ``unsupported`` or ``unfaithful``."""
    try:
        sqlglot.parse_one(sql, read="duckdb")
    except Exception as exc:
        return "parse", [str(exc).splitlines()[0][:160]]
    try:
        spark = sqlglot.transpile(sql, read="duckdb", write="spark", unsupported_level=ErrorLevel.RAISE)[0]
    except Exception as exc:
        return "unsupported", [str(exc).splitlines()[0][:160]]
    why = sorted({reason for pattern, reason in UNFAITHFUL.items() if re.search(pattern, spark, re.I)})
    return ("unfaithful", why) if why else ("ok", [])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sample", default=str(ROOT / "sample_data"))
    ap.add_argument("--json", help="write the findings here")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        stepped = capture(Path(args.sample), Path(tmp))
    rows = [{"step": name, "state": state, "why": why} for name, sql in stepped for state, why in [judge(sql)]]
    counts: dict = {}
    for r in rows:
        counts[r["state"]] = counts.get(r["state"], 0) + 1
    for r in rows:
        if r["state"] != "ok":
            print(f"{r['step']}: {r['state']}: {'; '.join(r['why'])}")
    print(f"{len(rows)} steps: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())), file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps({"sqlglot": sqlglot.__version__, "counts": counts, "steps": rows},
                                              ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
