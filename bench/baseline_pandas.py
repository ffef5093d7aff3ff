"""Baseline (d) of the 1M/10M benchmark: recon's essential job as a capable clerk would script it in pandas.

    .venv/bin/python bench/baseline_pandas.py SAMPLE_DIR OUT.csv

Not recon and not a test: a fair, vectorised competitor. It

1. reads EVERY ledger file of the month (platform settlements, the ERP's 应收单 list, the bank
   statements; not ``evidence/``: the after-sales audit log and the FX rates are not ledger lines)
   with its real encoding (UTF-8 with/without BOM, else GB18030) and preamble (the header row found
   by looking for a known column in the first lines), ``dtype=str``; footers and blank lines are
   dropped by keeping only rows whose date column holds a date; WeChat Pay's backtick prefixes,
   Douyin's apostrophes and Alipay's trailing tabs are stripped vectorised. XLSX (CMB) through
   ``read_excel(engine="calamine")``, MT940 through a regex over its lines, CAMT.053 through
   ``read_xml``;
2. turns every amount into integer cents (string arithmetic; never a float for money);
3. merges the order-level platform lines (sales, refunds) with the ERP documents (标准应收单, 红字应收单)
   per order number: ``merge(how="outer", indicator=True)``, amounts compared in cents;
4. pairs Alipay's and WeChat Pay's fund-flow lines with their trade lines per order/transaction
   (outer merge);
5. compares each platform's fee and commission lines of the month with the ERP's 其他应收单 for it;
6. pairs payouts with bank credits: first on the reference both sides carry (WD…/DY… payout ids,
   JD's JDJS settlement batches summed per batch), then what is left on the amount;
7. writes one result row per ledger line (source, file, physical line, channel, order number, line
   type, amount, status, code) to CSV, and prints its counts as JSON (last line).

Vectorised pandas only: no ``apply``, ``iterrows``, ``itertuples`` or Python loops over rows (the
loops below run over the ~16 files and over a handful of columns).
"""

from __future__ import annotations

import codecs
import io
import json
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

# ---------------------------------------------------------------- reading

def encoding_of(path: Path) -> str:
    head = _head(path)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        return "gb18030"


def _head(path: Path, n: int = 1 << 16) -> bytes:
    with open(path, "rb") as f:
        return f.read(n)


def header_line(path: Path, encoding: str, marker: str) -> int:
    """0-based index of the first line holding the column ``marker`` (the preamble is above it)."""
    text = _head(path).decode(encoding, errors="ignore")
    for i, line in enumerate(text.splitlines()[:40]):
        if marker in line:
            return i
    raise ValueError(f"{path}: no header line with {marker!r}")


def read_ledger(path: Path, marker: str, date_col: str, strip: str = "") -> pd.DataFrame:
    """A CSV export as str columns; ``_line`` is the 1-based physical line of each data row."""
    enc = encoding_of(path)
    skip = header_line(path, enc, marker)
    df = pd.read_csv(path, dtype=str, encoding=enc, skiprows=skip, keep_default_na=False,
                     skip_blank_lines=False, index_col=False)
    df.columns = [c.strip().strip(strip) if strip else c.strip() for c in df.columns]
    df["_line"] = np.arange(len(df), dtype="int64") + skip + 2
    if strip:  # WeChat's backtick prefixes, Douyin's apostrophes, Alipay's trailing tabs: column by column
        for col in df.columns[:-1]:
            df[col] = df[col].str.strip(strip)
    # footers (#…合计, 资金流水总笔数 …) and blank lines: keep the rows whose date column holds a date
    return df[df[date_col].str.match(r"\s*\d{4}-?\d{2}-?\d{2}")].reset_index(drop=True)


def cents(s: pd.Series) -> pd.Series:
    """'1,234.5' / '-0.50' / '' as int64 cents, exactly (string arithmetic, never float money)."""
    s = s.fillna("").str.strip().str.replace(",", "", regex=False)
    neg = s.str.startswith("-")
    body = s.str.lstrip("+-")
    bad = ~body.str.fullmatch(r"\d*(\.\d*)?")
    if bad.any():
        raise ValueError(f"not an amount: {s[bad].iloc[0]!r}")
    parts = body.str.partition(".")
    frac = parts[2].str.rstrip("0")
    if (frac.str.len() > 2).any():
        raise ValueError(f"amount with more than 2 decimals: {s[frac.str.len() > 2].iloc[0]!r}")
    whole = parts[0].mask(parts[0] == "", "0").astype("int64")
    out = whole * 100 + frac.str.ljust(2, "0").astype("int64")
    return out.where(~neg, -out)


def lines(df: pd.DataFrame, source: str, file: str, channel: str, order_no, line_type, amount: pd.Series,
          **extra) -> pd.DataFrame:
    out = pd.DataFrame({"source": source, "source_file": file, "source_line": df["_line"].to_numpy(),
                        "channel": channel, "order_no": order_no, "line_type": line_type,
                        "cents": amount.to_numpy()}, index=df.index)
    for k, v in extra.items():
        out[k] = v
    return out


def pick(cond_values: list[tuple[pd.Series, str]], default: str, index) -> pd.Series:
    return pd.Series(np.select([c.to_numpy() for c, _ in cond_values], [v for _, v in cond_values], default),
                     index=index)


# ---------------------------------------------------------------- one reader per layout

def alipay_trade(p, rel):
    df = read_ledger(p, "支付宝交易号", "创建时间", strip="\t ")
    t = df["业务类型"].map({"交易": "sale", "退款": "refund"}).fillna("other")
    return lines(df, "platform", rel, "alipay", df["商户订单号"], t, cents(df["商家实收（元）"]),
                 kind="trade", key=df["商户订单号"], fee=cents(df["服务费（元）"]).to_numpy())


def alipay_fund(p, rel):
    df = read_ledger(p, "账务流水号", "发生时间", strip="\t ")
    kind = df["业务类型"]
    t = pick([(kind.str.contains("提现"), "payout"), (kind.isin(["收费", "服务费"]), "fee"),
              (kind.str.contains("退款"), "refund"), (kind.isin(["在线支付", "交易"]), "sale")], "other", df.index)
    amount = cents(df["收入金额（+元）"]) - cents(df["支出金额（-元）"]).abs()
    return lines(df, "platform", rel, "alipay", df["商户订单号"], t, amount, kind="fund", key=df["商户订单号"],
                 ref=df["业务流水号"].where(t == "payout", ""))


def tmall_fund(p, rel):
    df = read_ledger(p, "账务流水号", "发生时间", strip="\t ")
    kind, desc = df["业务类型"], df["业务描述"]
    t = pick([(kind.str.contains("提现"), "payout"), (desc.str.contains("佣金") | df["备注"].str.contains("佣金"),
              "commission"), (kind.isin(["收费", "服务费"]), "fee"), (kind.str.contains("退款"), "refund"),
              (kind.isin(["在线支付", "交易"]), "sale")], "other", df.index)
    amount = cents(df["收入金额（+元）"]) - cents(df["支出金额（-元）"]).abs()
    order = df["业务基础订单号"].mask(df["业务基础订单号"] == "", df["商户订单号"].str.removeprefix("T200P"))
    return lines(df, "platform", rel, "tmall", order, t, amount, kind="order",
                 ref=df["业务流水号"].where(t == "payout", ""))


def wechat_trade(p, rel):
    df = read_ledger(p, "微信订单号", "交易时间", strip="`")
    refund = df["交易状态"] == "REFUND"
    t = pd.Series(np.where(refund, "refund", "sale"), index=df.index)
    amount = cents(df["应结订单金额"]).where(~refund, -cents(df["申请退款金额"]))
    return lines(df, "platform", rel, "wechatpay", df["商户订单号"], t, amount, kind="trade",
                 key=df["微信订单号"].where(~refund, df["微信退款单号"]), fee=-cents(df["手续费"]).to_numpy())


def wechat_fund(p, rel):
    df = read_ledger(p, "资金流水单号", "记账时间", strip="`")
    kind = df["业务类型"]
    t = pick([(kind.str.contains("手续费"), "fee"), (kind.str.contains("提现"), "payout"),
              (kind.str.contains("退款"), "refund"), (kind == "交易", "sale")], "other", df.index)
    amount = cents(df["收支金额（元）"])
    amount = amount.where(df["收支类型"] != "支出", -amount)
    order = df["业务凭证号"].where(kind == "交易", "")
    return lines(df, "platform", rel, "wechatpay", order, t, amount, kind="fund", key=df["微信支付业务单号"],
                 ref=df["微信支付业务单号"].where(t == "payout", ""))


def douyin_flow(p, rel):
    df = read_ledger(p, "动账方向", "动账时间", strip="'")
    scene = df["动账场景"]
    t = pick([(scene.str.contains("提现"), "payout"), (scene.str.contains("退款") | scene.str.contains("原路退"), "refund"),
              (scene.str.contains("入账"), "sale")], "other", df.index)
    on_order = df["计费类型"].str.contains("订单")
    fee = cents(df["平台服务费"])
    for col in ("佣金", "服务商佣金", "渠道分成", "招商服务费", "站外推广费", "其他分成"):  # the fees kept from an order
        fee = fee + cents(df[col])
    fee = fee.where(on_order, 0)
    amount = cents(df["动账金额"]) + fee  # an order row's principal: what was paid out plus the fees kept
    amount = amount.where(df["动账方向"] != "出账", -amount.abs())
    return lines(df, "platform", rel, "douyin", df["订单号"], t, amount, kind="order", fee=-fee.to_numpy(),
                 ref=df["备注"].str.extract(r"(DY\d+)", expand=False).fillna("").where(t == "payout", ""))


def jd_settlement(p, rel):
    df = read_ledger(p, "订单编号", "订单下单时间", strip="\t ")
    amount = cents(df["应结金额"])
    name = df["费用名称"]
    t = pick([((name == "货款") & (amount >= 0), "sale"), (name == "货款", "refund"), (name == "佣金", "commission")],
             "fee", df.index)
    return lines(df, "platform", rel, "jd", df["订单编号"], t, amount, kind="order",
                 batch=df["资金动账备注"].str.extract(r"(JDJS\d+)", expand=False).fillna(""))


def pdd_account(p, rel):
    df = read_ledger(p, "商户订单号", "发生时间", strip="\t ")
    t = df["账务类型"].map({"交易收入": "sale", "交易退款": "refund", "技术服务费": "fee", "提现": "payout"}).fillna("other")
    amount = cents(df["收入金额（+元）"]) - cents(df["支出金额（-元）"]).abs()
    return lines(df, "platform", rel, "pdd", df["商户订单号"], t, amount, kind="order", ref="")


def erp_ar(p, rel):
    df = read_ledger(p, "单据编号", "业务日期")
    order = df["平台订单号"].mask(df["平台订单号"] == "",
                              df["摘要"].str.extract(r"订单号[:：]?\s*([0-9A-Za-z_-]{6,})", expand=False).fillna(""))
    bill = df["单据类型"]
    t = pick([(bill.str.contains("红字"), "credit_note"), (bill.str.contains("其他应收"), "other_receivable")],
             "receivable", df.index)
    return lines(df, "erp", rel, "", order, t, cents(df["价税合计"]), kind="erp", customer=df["客户"])


def icbc_csv(p, rel):
    df = read_ledger(p, "凭证号", "交易时间")
    amount = cents(df["转入金额"]) - cents(df["转出金额"]).abs()
    return lines(df, "bank", rel, "", "", np.where(amount > 0, "bank_credit", "bank_debit"), amount, kind="bank",
                 ref=df["附言"].str.strip(), date=df["交易时间"].str[:10])


def cmb_xlsx(p, rel):
    book = pd.ExcelFile(p, engine="calamine")
    sheet = book.sheet_names[0]
    raw = pd.read_excel(book, sheet_name=sheet, header=None, dtype=str)
    head = int(raw.index[raw.iloc[:, 0].astype(str).str.strip() == "交易日"][0])
    df = raw.iloc[head + 1:].copy()
    df.columns = raw.iloc[head].astype(str).str.strip()
    df = df[df["交易日"].fillna("").str.match(r"\d{8}")]
    df["_line"] = df.index.to_numpy() + 1
    amount = cents(df["贷方金额"]) - cents(df["借方金额"]).abs()
    return lines(df, "bank", rel, "", "", np.where(amount > 0, "bank_credit", "bank_debit"), amount, kind="bank",
                 ref=df["业务参考号"].fillna("").str.strip().mask(  # CMB puts the payout number in 用途
                     df["业务参考号"].isna(), df["用途"].fillna("").str.extract(r"([A-Z]{2,4}\d{8,})", expand=False))
                 .fillna(""),
                 date=df["交易日"].str[:4] + "-" + df["交易日"].str[4:6]
                 + "-" + df["交易日"].str[6:8], source_sheet=sheet)


def mt940(p, rel):
    text = pd.Series(p.read_text(encoding="utf-8", errors="replace").splitlines())
    m = text.str.extract(r"^:61:(\d{6})\d{0,4}(C|D|RC|RD)[A-Z]?(\d+,\d*)N[A-Z]{3}([^/]*)")
    m = m[m[0].notna()]
    df = pd.DataFrame({"_line": m.index.to_numpy() + 1}, index=m.index)
    amount = cents(m[2].str.replace(",", ".", regex=False))
    amount = amount.where(m[1].isin(["C", "RD"]), -amount)
    return lines(df, "bank", rel, "", "", np.where(amount > 0, "bank_credit", "bank_debit"), amount, kind="bank",
                 ref=m[3].str.strip(), date="20" + m[0].str[:2] + "-" + m[0].str[2:4] + "-" + m[0].str[4:6])


def camt053(p, rel):
    ns = {"c": "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"}
    text = p.read_text(encoding="utf-8")
    if "<Ntry>" not in text:  # a statement without entries (read_xml refuses an empty match)
        empty = pd.DataFrame({"_line": np.array([], dtype="int64")})
        return lines(empty, "bank", rel, "", "", "", pd.Series([], dtype="int64"), kind="bank", ref="", date="")
    df = pd.read_xml(io.StringIO(text), xpath="//c:Ntry", namespaces=ns, dtype=str)
    at = pd.Series(text.splitlines())
    df["_line"] = at.index[at.str.contains("<Ntry>", regex=False)].to_numpy() + 1
    amount = cents(df["Amt"])
    amount = amount.where(df["CdtDbtInd"] == "CRDT", -amount)
    return lines(df, "bank", rel, "", "", np.where(amount > 0, "bank_credit", "bank_debit"), amount, kind="bank",
                 ref=df.get("AcctSvcrRef", pd.Series("", index=df.index)).fillna(""), date="")


LAYOUTS = [  # (file name pattern, reader); the first that matches reads the file
    (r"_业务明细\.csv$", alipay_trade), (r"_账务明细_天猫\.csv$", tmall_fund), (r"_账务明细\.csv$", alipay_fund),
    (r"_ALL_.*\.csv$", wechat_trade), (r"_BASIC_.*\.csv$", wechat_fund), (r"动账明细.*\.csv$", douyin_flow),
    (r"京东对账单.*\.csv$", jd_settlement), (r"店铺账务明细.*\.csv$", pdd_account), (r"应收单.*\.csv$", erp_ar),
    (r"工商银行.*\.csv$", icbc_csv), (r"招商银行.*\.xlsx$", cmb_xlsx), (r"\.sta$", mt940), (r"camt053.*\.xml$", camt053),
]
ERP_CUSTOMER = {"支付宝当面付": "alipay", "抖音小店": "douyin", "京东POP店": "jd", "拼多多店": "pdd",
                "天猫旗舰店": "tmall", "微信商城": "wechatpay"}


def read_month(sample: Path) -> tuple[pd.DataFrame, list[str]]:
    frames, skipped = [], []
    for path in sorted(p for p in sample.rglob("*") if p.is_file() and not p.name.startswith(".")):
        rel = path.relative_to(sample).as_posix()
        if rel.startswith("evidence/"):
            skipped.append(rel)
            continue
        reader = next((r for pat, r in LAYOUTS if re.search(pat, path.name)), None)
        if reader is None:
            raise SystemExit(f"{rel}: no layout for this file")
        frames.append(reader(path, rel))
    cols = ["kind", "key", "ref", "batch", "customer", "date", "source_sheet"]
    df = pd.concat(frames, ignore_index=True)
    for c in cols:
        df[c] = df[c].fillna("") if c in df else ""
    df["fee"] = df["fee"].fillna(0).astype("int64") if "fee" in df else 0
    return df, skipped


# ---------------------------------------------------------------- matching

def reconcile(df: pd.DataFrame) -> pd.DataFrame:
    df["status"], df["code"] = "unmatched", ""

    # 1. orders: platform sales/refunds of the order-level files vs ERP 应收单 + 红字应收单, per order number
    plat = df["kind"].isin(["order", "trade"]) & df["line_type"].isin(["sale", "refund"]) & (df["order_no"] != "")
    erp = (df["source"] == "erp") & df["line_type"].isin(["receivable", "credit_note"])
    p = df[plat].groupby("order_no", sort=False)["cents"].sum().rename("p_cents").reset_index()
    e = df[erp].groupby("order_no", sort=False)["cents"].sum().rename("e_cents").reset_index()
    m = p.merge(e, on="order_no", how="outer", indicator=True)
    m["o_status"] = np.select([(m["_merge"] == "both") & (m["p_cents"] == m["e_cents"]), m["_merge"] == "both",
                               m["_merge"] == "left_only"], ["matched", "amount_differs", "platform_only"], "erp_only")
    on_order = plat | erp
    st = df.loc[on_order, ["order_no"]].merge(m[["order_no", "o_status"]], on="order_no", how="left")["o_status"]
    df.loc[on_order, "status"] = st.to_numpy()
    df.loc[on_order, "code"] = "order_exact"
    orders = m["_merge"].value_counts().to_dict()

    # 2. fund flow vs trade (Alipay 账务明细, WeChat Pay 资金账单): per order / transaction key
    fund = (df["kind"] == "fund") & (df["key"] != "") & df["line_type"].isin(["sale", "refund", "fee"])
    trade = (df["kind"] == "trade") & (df["key"] != "")
    net = (df["cents"] + df["fee"]).rename("net")  # a trade line's net of its fee = the fund lines' sum
    tk = net[trade].groupby([df["channel"], df["key"]], sort=False).sum().rename("t_cents").reset_index()
    fk = df[fund].groupby(["channel", "key"], sort=False)["cents"].sum().rename("f_cents").reset_index()
    k = tk.merge(fk, on=["channel", "key"], how="outer", indicator=True)
    k["k_status"] = np.select([(k["_merge"] == "both") & (k["t_cents"] == k["f_cents"]), k["_merge"] == "both",
                               k["_merge"] == "left_only"], ["matched", "amount_differs", "trade_only"], "fund_only")
    st = df.loc[fund, ["channel", "key"]].merge(k[["channel", "key", "k_status"]], on=["channel", "key"], how="left")
    df.loc[fund, "status"] = st["k_status"].fillna("fund_only").to_numpy()
    df.loc[fund, "code"] = "trade_fund"

    # 3. the month's fees and commissions per platform vs the ERP's 其他应收单 for that platform
    fees = (df["source"] == "platform") & df["line_type"].isin(["fee", "commission"]) & ~fund
    other = (df["source"] == "erp") & (df["line_type"] == "other_receivable")
    fp = pd.concat([df.loc[fees, ["channel", "cents"]],  # fee lines, and the fees a trade/order line states
                    df.loc[df["fee"] != 0, ["channel", "fee"]].rename(columns={"fee": "cents"})])
    fp = fp.groupby("channel")["cents"].sum().rename("fee_cents").reset_index()
    fe = df[other].assign(channel=df.loc[other, "customer"].map(ERP_CUSTOMER)).groupby("channel")["cents"].sum()
    fm = fp.merge(fe.rename("erp_cents").reset_index(), on="channel", how="outer")
    fm["f_status"] = np.where(fm["fee_cents"] == fm["erp_cents"], "matched", "amount_differs")
    st = df.loc[fees, ["channel"]].merge(fm[["channel", "f_status"]], on="channel", how="left")["f_status"]
    df.loc[fees, "status"] = st.fillna("unmatched").to_numpy()
    df.loc[fees, "code"] = "fees_monthly"
    ch = df.loc[other, "customer"].map(ERP_CUSTOMER).rename("channel").to_frame()
    df.loc[other, "status"] = ch.merge(fm[["channel", "f_status"]], on="channel", how="left")["f_status"] \
        .fillna("unmatched").to_numpy()
    df.loc[other, "code"] = "fees_monthly"

    # 4. payouts and JD's settlement batches vs bank credits: on the reference, then on the amount
    pay = (df["line_type"] == "payout")
    payouts = pd.DataFrame({"row": df.index[pay], "ref": df.loc[pay, "ref"].to_numpy(),
                            "cents": -df.loc[pay, "cents"].to_numpy()})
    jd = df["batch"] != ""
    batches = df[jd].groupby("batch")["cents"].sum().rename("cents").reset_index().rename(columns={"batch": "ref"})
    batches["row"] = -1  # a batch stands for many lines; their status stays the order's
    sent = pd.concat([payouts, batches], ignore_index=True)
    sent["p"] = np.arange(len(sent))
    credit = (df["source"] == "bank") & (df["line_type"] == "bank_credit")
    bank = pd.DataFrame({"brow": df.index[credit], "ref": df.loc[credit, "ref"].to_numpy(),
                         "cents": df.loc[credit, "cents"].to_numpy()})
    by_ref = sent[sent["ref"] != ""].merge(bank, on="ref", how="inner", suffixes=("", "_b"))
    by_ref = by_ref[by_ref["cents"] == by_ref["cents_b"]]
    rest_s = sent[~sent["p"].isin(by_ref["p"])]
    rest_b = bank[~bank["brow"].isin(by_ref["brow"])]
    by_amount = rest_s.merge(rest_b, on="cents", how="outer", indicator=True, suffixes=("", "_b"))
    pairs = pd.concat([by_ref[["p", "row", "brow"]].assign(how="ref"),
                       by_amount.loc[by_amount["_merge"] == "both", ["p", "row", "brow"]].assign(how="amount")])
    pairs = pairs.drop_duplicates("brow").drop_duplicates("p") if len(pairs) else pairs
    code = np.where(pairs["row"].to_numpy() == -1, "batch_to_bank", "payout_to_bank")
    real = pairs["row"].to_numpy() != -1
    df.loc[pairs["row"].to_numpy()[real].astype("int64"), ["status", "code"]] = ["matched", "payout_to_bank"]
    df.loc[pairs["brow"].to_numpy().astype("int64"), "status"] = "matched"
    df.loc[pairs["brow"].to_numpy().astype("int64"), "code"] = code
    df.loc[pay & (df["code"] == ""), "code"] = "payout_to_bank"
    df.loc[(df["source"] == "bank") & (df["code"] == ""), "code"] = "payout_to_bank"
    df.attrs["counts"] = {"orders": {str(k2): int(v) for k2, v in orders.items()},
                          "fund_keys": {str(k2): int(v) for k2, v in k["_merge"].value_counts().to_dict().items()},
                          "payout_pairs": {"by_ref": int((pairs["how"] == "ref").sum()) if len(pairs) else 0,
                                           "by_amount": int((pairs["how"] == "amount").sum()) if len(pairs) else 0}}
    return df


def amount_text(c: pd.Series) -> pd.Series:
    a = c.abs()
    return np.where(c < 0, "-", "") + (a // 100).astype(str) + "." + (a % 100).astype(str).str.zfill(2)


def run(sample: Path, out_csv: Path) -> dict:
    df, skipped = read_month(sample)
    df = reconcile(df)
    out = pd.DataFrame({"source": df["source"], "source_file": df["source_file"], "source_line": df["source_line"],
                        "source_sheet": df["source_sheet"], "channel": df["channel"], "order_no": df["order_no"],
                        "line_type": df["line_type"], "currency": "CNY", "amount": amount_text(df["cents"]),
                        "status": df["status"], "code": df["code"]})
    out.to_csv(out_csv, index=False)
    return {"rows": len(out), "by_status": {str(k): int(v) for k, v in out["status"].value_counts().items()},
            "by_file": {str(k): int(v) for k, v in out["source_file"].value_counts().sort_index().items()},
            "not_read": skipped, **df.attrs["counts"], "out_bytes": out_csv.stat().st_size}


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: baseline_pandas.py SAMPLE_DIR OUT.csv")
    print(json.dumps(run(Path(sys.argv[1]), Path(sys.argv[2])), ensure_ascii=False))
