"""`recon backtest` (issue 15 point 6): replay stored runs with a changed dictionary or rules, each over
the store as it was at that run, writing nothing; the blast radius with the false-clean risks."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import shutil
from pathlib import Path

import pytest

from recon import api, backtest, store
from recon.cli import main

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"

# a careless entry: it would call the sample's planted unknown 50,000.00 bank credit (an unknown payer) fine
CARELESS = """version: 1
entries:
  - code: LARGE_CREDIT_ASSUMED_OK
    name_zh: 大额入账视为正常
    name_en: Large credit assumed fine
    applies_to: [line]
    priority: 10
    scenario: 试验规则
    impact: 无
    detect: source = 'bank' and line_type = 'bank_credit' and amount >= 50000
    correction:
      explanation: "{code}"
      basis: "试验"
      lines:
        - {account: bank_deposit, side: debit, amount: amount}
        - {account: advance_from_customers, side: credit, amount: amount}
"""


def cli(*argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), pytest.raises(SystemExit) as exc:
        main([str(a) for a in argv])
    return exc.value.code, out.getvalue(), err.getvalue()


def digest(db: Path) -> dict:
    """Every file of the store (the database, its WAL, its evidence folder) by SHA-256."""
    found = {}
    for p in sorted(db.parent.rglob("*")):
        if p.is_file() and p.name.startswith(db.name):
            found[str(p.relative_to(db.parent))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return found


@pytest.fixture(scope="module")
def nights(tmp_path_factory):
    """Two runs of January in one store: night 1 without the bank statement, night 2 with everything."""
    root = tmp_path_factory.mktemp("bt")
    night1 = root / "night1"
    shutil.copytree(SAMPLE, night1, ignore=shutil.ignore_patterns("bank"))
    db = root / "store.duckdb"
    first = api.run(api.RunConfig(inputs=[night1], out=root / "o1", db=str(db), reports=False))
    second = api.run(api.RunConfig(inputs=[SAMPLE], out=root / "o2", db=str(db), reports=False))
    (root / "careless.yaml").write_text(CARELESS, encoding="utf-8")
    return root, db, first.manifest["run_id"], second.manifest["run_id"]


def test_an_unchanged_configuration_changes_nothing_and_writes_nothing(nights):
    """Each night replayed over its own universe: night 1 without the bank lines the store holds now."""
    root, db, run1, run2 = nights
    before = digest(db)
    res = api.backtest(str(db))
    assert [r["run_id"] for r in res["runs"]] == [run1, run2]
    for r in res["runs"]:
        assert (r["lines_changed"], r["changes"], r["false_clean"], r["vouchers"]) == (0, [], [], []), r["run_id"]
    assert res["exit_code"] == 0
    assert digest(db) == before, "the store's bytes are unchanged"


def test_a_dictionary_that_explains_away_a_planted_unknown_is_a_false_clean_risk(nights):
    root, db, run1, run2 = nights
    con = store.connect(str(db))
    counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
              for t in ("run", "line_result", "known_case", "log_event", "decision")}
    con.close()
    before = digest(db)
    code, out, err = cli("backtest", "--db", db, "--dictionary", root / "careless.yaml", "--runs", run2, "--json")
    assert code == 0, err
    res = json.loads(out)
    (r,) = res["runs"]
    assert r["run_id"] == run2 and r["lines_changed"] == 1 and res["false_clean"] == 1
    (fc,) = r["false_clean"]
    assert fc["source"] == "bank" and fc["amount"] == "50000.00" and fc["currency"] == "CNY"
    assert fc["from"] == {"status": "unknown", "code": None}
    assert fc["to"] == {"status": "known", "code": "LARGE_CREDIT_ASSUMED_OK"}
    assert r["changes"] == [{"from": {"status": "unknown", "code": None},
                             "to": {"status": "known", "code": "LARGE_CREDIT_ASSUMED_OK"},
                             "lines": 1, "amount": {"CNY": "50000.00"}}]
    assert r["vouchers"] == [{"code": "LARGE_CREDIT_ASSUMED_OK", "channel": None, "cases_before": 0,
                              "debit_before": "0.00", "cases_after": 1, "debit_after": "50000.00"}]
    # the human listing names the risk
    code, text, _ = cli("backtest", "--db", db, "--dictionary", root / "careless.yaml", "--runs", run2)
    assert code == 0 and "FALSE-CLEAN RISK" in text and "50000.00" in text
    # nothing was written to history
    assert digest(db) == before
    con = store.connect(str(db), read_only=True)
    assert counts == {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in counts}
    con.close()


def test_night_one_without_bank_lines_has_nothing_to_explain_away(nights):
    """The bank credit came with night 2: replayed over night 1's universe the careless entry finds nothing."""
    root, db, run1, run2 = nights
    res = api.backtest(str(db), dictionaries=[root / "careless.yaml"], runs=[run1])
    assert res["runs"][0]["lines_changed"] == 0 and res["false_clean"] == 0


def closed_copy(db: Path, to: Path) -> Path:
    """A copy of the nights' store (database and evidence folder) whose January `recon close --force` locked
    (the sample month holds an EXCEL_MANGLED_ID line, which blocks an unforced close)."""
    to.mkdir()
    for p in db.parent.iterdir():
        if p.name.startswith(db.name):
            (shutil.copytree if p.is_dir() else shutil.copy2)(p, to / p.name)
    copy = to / db.name
    code, out, err = cli("close", "--db", copy, "--period", "2026-01", "--by", "王会计",
               "--reason", "一月结账，Excel 改坏的单号随二月更正", "--force")
    assert code == 0, out + err
    return copy


def test_a_closed_period_that_would_change_exits_1(nights, tmp_path):
    root, db, run1, run2 = nights
    closed = closed_copy(db, tmp_path / "closed")
    code, out, _ = cli("backtest", "--db", closed, "--dictionary", root / "careless.yaml", "--runs", run2)
    assert code == 1 and "(closed)" in out and "closed periods that would change: 2026-01" in out
    code, out, _ = cli("backtest", "--db", closed, "--runs", f"{run1},{run2}")  # closed, but nothing would change
    assert code == 0 and out.count("(closed): 0 lines would change") == 2
    # the same change on the open store is reported, but no closed period makes it exit 1
    code, out, _ = cli("backtest", "--db", db, "--dictionary", root / "careless.yaml", "--runs", run2)
    assert code == 0 and "(closed)" not in out


def test_closed_periods_follow_close_and_reopen(nights, tmp_path):
    root, db, run1, run2 = nights
    with store.connect(db, read_only=True) as con:
        assert backtest.closed_periods(con) == set()
    closed = closed_copy(db, tmp_path / "closed")
    with store.connect(closed, read_only=True) as con:
        assert backtest.closed_periods(con) == {"2026-01"}
    code, out, err = cli("reopen", "--db", closed, "--period", "2026-01", "--by", "王会计", "--reason", "补录银行流水")
    assert code == 0, out + err
    with store.connect(closed, read_only=True) as con:
        assert backtest.closed_periods(con) == set()


def test_an_unknown_run_is_a_user_error(nights):
    root, db, run1, run2 = nights
    code, _, err = cli("backtest", "--db", db, "--runs", "R-nope")
    assert code == 2 and "no finished run R-nope" in err


def test_a_looser_tolerance_shows_the_known_differences_it_would_absorb(nights):
    """--rules: order_exact with a 100.00 tolerance matches the planted duplicate ERP entry; its voucher goes."""
    root, db, run1, run2 = nights
    rules = (Path(__file__).resolve().parent.parent / "rules" / "default.yaml").read_text(encoding="utf-8")
    looser = rules.replace('tolerance: "0.00"              # absolute', 'tolerance: "100.00"  # absolute', 1)
    assert looser != rules
    (root / "looser.yaml").write_text(looser, encoding="utf-8")
    (r,) = api.backtest(str(db), rules=root / "looser.yaml", runs=[run2])["runs"]
    moved = {(c["from"]["code"], c["to"]["status"], c["to"]["code"]): c for c in r["changes"]}
    assert moved[("DUPLICATE_ERP_ENTRY", "matched", "order_exact")]["amount"] == {"CNY": "89.00"}
    assert {"code": "DUPLICATE_ERP_ENTRY", "channel": "pdd", "cases_before": 1, "debit_before": "89.00",
            "cases_after": 0, "debit_after": "0.00"} in r["vouchers"]
    assert r["false_clean"] == [], "no unknown line of the sample is within 100.00 of its order"
