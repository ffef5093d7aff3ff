"""The cases the dictionary judges, and the variables a detection expression may read.

After matching, everything still ``unknown`` is gathered into *cases* (temp table ``cases``), in
one set of SQL statements:

- an **order case** per unknown order group (the ``G…`` group of the order leg), plus the unknown
  lines without a group that carry the same order number and are not platform fees (an ERP
  其他应收单 for the order's subsidy, a bank credit quoting the order): one residual, one verdict;
- a **fee-group case** per channel whose ERP fee documents did not meet the platform's fees (the
  ``F…`` group of the fee leg), with that channel's unknown platform fee lines;
- a **line case** for every unknown line on its own (a fee line, a duplicate ERP document, a bank
  credit, a line whose id Excel destroyed), carrying the figures of the group it sits in, so an entry
  can recognise the one line that explains its group's whole residual.

Every case has every column of ``CASE_COLUMNS`` (NULL where it does not apply); those names and
types are what ``recon.sql.expr`` lets a dictionary expression read, and ``dictionaries/README.md``
explains each. Amounts are DECIMAL(18,2), signed from the company's side (+ money in).
"""

from __future__ import annotations

from recon import store
from recon.engine.steps import Step, runner, values_table
from recon.sql.bind import in_list

MONEY = "DECIMAL(18,2)"
# two rates for one day: the first by the lines' provenance ids, as before the ids were integers
FX_REF = store.LINE_REF_SQL.format(sha="sf.sha256", sheet="x.source_sheet", line="x.source_line")
# name -> SQL type: the case variables (the allow-list of columns for detection/correction expressions)
CASE_COLUMNS = {
    "case_kind": "VARCHAR", "source": "VARCHAR", "channel": "VARCHAR", "order_no": "VARCHAR",
    "line_type": "VARCHAR", "currency": "VARCHAR", "amount": MONEY, "residual": MONEY,
    "platform_sum": MONEY, "erp_sum": MONEY, "bank_sum": MONEY, "diff": MONEY,
    "n_platform": "BIGINT", "n_erp": "BIGINT", "n_bank": "BIGINT",
    "platform_sale_sum": MONEY, "platform_refund_sum": MONEY, "erp_receivable_sum": MONEY,
    "erp_credit_sum": MONEY, "erp_other_sum": MONEY, "subsidy_sum": MONEY, "gross_sum": MONEY,
    "discount_sum": MONEY, "fee_column_sum": MONEY,
    "all_in_period": "BOOLEAN", "days_before_end": "INTEGER", "late_days": "INTEGER",
    "erp_late_sum": MONEY, "platform_late_sum": MONEY, "diff_in_period": MONEY,
    "settlement_lag_days": "INTEGER", "fee_booking": "VARCHAR", "erp_fee_docs": "BIGINT",
    "has_review_event": "BOOLEAN", "money_moved": "BOOLEAN", "refund_shown_done": "BOOLEAN",
    "erp_currency": "VARCHAR", "foreign_amount": MONEY, "erp_rate": "DECIMAL(18,6)", "fx_rate_on_date": "DECIMAL(18,8)",
    "fx_local_diff": MONEY, "fx_rate_diff": "DECIMAL(18,8)",
    "id_problem": "VARCHAR", "mangled_id_match": "BIGINT",
    "dup_count": "BIGINT", "dup_rank": "BIGINT",
    "fee_kind": "VARCHAR", "fee_desc": "VARCHAR", "fee_class": "VARCHAR", "order_full_refund": "BOOLEAN", "order_kind_net": MONEY,
    "fee_expected": MONEY, "fee_charged": MONEY, "fee_deviation": MONEY,
    "in_group": "BOOLEAN", "group_diff": MONEY, "fee_group_gap": MONEY, "kind_sum": MONEY,
    "counterparty": "VARCHAR", "erp_ref_docs": "BIGINT", "erp_same_amount": "BIGINT",
    "memo": "VARCHAR", "payer_erp_docs": "BIGINT",
}
FEE_TYPES = ("fee", "commission")
# The kind of a fee line: the category of an Alipay/Tmall business type ('0030001|软件服务费-天猫佣金' and
# '0030002|软件服务费-天猫佣金退款' are both 软件服务费), else the raw type (JD 佣金, 运费保险服务费).
FEE_KIND = "coalesce(nullif(regexp_extract({p}.raw_desc, '^[0-9]+[|]([^-|]+)', 1), ''), {p}.raw_type)"
# The class of a platform charge, from its line type and its kind and description as the profiles read
# them: what an entry needs to know whatever the platform calls it. First match wins: a promotion fee
# (淘宝客佣金 is a commission by name, billed per deal and never returned) and a payment-channel fee before
# the commission-like charges, which the platform returns with a full refund (佣金, 技术服务费, 交易服务费).
FEE_CLASSES = (("promotion", "推广|淘宝客|营销|广告|直通车|京东快车"),
               ("shipping_insurance", "运费险|运费保险"),
               ("payment", "支付服务费|花呗|信用卡|跨境|手续费"),
               ("commission_like", "佣金|技术服务费|交易服务费"))
FEE_CLASS = ("CASE WHEN NOT {o}.is_fee THEN NULL " + " ".join(
    f"WHEN regexp_matches(coalesce({{o}}.raw_type, '') || ' ' || coalesce({{o}}.raw_desc, ''), '{pattern}') "
    f"THEN '{name}'" for name, pattern in FEE_CLASSES)
    + " WHEN {o}.line_type = 'commission' THEN 'commission_like' ELSE 'other' END")
# An audit event that puts a refund (back) under review, and one that says its money moved.
REVIEW_STATUS = "(二审|复核|审核中|人工审核)"
MONEY_STATUS = "(退款成功|已退款|退款完成|已打款)"
# A payer's name as compared with the ERP's customers: upper case, without spaces, brackets or dots.
PAYER_KEY = "nullif(upper(regexp_replace({x}, '[\\s()（）.,，、]', '', 'g')), '')"


def build(con, period_start, period_end, channels) -> int:
    """Create temp table ``cases`` (and ``case_member``: case_id -> line_id) from ``result``/``universe``.

    ``channels`` are ``recon.rules.Channel`` records: settlement lag and how the ERP books fees.
    Returns the number of cases. ``con``: the run's ``Runner`` or a bare connection.
    """
    r = runner(con)
    r.run(steps(period_start, period_end, channels))
    return r.scalar("cases.count", "SELECT count(*) FROM cases")


def steps(period_start, period_end, channels) -> list[Step]:
    """The steps that build ``cases`` and ``case_member`` (and the context tables they draw on)."""
    out = [values_table("case_channel", "cases.channels", {"channel": "VARCHAR", "lag": "INTEGER",
                                                           "fee_booking": "VARCHAR"},
                        [(c.code, c.settlement_lag_days, getattr(c, "fee_booking", "auto")) for c in channels], "ch")]
    params = {"start": period_start, "end": period_end}
    ftypes = in_list("ft", FEE_TYPES, params)
    # the unknown lines, with what the store knows about each beyond the universe
    out.append(Step("cases.open", f"""CREATE OR REPLACE TEMP TABLE c_open AS
        SELECT u.line_id, u.source, u.channel,
               -- a bank credit quoting the order (CAMT EndToEndId, MT940 EREF) joins that order's case
               CASE WHEN u.source = 'bank' THEN coalesce(u.order_no, b.customer_ref) ELSE u.order_no END AS order_no,
               u.line_type, u.currency, u.amount, u.local_amount,
               u.movement_date, u.in_period, u.after_period, u.id_problem, u.order_record, u.counterparty,
               -- a bank line's remittance text: 摘要 and 用途/附言, only the longer where one holds the other
               CASE WHEN u.source = 'bank' THEN nullif(trim(CASE
                   WHEN contains(coalesce(b.purpose, ''), coalesce(b.summary, '')) THEN b.purpose
                   WHEN contains(b.summary, b.purpose) THEN b.summary
                   ELSE b.summary || ' ' || b.purpose END), '') END AS memo,
               u.source_file, u.source_line, u.source_sheet, r.match_group AS rgroup,
               {FEE_KIND.format(p="p")} AS raw_type, p.raw_desc, p.subsidy_amount, p.gross_amount, p.fee_amount,
               e.exchange_rate, e.amount_local, e.bill_no,
               u.source = 'platform' AND u.line_type IN ({ftypes}) AS is_fee
        FROM result r JOIN universe u USING (line_id)
        LEFT JOIN platform_line p ON u.source = 'platform' AND p.line_id = u.line_id
        LEFT JOIN erp_line e ON u.source = 'erp' AND e.line_id = u.line_id
        LEFT JOIN bank_line b ON u.source = 'bank' AND b.line_id = u.line_id
        -- a line carried from the period before (recon.engine.carry_forward) was classified there; its
        -- timing entry's voucher was posted there: never classified again
        WHERE r.status = 'unknown' AND u.carried_from IS NULL""", params, "c_open"))
    # which group case each unknown line belongs to (NULL: it stands alone)
    out.append(Step("cases.members", """CREATE OR REPLACE TEMP TABLE case_member AS
        WITH og AS (SELECT order_no, min(rgroup) AS g FROM c_open
                    WHERE rgroup LIKE 'G%' AND order_no IS NOT NULL GROUP BY order_no),
             fg AS (SELECT channel, min(rgroup) AS g FROM c_open
                    WHERE rgroup LIKE 'F%' AND source = 'erp' AND channel IS NOT NULL GROUP BY channel)
        SELECT o.line_id,
               CASE WHEN o.rgroup LIKE 'G%' OR o.rgroup LIKE 'F%' THEN o.rgroup
                    WHEN o.rgroup IS NULL AND NOT o.is_fee AND o.id_problem IS NULL THEN og.g
                    WHEN o.rgroup IS NULL AND o.is_fee AND o.in_period AND o.order_record THEN fg.g END AS cgroup
        FROM c_open o LEFT JOIN og ON og.order_no = o.order_no LEFT JOIN fg ON fg.channel = o.channel""",
        writes="case_member"))
    out += _context(params)
    out.append(_groups(params))
    out.append(_lines(params))
    out.append(Step("cases", "CREATE OR REPLACE TEMP TABLE cases AS SELECT * FROM case_groups UNION ALL BY NAME "
                    "SELECT * FROM case_lines", writes="cases"))
    return out


def _context(params) -> list[Step]:
    """Per order, per channel and per ERP line: the evidence the cases draw on (audit log, FX, fees)."""
    return [Step("cases.audit", f"""CREATE OR REPLACE TEMP TABLE c_audit AS
        WITH ev AS (SELECT order_no, event_time, coalesce(new_status, '') AS st FROM audit_event
                    WHERE order_no IN (SELECT order_no FROM c_open)),
             rv AS (SELECT order_no, max(event_time) AS last_review FROM ev
                    WHERE regexp_matches(st, '{REVIEW_STATUS}') GROUP BY order_no)
        SELECT ev.order_no, rv.last_review IS NOT NULL AS has_review_event,
               coalesce(bool_or(regexp_matches(ev.st, '{MONEY_STATUS}') AND ev.event_time > rv.last_review),
                        FALSE) AS money_moved,
               bool_or(regexp_matches(ev.st, '{MONEY_STATUS}')) AS refund_shown_done
        FROM ev LEFT JOIN rv USING (order_no) GROUP BY ev.order_no, rv.last_review""", params, "c_audit"),
    # the channel's ERP fee documents of the period and how its ERP books fees ('auto' resolved here)
    Step("cases.channels_fees", """CREATE OR REPLACE TEMP TABLE c_chan AS
        SELECT ch.channel, ch.lag, d.n AS erp_fee_docs,
               CASE WHEN ch.fee_booking <> 'auto' THEN ch.fee_booking
                    WHEN coalesce(d.n, 0) = 0 THEN 'next_period' ELSE 'monthly' END AS fee_booking
        FROM case_channel ch LEFT JOIN (
            SELECT channel, count(*) AS n FROM universe
            WHERE source = 'erp' AND in_period AND order_no IS NULL AND line_type = 'other_receivable'
            GROUP BY channel) d USING (channel)""", writes="c_chan"),
    # fees carried as columns of the channel's sale/refund lines (WeChat, Douyin): part of its fee total
    Step("cases.fee_columns", """CREATE OR REPLACE TEMP TABLE c_feecol AS
        SELECT channel, sum(fee_amount) AS s FROM universe
        WHERE source = 'platform' AND in_period AND order_record AND fee_amount IS NOT NULL AND fee_amount <> 0
          AND line_type IN ('sale', 'refund') GROUP BY channel""", writes="c_feecol"),
    # an ERP line in a foreign currency against the published rate of its own business date
    Step("cases.fx", f"""CREATE OR REPLACE TEMP TABLE c_fx AS
        SELECT o.line_id, o.amount AS foreign_amount, o.exchange_rate AS erp_rate, f.rate AS fx_rate_on_date,
               CAST(round(o.amount * f.rate, 2) - o.local_amount AS DECIMAL(18,2)) AS fx_local_diff
        FROM c_open o JOIN (SELECT x.rate_date, x.currency, any_value(x.rate ORDER BY {FX_REF}) AS rate
                            FROM fx_rate x JOIN source_file sf USING (file_id)
                            GROUP BY ALL) f ON f.currency = o.currency AND f.rate_date = o.movement_date
        WHERE o.source = 'erp' AND o.currency IS NOT NULL AND o.currency <> 'CNY'""", writes="c_fx")]


def _groups(params) -> Step:
    """One row per group case: sums by side and type, period position, evidence flags."""
    return Step("cases.groups", """CREATE OR REPLACE TEMP TABLE case_groups AS
        WITH m AS (SELECT o.*, cm.cgroup FROM c_open o JOIN case_member cm USING (line_id)
                   WHERE cm.cgroup IS NOT NULL),
             g0 AS (
            SELECT cgroup AS case_id,
                   CASE WHEN cgroup LIKE 'F%' THEN 'fee_group' ELSE 'order' END AS case_kind,
                   any_value(channel ORDER BY channel NULLS LAST) AS channel,
                   min(order_no) FILTER (WHERE NOT is_fee) AS order_no,
                   any_value(currency ORDER BY source DESC, currency) AS currency,
                   coalesce(sum(amount) FILTER (WHERE source = 'platform'), 0) AS platform_sum,
                   coalesce(sum(amount) FILTER (WHERE source = 'erp'), 0) AS erp_own_sum,
                   coalesce(sum(amount) FILTER (WHERE source = 'bank'), 0) AS bank_sum,
                   -- the currencies of each side: an ERP side in another currency than the money side's is
                   -- taken in local currency (its 本位币 amounts), when the money side is in CNY
                   min(currency) FILTER (WHERE source <> 'erp') AS m_ccy_lo,
                   max(currency) FILTER (WHERE source <> 'erp') AS m_ccy_hi,
                   min(currency) FILTER (WHERE source = 'erp') AS e_ccy_lo,
                   max(currency) FILTER (WHERE source = 'erp') AS e_ccy_hi,
                   coalesce(sum(CASE WHEN currency = 'CNY' THEN amount ELSE local_amount END)
                            FILTER (WHERE source = 'erp'), 0) AS erp_local_sum,
                   count(*) FILTER (WHERE source = 'erp' AND currency IS DISTINCT FROM 'CNY'
                                    AND local_amount IS NULL) AS erp_no_local,
                   count(*) FILTER (WHERE source = 'platform') AS n_platform,
                   count(*) FILTER (WHERE source = 'erp') AS n_erp,
                   count(*) FILTER (WHERE source = 'bank') AS n_bank,
                   coalesce(sum(amount) FILTER (WHERE source = 'platform' AND line_type = 'sale'), 0) AS platform_sale_sum,
                   coalesce(sum(amount) FILTER (WHERE source = 'platform' AND line_type = 'refund'), 0)
                       AS platform_refund_sum,
                   coalesce(sum(amount) FILTER (WHERE source = 'erp' AND line_type = 'receivable'), 0)
                       AS erp_receivable_sum,
                   coalesce(sum(amount) FILTER (WHERE source = 'erp' AND line_type = 'credit_note'), 0) AS erp_credit_sum,
                   coalesce(sum(amount) FILTER (WHERE source = 'erp' AND line_type = 'other_receivable'), 0)
                       AS erp_other_sum,
                   coalesce(sum(subsidy_amount) FILTER (WHERE source = 'platform'), 0) AS subsidy_sum,
                   sum(gross_amount) FILTER (WHERE source = 'platform') AS gross_sum,
                   coalesce(sum(fee_amount) FILTER (WHERE source = 'platform' AND NOT is_fee), 0) AS fee_column_sum,
                   bool_and(in_period) AS all_in_period,
                   min(date_diff('day', movement_date, $end)) FILTER (WHERE in_period) AS days_before_end,
                   coalesce(max(date_diff('day', $end, movement_date)) FILTER (WHERE after_period) + 1, 0) AS late_days,
                   coalesce(sum(amount) FILTER (WHERE source = 'erp' AND NOT in_period), 0) AS erp_late_sum,
                   coalesce(sum(amount) FILTER (WHERE source <> 'erp' AND NOT in_period), 0) AS platform_late_sum,
                   coalesce(sum(amount) FILTER (WHERE source <> 'erp' AND in_period), 0)
                   - coalesce(sum(amount) FILTER (WHERE source = 'erp' AND in_period), 0) AS diff_in_period,
                   count(*) FILTER (WHERE id_problem IS NOT NULL) AS n_id_problem
            FROM m GROUP BY cgroup),
             x AS (SELECT g0.*, CASE WHEN g0.e_ccy_lo = g0.e_ccy_hi THEN g0.e_ccy_lo END AS erp_currency,
                          g0.n_erp > 0 AND g0.n_platform + g0.n_bank > 0
                          AND coalesce(g0.e_ccy_lo <> g0.m_ccy_lo OR g0.e_ccy_hi <> g0.m_ccy_lo
                                       OR g0.m_ccy_lo <> g0.m_ccy_hi, FALSE) AS mixed
                   FROM g0),
             -- never a difference across currencies: a mixed case that cannot be put in CNY has none
             g AS (SELECT x.* EXCLUDE (erp_own_sum, m_ccy_lo, m_ccy_hi, e_ccy_lo, e_ccy_hi, erp_local_sum, erp_no_local,
                                       mixed),
                          CASE WHEN NOT x.mixed THEN x.erp_own_sum
                               WHEN x.m_ccy_lo = 'CNY' AND x.m_ccy_hi = 'CNY' AND x.erp_no_local = 0
                               THEN x.erp_local_sum END AS erp_sum
                   FROM x)
        SELECT g.* EXCLUDE (n_id_problem, fee_column_sum), CAST(NULL AS VARCHAR) AS source,
               CASE WHEN g.case_kind = 'fee_group' THEN coalesce(fc.s, 0) ELSE g.fee_column_sum END AS fee_column_sum, CAST(NULL AS VARCHAR) AS line_type,
               CAST(NULL AS DECIMAL(18,2)) AS amount,
               g.platform_sum + g.bank_sum - g.erp_sum + CASE WHEN g.case_kind = 'fee_group' THEN coalesce(fc.s, 0) ELSE 0 END AS diff,
               g.platform_sum + g.bank_sum - g.erp_sum + CASE WHEN g.case_kind = 'fee_group' THEN coalesce(fc.s, 0) ELSE 0 END AS residual,
               CAST(g.gross_sum - g.platform_sale_sum AS DECIMAL(18,2)) AS discount_sum,
               ch.lag AS settlement_lag_days, ch.fee_booking, coalesce(ch.erp_fee_docs, 0) AS erp_fee_docs,
               coalesce(a.has_review_event, FALSE) AS has_review_event, coalesce(a.money_moved, FALSE) AS money_moved,
               coalesce(a.refund_shown_done, FALSE) AS refund_shown_done,
               fx.foreign_amount, fx.erp_rate, fx.fx_rate_on_date, fx.fx_local_diff,
               CAST(fx.fx_rate_on_date - fx.erp_rate AS DECIMAL(18,8)) AS fx_rate_diff,
               CAST(NULL AS VARCHAR) AS id_problem,
               coalesce(mg.n, 0) AS mangled_id_match,
               CAST(NULL AS BIGINT) AS dup_count, CAST(NULL AS BIGINT) AS dup_rank, CAST(NULL AS VARCHAR) AS fee_kind,
               CAST(NULL AS VARCHAR) AS fee_desc, CAST(NULL AS VARCHAR) AS fee_class, CAST(NULL AS BOOLEAN) AS order_full_refund, CAST(NULL AS DECIMAL(18,2)) AS order_kind_net,
               CAST(NULL AS DECIMAL(18,2)) AS fee_expected, CAST(NULL AS DECIMAL(18,2)) AS fee_charged,
               CAST(NULL AS DECIMAL(18,2)) AS fee_deviation, TRUE AS in_group,
               g.platform_sum + g.bank_sum - g.erp_sum + CASE WHEN g.case_kind = 'fee_group' THEN coalesce(fc.s, 0) ELSE 0 END AS group_diff, CAST(NULL AS DECIMAL(18,2)) AS fee_group_gap,
               CAST(NULL AS DECIMAL(18,2)) AS kind_sum, CAST(NULL AS VARCHAR) AS counterparty,
               CAST(NULL AS BIGINT) AS erp_ref_docs, CAST(NULL AS BIGINT) AS erp_same_amount,
               CAST(NULL AS VARCHAR) AS memo, CAST(NULL AS BIGINT) AS payer_erp_docs
        FROM g LEFT JOIN c_chan ch ON ch.channel = g.channel
        LEFT JOIN c_feecol fc ON fc.channel = g.channel
        LEFT JOIN c_audit a ON a.order_no = g.order_no
        LEFT JOIN (SELECT cm.cgroup, sum(f.foreign_amount) AS foreign_amount, min(f.erp_rate) AS erp_rate,
                          min(f.fx_rate_on_date) AS fx_rate_on_date, sum(f.fx_local_diff) AS fx_local_diff
                   FROM c_fx f JOIN case_member cm USING (line_id) GROUP BY cm.cgroup) fx ON fx.cgroup = g.case_id
        -- an ERP line whose id Excel turned into 6.94825E+18 that can only be this order: same channel and
        -- amount, and the surviving digits of the mantissa are the start of the order number
        LEFT JOIN (SELECT g2.case_id, count(*) AS n FROM g g2 JOIN c_open b
                       ON b.source = 'erp' AND b.id_problem IS NOT NULL AND b.channel = g2.channel
                      AND b.amount = g2.platform_sum AND g2.n_erp = 0
                      AND starts_with(g2.order_no, replace(regexp_extract(b.id_problem, '([0-9]+\\.[0-9]+)[eE]', 1),
                                                           '.', ''))
                   GROUP BY g2.case_id) mg ON mg.case_id = g.case_id""", params, "case_groups")


def _lines(params) -> Step:
    """One row per unknown line: its own figures, its order's and its group's."""
    return Step("cases.lines", f"""CREATE OR REPLACE TEMP TABLE case_lines AS
        WITH kinds AS (  -- per order and fee kind, the platform's net: a fee charged and never returned stays < 0
            SELECT u.order_no, u.line_type, {FEE_KIND.format(p="p")} AS raw_type, sum(u.amount) AS net FROM universe u
            JOIN platform_line p USING (line_id)
            WHERE u.source = 'platform' AND u.order_record AND u.order_no IN (SELECT order_no FROM c_open)
            GROUP BY ALL),
             orders AS (
            SELECT order_no, sum(amount) = 0 AND bool_or(line_type = 'refund') AS full_refund FROM universe
            WHERE source = 'platform' AND order_record AND line_type IN ('sale', 'refund')
              AND order_no IN (SELECT order_no FROM c_open) GROUP BY order_no),
             dups AS (  -- the same order booked twice: same order, type, amount and date, ranked by document
            -- (only orders with an open line: a partition is one order's, so it is still whole)
            SELECT line_id, count(*) OVER w AS dup_count,
                   row_number() OVER (PARTITION BY order_no, line_type, amount, movement_date
                                      ORDER BY bill_no, source_file, source_line, ref) AS dup_rank
            FROM (SELECT u.*, e.bill_no, lr.ref FROM universe u JOIN erp_line e USING (line_id)
                  JOIN line_ref lr USING (line_id)
                  WHERE u.source = 'erp' AND u.order_no IS NOT NULL
                    AND u.order_no IN (SELECT order_no FROM c_open))
            WINDOW w AS (PARTITION BY order_no, line_type, amount, movement_date)),
             kind_sums AS (
            SELECT cm.cgroup, o.raw_type, sum(o.amount) AS s FROM c_open o JOIN case_member cm USING (line_id)
            WHERE o.is_fee AND cm.cgroup LIKE 'F%' GROUP BY ALL),
             -- the figures below are joined to open lines only: each is computed for their keys alone
             -- (whole groups all the same), not for every line of a month that mostly matched
             fees AS (SELECT line_id, any_value(expected ORDER BY rule) AS expected,
                             any_value(charged ORDER BY rule) AS charged,
                             bool_or(subtotal IS NOT NULL) AS has_base FROM fee_check
                      WHERE line_id IN (SELECT line_id FROM c_open) GROUP BY line_id),
             refs AS (SELECT order_no, count(*) AS n FROM universe WHERE source = 'erp' AND order_no IS NOT NULL
                        AND order_no IN (SELECT order_no FROM c_open WHERE source = 'bank')
                      GROUP BY order_no),
             amounts AS (SELECT amount, count(*) AS n FROM universe WHERE source = 'erp' AND line_type = 'receivable'
                           AND amount IN (SELECT amount FROM c_open WHERE source = 'bank')
                         GROUP BY amount),
             -- ERP documents of a customer whose name is the bank payer's (case, spaces and brackets aside)
             payers AS (SELECT {PAYER_KEY.format(x="account")} AS payer, count(*) AS n FROM universe
                        WHERE source = 'erp' AND account IS NOT NULL
                          AND {PAYER_KEY.format(x="account")} IN (SELECT {PAYER_KEY.format(x="counterparty")}
                                                                  FROM c_open WHERE source = 'bank')
                        GROUP BY 1)
        SELECT 'K' || substr(md5(lr.ref), 1, 16) AS case_id, 'line' AS case_kind, o.line_id,
               o.source, o.channel, o.order_no, o.line_type, o.currency, o.amount, o.amount AS residual,
               CASE WHEN o.source = 'platform' THEN o.amount ELSE 0 END AS platform_sum,
               CASE WHEN o.source = 'erp' THEN o.amount ELSE 0 END AS erp_sum,
               CASE WHEN o.source = 'bank' THEN o.amount ELSE 0 END AS bank_sum,
               CASE WHEN o.source = 'erp' THEN -o.amount ELSE o.amount END AS diff,
               CAST(o.source = 'platform' AS BIGINT) AS n_platform, CAST(o.source = 'erp' AS BIGINT) AS n_erp,
               CAST(o.source = 'bank' AS BIGINT) AS n_bank,
               CASE WHEN o.source = 'platform' AND o.line_type = 'sale' THEN o.amount ELSE 0 END AS platform_sale_sum,
               CASE WHEN o.source = 'platform' AND o.line_type = 'refund' THEN o.amount ELSE 0 END AS platform_refund_sum,
               CASE WHEN o.source = 'erp' AND o.line_type = 'receivable' THEN o.amount ELSE 0 END AS erp_receivable_sum,
               CASE WHEN o.source = 'erp' AND o.line_type = 'credit_note' THEN o.amount ELSE 0 END AS erp_credit_sum,
               CASE WHEN o.source = 'erp' AND o.line_type = 'other_receivable' THEN o.amount ELSE 0 END AS erp_other_sum,
               coalesce(o.subsidy_amount, 0) AS subsidy_sum, o.gross_amount AS gross_sum,
               CAST(o.gross_amount - o.amount AS DECIMAL(18,2)) AS discount_sum,
               coalesce(o.fee_amount, 0) AS fee_column_sum,
               o.in_period AS all_in_period,
               CASE WHEN o.in_period THEN date_diff('day', o.movement_date, $end) END AS days_before_end,
               CASE WHEN o.after_period THEN date_diff('day', $end, o.movement_date) + 1 ELSE 0 END AS late_days,
               CASE WHEN o.source = 'erp' AND NOT o.in_period THEN o.amount ELSE 0 END AS erp_late_sum,
               CASE WHEN o.source <> 'erp' AND NOT o.in_period THEN o.amount ELSE 0 END AS platform_late_sum,
               CASE WHEN NOT o.in_period THEN 0 WHEN o.source = 'erp' THEN -o.amount ELSE o.amount END
                   AS diff_in_period,
               ch.lag AS settlement_lag_days, ch.fee_booking, coalesce(ch.erp_fee_docs, 0) AS erp_fee_docs,
               coalesce(a.has_review_event, FALSE) AS has_review_event, coalesce(a.money_moved, FALSE) AS money_moved,
               coalesce(a.refund_shown_done, FALSE) AS refund_shown_done,
               CASE WHEN o.source = 'erp' THEN o.currency END AS erp_currency,
               fx.foreign_amount, fx.erp_rate, fx.fx_rate_on_date, fx.fx_local_diff,
               CAST(fx.fx_rate_on_date - fx.erp_rate AS DECIMAL(18,8)) AS fx_rate_diff,
               o.id_problem, CAST(NULL AS BIGINT) AS mangled_id_match,
               d.dup_count, d.dup_rank,
               o.raw_type AS fee_kind, o.raw_desc AS fee_desc, {FEE_CLASS.format(o="o")} AS fee_class,
               ord.full_refund AS order_full_refund, k.net AS order_kind_net,
               CASE WHEN f.has_base THEN f.expected END AS fee_expected, -- no base: nothing to compare with
               CASE WHEN f.has_base THEN f.charged END AS fee_charged,
               CASE WHEN f.has_base THEN f.charged - f.expected END AS fee_deviation,
               cm.cgroup IS NOT NULL AS in_group, g.diff AS group_diff,
               CASE WHEN g.case_kind = 'fee_group' THEN -g.diff END AS fee_group_gap,
               CASE WHEN g.case_kind = 'fee_group' AND o.is_fee THEN ks.s END AS kind_sum,
               o.counterparty, CASE WHEN o.source = 'bank' THEN coalesce(rf.n, 0) END AS erp_ref_docs,
               CASE WHEN o.source = 'bank' THEN coalesce(am.n, 0) END AS erp_same_amount,
               o.memo, CASE WHEN o.source = 'bank' THEN coalesce(py.n, 0) END AS payer_erp_docs
        FROM c_open o JOIN case_member cm USING (line_id)
        JOIN line_ref lr ON lr.line_id = o.line_id  -- the case id, from the line's provenance (recon.engine.refs)
        LEFT JOIN case_groups g ON g.case_id = cm.cgroup
        LEFT JOIN c_chan ch ON ch.channel = o.channel
        LEFT JOIN c_audit a ON a.order_no = o.order_no
        LEFT JOIN c_fx fx ON fx.line_id = o.line_id
        LEFT JOIN dups d ON d.line_id = o.line_id
        LEFT JOIN orders ord ON ord.order_no = o.order_no AND o.source = 'platform'
        LEFT JOIN kinds k ON k.order_no = o.order_no AND k.line_type = o.line_type
             AND k.raw_type IS NOT DISTINCT FROM o.raw_type AND o.source = 'platform'
        LEFT JOIN kind_sums ks ON ks.cgroup = cm.cgroup AND ks.raw_type IS NOT DISTINCT FROM o.raw_type
        LEFT JOIN fees f ON f.line_id = o.line_id
        LEFT JOIN refs rf ON rf.order_no = o.order_no AND o.source = 'bank'
        LEFT JOIN amounts am ON am.amount = o.amount AND o.source = 'bank'
        LEFT JOIN payers py ON py.payer = {PAYER_KEY.format(x="o.counterparty")} AND o.source = 'bank'""",
        params, "case_lines")
