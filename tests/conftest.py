"""Shared test helpers: a throwaway store and a way to import a fixture written inline."""

from __future__ import annotations

from pathlib import Path

import pytest

from recon import store
from recon.io import records
from recon.io.load import import_file
from recon.io.profile import builtin_profiles

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def con():
    c = store.connect(":memory:")
    yield c
    c.close()


@pytest.fixture(scope="session")
def profiles():
    return builtin_profiles()


def write(tmp_path: Path, name: str, content, encoding="utf-8") -> Path:
    """Write a fixture file; str content is encoded (GBK files pass encoding='gbk')."""
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
    return path


def rows(con, table: str, columns: str, where: str = "TRUE"):
    """Rows of a store table as dicts, in source order (file, sheet, line)."""
    cur = con.execute(
        f"SELECT {columns} FROM {table} WHERE {where} ORDER BY source_name, source_sheet NULLS FIRST, source_line")
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def raw_of(con, table: str, where: str = "TRUE") -> list:
    """The raw records of a table's lines, read back from the evidence store, in source order."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE raw_ids AS SELECT line_id FROM {table} WHERE {where}")
    records.raw_cells(con, "raw_ids", "raw_got")
    return [r[0] for r in con.execute(
        f"SELECT g.raw FROM raw_got g JOIN {table} t USING (line_id) "
        "ORDER BY t.source_name, t.source_sheet NULLS FIRST, t.source_line").fetchall()]


def kept_record(con, table: str, raw=(), name: str | None = None, header=()) -> dict:
    """Lineage for a line written straight into ``table`` by a test: its raw record ``raw`` kept as
    a small evidence file (``records.synthetic``) named ``name``, so layer 2 can read it back."""
    family = next(f for f, (t, _, _) in store.FAMILIES.items() if t == table)
    file_id, [(_, offset, length)] = records.synthetic(con, name or f"F-{table}", family, [list(raw)], header)
    return {"file_id": file_id, "rec_offset": offset, "rec_length": length}


def do_import(con, path, profiles, **kw):
    return import_file(con, Path(path), profiles, **kw)


def run_cli(argv, capsys):
    """``recon.cli.main(argv)`` as a user runs it: (exit code, stdout, stderr)."""
    from recon.cli import main

    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in argv])
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


@pytest.fixture
def trade_month(tmp_path):
    """A folder ``in/`` holding one Alipay trade detail (three lines, no ERP, no bank)."""
    inp = tmp_path / "in"
    inp.mkdir()
    (inp / "trade.csv").write_bytes((FIXTURES / "alipay_trade_detail.csv").read_bytes())
    return tmp_path


@pytest.fixture
def clean_month(tmp_path):
    """A folder ``in/`` holding a small complete month (every platform, the ERP, the bank) that
    reconciles clean: ``recon sample --scale`` with 40 orders, no planted discrepancy."""
    from recon.sample import generate

    generate(tmp_path / "in", orders=40, scale=True)
    return tmp_path


def reason_codes(manifest: dict) -> list:
    """The codes of a run's verdict reasons, in order (a manifest or a ``--json`` summary)."""
    return [r["code"] for r in manifest["verdict"]["reasons"]]


def run_args(month, *extra):
    """``recon run MONTH/in --out MONTH/out --db MONTH/s.duckdb`` plus ``extra``."""
    return ["run", str(month / "in"), "--out", str(month / "out"), "--db", str(month / "s.duckdb"), *extra]
