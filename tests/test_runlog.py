"""The run log: runs, outputs, decisions and revocations chained by hash; `recon verify` names the first broken link."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import duckdb
import pytest

from recon import api, runlog, store
from test_run import month, read_results, run_cli  # noqa: F401 (month is a fixture)


def _run(month, capsys, out="o1"):
    code, _, _ = run_cli(["run", str(month / "in"), "--out", str(month / out), "--db", str(month / "s.duckdb")],
                         capsys)
    return code


def _reasons(out) -> list:
    """The codes of the verdict reasons of the run that wrote ``out``."""
    return [r["code"] for r in json.loads((out / "manifest.json").read_text(encoding="utf-8"))["verdict"]["reasons"]]


def _resolve(month, capsys):
    group = next(r["match_group"] for r in read_results(month / "o1") if r["order_no"] == "M20260101002")
    code, _, _ = run_cli(["resolve", "--db", str(month / "s.duckdb"), "--group", group, "--accept",
                          "--reason", "优惠券按面值入账", "--by", "张会计"], capsys)
    assert code == 0


def _sql(month, *statements):
    con = duckdb.connect(str(month / "s.duckdb"))
    for s in statements:
        con.execute(s)
    con.close()


def _verify(month, capsys):
    return run_cli(["verify", "--db", str(month / "s.duckdb")], capsys)


def _kinds(month):
    con = duckdb.connect(str(month / "s.duckdb"))
    try:
        return [k for (k,) in con.execute("SELECT kind FROM log_event ORDER BY seq").fetchall()]
    finally:
        con.close()


@pytest.fixture
def logged(month, capsys):
    """Two runs with a decision (and its revocation) between them: a store whose log holds every kind."""
    # the month has no bank statement: every run of it is incomplete (exit 4)
    assert _run(month, capsys) == 4 and _reasons(month / "o1") == ["family_missing", "unknown_lines"]
    _resolve(month, capsys)
    assert _run(month, capsys, "o2") == 4 and _reasons(month / "o2") == ["family_missing"]
    assert run_cli(["resolve", "--db", str(month / "s.duckdb"), "--revoke", "1", "--reason", "券面值有误",
                    "--by", "王主管"], capsys)[0] == 0
    return month


def test_every_run_output_decision_and_revocation_is_chained(logged, capsys):
    assert _kinds(logged) == ["start", "run", "outputs", "decision", "run", "outputs", "revoke"]
    code, out, _ = _verify(logged, capsys)
    assert code == 0 and "run log: 7 events, every link intact and the store as logged" in out
    con = duckdb.connect(str(logged / "s.duckdb"))
    rows = con.execute("SELECT seq, kind, logged_at, payload_json, prev_hash, hash FROM log_event ORDER BY seq"
                       ).fetchall()
    con.close()
    prev = runlog.GENESIS
    for seq, kind, at, payload, prev_hash, digest in rows:  # each link recomputed from the definition
        assert prev_hash == prev and digest == runlog.link(seq, kind, at.isoformat(sep=" "), payload, prev_hash)
        prev = digest
    run = json.loads(rows[1][3])
    manifest = json.loads((logged / "o1" / "manifest.json").read_text(encoding="utf-8"))
    assert run["rules"] == manifest["rules"] and run["dictionaries"] == manifest["dictionaries"]
    loaded = sorted(i["sha256"] for i in manifest["inputs"] if i["status"] == "loaded")
    assert sorted(f for _, f in run["inputs"]) == loaded
    assert json.loads(rows[2][3])["output_sha256"] == manifest["output_sha256"]
    decision = json.loads(rows[3][3])
    assert (decision["created_by"], decision["reason"]) == ("张会计", "优惠券按面值入账")
    assert json.loads(rows[6][3])["revoked_by"] == "王主管"


def test_an_altered_run_record_is_named_as_the_first_broken_link(logged, capsys):
    _sql(logged, "UPDATE run SET exit_code = 0 WHERE exit_code = 4")
    code, out, _ = _verify(logged, capsys)
    assert code == 1
    assert "run log: first broken link at event 2 (run): the store's run R" in out
    assert "exit_code is 0, the log recorded 4" in out


def test_an_altered_line_outcome_of_a_run_is_found(logged, capsys):
    _sql(logged, "UPDATE line_result SET status = 'matched', code = NULL WHERE status = 'unknown'")
    code, out, _ = _verify(logged, capsys)
    assert code == 1 and "first broken link at event 2 (run)" in out and "its line_result rows differ" in out


def test_an_altered_decision_or_revocation_is_found(logged, capsys):
    _sql(logged, "UPDATE decision SET created_by = '李四'")
    code, out, _ = _verify(logged, capsys)
    assert code == 1 and "first broken link at event 4 (decision)" in out
    assert "created_by is '李四', the log recorded '张会计'" in out
    _sql(logged, "UPDATE decision SET created_by = '张会计'", "DELETE FROM decision_revocation")
    code, out, _ = _verify(logged, capsys)
    assert code == 1 and "event 7 (revoke): revocation 1 is in the run log but no longer in the store" in out


def test_an_altered_or_deleted_log_event_breaks_the_chain(logged, capsys):
    _sql(logged, "UPDATE log_event SET payload_json = replace(payload_json, '张会计', '李四') WHERE seq = 4")
    code, out, _ = _verify(logged, capsys)
    assert code == 1 and "first broken link at event 4 (decision): its content no longer hashes" in out
    _sql(logged, "UPDATE log_event SET payload_json = replace(payload_json, '李四', '张会计') WHERE seq = 4")
    assert _verify(logged, capsys)[0] == 0
    _sql(logged, "DELETE FROM log_event WHERE seq = 5")
    code, out, _ = _verify(logged, capsys)
    assert code == 1 and "first broken link at event 6 (outputs): events 5..5 are missing (deleted)" in out
    _sql(logged, "DELETE FROM log_event")
    code, out, _ = _verify(logged, capsys)
    assert code == 1 and "the run log was emptied" in out


def test_a_run_added_or_deleted_outside_recon_is_found(logged, capsys):
    _sql(logged, "INSERT INTO run VALUES ('Rforged', '2026-01', TIMESTAMP '2026-02-01 00:00:00', 0, NULL, NULL)")
    code, out, _ = _verify(logged, capsys)
    assert code == 1 and "run Rforged is in the store but not in the run log: it was added outside recon" in out
    _sql(logged, "DELETE FROM run")
    code, out, _ = _verify(logged, capsys)
    assert code == 1 and "first broken link at event 2 (run)" in out and "no longer in the store (deleted)" in out


def test_a_store_made_before_the_log_is_chained_from_its_first_event(month, capsys):
    assert _run(month, capsys) == 4  # no bank statement: incomplete
    # as a store written before this recon kept a log: no log_event table, no marker
    _sql(month, "DROP TABLE log_event", "DELETE FROM store_meta WHERE key = 'run_log'")
    code, out, _ = _verify(month, capsys)
    assert code == 0 and "run log: not started" in out
    _resolve(month, capsys)
    assert _kinds(month) == ["start", "decision"]  # the start event holds the run made before the log
    assert _verify(month, capsys)[0] == 0
    _sql(month, "UPDATE run SET period = '2026-02'")
    code, out, _ = _verify(month, capsys)
    assert code == 1 and "first broken link at event 1 (start)" in out
    assert "period is '2026-02', the log recorded '2026-01'" in out


def test_an_altered_evidence_file_is_still_found(logged, capsys):
    base = logged / "s.duckdb.evidence"
    kept = next(p for p in base.rglob("*") if p.is_file())
    data = kept.read_bytes()
    kept.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    code, out, _ = _verify(logged, capsys)
    assert code == 1 and "evidence altered: its SHA-256 is now" in out
    assert "run log: 7 events, every link intact" in out


def test_an_interrupted_run_marked_after_its_record_is_logged(month, capsys):
    assert _run(month, capsys) == 4  # no bank statement: incomplete
    con = store.connect(str(month / "s.duckdb"))
    run_id, period = con.execute("SELECT run_id, period FROM run").fetchone()
    api._record_aborted(con, {"run_id": run_id}, period, dt.datetime(2026, 2, 1))
    api._record_aborted(con, None, period, dt.datetime(2026, 2, 2))  # interrupted before it was recorded
    con.close()
    assert _kinds(month) == ["start", "run", "outputs", "abort", "abort"]
    code, out, _ = _verify(month, capsys)
    assert code == 0, out


def test_an_output_set_rewritten_with_its_manifest_is_found_against_the_log(logged, capsys):
    out, db = logged / "o2", str(logged / "s.duckdb")
    code, stdout, _ = run_cli(["verify", "--out", str(out), "--db", db], capsys)
    assert code == 0 and "the whole output set of run" in stdout
    # a forger edits results.csv and re-hashes it into manifest.json: the set agrees with itself
    (out / "results.csv").write_bytes((out / "results.csv").read_bytes().replace(b"matched", b"matcheD"))
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    manifest["output_sha256"]["results.csv"] = hashlib.sha256((out / "results.csv").read_bytes()).hexdigest()
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    assert run_cli(["verify", "--out", str(out)], capsys)[0] == 0  # alone, OUT cannot tell
    code, stdout, _ = run_cli(["verify", "--out", str(out), "--db", db], capsys)
    assert code == 1 and "manifest.json is not the manifest run" in stdout and "event 6 of the run log" in stdout
