"""The cash leg: platform payouts and settlement batches <-> bank statement lines, in DuckDB.

Two pass shapes, both set-based:

- one-to-one (``payout_to_bank``): a payout line (提现, negative on the platform ledger) and a bank
  credit of the same amount (within tolerance) booked within the date window after it;
- many-to-one (``batch_to_bank``, ``group_by: payout_ref``): the platform lines that share an
  explicit batch key (JD's 到账时间 day, a 结算单号) summed, against one bank credit. Batches are
  never invented by subset search: only the key groups lines.

A pair is matched only when it is unambiguous both ways: the payout (or batch) has exactly one
candidate bank line and that bank line exactly one candidate payout. Otherwise every line involved
goes to ``review`` with its candidates listed, never to an arbitrary pick. The batch's own lines
keep the status of their order leg; the bank line reports the cash leg.
"""

from __future__ import annotations

from recon.engine.findings import finding
from recon.engine.steps import Step
from recon.rules import MatchPass
from recon.sql.bind import in_list


def steps(p: MatchPass) -> list[Step]:
    """The payout (or batch) side, its candidate bank lines and their degrees, then matched and review rows."""
    name = f"pass.{p.name}"
    params = {"tol": str(p.tolerance), "lo": p.date_window_days[0], "hi": p.date_window_days[1],
              "name": p.name}
    ptypes = in_list("pt", p.platform_line_types, params)
    btypes = in_list("bt", p.bank_line_types, params)
    if p.group_by:
        # one row per batch: the explicit key, its lines' sum and the day it was paid out
        side = Step(f"{name}.side",
            f"""CREATE OR REPLACE TEMP TABLE cash_side AS
            SELECT 'B' || substr(md5(string_agg(lr.ref, ',' ORDER BY lr.ref)), 1, 16) AS side_id,
                   any_value(channel) || ' 结算批次 ' || payout_ref || ': ' || CAST(count(*) AS VARCHAR)
                       || ' 行合计 ' || CAST(sum(amount) AS VARCHAR) AS label,
                   sum(amount) AS amount, max(payout_date) AS side_date, bool_or(in_period) AS any_in, channel,
                   string_agg(lr.ref, ',' ORDER BY lr.ref) AS members,
                   'B' || substr(md5(string_agg(lr.ref, ',' ORDER BY lr.ref)), 1, 16) AS side_ref
            FROM universe JOIN line_ref lr USING (line_id)
            WHERE source = 'platform' AND payout_ref IS NOT NULL AND line_type IN ({ptypes})
            GROUP BY channel, payout_ref""", params, "cash_side")
        sign = ""
    else:
        side = Step(f"{name}.side",
            f"""CREATE OR REPLACE TEMP TABLE cash_side AS
            SELECT u.line_id AS side_id,
                   coalesce(u.channel, '') || ' 提现 ' || CAST(u.amount AS VARCHAR) || ' ('
                       || CAST(u.movement_date AS VARCHAR) || ', ' || u.source_file || ':'
                       || CAST(u.source_line AS VARCHAR) || ')' AS label,
                   u.amount, u.movement_date AS side_date, u.in_period AS any_in, u.channel, lr.ref AS members,
                   lr.ref AS side_ref
            FROM universe u ANTI JOIN result r USING (line_id) JOIN line_ref lr USING (line_id)
            WHERE u.source = 'platform' AND u.line_type IN ({ptypes}) AND (u.in_period OR u.after_period)""",
            params, "cash_side")
        sign = "-"
    pairs = Step(f"{name}.pairs",
        f"""CREATE OR REPLACE TEMP TABLE cash_pairs AS
        SELECT s.side_id, s.side_ref, s.label, s.members, s.channel, b.line_id AS b_id, b.ref AS b_ref,
               '银行 ' || CAST(b.amount AS VARCHAR) || ' (' || CAST(b.movement_date AS VARCHAR) || ', '
                   || b.source_file || ':' || CAST(b.source_line AS VARCHAR) || ')' AS b_label,
               {sign}s.amount - b.amount AS residual
        FROM cash_side s
        -- bank lines no earlier step decided, as an anti join DuckDB can spill (not NOT IN over every
        -- result line); result.line_id is NOT NULL, so it keeps exactly the lines NOT IN kept
        JOIN (SELECT u.*, lr.ref FROM universe u ANTI JOIN result r USING (line_id) JOIN line_ref lr USING (line_id)) b
             ON b.source = 'bank' AND b.line_type IN ({btypes})
             AND b.amount BETWEEN {sign}s.amount - CAST($tol AS DECIMAL(18,2))
                              AND {sign}s.amount + CAST($tol AS DECIMAL(18,2))
             AND date_diff('day', s.side_date, b.movement_date) BETWEEN $lo AND $hi
             AND (b.in_period OR b.after_period) AND (b.in_period OR s.any_in)""", params, "cash_pairs")
    deg = Step(f"{name}.degrees",
        """CREATE OR REPLACE TEMP TABLE cash_deg AS
        SELECT *, count(*) OVER (PARTITION BY side_id) AS n_bank, count(*) OVER (PARTITION BY b_id) AS n_side
        FROM cash_pairs""", writes="cash_deg")
    out = [side, pairs, deg]
    # ids and candidate order from provenance ids (recon.engine.refs): side_ref, members, b_ref
    group = "'G' || substr(md5(members || ',' || b_ref), 1, 16)"
    explain = ("label || ' = ' || b_label || CASE WHEN residual <> 0 THEN ', 差额 ' || "
               "CAST(residual AS VARCHAR) || ' 在容差内' ELSE '' END, "
               f"CASE WHEN residual = 0 THEN {finding('BALANCED')} "
               f"ELSE {finding('WITHIN_TOLERANCE', diff='residual', tolerance='$tol')} END")
    # unambiguous pairs: the bank line, and for one-to-one also the payout line
    out.append(Step(f"{name}.matched.bank",
        f"""INSERT INTO result
        SELECT b_id, 'bank', 'matched', $name, {group}, {explain} FROM cash_deg WHERE n_bank = 1 AND n_side = 1""",
        {"name": p.name, "tol": str(p.tolerance)}, "result"))
    # the channel of the payout (or batch) a bank credit was matched with: the reconciliation statement's
    # bank step (recon.engine.statement) puts the credit under that channel
    out.append(Step(f"{name}.bank_channel",
        """INSERT INTO cash_bank_channel SELECT b_id, channel FROM cash_deg WHERE n_bank = 1 AND n_side = 1""",
        writes="cash_bank_channel"))
    if not p.group_by:
        out.append(Step(f"{name}.matched.platform",
            f"""INSERT INTO result
            SELECT side_id, 'platform', 'matched', $name, {group}, {explain}
            FROM cash_deg WHERE n_bank = 1 AND n_side = 1""", {"name": p.name, "tol": str(p.tolerance)}, "result"))
    # ambiguous: every line involved goes to review with its candidates
    out.append(Step(f"{name}.review.bank",
        f"""INSERT INTO result
        SELECT b_id, 'bank', 'review', $name, 'R' || substr(md5(string_agg(side_ref, ',' ORDER BY side_ref)), 1, 16),
               '多个候选, 需人工确认: ' || string_agg(label, '; ' ORDER BY side_ref),
               {finding("AMBIGUOUS_CANDIDATES", candidates="count(*)")}
        FROM cash_deg WHERE b_id IN (SELECT b_id FROM cash_deg WHERE n_bank > 1 OR n_side > 1)
        GROUP BY b_id""", {"name": p.name}, "result"))
    if not p.group_by:
        out.append(Step(f"{name}.review.platform",
            f"""INSERT INTO result
            SELECT side_id, 'platform', 'review', $name,
                   'R' || substr(md5(string_agg(b_ref, ',' ORDER BY b_ref)), 1, 16),
                   '多个候选, 需人工确认: ' || string_agg(b_label, '; ' ORDER BY b_ref),
                   {finding("AMBIGUOUS_CANDIDATES", candidates="count(*)")}
            FROM cash_deg WHERE side_id IN (SELECT side_id FROM cash_deg WHERE n_bank > 1 OR n_side > 1)
            GROUP BY side_id""", {"name": p.name}, "result"))
    return out
