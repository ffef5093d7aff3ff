"""The three-layer drill-down and the root-cause summary, on small stores written inline.

Each test writes a handful of canonical lines (and, where it matters, their raw cells, the file's
header and audit-log rows), runs the real matching passes and then ``drill.run`` exactly as
``recon.api.reconcile`` does, and reads ``run_drilldown`` / ``result`` / ``run_root_cause``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from decimal import Decimal

import pytest

from recon import store
from recon.engine import drill, match
from recon.rules import load_rules
from conftest import kept_record
from test_match_cash import january_universe

_ids = itertools.count(1)
D = Decimal


HEADERS = {}  # file name (F-<table>) -> the header its raw records are named by (``header``)


def add(con, table, source_line=None, raw=(), **fields):
    """One canonical line with provenance defaults (file F-<table>, next line number); its raw
    record ``raw`` is kept as a small evidence file, under the header ``header`` gave the file."""
    n = next(_ids)
    file = fields.pop("file_id", f"F-{table}")
    row = {"line_id": n, "source_format": "test", "source_name": f"{table}.csv",
           "source_line": source_line or n, "natural_key": f"k{n}", "occurrence": 1,
           **kept_record(con, table, raw, file, HEADERS.get(file, ()))}
    row.update(fields)
    con.execute(f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})", list(row.values()))
    return row["line_id"]


def sale(con, order_no, amount, day, **kw):
    return add(con, "platform_line", channel=kw.pop("channel", "jd"), line_type=kw.pop("line_type", "sale"),
               order_no=order_no, amount=D(amount), movement_date=dt.date(2026, 1, day),
               event_time=kw.pop("event_time", dt.datetime(2026, 1, day, 12)), **kw)


def receivable(con, order_no, amount, day, **kw):
    return add(con, "erp_line", channel=kw.pop("channel", "jd"), line_type=kw.pop("line_type", "receivable"),
               order_no=order_no, amount=D(amount), bill_date=dt.date(2026, 1, day),
               movement_date=dt.date(2026, 1, day), **kw)


def event(con, order_no, when, name, old, new, remark=None):
    return add(con, "audit_event", file_id="F-audit", source_name="audit.csv", channel="douyin", order_no=order_no,
               event_time=when, event=name, old_status=old, new_status=new, operator="op", remark=remark,
               movement_date=when.date())


def header(con, file_id, cells):
    HEADERS[file_id] = list(cells)


def run(con):
    """The run's matching, then the drill-down; returns {line_id: (layer, finding, detail)}."""
    january_universe(con)
    match.run_passes(con, load_rules())
    drill.run(con)
    return {r[0]: (r[1], r[2], json.loads(r[3])) for r in con.execute("SELECT * FROM run_drilldown").fetchall()}


def explanation(con, line_id):
    return con.execute("SELECT explanation FROM result WHERE line_id = ?", [line_id]).fetchone()[0]


@pytest.fixture
def con():
    HEADERS.clear()
    c = store.connect(":memory:")
    yield c
    c.close()


def test_layer1_finds_the_same_order_written_differently_with_the_amount_difference(con):
    p = sale(con, "JD-0001", "100.00", 5)
    e = receivable(con, "jd0001", "80.00", 3)
    got = run(con)
    layer, finding, detail = got[p]
    assert layer == 1
    best = detail["layer1"]["candidates"][0]
    assert best["line_id"] == e and best["via"] == "order_no" and best["rank"] == 1
    diffs = {d["field"]: d for d in best["differences"]}
    assert diffs["order_no"]["delta"] == "format"
    assert diffs["amount"] == {"field": "amount", "this": "100.00", "other": "80.00", "delta": "20.00"}
    assert diffs["date"]["delta"] == "2"
    assert "金额差 20.00" in finding and "日期差 2 天" in finding and "订单号写法不同" in finding
    assert explanation(con, p).endswith("; 下钻" + finding)
    assert got[e][2]["layer1"]["candidates"][0]["line_id"] == p


def test_layer1_states_no_amount_difference_across_currencies(con):
    """A yuan line and a dollar document of the same order: the currencies differ, and 100.00 − 80.00 is no
    difference to report (the order leg does not compare them without a local amount either)."""
    p = sale(con, "JD-0001", "100.00", 5, currency="CNY")
    e = receivable(con, "JD-0001", "80.00", 3, currency="USD")
    layer, finding, detail = run(con)[p]
    best = detail["layer1"]["candidates"][0]
    assert best["line_id"] == e
    diffs = {d["field"]: d for d in best["differences"]}
    assert "amount" not in diffs and diffs["currency"] == {"field": "currency", "this": "CNY", "other": "USD",
                                                           "delta": None}
    assert "金额差" not in finding and "币种不同" in finding


def test_layer1_amount_search_is_nearest_first_same_channel_and_bounded(con):
    e = receivable(con, None, "100.00", 10, line_type="receivable")
    near = sale(con, "A1", "100.00", 12)
    sale(con, "A2", "100.50", 10)
    sale(con, "A3", "99.00", 10)
    other_channel = sale(con, "B1", "100.00", 10, channel="pdd")
    for i in range(30):  # far amounts: outside the bounded neighbourhood
        sale(con, f"F{i}", f"{5000 + i}.00", 10)
    got = run(con)
    cands = got[e][2]["layer1"]["candidates"]
    assert [c["line_id"] for c in cands][0] == near
    assert [c["order_no"] for c in cands] == ["A1", "A2", "A3"]
    assert other_channel not in {c["line_id"] for c in cands}
    assert all(c["via"] == "amount" for c in cands)
    assert {d["field"]: d["delta"] for d in cands[0]["differences"]} == {"order_no": "missing", "date": "-2"}
    assert len(cands) == drill.TOP


def test_layer1_reports_when_no_other_side_has_anything(con):
    p = sale(con, "ONLY1", "10.00", 4)
    layer, finding, detail = run(con)[p]
    assert layer == 1 and detail["layer1"]["candidates"] == []
    assert finding == "第1层: 其他来源中没有订单号相同或金额相近的候选行"


def test_layer2_flags_a_state_cell_of_the_raw_record_but_not_an_approved_one(con):
    header(con, "F-platform_line", ["订单号", "金额", "结算状态", "审核"])
    p = sale(con, "S1", "50.00", 6, raw=["'S1", "50.00", "待结算", "已审核"])
    receivable(con, "S1", "55.00", 6)
    layer, finding, detail = run(con)[p]
    assert layer == 2
    assert finding == "第2层: 原始记录 platform_line.csv:%d 字段「结算状态」= 待结算, 记录处于未完结状态" % (
        detail["line"]["line"])
    rec = detail["layer2"]["records"][0]
    assert rec["role"] == "line" and rec["line_id"] == p
    flags = {f["name"]: f["flags"] for f in rec["fields"]}
    assert flags == {"订单号": [], "金额": ["differs"], "结算状态": ["state"], "审核": []}
    assert [f["value"] for f in rec["fields"]] == ["'S1", "50.00", "待结算", "已审核"]
    assert detail["layer2"]["records"][1]["role"] == "candidate"


@pytest.mark.parametrize("value,flagged", [("二审中", True), ("退款中", True), ("交易关闭", True),
                                           ("Pending review", True), ("CLOSED", True), ("已审核", False),
                                           ("退款成功", False), ("已结算", False), ("审核中", True)])
def test_state_words(con, value, flagged):
    assert con.execute("SELECT regexp_matches(?, ?)", [value, drill.STATE_RE]).fetchone()[0] is flagged


def test_layer3_calls_out_a_move_back_into_review_that_moved_no_money(con):
    t = dt.datetime
    o = "6975236259583437514"
    s = sale(con, o, "199.00", 22, channel="douyin", event_time=t(2026, 1, 22, 10, 27, 7))
    r = sale(con, o, "-199.00", 24, channel="douyin", line_type="refund", event_time=t(2026, 1, 24, 20, 46, 18))
    receivable(con, o, "199.00", 20, channel="douyin")
    event(con, o, t(2026, 1, 24, 17, 46, 18), "买家申请退款", None, "退款申请中")
    event(con, o, t(2026, 1, 24, 19, 46, 18), "商家同意退款", "退款申请中", "退款中")
    event(con, o, t(2026, 1, 24, 20, 46, 18), "退款成功", "退款中", "退款成功", "退款金额199.00")
    event(con, o, t(2026, 1, 25, 16, 46, 18), "人工复核", "退款成功", "二审中", "转人工复核")
    got = run(con)
    layer, finding, detail = got[r]
    assert layer == 3 and got[s][0] == 3
    assert "人工复核: 退款成功 → 二审中" in finding and "没有资金变动" in finding and "二审中" in finding
    events = detail["layer3"]["events"]
    assert [e["event"] for e in events] == ["买家申请退款", "商家同意退款", "退款成功", "人工复核"]
    assert [e["moves_money"] for e in events] == [False, False, True, False]
    assert all(e["status_change"] for e in events)
    assert "moved no money" in detail["finding_en"]


def test_layer3_attributes_a_settlement_batch_stamp_to_the_refund_day(con):
    """JD stamps lines with the settlement batch time; the refund's money date is its bill date."""
    t = dt.datetime
    o = "3149797213355500"
    r = add(con, "platform_line", channel="jd", line_type="refund", order_no=o, amount=D("-131.56"),
            bill_date=dt.date(2026, 1, 8), movement_date=dt.date(2026, 1, 8), event_time=t(2026, 1, 17, 20, 58, 25))
    receivable(con, o, "299.00", 7)
    event(con, o, t(2026, 1, 8, 7, 28, 31), "买家申请退款", None, "退款申请中")
    event(con, o, t(2026, 1, 8, 10, 28, 31), "退款成功", "退款申请中", "退款成功")
    event(con, o, t(2026, 1, 3, 9), "买家申请退款", None, "退款申请中")  # an earlier request that came to nothing
    event(con, o, t(2026, 1, 4, 9), "买家撤销申请", "退款申请中", "已撤销")
    layer, _, detail = run(con)[r]
    assert [e["moves_money"] for e in detail["layer3"]["events"]] == [False, False, False, True]
    assert layer == 1  # the latest status change moved money: the audit log explains nothing here


def test_layer3_counts_a_next_day_bill_but_not_a_later_one(con):
    t = dt.datetime
    r = add(con, "platform_line", channel="pdd", line_type="refund", order_no="P9", amount=D("-20.00"),
            movement_date=dt.date(2026, 1, 11), event_time=t(2026, 1, 11, 2, 0))
    receivable(con, "P9", "20.00", 5, channel="pdd")
    event(con, "P9", t(2026, 1, 8, 9), "买家申请退款", None, "退款申请中")
    event(con, "P9", t(2026, 1, 10, 23, 59), "退款成功", "退款申请中", "退款成功")
    layer, _, detail = run(con)[r]
    assert [e["moves_money"] for e in detail["layer3"]["events"]] == [False, True] and layer == 1
    con.execute("UPDATE platform_line SET movement_date = DATE '2026-01-12', event_time = TIMESTAMP '2026-01-12 02:00'")
    layer, finding, detail = run(con)[r]
    assert [e["moves_money"] for e in detail["layer3"]["events"]] == [False, False] and layer == 3
    assert "退款成功" in finding


def test_root_cause_counts_and_sums_by_status_code_channel_and_stop_layer(con):
    sale(con, "M1", "10.00", 3)
    receivable(con, "M1", "10.00", 3)
    sale(con, "U1", "7.25", 3)
    sale(con, "U2", "-2.10", 4, channel="pdd")
    header(con, "F-erp_line", ["单据状态"])
    receivable(con, "U3", "5.00", 4, raw=["审核中"])
    run(con)
    rows = con.execute("SELECT status, code, channel, stop_layer, lines, amount FROM run_root_cause").fetchall()
    assert rows == [("matched", "order_exact", "jd", None, 2, D("20.00")),
                    ("unknown", None, "jd", 1, 1, D("7.25")),
                    ("unknown", None, "jd", 2, 1, D("5.00")),
                    ("unknown", None, "pdd", 1, 1, D("-2.10"))]


def test_detail_json_keeps_the_documented_shape(con):
    """The HTML report reads these keys (documented in recon.engine.drill); a rename must fail here."""
    o = "K1"
    header(con, "F-platform_line", ["订单号"])
    p = sale(con, o, "1.00", 3, raw=[o])
    receivable(con, o, "2.00", 3)
    event(con, o, dt.datetime(2026, 1, 3, 9), "x", None, "y")
    detail = run(con)[p][2]
    assert list(detail) == ["line", "stop_layer", "finding", "finding_en", "layer1", "layer2", "layer3"]
    line_keys = ["line_id", "source", "file", "line", "sheet", "channel", "order_no", "line_type", "currency",
                 "amount", "date", "status", "code", "match_group"]
    assert list(detail["line"]) == line_keys
    assert list(detail["layer1"]["candidates"][0]) == ["rank", "via"] + line_keys + ["differences"]
    assert list(detail["layer1"]["candidates"][0]["differences"][0]) == ["field", "this", "other", "delta"]
    assert list(detail["layer2"]["records"][0]) == ["role", "line_id", "file", "line", "sheet", "fields"]
    assert list(detail["layer2"]["records"][0]["fields"][0]) == ["index", "name", "value", "flags"]
    assert list(detail["layer3"]["events"][0]) == ["time", "event", "old_status", "new_status", "operator", "remark",
                                                  "file", "line", "status_change", "moves_money"]
    assert detail["line"]["amount"] == "1.00" and isinstance(detail["line"]["amount"], str)


def test_only_unknown_lines_are_drilled_and_output_is_deterministic():
    """Two stores with the same lines give byte-identical drill-downs (ties broken by line id)."""
    global _ids
    outputs = []
    for _ in range(2):
        _ids = itertools.count(5000)
        c = store.connect(":memory:")
        m = sale(c, "M1", "10.00", 3)
        receivable(c, "M1", "10.00", 3)
        for i in range(20):  # many equal amounts and dates: only the tie-breaks decide the order
            sale(c, f"U{i}", f"{i % 3}.50", 3 + i % 2)
            receivable(c, f"V{i}", f"{i % 3}.50", 3 + i % 2)
        got = run(c)
        assert m not in got and len(got) == 40
        outputs.append(c.execute("SELECT * FROM run_drilldown ORDER BY line_id").fetchall())
        c.close()
    assert outputs[0] == outputs[1]
