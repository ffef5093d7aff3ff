"""The HTML report renders every section from the store alone, escapes input text, and is deterministic.

Most tests build a small store by inserting rows straight into the tables the report reads (the
stages that fill known_case, correction_line, drilldown and root_cause may not have run), with
hostile text in raw cells, memos, codes and channels. One test renders a real run of sample_data.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest

from recon import api, evidence, store
from recon.errors import ReconError
from recon.report.html import collect, write_report
from recon import labels
from recon.labels import LABELS

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"
HOSTILE = """<script>window.__pwned=1</script>"q'=HYPERLINK("http://x","y")"""
RUN = "R20260201T100000-abc-2"


def _insert(con, table, **row):
    con.execute(f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", list(row.values()))


FILE_IDS = {}  # the test's name for a file -> its number in the store (file_id)
LINE_IDS: dict = {}  # the test's name for a line -> its line_id


def lid(name: str) -> int:
    return LINE_IDS.setdefault(name, len(LINE_IDS) + 1)


def _file(con, run_id, name, path, header, rows, proofs=()):
    """A CSV file of ``header`` and ``rows`` (lines 2, 3, …) kept as evidence, as an import keeps it."""
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows([header, *rows])
    data = text.getvalue().encode("utf-8")
    sha = hashlib.sha256(data).hexdigest()
    file_id = FILE_IDS[name] = store.new_file_id(con)
    evidence.keep(con, sha, data)
    _insert(con, "source_file", file_id=file_id, sha256=sha, original_name=path, original_path=path, size_bytes=len(data),
            container="csv", formats=["test.csv"], data_lines=3, loaded=3, duplicates=0, quarantined=0,
            imported_at=dt.datetime(2026, 2, 1), report_json="{}")
    _insert(con, "source_part", file_id=file_id, part="", format="test.csv", family="platform", header_line=1,
            header=header, preamble=[], footer=[], reader="text", encoding="utf-8", delimiter=",",
            width=len(header), pad_short=False)
    _insert(con, "run_file", run_id=run_id, file_id=file_id, sha256=sha, rel_path=path)
    for proof, passed in proofs:
        _insert(con, "control_proof", file_id=file_id, part="", proof=proof, expected="1.00", actual="1.00",
                passed=passed, detail=HOSTILE)


def _line(con, run_id, family, line_id, name, path, n, amount, status, code=None, group=None, expl=None,
          channel=None, order_no=None):
    table = store.table_of(family)
    natural_key, line_id = line_id, lid(line_id)
    _insert(con, table, line_id=line_id, file_id=FILE_IDS[name], source_format="test.csv", source_name=path,
            source_line=n, natural_key=natural_key, occurrence=1, amount=Decimal(amount), order_no=order_no,
            line_type="sale", currency="CNY")
    _insert(con, "line_result", run_id=run_id, family=family, line_id=line_id, status=status, code=code,
            match_group=group, explanation=expl, channel=channel)


def _run(con, run_id, started, manifest=None, period="2026-01"):
    _insert(con, "run", run_id=run_id, period=period, started_at=started, exit_code=1, summary_json="{}",
            manifest_json=json.dumps(manifest) if manifest is not None else None)


MANIFEST = {
    "version": "0.1.0", "started_at": "2026-02-01T10:00:00", "finished_at": "2026-02-01T10:00:07",
    "quarantined_lines": 0, "failed_proofs": ["platform.csv: 交易合计.amount"],
    "control_totals": {"platform": {"in": {"count": 4, "amount": "-431.53"}, "out": {"count": 4, "amount": "-431.53"}}},
}


def build(con):
    """One run (RUN) with a line of every status, an earlier and a later run for the trend."""
    _run(con, "R0-early-1", dt.datetime(2026, 1, 3, 9), manifest={}, period="2025-12")
    _insert(con, "line_result", run_id="R0-early-1", family="platform", line_id=lid("old"), status="unknown", code=None,
            match_group=None, explanation=None, channel="tmall")
    _run(con, RUN, dt.datetime(2026, 2, 1, 10), MANIFEST)
    _run(con, "R9-later-3", dt.datetime(2026, 2, 5, 10), {})
    _insert(con, "line_result", run_id="R9-later-3", family="platform", line_id=lid("x"), status="unknown",
            code="LATER_ONLY", match_group=None, explanation=None, channel=None)
    # the raw records of the lines below (P1..P5, E1..E3, B1..B2), from line 2 of their files on
    _file(con, RUN, "F-plat", "platform.csv", ["订单号", "金额", "备注", "状态"],
          [["O-1", "-428.36", HOSTILE, "退款中"], ["O-2", "-3.17", "", ""], ["O-9", "100.00", "", ""],
           ["", "-500.00", "", ""], ["O-5", "-7.00", "", ""]], [("交易合计.amount", False)])
    _file(con, RUN, "F-erp", "erp.csv", ["单号", "金额", HOSTILE],
          [["PI-1", "12500.00", "=1+2"], ["88345678", "100.00", ""], ["O-2", "3.00", ""]], [("余额", True)])
    _file(con, RUN, "F-bank", "bank.csv", ["流水号", "金额"], [["S1", "500.00"], ["S2", "36800.00"]])
    _line(con, RUN, "platform", "P1", "F-plat", "platform.csv", 2, "-428.36", "unknown", expl="退款未入账 " + HOSTILE,
          channel="tmall", order_no="O-1")
    _line(con, RUN, "platform", "P2", "F-plat", "platform.csv", 3, "-3.17", "known", "FEE_RATE_DIFF", "K1",
          "费率差", channel="jd", order_no="O-2")
    _line(con, RUN, "platform", "P3", "F-plat", "platform.csv", 4, "100.00", "review", "order_exact", "G-REV",
          "候选: 订单 12345678 / 88345678", channel=HOSTILE, order_no="O-9")
    _line(con, RUN, "platform", "P4", "F-plat", "platform.csv", 5, "-500.00", "matched", "payout_to_bank", "G-1",
          channel="tmall")
    _line(con, RUN, "erp", "E1", "F-erp", "erp.csv", 2, "12500.00", "unknown", expl=HOSTILE, order_no="PI-1")
    _line(con, RUN, "erp", "E2", "F-erp", "erp.csv", 3, "100.00", "review", "order_exact", "G-REV", "候选",
          channel=HOSTILE, order_no="88345678")
    _line(con, RUN, "erp", "E3", "F-erp", "erp.csv", 4, "3.00", "known", "FEE_RATE_DIFF", "K1", "费率差",
          channel="jd", order_no="O-2")
    _line(con, RUN, "bank", "B1", "F-bank", "bank.csv", 2, "500.00", "matched", "payout_to_bank", "G-1")
    _line(con, RUN, "bank", "B2", "F-bank", "bank.csv", 3, "36800.00", "unknown", expl="银行流水无对应")
    _insert(con, "known_case", run_id=RUN, case_id="K1", code="FEE_RATE_DIFF", channel="jd", period="2026-01",
            residual=Decimal("-0.17"), line_ids=[lid("P2"), lid("E3")], source_refs=["platform.csv:3", "erp.csv:4"],
            explanation="费率差 " + HOSTILE, blocks_close=False)
    for n, account, debit, credit in [(1, "platform_fee_expense", "0.17", "0"),
                                      (2, "accounts_receivable_platform", "0", "0.17")]:
        _insert(con, "correction_line", run_id=RUN, case_id="K1", code="FEE_RATE_DIFF", channel="jd", period="2026-01",
                line_no=n, account=account, debit=Decimal(debit), credit=Decimal(credit), explanation="x", basis="合同")
    _line(con, RUN, "platform", "P5", "F-plat", "platform.csv", 6, "-7.00", "unknown", expl="无钻取", channel="tmall",
          order_no="O-5")
    _insert(con, "drilldown", run_id=RUN, line_id=lid("P1"), layer=3, finding="退款审核中，钱未动 " + HOSTILE,
            detail_json=json.dumps(DETAIL, ensure_ascii=False))
    _insert(con, "drilldown", run_id=RUN, line_id=lid("E1"), layer=1, finding="其他形状",
            detail_json=json.dumps({"note": HOSTILE, "items": [{"k": 1}]}, ensure_ascii=False))
    _insert(con, "root_cause", run_id=RUN, status="unknown", code=None, channel="tmall", stop_layer=3, lines=1,
            amount=Decimal("-428.36"))
    for n, (channel, when, event) in enumerate([("tmall", 14, "商家同意退款"), ("tmall", 12, "买家申请退款"),
                                                ("pdd", 13, "另一渠道的同号订单")], start=2):
        _insert(con, "audit_event", line_id=lid(f"A{n}"), file_id=99, source_format="audit", source_name="audit.csv",
                source_line=n, natural_key=f"a{n}", occurrence=1, channel=channel, order_no="O-5",
                event_time=dt.datetime(2026, 1, when, 9), event=event, old_status="a", new_status=HOSTILE,
                operator="客服", remark=None)


# detail_json in the shape recon.engine.drill documents
DETAIL = {
    "line": {"line_id": "P1", "file": "platform.csv", "line": 2},
    "stop_layer": 3, "finding": "退款审核中，钱未动", "finding_en": "Refund back in review; no money moved " + HOSTILE,
    "layer1": {"candidates": [{"rank": 1, "via": "order_no", "line_id": "E9", "source": "erp", "file": "erp.csv",
                               "line": 9, "sheet": None, "channel": "tmall", "order_no": "O-1", "amount": "428.36",
                               "date": "2026-01-20", "status": None, "code": None, "match_group": None,
                               "differences": [{"field": "amount", "this": "-428.36", "other": "428.36",
                                                "delta": HOSTILE}]}]},
    "layer2": {"records": [
        {"role": "line", "line_id": "P1", "file": "platform.csv", "line": 2, "sheet": None,
         "fields": [{"index": 4, "name": "状态", "value": "退款中", "flags": ["state"]},
                    {"index": 2, "name": "金额", "value": "-428.36", "flags": ["differs"]}]},
        {"role": "candidate", "line_id": "E9", "file": "erp.csv", "line": 9, "sheet": "应收单",
         "fields": [{"index": 1, "name": "摘要", "value": HOSTILE, "flags": []}]}]},
    "layer3": {"events": [
        {"time": "2026-01-12 09:00:00", "event": "买家申请退款", "old_status": "", "new_status": "退款申请中",
         "operator": "买家", "remark": HOSTILE, "file": "audit.csv", "line": 3, "status_change": True,
         "moves_money": False},
        {"time": "2026-01-14 09:00:00", "event": "退款成功", "old_status": "退款中", "new_status": "退款成功",
         "operator": "系统", "remark": None, "file": "audit.csv", "line": 5, "status_change": True,
         "moves_money": True}]},
}


@pytest.fixture
def crafted(tmp_path):
    con = store.connect(":memory:")
    build(con)
    yield con
    con.close()


def render(con, tmp_path, **kw) -> str:
    return write_report(con, RUN, tmp_path / "report.html", **kw).read_text(encoding="utf-8")


class _Parsed(HTMLParser):
    """What a browser's parser would see: elements, attributes (decoded) and text nodes (decoded)."""

    def __init__(self, html):
        super().__init__(convert_charrefs=True)
        self.tags, self.attrs, self.text = set(), [], []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attrs.extend(attrs)

    def handle_data(self, data):
        self.text.append(data)


def test_input_text_is_escaped_everywhere(crafted, tmp_path):
    html = render(crafted, tmp_path)
    parsed = _Parsed(html)
    # no element or attribute came from input: no script, no handler, nothing that fetches
    assert not parsed.tags & {"script", "img", "iframe", "object", "embed", "link", "a", "form", "base"}
    names = {name for name, _ in parsed.attrs}
    assert not {n for n in names if n.startswith("on")} and not names & {"src", "href", "xlink:href"}
    # the hostile text arrives whole, as text: in raw cells, explanations, findings, the channel in a chart label
    text = "".join(parsed.text)
    assert text.count(HOSTILE) >= 8, text.count(HOSTILE)
    assert "<script" not in html.lower()
    # a hostile header names a raw cell: the attribute value decodes to exactly that text
    assert ("data-raw-field", HOSTILE) in parsed.attrs
    assert ("data-key", HOSTILE) in parsed.attrs  # the channel's chart marks and table row
    assert "=1+2" in text  # a formula-like raw cell is shown as the text it is


def test_no_external_reference_and_a_policy_that_forbids_fetches(crafted, tmp_path):
    html = render(crafted, tmp_path)
    assert "default-src 'none'" in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html, re.I)
    assert "kozea.github.io" not in html and "googleapis" not in html


def test_every_section_renders_from_the_tables(crafted, tmp_path):
    html = render(crafted, tmp_path)
    # summary and control totals (from the manifest)
    assert "R20260201T100000-abc-2" in html and "platform.csv: 交易合计.amount" in html and "-431.53" in html
    # unknown: the largest first, with its drill-down layers
    assert re.findall(r'<details class="drill" data-line="(\w+)"', html) == [str(lid(x)) for x in ("B2", "E1", "P1", "P5")]
    p1 = _drill(html, "P1")
    assert "退款审核中，钱未动" in p1 and "(层级 3)" in p1
    assert re.search(r'<td>1</td><td>订单号</td>\s*<td class="ref">erp.csv:9</td>', p1)  # layer 1 candidate
    assert "amount: -428.36 → 428.36" in p1
    assert re.search(r'<tr class="flagged"><th>状态 <span class="tag warn" data-flag="state">状态未定</span></th>\s*'
                     r'<td data-raw-field="状态">退款中</td>', p1)  # flags land on the field of that index
    assert re.search(r'<th>金额 <span class="tag warn" data-flag="differs">与候选不一致</span>', p1)
    assert "候选行原始记录 <span class=\"ref\">erp.csv:9@应收单</span>" in p1
    assert re.search(r'买家申请退款 <span class="tag warn">未动钱的状态变更</span>', p1)
    assert "退款成功 <span" not in p1  # the event that moved money is not called out
    # a detail of another shape is shown as a tree; a line without drill-down reads the audit log itself
    assert "<dt>note</dt>" in _drill(html, "E1")
    p5 = _drill(html, "P5")
    assert "尚无钻取结果" in p5 and p5.index("买家申请退款") < p5.index("商家同意退款")
    assert "另一渠道的同号订单" not in p5  # same order number, other channel: not this order
    assert "audit.csv:3" in p5
    # known: code with cases, residual and a balanced voucher summed by account
    known = html[html.index('data-code="FEE_RATE_DIFF"'):]
    known = known[:known.index("</section>")]
    assert "platform.csv:3, erp.csv:4" in known and "-0.17" in known
    assert "<summary>金额最大的 1 个案例（共 1 个，完整清单见工作簿 recon.xlsx" in known
    # the account as the ledger names it (code and name from the chart), not by its key
    assert re.search(r"<td>6601.01 销售费用-平台服务费</td><td class=\"num\">0.17</td><td class=\"num\"></td>", known)
    assert "platform_fee_expense" not in known
    assert re.search(r"<th>合计</th><th class=\"num\">0.17</th><th class=\"num\">0.17</th>", known)
    # review: the group with both candidates' lines
    review = html[html.index('<section id="review">'):html.index('<section id="files">')]
    assert "G-REV" in review and f'data-line="{lid("P3")}"' in review and f'data-line="{lid("E2")}"' in review
    # control proofs per file, failed ones marked
    files = html[html.index('<section id="files">'):]
    assert 'data-file="platform.csv"' in files and '<td class="bad">否</td>' in files
    assert "该文件没有可校验的控制合计" in files  # bank.csv has no proof
    # stop layers from root_cause
    assert "未知差异按钻取停止层级" in html


def _drill(html, line_id) -> str:
    part = html[html.index(f'<details class="drill" data-line="{lid(line_id)}"'):]
    return part[:part.index("</div>\n</details>")]


def test_each_chart_has_one_mark_per_code_and_channel(crafted, tmp_path):
    html = render(crafted, tmp_path)
    data = collect(crafted, RUN)
    assert [c.key for c in data.by_code] == ["unknown:", "known:FEE_RATE_DIFF", "review:order_exact"]
    for name, n in [("by-code-lines", 3), ("by-code-amount", 3), ("by-channel-lines", len(data.by_channel))]:
        assert len(re.findall(f'data-mark="{name}"', html)) == n
    # trend: runs up to this one only (the later run and its code are absent), one row per code
    assert len(data.heatmap["runs"]) == 2 and "LATER_ONLY" not in html
    assert len(re.findall('data-mark="trend"', html)) == len(data.heatmap["rows"]) == 3


def test_top_bounds_the_inline_list_but_not_the_counts(crafted, tmp_path):
    html = render(crafted, tmp_path, top=1)
    assert re.findall(r'<details class="drill" data-line="(\w+)"', html) == [str(lid("B2"))]
    assert "共 4 行，金额绝对值合计 CNY 49,735.36；下方按金额列出最大的 1 行" in html
    assert "recon.xlsx" in html


def test_english_labels_and_the_same_keys_in_both_languages(crafted, tmp_path):
    assert set(LABELS["zh"]) == set(LABELS["en"])
    html = render(crafted, tmp_path, lang="en")
    assert '<html lang="en">' in html and "Known discrepancies by code" in html and "Layer 2: raw record" in html
    assert "Refund back in review; no money moved" in _drill(html, "P1")  # the drill-down's English finding
    visible = re.sub(r"<[^>]+>", "", html)
    for zh in ("已知差异", "未知差异", "控制合计", "钻取结论"):
        assert zh not in visible
    with pytest.raises(ReconError, match="--lang 'fr'"):
        render(crafted, tmp_path, lang="fr")


def test_same_store_renders_byte_identical_html(crafted, tmp_path):
    first = write_report(crafted, RUN, tmp_path / "a.html").read_bytes()
    second = write_report(crafted, RUN, tmp_path / "b.html").read_bytes()
    assert first == second
    assert b"pygal.org" not in first  # pygal's dated comment is dropped


def test_empty_tables_render_their_sections_gracefully(tmp_path):
    con = store.connect(":memory:")
    _run(con, "R-empty", dt.datetime(2026, 2, 1), None)
    html = write_report(con, "R-empty", tmp_path / "r.html").read_text(encoding="utf-8")
    for label in ("no_differences", "known_empty", "review_empty"):
        assert LABELS["zh"][label] in html
    assert "共 0 行" in html


def test_unknown_run_is_a_clear_error(crafted, tmp_path):
    with pytest.raises(ReconError, match="no run 'nope' in this store: `recon runs`"):
        write_report(crafted, "nope", tmp_path / "r.html")


def test_a_users_template_overrides_a_block_of_the_default(crafted, tmp_path):
    own = tmp_path / "reports"
    own.mkdir()
    (own / "report.html.j2").write_text(
        '{% extends "default/report.html.j2" %}{% block trend %}<p id="mine">{{ d.run.period }}</p>{% endblock %}',
        encoding="utf-8")
    html = render(crafted, tmp_path, template_dir=own)
    assert '<p id="mine">2026-01</p>' in html and 'data-mark="trend"' not in html and f'data-line="{lid("P1")}"' in html


@pytest.fixture(scope="module")
def sample_store(tmp_path_factory):
    """sample_data run twice into one store: the second run must not change how the first renders."""
    tmp = tmp_path_factory.mktemp("sample")
    db = str(tmp / "s.duckdb")
    first = api.run(api.RunConfig(inputs=[SAMPLE], out=tmp / "out1", db=db))
    con = store.connect(db)
    before = write_report(con, first.manifest["run_id"], tmp / "before.html").read_bytes()
    con.close()
    second = api.run(api.RunConfig(inputs=[SAMPLE], out=tmp / "out2", db=db))
    con = store.connect(db)
    yield con, first.manifest, second.manifest, before, tmp
    con.close()


def test_a_real_sample_run_renders_and_a_later_run_does_not_change_it(sample_store):
    con, first, second, before, tmp = sample_store
    assert write_report(con, first["run_id"], tmp / "again.html").read_bytes() == before
    html = write_report(con, second["run_id"], tmp / "second.html").read_text(encoding="utf-8")
    data = collect(con, second["run_id"])
    assert [r[0] for r in data.heatmap["runs"]] == [first["run_id"], second["run_id"]]
    unknown = second["status_counts"]["unknown"]
    assert data.unknown["lines"] == unknown and f"共 {unknown} 行" in html
    assert len(re.findall(r'<details class="drill"', html)) == min(50, unknown)
    assert len(data.files) == len([i for i in second["inputs"] if i["status"] != "unrecognised"])
    assert sum(c.lines for c in data.by_code) == sum(n for s, n in second["status_counts"].items() if s != "matched")


def test_amounts_are_totalled_per_currency_never_across(crafted, tmp_path):
    """A USD receivable beside yuan lines: every total is per currency; the amount charts say CNY."""
    crafted.execute("UPDATE erp_line SET currency = 'USD' WHERE line_id = ?", [lid("E1")])  # 12,500.00 unknown
    html = render(crafted, tmp_path)
    data = collect(crafted, RUN)
    unknown = next(s for s in data.statuses if s[0] == "unknown")
    assert unknown[1] == 4 and dict(unknown[2]) == {"CNY": Decimal("37235.36"), "USD": Decimal("12500.00")}
    assert "共 4 行，金额绝对值合计 CNY 37,235.36 · USD 12,500.00" in html
    assert "49,735.36" not in html, "never one sum of yuan and dollars"
    category = next(c for c in data.by_code if c.key == "unknown:")
    assert category.gross == Decimal("37235.36") and ("USD", Decimal("12500.00"), Decimal("12500.00")) in \
        category.by_currency
    chart = html[html.index('data-chart="by-code-amount"'):]
    assert "(CNY)" in chart[:chart.index("</figure>")]


def _set_finding(con, name, cell):
    con.execute("UPDATE line_result SET finding = ? WHERE run_id = ? AND line_id = ?", [cell, RUN, lid(name)])


def test_line_tables_say_each_lines_finding_in_the_reports_language(crafted, tmp_path):
    """results.csv's finding column, rendered by recon.labels: a review group's line table and an unknown line's
    drill-down say why, in zh or en; input text inside the finding's parameters stays escaped text."""
    key = json.dumps({"candidates": HOSTILE, "key": "88345678"}, ensure_ascii=False, sort_keys=True,
                     separators=(",", ":"))
    _set_finding(crafted, "P3", f"AMBIGUOUS_KEY{key}")
    _set_finding(crafted, "P1", 'NO_ERP_DOCUMENT{"order":"O-1","platform":"-428.36"}; DRILL_NO_CANDIDATE')
    _set_finding(crafted, "B2", "not a finding {")  # a cell another recon wrote: shown as it is
    zh, en = render(crafted, tmp_path), render(crafted, tmp_path, lang="en")
    for html, lang in ((zh, "zh"), (en, "en")):
        text = "".join(_Parsed(html).text)
        assert LABELS[lang]["reason"] in text
        assert ("匹配键 88345678 对应多个订单, 需人工确认: " if lang == "zh"
                else "the key 88345678 links several orders; confirm by hand: ") + HOSTILE in text
        assert labels.render('NO_ERP_DOCUMENT{"order":"O-1","platform":"-428.36"}; DRILL_NO_CANDIDATE', lang) in text
        assert "<script" not in html.lower()
    assert "not a finding {" in "".join(_Parsed(zh).text)
