"""The shortened-key fallback: an ERP document keyed by the merchant's own short number, in DuckDB.

Merchants often key a WeChat/Alipay payment by their own number: a prefix and the last 8 characters
of the platform order number (``WX12345678``, ``SO-2026-12345678``). The exact order pass cannot see
them; left alone, both lines would end ``unknown``. This pass runs after it, over the lines no step
decided, and pairs one platform line with one ERP document when

- their normalised keys are equal: the trailing ``key_length`` letters and digits (default 8) of the
  order number, upper case, every other character dropped, so any prefix falls away; a number with
  fewer letters and digits than that takes no part;
- their amounts are equal (within the pass's ``tolerance``), in the same channel, and the platform
  date minus the ERP date lies in ``date_window_days``;
- neither line's full order number has a line on the other side of the order leg: an order the exact
  pass saw on both sides is a difference of that order, not a shortened key.

A pair is matched only when it is unambiguous both ways. Otherwise every line of an ambiguous pair,
on both sides, goes to ``review`` with every candidate listed, never to an arbitrary pick.
"""

from __future__ import annotations

from recon.engine.findings import finding
from recon.engine.steps import Step
from recon.rules import MatchPass
from recon.sql.bind import in_list

LABEL = ("CASE {x}.source WHEN 'platform' THEN '平台 ' ELSE 'ERP ' END || {x}.order_no || ' (' || "
         "CAST({x}.amount AS VARCHAR) || ', ' || CAST({x}.movement_date AS VARCHAR) || ', ' || {x}.source_file || ':' "
         "|| CAST({x}.source_line AS VARCHAR) || ')'")


def steps(p: MatchPass) -> list[Step]:
    """The open order-leg lines with their short key, the candidate pairs and their degrees, then matched and review."""
    name = f"pass.{p.name}"
    params = {"n": p.key_length}
    ptypes = in_list("pt", p.platform_line_types, params)
    etypes = in_list("et", p.erp_line_types, params)
    side = Step(f"{name}.side", f"""CREATE OR REPLACE TEMP TABLE sk_side AS
        WITH open AS (
            SELECT u.line_id, u.source, u.channel, u.order_no, u.currency, u.amount, u.local_amount,
                   u.movement_date, u.in_period,
                   u.source_file, u.source_line,
                   regexp_replace(upper(u.order_no), '[^0-9A-Z]', '', 'g') AS alnum
            FROM universe u ANTI JOIN result r USING (line_id)
            WHERE u.order_no IS NOT NULL AND u.id_problem IS NULL AND u.in_period AND u.order_record
              AND ((u.source = 'platform' AND u.line_type IN ({ptypes}))
                OR (u.source = 'erp' AND u.line_type IN ({etypes})))),
             -- the sides on which the order leg holds each open line's full order number (decided or not);
             -- only those numbers: the month mostly matched and needs no second pass over every order
             sides AS (
            SELECT order_no, bool_or(source = 'platform') AS on_platform, bool_or(source = 'erp') AS on_erp
            FROM universe
            WHERE order_no IN (SELECT order_no FROM open) AND order_record
              AND ((source = 'platform' AND line_type IN ({ptypes})) OR (source = 'erp' AND line_type IN ({etypes})))
            GROUP BY order_no)
        SELECT o.line_id, o.source, o.channel, o.order_no, o.currency, o.amount, o.local_amount, o.movement_date,
               o.in_period, o.source_file,
               o.source_line, right(o.alnum, $n) AS skey
        FROM open o JOIN sides s USING (order_no)
        WHERE length(o.alnum) >= $n
          AND NOT (CASE WHEN o.source = 'platform' THEN s.on_erp ELSE s.on_platform END)""", params, "sk_side")
    pair_params = {"tol": str(p.tolerance), "lo": p.date_window_days[0], "hi": p.date_window_days[1]}
    # amounts compared in one currency, as the exact pass does: an ERP document in another currency than
    # the platform's CNY by its local amount; equal figures in two currencies are no candidate
    cmp = ("CASE WHEN a.currency IS NOT DISTINCT FROM b.currency THEN b.amount "
           "WHEN a.currency = 'CNY' THEN b.local_amount END")
    pairs = Step(f"{name}.pairs", f"""CREATE OR REPLACE TEMP TABLE sk_pairs AS
        SELECT a.line_id AS p_id, b.line_id AS e_id, pr.ref AS p_ref, er.ref AS e_ref, a.skey, a.channel,
               {LABEL.format(x="a")} AS p_label, {LABEL.format(x="b")} AS e_label,
               a.amount - ({cmp}) AS residual,
               date_diff('day', b.movement_date, a.movement_date) AS days
        FROM sk_side a JOIN sk_side b
          ON a.source = 'platform' AND b.source = 'erp' AND a.skey = b.skey AND a.channel = b.channel
         AND ({cmp}) BETWEEN a.amount - CAST($tol AS DECIMAL(18,2)) AND a.amount + CAST($tol AS DECIMAL(18,2))
         AND date_diff('day', b.movement_date, a.movement_date) BETWEEN $lo AND $hi
        -- group ids from the lines' provenance (recon.engine.refs), never from internal ids
        JOIN line_ref pr ON pr.line_id = a.line_id JOIN line_ref er ON er.line_id = b.line_id""", pair_params, "sk_pairs")
    deg = Step(f"{name}.degrees", """CREATE OR REPLACE TEMP TABLE sk_deg AS
        SELECT *, count(*) OVER (PARTITION BY p_id) AS n_erp, count(*) OVER (PARTITION BY e_id) AS n_platform
        FROM sk_pairs""", writes="sk_deg")
    group = "'G' || substr(md5(least(p_ref, e_ref) || ',' || greatest(p_ref, e_ref)), 1, 16)"
    explain = ("'短号 ' || skey || ': ' || p_label || ' = ' || e_label || CASE WHEN residual <> 0 THEN ', 差额 ' || "
               "CAST(residual AS VARCHAR) || ' 在容差内' ELSE '' END || ' (同渠道, 相差 ' || CAST(days AS VARCHAR) || ' 天)', "
               f"{finding('SHORT_KEY_MATCHED', key='skey', days='days')}")
    out = [side, pairs, deg]
    for col, src in (("p_id", "platform"), ("e_id", "erp")):
        out.append(Step(f"{name}.matched.{src}",
            f"""INSERT INTO result
            SELECT {col}, '{src}', 'matched', $name, {group}, {explain}
            FROM sk_deg WHERE n_erp = 1 AND n_platform = 1""", {"name": p.name}, "result"))
    # ambiguous: every line of a pair that is not one-to-one, on both sides; each lists every line of the
    # other side that shares its channel and short key among them (a line with one candidate whose
    # candidate has others is not clean either, and the clerk sees why)
    out.append(Step(f"{name}.review", """CREATE OR REPLACE TEMP TABLE sk_review AS
        WITH amb AS (SELECT * FROM sk_deg
                     WHERE p_id IN (SELECT p_id FROM sk_deg WHERE n_erp > 1 OR n_platform > 1)
                        OR e_id IN (SELECT e_id FROM sk_deg WHERE n_erp > 1 OR n_platform > 1)),
             lines AS (SELECT DISTINCT channel, skey, p_id AS line_id, 'platform' AS source, p_label AS label FROM amb
                       UNION SELECT DISTINCT channel, skey, e_id, 'erp', e_label FROM amb)
        SELECT a.line_id, a.source, any_value(a.channel) AS channel, any_value(a.skey) AS skey,
               count(*) AS n, string_agg(b.label, '; ' ORDER BY b.label, b.line_id) AS candidates
        FROM lines a JOIN lines b ON b.channel = a.channel AND b.skey = a.skey AND b.source <> a.source
        GROUP BY a.line_id, a.source""", writes="sk_review"))
    out.append(Step(f"{name}.review.rows", f"""INSERT INTO result
        -- one review group per channel and short key: every line of the ambiguity shares it
        SELECT line_id, source, 'review', $name, 'R' || substr(md5(channel || ':' || skey), 1, 16),
               '短号 ' || skey || ' 对应多个候选, 需人工确认 (' || CAST(n AS VARCHAR) || ' 个): ' || candidates,
               {finding("AMBIGUOUS_CANDIDATES", candidates="n")}
        FROM sk_review""", {"name": p.name}, "result"))
    return out
