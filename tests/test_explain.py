"""`recon explain` and the stored drill-down / root-cause rows, through real runs.

One run of the shipped ``sample_data`` into a temporary store (the path users take), then the
command line on it; the refund-in-review order comes from the generator's own truth file, which
only tests may read. The terminal renderer is also fed a crafted record with escape sequences.
"""

from __future__ import annotations

import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest

from recon import api, store
from recon.cli import main
from recon.explain import render

SAMPLE = Path(__file__).parent.parent / "sample_data"


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("explain")
    db = str(tmp / "store.duckdb")
    result = api.run(api.RunConfig(inputs=[SAMPLE], out=tmp / "out", db=db))
    return db, result


def cli(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


def planted(code):
    truth = json.loads((SAMPLE / ".planted.json").read_text(encoding="utf-8"))
    return [item for item in truth["items"] if item["code"] == code]


def test_every_unknown_line_has_one_stored_drilldown_and_its_finding_in_the_explanation(sample_run):
    db, result = sample_run
    run_id = result.manifest["run_id"]
    con = store.connect(db)
    try:
        rows = con.execute(
            """SELECT r.status, d.layer, d.finding, r.explanation, d.detail_json
               FROM line_result r LEFT JOIN drilldown d ON d.run_id = r.run_id AND d.line_id = r.line_id
               WHERE r.run_id = ?""", [run_id]).fetchall()
        dup = con.execute("SELECT count(*) - count(DISTINCT line_id) FROM drilldown WHERE run_id = ?",
                          [run_id]).fetchone()[0]
    finally:
        con.close()
    assert dup == 0
    unknown = [r for r in rows if r[0] == "unknown"]
    assert unknown, "the sample month has unknown lines"
    for status, layer, finding, explanation, detail in rows:
        if status != "unknown":
            assert layer is None
            continue
        assert layer in (1, 2, 3) and finding.startswith(f"第{layer}层: ")
        assert explanation.endswith("; 下钻" + finding)
        assert json.loads(detail)["stop_layer"] == layer


def test_root_cause_is_stored_per_run_and_agrees_with_the_manifest(sample_run):
    db, result = sample_run
    run_id = result.manifest["run_id"]
    con = store.connect(db)
    try:
        rows = con.execute("SELECT status, code, stop_layer, lines, amount FROM root_cause WHERE run_id = ?",
                           [run_id]).fetchall()
        by_layer = dict(con.execute("SELECT layer, count(*) FROM drilldown WHERE run_id = ? GROUP BY 1",
                                    [run_id]).fetchall())
    finally:
        con.close()
    per_code = defaultdict(lambda: [0, Decimal("0")])
    for status, code, layer, lines, amount in rows:
        per_code[f"{status}:{code or '-'}"][0] += lines
        per_code[f"{status}:{code or '-'}"][1] += amount
        assert (layer is None) == (status != "unknown")
    assert {k: {"count": n, "amount": str(a)} for k, (n, a) in per_code.items()} == result.manifest["by_code"]
    stored = defaultdict(int)
    for status, _, layer, lines, _ in rows:
        if status == "unknown":
            stored[layer] += lines
    assert dict(stored) == by_layer


def test_explain_shows_the_review_event_of_the_refund_in_review_order(sample_run, capsys):
    db, _ = sample_run
    case = planted("REFUND_IN_REVIEW")[0]  # the platform-side one (the ERP-side mirror has no platform refund)
    code, out, err = cli(["explain", case["order_no"], "--db", db], capsys)
    assert code == 0, err
    assert f"订单 {case['order_no']}" in out
    review = [ln for ln in out.splitlines() if "二审中" in ln and "→" in ln and ln.startswith("  20")]
    assert review and "◆ 状态变更, 无资金变动" in review[-1], out
    assert "第3层 审核日志" in out and "第1层 候选" in out and "第2层 原始记录" in out
    # the raw record of the platform refund is printed field by field
    assert "订单退款" in out and "售后编号" in out

    code, out, _ = cli(["explain", case["order_no"], "--db", db, "--json"], capsys)
    res = json.loads(out)
    assert res["lines"] and all(line["stop_layer"] == 3 for line in res["lines"])
    assert {ln["line"]["source"] for ln in res["lines"]} >= {"platform", "erp"}
    events = res["lines"][0]["layer3"]["events"]
    assert events[-1]["new_status"] == "二审中" and not events[-1]["moves_money"]

    code, out, _ = cli(["explain", case["order_no"], "--db", db, "--lang", "en"], capsys)
    assert "status change, no money moved" in out and "layer 3 audit log" in out


def test_explain_finds_an_order_written_with_punctuation_and_says_when_there_is_none(sample_run, capsys):
    db, _ = sample_run
    case = planted("REFUND_IN_REVIEW")[0]  # the platform-side one (the ERP-side mirror has no platform refund)
    no = case["order_no"]
    code, out, _ = cli(["explain", f"'{no[:6]}-{no[6:]}", "--db", db, "--json"], capsys)
    assert code == 0 and json.loads(out)["lines"]
    code, out, err = cli(["explain", "NO-SUCH-ORDER-42", "--db", db], capsys)
    assert code == 2 and "no line in run" in err and "Traceback" not in err
    code, _, err = cli(["explain", no, "--db", db, "--run", "R-missing"], capsys)
    assert code == 2 and "no run R-missing" in err


def test_explain_drills_a_matched_line_on_demand(sample_run):
    db, result = sample_run
    con = store.connect(db)
    try:
        order = con.execute(
            """SELECT p.order_no FROM line_result r JOIN platform_line p USING (line_id)
               WHERE r.run_id = ? AND r.status = 'matched' AND r.code = 'order_exact'
               ORDER BY p.order_no LIMIT 1""", [result.manifest["run_id"]]).fetchone()[0]
    finally:
        con.close()
    res = api.explain(db, order)
    assert res["lines"] and not any(line["recorded"] for line in res["lines"])
    platform = next(ln for ln in res["lines"] if ln["line"]["source"] == "platform")
    assert platform["line"]["status"] == "matched"
    assert platform["layer1"]["candidates"][0]["via"] == "order_no"


def test_render_shows_file_text_as_text_not_terminal_codes():
    evil = "\x1b]0;owned\x07\x1b[31mred\u202e"
    line = {"line_id": "L1", "source": "platform", "file": "f.csv", "line": 3, "sheet": None, "channel": "jd",
            "order_no": evil, "line_type": "sale", "currency": "CNY", "amount": "1.00", "date": "2026-01-03",
            "status": "unknown", "code": None, "match_group": None}
    res = {"run_id": "R1", "order_no": evil, "lines": [{
        "line": line, "stop_layer": 1, "finding": evil, "finding_en": evil, "recorded": True, "explanation": evil,
        "layer1": {"candidates": []},
        "layer2": {"records": [{"role": "line", "line_id": "L1", "file": "f.csv", "line": 3, "sheet": None,
                                "fields": [{"index": 1, "name": evil, "value": evil, "flags": ["state"]}]}]},
        "layer3": {"events": [{"time": "2026-01-03 09:00:00", "event": evil, "old_status": None, "new_status": evil,
                               "operator": evil, "remark": evil, "file": "a.csv", "line": 2, "status_change": True,
                               "moves_money": False}]}}]}
    for lang in ("zh", "en"):
        text = render(res, lang)
        assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
        assert "\\x1b[31mred\\u202e" in text
