"""A run holding another currency gives one CNY figure per status at the FX file's rates, labelled as such;
per-currency totals stay; a missing rate is said, never guessed.

The month: a USD CAMT.053 statement (2,500.00 on 04-03, -126.55 on 04-10, -500.00 on 04-20), an ICBC
yuan statement and an FX file with USD rates for 04-03 (7.1000) and 04-10 (7.2000) only. Figures
worked by hand: known = 25,680.00 CNY + 2,500.00 × 7.1 = 43,430.00; unknown holds the 04-20 USD line,
which has no rate, until a second FX file gives 04-20 at 7.1500: then 5,928.70 CNY − 126.55 × 7.2
(911.16) − 500 × 7.15 (3,575.00) = 1,442.54.
"""

from __future__ import annotations

import json
import shutil
from decimal import Decimal

import openpyxl
import pytest
from conftest import FIXTURES, reason_codes, run_cli

FX = "日期,币种,中间价,单位\n2026-04-03,美元,7.1000,1\n2026-04-10,USD,7.2000,1\n"


@pytest.fixture
def month(tmp_path):
    inp = tmp_path / "in"
    inp.mkdir()
    shutil.copy(FIXTURES / "bank_camt053.xml", inp / "camt.xml")
    shutil.copy(FIXTURES / "bank_icbc_historydetail.csv", inp / "icbc.csv")
    (inp / "fx.csv").write_text(FX, encoding="utf-8")
    return tmp_path


def _run(month, capsys, out):
    code, stdout, err = run_cli(["run", month / "in", "--out", month / out, "--db", month / "s.duckdb",
                                 "--period", "2026-04"], capsys)
    # bank statements only: no platform and no ERP line, so the verdict is incomplete (exit 4)
    assert code == 4, err
    m = json.loads((month / out / "manifest.json").read_text(encoding="utf-8"))
    assert reason_codes(m)[:2] == ["family_missing", "family_missing"], reason_codes(m)
    return stdout, m


def _summary_rows(path):
    ws = openpyxl.load_workbook(path)["汇总"]
    rows = list(ws.iter_rows())
    head = next(i for i, r in enumerate(rows) if r[0].value == "状态")
    return [c.value for c in rows[head]], rows[head + 1:head + 5]


def test_console_manifest_workbook_and_report_give_the_cny_equivalent(month, capsys):
    stdout, m = _run(month, capsys, "o")
    eq = m["cny_equivalent"]
    assert eq["label"] == {"zh": "折合人民币（按 FX 文件汇率）", "en": "CNY equivalent at the FX file's rates"}
    assert eq["by_status"]["known"] == {"cny": "43430.00", "missing": []}
    assert eq["by_status"]["unknown"] == {"cny": None, "missing": [{"currency": "USD", "date": "2026-04-20",
                                                                   "lines": 1}]}
    line = next(x for x in stdout.splitlines() if "CNY equivalent at the FX file's rates" in x)
    assert "折合人民币（按 FX 文件汇率）" in line and "known CNY 43430.00" in line
    assert "unknown none (no USD rate for 2026-04-20 in the FX file (1 line))" in line
    # per-currency totals stay as they were
    assert "USD 1873.45" in stdout and "CNY 31608.70" in stdout

    header, rows = _summary_rows(month / "o" / "recon.xlsx")
    assert header[:6] == ["状态", "币种", "行数", "金额", "折合人民币（按 FX 文件汇率）", "缺少的汇率"]
    known = [r for r in rows if (r[0].value or "").startswith("已知差异")][0]
    assert known[4].value == 43430.0 and known[4].number_format.startswith('"¥"')
    unknown_rows = [r for r in rows if (r[0].value or "").startswith("未知")]
    assert unknown_rows[0][4].value is None
    assert unknown_rows[0][5].value == "FX 文件没有 USD 2026-04-20 的汇率（1 行）"
    # amounts per currency in their own rows and formats: no dollar is added into yuan
    usd = [r for r in rows if r[1].value == "USD"]
    assert usd and all("¥" not in r[3].number_format for r in usd)

    html = (month / "o" / "report.html").read_text(encoding="utf-8")
    assert "<th class=\"num\">折合人民币（按 FX 文件汇率，净额）</th>" in html
    assert '<td class="num" data-cny="known">CNY 43,430.00</td>' in html
    assert '<td class="num" data-cny="unknown"><span class="bad">FX 文件没有 USD 2026-04-20 的汇率（1 行）</span>' in html
    assert 'id="cny-note"' in html


def test_the_missing_rate_supplied_gives_the_figure(month, capsys):
    _run(month, capsys, "o1")
    (month / "in" / "fx2.csv").write_text("日期,币种,中间价,单位\n2026-04-20,美元,7.1500,1\n", encoding="utf-8")
    _, m = _run(month, capsys, "o2")
    assert m["cny_equivalent"]["by_status"]["unknown"] == {"cny": "1442.54", "missing": []}
    code, out, _ = run_cli(["report", "--db", month / "s.duckdb", "--out", month / "r", "--lang", "en"], capsys)
    assert code == 0
    html = (month / "r" / "report.html").read_text(encoding="utf-8")
    assert "CNY equivalent at the FX file&#39;s rates (net)" in html
    assert '<td class="num" data-cny="unknown">CNY 1,442.54</td>' in html


def test_a_yuan_only_run_shows_no_equivalent(tmp_path, capsys):
    inp = tmp_path / "in"
    inp.mkdir()
    shutil.copy(FIXTURES / "bank_icbc_historydetail.csv", inp / "icbc.csv")
    code, stdout, _ = run_cli(["run", inp, "--out", tmp_path / "o", "--db", tmp_path / "s.duckdb",
                               "--period", "2026-04"], capsys)
    m = json.loads((tmp_path / "o" / "manifest.json").read_text(encoding="utf-8"))
    assert m["cny_equivalent"] is None and "CNY equivalent" not in stdout
    assert "data-cny" not in (tmp_path / "o" / "report.html").read_text(encoding="utf-8")
    header, _ = _summary_rows(tmp_path / "o" / "recon.xlsx")
    assert "折合人民币（按 FX 文件汇率）" not in header


def test_a_line_without_a_rate_is_never_converted_at_another_day(month, capsys):
    """04-20 lies between rates for 04-10 and none after: no nearby day is borrowed."""
    _, m = _run(month, capsys, "o")
    assert m["cny_equivalent"]["by_status"]["unknown"]["cny"] is None
    assert Decimal(m["cny_equivalent"]["by_status"]["known"]["cny"]) == Decimal("25680.00") + Decimal("2500.00") * Decimal(
        "7.1")
