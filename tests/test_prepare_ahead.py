"""Files are read and detected one ahead, in a thread, while the store loads the current one.

What must hold: the store ends exactly as a one-file-at-a-time import leaves it, files keep their
order, a file that cannot be read is still reported with the others, and no written-out data region
outlives the import (not even when it fails half way).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from recon import api, store
from recon.errors import InputError
from recon.io import load

from conftest import raw_of

FIXTURES = Path(__file__).parent / "fixtures"
NAMES = ["alipay_fund_detail.csv", "tmall_fund_detail.csv", "erp_kingdee_ar.csv", "bank_mt940.sta",
         "wechatpay_trade_all.csv", "douyin_fund_flow.csv"]


@pytest.fixture
def own_tmp(tmp_path, monkeypatch):
    """Temp files of this test in a folder of its own, to count what is left there."""
    d = tmp_path / "tmp"
    d.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(d))
    return d


def _files(tmp_path):
    out = []
    for name in NAMES:
        shutil.copy(FIXTURES / name, tmp_path / name)
        out.append((tmp_path / name, name))
    return out


def _lines(con):
    cols = "source_name, source_line, line_id, natural_key, occurrence, rec_offset, rec_length"
    lines = con.execute(f"SELECT {cols} FROM platform_line UNION ALL SELECT {cols} FROM erp_line "
                        f"UNION ALL SELECT {cols} FROM bank_line ORDER BY ALL").fetchall()
    return lines, [raw_of(con, t) for t in ("platform_line", "erp_line", "bank_line")]


def test_ahead_gives_the_store_one_at_a_time_gives(tmp_path, profiles, own_tmp):
    files = _files(tmp_path)
    one = store.connect(":memory:")
    singly = [load.import_file(one, p, profiles, display=d) for p, d in files]
    ahead = store.connect(":memory:")
    reports, warnings, refused = api._import_all(ahead, files, profiles, None)
    assert refused == []
    assert [r.name for r in reports] == NAMES
    assert [r.totals() for r in reports] == [r.totals() for r in singly]
    assert [[p.reader for p in r.parts] for r in reports] == [[p.reader for p in r.parts] for r in singly]
    assert "duckdb" in {p.reader for r in reports for p in r.parts}
    assert _lines(ahead) == _lines(one) and _lines(one)[0]
    assert list(own_tmp.iterdir()) == []


def test_an_unreadable_file_is_reported_with_the_others_loaded(tmp_path, profiles, own_tmp):
    files = _files(tmp_path)
    files.insert(2, (tmp_path / "missing.csv", "missing.csv"))
    con = store.connect(":memory:")
    reports, warnings, refused = api._import_all(con, files, profiles, None)  # refused; the run goes on
    assert [r["path"] for r in refused] == ["missing.csv"] and "cannot read" in refused[0]["reason"]
    assert any(w.startswith("refused missing.csv") for w in warnings)
    loaded = {r[0] for r in con.execute("SELECT original_name FROM source_file").fetchall()}
    assert loaded == set(NAMES)
    assert list(own_tmp.iterdir()) == []


def test_a_failure_half_way_leaves_no_prepared_file_behind(tmp_path, profiles, own_tmp, monkeypatch):
    files = _files(tmp_path)
    real = load.import_file
    seen = []

    def failing(con, path, *a, **kw):
        seen.append(path.name)
        if len(seen) == 2:
            raise RuntimeError("the store went away")
        return real(con, path, *a, **kw)

    monkeypatch.setattr(api, "import_file", failing)
    with pytest.raises(RuntimeError):
        api._import_all(store.connect(":memory:"), files, profiles, None)
    assert seen == NAMES[:2]
    assert list(own_tmp.iterdir()) == []


def test_an_already_loaded_file_leaves_its_prepared_region_behind_not(tmp_path, profiles, own_tmp):
    files = _files(tmp_path)[:2]
    con = store.connect(":memory:")
    api._import_all(con, files, profiles, None)
    reports, _, _ = api._import_all(con, files, profiles, None)
    assert {r.status for r in reports} == {"already_loaded"}
    assert list(own_tmp.iterdir()) == []


def test_a_file_the_store_holds_is_hashed_not_decoded(tmp_path, profiles, own_tmp, monkeypatch):
    files = _files(tmp_path)
    con = store.connect(":memory:")
    api._import_all(con, files, profiles, None)
    opened = []
    real = load.containers.open_parts
    monkeypatch.setattr(load.containers, "open_parts", lambda data, name: opened.append(name) or real(data, name))
    reports, _, _ = api._import_all(con, files, profiles, None)
    assert {r.status for r in reports} == {"already_loaded"} and opened == []
    assert [r.totals() for r in reports] == [r.totals() for r in api._import_all(store.connect(":memory:"), files,
                                                                                   profiles, None)[0]]


def test_a_hashed_only_file_the_store_lacks_is_imported_whole(tmp_path, profiles, own_tmp):
    path, name = _files(tmp_path)[1]
    first = load.prepare_file(path, profiles, name)
    file_id = first.file_id
    first.close()
    prepared = load.prepare_file(path, profiles, name, known={file_id})
    assert prepared.hashed_only and prepared.parts == []
    con = store.connect(":memory:")
    rep = load.import_file(con, path, profiles, display=name, prepared=prepared)
    assert rep.status == "loaded" and rep.totals()["loaded"] > 0
    assert list(own_tmp.iterdir()) == []
