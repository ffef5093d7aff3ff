"""Core loader behaviour independent of any one format: declared periods, containers, transactions."""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

import pytest

from recon.errors import InputError
from recon.io import containers
from recon.io.load import _period_bounds, import_file, install_macros

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.parametrize("start,end,expected", [
    ("2026年01月01日 00:00:00", "2026年02月01日 00:00:00", (dt.datetime(2026, 1, 1), dt.datetime(2026, 2, 1))),
    ("2026-06-01 00:00:00", "2026-06-30 23:59:59", (dt.datetime(2026, 6, 1), dt.datetime(2026, 7, 1))),
    ("20260401", "20260430", (dt.datetime(2026, 4, 1), dt.datetime(2026, 5, 1))),
])
def test_declared_period_end_is_exclusive(con, start, end, expected):
    install_macros(con)
    assert tuple(_period_bounds(con, {"period_start": start, "period_end": end})) == expected


def test_gzip_container_is_opened(con, profiles, tmp_path):
    raw = (FIXTURES / "alipay_trade_detail.csv").read_bytes()
    path = tmp_path / "bill.gzip"
    path.write_bytes(gzip.compress(raw, mtime=0))
    rep = import_file(con, path, profiles)
    assert rep.container == "gzip" and rep.totals()["loaded"] == 3


def test_failed_import_leaves_nothing_behind(con, profiles, tmp_path, monkeypatch):
    """A file loads completely or not at all: an error mid-way rolls the whole file back."""
    from recon.io import load

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(load.proofs, "run_proofs", boom)
    with pytest.raises(RuntimeError):
        import_file(con, FIXTURES / "alipay_trade_detail.csv", profiles)
    for table in ("platform_line", "source_file", "source_part", "quarantine", "control_proof"):
        assert con.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0, table


def test_zip_bomb_is_refused(tmp_path):
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.csv", b"0" * (50 * 1024 * 1024))
    with pytest.raises(InputError, match="zip bomb"):
        containers.open_parts(buf.getvalue(), "a.zip")


def test_xlsx_numbers_are_converted_at_the_edge():
    assert containers.cell_text(12.3) == "12.3"
    assert containers.cell_text(0.1 + 0.2) == "0.30000000000000004"  # what Excel stored, not a rounded guess
    assert containers.cell_text(100.0) == "100"
    assert containers.cell_text(3553498017448001.0) == "3.553498017448001E+15", "16 digits stored as a number"
    assert containers.cell_text(1234567890123456789) == "1.234567890123456789E+18"
    assert containers.cell_text(dt.datetime(2026, 1, 2, 3, 4, 5)) == "2026-01-02 03:04:05"


def test_text_rows_keep_physical_line_numbers_across_quoted_newlines():
    text = 'a,b\r\n"x\r\ny",2\r\n\r\nz,3\r\n'
    assert list(containers.text_rows(text)) == [(1, ["a", "b"]), (2, ["x\ny", "2"]), (4, []), (5, ["z", "3"])]


def test_tab_separated_export_is_read(con, profiles, tmp_path):
    text = (FIXTURES / "alipay_trade_detail.csv").read_bytes().decode("gb18030")
    lines = text.split("\r\n")
    # the header and data as TSV (the ids' trailing tab suffixes dropped, as a TSV export would)
    tsv = [ln.replace("\t,", ",").replace(",", "\t") if not ln.startswith("#") else ln for ln in lines]
    path = tmp_path / "trade.tsv"
    path.write_bytes("\r\n".join(tsv).encode("gbk"))
    rep = import_file(con, path, profiles)
    assert rep.formats == ["alipay.trade_detail"]
    assert rep.totals() == {"data_lines": 3, "loaded": 3, "duplicates": 0, "quarantined": 0}


@pytest.mark.parametrize("name,data", [
    ("cut.zip", b"PK\x03\x04" + b"\x00" * 40),
    ("cut.gzip", gzip.compress(b"a,b\n1,2\n")[:12]),
])
def test_damaged_archive_is_a_clear_input_error(con, profiles, tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(InputError, match="damaged or truncated archive"):
        import_file(con, path, profiles)


def test_run_reports_damaged_file_without_traceback(tmp_path, capsys):
    from recon.cli import main

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "bill.zip").write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    with pytest.raises(SystemExit) as exc:
        main(["run", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--db", str(tmp_path / "s.duckdb")])
    err = capsys.readouterr().err
    assert exc.value.code == 2
    assert "bill.zip" in err and "download the file again" in err and "Traceback" not in err


def test_money_refuses_floats():
    from decimal import Decimal

    from recon.money import D, from_float

    with pytest.raises(TypeError, match="float"):
        D(0.1)
    assert D("12.30") == Decimal("12.30") and from_float(12.3) == Decimal("12.3")


def test_the_store_draws_no_progress_bar():
    """DuckDB's bar goes to standard output even through a pipe: it would corrupt `recon run --json`."""
    from recon import store
    con = store.connect(":memory:")
    try:
        assert con.execute("SELECT current_setting('enable_progress_bar')").fetchone()[0] is False
    finally:
        con.close()
