"""The fee leg: a channel's platform fees of the period <-> the ERP's fee documents for it, in DuckDB.

Many ERPs book platform fees once a month per channel (其他应收单 "平台费用 2026-01 …", no order
number), not per order. This pass compares, per channel, the period's fees as the platform shows
them (fee and commission lines of the order records, plus the fee columns of sale and refund lines)
with the sum of that channel's ERP fee documents. Equal within tolerance: the fee lines and the
ERP documents are matched together, except a fee line that deviates from its contract formula
(``fee_check``), which stays open for the dictionary even though the ERP booked what was charged. Otherwise nothing is matched, and the difference is in the
explanation; no subset of fees is ever searched for to make the sums meet.
"""

from __future__ import annotations

from recon.engine.fees import FEE_CHECK_DDL
from recon.engine.findings import finding
from recon.engine.steps import Step
from recon.rules import MatchPass
from recon.sql.bind import in_list


def steps(p: MatchPass) -> list[Step]:
    """Per channel: the platform's fees and the ERP's fee documents, summed; matched or unknown together."""
    name = f"pass.{p.name}"
    params = {"name": p.name, "tol": str(p.tolerance)}
    ptypes = in_list("pt", p.platform_line_types, params)
    etypes = in_list("et", p.erp_line_types, params)
    side = Step(f"{name}.side", f"""CREATE OR REPLACE TEMP TABLE fee_side AS
        -- fee lines of the platform (their amount) and fee columns of sale/refund lines (fee_amount)
        SELECT u.channel, u.line_id, u.source, u.amount AS fee, TRUE AS own_line
        FROM universe u ANTI JOIN result r USING (line_id)
        WHERE u.source = 'platform' AND u.in_period AND u.order_record AND u.line_type IN ({ptypes})
        UNION ALL
        SELECT u.channel, u.line_id, u.source, u.fee_amount, FALSE
        FROM universe u
        WHERE u.source = 'platform' AND u.in_period AND u.order_record AND u.fee_amount IS NOT NULL
          AND u.fee_amount <> 0 AND u.line_type IN ('sale', 'refund')
        UNION ALL
        SELECT u.channel, u.line_id, u.source, u.amount, TRUE
        FROM universe u ANTI JOIN result r USING (line_id)
        WHERE u.source = 'erp' AND u.in_period AND u.order_no IS NULL AND u.line_type IN ({etypes})
          AND u.channel IS NOT NULL""", params, "fee_side")
    groups = Step(f"{name}.groups", """CREATE OR REPLACE TEMP TABLE fee_groups AS
        SELECT channel,
               coalesce(sum(fee) FILTER (WHERE source = 'platform'), 0) AS p_fee,
               coalesce(sum(fee) FILTER (WHERE source = 'erp'), 0) AS e_fee,
               count(*) FILTER (WHERE source = 'platform' AND own_line) AS n_lines,
               count(*) FILTER (WHERE source = 'platform' AND NOT own_line) AS n_columns,
               count(*) FILTER (WHERE source = 'erp') AS n_docs,
               -- named from the lines' provenance ids (recon.engine.refs), never their integers
               'F' || substr(md5(string_agg(lr.ref, ',' ORDER BY lr.ref)), 1, 16) AS match_group
        FROM fee_side JOIN line_ref lr USING (line_id) GROUP BY channel""", writes="fee_groups")
    label = """g.channel || ' 当期平台费用 ' || CAST(g.p_fee AS VARCHAR) || ' ('
               || CAST(g.n_lines AS VARCHAR) || ' 费用行, ' || CAST(g.n_columns AS VARCHAR) || ' 行的手续费列)'"""
    # fee_check is recon.engine.fees's; created empty here only when a caller ran no fee checks
    checks = Step(f"{name}.fee_check", FEE_CHECK_DDL.format(replace="", exists="IF NOT EXISTS"), writes="fee_check")
    matched = Step(f"{name}.matched", f"""INSERT INTO result
        SELECT s.line_id, s.source, 'matched', $name, g.match_group,
               {label} || ' = ERP 费用单 ' || CAST(g.e_fee AS VARCHAR) || ' (' || CAST(g.n_docs AS VARCHAR) || ' 张)',
               CASE WHEN g.p_fee = g.e_fee THEN {finding("FEES_BALANCED", channel="g.channel")}
                    ELSE {finding("WITHIN_TOLERANCE", diff="g.p_fee - g.e_fee", tolerance="$tol")} END
        FROM fee_side s JOIN fee_groups g USING (channel)
        WHERE s.own_line AND g.n_docs > 0 AND (g.n_lines + g.n_columns) > 0
          AND abs(g.p_fee - g.e_fee) <= CAST($tol AS DECIMAL(18,2))
          -- a fee off its contract formula stays open even when the ERP booked what was charged
          -- (NOT EXISTS, not NOT IN: fee_check.line_id is never NULL, and DuckDB plans this as an anti join)
          AND NOT EXISTS (SELECT 1 FROM fee_check c WHERE c.line_id = s.line_id
                          AND c.subtotal IS NOT NULL AND c.expected <> c.charged)""",
        params, "result")
    # ERP fee documents that do not meet the platform's fees: unknown with the difference, kept together
    unknown = Step(f"{name}.unknown", f"""INSERT INTO result
        SELECT s.line_id, s.source, 'unknown', NULL, g.match_group,
               'ERP 费用单 ' || CAST(g.e_fee AS VARCHAR) || ' vs ' || {label} || ', 差 '
               || CAST(g.e_fee - g.p_fee AS VARCHAR),
               {finding("FEES_DIFFER", channel="g.channel", erp="g.e_fee", platform="g.p_fee",
                        diff="g.e_fee - g.p_fee")}
        FROM fee_side s JOIN fee_groups g USING (channel)
        WHERE s.source = 'erp' AND NOT EXISTS (SELECT 1 FROM result r WHERE r.line_id = s.line_id)""",
        params, "result")
    return [side, groups, checks, matched, unknown]
