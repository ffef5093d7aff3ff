"""Reading a text file in chunks gives exactly the import that reading it whole gave.

The chunk sizes are shrunk to a few bytes, so every line of the fixtures (and a CRLF, a multi-byte
character, a quoted newline) meets a chunk edge: the stores must be equal to those of the normal
chunk size, on both readers, line positions (``rec_offset``/``rec_length``) and raw records included.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from recon import store
from recon.io import containers, fastcsv, records, textsource
from recon.io.load import import_file
from tests.test_fastcsv import FIXTURES, TEXT_SUFFIXES, snapshot

FILES = sorted(p for p in FIXTURES.iterdir() if p.suffix in TEXT_SUFFIXES)


def _store(paths, profiles):
    con = store.connect(":memory:")
    for p in paths:
        import_file(con, p, profiles)
    con.execute("CREATE OR REPLACE TEMP TABLE ids AS SELECT line_id FROM erp_line UNION ALL "
                "SELECT line_id FROM platform_line UNION ALL SELECT line_id FROM bank_line")
    records.raw_cells(con, "ids")
    raw = sorted(con.execute("SELECT line_id, raw FROM evidence_raw").fetchall())
    return snapshot(con), raw


@pytest.mark.parametrize("fast", [True, False])
def test_tiny_chunks_import_the_same(profiles, monkeypatch, tmp_path, fast):
    crlf = tmp_path / "应收单_crlf.csv"  # CRLF line ends, GB18030
    text, _ = containers.decode((FIXTURES / "erp_kingdee_ar.csv").read_bytes())
    crlf.write_bytes(text.replace("\n", "\r\n").encode("gb18030"))
    paths = FILES + [crlf]
    monkeypatch.setattr(fastcsv, "ENABLED", fast)
    whole = _store(paths, profiles)
    monkeypatch.setattr(textsource, "CHUNK", 7)
    monkeypatch.setattr(textsource, "FIRST", 5)
    tiny = _store(paths, profiles)
    assert tiny == whole
    assert whole[1]  # raw records were read back


def test_a_text_source_reads_every_line(tmp_path, monkeypatch):
    monkeypatch.setattr(textsource, "CHUNK", 4)
    monkeypatch.setattr(textsource, "FIRST", 3)
    text = "单据,金额\r\n甲,1\r\n乙,2\n丙,3"
    path = tmp_path / "t.csv"
    path.write_bytes(text.encode("gb18030"))
    src = textsource.FileScan(path).text()
    try:
        assert src.encoding == "gb18030" and not src.whole and src.lines == 4
        assert "".join(src.chunks()) == text
        import pyarrow.parquet as pq
        spans = pq.read_table(src.spans).to_pylist()
        data = path.read_bytes()
        assert [data[s["start"]:s["stop"]].decode("gb18030") for s in spans] == text.replace("\r\n", "\n").split("\n")
    finally:
        src.close()
