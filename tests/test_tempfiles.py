"""Scratch folders of recon's in the temp folder: named by pid, a dead run's cleaned by the next run."""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from recon import tempfiles
from recon.cli import main

FIXTURES = Path(__file__).parent / "fixtures"


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_scratch_dirs_carry_the_pid_and_only_dead_ones_are_cleaned(tmp_path):
    dead = _dead_pid()
    (tmp_path / f"recon-fastcsv-{dead}-x1").mkdir()
    (tmp_path / f"recon-fastcsv-{dead}-x1" / "part.csv").write_text("client data")
    (tmp_path / f"recon-xlsx-{dead}-x2").mkdir()
    (tmp_path / f"recon-xlsx-{os.getppid()}-x3").mkdir()  # a live run's
    (tmp_path / "recon-fastcsv-x4").mkdir()  # not ours by name: never touched
    (tmp_path / f"recon-copy-{dead}-x5").mkdir()
    assert tempfiles.clean_stale(str(tmp_path)) == [f"recon-copy-{dead}-x5", f"recon-fastcsv-{dead}-x1",
                                                    f"recon-xlsx-{dead}-x2"]
    assert sorted(os.listdir(tmp_path)) == sorted([f"recon-xlsx-{os.getppid()}-x3", "recon-fastcsv-x4"])
    made = tempfiles.scratch_dir("xlsx")
    try:
        assert made.name.startswith(f"recon-xlsx-{os.getpid()}-")
    finally:
        shutil.rmtree(made)


def test_a_run_cleans_what_a_killed_run_left_and_leaves_nothing_of_its_own(tmp_path, monkeypatch):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    stale = tmp / f"recon-fastcsv-{_dead_pid()}-abc"
    stale.mkdir()
    inp = tmp_path / "in"
    inp.mkdir()
    shutil.copy(FIXTURES / "alipay_trade_detail.csv", inp / "trade.csv")
    try:
        main(["run", str(inp), "--out", str(tmp_path / "out"), "--db", str(tmp_path / "s.duckdb")])
    except SystemExit:
        pass
    assert os.listdir(tmp) == []
