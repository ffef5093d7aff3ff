"""Bank statements of the seller's four accounts (formats notes §4.1, §4.2).

- CMB 交易明细 XLSX: preamble key/value cells (公司名称, 银行帐号, 查询开始日期, 查询结束日期,
  对帐单期初余额, 生成日期, 帐户币种), then the 32-column header; 借方/贷方 either/or, running 余额.
- ICBC 历史明细 CSV: ``[HISTORYDETAIL]`` on line 1, GBK, either/or 转入/转出, running 余额.
- MT940 (.sta): ``:60F:`` + the ``:61:`` lines = ``:62F:``, decimal comma, ``:86:`` sub-fields.
- CAMT.053.001.08: OPBD + the entries = CLBD; unsigned ``Amt`` with ``CdtDbtInd``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from xml.sax.saxutils import escape

from recon.sample.fmt import amt, ts, write_lines, write_xlsx
from recon.sample.model import Month

CMB_HEADER = ("交易日,交易时间,起息日,交易类型,借方金额,贷方金额,余额,摘要,流水号,流程实例号,业务名称,用途,业务参考号,"
              "业务摘要,其它摘要,收/付方分行名,收/付方名称,收/付方帐号,收/付方开户行行号,收/付方开户行名,"
              "收/付方开户行地址,母/子公司帐号分行名,母/子公司帐号,母/子公司名称,信息标志,有否附件信息,冲帐标志,"
              "扩展摘要,交易分析码,票据号,商务支付订单号,内部编号").split(",")
ICBC_HEADER = "凭证号,交易时间,对方单位,对方账号,转入金额,转出金额,余额,用途,摘要,附言"
PAYER_BANKS = {"tmall": "招商银行杭州分行", "alipay": "招商银行杭州分行", "wechatpay": "招商银行深圳分行",
               "jd": "中国工商银行北京分行", "pdd": "中国工商银行上海分行"}


def _txns(month: Month, bank: str) -> list:
    return [t for t in month.bank if t.bank == bank]


def write_cmb(month: Month, root: Path, rel: str) -> Path:
    balance = month.opening["cmb"]
    rows: list[list] = [
        ["公司名称", month.accounts["company"]], ["银行帐号", month.accounts["cmb"]],
        ["查询开始日期", f"{month.start:%Y-%m-%d}"], ["查询结束日期", f"{month.last_day:%Y-%m-%d}"],
        ["对帐单期初余额", balance], ["生成日期", f"{month.end:%Y-%m-%d}"], ["帐户币种", "人民币"], [],
        CMB_HEADER]
    for i, t in enumerate(_txns(month, "cmb"), start=1):
        balance += t.amount
        credit, debit = (t.amount, None) if t.amount > 0 else (None, -t.amount)
        row = [f"{t.at:%Y%m%d}", f"{t.at:%H:%M:%S}", f"{t.at:%Y%m%d}", "汇入汇款", debit, credit, balance,
               t.summary, f"K{t.at:%y%m%d}{i:08d}", "", "汇入汇款", f"{t.summary} {t.customer_ref}", "", "", "",
               "", t.counterparty, t.counterparty_account, "", PAYER_BANKS.get(t.channel, ""), "", "", "", "",
               "", "N", "", "", "", "", "", ""]
        rows.append(row)
    return write_xlsx(root / rel, [("交易明细", rows)], month.export_at(), {0: 14, 16: 30})


def write_icbc(month: Month, root: Path, rel: str) -> Path:
    balance = month.opening["icbc"]
    lines = ["[HISTORYDETAIL]", ICBC_HEADER]
    for i, t in enumerate(_txns(month, "icbc"), start=1):
        balance += t.amount
        cin, cout = (amt(t.amount), "") if t.amount > 0 else ("", amt(-t.amount))
        lines.append(",".join([f"{t.at:%y%m%d}{i:06d}", ts(t.at), t.counterparty, t.counterparty_account,
                               cin, cout, amt(balance), t.summary, "汇入", t.customer_ref]))
    return write_lines(root / rel, lines, "gbk")


def _swift_amount(d: Decimal) -> str:
    return amt(d).replace(".", ",")


def _lines86(*fields: tuple[str, str]) -> list[str]:
    """``:86:`` with one structured sub-field per line (each at most 65 characters)."""
    parts = [f"/{tag}/{value}"[:65] for tag, value in fields if value]
    return [":86:" + parts[0][:61]] + parts[1:6]


def write_mt940(month: Month, root: Path, rel: str) -> Path:
    opening = month.opening["mt940"]
    before = month.start - dt.timedelta(days=1)
    lines = [f":20:STMT{month.start:%y%m}01", f":25:{month.accounts['mt940']}", ":28C:1/1",
             f":60F:C{before:%y%m%d}CNY{_swift_amount(opening)}"]
    balance = opening
    for i, t in enumerate(_txns(month, "mt940"), start=1):
        balance += t.amount
        mark = "C" if t.amount > 0 else "D"
        lines.append(f":61:{t.at:%y%m%d}{t.at:%m%d}{mark}{_swift_amount(abs(t.amount))}NTRF"
                     f"{t.customer_ref[:16]}//{t.at:%y%m%d}{i:010d}")
        lines += _lines86(("EREF", t.customer_ref), ("NAME", t.counterparty), ("REMI", t.summary))
    mark = "C" if balance >= 0 else "D"
    lines += [f":62F:{mark}{month.last_day:%y%m%d}CNY{_swift_amount(abs(balance))}",
              f":64:{mark}{month.last_day:%y%m%d}CNY{_swift_amount(abs(balance))}"]
    return write_lines(root / rel, lines, "ascii")


def write_camt(month: Month, root: Path, rel: str) -> Path:
    opening = month.opening["camt"]
    txns = _txns(month, "camt")
    closing = opening + sum((t.amount for t in txns), Decimal("0"))
    created = month.export_at().strftime("%Y-%m-%dT%H:%M:%S+08:00")
    acct, bic = month.accounts["camt"], month.accounts["camt_bic"]

    def bal(code, amount, day):
        ind = "CRDT" if amount >= 0 else "DBIT"
        return (f"      <Bal>\n        <Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp>\n"
                f"        <Amt Ccy=\"USD\">{amt(abs(amount))}</Amt>\n        <CdtDbtInd>{ind}</CdtDbtInd>\n"
                f"        <Dt><Dt>{day:%Y-%m-%d}</Dt></Dt>\n      </Bal>")

    entries = []
    for i, t in enumerate(txns, start=1):
        ind = "CRDT" if t.amount > 0 else "DBIT"
        entries.append(
            f"      <Ntry>\n        <NtryRef>{i}</NtryRef>\n"
            f"        <Amt Ccy=\"{t.currency}\">{amt(abs(t.amount))}</Amt>\n        <CdtDbtInd>{ind}</CdtDbtInd>\n"
            f"        <Sts><Cd>BOOK</Cd></Sts>\n        <BookgDt><Dt>{t.at:%Y-%m-%d}</Dt></BookgDt>\n"
            f"        <ValDt><Dt>{t.at:%Y-%m-%d}</Dt></ValDt>\n        <AcctSvcrRef>{escape(t.ref)}</AcctSvcrRef>\n"
            "        <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>XBCT</SubFmlyCd></Fmly></Domn></BkTxCd>\n"
            "        <NtryDtls>\n          <TxDtls>\n"
            f"            <Refs><EndToEndId>{escape(t.customer_ref)}</EndToEndId></Refs>\n"
            f"            <RltdPties><Dbtr><Pty><Nm>{escape(t.counterparty)}</Nm></Pty></Dbtr>"
            f"<DbtrAcct><Id><Othr><Id>{escape(t.counterparty_account)}</Id></Othr></Id></DbtrAcct></RltdPties>\n"
            f"            <RmtInf><Ustrd>{escape(t.summary)}</Ustrd></RmtInf>\n"
            "          </TxDtls>\n        </NtryDtls>\n      </Ntry>")
    text = "\n".join([
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">',
        "  <BkToCstmrStmt>",
        f"    <GrpHdr>\n      <MsgId>CAMT053-{month.start:%Y%m}-USD</MsgId>\n      <CreDtTm>{created}</CreDtTm>\n    </GrpHdr>",
        "    <Stmt>",
        f"      <Id>STMT-{month.start:%Y%m}-USD</Id>\n      <ElctrncSeqNb>{month.start:%Y%m}</ElctrncSeqNb>",
        f"      <CreDtTm>{created}</CreDtTm>",
        f"      <FrToDt><FrDtTm>{month.start:%Y-%m-%d}T00:00:00+08:00</FrDtTm>"
        f"<ToDtTm>{month.last_day:%Y-%m-%d}T23:59:59+08:00</ToDtTm></FrToDt>",
        f"      <Acct>\n        <Id><Othr><Id>{acct}</Id></Othr></Id>\n        <Ccy>USD</Ccy>\n"
        f"        <Ownr><Nm>{escape(month.accounts['company'])}</Nm></Ownr>\n"
        f"        <Svcr><FinInstnId><BICFI>{bic}</BICFI></FinInstnId></Svcr>\n      </Acct>",
        bal("OPBD", opening, month.start), bal("CLBD", closing, month.last_day),
        *entries,
        "    </Stmt>", "  </BkToCstmrStmt>", "</Document>"])
    return write_lines(root / rel, text.split("\n"), "utf-8", newline="\n")
