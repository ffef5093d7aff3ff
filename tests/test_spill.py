"""Spill files: DuckDB spills beside the store (``<store>.tmp``), and what a killed run left is cleared."""

import os
import subprocess
import sys
import time

from recon import store


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_spill_dir_is_beside_the_store(tmp_path):
    db = tmp_path / "recon.duckdb"
    con = store.connect(str(db))
    try:
        assert con.execute("SELECT current_setting('temp_directory')").fetchone()[0] == str(db) + ".tmp"
    finally:
        con.close()
    assert store.spill_dir(":memory:") is None


def test_connect_clears_spill_of_a_dead_process_only(tmp_path):
    db = tmp_path / "recon.duckdb"
    store.connect(str(db)).close()
    spill = store.spill_dir(str(db))
    spill.mkdir()
    dead = _dead_pid()
    stale = [f"duckdb_temp_{dead}_0_owner", f"duckdb_temp_{dead}_0_storage_DEFAULT-0.tmp"]
    for name in stale:
        (spill / name).write_bytes(b"x" * 1000)
    live = f"duckdb_temp_{os.getppid()}_0_storage_DEFAULT-0.tmp"  # a live process's file stays
    (spill / live).write_bytes(b"y")
    (spill / "notes.txt").write_text("not DuckDB's")  # nor is anything not DuckDB's touched
    con = store.connect(str(db))
    con.close()
    assert sorted(os.listdir(spill)) == sorted([live, "notes.txt"])
    os.remove(spill / live)
    os.remove(spill / "notes.txt")
    for name in stale:
        (spill / name).write_bytes(b"x")
    store.connect(str(db)).close()
    assert not spill.exists()  # left empty: removed


SPILLER = """
import sys
from recon import store
con = store.connect(sys.argv[1], "64MB")
con.execute("CREATE TABLE a AS SELECT range AS i, md5(CAST(range AS VARCHAR)) AS s FROM range(3000000)")
print("go", flush=True)
con.execute("SELECT count(*) FROM (SELECT s, count(*) FROM a GROUP BY s ORDER BY s)").fetchall()
"""


def test_spill_of_a_killed_run_is_cleared_by_the_next(tmp_path):
    db = tmp_path / "recon.duckdb"
    spill = store.spill_dir(str(db))
    proc = subprocess.Popen([sys.executable, "-c", SPILLER, str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "go"
        deadline = time.monotonic() + 60
        while not (spill.exists() and any(n.endswith(".tmp") for n in os.listdir(spill))):
            assert proc.poll() is None, "the query ended before it spilled"
            assert time.monotonic() < deadline, "no spill within 60 s"
            time.sleep(0.05)
    finally:
        proc.kill()
        proc.wait()
    assert any(n.startswith("duckdb_temp_") for n in os.listdir(spill))  # DuckDB itself leaves them
    store.connect(str(db)).close()
    assert not spill.exists()
