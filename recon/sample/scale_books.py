"""Scale-month writers for the marketplaces, the ERP and the audit log.

- JD 对账单 v1: the XLSX sheet of ``write_marketplaces.write_jd`` saved as CSV (UTF-8 with BOM):
  description line 1, header line 2, the same cells (a month of JD lines exceeds a sheet's
  1,048,576 rows at scale).
- Douyin 动账明细 and Pinduoduo 店铺账务明细: ``write_douyin`` / ``write_pdd`` as queries.
- ERP: the Kingdee 应收单 list as one CSV (``write_erp.write_ar_csv`` layout, every customer), with
  ``books.build_docs``'s documents: one 标准应收单 per order, one 红字应收单 per refund, one month-end
  其他应收单 of platform fees per channel. Unlike the small month, JD's fees are booked too (the
  small month plants FEE_PERIOD_MISMATCH there; the scale month is clean).
- The after-sale audit log: three status events per marketplace refund (``write_evidence``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from recon.sample.books import FEE_KINDS
from recon.sample.model import CUSTOMERS, SURNAMES
from recon.sample.scale_io import cents, one, stamp, write_query
from recon.sample.scale_pay import MIX
from recon.sample.write_erp import COLUMNS
from recon.sample.write_evidence import AUDIT_HEADER, PLATFORM_NAMES
from recon.sample.write_marketplaces import DOUYIN_HEADER, JD_FEE_NAMES, JD_HEADER, PDD_HEADER, PDD_TYPES

REFUND_KINDS = "('refund', 'commission_back', 'insurance_back')"


def _case(col: str, mapping: dict, default: str = "''") -> str:
    arms = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in mapping.items())
    return f"CASE {col} {arms} ELSE {default} END"


def jd(con, month, root: Path, rel: str) -> Path:
    desc = (f"京东商家对账单 店铺:{month.accounts['company']}京东POP店 账期:{month.start:%Y-%m-%d}至"
            f"{month.last_day:%Y-%m-%d} 导出时间:{stamp(month.export_at())}")
    refund = f"kind IN {REFUND_KINDS}"
    sql = f"""
SELECT concat_ws(',', order_no, '0', '完成', ts(c_at), ts(s_at), CASE WHEN {refund} THEN refund_no ELSE '' END,
  CASE WHEN {refund} THEN ts(r_at) ELSE '' END, '100' || right(order_no, 9), product, '1', '基础扣点', '0.05',
  {_case('kind', JD_FEE_NAMES)}, amt(amount_c), 'CNY', CASE WHEN amount_c > 0 THEN '收入' ELSE '支出' END,
  CASE WHEN batch_ref IS NULL THEN '待结算' ELSE '已结算' END, strftime(CAST(mt AS DATE) + 1, '%Y-%m-%d'), ymd(mt),
  coalesce(ts(batch_bank_at), ''), merchant_order_no, coalesce('结算单' || batch_ref, '')) AS line
FROM jd_led JOIN o USING (ch, seq) ORDER BY pos"""
    return write_query(con, root / rel, sql, [desc, ",".join(JD_HEADER)], [], "utf-8", bom=True)


def douyin(con, month, root: Path, rel: str) -> Path:
    z, company = "'0.00'", f"'{month.accounts['company']}'"
    zeros = lambda k: ", ".join([z] * k)  # noqa: E731
    surname = "['" + "','".join(SURNAMES) + "'][CAST(right(order_no, 1) AS INT) + 1]"
    sub = lambda one_, two_: f"CASE k WHEN 2 THEN {two_} ELSE {one_} END"  # noqa: E731
    tal = sub("tal1_c", "tal2_c")
    sql = f"""
SELECT concat_ws(',', ts(mt),
  'AS' || strftime(mt, '%Y%m%d%H%M%S') || lpad(CAST(pos AS VARCHAR), 8, '0') || rd({MIX}, 7)
    || CASE WHEN amount_c > 0 THEN '_IN' ELSE '_OUT' END,
  CASE WHEN amount_c > 0 THEN '入账' ELSE '出账' END, amt(abs(amount_c)), '聚合支付',
  CASE kind
  WHEN 'sale' THEN concat_ws(',', '订单入账', '订单结算', '''' || {sub('sub1_no', 'sub2_no')}, '''' || order_no, '',
    ts(c_at), '''' || {sub('pid1', 'pid2')}, {sub('product', 'product2')},
    CASE WHEN {tal} > 0 THEN '''' || right(order_no, 10) ELSE '' END,
    CASE WHEN {tal} > 0 THEN {surname} || '小厨' ELSE '' END, '普通订单',
    amt({sub('sub1_c - subsidy_c', 'sub2_c')}), {z}, {z}, amt({sub('subsidy_c', '0')}), {zeros(7)}, {z},
    amt({sub('svc1_c', 'svc2_c')}), amt({tal}), {zeros(5)}, '否', {z}, {company}, '订单结算')
  WHEN 'refund' THEN concat_ws(',', '售后退款', '', '''' || sub1_no, '''' || order_no, refund_no, ts(c_at),
    '''' || pid1, product, '', '', '普通订单', {zeros(4)}, {zeros(7)}, amt(ref_c), {z}, {z}, {zeros(5)}, '否', {z},
    {company}, '原路退')
  ELSE concat_ws(',', '提现', '', '', '', '', '', '', '', '', '', '', {zeros(4)}, {zeros(7)}, {zeros(3)},
    {zeros(5)}, '否', {z}, {company}, '提现至银行卡 ' || pref)
  END) AS line
FROM led LEFT JOIN o USING (ch, seq) WHERE ch = 'douyin' ORDER BY pos"""
    return write_query(con, root / rel, sql, [DOUYIN_HEADER], [], "utf-8", newline="\n", bom=True)


def pdd(con, month, root: Path, rel: str) -> Path:
    sql = f"""
SELECT concat_ws(',', coalesce(order_no, ''), ts(mt),
  CASE kind WHEN 'sale' THEN amt(amount_c) ELSE '0' END, CASE kind WHEN 'sale' THEN '0' ELSE amt(amount_c) END,
  {_case('kind', {k: v[0] for k, v in PDD_TYPES.items()})},
  CASE kind WHEN 'refund' THEN '售后单号' || refund_no WHEN 'payout' THEN '提现至银行卡' ELSE '-' END,
  {_case('kind', {k: v[1] for k, v in PDD_TYPES.items()})}) AS line
FROM led LEFT JOIN o USING (ch, seq) WHERE ch = 'pdd' ORDER BY pos"""
    n_in, s_in, n_out, s_out = one(con, "SELECT count(*) FILTER (kind = 'sale'), sum(amount_c) FILTER (kind = 'sale'), "
                                   "count(*) FILTER (kind <> 'sale'), sum(amount_c) FILTER (kind <> 'sale') "
                                   "FROM led WHERE ch = 'pdd'")
    end = dt.datetime.combine(month.last_day, dt.time(23, 59, 59))
    head = ["拼多多店铺账务明细查询", "", f"起始时间：{month.start:%Y-%m-%d} 00:00:00  终止时间：{stamp(end)}",
            "----------交易记录明细列表---------", PDD_HEADER]
    foot = [f"#支出合计：{n_out}笔{cents(s_out)}元", f"#收入合计：{n_in}笔{cents(s_in)}元",
            f"#导出时间：{stamp(month.export_at())}"]
    return write_query(con, root / rel, sql, head, foot, "gb18030")


def erp(con, month, root: Path, rel: str) -> Path:
    customer = _case("ch", CUSTOMERS)
    cutoff = month.start + dt.timedelta(days=19)  # documents of the first 19 days are already paid
    fee_kinds = "('" + "','".join(FEE_KINDS) + "')"
    fees = f"""
SELECT ch, sum(CASE WHEN ch = 'douyin' THEN 0 WHEN kind IN {fee_kinds} THEN amount_c ELSE 0 END)
  + sum(CASE WHEN ch = 'wechatpay' AND kind = 'refund' THEN fee_back_c ELSE 0 END) AS total
FROM e JOIN o USING (ch, seq) GROUP BY ch
UNION ALL SELECT 'douyin', -sum(svc1_c + svc2_c + tal1_c + tal2_c) FROM o WHERE ch = 'douyin'"""
    sql = f"""
WITH d AS (
  SELECT CAST(c_at AS DATE) AS day, '标准应收单' AS doc_type, ch, order_no, received_c AS amount_c,
    CASE WHEN CAST(c_at AS DATE) < DATE '{cutoff}' THEN received_c ELSE 0 END AS settled_c,
    CASE WHEN (r5 // 1000000000000) % 100 < 6 THEN '' ELSE order_no END AS order_col,
    CASE WHEN (r5 // 1000000000000) % 100 < 6 THEN '订单号:' || order_no || ' ' || product
      ELSE {customer} || ' 销售 ' || product END AS summary
  FROM o
  UNION ALL
  SELECT CAST(r_at AS DATE), '红字应收单', ch, order_no, -ref_c, 0, order_no,
    '退款 售后单:' || CASE WHEN refund_no <> '' THEN refund_no ELSE request_no END FROM o WHERE ref
  UNION ALL
  SELECT DATE '{month.last_day}', '其他应收单', ch, '', total, 0, '', '平台费用 {month.period} ' || {customer}
  FROM ({fees}) WHERE total <> 0)
SELECT concat_ws(',', 'AR{month.start:%Y%m}' || lpad(CAST(row_number() OVER (
    ORDER BY day, doc_type <> '标准应收单', ch, order_no, doc_type) AS VARCHAR), 8, '0'),
  strftime(day, '%Y-%m-%d'), doc_type, {customer}, '人民币', '1', amt(amount_c),
  amt(CASE WHEN amount_c < 0 THEN -1 ELSE 1 END * ((abs(amount_c) * 26 + 113) // 226)), amt(amount_c),
  amt(settled_c), amt(amount_c - settled_c), '已审核', order_col, summary) AS line
FROM d ORDER BY day, doc_type <> '标准应收单', ch, order_no, doc_type"""
    return write_query(con, root / rel, sql, [",".join(COLUMNS)], [], "utf-8", bom=True)


def audit(con, month, root: Path, rel: str) -> Path:
    name = _case("ch", PLATFORM_NAMES)
    steps = [("- INTERVAL 3 HOUR", "买家申请退款", "", "退款申请中", "买家", "'申请金额' || amt(ref_c)"),
             ("- INTERVAL 1 HOUR", "商家同意退款", "退款申请中", "退款中", "客服-小林", "''"),
             ("", "退款成功", "退款中", "退款成功", "系统", "'退款金额' || amt(ref_c)")]
    parts = [f"SELECT r_at {shift} AS mt, order_no, {i} AS step, concat_ws(',', {name}, order_no, refund_no, "
             f"ts(r_at {shift}), '{ev}', '{old}', '{new}', '{who}', {note}) AS line FROM o WHERE ref AND ch IN "
             f"('" + "','".join(PLATFORM_NAMES) + "')"
             for i, (shift, ev, old, new, who, note) in enumerate(steps)]
    sql = f"SELECT line FROM ({' UNION ALL '.join(parts)}) ORDER BY mt, order_no, step"
    return write_query(con, root / rel, sql, [AUDIT_HEADER], [], "utf-8", bom=True)

