"""Timing carry-forward (issue 15 point 2), the parts built so far: timing codes are a property of
dictionary entries (``timing: true``), and the carried set, the lines the last run of a period leaves
open for the next one, listed by ``recon carried`` with their due dates.

The month is inline, in the real layouts (an Alipay trade detail in GBK, a Kingdee-style ERP CSV): an
order short by 9.90 (unknown on both sides), two receivables booked on the 31st (SETTLEMENT_CUTOFF), one
of them with its Alipay settlement of 1 February already loaded.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import duckdb
import pytest

from recon.dictionary import load_dictionaries
from recon.errors import ConfigError
from recon.resources import dictionaries_dir
from test_run import erp_csv, run_cli

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def january(tmp_path):
    """January's files: the fixture's Alipay trades plus order M…009 paid 31 January 23:10, settled 1 February;
    the ERP books M…001 right, M…002 short, and M…009 and M…010 on the 31st."""
    inp = tmp_path / "in"
    (inp / "alipay").mkdir(parents=True)
    (inp / "erp").mkdir()
    lines = (FIXTURES / "alipay_trade_detail.csv").read_bytes().decode("gbk").split("\n")
    settled = (lines[6].replace("2026010122001458860515315454", "2026020122001458860515315460")
               .replace("M20260101002", "M20260131009").replace("59.90,59.90", "88.00,88.00")
               .replace("2026-01-01 11:00:00,2026-01-01 11:00:05", "2026-01-31 23:10:00,2026-02-01 00:20:00"))
    lines.insert(8, settled)
    (inp / "alipay" / "trade.csv").write_bytes("\n".join(lines).encode("gbk"))
    (inp / "erp" / "ar.csv").write_bytes(erp_csv(
        "AR001,2026-01-01,标准应收单,支付宝当面付,人民币,1,100.00,11.50,100.00,0,100.00,已审核,M20260101001,",
        "AR002,2026-01-01,标准应收单,支付宝当面付,人民币,1,50.00,5.75,50.00,0,50.00,已审核,,订单号:M20260101002",
        "AR003,2026-01-03,红字应收单,支付宝当面付,人民币,1,-20.00,-2.30,-20.00,0,-20.00,已审核,M20260101001,退款",
        "AR010,2026-01-31,标准应收单,支付宝当面付,人民币,1,88.00,10.12,88.00,0,88.00,已审核,M20260131009,",
        "AR011,2026-01-31,标准应收单,支付宝当面付,人民币,1,66.00,7.59,66.00,0,66.00,已审核,M20260131010,"))
    return tmp_path


def _results(out: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO((out / "results.csv").read_bytes()[3:].decode("utf-8"), newline="")))


def _carried(db, capsys, *extra) -> dict:
    code, out, err = run_cli(["carried", "--period", "2026-02", "--db", str(db), "--json", *extra], capsys)
    assert code == 0, err
    return json.loads(out)


# ---------------------------------------------------------------- timing: a property of dictionary entries


def test_timing_codes_are_marked_on_the_shipped_entries():
    assert load_dictionaries().timing_codes() == ("FEE_PERIOD_MISMATCH", "REFUND_PERIOD_TIMING", "SETTLEMENT_CUTOFF")


def test_a_users_dictionary_can_mark_or_unmark_an_entry_as_timing(tmp_path):
    text = (dictionaries_dir() / "default.yaml").read_text(encoding="utf-8")
    start = text.index("  - code: SETTLEMENT_CUTOFF")
    entry = text[start:text.index("  - code:", start + 10)].replace("    timing: true\n", "")
    mine = tmp_path / "mine.yaml"
    mine.write_text("version: 1\nentries:\n" + entry, encoding="utf-8")
    got = load_dictionaries([dictionaries_dir() / "default.yaml", mine])
    assert got.timing_codes() == ("FEE_PERIOD_MISMATCH", "REFUND_PERIOD_TIMING")  # the later file's entry wins


def test_lint_names_a_timing_that_is_not_true_or_false(tmp_path):
    text = (dictionaries_dir() / "default.yaml").read_text(encoding="utf-8")
    start = text.index("  - code: SETTLEMENT_CUTOFF")
    entry = text[start:text.index("  - code:", start + 10)].replace("timing: true", "timing: yes please")
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nentries:\n" + entry, encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_dictionaries([bad])
    assert any("bad.yaml:" in p and "entries.0.timing" in p and "true or false" in p for p in exc.value.problems)


# ---------------------------------------------------------------- the carried set


def test_the_next_period_carries_januarys_open_lines_and_timing_differences(january, capsys):
    db, out = january / "s.duckdb", january / "o1"
    code, _, err = run_cli(["run", str(january / "in"), "--out", str(out), "--db", str(db), "--period", "2026-01",
                            "--as-of", "2026-01-31"], capsys)
    assert code == 4, err  # no bank statement: incomplete, but the run is finished and recorded
    by_line = {(r["source_file"], r["source_line"]): (r["status"], r["code"]) for r in _results(out)}
    assert by_line[("erp/ar.csv", "5")] == ("known", "SETTLEMENT_CUTOFF")     # M…009, settlement loaded
    assert by_line[("alipay/trade.csv", "9")] == ("known", "SETTLEMENT_CUTOFF")  # its settlement, 1 February
    assert by_line[("erp/ar.csv", "6")] == ("known", "SETTLEMENT_CUTOFF")     # M…010, not settled yet
    assert by_line[("erp/ar.csv", "3")] == ("unknown", "")
    results_before = (out / "results.csv").read_bytes()

    found = _carried(db, capsys, "--as-of", "2026-02-01", "--out", str(january / "carried.csv"))
    assert found["carried_from"] == "2026-01" and found["source_run"]
    got = {(ln["source_file"], ln["source_line"]): ln for ln in found["lines"]}
    # open lines and timing differences dated in January; the 1 February settlement is February's own line
    assert sorted(got) == [("alipay/trade.csv", 7), ("erp/ar.csv", 3), ("erp/ar.csv", 5), ("erp/ar.csv", 6)]
    cutoff = got[("erp/ar.csv", 6)]
    assert (cutoff["status"], cutoff["code"], cutoff["channel"], cutoff["amount"]) == (
        "known", "SETTLEMENT_CUTOFF", "alipay", "66.00")
    assert (cutoff["due_by"], cutoff["overdue"], cutoff["first_seen"]) == ("2026-02-01", False, None)  # T+1
    short = got[("erp/ar.csv", 3)]
    assert (short["status"], short["first_seen"], short["age_days"]) == ("unknown", "2026-01-31", 1)
    assert found["summary"] == [
        {"status": "known", "code": "SETTLEMENT_CUTOFF", "currency": "CNY", "lines": 2, "amount": "154.00",
         "overdue": 0},
        {"status": "unknown", "code": None, "currency": "CNY", "lines": 2, "amount": "109.90", "overdue": 0}]
    rows = list(csv.DictReader(io.StringIO((january / "carried.csv").read_bytes()[3:].decode("utf-8"), newline="")))
    assert len(rows) == 4 and rows[0]["due_by"] == "2026-02-01"

    # two days on, nothing has cleared them: every one is overdue, by one day past T+1
    later = _carried(db, capsys, "--as-of", "2026-02-03")
    assert all(ln["overdue"] and ln["days_overdue"] == 2 for ln in later["lines"])
    code, text, _ = run_cli(["carried", "--period", "2026-02", "--db", str(db), "--as-of", "2026-02-03"], capsys)
    assert code == 0 and "4 line(s) carried from 2026-01" in text and "4 overdue as of 2026-02-03" in text
    assert "OVERDUE 2026-02-01  erp      erp/ar.csv:6" in text

    # reading the carried set changes nothing of January's run
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM run").fetchone() == (1,)
    finally:
        con.close()
    assert (out / "results.csv").read_bytes() == results_before


def test_a_timing_code_the_dictionary_no_longer_marks_is_not_carried(january, capsys, tmp_path):
    db = january / "s.duckdb"
    run_cli(["run", str(january / "in"), "--out", str(january / "o1"), "--db", str(db), "--period", "2026-01",
             "--as-of", "2026-01-31"], capsys)
    text = (dictionaries_dir() / "default.yaml").read_text(encoding="utf-8")
    start = text.index("  - code: SETTLEMENT_CUTOFF")
    mine = tmp_path / "mine.yaml"
    mine.write_text("version: 1\nentries:\n" + text[start:text.index("  - code:", start + 10)].replace(
        "    timing: true\n", ""), encoding="utf-8")
    found = _carried(db, capsys, "--as-of", "2026-02-01", "--dictionary", str(mine))
    assert {ln["status"] for ln in found["lines"]} == {"unknown"} and len(found["lines"]) == 2


def test_nothing_is_carried_without_a_run_of_the_period_before(january, capsys):
    db = january / "s.duckdb"
    run_cli(["run", str(january / "in"), "--out", str(january / "o1"), "--db", str(db), "--period", "2026-01",
             "--as-of", "2026-01-31"], capsys)
    code, out, _ = run_cli(["carried", "--period", "2026-01", "--db", str(db)], capsys)
    assert code == 0 and "no finished run of 2025-12" in out
    code, _, err = run_cli(["carried", "--period", "2026-13", "--db", str(db)], capsys)
    assert code == 2 and "YYYY-MM" in err
    shutil.rmtree(january / "o1")
