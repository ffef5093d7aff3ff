"""Errors a clerk can act on: a locked store, a wrong --period, a missing store, Ctrl-C (exit 130)."""

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from recon.cli import main

FIXTURES = Path(__file__).parent / "fixtures"


def run_cli(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


@pytest.fixture
def month(tmp_path):
    inp = tmp_path / "in"
    inp.mkdir()
    shutil.copy(FIXTURES / "alipay_trade_detail.csv", inp / "trade.csv")
    return tmp_path


def _run(month, *extra):
    return ["run", str(month / "in"), "--out", str(month / "out"), "--db", str(month / "s.duckdb"), *extra]


@pytest.mark.parametrize("period", ["2026-1", "2026-13", "26-01", " 2026-01", "2026-01-01"])
def test_a_malformed_period_is_refused_before_anything_is_imported(month, capsys, period):
    code, _, err = run_cli(_run(month, "--period", period), capsys)
    assert code == 2 and "YYYY-MM" in err and "Traceback" not in err
    assert not (month / "s.duckdb").exists()


@pytest.mark.parametrize("argv", [["runs"], ["explain", "M1"], ["locate", "1.00"], ["report", "--out", "{tmp}/r"],
                                  ["vouchers", "--out", "{tmp}/v"]])
def test_a_read_only_command_never_creates_a_store(tmp_path, capsys, argv):
    db = tmp_path / "typo.duckdb"
    code, _, err = run_cli([a.replace("{tmp}", str(tmp_path)) for a in argv] + ["--db", str(db)], capsys)
    assert code == 2 and "no recon store at" in err and "Traceback" not in err
    assert not db.exists()


HOLDER = """
import sys, time
import duckdb
con = duckdb.connect(sys.argv[1])
print("holding", flush=True)
time.sleep(60)
"""


def test_a_store_held_by_another_process_gives_a_sentence(month, capsys):
    run_cli(_run(month), capsys)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(month / "s.duckdb")], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        for argv in (["runs", "--db", str(month / "s.duckdb")], _run(month)):
            code, _, err = run_cli(argv, capsys)
            assert code == 2, err
            assert f"(PID {holder.pid}) is using the store" in err and "Traceback" not in err
    finally:
        holder.kill()
        holder.wait()


INTERRUPTER = """
import os, signal, sys
from recon import api
at = sys.argv[1]
def interrupting(fn):
    def wrapped(*a, **k):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)  # the signal arrives before this ends
        return fn(*a, **k)
    return wrapped
import time
if at == "import":
    api.import_file = interrupting(api.import_file)
elif at == "matching":
    api.reconcile = interrupting(api.reconcile)
else:
    api.render_reports = interrupting(api.render_reports)
from recon.cli import main
main(sys.argv[2:])
"""


@pytest.mark.parametrize("at", ["import", "matching", "reports"])
def test_ctrl_c_exits_130_leaves_out_untouched_and_records_the_run_as_aborted(month, capsys, at):
    code, _, _ = run_cli(_run(month), capsys)
    before = {p.name: p.read_bytes() for p in (month / "out").iterdir()}
    first = json.loads((month / "out" / "manifest.json").read_text(encoding="utf-8"))["run_id"]
    (month / "in" / "trade.csv").write_bytes((month / "in" / "trade.csv").read_bytes() + b"\n")  # a new file
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", INTERRUPTER, at, *_run(month)], capture_output=True, text=True)
    assert time.monotonic() - started < 30
    assert proc.returncode == 130, proc.stderr
    assert "interrupted; nothing was changed in" in proc.stderr and "Traceback" not in proc.stderr
    assert {p.name: p.read_bytes() for p in (month / "out").iterdir()} == before
    code, out, _ = run_cli(["runs", "--db", str(month / "s.duckdb"), "--json"], capsys)
    runs = json.loads(out)
    assert [r["state"] for r in runs] == ["finished", "aborted"]
    assert runs[1]["exit_code"] == 130
    code, out, _ = run_cli(["vouchers", "--db", str(month / "s.duckdb"), "--out", str(month / "v")], capsys)
    assert code == 0 and first in out  # the last finished run, not the aborted one


def test_load_lines_are_printed_as_files_are_imported(month, capsys, monkeypatch):
    """A log shows what was loaded even when a later step fails (here: a bug in matching)."""
    from recon import api

    def broken(*a, **k):
        raise RuntimeError("simulated bug in matching")

    monkeypatch.setattr(api, "reconcile", broken)
    code, out, err = run_cli(_run(month), capsys)
    assert code == 3 and "simulated bug in matching" in err
    assert "LOAD  trade.csv" in out
