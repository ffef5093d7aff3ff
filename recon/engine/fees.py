"""Fee checks: every charged fee of the period against its channel's contract formula, in DuckDB.

Each rule of ``rules/fees.yaml`` says which fees it covers and how to find their base:

- ``order_sales``: the fee is its own line (JD 佣金, PDD 技术服务费, Tmall 天猫佣金); the base
  ``subtotal`` is the sum of the same order's sale lines (and the same SKU where both carry one);
- ``line``: the fee is a column of the sale line (WeChat, Alipay 服务费); ``subtotal`` is that
  line's amount and the charge is its ``fee_amount``.

Expected = the formula over ``subtotal``; charged = the fee as a positive number. The outcome is
written into the explanation of the fee line (or appended to the sale line's, for a deviating
column fee: temp table ``fee_note``, which ``recon.engine.outcome.amend`` folds into ``result``) and
counted per rule for the manifest. Returned fees (positive lines) are not checked
here: whether a refund should have returned them is the dictionary's question.
"""

from __future__ import annotations

from recon.engine import outcome
from recon.engine.findings import finding, then
from recon.engine.steps import Step, runner
from recon.rules import FeeRule, FeeRules
from recon.sql.bind import in_list


def _candidates_sql(rule: FeeRule, params: dict) -> str:
    # p.channel = $ch repeats u.channel = $ch (a platform line's channel in the universe is its own): it
    # lets DuckDB skip the other channels' lines of platform_line instead of joining all of them
    params["ch"] = rule.channel
    if rule.base == "line":
        return """SELECT u.line_id, u.amount AS subtotal, -p.fee_amount AS charged
                  FROM universe u JOIN platform_line p USING (line_id)
                  WHERE u.source = 'platform' AND u.in_period AND u.channel = $ch AND u.line_type = 'sale'
                    AND p.channel = $ch AND p.fee_amount < 0"""
    types = in_list("lt", rule.line_types, params)
    raw = f"AND p.raw_type IN ({in_list('rt', rule.raw_types, params)})" if rule.raw_types else ""
    desc = ""
    if rule.desc_contains:
        params["dc"] = rule.desc_contains
        desc = "AND contains(coalesce(p.raw_desc, ''), $dc)"
    return f"""WITH fees AS (
                  SELECT u.line_id, u.order_no, p.sub_order_no, -u.amount AS charged
                  FROM universe u JOIN platform_line p USING (line_id)
                  WHERE u.source = 'platform' AND u.in_period AND u.channel = $ch AND u.line_type IN ({types})
                    AND p.channel = $ch AND u.amount < 0 AND u.order_no IS NOT NULL {raw} {desc}),
              sales AS (
                  SELECT u.order_no, p.sub_order_no, sum(u.amount) AS subtotal
                  FROM universe u JOIN platform_line p USING (line_id)
                  WHERE u.source = 'platform' AND u.channel = $ch AND u.line_type = 'sale' AND u.order_record
                    AND p.channel = $ch
                  GROUP BY ALL)
              SELECT f.line_id, s.subtotal, f.charged FROM fees f
              LEFT JOIN sales s ON s.order_no = f.order_no
                   AND (s.sub_order_no = f.sub_order_no OR s.sub_order_no IS NULL OR f.sub_order_no IS NULL)"""


FEE_CHECK_DDL = """CREATE {replace} TEMP TABLE {exists} fee_check (rule VARCHAR, line_id BIGINT, base VARCHAR,
    subtotal DECIMAL(18,2), expected DECIMAL(18,2), charged DECIMAL(18,2), formula VARCHAR, cites VARCHAR)"""


def check(con, fees: FeeRules) -> dict:
    """Compute the checks (``compute``) and write them into the explanations (``annotate``)."""
    compute(con, fees)
    return annotate(con, fees)


def compute(con, fees: FeeRules) -> None:
    """Fill temp table ``fee_check`` from the universe; runs before the passes so the fee leg can
    leave a fee that deviates from its contract out of a match. ``con``: a ``Runner`` or a connection."""
    runner(con).run(compute_steps(fees))


def compute_steps(fees: FeeRules) -> list[Step]:
    """``fee_check``: one INSERT per fee rule."""
    steps = [Step("fees.check", FEE_CHECK_DDL.format(replace="OR REPLACE", exists=""), writes="fee_check")]
    for rule in fees.rules:
        params = dict(rule.formula.params)
        params.update({"rule": rule.name, "base": rule.base, "text": rule.formula.text, "cites": rule.cites})
        steps.append(Step(f"fees.check.{rule.name}", f"""INSERT INTO fee_check
            SELECT $rule, line_id, $base, subtotal, CAST({rule.formula.sql} AS DECIMAL(18,2)), charged, $text, $cites
            FROM ({_candidates_sql(rule, params)})""", params, "fee_check"))
    return steps


VERDICT = """CASE WHEN c.subtotal IS NULL THEN '没有可计算的基数 (同一订单的销售行), 无法核对'
             WHEN c.expected = c.charged THEN '符合合同公式 ' || c.formula || ' (基数 ' || CAST(c.subtotal AS VARCHAR)
                  || ', ' || c.cites || ')'
             ELSE '偏离合同公式 ' || c.formula || ': 应为 ' || CAST(c.expected AS VARCHAR) || ', 实收 '
                  || CAST(c.charged AS VARCHAR) || ', 差 ' || CAST(c.charged - c.expected AS VARCHAR)
                  || ' (基数 ' || CAST(c.subtotal AS VARCHAR) || ', ' || c.cites || ')' END"""


# the check's outcome as a finding code (recon.labels.FINDINGS), beside the sentence
VERDICT_CODE = f"""CASE WHEN c.subtotal IS NULL THEN {finding("FEE_NO_BASE", rule="c.rule", charged="c.charged")}
             WHEN c.expected = c.charged THEN {finding("FEE_CONFORMS", rule="c.rule", charged="c.charged")}
             ELSE {finding("FEE_OFF_CONTRACT", rule="c.rule", base="c.subtotal", expected="c.expected",
                           charged="c.charged", diff="c.charged - c.expected")} END"""


def annotate_steps() -> list[Step]:
    """``fee_note`` (the new explanation of each line a check speaks of), folded into ``result``.

    An unknown fee line's explanation becomes the check's outcome; a sale line whose fee column is off
    its formula gets the outcome appended. Should two rules of one base check the same line, the first
    rule by name (then the first text) speaks: a deterministic pick where an UPDATE took any.
    """
    return [Step("fees.note", f"""CREATE OR REPLACE TEMP TABLE fee_note AS
        WITH own AS (SELECT line_id, arg_min(text, (rule, text)) AS text, arg_min(code, (rule, text)) AS code
                     FROM (SELECT c.line_id, c.rule, '费用 ' || CAST(c.charged AS VARCHAR) || ' ' || {VERDICT} AS text,
                                  {VERDICT_CODE} AS code
                           FROM fee_check c WHERE c.base = 'order_sales') GROUP BY line_id),
             col AS (SELECT line_id, arg_min(text, (rule, text)) AS text, arg_min(code, (rule, text)) AS code FROM (
                         SELECT c.line_id, c.rule, {VERDICT} AS text, {VERDICT_CODE} AS code
                         FROM fee_check c WHERE c.base = 'line' AND c.expected IS DISTINCT FROM c.charged)
                     GROUP BY line_id)
        SELECT r.line_id,
               CASE WHEN col.line_id IS NULL THEN own.text
                    ELSE CASE WHEN own.line_id IS NULL THEN r.explanation ELSE own.text END || '; 手续费 ' || col.text
               END AS explanation,
               -- the line's own finding stays first: the check says why the fee is what it is
               {then("r.finding", "own.code", "col.code")} AS finding
        FROM result r LEFT JOIN own ON own.line_id = r.line_id AND r.status = 'unknown'
        LEFT JOIN col ON col.line_id = r.line_id
        WHERE own.line_id IS NOT NULL OR col.line_id IS NOT NULL""", writes="fee_note"),
            outcome.amend("fees.apply", "fee_note", ("explanation", "finding"))]


def annotate(con, fees: FeeRules) -> dict:
    """Write each check's outcome into the explanations of ``result``; return counts per rule."""
    run = runner(con)
    run.run(annotate_steps())
    rows = run.fetch(Step("fees.counts",
        """SELECT rule, count(*), count(*) FILTER (WHERE subtotal IS NOT NULL AND expected <> charged),
                  count(*) FILTER (WHERE subtotal IS NULL)
           FROM fee_check GROUP BY rule ORDER BY rule"""))
    counts = {r.name: {"checked": 0, "deviations": 0, "no_base": 0} for r in fees.rules}
    for name, n, dev, nobase in rows:
        counts[name] = {"checked": n, "deviations": dev, "no_base": nobase}
    return counts
