"""The reconciliation statement (余额调节表, issue 15 point 7) on sample_data: it foots to the cent, each
step's remainder is the signed sum of that step's unknown and review lines (computed here from
results.csv alone), the CSV, the workbook sheet and the report agree, and a statement that does not
foot stops the run with exit 3."""

from __future__ import annotations

import contextlib
import csv
import io
import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest

from recon import api, store
from recon.cli import main
from recon.engine import statement
from recon.engine.steps import Step
from recon.errors import ConservationError
from recon.report import statement as report_statement

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"
D = Decimal

# the bridge as a clerk would write it down from results.csv alone: the sign a line of this
# (source, line type) has in each step's gap
EXPECTED_SIGNS = {
    "erp": {2: -1},
    "sale": {2: 1, 4: -1},
    "deduction": {3: 1, 4: -1},
    "payout": {4: -1, 5: 1},
    "bank_credit": {5: 1},
}


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("stmt")
    result = api.run(api.RunConfig(inputs=[SAMPLE], out=root / "out", db=str(root / "s.duckdb")))
    return root, result


def _csv(path: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_bytes().decode("utf-8-sig"), newline="")))


def _kind(row: dict) -> str | None:
    if row["source"] == "erp":
        return "erp"
    if row["source"] == "bank":
        return "bank_credit" if row["line_type"] == "bank_credit" else None
    return {"sale": "sale", "payout": "payout"}.get(row["line_type"], "deduction")


def test_the_statement_foots_on_sample_data(sample_run):
    root, result = sample_run
    st = result.manifest["statement"]
    assert st["foots"] and st["period"] == "2026-01"
    keys = [(r["channel"], r["currency"]) for r in st["rows"]]
    assert ("alipay", "CNY") in keys and (None, "USD") in keys and (None, "CNY") in keys
    # the one channel line in dollars: the Tmall Global receivable the ERP books in USD (its own bridge,
    # never added to the yuan)
    assert {(ch, cur) for ch, cur in keys if ch and cur != "CNY"} == {("tmall", "USD")}
    for row in st["rows"]:
        steps = row["steps"]
        assert [s["step"] for s in steps] == list(statement.STEPS)
        for prev, s in zip(steps, steps[1:]):
            gap = D(s["amount"]) - D(prev["amount"])
            assert D(s["gap"]) == gap
            assert gap == sum(D(c["amount"]) for c in s["codes"]) + D(s["remainder"]["amount"]), (row["channel"], s)
            assert D(s["amount"]).as_tuple().exponent == -2


def test_remainders_equal_the_unknown_and_review_lines_in_results_csv(sample_run):
    """Every remainder, recomputed from results.csv's unknown and review lines with the bridge's signs."""
    root, result = sample_run
    expected: dict = defaultdict(lambda: [0, D("0")])
    for row in _csv(root / "out" / "results.csv"):
        if row["status"] not in ("unknown", "review"):
            continue
        kind = _kind(row)
        if kind is None:
            continue
        for step, sign in EXPECTED_SIGNS[kind].items():
            e = expected[(row["channel"] or None, row["currency"], step)]
            e[0] += 1
            e[1] += sign * D(row["amount"])
    got = {(r["channel"], r["currency"], s["step_no"]): [s["remainder"]["lines"], D(s["remainder"]["amount"])]
           for r in result.manifest["statement"]["rows"] for s in r["steps"] if "remainder" in s}
    assert {k: v for k, v in got.items() if v[0]} == {k: v for k, v in expected.items()}
    # the sample plants unexplained lines: an unknown 50,000.00 bank credit, a USD receivable and credit
    assert got[(None, "CNY", 5)] == [1, D("50000.00")]
    assert got[(None, "USD", 2)] == [1, D("-12500.00")] and got[(None, "USD", 5)] == [1, D("12500.00")]


def test_bank_credits_take_their_payouts_channel(sample_run):
    """A credit matched with a payout (or a JD settlement batch) is under that channel; an unmatched one has none."""
    root, result = sample_run
    rows = {(r["channel"], r["currency"]): r["steps"] for r in result.manifest["statement"]["rows"]}
    assert rows[("alipay", "CNY")][4]["amount"] == rows[("alipay", "CNY")][3]["amount"] == "10215.84"
    assert rows[("jd", "CNY")][4]["codes"] == [{"status": "matched", "code": "batch_to_bank", "lines": 4,
                                                 "amount": "8664.29"}]


def test_csv_workbook_and_report_show_the_same_statement(sample_run):
    import openpyxl

    root, result = sample_run
    out = root / "out"
    assert str(out / "reconciliation_statement.csv") in result.manifest["outputs"]
    assert "reconciliation_statement.csv" in result.manifest["output_sha256"]
    raw = (out / "reconciliation_statement.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    rows = _csv(out / "reconciliation_statement.csv")
    flat = list(statement.flat_rows(result.manifest["statement"]))
    assert len(rows) == len(flat) and rows[0]["row"] == "balance"
    ws = openpyxl.load_workbook(out / "recon.xlsx", read_only=True)[report_statement.SHEET]
    sheet = [r for r in ws.iter_rows(min_row=3, values_only=True)]
    assert len(sheet) == len(rows)
    for c, x in zip(rows, sheet):
        assert (c["channel"] or "（无渠道）", c["currency"], int(c["step_no"])) == (x[1], x[2], x[3])
        assert D(c["amount"]) == D(str(x[9])).quantize(D("0.01"))
        assert (int(c["lines"]) if c["lines"] else None) == x[8]
    # `recon report --run` renders the same statement from the store
    api.report(str(root / "s.duckdb"), root / "again", result.manifest["run_id"])
    assert (root / "again" / "reconciliation_statement.csv").read_bytes() == raw
    html = (out / "report.html").read_text(encoding="utf-8")
    assert '<section id="statement">' in html and html.count('data-step="bank_credits"') == len(result.manifest["statement"]["rows"])
    assert "10,215.84" in html


def test_the_csv_neutralises_text(tmp_path):
    manifest = {"period": "2026-01", "statement": {"period": "2026-01", "rows": [{
        "channel": "=HYPERLINK(\"x\")", "currency": "CNY", "steps": [
            {"step_no": 1, "step": "erp_receivable", "amount": "-5.00"},
            {"step_no": 2, "step": "platform_gross", "amount": "0.00", "gap": "5.00", "explained": "5.00",
             "codes": [{"status": "known", "code": "+SUM(A1)", "lines": 1, "amount": "5.00"}],
             "remainder": {"lines": 0, "amount": "0.00"}}]}]}}
    rows = _csv(report_statement.write_csv(manifest, tmp_path))
    assert rows[0]["channel"] == "'=HYPERLINK(\"x\")" and rows[0]["amount"] == "-5.00"
    assert rows[3]["code"] == "'+SUM(A1)" and rows[3]["amount"] == "5.00"


def test_the_report_escapes_the_statement(sample_run, tmp_path):
    """A channel name is text from the user's files and configuration: the section escapes it."""
    root, result = sample_run
    db = str(root / "s.duckdb")
    con = store.connect(db)
    try:
        m = json.loads(con.execute("SELECT manifest_json FROM run WHERE run_id = ?", [result.manifest["run_id"]]).fetchone()[0])
        m["statement"]["rows"][0]["channel"] = "<img src=x onerror=alert(1)>"
        con.execute("UPDATE run SET manifest_json = ? WHERE run_id = ?", [json.dumps(m), result.manifest["run_id"]])
    finally:
        con.close()
    api.report(db, tmp_path / "re", result.manifest["run_id"])
    html = (tmp_path / "re" / "report.html").read_text(encoding="utf-8")
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    rows = _csv(tmp_path / "re" / "reconciliation_statement.csv")
    assert rows[0]["channel"] == "<img src=x onerror=alert(1)>"  # CSV is text: kept, not HTML-escaped


def test_a_statement_that_does_not_foot_stops_the_run(tmp_path, monkeypatch):
    """A broken statement step (a code's contribution lost) is recon's own arithmetic: exit 3, no outputs."""
    real = statement.steps

    def broken():
        return real() + [Step("broken.statement", """DELETE FROM stmt_part WHERE (channel, step_no, code) IN
            (SELECT channel, step_no, code FROM stmt_part WHERE status = 'matched' AND amount <> 0
             ORDER BY channel, step_no, code LIMIT 1)""")]

    monkeypatch.setattr(statement, "steps", broken)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), pytest.raises(SystemExit) as exc:
        main(["run", str(SAMPLE), "--out", str(tmp_path / "cli"), "--db", ":memory:"])
    assert exc.value.code == 3, err.getvalue()
    assert "the reconciliation statement does not foot: alipay CNY platform_gross" in err.getvalue()
    assert not (tmp_path / "cli" / "results.csv").exists()
    with pytest.raises(ConservationError, match="does not foot"):
        api.run(api.RunConfig(inputs=[SAMPLE], out=tmp_path / "api", db=":memory:"))


BALANCES = [("x", "CNY", 1, D("100.00"))] + [("x", "CNY", i, D("90.00")) for i in (2, 3, 4, 5)]


def test_assemble_refuses_a_gap_no_line_explains():
    """The proof itself: balances 100 -> 90 with parts summing to -9 do not foot."""
    with pytest.raises(ConservationError, match=r"x CNY platform_gross: gap -10\.00 != explained -9\.00"):
        statement.assemble("2026-01", BALANCES,
                           [("x", "CNY", 2, "matched", "order_exact", 2, D("-9.00"))])
    ok = statement.assemble("2026-01", BALANCES,
                            [("x", "CNY", 2, "matched", "order_exact", 2, D("-9.00")),
                             ("x", "CNY", 2, "unknown", None, 1, D("-1.00"))])
    assert ok["rows"][0]["steps"][1]["remainder"] == {"lines": 1, "amount": "-1.00"}
