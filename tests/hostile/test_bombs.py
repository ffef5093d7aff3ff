"""Decompression bombs: refused while they unpack, with the member, the size and the limit named."""

from __future__ import annotations

import pytest

from tests.hostile.conftest import recon


@pytest.mark.parametrize("name,where", [
    ("gzip.csv.gz", "gzip.csv.gz (gzip)"),
    ("zip.zip", "member a.csv of zip.zip"),
    ("lying.zip", "member a.csv of lying.zip"),
    ("nested.zip", "member a.csv of nested.zip/inner.zip"),
    ("sheet.xlsx", "workbook part xl/worksheets/sheet1.xml of sheet.xlsx"),
])
def test_a_bomb_is_refused_as_it_unpacks(bombs, name, where):
    ran = recon("sniff", bombs[name])
    assert ran.code == 2, ran.text
    assert where in ran.text and "decompression bomb" in ran.text, ran.text
    assert "--limit ratio=" in ran.text, "the message says which limit to raise"


def test_layers_each_under_the_ratio_are_counted_together(bombs):
    ran = recon("sniff", bombs["compound.zip"])
    assert ran.code == 2, ran.text
    assert "member a.csv of compound.zip/inner.zip" in ran.text and "over all its layers" in ran.text, ran.text


def test_the_limits_are_the_clerks_to_set(bombs):
    ran = recon("sniff", bombs["gzip.csv.gz"], "--limit", "ratio=100000", "--limit", "unpacked=20MB")
    assert ran.code == 2 and "more than 20 MB unpacked in all" in ran.text, ran.text
    assert "--limit unpacked=40MB" in ran.text
    bad = recon("sniff", bombs["gzip.csv.gz"], "--limit", "ratio=lots")
    assert bad.code == 2 and "--limit 'ratio=lots'" in bad.text and "whole number" in bad.text, bad.text


def test_archives_nested_without_end_are_refused():
    import io
    import zipfile

    from recon.errors import InputError
    from recon.io import containers

    data = b"a,b\n1,2\n"
    for i in range(10):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(f"l{i}.zip" if i else "a.csv", data)
        data = buf.getvalue()
    with pytest.raises(InputError, match="nested more than 8 deep"):
        containers.open_parts(data, "deep.zip")


def test_a_zip_listing_too_many_entries_is_refused_before_it_is_listed(tmp_path):
    from tests.hostile import build

    path = tmp_path / "many.zip"
    path.write_bytes(build.zip_bytes([build.stored(f"{i}.csv", b"") for i in range(20_000)]))
    ran = recon("sniff", path)
    assert ran.code == 2 and "20,000 entries" in ran.text, ran.text
