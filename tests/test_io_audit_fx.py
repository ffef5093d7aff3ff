"""Platform operation logs (family audit) and daily FX mid rates (family fx)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

from conftest import FIXTURES, do_import, rows, write
from recon.io import containers, tabular

AUDIT = FIXTURES / "audit_platform_log.csv"
FX = FIXTURES / "fx_daily_mid.csv"
FX_PAIRS = FIXTURES / "fx_daily_mid_pairs.csv"
AUDIT_HEADER = "平台,订单号,售后单号,事件时间,事件,原状态,新状态,操作人,备注"
AUDIT_COLS = ("source_line, channel, order_no, after_sale_no, event_time, event, old_status, new_status, "
              "operator, remark")


def detected(path, profiles):
    text, _ = containers.decode(path.read_bytes())
    table = tabular.split(containers.text_rows(text), profiles)
    return table.profile.name if table else None


def ev(line, channel, order_no, after_sale, ts, event, old, new, operator, remark=None):
    return {"source_line": line, "channel": channel, "order_no": order_no, "after_sale_no": after_sale,
            "event_time": dt.datetime(*ts), "event": event, "old_status": old, "new_status": new,
            "operator": operator, "remark": remark}


AUDIT_EXPECTED = [
    ev(2, "tmall", "4100123456789012345", None, (2026, 1, 5, 10, 0, 5), "付款", "待付款", "待发货", "买家"),
    ev(3, "tmall", "4100123456789012345", None, (2026, 1, 5, 16, 20, 11), "发货", "待发货", "已发货", "客服-小王",
       "顺丰 SF1234567890"),
    ev(4, "tmall", "4100123456789012345", "TK20260107001", (2026, 1, 7, 9, 5), "申请退款", "已发货", "退款中", "买家",
       "尺码不合适,申请退货退款"),
    ev(5, "tmall", "4100123456789012345", "TK20260107001", (2026, 1, 8, 11, 30), "退款成功", "退款中", "退款关闭",
       "系统", "退款金额113.00元"),
    ev(6, "jd", "3553498017448001", None, (2026, 1, 5, 12, 1), "付款", "等待付款", "等待出库", "系统"),
    ev(7, "jd", "3553498017448001", None, (2026, 1, 6, 8, 0), "确认收货", "等待确认收货", "完成", "买家"),
    ev(8, "douyin", "6912345678901234567", None, (2026, 1, 6, 14, 33, 45), "付款", "待支付", "待发货", "系统"),
    ev(9, "pdd", "260105-662941284701219", None, (2026, 1, 6, 18, 0), "发货", "待发货", "已发货", "系统"),
    ev(10, "alipay", "2026010522001458860515315453", None, (2026, 1, 5, 10, 0, 5), "交易成功", None, None, "系统"),
]


def audit_file(tmp_path, name, lines):
    return write(tmp_path, name, b"\xef\xbb\xbf" + ("\r\n".join([AUDIT_HEADER] + lines) + "\r\n").encode("utf-8"))


# ---------------------------------------------------------------- audit

def test_audit_golden(con, profiles):
    rep = do_import(con, AUDIT, profiles)
    assert rep.formats == ["audit.platform_log"] and rep.encoding == "utf-8-sig"
    assert rows(con, "audit_event", AUDIT_COLS) == AUDIT_EXPECTED
    assert con.execute("SELECT count(*) FROM audit_event WHERE id_problem IS NOT NULL").fetchone()[0] == 0


def test_audit_platform_names_and_codes(con, profiles, tmp_path):
    names = ["天猫", "淘宝", "tmall", "京东", "JD", "抖音", "douyin", "拼多多", "pdd", "微信支付", "wechatpay",
             "支付宝", "alipay", "快手"]
    lines = [f"{n},10000{i:02d},,2026-01-05 10:00:00,付款,,,系统," for i, n in enumerate(names)]
    do_import(con, audit_file(tmp_path, "names.csv", lines), profiles)
    got = [r["channel"] for r in rows(con, "audit_event", "channel")]
    # an unknown platform stays as written: visible, never merged into another channel
    assert got == ["tmall", "tmall", "tmall", "jd", "jd", "douyin", "douyin", "pdd", "pdd", "wechatpay",
                   "wechatpay", "alipay", "alipay", "快手"]


def test_audit_bad_lines_quarantined(con, profiles, tmp_path):
    lines = [
        "天猫,4100123456789012345,,2026-01-05 10:00:05,付款,待付款,待发货,买家,",
        "天猫,4100123456789012346,,昨天下午,付款,待付款,待发货,买家,",
        ",4100123456789012347,,2026-01-05 10:00:05,付款,待付款,待发货,买家,",
        "京东,4.10012E+18,,2026-01-05 10:00:05,付款,待付款,待发货,买家,",
    ]
    rep = do_import(con, audit_file(tmp_path, "bad.csv", lines), profiles)
    assert (rep.parts[0].loaded, rep.parts[0].quarantined) == (1, 3)
    q = con.execute("SELECT source_line, column_name, reason FROM quarantine ORDER BY source_line").fetchall()
    assert q == [
        (3, "事件时间", "cannot read '昨天下午': expected a date and time like 2026-01-31 23:59:59"),
        (4, "平台", "required value is empty"),
        # a required id that Excel mangled is refused rather than loaded without its order number
        (5, "订单号", "required id '4.10012E+18' is in scientific notation (Excel dropped its digits): "
                     "re-download the original file"),
    ]


def test_audit_reimport_and_overlap(con, profiles, tmp_path):
    do_import(con, AUDIT, profiles)
    assert do_import(con, AUDIT, profiles).status == "already_loaded"
    lines = AUDIT.read_bytes().decode("utf-8-sig").split("\r\n")[6:8] + [
        "京东,3553498017448001,,2026-01-07 09:00:00,申请售后,完成,售后中,买家,"]
    rep = do_import(con, audit_file(tmp_path, "later.csv", lines), profiles)
    assert (rep.parts[0].loaded, rep.parts[0].duplicates) == (1, 2)
    assert con.execute("SELECT count(*) FROM audit_event").fetchone()[0] == 10


def test_audit_detected(profiles):
    assert detected(AUDIT, profiles) == "audit.platform_log"


# ---------------------------------------------------------------- fx

FX_COLS = "source_name, source_line, rate_date, currency, mid_rate, unit, rate"


def fx(name, line, day, currency, mid, unit, rate):
    return {"source_name": name, "source_line": line, "rate_date": dt.date(2026, 1, day), "currency": currency,
            "mid_rate": D(mid), "unit": unit, "rate": D(rate)}


def test_fx_golden_with_unit_column(con, profiles):
    rep = do_import(con, FX, profiles)
    assert rep.formats == ["fx.daily_mid"] and rep.encoding == "gb18030"
    n = FX.name
    assert rows(con, "fx_rate", FX_COLS) == [
        fx(n, 2, 5, "USD", "7.1234", 1, "7.1234"),
        fx(n, 3, 5, "EUR", "7.8012", 1, "7.8012"),
        fx(n, 4, 5, "JPY", "4.8123", 100, "0.048123"),  # CFETS quotes 100 JPY
        fx(n, 5, 5, "HKD", "0.91234", 1, "0.91234"),
        fx(n, 6, 6, "USD", "7.1301", 1, "7.1301"),
        fx(n, 7, 6, "EUR", "7.7950", 1, "7.7950"),
        fx(n, 8, 6, "JPY", "4.8211", 100, "0.048211"),
        fx(n, 9, 6, "HKD", "0.91312", 1, "0.91312"),
    ]


def test_fx_pairs_without_unit_column_and_overlap(con, profiles):
    do_import(con, FX, profiles)
    rep = do_import(con, FX_PAIRS, profiles)
    # 2026-01-06 USD and JPY are already in the store from the first file
    assert (rep.parts[0].loaded, rep.parts[0].duplicates, rep.parts[0].quarantined) == (3, 2, 0)
    n = FX_PAIRS.name
    assert rows(con, "fx_rate", FX_COLS, f"source_name = '{n}'") == [
        fx(n, 4, 7, "USD", "7.1288", 1, "7.1288"),
        fx(n, 5, 7, "JPY", "4.8190", 100, "0.04819"),
        # an inverse pair (MYR per CNY) is kept as written, never read as CNY per MYR
        fx(n, 6, 7, "CNY/MYR", "0.6123", 1, "0.6123"),
    ]


def test_fx_division_is_exact_decimal(con, profiles, tmp_path):
    path = write(tmp_path, "fx_odd.csv", "日期,币种,中间价,单位\n2026-01-05,XAU,1,3\n2026-01-05,KRW,5.1234,1000\n")
    do_import(con, path, profiles)
    got = {r["currency"]: r["rate"] for r in rows(con, "fx_rate", "currency, rate")}
    assert got == {"XAU": D("0.33333333"), "KRW": D("0.00512340")}


def test_fx_bad_lines_quarantined(con, profiles, tmp_path):
    path = write(tmp_path, "fx_bad.csv",
                 "日期,币种,中间价,单位\n2026-01-05,美元,7.1234,1\n2026-01-05,日元,4.8123,0\n"
                 "2026-01-05,欧元,7.8O12,1\n2026-13-05,港元,0.91,1\n")
    rep = do_import(con, path, profiles)
    assert (rep.parts[0].loaded, rep.parts[0].quarantined) == (1, 3)
    q = con.execute("SELECT source_line, column_name, reason FROM quarantine ORDER BY source_line").fetchall()
    assert q == [
        (3, "单位", "cannot divide by zero"),
        (4, "中间价", "cannot read '7.8O12': expected a number like 7.1234"),
        (5, "日期", "cannot read '2026-13-05': expected a date like 2026-01-31"),
    ]


def test_fx_detected(profiles):
    assert detected(FX, profiles) == "fx.daily_mid"
    assert detected(FX_PAIRS, profiles) == "fx.daily_mid"
