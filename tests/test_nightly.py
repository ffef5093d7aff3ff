"""Nightly use: the store persists, so tonight's run takes yesterday's open items; progress; --no-reports."""

from __future__ import annotations

import io
import json
import shutil

from recon import api, progress, store
from test_run import month, read_results, run_cli  # noqa: F401 (month is a fixture)


def _files(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_a_later_run_reconciles_lines_loaded_by_earlier_runs(month, capsys, tmp_path):
    """Night 1 loads only the platform file, night 2 only the ERP export: night 2 still matches them."""
    db = str(tmp_path / "s.duckdb")
    night1, night2 = tmp_path / "n1", tmp_path / "n2"
    plat = [p for p in _files(month / "in") if not p.startswith("erp/")]
    erp = [p for p in _files(month / "in") if p.startswith("erp/")]
    assert plat and erp
    for folder, names in ((night1, plat), (night2, erp)):
        for name in names:
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(month / "in" / name, folder / name)
    code, out, err = run_cli(["run", str(night1), "--out", str(tmp_path / "o1"), "--db", db, "--period", "2026-01"],
                             capsys)
    assert code == 4, out + err  # night 1 holds platform lines only: incomplete
    night1_missing = [r["params"] for r in json.loads((tmp_path / "o1" / "manifest.json").read_text(
        encoding="utf-8"))["verdict"]["reasons"] if r["code"] == "family_missing"]
    assert night1_missing == [{"family": "erp"}, {"family": "bank"}]
    first = read_results(tmp_path / "o1")
    assert not any(r["status"] == "matched" and r["code"] == "order_exact" for r in first)
    code, _, _ = run_cli(["run", str(night2), "--out", str(tmp_path / "o2"), "--db", db, "--period", "2026-01"],
                         capsys)
    second = read_results(tmp_path / "o2")
    # the platform lines loaded on night 1 are in night 2's results, matched against tonight's ERP lines
    assert {r["source"] for r in second} >= {"platform", "erp"}
    matched = [r for r in second if r["code"] == "order_exact" and r["status"] == "matched"]
    assert {r["source"] for r in matched} == {"platform", "erp"}
    # and a one-night run over everything gives the same outcome, line for line
    run_cli(["run", str(month / "in"), "--out", str(tmp_path / "o3"), "--db", str(tmp_path / "all.duckdb"),
             "--period", "2026-01"], capsys)
    key = lambda r: (r["source_file"].split("/")[-1], r["source_line"], r["status"], r["code"], r["match_group"])  # noqa: E731
    assert sorted(map(key, second)) == sorted(map(key, read_results(tmp_path / "o3")))
    manifest = json.loads((tmp_path / "o2" / "manifest.json").read_text(encoding="utf-8"))
    # night 2 brought the ERP, the store the platform lines: only the bank statement is still missing
    assert [r["params"] for r in manifest["verdict"]["reasons"] if r["code"] == "family_missing"] == [
        {"family": "bank"}]
    t = manifest["control_totals"]["platform"]
    assert t["in"]["count"] == t["out"]["count"] > 0


def test_store_lines_outside_the_evidence_window_stay_out(month, capsys, tmp_path):
    db = str(tmp_path / "s.duckdb")
    run_cli(["run", str(month / "in"), "--out", str(tmp_path / "o1"), "--db", db], capsys)
    con = store.connect(db)
    try:  # age one ERP line far past the period: it no longer belongs to January's universe
        con.execute("UPDATE erp_line SET movement_date = DATE '2026-06-30' "
                    "WHERE line_id = (SELECT min(line_id) FROM erp_line)")
        moved = con.execute("SELECT source_name, source_line FROM erp_line WHERE movement_date = "
                            "DATE '2026-06-30'").fetchone()
    finally:
        con.close()
    other = tmp_path / "other"
    other.mkdir()
    src = next(p for p in (month / "in").rglob("*") if p.is_file() and "erp" not in p.as_posix())
    shutil.copy(src, other / src.name)
    run_cli(["run", str(other), "--out", str(tmp_path / "o2"), "--db", db, "--period", "2026-01"], capsys)
    rows = read_results(tmp_path / "o2")
    assert not any(r["source_file"] == moved[0] and r["source_line"] == str(moved[1]) for r in rows)
    assert any(r["source"] == "erp" for r in rows), "the other ERP lines are store lines of the period"


def test_no_reports_writes_results_and_manifest_only(month, capsys, tmp_path):
    out = tmp_path / "o"
    run_cli(["run", str(month / "in"), "--out", str(out), "--db", str(tmp_path / "s.duckdb")], capsys)
    assert (out / "quarantine.csv").exists()
    code, stdout, _ = run_cli(["run", str(month / "in"), "--out", str(out), "--db", str(tmp_path / "s.duckdb"),
                               "--no-reports"], capsys)
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "results.csv"]
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert [p.split("/")[-1] for p in manifest["outputs"]] == ["results.csv", "manifest.json"]


def test_progress_is_shown_on_a_terminal_only(month, tmp_path):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    tty, pipe = Tty(), io.StringIO()
    assert progress.for_stream(pipe) is not progress.for_stream(tty)
    cfg = api.RunConfig(inputs=[month / "in"], out=tmp_path / "o", db=str(tmp_path / "s.duckdb"))
    api.run(cfg, progress=progress.for_stream(tty))
    shown = tty.getvalue()
    assert "importing" in shown and "(1/" in shown and "matching" in shown and shown.endswith("\n") and shown.rstrip().endswith("done")
    api.run(cfg, progress=progress.for_stream(pipe))
    assert pipe.getvalue() == ""


def test_runs_are_recorded_with_their_files_and_manifest(month, capsys, tmp_path):
    db = str(tmp_path / "s.duckdb")
    run_cli(["run", str(month / "in"), "--out", str(tmp_path / "o"), "--db", db], capsys)
    con = store.connect(db)
    try:
        run_id, manifest = con.execute("SELECT run_id, manifest_json FROM run").fetchone()
        assert json.loads(manifest)["run_id"] == run_id
        files = con.execute("SELECT count(*) FROM run_file WHERE run_id = ?", [run_id]).fetchone()[0]
        assert files == 2, "the two ledger files; README.txt is skipped, not a run file"
        n, with_channel = con.execute("SELECT count(*), count(channel) FROM line_result WHERE run_id = ?",
                                      [run_id]).fetchone()
        assert n == len(read_results(tmp_path / "o")) and with_channel > 0
    finally:
        con.close()


def test_a_corrected_erp_export_replaces_the_old_version_and_is_counted(month, capsys, tmp_path):
    """Night 2 brings the ERP export again with AR002 corrected to 59.90: the old AR002 line leaves the
    universe (superseded bucket), the new one matches, nothing is counted twice."""
    from test_run import erp_csv

    db = str(tmp_path / "s.duckdb")
    code, _, _ = run_cli(["run", str(month / "in"), "--out", str(tmp_path / "o1"), "--db", db], capsys)
    assert code == 4  # no bank statement (and M…002 is booked short by 9.90)
    night2 = tmp_path / "n2" / "erp"
    night2.mkdir(parents=True)
    (night2 / "ar_corrected.csv").write_bytes(erp_csv(
        "AR001,2026-01-01,标准应收单,支付宝当面付,人民币,1,100.00,11.50,100.00,0,100.00,已审核,M20260101001,",
        "AR002,2026-01-01,标准应收单,支付宝当面付,人民币,1,59.90,6.89,59.90,0,59.90,已审核,,订单号:M20260101002",
        "AR003,2026-01-03,红字应收单,支付宝当面付,人民币,1,-20.00,-2.30,-20.00,0,-20.00,已审核,M20260101001,退款",
    ))
    code, out, err = run_cli(["run", str(tmp_path / "n2"), "--out", str(tmp_path / "o2"), "--db", db,
                              "--period", "2026-01"], capsys)
    rows = read_results(tmp_path / "o2")
    erp = [r for r in rows if r["source"] == "erp"]
    assert sorted((r["source_file"], r["amount"]) for r in erp) == [
        ("erp/ar.csv", "-20.00"), ("erp/ar.csv", "100.00"), ("erp/ar_corrected.csv", "59.90")]
    assert {r["status"] for r in rows if r["order_no"] == "M20260101002"} == {"matched"}
    manifest = json.loads((tmp_path / "o2" / "manifest.json").read_text(encoding="utf-8"))
    t = manifest["control_totals"]["erp"]
    assert t["superseded"]["count"] == 1 and t["superseded"]["amount"] == "50.00"
    assert t["in"]["count"] == t["out"]["count"] == 3
