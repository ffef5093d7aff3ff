"""Open items across nightly runs (issue 15 point 1): new, persisting, resolved (and by what), reopened, aged.

A generated month (``recon sample``) arrives over several nights: the platform and bank files first, the
WeChat ERP export on night 2, the Kingdee export on night 3; then a rules change, a manual decision
and its revocation. Each night runs with ``--as-of`` set, and each night's results.csv must show
exactly the states and age buckets that the arrivals planted. A second, inline month checks that an
item's identity survives a re-download and a corrected document version.
"""

from __future__ import annotations

import collections
import csv
import io
import json
import shutil

import pytest

from recon.cli import main
from recon.resources import rules_dir
from recon.sample import generate

ERP_WECHAT = "erp/应收单_微信商城_202601.csv"
ERP_KINGDEE = "erp/金蝶应收单_202601.xlsx"
USD_ERP = ("erp", ERP_KINGDEE, "10")         # the planted USD receivable no platform file holds
USD_BANK = ("bank", "bank/camt053_USD_202601.xml", "1")
RULES = rules_dir() / "default.yaml"


def cli(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


def results(out):
    text = (out / "results.csv").read_bytes()[3:].decode("utf-8")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def ref(r):
    return r["source"], r["source_file"], r["source_line"]


def by_state(rows):
    """{state: {ref: (status, resolved_by, first_seen, age_days, age_bucket)}} of the rows with an open_state."""
    out = collections.defaultdict(dict)
    for r in rows:
        if r["open_state"]:
            out[r["open_state"]][ref(r)] = (r["status"], r["resolved_by"], r["first_seen"], r["age_days"],
                                            r["age_bucket"])
    return out


@pytest.fixture(scope="module")
def month(tmp_path_factory):
    root = tmp_path_factory.mktemp("month")
    generate(root / "all", orders=40)
    return root / "all"


def _night(tmp_path, month, name, parts):
    """A folder holding only the named files and folders of the month (what arrived that day)."""
    folder = tmp_path / name
    folder.mkdir()
    for part in parts:
        src = month / part
        if src.is_dir():
            shutil.copytree(src, folder / part)
        else:
            (folder / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, folder / part)
    return folder


def test_a_month_of_nights_plants_every_state_and_age(month, tmp_path, capsys):
    db = str(tmp_path / "s.duckdb")

    def run(folder, as_of, *extra):
        out = tmp_path / f"out-{as_of}"
        code, stdout, err = cli(["run", str(folder), "--out", str(out), "--db", db, "--period", "2026-01",
                                 "--as-of", as_of, "--no-reports", "--json", *extra], capsys)
        assert code in (1, 4), err
        rows = results(out)
        assert list(rows[0])[-5:] == ["open_state", "resolved_by", "first_seen", "age_days", "age_bucket"]
        summary = json.loads(stdout)["open_items"]
        states = by_state(rows)
        # the summary (--json, manifest) counts exactly what results.csv lists
        assert summary["states"] == {s: len(states.get(s, {})) for s in ("new", "persisting", "reopened", "resolved")}
        assert summary["as_of"] == as_of
        return rows, states, summary

    # night 1, Feb 1: platform, bank and evidence files; no ERP yet
    rows1, s1, _ = run(_night(tmp_path, month, "n1", ["platform", "bank", "evidence"]), "2026-02-01")
    open1 = {ref(r): r for r in rows1 if r["status"] in ("unknown", "review")}
    assert set(s1) == {"new"} and set(s1["new"]) == set(open1)
    assert {v[2:] for v in s1["new"].values()} == {("2026-02-01", "0", "0-1")}

    # night 2, Feb 2: the WeChat ERP export arrives; WeChat's sales match, except the planted short-key pair
    rows2, s2, sum2 = run(_night(tmp_path, month, "n2", [ERP_WECHAT]), "2026-02-02")
    wechat1 = {k for k, r in open1.items() if r["channel"] == "wechatpay"}
    short_key = {ref(r) for r in rows2 if ref(r) in wechat1 and r["finding"].startswith("AMBIGUOUS_CANDIDATES")}
    assert len(short_key) == 2
    assert set(s2["resolved"]) == wechat1 - short_key and len(s2["resolved"]) == 5
    assert {v[1] for v in s2["resolved"].values()} == {"new_file"}
    assert {v[0] for v in s2["resolved"].values()} <= {"matched", "known"}
    assert set(s2["new"]) == {("erp", ERP_WECHAT, "2"), ("erp", ERP_WECHAT, "4")}  # their ERP side, in review
    assert set(s2["persisting"]) == set(open1) - set(s2["resolved"])
    assert {v[2:] for v in s2["persisting"].values()} == {("2026-02-01", "1", "0-1")}
    assert sum2["resolved_by"]["new_file"] == 5 and sum2["previous_run"]

    # night 3, Feb 5: the Kingdee export arrives; every other channel's sale is resolved by it
    rows3, s3, _ = run(_night(tmp_path, month, "n3", [ERP_KINGDEE]), "2026-02-05")
    others = {k for k, r in open1.items() if r["source"] == "platform" and r["channel"] != "wechatpay"}
    # 48 since the generator returns JD full refunds' 交易服务费 (their reversal lines are open until the ERP comes)
    assert set(s3["resolved"]) == others and len(others) == 48
    assert {v[1] for v in s3["resolved"].values()} == {"new_file"}
    assert set(s3["new"]) == {USD_ERP, USD_BANK}  # the USD receivable, and the credit it no longer explains
    assert {v[2:] for v in s3["new"].values()} == {("2026-02-05", "0", "0-1")}
    assert {(k, v[2], v[4]) for k, v in s3["persisting"].items()} == (
        {(k, "2026-02-01", "2-7") for k in short_key | {("bank", "bank/招商银行交易明细_202601.xlsx", "18")}}
        | {(k, "2026-02-02", "2-7") for k in s2["new"]})

    # Feb 12: a rules file without the batch-to-bank pass leaves the batch's bank credit open
    rules = tmp_path / "nobatch.yaml"
    default = RULES.read_text(encoding="utf-8")
    cut, resume = default.index("  - name: batch_to_bank"), default.index("  - name: trade_fund")
    rules.write_text(default[:cut] + default[resume:], encoding="utf-8")
    empty = tmp_path / "empty"
    empty.mkdir()
    _, s4, _ = run(empty, "2026-02-12", "--rules", str(rules))
    assert len(s4["new"]) == 1 and not s4.get("resolved")
    (batch_credit,) = s4["new"]
    assert batch_credit[0] == "bank"
    ages4 = {k: v[4] for k, v in s4["persisting"].items()}
    assert ages4 == {**{k: "8-30" for k in s3["persisting"]}, USD_ERP: "2-7", USD_BANK: "2-7"}

    # Feb 13: the default rules again: the credit is resolved by the rule change, a day old
    _, s5, _ = run(empty, "2026-02-13")
    assert s5["resolved"] == {batch_credit: ("matched", "rule", "2026-02-12", "1", "0-1")}
    assert set(s5["persisting"]) == set(s4["persisting"])

    # Feb 20: a clerk accepts the USD receivable: resolved by a decision
    code, _, err = cli(["resolve", "--db", db, "--accept", "--line", f"{ERP_KINGDEE}:{USD_ERP[2]}@应收单",
                        "--reason", "customer pays in March", "--by", "alice"], capsys)
    assert code == 0, err
    _, s6, _ = run(empty, "2026-02-20")
    assert s6["resolved"] == {USD_ERP: ("matched", "decision", "2026-02-05", "15", "8-30")}

    # Mar 15: the decision is revoked: the receivable is open again, reopened, still dated Feb 5
    assert cli(["resolve", "--db", db, "--revoke", "1", "--reason", "no", "--by", "bob"], capsys)[0] == 0
    _, s7, sum7 = run(empty, "2026-03-15")
    assert s7["reopened"] == {USD_ERP: ("unknown", "", "2026-02-05", "38", ">30")}
    assert not s7.get("new") and not s7.get("resolved")
    assert {v[4] for v in s7["persisting"].values()} == {">30"}
    assert sum7["age_buckets"] == {"0-1": 0, "2-7": 0, "8-30": 0, ">30": len(s7["persisting"]) + 1}

    # recon diff: by default the last two runs; --out writes the same rows
    code, out, _ = cli(["diff", "--db", db, "--json", "--out", str(tmp_path / "d.csv")], capsys)
    found = json.loads(out)
    assert code == 0 and found["summary"]["states"]["reopened"] == 1 and found["as_of"] == "2026-03-15"
    with open(tmp_path / "d.csv", encoding="utf-8-sig", newline="") as f:
        exported = list(csv.DictReader(f))
    assert len(exported) == len(found["items"]) == len(s7["persisting"]) + 1
    assert exported[0]["state"] == "reopened" and exported[0]["resolved_by"] == ""

    # and any two runs of the period: night 1 against night 3, items compared across the night between
    runs = [json.loads((tmp_path / f"out-{d}" / "manifest.json").read_text(encoding="utf-8"))["run_id"]
            for d in ("2026-02-01", "2026-02-02", "2026-02-05")]
    code, out, _ = cli(["diff", runs[2], runs[0], "--db", db, "--json"], capsys)
    found = json.loads(out)
    assert (found["before"], found["now"]) == (runs[0], runs[2])
    got = collections.Counter((i["state"], i["resolved_by"]) for i in found["items"])
    assert got == {("resolved", "new_file"): len(others) + 5, ("new", None): 4, ("persisting", None): 3}
    # two consecutive runs: recon diff says what the later run reported
    code, out, _ = cli(["diff", runs[2], "--db", db, "--json"], capsys)
    items = {(i["source"], i["source_file"], str(i["source_line"])): (i["state"], i["resolved_by"] or "")
             for i in json.loads(out)["items"]}
    assert items == {k: (state, v[1]) for state, group in s3.items() for k, v in group.items()}


HEAD = "单据编号,业务日期,单据类型,客户,币别,汇率,价税合计,税额,本位币价税合计,已核销金额,未核销金额,单据状态,平台订单号,摘要"


def ar(bill, amount, order, day="2026-01-05"):
    return f"{bill},{day},标准应收单,天猫旗舰店,人民币,1,{amount},0.00,{amount},0.00,{amount},已审核,{order},"


def test_identity_survives_a_rerun_a_redownload_and_a_corrected_document(tmp_path, capsys):
    """ERP receivables no platform file holds stay unknown: items whose age must follow the line, not the file."""
    db = str(tmp_path / "s.duckdb")

    def run(name, as_of, lines):
        folder = tmp_path / name
        if lines is not None:
            folder.mkdir()
            (folder / "ar.csv").write_text("\r\n".join([HEAD, *lines, ""]), encoding="utf-8")
        out = tmp_path / f"o-{as_of}"
        code, _, err = cli(["run", str(folder), "--out", str(out), "--db", db, "--period", "2026-01",
                            "--as-of", as_of, "--no-reports"], capsys)
        assert code == 4, err  # ERP only: incomplete
        return {(r["order_no"], r["amount"]): (r["open_state"], r["resolved_by"], r["first_seen"], r["age_bucket"])
                for r in results(out) if r["open_state"]}

    first = [ar("AR1", "100.00", "T1001"), ar("AR2", "50.00", "T2001"), ar("AR2", "70.00", "T2002")]
    n1 = run("n1", "2026-01-20", first)
    assert set(n1.values()) == {("new", "", "2026-01-20", "0-1")} and len(n1) == 3
    # a re-run of the same folder: all persisting, first seen unchanged, older
    assert set(run("n1", "2026-01-23", None).values()) == {("persisting", "", "2026-01-20", "2-7")}
    # a re-download: other bytes, the lines in another order (other physical lines) and one bill more
    n2 = run("n2", "2026-01-24", [first[2], ar("AR4", "9.00", "T4001"), first[0], first[1]])
    assert n2 == {**{k: ("persisting", "", "2026-01-20", "2-7") for k in n1},
                  ("T4001", "9.00"): ("new", "", "2026-01-24", "0-1")}
    # a corrected AR2: reloaded whole under new line ids; T2002 unchanged keeps its age, T2001's old amount
    # is gone (resolved by the correction) and its new amount is a new item
    n3 = run("n3", "2026-02-01", [first[0], ar("AR2", "55.00", "T2001"), first[2]])
    assert n3 == {("T1001", "100.00"): ("persisting", "", "2026-01-20", "8-30"),
                  ("T2002", "70.00"): ("persisting", "", "2026-01-20", "8-30"),
                  ("T4001", "9.00"): ("persisting", "", "2026-01-24", "8-30"),
                  ("T2001", "55.00"): ("new", "", "2026-02-01", "0-1")}
    code, out, _ = cli(["diff", "--db", db, "--json"], capsys)
    resolved = [i for i in json.loads(out)["items"] if i["state"] == "resolved"]
    assert [(i["order_no"], i["amount"], i["resolved_by"], i["status_now"]) for i in resolved] == [
        ("T2001", "50.00", "correction", None)]

    # the report's top and the workbook's 未结项 sheet say the same, rendered from the store
    last = json.loads((tmp_path / "o-2026-02-01" / "manifest.json").read_text(encoding="utf-8"))["run_id"]
    code, _, err = cli(["report", "--db", db, "--run", last, "--out", str(tmp_path / "rep"), "--lang", "en"], capsys)
    assert code == 0, err
    html = (tmp_path / "rep" / "report.html").read_text(encoding="utf-8")
    top = html[html.index('id="open-items"'):html.index('id="next"')]
    assert 'data-as-of="2026-02-01"' in top
    for attr, n in (('data-open="new"', 1), ('data-open="persisting"', 3), ('data-open="resolved"', 1),
                    ('data-open="reopened"', 0), ('data-age="8-30"', 3), ('data-age="0-1"', 1),
                    ('data-resolved-by="correction"', 1)):
        assert f"{attr}>{n}<" in top, attr
    assert top.index('data-state="new"') < top.index('data-state="resolved"')  # the changed items, listed
    import openpyxl
    sheet = openpyxl.load_workbook(tmp_path / "rep" / "recon.xlsx")["未结项"]
    table = [r for r in sheet.iter_rows(min_row=3, values_only=True)]
    assert sorted((r[0], r[1], r[6], r[12]) for r in table) == sorted([
        ("新增 (new)", "", "T2001", "0-1"), ("已解决 (resolved)", "单据更正", "T2001", "8-30"),
        ("持续 (persisting)", "", "T1001", "8-30"), ("持续 (persisting)", "", "T2002", "8-30"),
        ("持续 (persisting)", "", "T4001", "8-30")])


def test_diff_names_what_it_cannot_compare(tmp_path, capsys):
    db = str(tmp_path / "s.duckdb")
    folder = tmp_path / "n"
    folder.mkdir()
    (folder / "ar.csv").write_text("\r\n".join([HEAD, ar("AR1", "1.00", "T1"), ""]), encoding="utf-8")
    cli(["run", str(folder), "--out", str(tmp_path / "o"), "--db", db, "--period", "2026-01", "--no-reports",
         "--as-of", "2026-01-01"], capsys)
    code, _, err = cli(["diff", "--db", db], capsys)
    assert code == 2 and "only one run" in err
    code, _, err = cli(["diff", "R-nope", "--db", db], capsys)
    assert code == 2 and "no run R-nope" in err
    code, _, err = cli(["run", str(folder), "--out", str(tmp_path / "o2"), "--db", db, "--as-of", "2026-13-01"], capsys)
    assert code == 2 and "--as-of" in err
    # once there are two runs, the text says what the JSON says
    cli(["run", str(folder), "--out", str(tmp_path / "o3"), "--db", db, "--period", "2026-01", "--no-reports",
         "--as-of", "2026-02-09"], capsys)
    code, out, _ = cli(["diff", "--db", db], capsys)
    lines = out.splitlines()
    assert code == 0 and lines[0].endswith("(ages as of 2026-02-09)")
    assert lines[1].strip() == "new 0, persisting 1, reopened 0, resolved 0; open 1"
    assert lines[3].strip() == "open by age (days): 0-1 0, 2-7 0, 8-30 0, >30 1"
    assert "persisting" in lines[4] and "ar.csv:2" in lines[4] and "unknown -> unknown" in lines[4]


def test_results_csv_puts_each_lines_open_columns_on_its_own_row(tmp_path):
    """The open columns are pasted beside run_line by position: the streamed file equals an explicit sort."""
    from recon import store
    from recon.engine import pragmas
    from recon.report.results import write_results
    from recon.sql.neutralise import NEUTRALISE_MACRO

    con = store.connect(":memory:")
    con.execute(NEUTRALISE_MACRO)
    # stored in results.csv order; line ids deliberately in another order than the rows
    con.execute("""CREATE TEMP TABLE run_line AS SELECT 10000 - i AS line_id, 'erp' AS source, 'ar.csv' AS source_file,
        i AS source_line, NULL::VARCHAR AS source_sheet, NULL::VARCHAR AS channel, NULL::VARCHAR AS account,
        'O' || i AS order_no, 'receivable' AS line_type, 'CNY' AS currency, CAST(i AS DECIMAL(18,2)) AS amount,
        CASE WHEN i % 7 = 0 THEN 'unknown' ELSE 'matched' END AS status, NULL::VARCHAR AS code,
        NULL::VARCHAR AS match_group, '' AS explanation, '' AS finding, 'erp' AS family
        FROM range(1, 5001) t(i) ORDER BY i""")
    con.execute("""CREATE TEMP TABLE open_line AS SELECT line_id, 'new' AS state, NULL::VARCHAR AS resolved_by,
        DATE '2026-01-01' AS first_seen, source_line % 40 AS age_days FROM run_line WHERE status = 'unknown'""")
    (tmp_path / "a").mkdir()
    streamed = write_results(con, tmp_path / "a").read_bytes()
    with pragmas.any_order(con):
        (tmp_path / "b").mkdir()
        assert write_results(con, tmp_path / "b").read_bytes() == streamed
    rows = list(csv.DictReader(io.StringIO(streamed[3:].decode("utf-8"), newline="")))
    assert [r["source_line"] for r in rows] == [str(i) for i in range(1, 5001)]
    for r in rows:
        n = int(r["source_line"])
        assert r["age_days"] == (str(n % 40) if n % 7 == 0 else ""), r
        assert r["open_state"] == ("new" if n % 7 == 0 else "")
    con.close()

