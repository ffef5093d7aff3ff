"""SWIFT MT940 statements (formats notes §4.2) through ``import_file`` with every built-in profile:
one line per ``:61:`` whose source_line is the physical line of the tag, C/RD money in and D/RC
money out (RD/RC kept as reversal_flag), structured ``:86:`` sub-fields, and per-statement
``:60F:`` + entries = ``:62F:`` proofs. The fixture is a CRLF file of two statements, each in its
SWIFT envelope, as a bank's host-to-host channel delivers it.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

from conftest import FIXTURES, do_import, rows, write
from recon.io.parsers import mt940 as mt940_parser

STA = FIXTURES / "bank_mt940.sta"
COLS = ("source_line, bank_code, account, currency, booking_date, value_date, amount, line_type, "
        "counterparty_name, counterparty_account, summary, bank_ref, customer_ref, reversal_flag, txn_type")
ACCOUNT = "4436012345678901"


def golden(con):
    return [tuple(r.values()) for r in rows(con, "bank_line", COLS)]


def proofs_of(report):
    return [(p["proof"], p["passed"]) for part in report.parts for p in part.proofs]


def test_golden_rows_with_physical_lines_of_each_61(con, profiles):
    rep = do_import(con, STA, profiles)
    assert rep.formats == ["bank.mt940"] and rep.container == "mt940"
    bic = "BKCHCNBJ300"  # from {1:F01BKCHCNBJA300…}: BIC8 + branch, the logical-terminal letter dropped
    assert golden(con) == [
        (6, bic, ACCOUNT, "CNY", dt.date(2026, 4, 2), dt.date(2026, 4, 2), D("38650.00"), "bank_credit",
         "SHANGHAI EXAMPLE TRADING CO LTD", "CN1234567890123456", "PAYMENT FOR ORDER 20260402-0017",
         "BOC2604020001", "SO-20260402-0017", None, "NTRF"),
        (9, bic, ACCOUNT, "CNY", dt.date(2026, 4, 2), dt.date(2026, 4, 2), D("-1250.50"), "bank_debit",
         None, None, "BANK CHARGES MARCH 2026", "BOC2604020002", None, None, "NMSC"),
        # RD = reversal of a debit: money back in; entry date 0403 is the booking date
        (11, bic, ACCOUNT, "CNY", dt.date(2026, 4, 3), dt.date(2026, 4, 2), D("80.00"), "bank_credit",
         None, None, "REVERSAL OF FEE 2604010009", "BOC2604020003", None, "RD", "NCHG"),
        # RC = reversal of a credit: money out
        (21, bic, ACCOUNT, "CNY", dt.date(2026, 4, 3), dt.date(2026, 4, 3), D("-500.00"), "bank_debit",
         "NINGBO SAMPLE CO", None, "RETURN OF CREDIT", "BOC2604030001", "SO-20260330-0008", "RC", "NTRF"),
        (23, bic, ACCOUNT, "CNY", dt.date(2026, 4, 3), dt.date(2026, 4, 3), D("-20000.00"), "bank_debit",
         "EMPLOYEES", None, "SALARY APRIL", "BOC2604030002", "PAYROLL-2026-04", None, "NTRF"),
    ]
    physical = STA.read_bytes().decode("ascii").split("\r\n")
    for line in (6, 9, 11, 21, 23):
        assert physical[line - 1].startswith(":61:")
    assert proofs_of(rep) == [("60F+entries=62F[STMT260402 00092]", True),
                              ("60F+entries=62F[STMT260403 00093]", True)]
    period = con.execute("SELECT period_start, period_end, account FROM source_file").fetchone()
    assert period == (dt.datetime(2026, 4, 1), dt.datetime(2026, 4, 4), ACCOUNT)


def test_tampered_closing_balance_fails_that_statement(con, profiles, tmp_path):
    data = STA.read_bytes().replace(b":62F:C260403CNY141979,50", b":62F:C260403CNY141979,05")
    rep = do_import(con, write(tmp_path, "tampered.sta", data), profiles)
    assert proofs_of(rep) == [("60F+entries=62F[STMT260402 00092]", True),
                              ("60F+entries=62F[STMT260403 00093]", False)]
    failed = rep.parts[0].proofs[1]
    assert (failed["expected"], failed["actual"]) == ("141979.05", "141979.50")


def test_malformed_amount_is_quarantined_and_its_86_does_not_leak(con, profiles, tmp_path):
    data = STA.read_bytes().replace(b"D1250,50NMSC", b"D1250.50NMSC")  # a dot where SWIFT has a comma
    rep = do_import(con, write(tmp_path, "bad.sta", data), profiles)
    assert rep.totals() == {"data_lines": 5, "loaded": 4, "duplicates": 0, "quarantined": 1}
    q = rows(con, "quarantine", "source_line, column_name, reason, raw")
    assert [(r["source_line"], r["column_name"]) for r in q] == [(9, "Amount")]
    assert "1250.50" in q[0]["reason"] and q[0]["raw"] == ["2604020402D1250.50NMSCNONREF//BOC2604020002"]
    # the library alone would glue the bad entry's :86: onto the previous entry; it must not
    first = rows(con, "bank_line", "purpose", "source_line = 6")[0]["purpose"]
    assert "BANK CHARGES" not in first
    assert [r["source_line"] for r in rows(con, "bank_line", "source_line")] == [6, 11, 21, 23]
    assert proofs_of(rep)[0] == ("60F+entries=62F[STMT260402 00092]", False)


def test_unreadable_statement_line_is_quarantined(con, profiles, tmp_path):
    data = STA.read_bytes().replace(b":61:2604030403D20000,00NTRF", b":61:26O4030403D20000,00NTRF")
    rep = do_import(con, write(tmp_path, "bad.sta", data), profiles)
    q = rows(con, "quarantine", "source_line, column_name, reason")
    assert [(r["source_line"], r["column_name"]) for r in q] == [(23, ":61:")]
    assert "layout" in q[0]["reason"] and rep.totals()["loaded"] == 4


def test_reimport_is_a_noop_and_overlapping_download_counts_duplicates(con, profiles, tmp_path):
    do_import(con, STA, profiles)
    assert do_import(con, STA, profiles).status == "already_loaded"
    # the second day's statement again, downloaded on its own (LF line ends, no envelope)
    text = STA.read_bytes().decode("ascii").split("\r\n")
    second = "\n".join(x for x in text[text.index(":20:STMT260403"):] if not x.startswith(("-}", "{")))
    rep = do_import(con, write(tmp_path, "day2.sta", second + "\n"), profiles)
    assert rep.formats == ["bank.mt940"]
    assert (rep.totals()["loaded"], rep.totals()["duplicates"]) == (0, 2)
    assert rep.proofs_passed
    # without the envelope the bank code comes from the :25: BIC/account form
    assert rep.parts[0].values["account"] == ACCOUNT
    assert con.execute("SELECT count(*) FROM bank_line").fetchone()[0] == 5


def test_intermediate_balances_free_text_and_no_bank_reference(con, profiles, tmp_path):
    sta = ("\ufeff:20:940-0412\n:25:6222001234\n:28C:7/2\n:60M:D260412EUR100,00\n"
           ":61:260412C250,00NTRFNONREF\n:86:Transfer from customer\nfor order 7781\n"
           ":61:260412C250,00NTRFNONREF\n:86:Transfer from customer\nfor order 7781\n"
           ":62M:C260412EUR400,00\n")
    rep = do_import(con, write(tmp_path, "intraday.sta", sta), profiles)
    got = rows(con, "bank_line", "source_line, account, amount, summary, bank_ref, customer_ref")
    assert [(r["source_line"], r["account"], r["amount"], r["summary"], r["bank_ref"]) for r in got] == [
        (5, "6222001234", D("250.00"), "Transfer from customer for order 7781", None),
        (8, "6222001234", D("250.00"), "Transfer from customer for order 7781", None),
    ]
    assert all(r["customer_ref"] is None for r in got)  # NONREF is no reference
    assert rep.totals()["loaded"] == 2  # two identical entries without reference: a multiset
    assert proofs_of(rep) == [("60F+entries=62F", True)]  # debit opening -100 + 500 = 400


def test_structured_86_subfields():
    text = "/EREF/E2E-1/NAME/ACME/REMI/USTD//INV 1/2026/IBAN/NL91ABNA0417164300"
    assert mt940_parser._details(text) == {"EREF": "E2E-1", "NAME": "ACME", "REMI": "USTD//INV 1/2026",
                                           "IBAN": "NL91ABNA0417164300"}
    assert mt940_parser._details("plain text / with a slash") == {}
