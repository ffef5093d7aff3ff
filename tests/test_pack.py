"""`recon pack`: one run's auditor pack, byte-identical each time; `recon verify --pack` finds any changed byte."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile

import duckdb
import pytest

from recon import pack as auditor_pack
from recon import runlog
from test_run import month, read_results, run_cli  # noqa: F401 (month is a fixture)

MEMBERS = ["README.md", "SHA256SUMS", "decision_sources.csv", "decisions.csv", "evidence.csv", "inputs.csv", "manifest.json",
           "reconciliation_statement.csv", "report.html", "results.csv", "runlog.jsonl", "voucher_sources.csv",
           "vouchers.csv"]


@pytest.fixture
def packed(month, capsys):
    """A month run, a decision over its one difference, a second run that applies it, that run packed."""
    db = str(month / "s.duckdb")
    run_cli(["run", str(month / "in"), "--out", str(month / "o1"), "--db", db], capsys)
    group = next(r["match_group"] for r in read_results(month / "o1") if r["order_no"] == "M20260101002")
    assert run_cli(["resolve", "--db", db, "--group", group, "--accept", "--reason", "优惠券按面值入账",
                    "--by", "张会计"], capsys)[0] == 0
    # incomplete (no bank statement), the accepted difference no longer among the reasons
    assert run_cli(["run", str(month / "in"), "--out", str(month / "o2"), "--db", db], capsys)[0] == 4
    o2 = json.loads((month / "o2" / "manifest.json").read_text(encoding="utf-8"))
    assert [r["code"] for r in o2["verdict"]["reasons"]] == ["family_missing"]
    run_id = json.loads((month / "o2" / "manifest.json").read_text(encoding="utf-8"))["run_id"]
    code, out, _ = run_cli(["pack", "--db", db, "--run", run_id, "--out", str(month / "p1.zip")], capsys)
    assert code == 0 and f"the auditor pack of run {run_id} (13 files)" in out
    return month, run_id


def _text(zf, name) -> str:
    return zf.read(name).decode("utf-8-sig")


def _rows(zf, name) -> list[dict]:
    return list(csv.DictReader(io.StringIO(_text(zf, name))))


def test_two_packs_of_one_run_are_byte_identical(packed, capsys):
    month, run_id = packed
    code, _, _ = run_cli(["pack", "--db", str(month / "s.duckdb"), "--run", run_id, "--out",
                          str(month / "p2.zip")], capsys)
    assert code == 0
    assert (month / "p1.zip").read_bytes() == (month / "p2.zip").read_bytes()
    with zipfile.ZipFile(month / "p1.zip") as zf:
        assert zf.namelist() == MEMBERS
        assert {i.date_time for i in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_the_pack_holds_what_an_auditor_needs(packed):
    month, run_id = packed
    con = duckdb.connect(str(month / "s.duckdb"))
    manifest_json, = con.execute("SELECT manifest_json FROM run WHERE run_id = ?", [run_id]).fetchone()
    inputs = sorted(con.execute("SELECT sha256 FROM run_file WHERE run_id = ?", [run_id]).fetchall())
    explained = con.execute("SELECT count(*) FROM line_result WHERE run_id = ? AND (status IN ('unknown', "
                            "'review', 'known') OR code LIKE 'decision:%')", [run_id]).fetchone()[0]
    con.close()
    with zipfile.ZipFile(month / "p1.zip") as zf:
        assert zf.read("manifest.json").decode("utf-8") == manifest_json
        assert sorted((r["sha256"],) for r in _rows(zf, "inputs.csv")) == inputs
        assert zf.read("results.csv") == (month / "o2" / "results.csv").read_bytes()
        assert zf.read("vouchers.csv") == (month / "o2" / "vouchers.csv").read_bytes()
        assert zf.read("voucher_sources.csv") == (month / "o2" / "voucher_sources.csv").read_bytes()
        statement = zf.read("reconciliation_statement.csv")
        assert statement == (month / "o2" / "reconciliation_statement.csv").read_bytes()
        assert "reconciliation_statement.csv" in _text(zf, "README.md")
        assert _text(zf, "report.html").lstrip().lower().startswith("<!doctype html")
        evidence = _rows(zf, "evidence.csv")
        assert explained == 2 and len(evidence) == explained
        raw = {r["source_file"]: json.loads(r["raw_record"]) for r in evidence}
        assert "M20260101002" in "".join(raw["alipay/trade.csv"]) and "AR002" in "".join(raw["erp/ar.csv"])
        assert {r["code"] for r in evidence} == {"decision:1"}
        decisions = _rows(zf, "decisions.csv")
        assert [(d["decision_id"], d["state"], d["created_by"], d["reason"]) for d in decisions] == [
            ("1", "applied", "张会计", "优惠券按面值入账")]
        assert decisions[0]["created_at"]
        events = [json.loads(line) for line in _text(zf, "runlog.jsonl").splitlines()]
        assert [e["kind"] for e in events] == ["start", "run", "outputs", "decision", "run", "outputs"]
        assert json.loads(events[-1]["payload_json"])["run_id"] == run_id
        assert runlog.check_links(events)[0] == []
        readme = _text(zf, "README.md")
        assert run_id in readme and "recon verify --pack" in readme and "sha256sum -c SHA256SUMS" in readme
        assert events[-1]["hash"] in readme
        sums = dict(reversed(line.split("  ")) for line in _text(zf, "SHA256SUMS").splitlines())
        assert sorted(sums) == [m for m in MEMBERS if m != "SHA256SUMS"]
        assert all(hashlib.sha256(zf.read(n)).hexdigest() == h for n, h in sums.items())


def test_verify_pack_passes_a_pack_and_needs_no_store(packed, capsys):
    month, run_id = packed
    (month / "s.duckdb").unlink()
    code, out, _ = run_cli(["verify", "--pack", str(month / "p1.zip")], capsys)
    assert code == 0 and f"the auditor pack of run {run_id}, 13 members, every hash and run-log link intact" in out


def _rebuild(src, dst, tmp_path, change):
    """The pack rewritten the way recon writes it, one member's bytes passed through ``change``."""
    folder = tmp_path / "members"
    folder.mkdir(exist_ok=True)
    with zipfile.ZipFile(src) as zf:
        names = zf.namelist()
        for n in names:
            (folder / n).write_bytes(change(n, zf.read(n)))
    auditor_pack.build(folder, names, dst)


@pytest.mark.parametrize("member", MEMBERS)
def test_verify_pack_finds_one_changed_byte_in_any_member(packed, capsys, tmp_path, member):
    month, _ = packed

    def flip(name, data):
        if name != member:
            return data
        at = len(data) // 2
        return data[:at] + bytes([data[at] ^ 1]) + data[at + 1:]

    _rebuild(month / "p1.zip", tmp_path / "forged.zip", tmp_path, flip)
    code, out, _ = run_cli(["verify", "--pack", str(tmp_path / "forged.zip")], capsys)
    assert code == 1 and member in out, out


def test_verify_pack_finds_a_changed_byte_anywhere_in_the_zip(packed, capsys, tmp_path):
    month, _ = packed
    data = (month / "p1.zip").read_bytes()
    with zipfile.ZipFile(month / "p1.zip") as zf:
        infos, directory = zf.infolist(), zf.start_dir
    spots = []
    for i in infos:
        start = i.header_offset + 30 + len(i.filename)
        # its local header's CRC and name; its stream's first bit (the final-block flag), middle and
        # last byte (whose top bit is padding zlib leaves clear)
        spots += [(i.header_offset + 14, 0), (start - 1, 0), (start, 0), (start + i.compress_size // 2, 3),
                  (start + i.compress_size - 1, 7)]
    entry = directory
    for i in infos:  # each directory entry's time, CRC, name length and name
        spots += [(entry + 12, 0), (entry + 16, 0), (entry + 28, 0), (entry + 46, 0)]
        entry += 46 + len(i.filename)
    spots += [(len(data) - 22 + k, 0) for k in (8, 12, 16, 20)]  # the end record
    for at, bit in spots:
        bad = tmp_path / "bad.zip"
        bad.write_bytes(data[:at] + bytes([data[at] ^ (1 << bit)]) + data[at + 1:])
        code, out, _ = run_cli(["verify", "--pack", str(bad)], capsys)
        assert code == 1, f"bit {bit} of byte {at} changed passed: {out}"


def test_a_forged_manifest_with_matching_sums_is_found_by_the_run_log(packed, capsys, tmp_path):
    month, _ = packed

    def forge(name, data):
        if name == "manifest.json":
            forged = data.replace(b'"exit_code": 4', b'"exit_code": 0')
            assert forged != data
            return forged
        return data

    _rebuild(month / "p1.zip", tmp_path / "f1.zip", tmp_path, forge)
    folder = tmp_path / "members"
    (folder / "SHA256SUMS").write_text("".join(
        f"{hashlib.sha256((folder / n).read_bytes()).hexdigest()}  {n}\n" for n in MEMBERS if n != "SHA256SUMS"),
        encoding="utf-8")
    auditor_pack.build(folder, MEMBERS, tmp_path / "f2.zip")
    code, out, _ = run_cli(["verify", "--pack", str(tmp_path / "f2.zip")], capsys)
    assert code == 1 and "manifest.json is not the manifest the run log recorded" in out


def test_a_run_made_before_the_store_kept_a_log_is_packed_with_the_log_start(month, capsys):
    db = str(month / "s.duckdb")
    run_cli(["run", str(month / "in"), "--out", str(month / "o1"), "--db", db], capsys)
    con = duckdb.connect(db)
    con.execute("DROP TABLE log_event")
    con.execute("DELETE FROM store_meta WHERE key = 'run_log'")
    run_id, = con.execute("SELECT run_id FROM run").fetchone()
    con.close()
    code, out, _ = run_cli(["pack", "--db", db, "--out", str(month / "before.zip")], capsys)
    assert code == 0
    with zipfile.ZipFile(month / "before.zip") as zf:
        assert zf.read("runlog.jsonl") == b"" and "kept no run log" in _text(zf, "README.md")
        unknown = [r for r in _rows(zf, "evidence.csv") if r["status"] == "unknown"]
        assert {r["source_file"] for r in unknown} == {"alipay/trade.csv", "erp/ar.csv"}
    assert run_cli(["verify", "--pack", str(month / "before.zip")], capsys)[0] == 0
    group = next(r["match_group"] for r in read_results(month / "o1") if r["order_no"] == "M20260101002")
    assert run_cli(["resolve", "--db", db, "--group", group, "--accept", "--reason", "x", "--by", "y"], capsys)[0] == 0
    assert run_cli(["pack", "--db", db, "--run", run_id, "--out", str(month / "after.zip")], capsys)[0] == 0
    with zipfile.ZipFile(month / "after.zip") as zf:
        events = [json.loads(line) for line in _text(zf, "runlog.jsonl").splitlines()]
    assert [e["kind"] for e in events] == ["start"]  # the log up to the run: its start holds the run
    assert run_cli(["verify", "--pack", str(month / "after.zip")], capsys)[0] == 0


def test_an_interrupted_run_without_a_manifest_is_refused(month, capsys):
    db = str(month / "s.duckdb")
    run_cli(["run", str(month / "in"), "--out", str(month / "o1"), "--db", db], capsys)
    con = duckdb.connect(db)
    con.execute("INSERT INTO run VALUES ('Raborted', '2026-01', TIMESTAMP '2026-02-01 00:00:00', 130, NULL, NULL)")
    con.close()
    code, _, err = run_cli(["pack", "--db", db, "--run", "Raborted", "--out", str(month / "x.zip")], capsys)
    assert code == 2 and "has no manifest to pack" in err and not (month / "x.zip").exists()


def test_the_sample_month_pack_holds_every_known_and_unknown_line(tmp_path, capsys):
    from pathlib import Path

    sample = Path(__file__).resolve().parent.parent / "sample_data"
    db = str(tmp_path / "s.duckdb")
    run_cli(["run", str(sample), "--out", str(tmp_path / "out"), "--db", db], capsys)
    assert run_cli(["pack", "--db", db, "--out", str(tmp_path / "p.zip")], capsys)[0] == 0
    results = read_results(tmp_path / "out")
    want = sorted((r["source_file"], r["source_line"], r["status"]) for r in results
                  if r["status"] in ("unknown", "review", "known"))
    with zipfile.ZipFile(tmp_path / "p.zip") as zf:
        assert zf.read("results.csv") == (tmp_path / "out" / "results.csv").read_bytes()
        assert zf.read("vouchers.csv") == (tmp_path / "out" / "vouchers.csv").read_bytes()
        evidence = _rows(zf, "evidence.csv")
        assert {"known", "unknown"} <= {r["status"] for r in evidence}
        assert sorted((r["source_file"], r["source_line"], r["status"]) for r in evidence) == want
        assert all(json.loads(r["raw_record"]) for r in evidence)
    assert run_cli(["verify", "--pack", str(tmp_path / "p.zip")], capsys)[0] == 0


def test_the_pack_holds_the_raw_records_behind_a_prior_period_adjustment(tmp_path, capsys):
    """The late ERP document of a closed January is posted in February: it has no result in February's
    run (it is dated in January), yet February's voucher corrects January on it; the pack carries it."""
    from test_period_close import _jan_feb

    jan, feb = _jan_feb(tmp_path)
    db = str(tmp_path / "s.duckdb")
    run_cli(["run", str(jan), "--out", str(tmp_path / "o1"), "--db", db, "--period", "2026-01"], capsys)
    run_cli(["close", "--period", "2026-01", "--by", "张三", "--reason", "month end", "--force", "--db", db], capsys)
    run_cli(["run", str(feb), "--out", str(tmp_path / "o2"), "--db", db, "--period", "2026-02"], capsys)
    assert not any(r["source_file"] == "erp/late.csv" for r in read_results(tmp_path / "o2"))
    assert run_cli(["pack", "--db", db, "--out", str(tmp_path / "p.zip")], capsys)[0] == 0
    with zipfile.ZipFile(tmp_path / "p.zip") as zf:
        evidence = _rows(zf, "evidence.csv")
        late = [r for r in evidence if r["source_file"] == "erp/late.csv"]
        assert [(r["source_line"], r["status"], r["code"]) for r in late] == [
            ("2", "prior_period", "ROUNDING_ALLOCATION")]
        assert "AR002" in json.loads(late[0]["raw_record"])
        assert "prior-period adjustment" in _text(zf, "README.md")
    assert run_cli(["verify", "--pack", str(tmp_path / "p.zip")], capsys)[0] == 0
