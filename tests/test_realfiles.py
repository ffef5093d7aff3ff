"""Acceptance on public real-world files nobody on this project wrote (issue 11, bank files as banks
ship them): every file of a claimed family (merchant bills, MT940, CAMT.053, Chinese bank exports,
personal Alipay/WeChat bills) is recognised and loads every data line with the right sign; none
crashes ``sniff`` or ``run``. The files are read where they lie (``$RECON_REALFILES``, else the
nearest ``shared/realfiles`` folder above this test; CI has a read-only copy beside the repository)
and never copied into the project; without them the tests skip, saying why.

Each expectation is (formats, data lines, loaded, duplicates, quarantined, proofs pass, net signed
amount, lines out, lines in). The nets were checked by hand against each file's own direction
(借贷, 收/支, D/C marks, the running balance where the file's balances are real). Where a proof
fails it is the file's own doing, noted per file: PROVENANCE.md says so, or the file's opening
+ movements visibly differ from its closing (anonymised or excerpted fixtures).
"""

from __future__ import annotations

import os
from decimal import Decimal as D
from pathlib import Path

import pytest
from click.testing import CliRunner

from recon import store
from recon.cli import cli
from recon.io.load import import_file


def _realfiles() -> Path | None:
    env = os.environ.get("RECON_REALFILES")
    if env:
        return Path(env) if Path(env).is_dir() else None
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "realfiles"
        if candidate.is_dir():
            return candidate
    return None


REAL = _realfiles()
pytestmark = pytest.mark.skipif(REAL is None, reason="the public real-world files (shared/realfiles or "
                                                     "$RECON_REALFILES) are not available here")

FAILS_OWN = False  # proofs fail because of the file itself (see the comment on the line)
EXPECTED = {
    # merchant bills
    "alipay/20880211096256330156_20190916_业务明细.gbk.csv": (["alipay.trade_detail"], 10, 10, 0, 0, True, "0.02", 4, 6),
    "alipay/20880211096256330156_20190916_业务明细.utf8.csv": (["alipay.trade_detail"], 10, 10, 0, 0, True, "0.02", 4, 6),
    # excerpt: 3 of 18 rows, the real footer (PROVENANCE)
    "alipay/20888011365400330156_20121229_账务明细.excerpt.csv": (["alipay.fund_detail"], 3, 3, 0, 0, FAILS_OWN, "3778.00", 0, 3),
    "wechat/wxpay_v2_doc_downloadbill_ALL_example.csv": (["wechatpay.trade_bill_legacy"], 2, 2, 0, 0, True, "0.02", 0, 2),
    # doc excerpt: 1 row, the summary declares 20 (PROVENANCE)
    "wechat/wxpay_v2_doc_downloadfundflow_example.csv": (["wechatpay.fund_bill"], 1, 1, 0, 0, FAILS_OWN, "-0.02", 1, 0),
    # 2 rows, the summary declares 3 (PROVENANCE)
    "wechat/wxpay_v3_fundflowbill_BASIC_2021-02-01.csv": (["wechatpay.fund_bill"], 2, 2, 0, 0, FAILS_OWN, "-0.02", 2, 0),
    "wechat/wxpay_v3_fundflowbill_BASIC_2021-02-01.csv.gz": (["wechatpay.fund_bill"], 2, 2, 0, 0, FAILS_OWN, "-0.02", 2, 0),
    "wechat/wxpay_v3_tradebill_ALL_2021-01-28.csv": (["wechatpay.trade_bill"], 3, 3, 0, 0, True, "0.03", 0, 3),
    "wechat/wxpay_v3_tradebill_ALL_2021-01-28.csv.gz": (["wechatpay.trade_bill"], 3, 3, 0, 0, True, "0.03", 0, 3),
    # personal bills: anonymised examples whose declared 共N笔/收入/支出 totals are not their rows'
    "alipay/example-alipay-records.csv": (["alipay.personal_bill"], 10, 10, 0, 0, FAILS_OWN, "222016.86", 5, 1),
    "alipay/example-alipay-records.pre2023-03.csv": (["alipay.personal_bill"], 16, 16, 0, 0, FAILS_OWN, "-159.91", 6, 3),
    "wechat/example-wechat-records.csv": (["wechatpay.personal_bill"], 27, 27, 0, 0, FAILS_OWN, "-2876.04", 11, 5),
    # two sheets holding the same 27 lines: the second sheet's are duplicates
    "wechat/example-wechat-records.xlsx": (["wechatpay.personal_bill"], 54, 27, 27, 0, FAILS_OWN, "-2876.04", 11, 5),
    # 21 declared, 7 kept in the fixture; its 收入 and 中性交易 totals do hold
    "wechat/微信支付账单(20200830-20200906).csv": (["wechatpay.personal_bill"], 7, 7, 0, 0, FAILS_OWN, "790.12", 5, 2),
    # Chinese bank exports (personal accounts; credit cards are out of scope)
    "bank-cn/boc-debit--example-boc-records.csv": (["bank.cn_generic"], 17, 17, 0, 0, True, "426.70", 13, 4),
    # anonymised: balances out of order / made up, so the 余额 chain breaks
    "bank-cn/cmb-debit--example-cmb-records.csv": (["bank.cn_generic"], 5, 5, 0, 0, FAILS_OWN, "-779.14", 4, 1),
    "bank-cn/example-abc_debit-records.csv": (["bank.cn_generic"], 5, 5, 0, 0, FAILS_OWN, "-2355.88", 2, 2),
    "bank-cn/example-bocom_debit-records.csv": (["bank.cn_generic"], 6, 6, 0, 0, FAILS_OWN, "-102.75", 3, 3),
    # 余额 masked as xx,yyyy.zz and a 人民币合计 row of made-up totals
    "bank-cn/example-icbc-debit-v1-records.csv": (["bank.cn_generic"], 11, 11, 0, 0, FAILS_OWN, "-1399.34", 6, 5),
    "bank-cn/example-icbc-debit-v2-records.csv": (["bank.cn_generic"], 11, 11, 0, 0, FAILS_OWN, "-1399.34", 6, 5),
    "bank-cn/example-spdb_debit-records.xls": (["bank.cn_generic"], 4, 4, 0, 0, True, "-1.64", 3, 1),
    # CAMT.053
    "camt053/camt053.v2.multi.statement.xml": (["bank.camt053"], 2, 2, 0, 0, True, "1.85", 1, 1),
    # v4/v8: CLBD written -27.00 SEK on purpose (PROVENANCE); flagged as mixed currencies
    "camt053/camt053.v4.xml": (["bank.camt053"], 1, 1, 0, 0, FAILS_OWN, "8.85", 0, 1),
    "camt053/camt053.v8.xml": (["bank.camt053"], 1, 1, 0, 0, FAILS_OWN, "8.85", 0, 1),
    "camt053/camt053.xml": (["bank.camt053"], 1, 1, 0, 0, True, "1284.30", 0, 1),
    "camt053/davider80.xml": (["bank.camt053"], 16, 16, 0, 0, True, "-3679.85", 15, 1),  # <Dt> with +02:00
    "camt053/gcamp6.xml": (["bank.camt053"], 5, 5, 0, 0, FAILS_OWN, "13010.00", 0, 5),  # CLBD ≠ OPBD+entries (PROVENANCE)
    "camt053/test-camt053": (["bank.camt053"], 3, 3, 0, 0, FAILS_OWN, "-12.99", 2, 1),  # does not add up (PROVENANCE)
    "camt053/test-camt053-txdtls": (["bank.camt053"], 1, 1, 0, 0, True, "3483.00", 0, 1),
    "camt053/test-camt053.zip": (["bank.camt053"], 6, 6, 0, 0, FAILS_OWN, "114.02", 4, 2),
    # MT940 (the jejik fixtures abnamro/ing/rabobank/knab/postfinance and SNS's last statement, which
    # has no :62F:, do not add up in the files themselves: checked by summing their :61: lines)
    "mt940/171011_01234945.sta": (["bank.mt940"], 3, 3, 0, 0, True, "-9437.00", 3, 0),
    "mt940/ASNB--mt940.txt": (["bank.mt940"], 8, 8, 0, 0, True, "56.94", 5, 3),  # envelopes, long :61: refs
    "mt940/abnamro.sta": (["bank.mt940"], 10, 10, 0, 0, FAILS_OWN, "-345.93", 10, 0),  # ABNANL2A/940 header
    "mt940/citi--mt940.txt": (["bank.mt940"], 5, 5, 0, 0, True, "-1142.75", 3, 0),
    "mt940/ing.sta": (["bank.mt940"], 7, 7, 0, 0, FAILS_OWN, "-45.59", 5, 2),  # 0000 01INGBNL2A… header
    "mt940/knab.sta": (["bank.mt940"], 3, 3, 0, 0, FAILS_OWN, "-6260.00", 1, 2),  # C500NTRF: no decimal comma
    "mt940/mBank--mt940.sta": (["bank.mt940"], 3, 3, 0, 0, True, "0.03", 0, 3),  # leading SOH
    "mt940/postfinance.sta": (["bank.mt940"], 4, 4, 0, 0, FAILS_OWN, "159.40", 1, 3),
    "mt940/rabobank.sta": (["bank.mt940"], 5, 5, 0, 0, FAILS_OWN, "-1589.09", 5, 0),  # :940: header
    "mt940/sepa_mt9401.sta": (["bank.mt940"], 97, 97, 0, 0, True, "-9269135.90", 56, 41),
    "mt940/test-ing.940": (["bank.mt940"], 8, 8, 0, 0, True, "-97.88", 4, 4),  # envelope, wrapped :28C: and ref
    "mt940/test-rabo.swi": (["bank.mt940"], 2, 2, 0, 0, True, "365.39", 1, 1),
    "mt940/test-sns.940": (["bank.mt940"], 8, 8, 0, 0, FAILS_OWN, "-1715.68", 7, 0),
}
OUT_OF_SCOPE = {  # credit-card statements and a personal JD consumer record: never crash, may be skipped
    "bank-cn/citic-credit--example-citic-records.xls", "bank-cn/cmb-credit--example-cmb-records.csv",
    "bank-cn/example-cgb_credit-records.csv", "bank-cn/example-icbc-credit-records.csv",
    "other/example-jd-records.csv",
}


@pytest.mark.parametrize("rel", sorted(EXPECTED))
def test_claimed_real_file_loads_every_line_with_its_sign(rel):
    formats, data, loaded, dups, quarantined, passed, net, outs, ins = EXPECTED[rel]
    con = store.connect(":memory:")
    try:
        from recon.io.profile import builtin_profiles

        rep = import_file(con, REAL / rel, builtin_profiles())
        assert rep.formats == formats
        t = rep.totals()
        assert (t["data_lines"], t["loaded"], t["duplicates"], t["quarantined"]) == (data, loaded, dups, quarantined)
        assert rep.proofs_passed is passed, [p for part in rep.parts for p in part.proofs if not p["passed"]]
        table = store.table_of(rep.parts[0].family)
        got = con.execute(f"SELECT sum(amount), count(*) FILTER (WHERE amount < 0), "
                          f"count(*) FILTER (WHERE amount > 0) FROM {table}").fetchone()
        assert got == (D(net), outs, ins)
    finally:
        con.close()


def test_every_real_file_is_listed():
    found = {str(p.relative_to(REAL)) for p in REAL.rglob("*") if p.is_file() and p.name != "PROVENANCE.md"}
    assert found - set(EXPECTED) - OUT_OF_SCOPE == set(), "a new real file: add its expectation"


def test_no_real_file_crashes_sniff_or_run(tmp_path):
    for p in sorted(REAL.rglob("*")):
        if p.is_file() and p.name != "PROVENANCE.md":
            res = CliRunner().invoke(cli, ["sniff", str(p)])
            assert res.exit_code in (0, 1, 2), (p, res.output)
            assert res.exception is None or isinstance(res.exception, SystemExit), (p, res.exception)
    res = CliRunner().invoke(cli, ["run", str(REAL), "--out", str(tmp_path / "out"), "--period", "2026-01",
                                   "--db", str(tmp_path / "s.duckdb"), "--no-reports"])
    # incomplete (the files' own failed proofs; no ERP among them), never 2 or 3
    assert res.exit_code == 4, res.output
    assert "proof_failed" in res.output or "file_short" in res.output
    assert "Traceback" not in res.output
