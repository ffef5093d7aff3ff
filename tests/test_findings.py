"""results.csv ``finding``: stable codes with parameters, each with a zh and an en sentence (recon.labels)."""

from __future__ import annotations

import csv
import datetime as dt
import re
import string
from pathlib import Path

import duckdb
import pytest

from recon import labels
from recon.engine.findings import finding, then
from test_match_cash import con, credit, payout, run  # noqa: F401 (con is a fixture)
from test_match_order import receivable, run_with, sale
from test_run import month, run_cli  # noqa: F401 (month is a fixture)

ENGINE = Path(labels.__file__).parent / "engine"


def _emitted() -> set:
    """Every code the engine's SQL builders can write (each goes through recon.engine.findings.finding)."""
    found = set()
    for path in ENGINE.glob("*.py"):
        found |= set(re.findall(r"""finding\(\s*["']([A-Z][A-Z0-9_]*)["']""", path.read_text(encoding="utf-8")))
    return found


def test_every_code_the_engine_can_emit_has_zh_and_en_sentences_with_the_same_parameters():
    emitted = _emitted()
    assert len(emitted) >= 20 and emitted <= set(labels.FINDINGS), emitted - set(labels.FINDINGS)
    assert set(labels.FINDINGS) <= emitted, f"labels no step emits: {set(labels.FINDINGS) - emitted}"
    for code, (zh, en) in labels.FINDINGS.items():
        assert zh.strip() and en.strip(), code
        fields = [{f for _, f, _, _ in string.Formatter().parse(text) if f} for text in (zh, en)]
        assert fields[0] == fields[1], code
        assert re.search(r"[\u4e00-\u9fff]", zh) and not re.search(r"[\u4e00-\u9fff]", en), code


def test_a_code_without_labels_or_with_other_parameters_is_refused_when_the_step_is_built():
    with pytest.raises(KeyError, match="no labels"):
        finding("NOT_A_CODE")
    with pytest.raises(KeyError, match="takes diff, erp, order, platform"):
        finding("AMOUNT_DIFFERS", order="o", diff="d")


def test_values_are_json_data_and_the_cell_round_trips():
    """An order number with quotes, a separator and braces stays one parameter; keys are sorted."""
    sql = then(finding("AMOUNT_DIFFERS", order="o", platform="p", erp="e", diff="p - e"), finding("DRILL_NO_CANDIDATE"))
    cell = duckdb.connect().execute(
        f"SELECT {sql} FROM (SELECT $o AS o, 100.00::DECIMAL(18,2) AS p, 105.00::DECIMAL(18,2) AS e)",
        {"o": 'M1"; X{"a":1}'}).fetchone()[0]
    assert cell == ('AMOUNT_DIFFERS{"diff":"-5.00","erp":"105.00","order":"M1\\"; X{\\"a\\":1}","platform":"100.00"}'
                    '; DRILL_NO_CANDIDATE')
    assert labels.parse(cell) == [("AMOUNT_DIFFERS", {"diff": "-5.00", "erp": "105.00", "order": 'M1"; X{"a":1}',
                                                      "platform": "100.00"}), ("DRILL_NO_CANDIDATE", {})]
    assert labels.render(cell, "en").startswith('order M1"; X{"a":1}: platform 100.00 vs ERP 105.00, difference -5.00; '
                                                "drill-down layer 1")
    assert labels.render(cell, "zh").startswith('订单 M1"; X{"a":1}: 平台 100.00 vs ERP 105.00, 差额 -5.00; 下钻第1层')
    with pytest.raises(ValueError):
        labels.parse("AMOUNT_DIFFERS{} DRILL_NO_CANDIDATE")


def _findings(con):
    return dict(con.execute("SELECT line_id, finding FROM result").fetchall())


def test_order_leg_findings(con, tmp_path):  # noqa: F811
    ok_p, ok_e = sale(con, "A", "100.00"), receivable(con, "A", "100.00")
    tol_p, tol_e = sale(con, "T", "100.00"), receivable(con, "T", "99.99")
    diff_p, diff_e = sale(con, "B", "100.00"), receivable(con, "B", "105.00")
    alone = sale(con, "C", "20.00")
    erp_only = receivable(con, "E", "30.00")
    late_p = sale(con, "L", "50.00", day=dt.date(2026, 1, 30))
    late_e = receivable(con, "L", "50.00", day=dt.date(2026, 2, 2))
    run_with(con, tmp_path, '    tolerance: "0.01"\n')
    f = _findings(con)
    assert f[ok_p] == f[ok_e] == "BALANCED"
    assert f[tol_p] == f[tol_e] == 'WITHIN_TOLERANCE{"diff":"0.01","tolerance":"0.01"}'
    assert f[diff_p] == f[diff_e] == 'AMOUNT_DIFFERS{"diff":"-5.00","erp":"105.00","order":"B","platform":"100.00"}'
    assert f[alone] == 'NO_ERP_DOCUMENT{"order":"C","platform":"20.00"}'
    assert f[erp_only] == 'NOT_ON_PLATFORM{"erp":"30.00","order":"E"}'
    assert f[late_p] == f[late_e] == ('BOOKED_AFTER_PERIOD{"date":"2026-02-02","erp":"50.00","order":"L",'
                                      '"platform":"50.00"}')


def test_ambiguous_key_finding_lists_the_candidates(con, tmp_path):  # noqa: F811
    p = sale(con, "4200000123456789012345678", "59.00")
    e1, e2 = receivable(con, "9912345678", "59.00"), receivable(con, "12345678", "59.00")
    run_with(con, tmp_path, key="right(order_no, 8)")
    f = _findings(con)
    assert f[p] == f[e1] == f[e2] == ('AMBIGUOUS_KEY{"candidates":"ERP 12345678, ERP 9912345678, '
                                      '平台 4200000123456789012345678","key":"12345678"}')


def test_cash_leg_findings(con):  # noqa: F811
    p = payout(con, "-100.00", 7)
    b1, b2 = credit(con, "100.00", 8), credit(con, "100.00", 9)
    lone_bank = credit(con, "777.00", 10, counterparty_name="某某贸易")
    run(con)
    f = _findings(con)
    assert f[p] == 'AMBIGUOUS_CANDIDATES{"candidates":"2"}' and f[b1] == f[b2] == 'AMBIGUOUS_CANDIDATES{"candidates":"1"}'
    assert f[lone_bank] == 'BANK_LINE_UNEXPLAINED{"amount":"777.00","counterparty":"某某贸易","date":"2026-01-10"}'


def test_results_csv_has_the_finding_after_the_explanation_on_every_line(month, capsys):  # noqa: F811
    out = month / "out"
    run_cli(["run", str(month / "in"), "--out", str(out), "--db", str(month / "s.duckdb")], capsys)
    with open(out / "results.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0])[13:15] == ["explanation", "finding"]  # then the open items' columns
    for r in rows:
        items = labels.parse(r["finding"])
        assert items and all(code in labels.FINDINGS for code, _ in items), r
    short = [r for r in rows if r["order_no"] == "M20260101002"]
    assert short and all(r["finding"].startswith('AMOUNT_DIFFERS{"diff":"9.90"') for r in short), short
    assert all("DRILL_" in r["finding"] for r in rows if r["status"] == "unknown")


def test_readme_documents_every_code():
    readme = (Path(labels.__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    missing = [code for code in labels.FINDINGS if f"| `{code}` |" not in readme]
    assert not missing, f"README's finding table lacks {missing}"


def test_fee_checks_add_their_code_after_the_lines_own(con):  # noqa: F811
    from recon.engine import fees
    from recon.rules import load_fees
    from test_fees import _jd

    _jd(con, "A1", "sale", "货款", "199.00")
    ok = _jd(con, "A1", "commission", "佣金", "-9.95")
    _jd(con, "B2", "sale", "货款", "89.00")
    off = _jd(con, "B2", "commission", "佣金", "-4.48")  # contract: round(89.00 * 0.05, 2) = 4.45
    lone = _jd(con, "C3", "commission", "佣金", "-1.00")
    run(con)
    fees.check(con, load_fees())
    f = _findings(con)
    rule = next(r.name for r in load_fees().rules if r.channel == "jd")
    assert f[ok] == f'FEE_NO_ERP_DOCUMENT; FEE_CONFORMS{{"charged":"9.95","rule":"{rule}"}}'
    assert f[off] == ('FEE_NO_ERP_DOCUMENT; FEE_OFF_CONTRACT{"base":"89.00","charged":"4.48","diff":"0.03",'
                      f'"expected":"4.45","rule":"{rule}"}}')
    assert f[lone] == f'FEE_NO_ERP_DOCUMENT; FEE_NO_BASE{{"charged":"1.00","rule":"{rule}"}}'
