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

from recon.sql.dialect import DUCKDB

ROOT = Path(__file__).resolve().parent.parent

# What sqlglot leaves in its Spark output that Spark SQL has not got, or reads differently:
# pattern -> (why, the Dialect method a Spark dialect renders it with, or None: the step must change)
UNFAITHFUL = {
    r"\bASOF\b": ("ASOF join: Spark has none", "asof_join"),
    r"\bNFC_NORMALIZE\(": ("nfc_normalize(): no Spark built-in", "nfc_normalize"),
    r"\bORD\(": ("ord(): not a Spark function", "first_code_point"),
    r"\bTO_SECONDS\(": ("to_seconds(): not a Spark function", "seconds"),
    r"\w\[\w+\]": ("list index: DuckDB counts from 1, Spark from 0", "list_element"),
    r"\bMACRO\b": ("temp macro: Spark has none", "define_function"),
    r"\bHASH\(": ("hash(): 32-bit murmur3 on Spark (equal hashes are compared by key: more collisions, same "
                   "result)", "-"),
    r"\bJSON_OBJECT\(": ("json_object() (findings, detail_json): Spark has to_json(named_struct(...)), whose "
                          "number and escape formatting must be shown equal", None),
    r"TO_JSON\('": ("CAST('[]' AS JSON) becomes to_json('[]'), a quoted string", None),
    r"\bINSERT INTO\b": ("INSERT INTO a temp table (result, fee_check, classify's): a Spark temp view takes "
                          "no rows (union the parts, or a managed table)", None),
    r"\bUPDATE\b": ("UPDATE (outcome.amend, classify): Spark SQL updates Delta/Iceberg tables only (write the "
                     "amended table anew)", None),
    r"\bBY NAME\b": ("UNION ALL BY NAME: Spark SQL has none (list the columns)", None),
    r"\bEXCLUDE\s*\(|\*\s*EXCEPT\s*\(": ("SELECT * EXCLUDE (sqlglot: * EXCEPT): open-source Spark SQL has "
                                          "neither (list the columns)", None),
    r"\bAS\s+(NOT\s+)?MATERIALIZED\b": ("a CTE's MATERIALIZED hint: Spark SQL does not parse it", None),
    r"^\s*(PRAGMA|SET)\b": ("a DuckDB setting", None),
    r"\bLIST_\w+\(": ("a DuckDB list function sqlglot does not rename", None),
    r"\bRANGE\(": ("range() table function", None),
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
    """(state, reasons): ``ok`` (sqlglot's Spark SQL is faithful), ``dialect`` (only what a ``Dialect`` method
    renders), ``unfaithful`` (the step itself must change for Spark), ``unsupported`` (sqlglot refused) or
    ``parse`` (not DuckDB SQL sqlglot reads)."""
    try:
        sqlglot.parse_one(sql, read=DUCKDB.sqlglot)
    except Exception as exc:
        return "parse", [str(exc).splitlines()[0][:160]]
    try:
        spark = sqlglot.transpile(sql, read=DUCKDB.sqlglot, write="spark", unsupported_level=ErrorLevel.RAISE)[0]
    except Exception as exc:
        return "unsupported", [str(exc).splitlines()[0][:160]]
    hits = [(why, method) for pattern, (why, method) in UNFAITHFUL.items() if re.search(pattern, spark, re.I)]
    if not hits:
        return "ok", []
    why = sorted(f"{w} [Dialect.{m}]" if m and m != "-" else w for w, m in hits)
    return ("unfaithful" if any(m is None for _, m in hits) else "dialect"), why


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
