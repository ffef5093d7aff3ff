"""Configuration is checked whole before any file is read: bounds, line-type shapes, alias bombs."""

from __future__ import annotations

from pathlib import Path

from recon.resources import rules_dir
from tests.hostile.conftest import alipay_csv, alipay_row, recon

BAD_RULES = """version: 1
passes:
  - name: order_exact
    leg: order
    platform_line_types: [refund]
    erp_line_types: [receivable, credit_note]
    tolerance: Infinity
  - name: loose
    leg: order
    platform_line_types: [sale, refnd]
    erp_line_types: [receivable]
    tolerance: "1e999999"
  - name: payout_to_bank
    leg: cash
    platform_line_types: [payout]
    bank_line_types: [bank_credit]
    date_window_days: [0, 100000]
    tolerance: .inf
"""

BAD_CHANNELS = """version: 1
channels:
  tmall:
    name: 天猫
    erp_customers: [天猫]
    settlement_lag_days: 99999999999
"""

ALIAS_BOMB = "version: 1\na: &a [" + ",".join(['"lol"'] * 9) + "]\n" + "".join(
    f"{n}: &{n} [{','.join(['*' + p] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi")) + "passes: *i\n"


def _inputs(tmp_path: Path) -> Path:
    d = tmp_path / "in"
    d.mkdir()
    (d / "a.csv").write_text(alipay_csv([alipay_row("2026010122001458860515315453", "M20260101001", "裙")]),
                             encoding="utf-8")
    return d


def test_bad_bounds_and_line_types_are_all_reported_before_any_import(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(BAD_RULES, encoding="utf-8")
    db = tmp_path / "s.duckdb"
    ran = recon("run", _inputs(tmp_path), "--out", tmp_path / "out", "--db", db, "--rules", rules)
    assert ran.code == 2, ran.text
    for where, what in [("rules.yaml:5", "an order pass takes sale lines"), ("rules.yaml:7", "tolerance must be"),
                        ("rules.yaml:10", "unknown platform line type 'refnd'"), ("rules.yaml:12", "1e999999"),
                        ("rules.yaml:17", "date_window_days"), ("rules.yaml:18", "tolerance must be")]:
        assert any(where in line and what in line for line in ran.text.splitlines()), (where, what, ran.text)
    assert not db.exists(), "nothing was imported: the store was never opened"


def test_a_huge_settlement_lag_is_refused(tmp_path):
    channels = tmp_path / "channels.yaml"
    channels.write_text(BAD_CHANNELS, encoding="utf-8")
    ran = recon("run", _inputs(tmp_path), "--out", tmp_path / "out", "--db", tmp_path / "s.duckdb",
                "--channels", channels)
    assert ran.code == 2 and "channels.yaml:6" in ran.text and "from 0 to 366" in ran.text, ran.text


def test_an_alias_bomb_is_refused_at_once(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(ALIAS_BOMB, encoding="utf-8")
    ran = recon("run", _inputs(tmp_path), "--out", tmp_path / "out", "--db", tmp_path / "s.duckdb",
                "--rules", rules, timeout=30)
    assert ran.code == 2 and "rules.yaml:3" in ran.text and "alias" in ran.text, ran.text
    assert ran.rss_mb < 200


def test_the_shipped_configuration_still_loads():
    """The shipped profiles share values through anchors and aliases: those stay allowed."""
    from recon import api
    from recon.io.profile import builtin_profiles

    api.Settings.load()
    assert builtin_profiles()
    assert (rules_dir() / "default.yaml").is_file()
