"""The trade-bill <-> fund-bill leg: two records of one payment within a channel, in DuckDB.

A channel whose trade bill (业务明细, 交易账单) and fund bill (账务明细, 资金账单) are both loaded
records each payment twice. The order leg takes the trade bill; this leg links each fund-bill line
to the trade-bill line it records, so the fund bill is accounted for line by line:

- a fund sale is the trade sale of the same order (or the payment the fund line names in
  ``related_txn_no``) with the same amount;
- a fund fee is the fee component of that trade sale (``fee_amount``: WeChat and Alipay carry
  the fee as a column of the sale row, the fund bill books it as its own line);
- a fund refund is the trade refund of the same order or refund number, net of a returned fee or not.

A fund line with exactly one candidate is matched; more than one goes to review with the
candidates listed. The trade lines keep the status of their order leg.
"""

from __future__ import annotations

from recon.engine.findings import finding
from recon.engine.keys import key_hash
from recon.engine.steps import Step
from recon.rules import MatchPass

# How a fund line may name its trade line: the order number, or the platform transaction it records
# (related_txn_no = the payment's platform_txn_no, or a refund's refund_no). One equi-join per way,
# so DuckDB hash-joins each instead of comparing every pair: on the keys' integers (``*_h``,
# recon.engine.keys) and the keys themselves, so a hash collision never pairs two different numbers.
WAYS = tuple(f"f.{a}_h = t.{b}_h AND f.{a} = t.{b}" for a, b in (
    ("order_no", "order_no"),
    ("related_txn_no", "platform_txn_no"),
    ("related_txn_no", "refund_no"),
    ("refund_no", "refund_no"),
))
HASHED = "{h} AS {c}_h"
AMOUNTS = """
    (f.line_type = 'sale' AND t.line_type = 'sale' AND f.amount = t.amount)
 OR (f.line_type = 'fee' AND t.line_type = 'sale' AND f.amount = t.fee_amount)
 OR (f.line_type = 'refund' AND t.line_type = 'refund'
     AND (f.amount = t.amount OR f.amount = t.amount + coalesce(t.fee_amount, 0)))
"""


def steps(p: MatchPass) -> list[Step]:
    """The candidates (``pair_cand``), then one match or one review per fund line not yet decided."""
    joins = " UNION ".join(
        f"""SELECT f.line_id AS f_id, t.line_id AS t_id FROM fund f JOIN trade t
            ON f.channel = t.channel AND {way} WHERE {AMOUNTS}"""
        for way in WAYS)
    # the fund lines of the period and the trade lines, each taken from the universe once with the few
    # columns the ways, amounts and labels read: four ways and two label joins then read these instead
    # of scanning (and joining) every line of the month six times
    name = f"pass.{p.name}"
    cand = Step(f"{name}.candidates",
        f"""CREATE OR REPLACE TEMP TABLE pair_cand AS
        WITH fund AS MATERIALIZED (
            SELECT u.line_id, u.channel, u.order_no, u.related_txn_no, u.refund_no, u.line_type, u.amount,
                   {", ".join(HASHED.format(h=key_hash(c), c=c) for c in ("order_no", "related_txn_no", "refund_no"))}
            -- fund lines no earlier step decided, as an anti join DuckDB can spill (NOT IN over every
            -- result line could not, and ran out of memory at 10M orders); result.line_id is NOT NULL,
            -- so this keeps exactly the lines NOT IN kept
            FROM universe u ANTI JOIN result r USING (line_id)
            WHERE u.source = 'platform' AND u.record_kind = 'fund' AND u.in_period AND NOT u.order_record),
        trade AS MATERIALIZED (
            SELECT line_id, channel, order_no, platform_txn_no, refund_no, line_type, amount, fee_amount,
                   source_file, source_line,
                   {", ".join(HASHED.format(h=key_hash(c), c=c) for c in ("order_no", "platform_txn_no", "refund_no"))} FROM universe
            WHERE source = 'platform' AND record_kind = 'trade')
        SELECT c.f_id, c.t_id, fr.ref AS f_ref, tr.ref AS t_ref,
               '交易账单 ' || t.line_type || ' ' || CAST(t.amount AS VARCHAR)
                   || CASE WHEN f.line_type = 'fee' THEN ' 的手续费 ' || CAST(t.fee_amount AS VARCHAR) ELSE '' END
                   || ' (' || t.source_file || ':' || CAST(t.source_line AS VARCHAR) || ')' AS t_label,
               count(*) OVER (PARTITION BY c.f_id) AS n
        FROM ({joins}) c JOIN fund f ON f.line_id = c.f_id JOIN trade t ON t.line_id = c.t_id
        -- group ids and the candidates' order are named from provenance ids (recon.engine.refs)
        JOIN line_ref fr ON fr.line_id = c.f_id JOIN line_ref tr ON tr.line_id = c.t_id""",
        writes="pair_cand")
    matched = Step(f"{name}.matched",
        f"""INSERT INTO result
        SELECT f_id, 'platform', 'matched', $name, 'G' || substr(md5(f_ref || ',' || t_ref), 1, 16),
               '资金账单行 = ' || t_label, {finding("FUND_TRADE_PAIRED")}
        FROM pair_cand WHERE n = 1""", {"name": p.name}, "result")
    review = Step(f"{name}.review",
        f"""INSERT INTO result
        SELECT f_id, 'platform', 'review', $name, 'R' || substr(md5(string_agg(t_ref, ',' ORDER BY t_ref)), 1, 16),
               '资金账单行有多个交易账单候选, 需人工确认: ' || string_agg(t_label, '; ' ORDER BY t_ref),
               {finding("AMBIGUOUS_CANDIDATES", candidates="count(*)")}
        FROM pair_cand WHERE n > 1 GROUP BY f_id""", {"name": p.name}, "result")
    return [cand, matched, review]
