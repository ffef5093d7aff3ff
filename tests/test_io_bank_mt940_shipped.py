"""MT940 as banks ship it (issue 11 point 13): bank header lines before the first tag, a leading
SOH byte, SWIFT envelopes, a ``:28C:`` wrapped onto the next line, a ``:61:`` whose reference is
longer than 16 characters with a supplementary-details line (ASN/SNS), an amount without a decimal
comma, and a statement the library cannot parse, which is quarantined while the file's other
statements, and the run, go on. Statements written here in each bank's layout, our own accounts.
"""

from __future__ import annotations

import json
from decimal import Decimal as D

from click.testing import CliRunner

from conftest import do_import, rows, write
from recon.cli import cli

BODY = (":20:STMT0105\n:25:NL91ABNA0417164300\n:28C:5/1\n:60F:C260105EUR1000,00\n"
        ":61:2601050105D250,00NTRFNONREF//B6A05XM00J000023\n:86:/EREF/INV-77/NAME/ACME BV/REMI/Factuur 77\n"
        ":61:2601050105C80,50NTRFNONREF\n:86:Betaling order 7781\n:62F:C260105EUR830,50\n")


def amounts(con):
    return [r["amount"] for r in rows(con, "bank_line", "amount")]


def test_bank_header_lines_before_the_first_tag(con, profiles, tmp_path):
    for name, head in (("abn.sta", "ABNANL2A\n940\nABNANL2A\n"), ("rabo.swi", ":940:\n"),
                       ("ing.sta", "0000 01INGBNL2AXXXX00001\n0000 01INGBNL2AXXXX00001\n940 00\n"),
                       ("mbank.sta", "\x01\n")):
        con.execute("DELETE FROM bank_line")
        rep = do_import(con, write(tmp_path, name, head + BODY), profiles)
        assert rep.formats == ["bank.mt940"] and rep.container == "mt940", name
        assert rep.totals()["loaded"] == 2 and rep.proofs_passed, name
        assert amounts(con) == [D("-250.00"), D("80.50")], name


def test_envelope_wrapped_28c_and_long_reference_with_supplementary_line(con, profiles, tmp_path):
    sta = ("{1:F01ASNBNL21XXXX0000000000}{2:O940ASNBNL21XXXXN}{3:}{4:\r\n"
           ":20:0000000000\r\n:25:NL81ASNB9999999999\r\n:28C:0000\r\n0\r\n:60F:C260101EUR444,29\r\n"
           ":61:2601010101D65,00NOVBNL47INGB9999999999\r\nhr j de vries\r\n"
           ":86:NL47INGB9999999999 hr j de vries\r\n\r\nBetaling factuur 2026-001\r\n\r\n"
           ":61:2601010101C500NTRF29-07-2014 10:05//B4G29PGDCK1QFV3E\r\n:86:ORDERID 264267\r\n"
           ":62F:C260101EUR879,29\r\n-}{5:}\r\n")
    rep = do_import(con, write(tmp_path, "asn.txt", sta), profiles)
    assert rep.formats == ["bank.mt940"]
    assert rep.totals() == {"data_lines": 2, "loaded": 2, "duplicates": 0, "quarantined": 0}
    got = rows(con, "bank_line", "source_line, amount, customer_ref, bank_ref, bank_code")
    assert [(r["source_line"], r["amount"]) for r in got] == [(7, D("-65.00")), (13, D("500.00"))]
    assert got[0]["customer_ref"] == "NL47INGB9999999999"  # longer than SWIFT's 16, kept whole
    assert got[1]["bank_ref"] == "B4G29PGDCK1QFV3E" and got[0]["bank_code"] == "ASNBNL21"
    assert rep.proofs_passed and rep.parts[0].values["account"] == "NL81ASNB9999999999"


def test_an_amount_with_a_point_is_ambiguous_and_says_why(con, profiles, tmp_path):
    rep = do_import(con, write(tmp_path, "dot.sta", BODY.replace("C80,50NTRF", "C1.080NTRF")), profiles)
    assert (rep.totals()["loaded"], rep.totals()["quarantined"]) == (1, 1)
    (q,) = rows(con, "quarantine", "source_line, column_name, reason")
    assert (q["source_line"], q["column_name"]) == (7, "Amount")
    assert "'1.080'" in q["reason"] and "ambiguous" in q["reason"] and "thousands separator" in q["reason"]


def test_a_statement_the_library_cannot_parse_is_quarantined_and_the_others_load(con, profiles, tmp_path):
    broken = BODY.replace(":20:STMT0105", ":20:STMT0106").replace(":28C:5/1", ":28C:ABC/DEF")
    rep = do_import(con, write(tmp_path, "two.sta", BODY + broken), profiles)
    assert rep.totals() == {"data_lines": 4, "loaded": 2, "duplicates": 0, "quarantined": 2}
    q = rows(con, "quarantine", "source_line, column_name, reason")
    assert [r["source_line"] for r in q] == [14, 16]
    assert q[0]["reason"].startswith("MT940 statement at line 10: the MT940 library cannot read it (")
    assert "\n" not in q[0]["reason"] and "(?P<" not in q[0]["reason"]  # a sentence, not its regex
    assert [(p["proof"], p["passed"], p["detail"]) for p in rep.parts[0].proofs][1] == (
        "60F+entries=62F[line 10]", False, "the statement could not be read; its entries are quarantined")


def test_a_crashing_statement_never_stops_the_run(tmp_path):
    inbox = tmp_path / "in"
    broken = BODY.replace(":28C:5/1", ":28C:ABC/DEF")
    write(inbox, "bank.sta", broken)
    write(inbox, "bocom.csv", "序号,交易日期,交易时间,借贷,交易金额,余额,对方户名\n"
                              "1,2026-01-05,09:12:33,贷 Cr,100.00,100.00,张小明\n")
    res = CliRunner().invoke(cli, ["run", str(inbox), "--out", str(tmp_path / "out"), "--period", "2026-01",
                                   "--db", str(tmp_path / "s.duckdb"), "--no-reports", "--json"])
    # a verdict (incomplete: bank lines only, and the statement's proof fails), not 2 or 3
    assert res.exit_code == 4, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    codes = [r["code"] for r in manifest["verdict"]["reasons"]]
    assert "family_missing" in codes and codes[-1] == "quarantined_lines"
    files = {f["path"]: f["lines"] for f in manifest["inputs"]}
    assert files["bank.sta"] == {"data": 2, "loaded": 0, "duplicate": 0, "quarantined": 2}
    assert files["bocom.csv"]["loaded"] == 1


CAMT = """<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.04"><BkToCstmrStmt>
<GrpHdr><MsgId>M1</MsgId><CreDtTm>2026-01-11T08:00:00+02:00</CreDtTm></GrpHdr>
<Stmt><Id>S1</Id><CreDtTm>2026-01-11T08:00:00+02:00</CreDtTm>
<Acct><Id><IBAN>CH9300762011623852957</IBAN></Id><Ccy>CHF</Ccy></Acct>
<Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="CHF">100.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-01-01+02:00</Dt></Dt></Bal>
<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="CHF">75.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-01-10+02:00</Dt></Dt></Bal>
<Ntry><Amt Ccy="CHF">25.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts>BOOK</Sts>
<BookgDt><Dt>2026-01-10+02:00</Dt></BookgDt><ValDt><Dt>2026-01-10+02:00</Dt></ValDt><AcctSvcrRef>R1</AcctSvcrRef></Ntry>
<Ntry><Amt Ccy="CHF">0.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>
<BookgDt><DtTm>2026-01-10T23:30:00-01:00</DtTm></BookgDt><AcctSvcrRef>R2</AcctSvcrRef></Ntry>
</Stmt></BkToCstmrStmt></Document>
"""


def test_camt_dates_with_a_utc_offset(con, profiles, tmp_path):
    rep = do_import(con, write(tmp_path, "raiffeisen.xml", CAMT), profiles)
    assert rep.totals() == {"data_lines": 2, "loaded": 2, "duplicates": 0, "quarantined": 0}
    got = rows(con, "bank_line", "booking_date, value_date, txn_time, amount")
    assert str(got[0]["booking_date"]) == "2026-01-10" and str(got[0]["value_date"]) == "2026-01-10"
    assert str(got[1]["txn_time"]) == "2026-01-11 08:30:00"  # DtTm with an offset: Asia/Shanghai wall clock
    assert rep.proofs_passed


def test_camt_balances_in_another_currency_are_flagged(con, profiles, tmp_path):
    text = CAMT.replace('<Amt Ccy="CHF">75.00</Amt>', '<Amt Ccy="SEK">75.00</Amt>')
    rep = do_import(con, write(tmp_path, "mixed.xml", text), profiles)
    (proof,) = rep.parts[0].proofs
    assert "written in CHF and SEK but the account is in CHF" in proof["detail"]


def test_bank_reference_cut_by_a_line_break_is_joined(con, profiles, tmp_path):
    # ING in its envelope: the :61: bank reference continues on the next line, then /TRCD/ details
    sta = ("{1:F01INGBNL2ABXXX0000000000}\n{2:I940INGBNL2AXXXN}\n{4:\n:20:P260110000000001\n"
           ":25:NL77INGB0574908765EUR\n:28C:0000\n0\n:60F:C260109EUR662,23\n"
           ":61:2601100110C1,56NTRFEREF//00000000001\n005\n/TRCD/00100/\n"
           ":86:/EREF/EV12341REP1231456T1234//CNTP/NL32INGB0000012345/INGBNL2A/ING BANK NV///REMI/USTD//EV1/\n"
           ":62F:C260110EUR663,79\n-}\n")
    rep = do_import(con, write(tmp_path, "ing.940", sta), profiles)
    assert rep.totals()["loaded"] == 1 and rep.proofs_passed
    (got,) = rows(con, "bank_line", "source_line, amount, bank_ref, customer_ref, bank_code")
    assert got == {"source_line": 9, "amount": D("1.56"), "bank_ref": "00000000001005",
                   "customer_ref": "EV12341REP1231456T1234", "bank_code": "INGBNL2A"}
