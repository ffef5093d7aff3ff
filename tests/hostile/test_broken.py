"""Broken input: a sentence naming the file, that file refused or the line quarantined, never exit 3."""

from __future__ import annotations

import csv
import io
import json
import os
import zipfile

import pytest

from tests.hostile.conftest import FIXTURES, RSS_LIMIT_MB, alipay_csv, alipay_row, baseline_rss_mb, recon

GOOD_ROWS = [alipay_row("2026010122001458860515315453", "M20260101001", "连衣裙"),
             alipay_row("2026010122001458860515315454", "M20260101002", "T恤", "59.90")]


def test_invalid_utf8_after_a_bom_names_the_line(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + alipay_csv(GOOD_ROWS[:1]).encode() + b"\xff\xfe broken\n")
    ran = recon("sniff", path)
    assert ran.code == 2, ran.text
    assert "bom.csv" in ran.text and "line 8" in ran.text and "byte-order mark" in ran.text, ran.text


def test_a_70_mb_field_is_quarantined_with_its_line_and_the_rest_loads(tmp_path):
    rows = [GOOD_ROWS[0], alipay_row("2026010122001458860515315455", "M20260101003", "x" * (70 * 1024 * 1024)),
            GOOD_ROWS[1]]
    path = tmp_path / "field.csv"
    path.write_text(alipay_csv(rows), encoding="utf-8")
    # Above recon's own start-up memory, the 70 MB line may cost at most 3x its size (read as bytes for
    # the hash and evidence scan, once more whole when the part is decoded without it); a reader that
    # decoded the line, split it into cells or kept copies per pass would take several times that.
    ran = recon("sniff", "--json", path, rss_limit_mb=baseline_rss_mb() + 3 * 70)
    assert ran.code == 1, ran.text[:2000]
    rep = json.loads(ran.out)
    assert rep["loaded"] == 2 and rep["quarantined"] == 1, rep
    (q,) = rep["quarantine"]
    assert q["line"] == 7 and "field limit" in q["reason"] and "--limit field=" in q["reason"], q


def test_a_sparse_file_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "sparse.csv"
    with open(path, "wb") as f:
        f.write(alipay_csv(GOOD_ROWS).encode())
        f.truncate(3 * 1024**3)
    ran = recon("sniff", path)
    assert ran.code == 2 and "sparse file" in ran.text and "sparse.csv" in ran.text, ran.text
    assert ran.rss_mb < RSS_LIMIT_MB  # reading the 3 GB would take at least ten times that


def test_a_file_over_the_file_limit_is_refused(tmp_path):
    path = tmp_path / "big.csv"
    path.write_text(alipay_csv(GOOD_ROWS * 2000), encoding="utf-8")
    ran = recon("sniff", path, "--limit", "file=100KB")
    assert ran.code == 2 and "over the file limit of 100 KB" in ran.text and "--limit file=" in ran.text, ran.text


def _bad_folder(tmp_path, bombs):
    """A month's folder: one good export with hostile cells, beside every kind of unreadable file."""
    d = tmp_path / "in"
    d.mkdir()
    rows = [alipay_row("2026010122001458860515315453", "M2026\x000101001", "连\x1b]0;PWN\x07衣\x9b裙"),
            GOOD_ROWS[1]]
    (d / "good\x1b]0;PWN\x07.csv").write_text(alipay_csv(rows), encoding="utf-8")
    (d / "bom.csv").write_bytes(b"\xef\xbb\xbf" + alipay_csv(GOOD_ROWS).encode() + b"\xc3\x28\n")
    (d / "bomb.csv.gz").write_bytes(bombs["gzip.csv.gz"].read_bytes())
    (d / "nested.zip").write_bytes(bombs["nested.zip"].read_bytes())
    with open(d / "sparse.csv", "wb") as f:
        f.truncate(2 * 1024**3)
    os.mkfifo(d / "pipe.csv")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.csv", alipay_csv(GOOD_ROWS))
    (d / "cut.zip").write_bytes(buf.getvalue()[:-30])
    return d


def test_a_run_refuses_the_bad_files_and_completes_with_the_good(tmp_path, bombs):
    d = _bad_folder(tmp_path, bombs)
    tmp = tmp_path / "it's tmp"  # a quote in TMPDIR: the temp paths reach SQL only quoted
    tmp.mkdir()
    out = tmp_path / "out"
    ran = recon("run", d, "--out", out, "--db", tmp_path / "s.duckdb", env={"TMPDIR": str(tmp)})
    assert ran.code == 4, ran.text  # the run completes, but its input is incomplete: never 0
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    refused = {r["path"]: r["reason"] for r in manifest["refused_files"]}
    assert {r["params"]["path"] for r in manifest["verdict"]["reasons"] if r["code"] == "refused_file"} == set(refused)
    assert set(refused) == {"bom.csv", "bomb.csv.gz", "nested.zip", "sparse.csv", "pipe.csv", "cut.zip"}, refused
    assert "byte-order mark" in refused["bom.csv"] and "decompression bomb" in refused["bomb.csv.gz"]
    assert "sparse" in refused["sparse.csv"] and "not a regular file" in refused["pipe.csv"]
    assert "damaged or truncated" in refused["cut.zip"]
    report = (out / "report.html").read_text(encoding="utf-8")
    for name in refused:
        assert f"refused {name}:" in ran.text
        assert f"{name}: " in report, "report.html names every refused file"
    # the good file loaded whole, its hostile cells neutralised in every text output
    with open(out / "results.csv", encoding="utf-8-sig", newline="") as f:
        results = list(csv.DictReader(f))
    assert len(results) == 2 and {r["order_no"] for r in results} == {"M20260101001", "M20260101002"}
    for name in ("results.csv", "quarantine.csv", "vouchers.csv", "report.html", "manifest.json"):
        data = (out / name).read_bytes()
        assert b"\x00" not in data and b"\x1b" not in data and b"\x07" not in data, name
    with zipfile.ZipFile(out / "recon.xlsx") as zf:
        for member in zf.namelist():
            data = zf.read(member)
            assert b"\x00" not in data and b"\x1b" not in data and b"_x001B_" not in data and b"_x0000_" not in data
    # nothing from a file reached the terminal as a control character
    assert b"\x1b" not in ran.out + ran.err and b"\xc2\x9b" not in ran.out + ran.err
    assert "good\\u001b]0;PWN\\u0007.csv" in ran.text
    assert list(tmp.iterdir()) == []


def test_a_run_with_nothing_readable_cannot_go_on(tmp_path, bombs):
    d = tmp_path / "in"
    d.mkdir()
    (d / "bomb.csv.gz").write_bytes(bombs["gzip.csv.gz"].read_bytes())
    (d / "bom.csv").write_bytes(b"\xef\xbb\xbf\xff")
    ran = recon("run", d, "--out", tmp_path / "out", "--db", tmp_path / "s.duckdb")
    assert ran.code == 2 and "cannot read these files" in ran.text, ran.text
    assert "bomb.csv.gz" in ran.text and "bom.csv" in ran.text


def test_a_cell_just_over_the_field_limit_is_quarantined_by_either_reader(tmp_path):
    """A line between the limit and twice it: both readers (DuckDB's and Python's) must refuse it alike."""
    rows = [GOOD_ROWS[0], alipay_row("2026010122001458860515315455", "M20260101003", "长" * 50_000), GOOD_ROWS[1]]
    path = tmp_path / "field.csv"
    path.write_text(alipay_csv(rows), encoding="utf-8")
    ran = recon("sniff", "--json", path, "--limit", "field=100KB")
    assert ran.code == 1, ran.text[:2000]
    rep = json.loads(ran.out)
    assert rep["loaded"] == 2 and [q["line"] for q in rep["quarantine"]] == [7], rep
    whole = json.loads(recon("sniff", "--json", path, "--limit", "field=1MB").out)
    assert whole["loaded"] == 3 and whole["quarantined"] == 0, "under the limit, the line loads"


def test_out_of_range_evidence_days_is_a_usage_error(tmp_path):
    ran = recon("run", tmp_path, "--out", tmp_path / "o", "--evidence-days", "999999999")
    assert ran.code == 2 and "--evidence-days" in ran.text, ran.text


def test_a_statement_cut_short_is_a_sentence(tmp_path):
    """The MT940 library raises its own RuntimeError on a tag it cannot read: the file's fault, not recon's.

    The statement it cannot read is quarantined entry by entry with a sentence (issue 11 point 13);
    the file's other statement loads."""
    text = (FIXTURES / "bank_mt940.sta").read_bytes()
    cut = text[:text.index(b":62F:C260403C") + len(b":62F:C260403C")]
    path = tmp_path / "cut.sta"
    path.write_bytes(cut)
    ran = recon("sniff", path)
    assert ran.code == 1 and "cut.sta" in ran.text and "MT940 statement at line" in ran.text, ran.text
    assert "loaded 3" in ran.text and "quarantined 2" in ran.text, ran.text


def test_damaged_xml_is_a_sentence(tmp_path):
    text = (FIXTURES / "bank_camt053.xml").read_bytes()
    path = tmp_path / "cut.xml"
    path.write_bytes(text[: len(text) // 2])
    ran = recon("sniff", path)
    assert ran.code == 2 and "cut.xml" in ran.text, ran.text
