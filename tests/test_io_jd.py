"""JD POP 对账单 (v1 22 columns, v2 2026-08 18 columns): golden rows, containers, damage, dedup."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import openpyxl

from conftest import FIXTURES, do_import, rows, write

V1 = FIXTURES / "jd_settlement_v1.csv"
V2 = FIXTURES / "jd_settlement_v2.csv"
COLS = ("source_line, channel, record_kind, bill_date, event_time, order_no, sub_order_no, merchant_order_no, "
        "refund_no, payout_ref, raw_type, line_type, amount, status, id_problem")

# (line, order_no, 商品编号, 费用名称, line_type, amount) of the v1 fixture
V1_GOLDEN = [
    (3, "3553498017448001", "100045678912", "货款", "sale", "199.00"),
    (4, "3553498017448001", "100045678912", "佣金", "commission", "-9.95"),
    (5, "3553498017448001", "100045678912", "交易服务费", "fee", "-1.99"),
    (6, "3553498017448001", "100045678912", "京豆", "fee", "-2.00"),
    (7, "3553498017448001", "100045678912", "广告联合活动降扣佣金", "commission", "1.50"),
    (8, "3553498017448001", "100045678912", "运费保险服务费", "fee", "-0.50"),
    (9, "3553512077351002", "100067891234", "货款", "sale", "118.00"),
    (10, "3553512077351002", "100067891234", "代收配送费", "sale", "6.00"),
    (11, "3553512077351002", "100067891234", "佣金", "commission", "-5.90"),
    (12, "3553512077351002", "100067891234", "货款", "refund", "-59.00"),
    (13, "3553512077351002", "100067891234", "佣金", "commission", "2.95"),
    (14, "3553512077351002", "100067891234", "售后卖家赔付费", "compensation", "-10.00"),
    (15, "3553577710284003", "100012398765", "货款", "sale", "45.90"),
]


def _v1_lines():
    return V1.read_bytes().decode("gb18030").splitlines()


def _cells(text_lines):
    return [line.split(",") for line in text_lines]


def _xlsx(tmp_path, name, table, numeric=()):
    """Write rows of strings to a one-sheet workbook; columns named in ``numeric`` become numbers."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "对账单"
    header = table[1]
    for r, cells in enumerate(table):
        out = []
        for c, v in enumerate(cells):
            if r >= 2 and c < len(header) and header[c] in numeric and v not in ("", "-"):
                v = int(v) if v.lstrip("-").isdigit() else float(v)
            out.append(v if v != "" else None)
        ws.append(out)
    path = tmp_path / name
    wb.save(path)
    return path


def _brief(con):
    return [(r["source_line"], r["order_no"], r["sub_order_no"], r["raw_type"], r["line_type"], str(r["amount"]))
            for r in rows(con, "platform_line", COLS)]


def test_v1_csv_golden(con, profiles):
    rep = do_import(con, V1, profiles)
    assert rep.formats == ["jd.settlement.v1"] and rep.encoding == "gb18030"
    assert rep.totals() == {"data_lines": 13, "loaded": 13, "duplicates": 0, "quarantined": 0}
    assert rep.parts[0].header_line == 2  # row 1 is the description line
    assert _brief(con) == V1_GOLDEN
    got = rows(con, "platform_line", COLS)
    assert {r["channel"] for r in got} == {"jd"} and {r["record_kind"] for r in got} == {"settlement"}
    assert all(isinstance(r["amount"], Decimal) for r in got)
    first = got[0]
    assert first["bill_date"] == dt.date(2026, 7, 8)  # 账单生成时间 20260708
    assert first["event_time"] == dt.datetime(2026, 7, 8, 6, 15, 22)  # 到账时间
    assert first["merchant_order_no"] == "202607081015223553498017448" and len(first["merchant_order_no"]) == 27
    assert first["payout_ref"] == "2026-07-08", "the 到账时间 day keys the payout that bundles the row"
    assert first["status"] == "已结算" and first["id_problem"] is None
    refund = got[9]
    assert (refund["line_type"], refund["amount"], refund["refund_no"]) == ("refund", Decimal("-59.00"), "235681904")
    unpaid = got[12]  # 未结算: no 到账时间 yet, the bill date stands in
    assert unpaid["status"] == "未结算" and unpaid["event_time"] == dt.datetime(2026, 7, 8)
    movement = con.execute("SELECT DISTINCT movement_date FROM platform_line").fetchall()
    assert movement == [(dt.date(2026, 7, 8),)]


def test_v1_refund_is_not_a_negative_sale(con, profiles):
    do_import(con, V1, profiles)
    sales = con.execute("SELECT count(*) FROM platform_line WHERE line_type = 'sale' AND amount < 0").fetchone()
    refunds = con.execute("SELECT sum(amount) FROM platform_line WHERE line_type = 'refund'").fetchone()
    assert sales == (0,) and refunds == (Decimal("-59.00"),)


def test_v1_utf8_csv_and_xlsx_give_the_same_rows(con, profiles, tmp_path):
    lines = _v1_lines()
    do_import(con, write(tmp_path, "jd_utf8.csv", "\ufeff" + "\r\n".join(lines) + "\r\n"), profiles)
    utf8 = [r[1:] for r in _brief(con)]
    assert utf8 == [g[1:] for g in V1_GOLDEN]
    con.execute("DELETE FROM platform_line")
    path = _xlsx(tmp_path, "jd.xlsx", _cells(lines), numeric=("应结金额", "佣金比例", "账单生成时间", "商品数量"))
    rep = do_import(con, path, profiles)
    assert rep.container == "xlsx" and rep.formats == ["jd.settlement.v1"]
    assert rep.parts[0].header_line == 2
    got = rows(con, "platform_line", COLS + ", source_sheet", "source_sheet = '对账单'")
    assert [(r["source_line"], r["order_no"], r["sub_order_no"], r["raw_type"], r["line_type"], str(r["amount"]))
            for r in got] == V1_GOLDEN  # Excel rows 3.. ; -9.95 as a float cell stays -9.95
    assert got[0]["bill_date"] == dt.date(2026, 7, 8)  # numeric 20260708


def test_v2_golden_with_dash_placeholders(con, profiles):
    rep = do_import(con, V2, profiles)
    assert rep.formats == ["jd.settlement.v2"]
    assert rep.totals() == {"data_lines": 7, "loaded": 7, "duplicates": 0, "quarantined": 0}
    got = rows(con, "platform_line", COLS + ", counterparty, raw_desc")
    assert [(r["source_line"], r["raw_type"], r["line_type"], str(r["amount"]), r["payout_ref"]) for r in got] == [
        (3, "货款", "sale", "199.00", "JS2026081600018842"),
        (4, "佣金", "commission", "-9.95", "JS2026081600018842"),
        (5, "交易服务费", "fee", "-1.99", "JS2026081600018842"),
        (6, "货款", "sale", "118.00", "JS2026081600018842"),
        (7, "货款", "refund", "-59.00", "JS2026081700020117"),
        (8, "京豆", "subsidy", "0.80", "JS2026081700020117"),
        (9, "返利框架费", "fee", "-1.18", "JS2026081700020117"),
    ]
    assert got[0]["bill_date"] == dt.date(2026, 8, 16) and got[4]["bill_date"] == dt.date(2026, 8, 17)
    assert got[0]["counterparty"] == "北京京东世纪贸易有限公司"
    assert got[0]["raw_desc"] == "不锈钢保温杯 500ml"  # 资金动账备注 '-' is empty: falls back to 商品名称
    assert got[4]["raw_desc"] == "售后退款"


def test_v1_and_v2_are_told_apart_by_header(profiles):
    from recon.io import containers, tabular

    for path, fmt in ((V1, "jd.settlement.v1"), (V2, "jd.settlement.v2")):
        text, _ = containers.decode(path.read_bytes())
        table = tabular.split(containers.text_rows(text), profiles)
        assert table.profile.name == fmt and table.header_line == 2


def test_excel_resaved_csv_flags_ids_and_never_guesses(con, profiles, tmp_path):
    lines = _v1_lines()
    resaved = []
    for line in lines[2:5]:
        c = line.split(",")
        c[0] = "3.5535E+15"            # 订单编号 16 digits, shown by Excel in scientific notation
        c[20] = "2.02607E+26"          # 商户订单号 27 digits
        c[3] = "2026/7/1 10:12"        # seconds dropped
        c[19] = "2026/7/8 6:15"
        c[13] = c[13].rstrip("0").rstrip(".") if "." in c[13] else c[13]  # 199.00 -> 199, -9.95 stays
        resaved.append(",".join(c))
    path = write(tmp_path, "jd_resaved.csv", "\r\n".join(lines[:2] + resaved) + "\r\n", "gb18030")
    rep = do_import(con, path, profiles)
    assert rep.totals()["loaded"] == 3 and rep.totals()["quarantined"] == 0
    got = rows(con, "platform_line", COLS)
    assert [r["order_no"] for r in got] == [None, None, None]
    assert [r["merchant_order_no"] for r in got] == [None, None, None]
    assert all("订单编号=3.5535E+15" in r["id_problem"] and "商户订单号=2.02607E+26" in r["id_problem"] for r in got)
    assert [str(r["amount"]) for r in got] == ["199.00", "-9.95", "-1.99"]
    assert got[0]["event_time"] == dt.datetime(2026, 7, 8, 6, 15)


def test_xlsx_numeric_id_over_15_digits_is_refused(con, profiles, tmp_path):
    table = _cells(_v1_lines()[:5])
    path = _xlsx(tmp_path, "jd_numeric_ids.xlsx", table, numeric=("订单编号", "商品编号", "应结金额"))
    do_import(con, path, profiles)
    got = rows(con, "platform_line", COLS)
    assert [r["order_no"] for r in got] == [None, None, None]  # 16-digit number cells: digits not trusted
    assert all(r["id_problem"].startswith("订单编号=3.553498017448001E+15") for r in got)
    assert [r["sub_order_no"] for r in got] == ["100045678912"] * 3  # 12 digits survive as a number


def test_header_moved_down_one_row_is_still_found(con, profiles, tmp_path):
    lines = _v1_lines()
    moved = [lines[0], "导出时间：2026-07-09 08:00:00"] + lines[1:]
    rep = do_import(con, write(tmp_path, "jd_moved.csv", "\r\n".join(moved) + "\r\n", "gb18030"), profiles)
    assert rep.formats == ["jd.settlement.v1"] and rep.parts[0].header_line == 3
    assert [(line - 1, *rest) for line, *rest in _brief(con)] == V1_GOLDEN


def test_malformed_amount_is_quarantined_with_line_and_column(con, profiles, tmp_path):
    lines = _v1_lines()
    lines[3] = lines[3].replace(",-9.95,", ",-9.9S,")
    rep = do_import(con, write(tmp_path, "jd_bad.csv", "\r\n".join(lines) + "\r\n", "gb18030"), profiles)
    assert rep.totals() == {"data_lines": 13, "loaded": 12, "duplicates": 0, "quarantined": 1}
    q = rows(con, "quarantine", "source_name, source_line, column_name, reason")
    assert q == [{"source_name": "jd_bad.csv", "source_line": 4, "column_name": "应结金额",
                  "reason": "cannot read '-9.9S': expected an amount like 1234.50, -12.30 or (12.30)"}]
    assert 4 not in [r[0] for r in _brief(con)]


def test_trailing_total_row_is_not_a_line(con, profiles, tmp_path):
    lines = _v1_lines() + ["合计,,,,,,,,,,,,,284.01,,,,,,,,"]
    rep = do_import(con, write(tmp_path, "jd_total.csv", "\r\n".join(lines) + "\r\n", "gb18030"), profiles)
    assert rep.totals()["data_lines"] == 13 and rep.parts[0].loaded == 13


def test_reimport_is_a_noop_and_overlap_counts_duplicates(con, profiles, tmp_path):
    first = do_import(con, V1, profiles)
    again = do_import(con, V1, profiles)
    assert first.status == "loaded" and again.status == "already_loaded"
    lines = _v1_lines()
    # the next day's download repeats rows 9-15 of the first file and adds one new bill row
    extra = lines[14].replace("20260708", "20260709").replace(",45.90,", ",12.00,").replace("货款,", "代收配送费,", 1)
    overlap = lines[:2] + lines[8:] + [extra]
    rep = do_import(con, write(tmp_path, "jd_next.csv", "\r\n".join(overlap) + "\r\n", "gb18030"), profiles)
    assert rep.totals() == {"data_lines": 8, "loaded": 1, "duplicates": 7, "quarantined": 0}
    assert rep.parts[0].amount_duplicate == "97.95"
    assert con.execute("SELECT count(*), sum(amount) FROM platform_line").fetchone() == (14, Decimal("296.01"))


def test_same_fee_twice_on_one_bill_is_two_events(con, profiles, tmp_path):
    """The key includes the amount but not the line: two equal 京豆 rows in one bill both count."""
    lines = _v1_lines()
    path = write(tmp_path, "jd_twice.csv", "\r\n".join(lines + [lines[5]]) + "\r\n", "gb18030")
    rep = do_import(con, path, profiles)
    assert rep.totals()["loaded"] == 14
    assert con.execute("SELECT max(occurrence) FROM platform_line WHERE raw_type = '京豆'").fetchone() == (2,)


def test_v2_xlsx_description_row_then_header(con, profiles, tmp_path):
    lines = V2.read_bytes().decode("utf-8").splitlines()
    path = _xlsx(tmp_path, "jd_v2.xlsx", _cells(lines), numeric=("商品单价", "商品数量", "应结金额"))
    rep = do_import(con, path, profiles)
    assert rep.formats == ["jd.settlement.v2"] and rep.parts[0].header_line == 2
    got = rows(con, "platform_line", COLS)
    assert [(r["source_line"], r["line_type"], str(r["amount"])) for r in got] == [
        (3, "sale", "199.00"), (4, "commission", "-9.95"), (5, "fee", "-1.99"), (6, "sale", "118.00"),
        (7, "refund", "-59.00"), (8, "subsidy", "0.80"), (9, "fee", "-1.18")]
    assert all(r["id_problem"] is None for r in got)
