"""The small defects: FIFOs never opened, control characters never reach the terminal, temp paths quoted."""

from __future__ import annotations

import os

import pytest

from recon.sql.quote import quote_literal
from tests.hostile.conftest import alipay_csv, alipay_row, recon


def test_sniff_on_a_fifo_says_so_instead_of_hanging(tmp_path):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    ran = recon("sniff", fifo, timeout=60)
    assert ran.code == 2 and "not a regular file" in ran.text and "pipe.csv" in ran.text, ran.text


def test_escape_sequences_from_names_and_cells_are_shown_escaped(tmp_path):
    name = "a\x1b]0;PWN\x07\u202e.csv"
    rows = [alipay_row("2026010122001458860515315453", "M20260101001", "x"),
            alipay_row("20260101220014588605153154\x1b[2J", "M\x9b31m2", "y", "abc\x1b]8;;x\x07")]
    (tmp_path / name).write_text(alipay_csv(rows), encoding="utf-8")
    ran = recon("sniff", tmp_path / name)
    raw = ran.out + ran.err
    for c in ("\x1b", "\x07", "\x9b", "\u202e"):
        assert c.encode() not in raw, (c, raw)
    assert "a\\u001b]0;PWN\\u0007\\u202e.csv" in ran.text, ran.text
    assert ran.code == 1  # the bad amount is quarantined


@pytest.mark.parametrize("text,sql", [("/tmp/it's/x.csv", "'/tmp/it''s/x.csv'"), ("plain", "'plain'")])
def test_quote_literal(text, sql):
    assert quote_literal(text) == sql


def test_quote_literal_refuses_nul():
    with pytest.raises(ValueError):
        quote_literal("a\x00b")
