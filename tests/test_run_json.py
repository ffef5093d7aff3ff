"""`recon run --json` carries what manifest.json says about prior-period adjustments and the statement.

Why: scripts read `--json`, not the manifest; a nightly script must see that tonight's run posted an
adjustment for a closed month, and whether the 余额调节表 holds unexplained remainders, without
opening files.
"""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal as D

from test_period_close import _jan_feb
from test_run import month, run_cli  # noqa: F401 (month is a fixture)


def _json_run(argv, capsys):
    code, out, err = run_cli(["run", *map(str, argv), "--json"], capsys)
    return code, json.loads(out)


def test_json_names_the_prior_period_adjustments_of_the_run(tmp_path, capsys):
    jan, feb = _jan_feb(tmp_path)
    db = tmp_path / "s.duckdb"
    _, first = _json_run([jan, "--out", tmp_path / "o1", "--db", db, "--period", "2026-01"], capsys)
    assert first["prior_period"] == []  # present, empty: nothing closed yet
    run_cli(["close", "--period", "2026-01", "--by", "张三", "--reason", "month end", "--force", "--db", str(db)],
            capsys)
    _, got = _json_run([feb, "--out", tmp_path / "o2", "--db", db, "--period", "2026-02"], capsys)
    manifest = json.loads((tmp_path / "o2" / "manifest.json").read_text(encoding="utf-8"))
    assert got["prior_period"] == manifest["prior_period"] == [
        {"period": "2026-01", "closed_run": first["run_id"], "new_lines": 1, "cases": 1}]


def test_json_sums_up_the_reconciliation_statement(month, capsys):
    out = month / "o"
    code, got = _json_run([month / "in", "--out", out, "--db", month / "s.duckdb"], capsys)
    s = got["statement"]
    assert s["period"] == got["period"] and s["foots"] is True and s["bridges"] >= 1
    with open(out / "reconciliation_statement.csv", encoding="utf-8-sig", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["row"] == "remainder"]
    want = [{"channel": r["channel"] or None, "currency": r["currency"], "step_no": int(r["step_no"]),
             "step": r["step"], "lines": int(r["lines"]), "amount": r["amount"]}
            for r in rows if int(r["lines"]) or D(r["amount"])]
    assert want, "the fixture month leaves M…002 short: a remainder the summary must show"
    assert sorted(s["unexplained"], key=str) == sorted(want, key=str)
