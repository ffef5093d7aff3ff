"""ISO 20022 CAMT.053 statements (formats notes §4.2) through ``import_file`` with every built-in
profile, as the CLI does: one line per ``Ntry`` (source_line = its index in the document), Amt
signed by CdtDbtInd, times converted to the Asia/Shanghai wall clock, OPBD + entries = CLBD.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest

from conftest import FIXTURES, do_import, raw_of, rows, write
from recon.errors import InputError
from recon.io.parsers import camt053

CAMT = FIXTURES / "bank_camt053.xml"
COLS = ("source_line, bank_code, account, currency, booking_date, value_date, txn_time, amount, line_type, "
        "counterparty_name, counterparty_account, summary, bank_ref, customer_ref, reversal_flag, txn_type")


def golden(con):
    return [tuple(r.values()) for r in rows(con, "bank_line", COLS)]


def proofs_of(report):
    return [(p["proof"], p["passed"]) for part in report.parts for p in part.proofs]


def quarantine(con):
    return [tuple(r.values()) for r in rows(con, "quarantine", "source_line, column_name, reason")]


def test_golden_rows_and_statement_values(con, profiles):
    rep = do_import(con, CAMT, profiles)
    assert rep.formats == ["bank.camt053"] and rep.container == "xml"
    assert golden(con) == [
        # 18:30Z booked = 02:30 next day in Shanghai, so the booking date moves to 04-03
        (1, "HSBCHKHHHKH", "801012345678", "USD", dt.date(2026, 4, 3), dt.date(2026, 4, 3),
         dt.datetime(2026, 4, 3, 2, 30), D("2500.00"), "bank_credit", "Example Retail Pte Ltd",
         "GB33BUKB20201555555555", "INVOICE 2026-0402", "HK2604020001", "PO-88120-0402", None, "PMNT/RCDT/XBCT"),
        # a date without a time stays a date; NOTPROVIDED is no reference; the creditor is the counterparty
        (2, "HSBCHKHHHKH", "801012345678", "USD", dt.date(2026, 4, 10), dt.date(2026, 4, 10), None,
         D("-126.55"), "bank_debit", "Shipping Agent Co", "600112233", "FREIGHT APR", "HK2604100007", None,
         None, "PMNT/ICDT/ESCT"),
        # batch booking: one line for the one debit of 500.00, not two transaction lines
        (3, "HSBCHKHHHKH", "801012345678", "USD", dt.date(2026, 4, 20), dt.date(2026, 4, 20),
         dt.datetime(2026, 4, 20, 15, 0), D("-500.00"), "bank_debit", None, None, "BATCH PAYROLL APR 2 ITEMS",
         "HK2604200003", None, None, "PMNT/ICDT/BOOK"),
    ]
    values = rep.parts[0].values
    assert values["opening_balance"] == "10000.00" and values["closing_balance"] == "11873.45"
    assert (values["account"], values["currency"]) == ("801012345678", "USD")
    assert proofs_of(rep) == [("OPBD+entries=CLBD", True)]
    period = con.execute("SELECT period_start, period_end, account FROM source_file").fetchone()
    assert period == (dt.datetime(2026, 4, 1), dt.datetime(2026, 5, 1), "801012345678")
    raw = raw_of(con, "bank_line", "source_line = 3")[0]
    assert raw[camt053.HEADER.index("TxCount")] == "2"


def test_tampered_closing_balance_fails_the_proof(con, profiles, tmp_path):
    text = CAMT.read_text(encoding="utf-8").replace("<Amt Ccy=\"USD\">11873.45</Amt>",
                                                    "<Amt Ccy=\"USD\">11973.45</Amt>")
    rep = do_import(con, write(tmp_path, "tampered.xml", text), profiles)
    proof = rep.parts[0].proofs[0]
    assert not rep.proofs_passed
    assert (proof["expected"], proof["actual"]) == ("11973.45", "11873.45")


def test_malformed_amount_is_quarantined_with_entry_and_column(con, profiles, tmp_path):
    text = CAMT.read_text(encoding="utf-8").replace(">126.55<", ">126,55x<")
    rep = do_import(con, write(tmp_path, "bad.xml", text), profiles)
    assert rep.totals() == {"data_lines": 3, "loaded": 2, "duplicates": 0, "quarantined": 1}
    (line, column, reason), = quarantine(con)
    assert (line, column) == (2, "Amt") and "126,55x" in reason
    assert [r["source_line"] for r in rows(con, "bank_line", "source_line")] == [1, 3]
    assert not rep.proofs_passed  # a missing entry cannot reconcile opening to closing


def test_reimport_is_a_noop_and_overlapping_statement_counts_duplicates(con, profiles, tmp_path):
    do_import(con, CAMT, profiles)
    again = do_import(con, CAMT, profiles)
    assert again.status == "already_loaded"
    assert con.execute("SELECT count(*) FROM bank_line").fetchone()[0] == 3
    # a re-download with a new message id and one more entry: the three known entries are duplicates
    extra = """<Ntry><Amt Ccy="USD">1000.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>
      <BookgDt><Dt>2026-04-30</Dt></BookgDt><AcctSvcrRef>HK2604300001</AcctSvcrRef></Ntry>
    </Stmt>"""
    text = (CAMT.read_text(encoding="utf-8").replace("STMT20260430HK0001", "STMT20260501HK0009")
            .replace("11873.45", "12873.45").replace("</Stmt>", extra))
    rep = do_import(con, write(tmp_path, "redownload.xml", text), profiles)
    assert (rep.totals()["loaded"], rep.totals()["duplicates"]) == (1, 3)
    assert rep.proofs_passed
    assert con.execute("SELECT sum(amount) FROM bank_line").fetchone()[0] == D("2873.45")


def _doc(ns: str, statements: str, prefix: str = "") -> str:
    p = f"{prefix}:" if prefix else ""
    xmlns = f'xmlns:{prefix}="{ns}"' if prefix else f'xmlns="{ns}"'
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<{p}Document {xmlns}><{p}BkToCstmrStmt>'
            f'<{p}GrpHdr><{p}MsgId>M1</{p}MsgId></{p}GrpHdr>{statements.replace("<", "<" + p).replace("<" + p + "/", "</" + p)}'
            f'</{p}BkToCstmrStmt></{p}Document>\n')


def _stmt(sid, opening, closing, entries, iban="DE89370400440532013000"):
    bal = ("<Bal><Tp><CdOrPrtry><Cd>{c}</Cd></CdOrPrtry></Tp><Amt Ccy=\"EUR\">{a}</Amt>"
           "<CdtDbtInd>{i}</CdtDbtInd><Dt><Dt>2026-04-01</Dt></Dt></Bal>")

    def b(code, amount):
        return bal.format(c=code, a=amount.lstrip("-"), i="DBIT" if amount.startswith("-") else "CRDT")

    return (f"<Stmt><Id>{sid}</Id><Acct><Id><IBAN>{iban}</IBAN></Id><Ccy>EUR</Ccy></Acct>"
            f"{b('OPBD', opening)}{b('CLBD', closing)}{entries}</Stmt>")


def _entry(amount, ind, ref="", name="", sts="<Sts>BOOK</Sts>", day="2026-04-01"):
    refs = f"<AcctSvcrRef>{ref}</AcctSvcrRef>" if ref else ""
    party = (f"<NtryDtls><TxDtls><RltdPties><Dbtr><Nm>{name}</Nm></Dbtr></RltdPties></TxDtls></NtryDtls>"
             if name else "")
    return (f"<Ntry><Amt Ccy=\"EUR\">{amount}</Amt><CdtDbtInd>{ind}</CdtDbtInd>{sts}"
            f"<BookgDt><Dt>{day}</Dt></BookgDt>{refs}{party}</Ntry>")


@pytest.mark.parametrize("ns, prefix", [
    ("urn:iso:std:iso:20022:tech:xsd:camt.053.001.02", ""),
    ("urn:iso:std:iso:20022:tech:xsd:camt.053.001.13", "c"),
])
def test_any_version_and_prefix_multi_statement_proofs_per_statement(con, profiles, tmp_path, ns, prefix):
    s1 = _stmt("S1", "-100.00", "50.00", _entry("200.00", "CRDT", "R1", "Old Style Debtor")
               + _entry("50.00", "DBIT", "R2"))
    s2 = _stmt("S2", "50.00", "20.00", _entry("30.00", "DBIT", "R3"))
    rep = do_import(con, write(tmp_path, "multi.xml", _doc(ns, s1 + s2, prefix)), profiles)
    assert rep.formats == ["bank.camt053"]
    got = [(r["source_line"], r["account"], r["amount"], r["counterparty_name"], r["bank_ref"])
           for r in rows(con, "bank_line", "source_line, account, amount, counterparty_name, bank_ref")]
    assert got == [(1, "DE89370400440532013000", D("200.00"), "Old Style Debtor", "R1"),
                   (2, "DE89370400440532013000", D("-50.00"), None, "R2"),
                   (3, "DE89370400440532013000", D("-30.00"), None, "R3")]
    # a DBIT opening balance is negative: -100 + 200 - 50 = 50; then 50 - 30 = 20
    assert proofs_of(rep) == [("OPBD+entries=CLBD[S1]", True), ("OPBD+entries=CLBD[S2]", True)]


def test_one_statement_of_several_failing_is_named(con, profiles, tmp_path):
    s1 = _stmt("S1", "0.00", "10.00", _entry("10.00", "CRDT", "R1"))
    s2 = _stmt("S2", "10.00", "99.00", _entry("5.00", "CRDT", "R2"))
    ns = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"
    rep = do_import(con, write(tmp_path, "multi.xml", _doc(ns, s1 + s2)), profiles)
    assert proofs_of(rep) == [("OPBD+entries=CLBD[S1]", True), ("OPBD+entries=CLBD[S2]", False)]


def test_entries_without_reference_use_the_fallback_key_as_a_multiset(con, profiles, tmp_path):
    ns = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"
    same = _entry("7.00", "DBIT")  # two identical fees on one day, no AcctSvcrRef
    doc = _doc(ns, _stmt("S1", "20.00", "6.00", same + same))
    rep = do_import(con, write(tmp_path, "a.xml", doc), profiles)
    assert rep.totals()["loaded"] == 2 and rep.proofs_passed
    rep = do_import(con, write(tmp_path, "b.xml", doc.replace("<MsgId>M1", "<MsgId>M2")), profiles)
    assert (rep.totals()["loaded"], rep.totals()["duplicates"]) == (0, 2)


def test_doctype_and_entities_are_refused(con, profiles, tmp_path):
    ns = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"
    doc = _doc(ns, _stmt("S1", "0.00", "0.00", "")).replace(
        "?>\n", '?>\n<!DOCTYPE Document [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n')
    with pytest.raises(InputError, match="DTD"):
        do_import(con, write(tmp_path, "evil.xml", doc), profiles)
    assert con.execute("SELECT count(*) FROM source_file").fetchone()[0] == 0


def test_sniff_only_takes_bank_to_customer_statements():
    assert camt053.sniff(CAMT.read_bytes())
    assert not camt053.sniff(b'<?xml version="1.0"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:'
                             b'pain.001.001.03"><CstmrCdtTrfInitn/></Document>')
    assert not camt053.sniff(b'<?xml version="1.0"?><OFX><BANKMSGSRSV1/></OFX>')
