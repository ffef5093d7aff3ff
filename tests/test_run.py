"""`recon run` end to end on small inline folders: results contract, manifest, exit codes, period."""

from __future__ import annotations

import csv
import io
import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from recon import api, store
from recon.cli import main
from recon.engine import conservation, match
from recon.errors import ConservationError
from recon.rules import load_rules

from conftest import reason_codes

FIXTURES = Path(__file__).parent / "fixtures"

ERP_HEADER = "单据编号,业务日期,单据类型,客户,币别,汇率,价税合计,税额,本位币价税合计,已核销金额,未核销金额,单据状态,平台订单号,摘要"


def erp_csv(*rows: str) -> bytes:
    return ("\ufeff" + "\r\n".join([ERP_HEADER, *rows]) + "\r\n").encode("utf-8")


def run_cli(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


def read_results(out: Path):
    data = (out / "results.csv").read_bytes()
    assert data.startswith(b"\xef\xbb\xbf"), "results.csv must start with a UTF-8 BOM for Excel"
    text = data[3:].decode("utf-8")
    assert "\r\n" in text and "\n" not in text.replace("\r\n", ""), "RFC 4180 line ends are CRLF"
    return list(csv.DictReader(io.StringIO(text, newline="")))


@pytest.fixture
def month(tmp_path):
    """Alipay trade detail (orders M…001 with a refund, M…002) and an ERP export that books M…001 right
    and M…002 short by 9.90; plus a README that no format recognises."""
    inp = tmp_path / "in"
    (inp / "alipay").mkdir(parents=True)
    shutil.copy(FIXTURES / "alipay_trade_detail.csv", inp / "alipay" / "trade.csv")
    (inp / "erp").mkdir()
    (inp / "erp" / "ar.csv").write_bytes(erp_csv(
        "AR001,2026-01-01,标准应收单,支付宝当面付,人民币,1,100.00,11.50,100.00,0,100.00,已审核,M20260101001,",
        "AR002,2026-01-01,标准应收单,支付宝当面付,人民币,1,50.00,5.75,50.00,0,50.00,已审核,,订单号:M20260101002",
        "AR003,2026-01-03,红字应收单,支付宝当面付,人民币,1,-20.00,-2.30,-20.00,0,-20.00,已审核,M20260101001,退款",
    ))
    (inp / "README.txt").write_text("downloaded 2026-02-02\n", encoding="utf-8")
    return tmp_path


def test_run_writes_results_contract(month, capsys):
    out = month / "out"
    code, stdout, stderr = run_cli(["run", str(month / "in"), "--out", str(out), "--db", str(month / "s.duckdb")],
                                   capsys)
    # no bank statement: the run is incomplete (exit 4); M…002 differs, and that break is listed after it
    assert code == 4, stdout + stderr
    assert "\nverdict: incomplete" in stdout
    assert "skipped README.txt" in stderr
    assert "platform in 3 lines / CNY 139.90  out 3 / CNY 139.90" in stdout  # amounts carry their currency
    rows = read_results(out)
    assert list(rows[0].keys()) == ["source", "source_file", "source_line", "source_sheet", "channel", "account",
                                    "order_no", "line_type", "currency", "amount", "status", "code",
                                    "match_group", "explanation", "finding",
                                    # the open items' columns come last (recon.engine.open_items)
                                    "open_state", "resolved_by", "first_seen", "age_days", "age_bucket"]
    by = {(r["source"], r["source_file"], r["source_line"]): r for r in rows}
    sale1 = by[("platform", "alipay/trade.csv", "6")]
    refund1 = by[("platform", "alipay/trade.csv", "8")]
    ar1, cn1 = by[("erp", "erp/ar.csv", "2")], by[("erp", "erp/ar.csv", "4")]
    for r in (sale1, refund1, ar1, cn1):
        assert (r["status"], r["code"]) == ("matched", "order_exact")
    assert len({r["match_group"] for r in (sale1, refund1, ar1, cn1)}) == 1
    assert refund1["amount"] == "-20.00" and cn1["amount"] == "-20.00"
    assert ar1["channel"] == "alipay", "ERP customer 支付宝当面付 maps to alipay via rules/channels.yaml"
    sale2, ar2 = by[("platform", "alipay/trade.csv", "7")], by[("erp", "erp/ar.csv", "3")]
    assert ar2["order_no"] == "M20260101002", "order number taken from 摘要"
    assert sale2["status"] == ar2["status"] == "unknown"
    assert sale2["match_group"] == ar2["match_group"] != ""
    assert "59.90" in sale2["explanation"] and "50.00" in sale2["explanation"] and "9.90" in sale2["explanation"]
    keys = [(r["source"], r["source_file"], r["source_sheet"], int(r["source_line"])) for r in rows]
    order = {"platform": 1, "erp": 2, "bank": 3}
    assert keys == sorted(keys, key=lambda k: (order[k[0]], k[1], k[2], k[3]))

    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["period"] == "2026-01"
    assert manifest["status_counts"] == {"matched": 4, "unknown": 2, "known": 0, "review": 0}
    assert manifest["control_totals"]["platform"]["in"] == {"count": 3, "amount": "139.90",
                                                           "by_currency": {"CNY": "139.90"}}
    assert manifest["control_totals"]["erp"]["out"] == {"count": 3, "amount": "130.00",
                                                        "by_currency": {"CNY": "130.00"}}
    assert manifest["control_totals"]["erp"]["outside_period"]["count"] == 0
    assert [s["path"] for s in manifest["skipped_files"]] == ["README.txt"]
    assert manifest["skipped_files"][0]["looks_like_ledger"] is False and manifest["skipped_files"][0]["reason"]
    assert manifest["exit_code"] == 4 and list(manifest)[0] == "verdict"
    assert manifest["verdict"]["state"] == "incomplete" and manifest["verdict"]["exit_code"] == 4
    assert reason_codes(manifest) == ["family_missing", "unknown_lines"]
    assert manifest["verdict"]["reasons"][0]["params"] == {"family": "bank"}
    assert manifest["verdict"]["reasons"][1]["params"] == {"lines": 2}
    files = {f["path"]: f for f in manifest["inputs"]}
    assert files["alipay/trade.csv"]["lines"] == {"data": 3, "loaded": 3, "duplicate": 0, "quarantined": 0}
    assert files["alipay/trade.csv"]["proofs_passed"] is True
    assert len(files["erp/ar.csv"]["sha256"]) == 64
    assert (out / "quarantine.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    base = list(csv.DictReader(io.StringIO((out / "order_baseline.csv").read_bytes()[3:].decode("utf-8"))))
    by_order = {b["order_no"]: b for b in base}
    assert (by_order["M20260101001"]["receivable_platform"], by_order["M20260101001"]["refunded_platform"],
            by_order["M20260101001"]["receivable_erp"]) == ("100.00", "-20.00", "100.00")
    assert manifest["order_baseline"]["orders"] == 2
    import duckdb

    stored = duckdb.connect(str(month / "s.duckdb"), read_only=True)
    assert stored.execute("SELECT count(*), count(DISTINCT run_id) FROM order_baseline").fetchone() == (2, 1)
    stored.close()


def test_run_clean_month_exits_zero_and_is_deterministic(clean_month, capsys):
    # A complete month (platforms, ERP, bank) where everything matches and every proof passes -> exit 0.
    month = clean_month
    outs = []
    for i in (1, 2):
        out = month / f"out{i}"
        code, stdout, _ = run_cli(["run", str(month / "in"), "--out", str(out), "--db", str(month / f"s{i}.duckdb")],
                                  capsys)
        assert code == 0 and "\nverdict: clean" in stdout, stdout
        outs.append(out)
    assert (outs[0] / "results.csv").read_bytes() == (outs[1] / "results.csv").read_bytes()
    # a second run over the same store: files are already loaded, results identical
    code, stdout, _ = run_cli(["run", str(month / "in"), "--out", str(month / "out3"), "--db",
                               str(month / "s1.duckdb")], capsys)
    assert code == 0 and "already loaded" in stdout
    assert (month / "out3" / "results.csv").read_bytes() == (outs[0] / "results.csv").read_bytes()


def test_run_later_credit_note_joins_group_but_not_matched(month, capsys):
    # The refund's credit note is booked on 2026-02-03, next period: it is evidence that joins the group;
    # the group spans two periods so it is never plain matched.
    (month / "in" / "erp" / "ar.csv").write_bytes(erp_csv(
        "AR001,2026-01-01,标准应收单,支付宝当面付,人民币,1,100.00,11.50,100.00,0,100.00,已审核,M20260101001,",
        "AR003,2026-02-03,红字应收单,支付宝当面付,人民币,1,-20.00,-2.30,-20.00,0,-20.00,已审核,M20260101001,退款",
    ))
    out = month / "out"
    code, _, _ = run_cli(["run", str(month / "in"), "--out", str(out), "--db", str(month / "s.duckdb")], capsys)
    assert code == 4  # no bank statement: incomplete
    rows = read_results(out)
    late = [r for r in rows if r["source"] == "erp" and r["source_line"] == "3"]
    # never plain matched: the dictionary names it (a credit note booked in the next period)
    assert len(late) == 1 and late[0]["status"] == "known" and late[0]["code"] == "REFUND_PERIOD_TIMING"
    group = [r for r in rows if r["match_group"] == late[0]["match_group"]]
    assert len(group) >= 2 and {r["status"] for r in group} == {"known"}
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["control_totals"]["erp"]["later_evidence"] == {"count": 1, "amount": "-20.00",
                                                                   "by_currency": {"CNY": "-20.00"}}
    assert manifest["control_totals"]["erp"]["in"]["count"] == 1


def test_run_stops_when_platform_files_span_two_months(month, capsys):
    text = (FIXTURES / "alipay_trade_detail.csv").read_bytes().decode("gb18030")
    feb = (text.replace("2026年01月01日 00:00:00]   终止日期：[2026年02月01日", "2026年02月01日 00:00:00]   终止日期：[2026年03月01日")
           .replace("2026-01-0", "2026-02-0").replace("2026010122", "2026020122"))
    (month / "in" / "alipay" / "feb.csv").write_bytes(feb.encode("gbk"))
    code, _, err = run_cli(["run", str(month / "in"), "--out", str(month / "out"), "--db", str(month / "s.duckdb")],
                           capsys)
    assert code == 2
    assert "more than one month" in err and "2026-01" in err and "2026-02" in err and "--period" in err
    code, _, _ = run_cli(["run", str(month / "in"), "--out", str(month / "out"), "--db", str(month / "s.duckdb"),
                          "--period", "2026-02"], capsys)
    assert code == 4  # February has platform lines only: incomplete
    rows = read_results(month / "out")
    assert {r["source_file"] for r in rows if r["source"] == "platform"} == {"alipay/feb.csv"}


def test_formula_text_is_neutralised_but_amounts_stay_numbers(month, capsys):
    path = month / "in" / "alipay" / "trade.csv"
    text = path.read_bytes().decode("gb18030").replace("M20260101002", "=HYPERLINK(1)")
    path.write_bytes(text.encode("gbk"))
    run_cli(["run", str(month / "in"), "--out", str(month / "out"), "--db", str(month / "s.duckdb")], capsys)
    rows = read_results(month / "out")
    evil = [r for r in rows if r["source"] == "platform" and r["source_line"] == "7"][0]
    assert evil["order_no"] == "'=HYPERLINK(1)"
    assert evil["explanation"].startswith("订单 =HYPERLINK(1)"), "text not at the start of a cell stays as is"
    refund = [r for r in rows if r["source"] == "platform" and r["source_line"] == "8"][0]
    assert refund["amount"] == "-20.00", "a negative amount is a number, never neutralised"


def _prepared_store(month):
    con = store.connect(":memory:")
    profiles = api.load_profiles()
    con.execute(f"CREATE TEMP TABLE {api.RUN_FILES_COLUMNS}")
    for path, rel in api.scan([month / "in"]):
        rep = api.import_file(con, path, profiles, display=rel)
        if rep.status != "unrecognised":
            con.execute("INSERT INTO run_files SELECT file_id, ?, sha256 FROM source_file WHERE sha256 = ?",
                        [rel, rep.file_id])
    start, end = api.period_bounds("2026-01")
    match.build_universe(con, start, end, [("支付宝当面付", "alipay")])
    match.run_passes(con, load_rules())
    return con


def test_conservation_catches_a_dropped_line(month):
    con = _prepared_store(month)
    totals = conservation.check(con)
    assert totals["platform"]["in"] == totals["platform"]["out"]
    con.execute("DELETE FROM result WHERE line_id = (SELECT min(line_id) FROM result WHERE source = 'erp')")
    with pytest.raises(ConservationError, match="erp: in"):
        conservation.check(con)


def test_conservation_catches_a_line_decided_for_something_outside_the_run(month):
    con = _prepared_store(month)
    con.execute("INSERT INTO result (line_id, source, status, code, match_group, explanation) VALUES (-1, 'platform', 'matched', 'x', NULL, NULL)")
    with pytest.raises(ConservationError, match="outside the run"):
        conservation.check(con)


def test_conservation_catches_an_amount_changed_in_flight(month):
    con = _prepared_store(month)
    con.execute("UPDATE universe SET amount = amount + 0.01 WHERE line_id = "
                "(SELECT min(line_id) FROM universe WHERE source = 'platform')")
    con.execute("DELETE FROM result WHERE line_id = (SELECT min(line_id) FROM universe WHERE source = 'platform')")
    with pytest.raises(ConservationError):
        conservation.check(con)


def test_bad_rules_file_is_a_usage_error_with_line_numbers(month, capsys):
    rules = month / "rules.yaml"
    rules.write_text("version: 1\npasses:\n  - name: p1\n    leg: wire\n    tolerence: 0.01\n"
                     "  - name: p2\n    leg: cash\n    platform_line_types: [payout]\n"
                     "    date_window_days: [3, 0]\n", encoding="utf-8")
    code, _, err = run_cli(["run", str(month / "in"), "--out", str(month / "out"), "--rules", str(rules)], capsys)
    assert code == 2
    assert f"{rules}:4: passes.0.leg: leg must be one of order, cash" in err
    assert f"{rules}:5: passes.0.tolerence: unknown key" in err
    assert f"{rules}:6: passes.1: a cash pass needs platform_line_types and bank_line_types" in err
    assert f"{rules}:9: passes.1.date_window_days: must be [min, max] whole days" in err


def test_amounts_in_results_equal_store_decimals(month, capsys):
    out = month / "out"
    run_cli(["run", str(month / "in"), "--out", str(out), "--db", str(month / "s.duckdb")], capsys)
    rows = read_results(out)
    total = sum(Decimal(r["amount"]) for r in rows if r["source"] == "platform")
    assert total == Decimal("139.90")


def test_manifest_file_totals_and_already_loaded_on_rerun(month, capsys):
    db = str(month / "s.duckdb")
    run_cli(["run", str(month / "in"), "--out", str(month / "o1"), "--db", db], capsys)
    run_cli(["run", str(month / "in"), "--out", str(month / "o2"), "--db", db], capsys)
    m = json.loads((month / "o2" / "manifest.json").read_text(encoding="utf-8"))
    first = json.loads((month / "o1" / "manifest.json").read_text(encoding="utf-8"))
    assert m["run_id"] != first["run_id"], "two runs (even in the same second) are two records"
    files = {f["path"]: f for f in m["inputs"]}
    assert files["alipay/trade.csv"]["status"] == "already_loaded"
    assert "already loaded" in files["alipay/trade.csv"]["message"]
    assert files["alipay/trade.csv"]["lines"]["loaded"] == 3, "the original import's counts are kept"
    ft = m["file_totals"]
    for fam, t in ft.items():
        assert t["loaded"] + t["duplicate"] + t["quarantined"] == t["data_lines"], fam
    assert ft["platform"] == {"files": 1, "data_lines": 3, "loaded": 3, "duplicate": 0, "quarantined": 0,
                              "amount_loaded": "139.90", "amount_duplicate": "0.00"}


def test_conservation_catches_lines_lost_between_store_and_matching(month):
    con = _prepared_store(month)
    loaded = {"platform": {"count": 3, "amount": "139.90"}, "erp": {"count": 3, "amount": "130.00"}}
    assert conservation.check(con, loaded)["platform"]["in"]["count"] == 3
    with pytest.raises(ConservationError, match="loaded 4 lines but 3 reached matching"):
        conservation.check(con, {"platform": {"count": 4, "amount": "139.90"}})
    with pytest.raises(ConservationError, match="loaded an amount of 139.91 but 139.90 reached matching"):
        conservation.check(con, {"platform": {"count": 3, "amount": "139.91"}})


def test_lines_outside_the_period_that_join_nothing_are_counted(month, capsys):
    # an ERP document of December for an order not in the platform files: loaded, not in results, counted
    path = month / "in" / "erp" / "ar.csv"
    path.write_bytes(path.read_bytes() + "AR000,2025-12-30,标准应收单,支付宝当面付,人民币,1,10.00,1.15,10.00,0,"
                     "10.00,已审核,M20251230001,\r\n".encode("utf-8"))
    out = month / "out"
    run_cli(["run", str(month / "in"), "--out", str(out), "--db", str(month / "s.duckdb")], capsys)
    m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    erp = m["control_totals"]["erp"]
    assert erp["outside_period"] == {"count": 1, "amount": "10.00", "by_currency": {"CNY": "10.00"}}
    assert erp["in"]["count"] + erp["later_evidence"]["count"] + erp["outside_period"]["count"] == \
        m["file_totals"]["erp"]["loaded"]
    assert all(r["order_no"] != "M20251230001" for r in read_results(out))


def test_quarantined_line_is_reported_and_good_lines_still_load(month, capsys):
    path = month / "in" / "erp" / "ar.csv"
    text = path.read_bytes().decode("utf-8").replace("已审核,M20260101001,\r\n", "已审核,M20260101001,\r\n", 1)
    text = text.replace("AR002,2026-01-01,标准应收单,支付宝当面付,人民币,1,50.00",
                        "AR002,2026-01-01,标准应收单,支付宝当面付,人民币,1,5O.00")  # letter O, not zero
    path.write_bytes(text.encode("utf-8"))
    out = month / "out"
    code, stdout, _ = run_cli(["run", str(month / "in"), "--out", str(out), "--db", str(month / "s.duckdb")], capsys)
    assert code == 4  # no bank statement
    assert "quarantined lines: 1" in stdout and "quarantined_lines: 1 " in stdout
    q = list(csv.DictReader(io.StringIO((out / "quarantine.csv").read_bytes()[3:].decode("utf-8"), newline="")))
    assert len(q) == 1
    assert (q[0]["file"], q[0]["line"], q[0]["column"]) == ("erp/ar.csv", "3", "价税合计")
    assert q[0]["reason"] == "cannot read '5O.00': expected an amount like 1234.50, -12.30 or (12.30)"
    assert "AR002" in q[0]["raw"]
    m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert m["quarantined_lines"] == 1
    assert {f["path"]: f["lines"] for f in m["inputs"]}["erp/ar.csv"] == {
        "data": 3, "loaded": 2, "duplicate": 0, "quarantined": 1}
    assert len([r for r in read_results(out) if r["source"] == "erp"]) == 2, "the good lines still load"


def test_key_expression_normalises_ids_and_is_validated(month, capsys):
    path = month / "in" / "erp" / "ar.csv"
    path.write_bytes(path.read_bytes().decode("utf-8").replace("M20260101001", "m20260101001").encode("utf-8"))
    base = load_rules().source
    text = Path(base).read_text(encoding="utf-8")
    rules = month / "rules.yaml"
    rules.write_text(text.replace("    key: order_no ", "    key: upper(order_no) "), encoding="utf-8")
    code, _, _ = run_cli(["run", str(month / "in"), "--out", str(month / "o1"), "--db", str(month / "a.duckdb")],
                         capsys)
    # the exact pass keeps case; the shortened-key fallback (upper case, trailing 8) then links them
    assert [(r["status"], r["code"]) for r in read_results(month / "o1") if r["source_line"] in ("2", "4")
            and r["source"] == "erp"] == [("matched", "order_short_key")] * 2, "the default key keeps case"
    run_cli(["run", str(month / "in"), "--out", str(month / "o2"), "--db", str(month / "b.duckdb"),
             "--rules", str(rules)], capsys)
    got = [r for r in read_results(month / "o2") if r["source"] == "erp" and r["source_line"] in ("2", "4")]
    assert [(r["status"], r["code"]) for r in got] == [("matched", "order_exact")] * 2
    bad = month / "bad.yaml"
    bad.write_text(text.replace("    key: order_no ", "    key: read_csv('/etc/passwd') "), encoding="utf-8")
    code, _, err = run_cli(["run", str(month / "in"), "--out", str(month / "o3"), "--rules", str(bad)], capsys)
    assert code == 2 and f"{bad}:" in err and "passes.0.key" in err and "read_csv" in err
    assert "Traceback" not in err


def test_conservation_catches_an_unbalanced_matched_group(month):
    con = _prepared_store(month)
    tolerances = {"order_exact": Decimal("0.00")}
    assert conservation.check(con, None, tolerances)
    # a broken pass that marks M…002 (platform 59.90 vs ERP 50.00) as matched
    con.execute("UPDATE result SET status = 'matched', code = 'order_exact' WHERE explanation LIKE '%M20260101002%'")
    with pytest.raises(ConservationError, match="off by 9.90"):
        conservation.check(con, None, tolerances)


def test_empty_input_folder_and_bad_period_are_usage_errors(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli(["run", str(tmp_path / "empty"), "--out", str(tmp_path / "o"), "--db",
                            str(tmp_path / "s.duckdb")], capsys)
    assert code == 2 and "no input files under" in err
    (tmp_path / "in").mkdir()
    shutil.copy(FIXTURES / "alipay_trade_detail.csv", tmp_path / "in" / "a.csv")
    code, _, err = run_cli(["run", str(tmp_path / "in"), "--out", str(tmp_path / "o"), "--db",
                            str(tmp_path / "s.duckdb"), "--period", "2026-13"], capsys)
    assert code == 2 and "expected YYYY-MM" in err
    assert not (tmp_path / "s.duckdb").exists(), "nothing is imported before the flags are checked"


def test_json_summary_for_scripts(month, capsys):
    code, out, _ = run_cli(["run", str(month / "in"), "--out", str(month / "out"), "--db", str(month / "s.duckdb"),
                            "--json"], capsys)
    assert code == 4
    summary = json.loads(out)
    assert list(summary)[0] == "verdict" and summary["verdict"]["state"] == "incomplete"
    assert summary["exit_code"] == 4 and summary["period"] == "2026-01"
    assert summary["by_code"]["matched:order_exact"] == {"count": 4, "amount": "160.00"}
    assert summary["by_code"]["unknown:-"] == {"count": 2, "amount": "109.90"}
    assert summary["outputs"][-1].endswith("manifest.json")
    assert all(Path(p).is_file() for p in summary["outputs"])


def test_a_failed_run_leaves_the_previous_outputs_untouched(month, capsys, monkeypatch):
    out = month / "out"
    run_cli(["run", str(month / "in"), "--out", str(out), "--db", str(month / "s.duckdb")], capsys)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def broken(con, *a, **k):
        raise ConservationError("conservation check failed: simulated")

    monkeypatch.setattr(conservation, "check", broken)
    code, _, err = run_cli(["run", str(month / "in"), "--out", str(out), "--db", str(month / "s.duckdb")], capsys)
    assert code == 3 and "simulated" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    leftovers = [p.name for p in month.iterdir() if p.name.startswith(".out.recon-") and p.is_dir()]
    assert not leftovers, "the staging folder is cleaned up"
