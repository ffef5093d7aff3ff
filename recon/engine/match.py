"""Order-leg matching in DuckDB: platform order lines <-> ERP documents, grouped per order.

Everything here is SQL over whole tables; Python only sequences the passes. The input is the
``universe`` of the run (``build_universe``): every ledger line of the run's files with its
source, channel, order number, type, amount and whether its money moved in the period being
closed or after it. The output is ``result``: exactly one row per line that belongs in the
results file, with status, code (the pass name when matched), a stable match group id and a
plain-language explanation.

Group ids are ``G`` + the first 16 hex digits of the MD5 of the sorted members' provenance ids
(``recon.engine.refs``: file SHA-256, sheet, line), so the same inputs give the same ids in every run
and in every store, whatever integers the store gave the lines.

Every statement is a ``recon.engine.steps.Step`` run by the run's ``Runner``: ``universe_steps`` and
``order_pass_steps`` are pure builders; ``run_passes`` sequences the legs (it reads the decisions it
applied, and checks one outcome per line, between steps). Each leg's module (``cash``, ``pairing``,
``fee_leg``, ``short_key``) builds its own steps; all of them append to ``result`` (``recon.engine.outcome``).
"""

from __future__ import annotations

from recon.engine import (carry_forward, cash, customers, decisions, fee_leg, keys, ledger, outcome, pairing, refs,
                          short_key)
from recon.engine.findings import finding
from recon.engine.steps import Step, runner
from recon.rules import MatchPass, Rules
from recon.sql.bind import in_list
from recon.sql.dialect import Dialect

# list_sort over the collected ids sorts each group once, far cheaper than an ordered string_agg,
# and joins them into the same string, so the ids are the ones ordered string_agg gave
GROUP_ID = "'G' || substr(md5(array_to_string(list_sort(list(lr.ref)), ',')), 1, 16)"
CANDIDATE = "CASE source WHEN 'platform' THEN '平台 ' ELSE 'ERP ' END || order_no"


def build_universe(con, period_start, period_end, channel_map: list[tuple],
                   evidence_end=None) -> None:
    """Run ``universe_steps`` (``con``: a connection or the run's ``Runner``)."""
    r = runner(con)
    r.run(universe_steps(r.dialect, period_start, period_end, channel_map, evidence_end))


def universe_steps(d: Dialect, period_start, period_end, channel_map: list[tuple], evidence_end=None) -> list[Step]:
    """Temp table ``universe``: the ledger lines this run reconciles, with period flags.

    The store persists between runs, so the universe is every live line it holds for the period
    plus the evidence window after it (``evidence_end``, exclusive; default: no store lines after
    the period), and every line of the files this run read (temp table ``run_files``) whatever its
    date: last night's open items take part tonight. A line a newer version of its document
    replaced (``superseded_by``) is not live; ``superseded_lines`` counts those the run would
    otherwise have taken, for the conservation proof.

    ``channel_map``: (kind, pattern, channel) rows (``Channel.customer_rows``), or (customer, channel)
    pairs of exact names; an ERP line without a channel takes its customer's (``recon.engine.customers``).
    """
    rows = [r if len(r) == 3 else ("exact", r[0], r[1]) for r in channel_map]
    params = {"start": period_start, "end": period_end, "evid": evidence_end or period_end}
    taken = ("(file_id IN (SELECT file_id FROM run_files) OR "
             "(movement_date >= $start AND movement_date < $evid) OR line_id IN (SELECT line_id FROM carried_line))")
    steps = [ledger.view(), carry_forward.ensure()] + customers.steps(
        d, rows, taken.replace("file_id", "l.file_id").replace("movement_date", "l.movement_date"), params)
    steps.append(Step("universe.superseded",
        f"""CREATE OR REPLACE TEMP TABLE superseded_lines AS
        SELECT source, line_id, file_id, currency, amount FROM ledger_line
        WHERE superseded_by IS NOT NULL AND {taken}""",
        params, "superseded_lines"))
    steps.append(Step("universe",
        f"""CREATE OR REPLACE TEMP TABLE universe AS
        -- NOT MATERIALIZED: lines is read twice (order_kind needs two columns of its platform rows);
        -- materialising it copied every line of the month once more before the table itself
        WITH lines AS NOT MATERIALIZED (
            -- an ERP line without a channel of its own takes its customer's (rules/channels.yaml, normalised)
            SELECT l.source, l.line_id, l.file_id, l.source_name, l.source_line, l.source_sheet,
                   CASE WHEN l.source = 'erp' THEN coalesce(l.channel, cm.channel) ELSE l.channel END AS channel,
                   l.account, l.order_no, l.line_type, l.currency, l.amount, l.movement_date, l.id_problem,
                   l.record_kind, l.payout_ref, CAST(l.event_time AS DATE) AS payout_date, l.counterparty,
                   l.fee_amount, l.refund_no, l.platform_txn_no, l.related_txn_no, l.local_amount
            FROM ledger_line l LEFT JOIN customer_channel cm ON l.source = 'erp' AND cm.customer = l.account
            WHERE l.superseded_by IS NULL AND {taken.replace("file_id", "l.file_id").replace("movement_date", "l.movement_date")}),
        -- A payment in both a channel's trade bill and its fund bill is two records of one event; the
        -- order leg takes the trade bill where the run has one, so the order is not counted twice.
        order_kind AS (
            SELECT channel, CASE WHEN bool_or(record_kind = 'trade') THEN 'trade' END AS kind
            FROM lines WHERE source = 'platform'
            GROUP BY channel)
        SELECT l.* EXCLUDE (source_name), coalesce(f.rel_path, l.source_name) AS source_file,
               l.source <> 'platform' OR k.kind IS NULL OR l.record_kind = k.kind AS order_record,
               (l.movement_date >= $start AND l.movement_date < $end) OR c.line_id IS NOT NULL AS in_period,
               c.carried_from,
               l.movement_date >= $end AS after_period
        FROM lines l LEFT JOIN run_files f USING (file_id)
        LEFT JOIN order_kind k ON l.source = 'platform' AND k.channel IS NOT DISTINCT FROM l.channel
        LEFT JOIN carried_line c ON c.line_id = l.line_id""",
        params, "universe"))
    steps.append(refs.step())
    return steps


def _candidates(name: str, platform_types, erp_types, key=None) -> list[Step]:
    """Order-level lines not yet decided, with a match key, dated in or after the period.

    ``key`` is the pass's validated key expression (``recon.sql.expr``); the default is the order
    number as imported.
    """
    params = dict(key.params) if key is not None else {}
    key_sql = key.sql if key is not None else "order_no"
    ptypes = in_list("pt", platform_types, params)
    etypes = in_list("et", erp_types, params)
    cand = Step(f"{name}.candidates",
        f"""CREATE OR REPLACE TEMP TABLE cand AS
        -- only the columns the groups need: the universe is wide and cand is built once per pass
        -- okey: the key as an integer (recon.engine.keys); groups and joins go by it and by mkey itself
        SELECT line_id, source, order_no, line_type, currency, amount, local_amount, movement_date, in_period,
               {keys.key_hash("mkey")} AS okey, mkey
        FROM (SELECT u.*, {key_sql} AS mkey FROM universe u ANTI JOIN result r USING (line_id)) u
        WHERE u.mkey IS NOT NULL AND u.id_problem IS NULL AND (u.in_period OR u.after_period)
          AND u.order_record
          AND ((u.source = 'platform' AND u.line_type IN ({ptypes}))
            OR (u.source = 'erp' AND u.line_type IN ({etypes})))""",
        params, "cand")
    # e_cmp: the ERP side as the platform side can be compared with it. An ERP document in another currency
    # than the platform's (a cross-border order the platform settles in CNY, booked by the ERP in USD) is
    # compared by its local amount (``local_amount``); a group whose sides cannot be put in one currency has
    # no e_cmp, is never matched and is never given a difference.
    grp = Step(f"{name}.groups",
        f"""CREATE OR REPLACE TEMP TABLE grp AS
        SELECT h.* EXCLUDE (p_ccy_lo, p_ccy_hi, e_ccy_lo, e_ccy_hi, e_local, e_no_local),
               CASE WHEN NOT h.mixed THEN h.e_sum
                    WHEN h.p_ccy_lo = 'CNY' AND h.p_ccy_hi = 'CNY' AND h.e_no_local = 0 THEN h.e_local END AS e_cmp
        FROM (SELECT g.*, CASE WHEN g.e_ccy_lo = g.e_ccy_hi THEN g.e_ccy_lo END AS e_ccy,
                     g.np > 0 AND g.ne > 0 AND coalesce(g.e_ccy_lo <> g.p_ccy_lo OR g.e_ccy_hi <> g.p_ccy_lo
                                                        OR g.p_ccy_lo <> g.p_ccy_hi, FALSE) AS mixed
        FROM (
        SELECT okey, mkey,
               coalesce(sum(amount) FILTER (WHERE source = 'platform'), 0) AS p_sum,
               coalesce(sum(amount) FILTER (WHERE source = 'erp'), 0) AS e_sum,
               count(*) FILTER (WHERE source = 'platform') AS np,
               count(*) FILTER (WHERE source = 'erp') AS ne,
               bool_and(in_period) AS all_in, bool_or(in_period) AS any_in,
               max(movement_date) FILTER (WHERE NOT in_period) AS late_date,
               -- a key that shortens ids (right(order_no, 8)) may join different orders: two or more
               -- order numbers on a side (min < max; cheaper than count(DISTINCT), NULLs ignored alike)
               coalesce(min(order_no) FILTER (WHERE source = 'platform')
                        < max(order_no) FILTER (WHERE source = 'platform'), FALSE) AS p_many,
               coalesce(min(order_no) FILTER (WHERE source = 'erp')
                        < max(order_no) FILTER (WHERE source = 'erp'), FALSE) AS e_many,
               min(currency) FILTER (WHERE source = 'platform') AS p_ccy_lo,
               max(currency) FILTER (WHERE source = 'platform') AS p_ccy_hi,
               min(currency) FILTER (WHERE source = 'erp') AS e_ccy_lo,
               max(currency) FILTER (WHERE source = 'erp') AS e_ccy_hi,
               sum(CASE WHEN currency = 'CNY' THEN amount ELSE local_amount END)
                   FILTER (WHERE source = 'erp') AS e_local,
               count(*) FILTER (WHERE source = 'erp' AND currency IS DISTINCT FROM 'CNY' AND local_amount IS NULL)
                   AS e_no_local,
               {GROUP_ID} AS match_group
        FROM cand JOIN line_ref lr USING (line_id) GROUP BY okey, mkey HAVING bool_or(in_period)) g) h""",
        writes="grp")
    return [cand, grp]


def run_passes(con, rules: Rules) -> dict:
    """Apply the store's manual decisions, then each pass in order on its leg; then decide every
    remaining line of the period. Returns which decisions were applied and which are stale.

    ``con`` is the run's ``Runner`` (or a bare connection). Each pass's steps read ``result`` as the
    passes before it left it, so they run pass by pass.
    """
    r = runner(con)
    r.run(outcome.create(), Step("cash_bank_channel", "CREATE OR REPLACE TEMP TABLE cash_bank_channel "
                                 "(line_id BIGINT NOT NULL, channel VARCHAR)", writes="cash_bank_channel"))
    decided = decisions.apply(r)
    for p in rules.passes:
        r.run(LEGS[p.leg](p))
    r.run(_leftovers(rules))
    _one_outcome_per_line(r)
    return decided


def order_pass_steps(p: MatchPass) -> list[Step]:
    """An order-leg pass: candidates and groups, then review (a key linking several orders), then matched."""
    name = f"pass.{p.name}"
    params = {"name": p.name, "tol": str(p.tolerance), "rel": str(p.tolerance_relative)}
    # never an arbitrary pick: a key that links several orders sends the group to review
    # the candidate list is a sorted string per group: built only for the groups that go to review
    review = Step(f"{name}.review",
        f"""INSERT INTO result
        WITH rv AS (SELECT okey, mkey, match_group FROM grp
                    WHERE np > 0 AND ne > 0 AND (p_many OR e_many)),
        listed AS (SELECT okey, mkey, string_agg(DISTINCT {CANDIDATE}, ', ' ORDER BY {CANDIDATE}) AS candidates
                   FROM cand SEMI JOIN rv USING (okey, mkey) GROUP BY okey, mkey)
        SELECT c.line_id, c.source, 'review', $name, g.match_group,
               '匹配键 ' || g.mkey || ' 对应多个订单, 需人工确认: ' || l.candidates,
               {finding("AMBIGUOUS_KEY", key="g.mkey", candidates="l.candidates")}
        FROM cand c JOIN rv g USING (okey, mkey) JOIN listed l USING (okey, mkey)""", params, "result")
    matched = Step(f"{name}.matched",
        f"""INSERT INTO result
        SELECT c.line_id, c.source, 'matched', $name, g.match_group,
               CASE WHEN g.mixed
                    THEN '订单 ' || g.mkey || ': 平台 ' || CAST(g.p_sum AS VARCHAR) || ' CNY vs ERP 本位币 '
                         || CAST(g.e_cmp AS VARCHAR) || ' (' || coalesce(g.e_ccy, '多币种') || ' '
                         || CAST(g.e_sum AS VARCHAR) || ')' || CASE WHEN g.p_sum = g.e_cmp THEN ''
                         ELSE ', 差额 ' || CAST(g.p_sum - g.e_cmp AS VARCHAR) || ' 在容差内' END
                         || ' (' || CAST(g.np AS VARCHAR) || ' 平台行, ' || CAST(g.ne AS VARCHAR) || ' ERP 单据)'
                    WHEN g.p_sum = g.e_sum
                    THEN '订单 ' || g.mkey || ': 平台 ' || CAST(g.p_sum AS VARCHAR) || ' = ERP '
                         || CAST(g.e_sum AS VARCHAR) || ' (' || CAST(g.np AS VARCHAR) || ' 平台行, '
                         || CAST(g.ne AS VARCHAR) || ' ERP 单据)'
                    ELSE '订单 ' || g.mkey || ': 平台 ' || CAST(g.p_sum AS VARCHAR) || ' vs ERP '
                         || CAST(g.e_sum AS VARCHAR) || ', 差额 ' || CAST(g.p_sum - g.e_sum AS VARCHAR)
                         || ' 在容差内 (' || $tol || CASE WHEN $rel <> '0' THEN ' 或 ' || $rel || ' × ERP'
                         ELSE '' END || ')' END,
               CASE WHEN g.p_sum = g.e_cmp THEN {finding("BALANCED")}
                    ELSE {finding("WITHIN_TOLERANCE", diff="g.p_sum - g.e_cmp",
                                  tolerance="$tol || CASE WHEN $rel <> '0' THEN ' | ' || $rel || ' × ERP' ELSE '' END")}
               END
        FROM cand c JOIN grp g USING (okey, mkey)
        WHERE g.np > 0 AND g.ne > 0 AND g.all_in AND NOT g.p_many AND NOT g.e_many
          AND abs(g.p_sum - g.e_cmp) <= greatest(CAST($tol AS DECIMAL(18,2)),
                                                 CAST($rel AS DECIMAL(18,6)) * abs(g.e_cmp))""",
        params, "result")
    return _candidates(name, p.platform_line_types, p.erp_line_types, p.key) + [review, matched, _sale_part(name, params)]


def _sale_part(name: str, params: dict) -> Step:
    """An order whose refund and credit note straddle the period end: its sales and receivables, all in
    the period and balanced, are matched on their own; the refund ↔ credit-note remainder stays open,
    grouped alone by the leftovers, for the dictionary (REFUND_PERIOD_TIMING). A refund booked next
    period does not re-code the sale."""
    return Step(f"{name}.sale_part",
        f"""INSERT INTO result
        WITH g AS (SELECT okey, mkey FROM grp
                   WHERE np > 0 AND ne > 0 AND NOT all_in AND NOT p_many AND NOT e_many AND NOT mixed),
             sale AS (
            SELECT c.okey, c.mkey,
                   coalesce(sum(c.amount) FILTER (WHERE c.source = 'platform'), 0) AS p_sum,
                   coalesce(sum(c.amount) FILTER (WHERE c.source = 'erp'), 0) AS e_sum,
                   count(*) FILTER (WHERE c.source = 'platform') AS np, count(*) FILTER (WHERE c.source = 'erp') AS ne,
                   bool_and(c.in_period) AS all_in, {GROUP_ID} AS match_group
            FROM cand c JOIN g USING (okey, mkey) JOIN line_ref lr USING (line_id)
            WHERE (c.source = 'platform' AND c.line_type = 'sale') OR (c.source = 'erp' AND c.line_type = 'receivable')
            GROUP BY c.okey, c.mkey),
             ok AS (SELECT * FROM sale
                    WHERE np > 0 AND ne > 0 AND all_in
                      AND abs(p_sum - e_sum) <= greatest(CAST($tol AS DECIMAL(18,2)),
                                                         CAST($rel AS DECIMAL(18,6)) * abs(e_sum)))
        SELECT c.line_id, c.source, 'matched', $name, k.match_group,
               '订单 ' || k.mkey || ': 平台货款 ' || CAST(k.p_sum AS VARCHAR) || ' = ERP 应收 ' || CAST(k.e_sum AS VARCHAR)
               || ' (' || CAST(k.np AS VARCHAR) || ' 平台行, ' || CAST(k.ne AS VARCHAR)
               || ' ERP 单据); 退款与红字应收单跨期, 另行核对',
               {finding("SALE_PART_BALANCED", order="k.mkey")}
        FROM cand c JOIN ok k USING (okey, mkey)
        WHERE (c.source = 'platform' AND c.line_type = 'sale') OR (c.source = 'erp' AND c.line_type = 'receivable')""",
        params, "result")


# the leg -> builder registry (``recon.rules`` validates a pass's ``leg`` against it): a pass kind
# is one entry here and one module
LEGS = {"order": order_pass_steps, "cash": cash.steps, "trade_fund": pairing.steps, "fee": fee_leg.steps,
        "short_key": short_key.steps}


def _one_outcome_per_line(con) -> None:
    """A line two passes both decided is an engine bug: stop before anything is counted or written."""
    r = runner(con)
    twice = r.scalar("passes.one_outcome", "SELECT min(line_id) FROM (SELECT line_id FROM result GROUP BY line_id "
                     "HAVING count(*) > 1)")
    if twice is not None:
        steps = [row[0] for row in r.fetch(Step(
            "passes.one_outcome.detail", "SELECT coalesce(code, status) FROM result WHERE line_id = $l ORDER BY 1",
            {"l": twice}))]
        raise RuntimeError(f"line {twice} was decided more than once ({', '.join(steps)}): "
                           "a matching pass took a line an earlier step had already decided")


def _leftovers(rules: Rules) -> list[Step]:
    """Unmatched order groups stay together as unknown; every other line of the period is unknown alone."""
    ptypes = sorted({t for p in rules.passes if p.leg == "order" for t in p.platform_line_types})
    etypes = sorted({t for p in rules.passes if p.leg == "order" for t in p.erp_line_types})
    groups = Step("leftovers.unmatched_groups",
        f"""INSERT INTO result
        SELECT c.line_id, c.source, 'unknown', NULL, g.match_group,
               CASE WHEN g.ne = 0 THEN '订单 ' || g.mkey || ': 平台 ' || CAST(g.p_sum AS VARCHAR)
                                       || ', ERP 中没有该订单的单据'
                    WHEN g.np = 0 THEN '订单 ' || g.mkey || ': ERP ' || CAST(g.e_sum AS VARCHAR)
                                       || ', 平台文件中没有该订单'
                    WHEN g.mixed AND g.e_cmp IS NULL
                    THEN '订单 ' || g.mkey || ': 平台 ' || CAST(g.p_sum AS VARCHAR) || ' vs ERP '
                         || CAST(g.e_sum AS VARCHAR) || ' ' || coalesce(g.e_ccy, '多币种')
                         || ', 币种不同且 ERP 单据没有本位币金额或汇率, 无法比较'
                    WHEN g.mixed
                    THEN '订单 ' || g.mkey || ': 平台 ' || CAST(g.p_sum AS VARCHAR) || ' CNY vs ERP 本位币 '
                         || CAST(g.e_cmp AS VARCHAR) || ' (' || coalesce(g.e_ccy, '多币种') || ' '
                         || CAST(g.e_sum AS VARCHAR) || ')' || CASE WHEN g.all_in THEN ', 差额 '
                         || CAST(g.p_sum - g.e_cmp AS VARCHAR) ELSE ', 部分行记在本期之后 ('
                         || CAST(g.late_date AS VARCHAR) || ')' END
                    WHEN NOT g.all_in THEN '订单 ' || g.mkey || ': 平台 ' || CAST(g.p_sum AS VARCHAR)
                                       || ' vs ERP ' || CAST(g.e_sum AS VARCHAR) || ', 部分行记在本期之后 ('
                                       || CAST(g.late_date AS VARCHAR) || ')'
                    ELSE '订单 ' || g.mkey || ': 平台 ' || CAST(g.p_sum AS VARCHAR) || ' vs ERP '
                         || CAST(g.e_sum AS VARCHAR) || ', 差额 ' || CAST(g.p_sum - g.e_sum AS VARCHAR) END,
               CASE WHEN g.ne = 0 THEN {finding("NO_ERP_DOCUMENT", order="g.mkey", platform="g.p_sum")}
                    WHEN g.np = 0 THEN {finding("NOT_ON_PLATFORM", order="g.mkey", erp="g.e_sum")}
                    WHEN g.mixed AND g.e_cmp IS NULL
                    THEN {finding("CURRENCY_MISMATCH", order="g.mkey", platform="g.p_sum", erp="g.e_sum",
                                  erp_currency="coalesce(g.e_ccy, '多币种')")}
                    WHEN g.mixed AND NOT g.all_in
                    THEN {finding("BOOKED_AFTER_PERIOD", order="g.mkey", platform="g.p_sum", erp="g.e_cmp",
                                  date="g.late_date")}
                    WHEN g.mixed THEN {finding("LOCAL_AMOUNT_DIFFERS", order="g.mkey", platform="g.p_sum",
                                               erp="g.e_cmp", erp_currency="coalesce(g.e_ccy, '多币种')",
                                               erp_foreign="g.e_sum", diff="g.p_sum - g.e_cmp")}
                    WHEN NOT g.all_in THEN {finding("BOOKED_AFTER_PERIOD", order="g.mkey", platform="g.p_sum",
                                                    erp="g.e_sum", date="g.late_date")}
                    ELSE {finding("AMOUNT_DIFFERS", order="g.mkey", platform="g.p_sum", erp="g.e_sum",
                                  diff="g.p_sum - g.e_sum")} END
        FROM cand c JOIN grp g USING (okey, mkey)""", writes="result")
    lone = Step("leftovers.lone",
        f"""INSERT INTO result
        SELECT u.line_id, u.source, 'unknown', NULL, NULL,
               CASE WHEN u.id_problem IS NOT NULL
                    THEN '编号已被 Excel 改成科学计数法, 无法识别 (' || u.id_problem || '): 请重新下载原始文件'
                    WHEN NOT u.order_record AND u.order_no IS NULL AND u.refund_no IS NULL
                    THEN '资金账单行没有订单号或退款单号, 无法与交易账单配对'
                    WHEN NOT u.order_record
                    THEN '资金账单行: 交易账单中没有同一订单、金额相同的对应行'
                    WHEN u.source = 'platform' AND u.line_type IN ('fee', 'commission')
                    THEN '费用行: 没有对应的 ERP 费用单 (该渠道当期费用合计与 ERP 费用单不符, 或 ERP 未入账)'
                    WHEN u.line_type = 'payout'
                    THEN '平台提现 ' || CAST(u.amount AS VARCHAR) || ' (' || CAST(u.movement_date AS VARCHAR)
                         || '): 银行流水中没有金额相同、日期在窗口内的入账'
                    WHEN u.source = 'bank'
                    THEN '银行流水 ' || CAST(u.amount AS VARCHAR) || ' (' || CAST(u.movement_date AS VARCHAR)
                         || coalesce(', ' || u.counterparty, '') || '): 没有对应的平台提现或结算批次'
                    WHEN u.order_no IS NULL AND u.source <> 'bank'
                    THEN '没有订单号, 本规则中没有适用的匹配步骤 (line type ' || u.line_type || ')'
                    ELSE '本规则中没有适用于 ' || u.source || ' / ' || u.line_type || ' 的匹配步骤' END,
               CASE WHEN u.id_problem IS NOT NULL THEN {finding("EXCEL_MANGLED_ID", value="u.id_problem")}
                    WHEN NOT u.order_record AND u.order_no IS NULL AND u.refund_no IS NULL
                    THEN {finding("FUND_LINE_NO_REFERENCE")}
                    WHEN NOT u.order_record THEN {finding("FUND_LINE_UNPAIRED")}
                    WHEN u.source = 'platform' AND u.line_type IN ('fee', 'commission')
                    THEN {finding("FEE_NO_ERP_DOCUMENT")}
                    WHEN u.line_type = 'payout'
                    THEN {finding("PAYOUT_NOT_IN_BANK", amount="u.amount", date="u.movement_date")}
                    WHEN u.source = 'bank'
                    THEN {finding("BANK_LINE_UNEXPLAINED", amount="u.amount", date="u.movement_date",
                                  counterparty="u.counterparty")}
                    WHEN u.order_no IS NULL AND u.source <> 'bank'
                    THEN {finding("NO_ORDER_NUMBER", line_type="u.line_type")}
                    ELSE {finding("NO_PASS", source="u.source", line_type="u.line_type")} END
        FROM universe u ANTI JOIN result r USING (line_id)
        WHERE u.in_period""", writes="result")
    return _candidates("leftovers", ptypes, etypes) + [groups, lone]
