"""`recon run sample_data --out out/` checked against an independent minimal reader.

The acceptance point: results.csv and manifest.json carry control totals equal to what a reader
written here counts and sums in each input file, and a dropped or duplicated line is caught.

The reader below never touches recon's importers (no recon.io, no mt940 library): it splits lines
and cells by hand (openpyxl for XLSX, ElementTree for CAMT, a regex for MT940) and signs each amount
as the results contract defines it, i.e. the profile under recon/io/profiles/ for that format:
+ money in, - money out, the line's principal (Douyin order rows with their deducted fees added
back). Each line also carries where it is (physical line / Excel row / Ntry index, sheet or zip
member) and its date, so results.csv can be compared with the files line by line.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import shutil
import xml.etree.ElementTree as ET
import zipfile
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest

from recon.cli import main

D = Decimal
SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"
STATUSES = {"matched", "known", "unknown", "review"}
# Planted differences that live on a fee or commission line: the order's sale/refund may match
# its ERP document, but the fee line itself must never come out matched.
FEE_CODES = {"FEE_RULE_DEVIATION", "PAYMENT_FEE_NOT_IN_COST", "COMMISSION_NOT_REVERSED",
             "SHIPPING_INSURANCE_NOT_REVERSED", "FEE_PERIOD_MISMATCH"}
ORDER_LEG = {"sale", "refund", "receivable", "credit_note"}


@dataclass(frozen=True)
class Line:
    line: int            # physical line (text), Excel row (XLSX), Ntry index (CAMT), :61: line (MT940)
    sheet: str           # XLSX sheet or zip member; "" for a plain file
    day: dt.date         # the date that places the line in a period
    amount: Decimal      # signed from the company's side
    key: tuple = ()      # what identifies a copy of this line in another file (ERP only)


# ---------------------------------------------------------------- cells and lines

def money(cell) -> Decimal:
    """A text cell (backtick, apostrophe, trailing tab stripped) or an XLSX number, as Decimal."""
    if cell is None:
        return D(0)
    if isinstance(cell, float):
        return D(repr(cell))
    if isinstance(cell, int):
        return D(cell)
    text = cell.strip().strip("\t").lstrip("`'").replace(",", "")
    return D(text or "0")


def day(cell) -> dt.date:
    if isinstance(cell, dt.datetime):
        return cell.date()
    digits = re.sub(r"\D", "", str(cell).strip().lstrip("`"))[:8]
    return dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))


def clean(cell: str) -> str:
    return cell.strip().strip("\t").lstrip("`'").strip()


def text_table(text: str, header_first: str, is_data, sheet: str = ""):
    """(physical line number, {header: cell}) for each line under the header while is_data(line)."""
    lines = text.splitlines()
    h = next(i for i, x in enumerate(lines) if x.lstrip("\ufeff").startswith(header_first + ","))
    header = [clean(c) for c in next(csv.reader([lines[h].lstrip("\ufeff")]))]
    for i in range(h + 1, len(lines)):
        if not is_data(lines[i]):
            break
        cells = next(csv.reader([lines[i]]))
        assert len(cells) == len(header), (sheet, i + 1, cells)
        yield i + 1, dict(zip(header, cells))


def not_hash(line: str) -> bool:       # Alipay / Tmall / PDD: the footer lines start with '#'
    return bool(line) and not line.startswith("#")


def ticked(line: str) -> bool:         # WeChat: every data line starts with a backtick
    return line.startswith("`")


def nonblank(line: str) -> bool:
    return bool(line.strip())


def xlsx_table(path: Path, header_first: str):
    """(sheet, Excel row number, {header: value}) for each non-empty row under the header row."""
    wb = openpyxl.load_workbook(path)
    ws = wb.worksheets[0]
    rows = list(ws.iter_rows(values_only=True))
    h = next(i for i, r in enumerate(rows) if r[0] == header_first)
    header = rows[h]
    for i in range(h + 1, len(rows)):
        if all(v in (None, "") for v in rows[i]):
            break
        yield ws.title, i + 1, dict(zip(header, rows[i]))


# ---------------------------------------------------------------- one reader per format family

def read_wechat_trade(path: Path) -> list[Line]:
    """Payment rows +应结订单金额; REFUND rows -退款金额 (their 应结订单金额 is 0.00)."""
    out = []
    for n, r in text_table(path.read_text("utf-8-sig"), "交易时间", ticked):
        refund = clean(r["交易状态"]) == "REFUND"
        amount = -money(r["退款金额"]) if refund else money(r["应结订单金额"])
        out.append(Line(n, "", day(r["交易时间"]), amount))
    return out


def read_wechat_fund(path: Path) -> list[Line]:
    """收支金额 is unsigned; 收支类型 收入/支出 gives the sign."""
    out = []
    for n, r in text_table(path.read_text("utf-8-sig"), "记账时间", ticked):
        sign = {"收入": 1, "支出": -1}[clean(r["收支类型"])]
        out.append(Line(n, "", day(r["记账时间"]), sign * money(r["收支金额（元）"])))
    return out


def read_alipay_trade_zip(path: Path) -> list[Line]:
    """The 业务明细 member (GBK names, no UTF-8 flag): 商家实收 is already signed (refunds negative).

    The 业务明细(汇总) member is a summary, not ledger lines; recon skips it as a part."""
    out = []
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            name = info.filename.encode("cp437").decode("gbk")
            if "汇总" in name:
                continue
            text = z.read(info).decode("gbk")
            for n, r in text_table(text, "支付宝交易号", not_hash, sheet=name):
                out.append(Line(n, name, day(r["完成时间"]), money(r["商家实收（元）"])))
    return out


def read_alipay_fund(path: Path) -> list[Line]:
    """Alipay and Tmall 账务明细: abs(收入) - abs(支出) (old files write 支出 positive, newer negative)."""
    out = []
    for n, r in text_table(path.read_bytes().decode("gbk"), "账务流水号", not_hash):
        amount = abs(money(r["收入金额（+元）"])) - abs(money(r["支出金额（-元）"]))
        out.append(Line(n, "", day(r["发生时间"]), amount))
    return out


def read_pdd(path: Path) -> list[Line]:
    """GB18030; 收入 positive, 支出 written 0 or negative: 收入 - abs(支出). Zero rows are lines too."""
    out = []
    for n, r in text_table(path.read_bytes().decode("gb18030"), "商户订单号", not_hash):
        amount = money(r["收入金额（+元）"]) - abs(money(r["支出金额（-元）"]))
        out.append(Line(n, "", day(r["发生时间"]), amount))
    return out


DOUYIN_FEES = ("平台服务费", "佣金", "服务商佣金", "渠道分成", "招商服务费", "站外推广费", "其他分成")


def read_douyin(path: Path) -> list[Line]:
    """动账金额 is unsigned beside 动账方向. On an order row (计费类型 …订单…) the principal is the money
    moved plus the seven deductions the platform took (the ERP books the order before fees)."""
    out = []
    for n, r in text_table(path.read_text("utf-8-sig"), "动账时间", nonblank):
        amount = money(r["动账金额"])
        if "订单" in r["计费类型"]:
            amount += sum(money(r[c]) for c in DOUYIN_FEES)
        sign = {"入账": 1, "出账": -1}[r["动账方向"]]
        out.append(Line(n, "", day(r["动账时间"]), sign * amount))
    return out


def read_jd(path: Path) -> list[Line]:
    """应结金额 is already signed; the bill of 账单生成时间 (YYYYMMDD) dates the line."""
    return [Line(n, sheet, day(r["账单生成时间"]), money(r["应结金额"]))
            for sheet, n, r in xlsx_table(path, "订单编号")]


def erp_key(r) -> tuple:
    """Kingdee natural key (bill, order, amount); the order is 平台订单号, else the one quoted in 摘要."""
    order = clean(str(r["平台订单号"] or ""))
    if not order:
        m = re.search(r"订单号[:：]?\s*([0-9A-Za-z_-]{6,})", str(r["摘要"] or ""))
        order = m[1] if m else ""
    return clean(str(r["单据编号"])), order, money(r["价税合计"])


def read_kingdee_xlsx(path: Path) -> list[Line]:
    return [Line(n, sheet, day(r["业务日期"]), money(r["价税合计"]), erp_key(r))
            for sheet, n, r in xlsx_table(path, "单据编号")]


def read_kingdee_csv(path: Path) -> list[Line]:
    return [Line(n, "", day(r["业务日期"]), money(r["价税合计"]), erp_key(r))
            for n, r in text_table(path.read_text("utf-8-sig"), "单据编号", nonblank)]


def read_cmb(path: Path) -> list[Line]:
    """借方/贷方 either/or: 贷方 - 借方."""
    return [Line(n, sheet, day(r["交易日"]), money(r["贷方金额"]) - money(r["借方金额"]))
            for sheet, n, r in xlsx_table(path, "交易日")]


def read_icbc(path: Path) -> list[Line]:
    """[HISTORYDETAIL]: 转入 - 转出."""
    return [Line(n, "", day(r["交易时间"]), money(r["转入金额"]) - money(r["转出金额"]))
            for n, r in text_table(path.read_bytes().decode("gbk"), "凭证号", nonblank)]


def read_camt(path: Path) -> list[Line]:
    """One line per Ntry (numbered 1…); Amt is unsigned beside CdtDbtInd."""
    root = ET.parse(path).getroot()
    ns = {"c": root.tag[1:].split("}")[0]}
    out = []
    for i, n in enumerate(root.iter(f"{{{ns['c']}}}Ntry"), start=1):
        sign = {"CRDT": 1, "DBIT": -1}[n.find("c:CdtDbtInd", ns).text]
        booked = n.find("c:BookgDt/c:Dt", ns).text
        out.append(Line(i, "", dt.date.fromisoformat(booked), sign * D(n.find("c:Amt", ns).text)))
    return out


MT940_61 = re.compile(r":61:(\d{2})(\d{2})(\d{2})(\d{4})?(RC|RD|C|D)[A-Z]?(\d+,\d*)")


def read_mt940(path: Path) -> list[Line]:
    """:61: value date YYMMDD, optional entry date MMDD, mark C/RD in, D/RC out, amount with a comma."""
    out = []
    for n, text in enumerate(path.read_text("ascii").splitlines(), start=1):
        if not text.startswith(":61:"):
            continue
        m = MT940_61.match(text)
        year, month, dd = 2000 + int(m[1]), int(m[2]), int(m[3])
        if m[4]:  # the entry date books the line (same year as the value date in this sample)
            month, dd = int(m[4][:2]), int(m[4][2:])
        sign = 1 if m[5] in ("C", "RD") else -1
        out.append(Line(n, "", dt.date(year, month, dd), sign * D(m[6].replace(",", "."))))
    return out


def count_only(encoding: str, header_first: str):
    """Evidence files (audit log, FX rates) carry no ledger money: only their lines are counted."""
    def read(path: Path) -> list[Line]:
        text = path.read_bytes().decode(encoding)
        return [Line(n, "", dt.date.min, D(0)) for n, _ in text_table(text, header_first, nonblank)]
    return read


# sample file (glob under the sample folder) -> (results source, reader)
READERS = {
    "platform/wechatpay/*_ALL_*.csv": ("platform", read_wechat_trade),
    "platform/wechatpay/*_资金账单.csv": ("platform", read_wechat_fund),
    "platform/alipay/*.csv.zip": ("platform", read_alipay_trade_zip),
    "platform/alipay/*_账务明细.csv": ("platform", read_alipay_fund),
    "platform/tmall/*.csv": ("platform", read_alipay_fund),
    "platform/pdd/*.csv": ("platform", read_pdd),
    "platform/douyin/*.csv": ("platform", read_douyin),
    "platform/jd/*.xlsx": ("platform", read_jd),
    "erp/*.xlsx": ("erp", read_kingdee_xlsx),
    "erp/*.csv": ("erp", read_kingdee_csv),
    "bank/招商*.xlsx": ("bank", read_cmb),
    "bank/工商*.csv": ("bank", read_icbc),
    "bank/*.xml": ("bank", read_camt),
    "bank/*.sta": ("bank", read_mt940),
    "evidence/售后*.csv": ("evidence", count_only("utf-8-sig", "平台")),
    "evidence/汇率*.csv": ("evidence", count_only("utf-8", "日期")),
}


def read_folder(root: Path) -> dict[str, tuple[str, list[Line]]]:
    """rel path -> (source, lines) for every input file; each file must have exactly one reader."""
    out = {}
    for pattern, (source, reader) in READERS.items():
        found = sorted(root.glob(pattern))
        assert len(found) == 1, (pattern, found)
        rel = found[0].relative_to(root).as_posix()
        assert rel not in out, rel
        out[rel] = (source, reader(found[0]))
    return out


def owned(files: dict[str, tuple[str, list[Line]]]) -> dict[str, list[Line]]:
    """The lines each file contributes to the store: its lines minus copies an earlier file already gave.

    The ERP CSV 应收单_微信商城 repeats lines of the Kingdee XLSX (same 单据编号, order, amount). recon
    imports files in its sorted scan order (paths sorted like pathlib sorts them) and the natural-key
    dedup keeps the first copy, so the file imported first owns a repeated line and the later file
    counts it as a duplicate. 应 (U+5E94) sorts before 金 (U+91D1): the CSV owns the 44 WeChat lines.
    Within one file identical keys stay separate lines (occurrence index: a multiset)."""
    seen: Counter = Counter()
    out = {}
    for rel in sorted(files, key=Path):
        source, lines = files[rel]
        here: Counter = Counter()
        keep = []
        for ln in lines:
            if ln.key:
                here[ln.key] += 1
                if here[ln.key] <= seen[ln.key]:
                    continue
            keep.append(ln)
        for k, v in here.items():
            seen[k] = max(seen[k], v)
        out[rel] = keep
    return out


# ---------------------------------------------------------------- running the CLI

def recon_run(src: Path, work: Path) -> tuple[int, dict, list[dict]]:
    """`recon run SRC --out WORK/out --db WORK/db` through the CLI entry point; (exit code, manifest, results)."""
    out, db = work / "out", work / "recon.duckdb"
    with pytest.raises(SystemExit) as exc:
        main(["run", str(src), "--out", str(out), "--db", str(db)])
    manifest = json.loads((out / "manifest.json").read_text("utf-8"))
    raw = (out / "results.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    results = list(csv.DictReader(io.StringIO(raw[3:].decode("utf-8"), newline="")))
    return exc.value.code, manifest, results


def copy_sample(dest: Path) -> Path:
    shutil.copytree(SAMPLE, dest)
    return dest


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("sample_run")
    src = copy_sample(work / "sample_data")
    code, manifest, results = recon_run(src, work)
    return src, code, manifest, results, read_folder(src)


def by_input(manifest) -> dict:
    return {i["path"]: i for i in manifest["inputs"]}


def period_of(manifest) -> tuple[dt.date, dt.date]:
    start = dt.datetime.strptime(manifest["period"], "%Y-%m").date()
    end = dt.date(start.year + (start.month == 12), start.month % 12 + 1, 1)
    return start, end


# ---------------------------------------------------------------- manifest against the reader

def test_the_run_reads_every_file_and_closes_the_sample_month(clean_run):
    src, code, manifest, _, files = clean_run
    truth = json.loads((src / ".planted.json").read_text("utf-8"))
    assert manifest["period"] == truth["period"] == "2026-01"
    assert set(by_input(manifest)) == set(files)  # the dot-file answer key is not an input
    # only the Alipay zips' 汇总 (summary) members are not read: listed with their archive, not ledgers
    skipped = manifest["skipped_files"]
    assert skipped and all(s["path"].endswith("(汇总).csv") and s["archive"] and not s["looks_like_ledger"]
                           for s in skipped), skipped
    assert manifest["quarantined_lines"] == 0
    assert manifest["failed_proofs"] == []
    # unknown lines are the planted differences: findings, hence exit 1, as the manifest says
    assert code == manifest["exit_code"] == 1 and manifest["status_counts"]["unknown"] > 0


def test_manifest_counts_and_sums_equal_the_independent_reader(clean_run):
    _, _, manifest, _, files = clean_run
    inputs = by_input(manifest)
    mine = owned(files)
    for rel, (source, lines) in files.items():
        got = inputs[rel]
        n = len(lines)
        dup = [ln for ln in lines if ln not in mine[rel]]
        assert got["status"] == "loaded", rel
        assert got["lines"]["data"] == n, rel
        assert got["lines"]["loaded"] + got["lines"]["duplicate"] + got["lines"]["quarantined"] == n, rel
        assert got["lines"]["quarantined"] == 0, rel
        assert got["lines"]["duplicate"] == len(dup), rel
        assert sum(p["data_lines"] for p in got["parts"]) == n, rel
        for p in got["parts"]:
            assert all(pr["passed"] for pr in p["proofs"]), (rel, p["proofs"])
        if source == "evidence":
            continue
        loaded = sum(D(p["amount_loaded"]) for p in got["parts"])
        duplicate = sum(D(p["amount_duplicate"]) for p in got["parts"])
        assert loaded + duplicate == sum(ln.amount for ln in lines), rel
        assert duplicate == sum(ln.amount for ln in dup), rel


def test_the_erp_csv_copy_is_owned_by_the_file_imported_first(clean_run):
    _, _, manifest, _, files = clean_run
    inputs = by_input(manifest)
    csv_rel = next(r for r in files if r.startswith("erp/") and r.endswith(".csv"))
    xlsx_rel = next(r for r in files if r.startswith("erp/") and r.endswith(".xlsx"))
    copies = len(files[csv_rel][1])
    assert copies > 0 and inputs[csv_rel]["lines"]["duplicate"] == 0
    assert inputs[xlsx_rel]["lines"]["duplicate"] == copies


def test_control_totals_equal_the_reader_per_source(clean_run):
    _, _, manifest, results, files = clean_run
    start, end = period_of(manifest)
    mine = owned(files)
    totals = manifest["control_totals"]
    assert set(totals) == {"platform", "erp", "bank"}
    for source, t in totals.items():
        lines = [ln for rel, (s, _) in files.items() if s == source for ln in mine[rel]]
        in_period = [ln for ln in lines if start <= ln.day < end]
        want = (len(in_period), sum(ln.amount for ln in in_period))
        assert (t["in"]["count"], D(t["in"]["amount"])) == want, source
        assert (t["out"]["count"], D(t["out"]["amount"])) == want, source
        late = [r for r in results if r["source"] == source and not start <= _result_day(r, files) < end]
        assert (t["later_evidence"]["count"], D(t["later_evidence"]["amount"])) == (
            len(late), sum(D(r["amount"]) for r in late)), source


def _result_day(row, files) -> dt.date:
    """The date the reader found for the file line a results row points at."""
    _, lines = files[row["source_file"]]
    return next(ln.day for ln in lines if ln.line == int(row["source_line"]) and ln.sheet == row["source_sheet"])


# ---------------------------------------------------------------- results.csv against the reader

def test_results_hold_each_period_line_once_with_the_file_amount(clean_run):
    """Per file: every owned line dated in the period is a row with the reader's amount; lines dated
    after the period (ERP credit notes of early February) appear only when they joined an order group."""
    _, _, manifest, results, files = clean_run
    start, end = period_of(manifest)
    mine = owned(files)
    where = Counter((r["source_file"], r["source_sheet"], r["source_line"]) for r in results)
    assert [k for k, v in where.items() if v > 1] == []
    assert {r["status"] for r in results} <= STATUSES
    assert {r["source_file"] for r in results} == {rel for rel, (s, _) in files.items() if s != "evidence"}
    late_seen = 0
    for rel, (source, _) in files.items():
        rows = {(r["source_sheet"], int(r["source_line"])): D(r["amount"]) for r in results
                if r["source_file"] == rel}
        assert all(r["source"] == source for r in results if r["source_file"] == rel)
        lines = {(ln.sheet, ln.line): ln for ln in mine[rel]}
        want = {k: ln.amount for k, ln in lines.items() if start <= ln.day < end}
        extra = {k: a for k, a in rows.items() if k not in want}
        assert {k: rows.get(k) for k in want} == want, rel
        assert all(k in lines and lines[k].day >= end and lines[k].amount == a for k, a in extra.items()), rel
        late_seen += len(extra)
        if source != "evidence" and all(start <= ln.day < end for ln in files[rel][1]):
            assert len(rows) == len(mine[rel]) and sum(rows.values()) == sum(ln.amount for ln in mine[rel])
    assert late_seen == sum(t["later_evidence"]["count"] for t in manifest["control_totals"].values()) > 0


def test_planted_orders_are_never_matched_on_the_leg_that_differs(clean_run):
    src, _, _, results, _ = clean_run
    truth = json.loads((src / ".planted.json").read_text("utf-8"))
    by_order: dict = {}
    for r in results:
        by_order.setdefault(r["order_no"], []).append(r)
    planted = [i for i in truth["items"] if i["order_no"]]
    assert [i["order_no"] for i in planted if i["order_no"] not in by_order] == []
    for item in planted:
        rows = by_order[item["order_no"]]
        # A fund-bill line linked to the trade-bill line it records (code trade_fund) reports that leg:
        # both bills agree with each other; the planted difference is against the ERP.
        own_leg = [r for r in rows if r["code"] != "trade_fund"]
        if item["code"] == "DUPLICATE_ERP_ENTRY":
            # the duplicate ERP document is the anomaly: it is never matched; the rest of the order is
            dup = [r for r in own_leg if r["source"] == "erp" and r["status"] != "matched"]
            assert len(dup) == 1 and dup[0]["code"] == "DUPLICATE_ERP_ENTRY", item
        elif item["code"] in FEE_CODES:
            # the planted fee line is never matched; the order's other fee lines may balance without it
            fees = [r for r in own_leg if r["line_type"] in ("fee", "commission")]
            planted_fee = [r for r in fees if r["amount"] == item["platform_amount"]] or fees
            assert planted_fee and all(r["status"] != "matched" for r in planted_fee), item
        elif item["code"] == "REFUND_PERIOD_TIMING":
            # the sale balances in the period and is matched; the refund and its late credit note are not
            legs = [r for r in own_leg if r["line_type"] in ("refund", "credit_note")]
            assert legs and all(r["status"] != "matched" for r in legs), item
        elif item["code"] == "SHORT_KEY_MATCHED":
            # nothing differs but the key: the fallback pass matches the one candidate, never order_exact
            legs = [r for r in own_leg if r["line_type"] in ORDER_LEG]
            assert legs and all((r["status"], r["code"]) == ("matched", "order_short_key") for r in legs), item
        else:
            legs = [r for r in own_leg if r["line_type"] in ORDER_LEG]
            assert legs and all(r["status"] != "matched" for r in legs), item


# ---------------------------------------------------------------- a dropped or duplicated line is caught

def edit_lines(path: Path, line_no: int, action: str) -> None:
    """Drop or duplicate physical line `line_no` of a text file, byte for byte (any encoding, CRLF kept)."""
    lines = path.read_bytes().splitlines(keepends=True)
    if action == "drop":
        del lines[line_no - 1]
    else:
        lines.insert(line_no, lines[line_no - 1])
    path.write_bytes(b"".join(lines))


TAMPERED = [
    # (file, reader, edit, a proof that must now fail); the line edited is the first money-in line
    ("platform/pdd/*.csv", read_pdd, "drop", "收入合计.count"),
    ("platform/wechatpay/*_ALL_*.csv", read_wechat_trade, "duplicate", "汇总.总交易单数"),
]


@pytest.mark.parametrize("pattern, reader, action, proof", TAMPERED, ids=["pdd-drop", "wechat-duplicate"])
def test_a_dropped_or_duplicated_line_fails_the_file_proof(clean_run, tmp_path, pattern, reader, action, proof):
    _, _, base, _, _ = clean_run
    src = copy_sample(tmp_path / "sample_data")
    path = next(src.glob(pattern))
    rel = path.relative_to(src).as_posix()
    before = reader(path)
    victim = next(ln for ln in before if ln.amount > 0)
    edit_lines(path, victim.line, action)
    after = reader(path)
    assert len(after) == len(before) + (1 if action == "duplicate" else -1)

    code, manifest, _ = recon_run(src, tmp_path)
    got = by_input(manifest)[rel]
    assert code == manifest["exit_code"] == 4  # a failed proof: the run is incomplete
    # a line dropped: the file is shorter than its footer says; a line added: the proof fails otherwise
    shown = {(r["code"], r["params"]["proof"]) for r in manifest["verdict"]["reasons"]
             if r["code"] in ("file_short", "proof_failed") and r["params"]["path"] == rel}
    assert ("file_short" if action == "drop" else "proof_failed", proof) in shown
    assert manifest["failed_proofs"] and all(f.startswith(rel + ": ") for f in manifest["failed_proofs"])
    assert f"{rel}: {proof}" in manifest["failed_proofs"]
    assert not got["proofs_passed"] and all(i["proofs_passed"] for i in manifest["inputs"] if i["path"] != rel)
    assert got["lines"]["data"] == len(after)
    assert got["lines"]["loaded"] + got["lines"]["duplicate"] == len(after)
    delta = sum(ln.amount for ln in after) - sum(ln.amount for ln in before)
    assert delta == (victim.amount if action == "duplicate" else -victim.amount)
    platform = manifest["control_totals"]["platform"]["in"]
    assert platform["count"] == base["control_totals"]["platform"]["in"]["count"] + len(after) - len(before)
    assert D(platform["amount"]) == D(base["control_totals"]["platform"]["in"]["amount"]) + delta


def test_a_line_dropped_from_a_file_without_footer_shows_in_the_control_totals(clean_run, tmp_path):
    """The JD 对账单 declares no totals, so no proof can fail; the control totals still move by the line."""
    _, _, base, _, _ = clean_run
    src = copy_sample(tmp_path / "sample_data")
    path = next(src.glob("platform/jd/*.xlsx"))
    rel = path.relative_to(src).as_posix()
    before = read_jd(path)
    victim = before[len(before) // 2]
    wb = openpyxl.load_workbook(path)
    wb[victim.sheet].delete_rows(victim.line)
    wb.save(path)
    after = read_jd(path)
    assert len(after) == len(before) - 1

    code, manifest, results = recon_run(src, tmp_path)
    assert code == 1 and manifest["failed_proofs"] == []
    assert by_input(manifest)[rel]["lines"]["data"] == len(after)
    was, now = base["control_totals"]["platform"], manifest["control_totals"]["platform"]
    assert now["in"]["count"] == was["in"]["count"] - 1 == now["out"]["count"]
    assert D(now["in"]["amount"]) == D(was["in"]["amount"]) - victim.amount
    assert len([r for r in results if r["source_file"] == rel]) == len(after)


def test_fee_checks_find_exactly_the_planted_fee_deviations(clean_run):
    """Every charged fee is checked against rules/fees.yaml; only the planted FEE_RULE_DEVIATION fees deviate."""
    src, _, manifest, results, _ = clean_run
    truth = json.loads((src / ".planted.json").read_text("utf-8"))
    planted = {i["order_no"] for i in truth["items"] if i["code"] == "FEE_RULE_DEVIATION"}
    checks = manifest["fee_checks"]
    assert all(c["checked"] > 0 for c in checks.values()), checks
    assert sum(c["deviations"] for c in checks.values()) == len(planted) == 2
    flagged = {r["order_no"] for r in results if "偏离合同公式" in r["explanation"]}
    assert flagged == planted
    conforming = [r for r in results if r["line_type"] in ("fee", "commission") and "符合合同公式" in r["explanation"]]
    assert len(conforming) > 100


def test_usd_lines_keep_their_currency_in_the_workbook_report_and_console(clean_run):
    """The sample's offline USD order: its amounts are shown as dollars and never added into yuan."""
    import openpyxl
    from decimal import Decimal

    src, _, manifest, results, _ = clean_run
    out = src.parent / "out"
    usd = [r for r in results if r["currency"] == "USD" and r["status"] == "unknown"]
    assert usd, "the sample plants an offline USD order"
    wb = openpyxl.load_workbook(out / "recon.xlsx")
    ws = wb["未知"]
    header = [c.value for c in ws[2]]
    cur_col, amt_col = header.index("币种"), header.index("金额")
    for row in ws.iter_rows(min_row=3):
        fmt = row[amt_col].number_format
        if row[cur_col].value == "USD":
            assert "US$" in fmt and "¥" not in fmt
        elif row[cur_col].value == "CNY":
            assert "¥" in fmt
    summary = list(wb["汇总"].iter_rows(values_only=True))
    status_rows = summary[next(i for i, r in enumerate(summary) if r[:2] == ("状态", "币种")) + 1:]
    unknown = []
    for r in status_rows:
        if r[0] and not r[0].startswith("未知") and unknown:
            break
        if (r[0] or "").startswith("未知") or (unknown and not r[0]):
            unknown.append(r)
    usd_total = sum(Decimal(r["amount"]) for r in usd)
    assert ("USD" in {r[1] for r in unknown}) and any(
        r[1] == "USD" and Decimal(repr(r[3])) == usd_total for r in unknown)
    cny_unknown = sum(Decimal(r["amount"]) for r in results if r["status"] == "unknown" and r["currency"] == "CNY")
    assert all(Decimal(repr(r[3])) == cny_unknown for r in unknown if r[1] == "CNY")
    html = (out / "report.html").read_text(encoding="utf-8")
    assert f"USD {usd_total:,.2f}" in html


def test_report_names_codes_and_accounts_in_the_readers_language(clean_run):
    import yaml

    src, _, manifest, _, _ = clean_run
    html = (src.parent / "out" / "report.html").read_text(encoding="utf-8")
    entries = {e["code"]: e for e in yaml.safe_load((SAMPLE.parent / "dictionaries" / "default.yaml")
                                                    .read_text(encoding="utf-8"))["entries"]}
    for code in manifest["classification"]["known_cases"]:
        assert manifest["classification"]["names"][code]["zh"] == entries[code]["name_zh"]
        assert f"<h3>{code} · {entries[code]['name_zh']}</h3>" in html
    assert "1002 银行存款" in html or "1122.01 应收账款-电商平台" in html
    assert "<td>bank_deposit</td>" not in html and "<td>accounts_receivable_platform</td>" not in html
