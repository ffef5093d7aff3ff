"""Scale-month writers for the payment platforms: Alipay 业务明细 and 账务明细, Tmall, WeChat Pay.

Each function is the small writer of the same name (``write_alipay``, ``write_wechat``) expressed as
one query over ``o``/``led``: same header, preamble, cell affixes (trailing TAB, backtick), encoding,
line ends and footer totals, which are summed in SQL from the very rows written.
"""

from __future__ import annotations

from pathlib import Path

from recon.sample.scale_io import cents, one, write_query
from recon.sample.write_alipay import ALIPAY_CO, FUND_HEADER, TMALL_HEADER, TMALL_ROWS, TRADE_HEADER, _preamble, _rule
from recon.sample.write_wechat import ALL_HEADER, ALL_SUMMARY, BANKS, FUND_HEADER as WX_FUND_HEADER, FUND_SUMMARY

T = "chr(9)"
# cosmetic digits of a flow number, from the row's position: integer arithmetic, no RNG state
MIX = "((pos * 48271 + seq * 69621 + rk * 7 + k + 12345) % 9999991)"
COMPANY = "'{company}(招商银行 ****{tail})'"


def _company(month) -> str:
    return COMPANY.format(company=month.accounts["company"], tail=month.accounts["cmb"][-4:])


def _events(channel: str) -> str:
    """A payment and its refund as two rows in event order (the trade bills' row order)."""
    return (f"SELECT *, c_at AS ev, false AS is_ref FROM o WHERE ch = '{channel}' UNION ALL "
            f"SELECT *, r_at, true FROM o WHERE ch = '{channel}' AND ref")


def alipay_trade(con, month, root: Path, rel: str) -> Path:
    """The 业务明细 detail (the zip's detail member, as a plain GBK CSV at scale)."""
    sql = f"""
SELECT concat_ws(',', txn_no || {T}, merchant_order_no || {T}, CASE WHEN is_ref THEN '退款' ELSE '交易' END || {T},
  product, ts(c_at), ts(CASE WHEN is_ref THEN r_at ELSE c_at + INTERVAL 5 SECOND END),
  CASE store WHEN 0 THEN 'NB001' WHEN 1 THEN 'NB002' ELSE '' END || {T},
  CASE store WHEN 0 THEN '宁波天一店' WHEN 1 THEN '宁波鄞州店' ELSE '' END || {T},
  CASE store WHEN 0 THEN '收银01' WHEN 1 THEN '收银02' ELSE '' END || {T},
  CASE store WHEN 0 THEN 'POS0001' WHEN 1 THEN 'POS0002' ELSE '' END || {T}, buyer || {T},
  amt(CASE WHEN is_ref THEN -ref_c ELSE list_c END), amt(CASE WHEN is_ref THEN -ref_c ELSE received_c END),
  '0.00', '0.00', '0.00', amt(CASE WHEN is_ref THEN 0 ELSE disc_c END), amt(CASE WHEN is_ref THEN 0 ELSE disc_c END),
  CASE WHEN is_ref THEN '' ELSE coupon END, '0.00' || {T}, '0.00', CASE WHEN is_ref THEN request_no ELSE '' END || {T},
  amt(CASE WHEN is_ref THEN 0 ELSE -fee_c END), '0.00', '') AS line
FROM ({_events('alipay')}) ORDER BY ev, seq, is_ref"""
    n_sale, s_sale, s_disc, n_ref, s_ref = one(con, """
SELECT count(*), sum(received_c), sum(disc_c), count(*) FILTER (ref), sum(ref_c) FILTER (ref)
FROM o WHERE ch = 'alipay'""")
    head = _preamble("支付宝业务明细查询", month.accounts["alipay_pid"], month, "业务明细列表") + [TRADE_HEADER]
    foot = [_rule("业务明细列表结束", 41, 36),
            f"#交易合计：{n_sale}笔，商家实收共{cents(s_sale)}元，商家优惠共{cents(s_disc)}元",
            f"#退款合计：{n_ref}笔，商家实收退款共{cents(-(s_ref or 0))}元，商家优惠退款共0.00元",
            f"#导出时间：[{month.export_cn}]"]
    return write_query(con, root / rel, sql, head, foot, "gbk")


def _fund_footer(con, channel: str, title_left: int, pad: str = "") -> list[str]:
    n_out, s_out, n_in, s_in = one(con, "SELECT count(*) FILTER (amount_c <= 0), sum(amount_c) FILTER (amount_c <= 0), "
                                   "count(*) FILTER (amount_c > 0), sum(amount_c) FILTER (amount_c > 0) FROM led "
                                   "WHERE ch = ?", [channel])
    return [_rule("账务明细列表结束", title_left, 37) + pad, f"#支出合计：{n_out}笔，共{cents(-(s_out or 0))}元" + pad,
            f"#收入合计：{n_in}笔，共{cents(s_in)}元" + pad]


def alipay_fund(con, month, root: Path, rel: str) -> Path:
    sql = f"""
SELECT concat_ws(',', ymd(mt) || '1100' || lpad(CAST(pos AS VARCHAR), 9, '0') || rd({MIX}, 7) || {T},
  CASE kind WHEN 'payout' THEN pref ELSE txn_no END || {T}, coalesce(merchant_order_no, '') || {T},
  CASE kind WHEN 'sale' THEN product WHEN 'fee' THEN '服务费[' || txn_no || ']' WHEN 'refund' THEN '退款-' || product
    ELSE '提现' END || {T},
  ts(mt), CASE kind WHEN 'fee' THEN '{ALIPAY_CO}' WHEN 'payout' THEN {_company(month)} ELSE buyer END || {T},
  amt(greatest(amount_c, 0)), amt(greatest(-amount_c, 0)), amt(balance), '支付宝',
  CASE kind WHEN 'sale' THEN '在线支付' WHEN 'fee' THEN '收费' WHEN 'refund' THEN '退款' ELSE '提现' END,
  CASE kind WHEN 'refund' THEN request_no WHEN 'payout' THEN '提现到银行卡' ELSE '' END) AS line
FROM led LEFT JOIN o USING (ch, seq) WHERE ch = 'alipay' ORDER BY pos"""
    head = _preamble("支付宝账务明细查询", month.accounts["alipay_pid"], month, "账务明细列表") + [FUND_HEADER]
    foot = _fund_footer(con, "alipay", 40) + [f"#导出时间：[{month.export_cn}]"]
    return write_query(con, root / rel, sql, head, foot, "gbk")


def tmall(con, month, root: Path, rel: str) -> Path:
    def case(i: int) -> str:
        arms = " ".join(f"WHEN '{k}' THEN '{v[i]}'" for k, v in TMALL_ROWS.items() if v[i] is not None)
        return f"CASE kind {arms} END"

    name = case(1).replace("{product}", "' || product || '").replace("{order}", "' || order_no || '")
    sql = f"""
SELECT concat_ws(',', ymd(mt) || '1100' || lpad(CAST(pos AS VARCHAR), 9, '0') || rd({MIX}, 9) || {T},
  CASE kind WHEN 'payout' THEN pref ELSE txn_no END || {T}, {name} || {T}, ts(mt),
  amt(greatest(amount_c, 0)), amt(least(amount_c, 0)), amt(balance), {case(0)},
  CASE WHEN kind = 'payout' THEN '提现到银行卡' WHEN kind IN ('refund', 'commission_back') THEN '售后单号:' || refund_no
    ELSE '' END,
  coalesce(merchant_order_no, '') || {T},
  CASE WHEN kind = 'payout' THEN {_company(month)} ELSE coalesce({case(2)}, buyer) END || {T}, {case(3)},
  coalesce(order_no, '') || {T}) AS line
FROM led LEFT JOIN o USING (ch, seq) WHERE ch = 'tmall' ORDER BY pos"""
    pad = "," * 12
    head = _preamble("支付宝账务明细查询", month.accounts["tmall_pid"], month, "账务明细列表") + [TMALL_HEADER]
    foot = _fund_footer(con, "tmall", 40, pad) + [f"#导出时间：[{month.export_cn}]" + pad]
    return write_query(con, root / rel, sql, head, foot, "gbk")


def _tick(cells: list[str]) -> str:
    return "'`' || " + " || ',`' || ".join(cells)


def wechat_trade(con, month, root: Path, rel: str) -> Path:
    mch, appid = month.accounts["wechat_mchid"], month.appid
    openid = ("'o' || substr(replace(replace(to_base64(unhex(md5(CAST(r3 AS VARCHAR) || CAST(is_ref AS VARCHAR)) || "
              "md5(CAST(r4 AS VARCHAR)))), '+', '-'), '/', '_'), 1, 27)")
    bank = "['" + "','".join(BANKS) + "'][CAST((r2 // 1000) % " + str(len(BANKS)) + " AS INT) + 1]"
    r = "is_ref"
    cells = ["ts(c_at)", f"'{appid}'", f"'{mch}'", "'0'", "''", "txn_no", "merchant_order_no", openid, "'JSAPI'",
             f"CASE WHEN {r} THEN 'REFUND' ELSE 'SUCCESS' END", bank, "'CNY'",
             f"CASE WHEN {r} THEN '0.00' ELSE amt(received_c) END", "'0.00'",
             f"CASE WHEN {r} THEN refund_no ELSE '0' END", f"CASE WHEN {r} THEN request_no ELSE '0' END",
             f"CASE WHEN {r} THEN amt(ref_c) ELSE '0.00' END", "'0.00'", f"CASE WHEN {r} THEN 'ORIGINAL' ELSE '' END",
             f"CASE WHEN {r} THEN 'SUCCESS' ELSE '' END", "product", "''",
             f"amt(CASE WHEN {r} THEN -fee_back_c ELSE fee_c END) || '000'", "'0.60%'",
             f"CASE WHEN {r} THEN '0.00' ELSE amt(list_c) END", f"CASE WHEN {r} THEN amt(ref_c) ELSE '0.00' END", "''"]
    sql = f"SELECT {_tick(cells)} AS line FROM ({_events('wechatpay')}) ORDER BY ev, seq, is_ref"
    n, settle, refund, fees, orders = one(con, """
SELECT count(*) + count(*) FILTER (ref), sum(received_c), sum(ref_c) FILTER (ref),
       sum(fee_c) - coalesce(sum(fee_back_c) FILTER (ref), 0), sum(list_c) FROM o WHERE ch = 'wechatpay'""")
    summary = "`" + ",`".join([str(n), cents(settle), cents(refund), "0.00", cents(fees) + "000", cents(orders),
                               cents(refund)])
    return write_query(con, root / rel, sql, [ALL_HEADER], [ALL_SUMMARY, summary], "utf-8", bom=True)


def wechat_fund(con, month, root: Path, rel: str) -> Path:
    mch = month.accounts["wechat_mchid"]
    cells = ["ts(mt)", "CASE kind WHEN 'refund' THEN refund_no WHEN 'payout' THEN pref ELSE txn_no END",
             f"'{mch}' || ymd(mt) || lpad(CAST(pos AS VARCHAR), 8, '0') || rd({MIX}, 2)",
             "CASE kind WHEN 'sale' THEN '交易' WHEN 'fee' THEN '扣除交易手续费' WHEN 'refund' THEN '退款' ELSE '提现' END",
             "CASE kind WHEN 'sale' THEN '交易' WHEN 'fee' THEN '扣除交易手续费' WHEN 'refund' THEN '退款' ELSE '提现' END",
             "CASE WHEN amount_c > 0 THEN '收入' ELSE '支出' END", "amt(abs(amount_c))", "amt(balance)",
             f"CASE kind WHEN 'refund' THEN '{mch}API' ELSE 'system' END",
             "CASE kind WHEN 'refund' THEN '退款总金额' || amt(ref_c) || '元;含手续费' || amt(fee_back_c) || '元' "
             "WHEN 'payout' THEN '自动提现' ELSE '' END",
             "CASE kind WHEN 'refund' THEN 'REF' || txn_no WHEN 'payout' THEN pref ELSE merchant_order_no END"]
    sql = f"SELECT {_tick(cells)} AS line FROM led LEFT JOIN o USING (ch, seq) WHERE ch = 'wechatpay' ORDER BY pos"
    n_in, s_in, n_out, s_out = one(con, "SELECT count(*) FILTER (amount_c > 0), sum(amount_c) FILTER (amount_c > 0), "
                                   "count(*) FILTER (amount_c <= 0), sum(amount_c) FILTER (amount_c <= 0) FROM led "
                                   "WHERE ch = 'wechatpay'")
    summary = "`" + ",`".join([f"{n_in + n_out}.0", f"{n_in}.0", cents(s_in), f"{n_out}.0", cents(-(s_out or 0))])
    return write_query(con, root / rel, sql, [WX_FUND_HEADER], [FUND_SUMMARY, summary], "utf-8", bom=True)
