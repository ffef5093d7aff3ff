"""The output folder holds one run's whole set or the previous one, never a mix (recon.outputs)."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from recon import evidence, outputs
from conftest import run_args, run_cli



@pytest.fixture
def month(trade_month):
    return trade_month


_run = run_args


def test_manifest_hashes_every_output_and_verify_says_whole(month, capsys):
    code, _, _ = run_cli(_run(month), capsys)
    assert code == 4  # one platform file: a finished, incomplete run
    out = month / "out"
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    names = sorted(Path(p).name for p in manifest["outputs"] if not p.endswith("manifest.json"))
    assert sorted(manifest["output_sha256"]) == names
    assert all(manifest["output_sha256"][n] == evidence.sha256_file(out / n) for n in names)
    assert outputs.verify_set(out)["state"] == "whole"
    (out / "results.csv").write_bytes((out / "results.csv").read_bytes() + b"x")
    report = outputs.verify_set(out)
    assert report["state"] == "mixed" and report["problems"][0].startswith("results.csv")


def test_user_files_stay_and_a_no_reports_run_drops_the_old_reports(month, capsys):
    out = month / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "mine").mkdir()
    (out / "mine" / "a.txt").write_text("a")
    run_cli(_run(month), capsys)
    assert (out / "report.html").is_file()
    run_cli(_run(month, "--no-reports"), capsys)
    assert sorted(os.listdir(out)) == ["manifest.json", "mine", "notes.txt", "results.csv"]
    assert (out / "notes.txt").read_text() == "mine" and (out / "mine" / "a.txt").read_text() == "a"
    assert outputs.verify_set(out)["state"] == "whole"
    assert not [p for p in month.iterdir() if p.name.startswith(".out.recon-") and p.is_dir()]


def test_a_second_writer_of_the_same_out_is_refused(month, capsys):
    with outputs.OutputSet(month / "out"):
        code, _, err = run_cli(_run(month), capsys)
    assert code == 2 and "another recon" in err and "Traceback" not in err
    code, _, _ = run_cli(_run(month), capsys)  # the lock went with the first writer
    assert code == 4  # one platform file: a finished, incomplete run


KILLER = """
import os, signal, sys
from recon import evidence, outputs
from recon.cli import main
at = sys.argv[1]
def hook(step):
    if step == at:
        os.kill(os.getpid(), signal.SIGKILL)
outputs._hook = hook
main(sys.argv[2:])
"""


@pytest.mark.parametrize("step", ["carried", "exchanged", "done"])
def test_a_run_killed_at_each_swap_step_leaves_one_whole_set(month, capsys, step):
    out = month / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    run_cli(_run(month), capsys)
    old_run = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["run_id"]
    (month / "in" / "trade.csv").write_bytes((month / "in" / "trade.csv").read_bytes() + b"\n")  # a new file: new run
    proc = subprocess.run([sys.executable, "-c", KILLER, step, *_run(month)], capture_output=True)
    assert proc.returncode == -signal.SIGKILL
    report = outputs.verify_set(out)
    assert report["state"] == "whole", report
    expect_new = step != "carried"
    assert (report["run_id"] != old_run) == expect_new
    assert (out / "notes.txt").read_text() == "mine"
    # the next writer cleans what the killed one left beside OUT, and keeps the user's files
    code, _, _ = run_cli(_run(month), capsys)
    assert code == 4  # one platform file: a finished, incomplete run
    assert not [p for p in month.iterdir() if p.name.startswith(".out.recon-") and p.is_dir()]
    assert (out / "notes.txt").read_text() == "mine"
    assert outputs.verify_set(out)["state"] == "whole"


def test_leftover_staging_of_a_dead_writer_gives_user_entries_back(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    stale = tmp_path / f".out.recon-{proc.pid}-abc"
    stale.mkdir()
    (stale / "results.csv").write_text("old")
    (stale / "moved_dir").mkdir()
    live = tmp_path / f".out.recon-{os.getppid()}-def"  # a live writer's folder is left alone
    live.mkdir()
    assert outputs.clean_leftovers(out) == [stale.name]
    assert not stale.exists() and live.is_dir()
    assert (out / "moved_dir").is_dir() and not (out / "results.csv").exists()


def test_recon_verify_out_says_whole_or_mixed(month, capsys):
    run_cli(_run(month), capsys)
    out = month / "out"
    code, stdout, _ = run_cli(["verify", "--out", str(out)], capsys)
    run_id = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["run_id"]
    assert code == 0 and f"the whole output set of run {run_id}" in stdout
    (out / "report.html").write_text("another run's report")
    code, stdout, _ = run_cli(["verify", "--out", str(out)], capsys)
    assert code == 1 and "mixed output set" in stdout and "report.html: not the file this manifest's run wrote" in stdout
    code, stdout, _ = run_cli(["verify", "--out", str(out), "--db", str(month / "s.duckdb"), "--json"], capsys)
    found = json.loads(stdout)
    assert code == 1 and found["out"]["state"] == "mixed" and found["store"]["problems"] == []
    (out / "manifest.json").unlink()
    code, stdout, _ = run_cli(["verify", "--out", str(out)], capsys)
    assert code == 1 and "absent output set" in stdout


def test_two_runs_on_one_out_at_once_never_leave_a_mixed_set(month):
    """Two real processes, two stores, one OUT: a refused second writer or two whole sets in turn."""
    procs = [subprocess.Popen([sys.executable, "-m", "recon", "run", str(month / "in"), "--out", str(month / "out"),
                               "--db", str(month / f"s{i}.duckdb")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for i in (1, 2)]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    codes = sorted(code for code, _ in results)
    assert all("Traceback" not in err for _, err in results)
    # one finished (incomplete: one platform file), the other finished too or was refused
    assert 4 in codes and set(codes) <= {2, 4}, codes
    if 2 in codes:
        assert any("is writing this output folder" in err for _, err in results)
    assert outputs.verify_set(month / "out")["state"] == "whole"
