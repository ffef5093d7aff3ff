"""Personal payment bills of small sellers (issue 11 point 15): Alipay's personal 账单 CSV (2023 and
earlier layouts) and WeChat's 微信支付账单明细 (CSV and XLSX) load as platform ledgers of their
channel. 收入 is money in, 支出 money out; the lines the bill itself counts as neither (不计收支, 其他,
WeChat '/') load at 0 with their value kept. Fixtures are written in the published layouts (GBK, a
24-line preamble, space-padded cells, trailing commas, tabs after ids, ¥ amounts, a BOM, an unquoted
comma in 交易对方, an XLSX with blank preamble rows absent and Excel serial times); ids are our own.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import xlsxwriter

from conftest import do_import, rows, write

COLS = "source_line, channel, event_time, line_type, amount, gross_amount, platform_txn_no, related_txn_no, status"

NOTES = "".join(f"{i}.第{i}条提示；\n" for i in range(1, 10))
ALIPAY_2023 = (
    "------------------------------------------------------------------------------------\n"
    "导出信息：\n姓名：王小二\n支付宝账户：shop***@example.com\n"
    "起始时间：[2026-01-01 00:00:00]    终止时间：[2026-01-31 23:59:59]\n导出交易类型：[全部]\n"
    "导出时间：[2026-02-01 09:12:52]\n共4笔记录\n收入：1笔 128.50元\n支出：1笔 20.00元\n不计收支：2笔 66.03元\n"
    "\n特别提示：\n" + NOTES + "\n"
    "------------------------支付宝（中国）网络技术有限公司  电子客户回单------------------------\n"
    "交易时间            ,交易分类                ,交易对方                ,对方账号                ,"
    "商品说明                ,收/支                 ,金额                  ,收/付款方式              ,"
    "交易状态                ,交易订单号     ,商家订单号           ,备注                  ,\n"
    "2026-01-12 21:32:14 ,商业服务                ,张*三                 ,zha***@qq.com       ,"
    "手工皂 x2               ,收入                  ,128.50              ,                    ,"
    "交易成功                ,2026011222001400001234\t,T20260112001\t,                    ,\n"
    "2026-01-08 14:16:52,日用百货,x4***6,rim***@qq.com,包装盒,支出,20.00,余额,交易成功,"
    "2026010822001400005678\t,M20260108002\t,,\n"
    "2026-01-09 18:22:28,退款,一卡通,fin***@example.com,退款-包装盒,不计收支,16.03,余额宝,退款成功,"
    "2026010822001400005678_2026010900001\t,M20260108002\t,,\n"
    "2026-01-10 10:00:00,投资理财,蚂蚁财富,/,余额宝-转出,不计收支,50.00,余额宝,交易成功,20260110009\t,\t,,\n")


def test_alipay_personal_2023_layout(con, profiles, tmp_path):
    rep = do_import(con, write(tmp_path, "支付宝交易明细(20260101-20260131).csv", ALIPAY_2023, "gbk"), profiles)
    assert rep.formats == ["alipay.personal_bill"] and rep.parts[0].header_line == 25
    assert rep.totals() == {"data_lines": 4, "loaded": 4, "duplicates": 0, "quarantined": 0}
    got = rows(con, "platform_line", COLS)
    assert [(r["source_line"], r["line_type"], r["amount"], r["gross_amount"]) for r in got] == [
        (26, "sale", D("128.50"), D("128.50")), (27, "other", D("-20.00"), D("20.00")),
        (28, "refund", D("0.00"), D("16.03")), (29, "transfer", D("0.00"), D("50.00"))]
    assert got[0]["channel"] == "alipay" and got[0]["platform_txn_no"] == "2026011222001400001234"
    assert got[2]["related_txn_no"] == "2026010822001400005678"  # a refund names the payment it refunds
    assert got[0]["event_time"] == dt.datetime(2026, 1, 12, 21, 32, 14)
    assert {p["proof"]: p["passed"] for p in rep.parts[0].proofs} == {
        "共计.count": True, "收入.count": True, "收入.amount": True, "支出.count": True, "支出.amount": True,
        "不计收支.count": True, "不计收支.amount": True}
    assert rep.parts[0].values["account"] == "shop***@example.com"


def test_alipay_personal_direction_never_guessed(con, profiles, tmp_path):
    text = ALIPAY_2023.replace(",支出,20.00,", ",转出,20.00,")
    rep = do_import(con, write(tmp_path, "a.csv", text, "gbk"), profiles)
    (q,) = rows(con, "quarantine", "source_line, column_name, reason")
    assert (q["source_line"], q["column_name"]) == (27, "收/支") and "unknown direction '转出'" in q["reason"]
    assert rep.totals()["loaded"] == 3


ALIPAY_OLD = (
    "------------------------支付宝（中国）网络技术有限公司  电子客户回单------------------------\n"
    "收/支                 ,交易对方                ,对方账号                ,商品说明                ,"
    "收/付款方式              ,金额                  ,交易状态                ,交易分类                ,"
    "交易订单号     ,商家订单号           ,交易时间\n"
    "收入                  ,*三                 ,111******11         ,手工皂                  ,"
    "                    ,35.00,交易成功                ,收入                  ,2021062422001400000001\t,"
    "S0001\t,2021-06-24 10:00:00 ,\n"
    "其他                  ,广发基金管理有限公司          ,                    ,余额宝-收益发放 ,余额宝                 ,"
    "0.11                ,交易成功                ,投资理财                ,2021060922001400000002\t,"
    "                    \t,2021-06-09 02:57:13 ,\n"
    "------------------------------------------------------------------------------------\n"
    "导出信息：\n姓名：王小二\n支付宝账户：shop***@example.com\n"
    "起始时间：[2021-06-01 00:00:00]    终止时间：[2021-06-30 23:59:59]\n导出时间：[2021-07-01 03:10:16]\n"
    "共2笔记录\n收入：1笔,35.00元\n支出：0笔,0.00元\n其他：1笔,0.11元\n")


def test_alipay_personal_before_2023_totals_after_the_data(con, profiles, tmp_path):
    rep = do_import(con, write(tmp_path, "alipay_record_20210701.csv", ALIPAY_OLD, "gbk"), profiles)
    assert rep.formats == ["alipay.personal_bill"] and rep.parts[0].header_line == 2
    got = rows(con, "platform_line", COLS)
    assert [(r["source_line"], r["amount"], r["gross_amount"]) for r in got] == [
        (3, D("35.00"), D("35.00")), (4, D("0.00"), D("0.11"))]
    assert rep.proofs_passed, rep.parts[0].proofs


WECHAT_CSV = (
    "\ufeff微信支付账单明细,,,,,,,,,,\n微信昵称：[小店],,,,,,,,,,\n"
    "起始时间：[2026-01-01 00:00:00] 终止时间：[2026-01-31 23:59:59],,,,,,,,,,\n导出类型：[全部],,,,,,,,,,\n"
    "导出时间：[2026-02-01 16:05:22],,,,,,,,,,\n,,,,,,,,,,\n共4笔记录,,,,,,,,,,\n收入：2笔 93.00元,,,,,,,,,,\n"
    "支出：1笔 28.16元,,,,,,,,,,\n中性交易：1笔 100.10元,,,,,,,,,,\n注：,,,,,,,,,,\n"
    "1. 充值/提现/理财通购买/零钱通存取/信用卡还款等交易，将计入中性交易,,,,,,,,,,\n"
    "2. 本明细仅展示当前账单中的交易，不包括已删除的记录,,,,,,,,,,\n3. 本明细仅供个人对账使用,,,,,,,,,,\n"
    ",,,,,,,,,,\n----------------------微信支付账单明细列表--------------------,,,,,,,,,,\n"
    "交易时间,交易类型,交易对方,商品,收/支,金额(元),支付方式,当前状态,交易单号,商户单号,备注\n"
    '2026-01-26 12:45:27,"商户消费","云膳过桥米线(传奇广场店)","总共消费:28.16","支出",¥28.16,"中国银行(1234)",'
    '"支付成功","4200000925202601264997714292"\t,"129847129"\t,"/"\n'
    "2026-01-24 10:10:11,二维码收款,用户A,收款方备注:二维码收款,收入,¥70.00,/,已收钱,"
    "10000499012026012400751007550211\t,/\t,/\n"
    "2026-01-25 09:00:00,二维码收款,WALMART HONG KONG CO.,LIMITED,/,收入,¥23.00,零钱,已收钱,"
    "10000499012026012500751007550299\t,/\t,/\n"
    '2026-01-15 16:29:37,零钱提现,招商银行(1111),"/",/,¥100.10,招商银行,提现已到账,'
    '207260115100077148235523883175\t,/\t,"服务费¥0.10"\n')


def test_wechat_personal_csv(con, profiles, tmp_path):
    rep = do_import(con, write(tmp_path, "微信支付账单(20260101-20260131).csv", WECHAT_CSV), profiles)
    assert rep.formats == ["wechatpay.personal_bill"] and rep.parts[0].header_line == 17
    assert rep.totals() == {"data_lines": 4, "loaded": 4, "duplicates": 0, "quarantined": 0}
    got = rows(con, "platform_line", COLS + ", counterparty, fee_amount")
    assert [(r["source_line"], r["line_type"], r["amount"]) for r in got] == [
        (18, "other", D("-28.16")), (19, "sale", D("70.00")), (20, "sale", D("23.00")), (21, "payout", D("0.00"))]
    assert got[2]["counterparty"] == "WALMART HONG KONG CO.,LIMITED"  # the unquoted comma merged back
    assert got[3]["gross_amount"] == D("100.10") and got[3]["fee_amount"] == D("-0.10")
    assert got[0]["platform_txn_no"] == "4200000925202601264997714292" and got[0]["channel"] == "wechatpay"
    assert rep.proofs_passed, rep.parts[0].proofs


def test_wechat_personal_xlsx(con, profiles, tmp_path):
    path = tmp_path / "微信支付账单流水文件(20260101-20260131).xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("微信支付账单明细")
    pre = ["微信支付账单明细", "微信昵称：[小店]", "起始时间：[2026-01-01 00:00:00] 终止时间：[2026-01-31 23:59:59]",
           "导出类型：[全部]", "导出时间：[2026-02-01 16:05:22]", None, "共2笔记录", "收入：1笔 70.00元",
           "支出：1笔 28.16元", "中性交易：0笔 0.00元", "注：", "1. 充值/提现等交易，将计入中性交易",
           "2. 本明细仅展示当前账单中的交易", "3. 本明细仅供个人对账使用", "4. 本账单中所有时间均为UTC+08:00时间",
           None, "----------------------微信支付账单明细列表--------------------"]
    for i, text in enumerate(pre):
        if text is not None:  # blank preamble rows are absent from the XML, as WeChat writes them
            ws.write_string(i, 0, text)
    header = ["交易时间", "交易类型", "交易对方", "商品", "收/支", "金额(元)", "支付方式", "当前状态", "交易单号", "商户单号", "备注"]
    ws.write_row(17, 0, header)
    ws.write_row(18, 0, [46048.52045138889, "商户消费", "某餐厅", "/", "支出", 28.16, "零钱", "支付成功",
                         "4200000925202601264997714292", "129847129", "/"])
    ws.write_row(19, 0, [46046.42373842592, "二维码收款", "用户A", "/", "收入", 70, "/", "已收钱",
                         "10000499012026012400751007550211", "/", "/"])
    wb.close()
    rep = do_import(con, path, profiles)
    assert rep.formats == ["wechatpay.personal_bill"] and rep.parts[0].header_line == 18
    got = rows(con, "platform_line", COLS)
    assert [(r["source_line"], r["amount"]) for r in got] == [(19, D("-28.16")), (20, D("70.00"))]
    assert got[0]["event_time"] == dt.datetime(2026, 1, 26, 12, 29, 27)
    assert got[1]["platform_txn_no"] == "10000499012026012400751007550211"
    assert rep.proofs_passed, rep.parts[0].proofs
