"""The CLI surface: every command documented, user errors without tracebacks, import/sniff behaviour."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from recon.cli import cli, main

ROOT = Path(__file__).parent.parent
FIXTURES = Path(__file__).parent / "fixtures"


def run_cli(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


def test_every_command_has_help_with_example_and_is_in_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert cli.commands, "no commands registered"
    for name, cmd in cli.commands.items():
        assert cmd.help and "Example:" in cmd.help, f"`recon {name} --help` needs an Example: block"
        assert f"recon {name}" in readme, f"README does not mention `recon {name}`"


def test_help_exits_zero(capsys):
    code, out, _ = run_cli(["--help"], capsys)
    assert code == 0 and "run" in out and "sniff" in out


def test_formats_lists_builtin_profiles(capsys):
    code, out, _ = run_cli(["formats"], capsys)
    assert code == 0
    assert "alipay.trade_detail" in out


def test_unknown_format_is_usage_error(tmp_path, capsys):
    code, _, err = run_cli(["sniff", str(FIXTURES / "alipay_trade_detail.csv"), "--format", "nope"], capsys)
    assert code == 2 and "unknown format 'nope'" in err and "Traceback" not in err


def test_sniff_reports_without_loading(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli(["sniff", str(FIXTURES / "alipay_trade_detail.csv"), "--json"], capsys)
    assert code == 0
    rep = json.loads(out)
    assert rep["formats"] == ["alipay.trade_detail"] and rep["encoding"] == "gb18030"
    assert rep["data_lines"] == 3 and rep["quarantine"] == []
    assert not (tmp_path / "recon.duckdb").exists(), "sniff must not create or touch a store"


def test_sniff_unrecognised_file_names_formats_tried(tmp_path, capsys):
    f = tmp_path / "notes.csv"
    f.write_text("a,b,c\n1,2,3\n", encoding="utf-8")
    code, _, err = run_cli(["sniff", str(f)], capsys)
    assert code == 2
    assert "no known format recognised" in err and "alipay.trade_detail" in err


def test_import_twice_is_a_no_op(tmp_path, capsys):
    db = tmp_path / "s.duckdb"
    src = tmp_path / "a.csv"
    shutil.copy(FIXTURES / "alipay_trade_detail.csv", src)
    code, out, _ = run_cli(["import", str(src), "--db", str(db)], capsys)
    assert code == 0 and "loaded 3" in out
    code, out, _ = run_cli(["import", str(src), "--db", str(db)], capsys)
    assert code == 0 and "already loaded" in out
    import duckdb

    con = duckdb.connect(str(db))
    assert con.execute("SELECT count(*) FROM platform_line").fetchone()[0] == 3
    assert con.execute("SELECT count(*) FROM source_file").fetchone()[0] == 1


def test_import_of_unknown_file_exits_2(tmp_path, capsys):
    f = tmp_path / "x.txt"
    f.write_text("hello\n", encoding="utf-8")
    code, _, err = run_cli(["import", str(f), "--db", str(tmp_path / "s.duckdb")], capsys)
    assert code == 2 and "no known format recognised" in err


def test_missing_input_is_click_usage_error(tmp_path, capsys):
    code, _, err = run_cli(["run", str(tmp_path / "missing"), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "does not exist" in err


def test_sample_command_writes_the_shipped_sample_data(tmp_path, capsys):
    """`recon sample` with its defaults reproduces sample_data/ byte for byte (so the shipped month is current)."""
    code, out, _ = run_cli(["sample", "--out", str(tmp_path / "s")], capsys)
    assert code == 0 and "wrote" in out
    shipped = ROOT / "sample_data"
    made = sorted(p.relative_to(tmp_path / "s") for p in (tmp_path / "s").rglob("*") if p.is_file())
    have = sorted(p.relative_to(shipped) for p in shipped.rglob("*") if p.is_file())
    assert made == have
    for rel in made:
        assert (tmp_path / "s" / rel).read_bytes() == (shipped / rel).read_bytes(), (
            f"sample_data/{rel} is stale: regenerate with `recon sample --out sample_data`")


def test_packaged_defaults_are_found():
    from recon import resources

    assert (resources.rules_dir() / "default.yaml").is_file()
    assert (resources.rules_dir() / "channels.yaml").is_file()
    assert resources.dictionaries_dir().is_dir() and resources.reports_dir().is_dir()
    assert any(resources.profiles_dir().glob("*.yaml"))


def test_out_of_memory_says_what_to_change(tmp_path, capsys, monkeypatch):
    import duckdb

    from recon import api

    def oom(cfg, progress=None, on_file=None):
        raise duckdb.OutOfMemoryException("Out of Memory Error: could not allocate block of size 256.0 KiB")
    monkeypatch.setattr(api, "run", oom)
    code, out, err = run_cli(["run", str(FIXTURES), "--out", str(tmp_path / "o"), "--db", str(tmp_path / "s.duckdb"),
                              "--memory-limit", "1GB"], capsys)
    assert code == 2 and out == "", "a resource limit, not a bug: exit 2"
    assert "ran out of memory" in err and "Raise --memory-limit" in err and "Traceback" not in err
