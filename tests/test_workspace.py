"""recon.yaml and RECON_DB: one place for the store and the default rules (flag > RECON_DB > recon.yaml)."""

import json
import shutil
from pathlib import Path

import pytest

from conftest import run_cli
from recon.resources import rules_dir

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.delenv("RECON_DB", raising=False)
    (tmp_path / "in").mkdir()
    shutil.copy(FIXTURES / "alipay_trade_detail.csv", tmp_path / "in" / "trade.csv")
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "mine.yaml").write_bytes((rules_dir() / "default.yaml").read_bytes())
    (tmp_path / "work" / "deeper").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "work" / "deeper")
    return tmp_path


def test_recon_yaml_in_a_parent_sets_the_store_and_the_rules(folder, capsys):
    (folder / "recon.yaml").write_text("version: 1\ndb: close.duckdb\nrules: rules/mine.yaml\n", encoding="utf-8")
    code, _, err = run_cli(["run", str(folder / "in"), "--out", str(folder / "out"), "--no-reports"], capsys)
    assert code == 4, err  # one platform file: a finished, incomplete run
    assert (folder / "close.duckdb").is_file() and not Path("recon.duckdb").exists()
    manifest = json.loads((folder / "out" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["rules"]["file"] == "mine.yaml"
    code, out, _ = run_cli(["runs"], capsys)  # a read-only command finds the same store
    assert code == 0 and manifest["run_id"] in out


def test_recon_db_wins_over_recon_yaml_and_a_flag_wins_over_both(folder, capsys, monkeypatch):
    (folder / "recon.yaml").write_text("version: 1\ndb: close.duckdb\n", encoding="utf-8")
    monkeypatch.setenv("RECON_DB", str(folder / "env.duckdb"))
    run_cli(["run", str(folder / "in"), "--out", str(folder / "out"), "--no-reports"], capsys)
    assert (folder / "env.duckdb").is_file() and not (folder / "close.duckdb").exists()
    run_cli(["run", str(folder / "in"), "--out", str(folder / "out"), "--no-reports",
             "--db", str(folder / "flag.duckdb")], capsys)
    assert (folder / "flag.duckdb").is_file() and not (folder / "close.duckdb").exists()


def test_a_bad_recon_yaml_lists_every_problem_with_its_line(folder, capsys):
    (folder / "recon.yaml").write_text("version: 2\ndb: close.duckdb\nrulez: x.yaml\nfees: nowhere.yaml\n"
                                       "dictionaries: one.yaml\n", encoding="utf-8")
    code, _, err = run_cli(["runs"], capsys)
    assert code == 2 and "Traceback" not in err
    for expected in ("recon.yaml:1: version: expected 1", "recon.yaml:3: unknown key 'rulez'",
                     "recon.yaml:4: fees: no such file", "recon.yaml:5: dictionaries: expected a list"):
        assert expected in err, err
