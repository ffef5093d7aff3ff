"""`recon resolve`: a human decision is remembered, applied by later runs, and goes stale when lines change."""

from __future__ import annotations

import json

from test_run import month, read_results, run_cli  # noqa: F401 (month is a fixture)


def _run(month, capsys, out):
    code, stdout, _ = run_cli(["run", str(month / "in"), "--out", str(month / out), "--db", str(month / "s.duckdb")],
                              capsys)
    return code, read_results(month / out), json.loads((month / out / "manifest.json").read_text(encoding="utf-8"))


def test_accepted_difference_is_applied_by_later_runs(month, capsys):
    code, rows, _ = _run(month, capsys, "o1")
    assert code == 1
    group = next(r["match_group"] for r in rows if r["order_no"] == "M20260101002")
    code, out, _ = run_cli(["resolve", "--db", str(month / "s.duckdb"), "--group", group, "--accept",
                            "--reason", "优惠券按面值入账, 已确认", "--by", "张会计"], capsys)
    assert code == 0 and "decision #1 recorded over 2 lines" in out
    code, rows, manifest = _run(month, capsys, "o2")
    assert code == 0, "the only unknown difference was accepted"
    decided = [r for r in rows if r["order_no"] == "M20260101002"]
    assert {(r["status"], r["code"], r["match_group"]) for r in decided} == {("matched", "decision:1", "D1")}
    assert "人工决定 #1 (张会计" in decided[0]["explanation"] and "接受差异" in decided[0]["explanation"]
    assert "优惠券按面值入账" in decided[0]["explanation"]
    assert manifest["decisions"] == {"applied": [1], "stale": []}


def test_decision_over_changed_lines_is_stale(month, capsys):
    _, rows, _ = _run(month, capsys, "o1")
    erp = next(r for r in rows if r["order_no"] == "M20260101002" and r["source"] == "erp")
    plat = next(r for r in rows if r["order_no"] == "M20260101002" and r["source"] == "platform")
    code, _, _ = run_cli(["resolve", "--db", str(month / "s.duckdb"), "--line",
                          f"{erp['source_file']}:{erp['source_line']}", "--line",
                          f"{plat['source_file']}:{plat['source_line']}", "--match", "--reason", "同一订单",
                          "--by", "李"], capsys)
    assert code == 0
    # the ERP export is downloaded again with another amount for that document: new lines, decision stale
    path = month / "in" / "erp" / "ar.csv"
    path.write_bytes(path.read_bytes().decode("utf-8").replace(",50.00,5.75,50.00,0,50.00,",
                                                               ",51.00,5.87,51.00,0,51.00,").encode("utf-8"))
    code, rows, manifest = _run(month, capsys, "o2")
    assert code == 1
    assert manifest["decisions"] == {"applied": [], "stale": [1]}
    assert all(not r["code"].startswith("decision:") for r in rows)


def test_resolve_refuses_unknown_lines_without_traceback(month, capsys):
    _run(month, capsys, "o1")
    code, _, err = run_cli(["resolve", "--db", str(month / "s.duckdb"), "--line", "erp/ar.csv:99",
                            "--reason", "x", "--by", "y"], capsys)
    assert code == 2 and "erp/ar.csv:99: no ledger lines found" in err and "Traceback" not in err
    code, _, err = run_cli(["resolve", "--db", str(month / "s.duckdb"), "--group", "Gnope",
                            "--reason", "x", "--by", "y"], capsys)
    assert code == 2 and "match group Gnope is not in the last run" in err
