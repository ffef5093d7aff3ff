"""`recon run` writes the reports from the store it just recorded; `recon report --run` re-renders them identically."""

from __future__ import annotations

import json

from test_run import month, run_cli  # noqa: F401 (month is a fixture)

REPORTS = ("report.html", "recon.xlsx", "vouchers.csv", "voucher_sources.csv", "decision_sources.csv")


def test_run_writes_reports_and_report_rerenders_them_byte_identical(month, capsys, tmp_path):
    db = str(tmp_path / "s.duckdb")
    code, stdout, stderr = run_cli(["run", str(month / "in"), "--out", str(tmp_path / "o"), "--db", db,
                                    "--voucher-format", "kingdee", "--lang", "en"], capsys)
    assert code == 4, stdout + stderr  # no bank statement: incomplete
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text(encoding="utf-8"))
    written = [p.split("/")[-1] for p in manifest["outputs"]]
    assert set(REPORTS) | {"vouchers_kingdee.xlsx", "results.csv", "manifest.json"} <= set(written)
    assert written[-1] == "manifest.json"
    assert all((tmp_path / "o" / n).exists() for n in written)
    # the input folder is gone: re-rendering reads the store only
    for p in sorted((month / "in").rglob("*"), reverse=True):
        p.unlink() if p.is_file() else p.rmdir()
    code, stdout, stderr = run_cli(["report", "--run", manifest["run_id"], "--out", str(tmp_path / "again"),
                                    "--db", db, "--voucher-format", "kingdee", "--lang", "en"], capsys)
    assert code == 0, stdout + stderr
    for name in REPORTS + ("vouchers_kingdee.xlsx",):
        assert (tmp_path / "again" / name).read_bytes() == (tmp_path / "o" / name).read_bytes(), name


def test_a_chart_missing_an_account_stops_the_run_before_import(month, capsys, tmp_path):
    chart = tmp_path / "accounts.yaml"
    chart.write_text("version: 1\naccounts:\n  bank_deposit: {code: '1002', name: 银行存款}\n", encoding="utf-8")
    db = tmp_path / "s.duckdb"
    code, stdout, stderr = run_cli(["run", str(month / "in"), "--out", str(tmp_path / "o"), "--db", str(db),
                                    "--accounts", str(chart)], capsys)
    assert code == 2 and "Traceback" not in stderr
    assert "no account 'accrued_platform_fees' (used by dictionary entry FEE_PERIOD_MISMATCH)" in stderr
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())
