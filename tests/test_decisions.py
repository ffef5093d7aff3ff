"""`recon resolve`: a human decision is remembered, applied by later runs, and goes stale when lines change."""

from __future__ import annotations

import json

from test_run import month, read_results, run_cli  # noqa: F401 (month is a fixture)


def _beyond_coverage(manifest) -> list:
    """The verdict's reasons besides the missing bank statement (this month has none: always incomplete)."""
    codes = [r["code"] for r in manifest["verdict"]["reasons"]]
    assert codes[0] == "family_missing" and manifest["verdict"]["reasons"][0]["params"] == {"family": "bank"}
    return codes[1:]


def _run(month, capsys, out):
    code, stdout, _ = run_cli(["run", str(month / "in"), "--out", str(month / out), "--db", str(month / "s.duckdb")],
                              capsys)
    return code, read_results(month / out), json.loads((month / out / "manifest.json").read_text(encoding="utf-8"))


def test_accepted_difference_is_applied_by_later_runs(month, capsys):
    code, rows, manifest = _run(month, capsys, "o1")
    assert code == 4 and _beyond_coverage(manifest) == ["unknown_lines"]
    group = next(r["match_group"] for r in rows if r["order_no"] == "M20260101002")
    code, out, _ = run_cli(["resolve", "--db", str(month / "s.duckdb"), "--group", group, "--accept",
                            "--reason", "优惠券按面值入账, 已确认", "--by", "张会计"], capsys)
    assert code == 0 and "decision #1 recorded over 2 lines" in out
    code, rows, manifest = _run(month, capsys, "o2")
    assert code == 4 and _beyond_coverage(manifest) == [], "the only unknown difference was accepted"
    decided = [r for r in rows if r["order_no"] == "M20260101002"]
    assert {(r["status"], r["code"], r["match_group"]) for r in decided} == {("matched", "decision:1", "D1")}
    assert "人工决定 #1 (张会计" in decided[0]["explanation"] and "接受差异" in decided[0]["explanation"]
    assert "优惠券按面值入账" in decided[0]["explanation"]
    assert manifest["decisions"] == {"applied": [1], "stale": [], "reasons": {}}


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
    assert code == 4 and _beyond_coverage(manifest) == ["unknown_lines"]
    assert manifest["decisions"]["applied"] == [] and manifest["decisions"]["stale"] == [1]
    assert "1 of its 2 lines are no longer in the store as decided" in manifest["decisions"]["reasons"]["1"]
    assert all(not r["code"].startswith("decision:") for r in rows)


def test_resolve_refuses_unknown_lines_without_traceback(month, capsys):
    _run(month, capsys, "o1")
    code, _, err = run_cli(["resolve", "--db", str(month / "s.duckdb"), "--line", "erp/ar.csv:99",
                            "--reason", "x", "--by", "y"], capsys)
    assert code == 2 and "erp/ar.csv:99: no ledger lines found" in err and "Traceback" not in err
    code, _, err = run_cli(["resolve", "--db", str(month / "s.duckdb"), "--group", "Gnope",
                            "--reason", "x", "--by", "y"], capsys)
    assert code == 2 and "match group Gnope is not in the last run" in err


def _ref(row):
    return f"{row['source_file']}:{row['source_line']}"


def test_accept_then_match_after_a_corrected_re_export_never_crashes(month, capsys):
    db = str(month / "s.duckdb")
    _, rows, _ = _run(month, capsys, "o1")
    plat = next(r for r in rows if r["order_no"] == "M20260101002" and r["source"] == "platform")
    code, _, _ = run_cli(["resolve", "--db", db, "--line", _ref(plat), "--accept", "--reason", "先接受", "--by", "A"],
                         capsys)
    assert code == 0
    # the ERP export is corrected and downloaded again: AR002 now books the platform's 59.90
    path = month / "in" / "erp" / "ar.csv"
    path.write_bytes(path.read_bytes().decode("utf-8").replace(",50.00,5.75,50.00,0,50.00,",
                                                               ",59.90,6.89,59.90,0,59.90,").encode("utf-8"))
    _, rows, manifest = _run(month, capsys, "o2")
    assert manifest["decisions"]["applied"] == [1]
    erp = next(r for r in rows if r["order_no"] == "M20260101002" and r["source"] == "erp")
    argv = ["resolve", "--db", db, "--line", _ref(plat), "--line", _ref(erp), "--match", "--reason", "配对",
            "--by", "B"]
    code, _, err = run_cli(argv, capsys)  # the same line file:line names the live (re-exported) ERP line
    assert code == 2 and "already covered by decision #1 (accept, by A: 先接受)" in err and "--revoke 1" in err
    code, out, _ = run_cli(["resolve", "--db", db, "--revoke", "1", "--reason", "改为配对", "--by", "B"], capsys)
    assert code == 0 and "decision #1 revoked by B" in out
    code, out, _ = run_cli(argv, capsys)
    assert code == 0 and "decision #2" in out
    code, rows, manifest = _run(month, capsys, "o3")
    assert code != 3 and manifest["decisions"] == {"applied": [2], "stale": [], "reasons": {}}
    assert {r["code"] for r in rows if r["order_no"] == "M20260101002"} == {"decision:2"}
    code, out, _ = run_cli(["decisions", "--db", db, "--json"], capsys)
    listed = {d["decision_id"]: d for d in json.loads(out)}
    assert listed[1]["state"] == "revoked" and listed[1]["revoked"]["by"] == "B"
    assert listed[1]["revoked"]["reason"] == "改为配对" and listed[1]["created_by"] == "A"
    assert listed[2]["state"] == "applied" and listed[2]["lines"] == 2 and _ref(erp) in listed[2]["refs"]
    code, out, _ = run_cli(["decisions", "--db", db, "--period", "2026-01"], capsys)
    assert "#1  revoked" in out and "revoked" in out and "#2  applied" in out
    code, out, _ = run_cli(["decisions", "--db", db, "--period", "2025-12"], capsys)
    assert out.strip() == "no decisions for 2025-12"


def test_two_decisions_over_one_line_in_a_store_make_the_later_stale(month, capsys):
    """A store written before overlapping decisions were refused: the run applies the earlier one."""
    import duckdb

    from recon.engine import decisions

    db = str(month / "s.duckdb")
    _, rows, _ = _run(month, capsys, "o1")
    group = next(r["match_group"] for r in rows if r["order_no"] == "M20260101002")
    plat = next(r for r in rows if r["order_no"] == "M20260101002" and r["source"] == "platform")
    assert run_cli(["resolve", "--db", db, "--group", group, "--accept", "--reason", "r1", "--by", "A"], capsys)[0] == 0
    con = duckdb.connect(db)
    try:
        ids = decisions.find_lines(con, [_ref(plat)])
        con.execute("INSERT INTO decision SELECT 2, 'accept', created_at, 'B', 'r2', ?, "
                    "(SELECT fingerprint FROM decision WHERE decision_id = 1) FROM decision WHERE decision_id = 1",
                    [ids])
        # the fingerprint of one line: computed as record() does
        fp = con.execute(f"SELECT {decisions.FINGERPRINT} FROM ledger_line WHERE line_id = ?",
                         [ids[0]]).fetchone()[0]
        con.execute("UPDATE decision SET fingerprint = ? WHERE decision_id = 2", [fp])
    finally:
        con.close()
    code, rows, manifest = _run(month, capsys, "o2")
    assert code == 4 and _beyond_coverage(manifest) == [], "decision #1 covers the only difference"
    assert manifest["decisions"]["applied"] == [1] and manifest["decisions"]["stale"] == [2]
    assert "overlaps decision #1" in manifest["decisions"]["reasons"]["2"]


def test_revoking_names_what_is_wrong(month, capsys):
    db = str(month / "s.duckdb")
    _, rows, _ = _run(month, capsys, "o1")
    group = next(r["match_group"] for r in rows if r["order_no"] == "M20260101002")
    run_cli(["resolve", "--db", db, "--group", group, "--accept", "--reason", "r1", "--by", "A"], capsys)
    code, _, err = run_cli(["resolve", "--db", db, "--revoke", "9", "--reason", "x", "--by", "B"], capsys)
    assert code == 2 and "no decision #9" in err
    assert run_cli(["resolve", "--db", db, "--revoke", "1", "--reason", "x", "--by", "B"], capsys)[0] == 0
    code, _, err = run_cli(["resolve", "--db", db, "--revoke", "1", "--reason", "x", "--by", "C"], capsys)
    assert code == 2 and "already revoked by B" in err
    code, _, err = run_cli(["resolve", "--db", db, "--revoke", "1", "--group", group, "--reason", "x", "--by", "C"],
                           capsys)
    assert code == 2 and "--revoke takes no --line or --group" in err
    code, rows, manifest = _run(month, capsys, "o2")
    assert _beyond_coverage(manifest) == ["unknown_lines"] and manifest["decisions"]["applied"] == []  # revoked: the difference is unknown again


def test_decisions_appear_in_the_report_and_the_workbook(month, capsys):
    import openpyxl

    _, rows, _ = _run(month, capsys, "o1")
    group = next(r["match_group"] for r in rows if r["order_no"] == "M20260101002")
    run_cli(["resolve", "--db", str(month / "s.duckdb"), "--group", group, "--accept",
             "--reason", "优惠券按面值入账", "--by", "张会计"], capsys)
    _run(month, capsys, "o2")
    html = (month / "o2" / "report.html").read_text(encoding="utf-8")
    section = html[html.index('<section id="decisions">'):]
    section = section[:section.index("</section>")]
    assert 'data-decision="1"' in section and "已应用" in section and "接受差异" in section
    assert "张会计" in section and "优惠券按面值入账" in section and "erp/ar.csv:3" in section
    ws = openpyxl.load_workbook(month / "o2" / "recon.xlsx")["人工决定"]
    header = [c.value for c in ws[2]]
    row = dict(zip(header, [c.value for c in ws[3]]))
    assert row["编号"] == 1 and row["状态"] == "已应用" and row["决定人"] == "张会计" and row["行数"] == 2
    assert "erp/ar.csv:3" in row["来源行"]


def test_lines_settled_by_a_decision_are_listed_beside_the_voucher_sources(month, capsys):
    """The auditor's view of the vouchers: decision_sources.csv names, for each line a manual decision
    settled (no voucher corrects it), the decision's id, kind, who, when and why; `recon vouchers`
    re-exports it from the store."""
    import csv
    import io

    db = str(month / "s.duckdb")
    _run(month, capsys, "o1")
    empty = (month / "o1" / "decision_sources.csv").read_bytes()
    assert empty == b"\xef\xbb\xbf" + ",".join(
        ("decision_id", "decision_kind", "decided_by", "decided_at", "reason", "source", "source_ref", "currency",
         "amount", "match_group")).encode() + b"\r\n", "header only before any decision"
    _, rows, _ = _run(month, capsys, "o1b")
    group = next(r["match_group"] for r in rows if r["order_no"] == "M20260101002")
    refs = sorted(_ref(r) for r in rows if r["match_group"] == group)
    run_cli(["resolve", "--db", db, "--group", group, "--accept", "--reason", "=优惠券按面值入账", "--by", "张会计"], capsys)
    _, rows, _ = _run(month, capsys, "o2")
    got = list(csv.DictReader(io.StringIO((month / "o2" / "decision_sources.csv").read_text(encoding="utf-8-sig"),
                                          newline="")))
    assert sorted(r["source_ref"] for r in got) == refs and len(got) == 2
    for r in got:
        assert (r["decision_id"], r["decision_kind"], r["decided_by"], r["match_group"]) == ("1", "接受差异", "张会计", "D1")
        assert r["reason"] == "'=优惠券按面值入账", "untrusted text neutralised like every CSV output"
        assert len(r["decided_at"]) == 19 and r["decided_at"][:2] == "20"
        assert r["currency"] == "CNY" and r["amount"] in {
            x["amount"] for x in rows if x["order_no"] == "M20260101002"}
    # voucher_sources.csv is unchanged in shape; the decided lines are not in it (no voucher corrects them)
    sources = (month / "o2" / "voucher_sources.csv").read_text(encoding="utf-8-sig")
    assert all(ref not in sources for ref in refs)
    code, out, err = run_cli(["vouchers", "--db", db, "--out", str(month / "v")], capsys)
    assert code == 0, err
    assert (month / "v" / "decision_sources.csv").read_bytes() == (month / "o2" / "decision_sources.csv").read_bytes()


def test_resolve_warns_when_a_line_was_not_an_open_item(month, capsys):
    """A mistyped line number would re-pair a good match without a word: the clerk is told which line,
    what the last run had made of it, and how to revoke."""
    _, rows, manifest = _run(month, capsys, "o1")
    ok = next(r for r in rows if r["status"] == "matched")
    open_ = next(r for r in rows if r["status"] == "unknown")
    db = str(month / "s.duckdb")
    code, out, err = run_cli(["resolve", "--db", db, "--line", f"{ok['source_file']}:{ok['source_line']}", "--line",
                              f"{open_['source_file']}:{open_['source_line']}", "--accept", "--reason", "x",
                              "--by", "张会计"], capsys)
    assert code == 0 and "decision #1 recorded over 2 lines" in out
    assert err.count("warning:") == 1, err
    assert (f"warning: {ok['source_file']}:{ok['source_line']} is not an open item: run {manifest['run_id']} had it "
            f"matched ({ok['code']}); decision #1 overrides that") in err
    assert "recon resolve --revoke 1" in err
    # a decision over open items only says nothing more
    group = next(r["match_group"] for r in rows if r["order_no"] == "M20260101002" and r["status"] == "unknown")
    run_cli(["resolve", "--db", db, "--revoke", "1", "--reason", "typo", "--by", "张会计"], capsys)
    code, _, err = run_cli(["resolve", "--db", db, "--group", group, "--accept", "--reason", "y", "--by", "张会计"],
                           capsys)
    assert code == 0 and "warning" not in err
