"""The reconciliation statement (余额调节表): per channel and currency, the bridge from the ERP's
receivable to the bank's credits, every step's gap explained by codes to the cent.

Five balances, each the plain sum of its own lines of the period (``universe`` where ``in_period``),
per channel and currency (a dollar is never added into yuan):

1. ``erp_receivable``: every ERP line of the channel (receivables, credit notes, other receivables);
2. ``platform_gross``: the platform's sale lines (the order record: the trade bill where the channel
   has one, ``universe.order_record``, so a sale in both the trade and the fund bill counts once);
3. ``fees_subsidies_refunds``: gross plus every other platform line but payouts (refunds, fees,
   commissions, subsidies, adjustments): what the platform owes the merchant, net;
4. ``payouts``: what the platform paid out (its payout lines, signed as money received);
5. ``bank_credits``: the bank's credits, each under the channel of the payout or settlement batch the
   cash leg matched it with (``cash_bank_channel``); a credit matched with nothing has no channel.

A step's gap is its balance minus the one before. The lines on either side of the step explain it:
each line contributes its amount with the sign it has in the later balance, minus the one it has in
the earlier (a sale is in both gross and net: it contributes nothing to step 3). The contributions
are grouped by the line's final status and code: matched and known lines are the codes that explain
the gap; the unknown and review lines are the unexplained remainder, their own signed sum, never a
figure that makes the step balance.

The proof (``prove``): for every channel, currency and step, the gap computed from the two balances
equals the sum of the codes' contributions plus the remainder, to the cent. The balances read lines
alone; the contributions read every line with its result; a line without a result, with two, or a
role counted on one side only breaks it. A statement that does not foot is recon's own arithmetic
gone wrong: ``ConservationError`` (exit 3), like the conservation proof.

Lines outside the bridge: ERP and bank lines are all in it (bank credits only); a platform sale or
refund that is the fund bill's second record of a trade-bill line is not (its trade-bill twin is).
"""

from __future__ import annotations

from decimal import Decimal

from recon.engine.steps import Step, runner, values_table
from recon.errors import ConservationError

STEPS = ("erp_receivable", "platform_gross", "fees_subsidies_refunds", "payouts", "bank_credits")
NAMES = {"zh": ("ERP 应收", "平台销售总额", "费用、补贴与退款后净额", "平台提现", "银行入账"),
         "en": ("ERP receivable", "platform gross", "after fees, subsidies and refunds", "payouts", "bank credits")}
REMAINDER_STATUSES = ("unknown", "review")

# (role, step, coefficient in that step's balance): a line's sign in each balance it belongs to
BALANCE = (("erp", 1, 1), ("gross", 2, 1), ("gross", 3, 1), ("deduction", 3, 1), ("payout", 4, -1),
           ("bank", 5, 1))

# the role of a line of the period in the bridge; NULL: outside it (a fund bill's twin of a trade-bill line)
ROLE_SQL = """CASE WHEN u.source = 'erp' THEN 'erp'
            WHEN u.source = 'bank' AND u.line_type = 'bank_credit' THEN 'bank'
            WHEN u.source <> 'platform' THEN NULL
            WHEN u.line_type = 'payout' THEN 'payout'
            WHEN u.line_type = 'sale' THEN CASE WHEN u.order_record THEN 'gross' END
            WHEN u.line_type = 'refund' AND NOT u.order_record THEN NULL
            ELSE 'deduction' END"""


def contributions() -> list[tuple]:
    """(role, step, coefficient) of each line in each step's gap: later balance's sign minus earlier's."""
    sign = {(role, step): coef for role, step, coef in BALANCE}
    out = []
    for step in range(2, len(STEPS) + 1):
        for role in sorted({r for r, _, _ in BALANCE}):
            coef = sign.get((role, step), 0) - sign.get((role, step - 1), 0)
            if coef:
                out.append((role, step, coef))
    return out


def steps() -> list[Step]:
    """The statement's tables: ``stmt_line`` (each line of the bridge once), ``stmt_balance`` and
    ``stmt_part`` (per step, status and code: lines and signed contribution)."""
    return [
        # a bank credit the cash leg matched takes the channel of its payout or batch (recon.engine.cash)
        Step("statement.bank_channel", """CREATE OR REPLACE TEMP TABLE stmt_bank_channel AS
            SELECT c.line_id, min(c.channel) AS channel FROM cash_bank_channel c SEMI JOIN result r USING (line_id)
            GROUP BY c.line_id""", writes="stmt_bank_channel"),
        Step("statement.lines", f"""CREATE OR REPLACE TEMP TABLE stmt_line AS
            SELECT * FROM (
                SELECT u.line_id, CASE WHEN u.source = 'bank' THEN bc.channel ELSE u.channel END AS channel,
                       coalesce(u.currency, '?') AS currency, {ROLE_SQL} AS role, u.amount
                FROM universe u LEFT JOIN stmt_bank_channel bc USING (line_id)
                WHERE u.in_period)
            WHERE role IS NOT NULL""", writes="stmt_line"),
        values_table("stmt_balance_role", "statement.balance_roles",
                     {"role": "VARCHAR", "step_no": "INTEGER", "coef": "INTEGER"}, BALANCE, "b"),
        values_table("stmt_step_role", "statement.step_roles",
                     {"role": "VARCHAR", "step_no": "INTEGER", "coef": "INTEGER"}, contributions(), "s"),
        Step("statement.balances", """CREATE OR REPLACE TEMP TABLE stmt_balance AS
            SELECT l.channel, l.currency, b.step_no, CAST(sum(b.coef * l.amount) AS DECIMAL(18,2)) AS amount
            FROM stmt_line l JOIN stmt_balance_role b USING (role)
            GROUP BY ALL""", writes="stmt_balance"),
        Step("statement.parts", """CREATE OR REPLACE TEMP TABLE stmt_part AS
            SELECT l.channel, l.currency, s.step_no, r.status, r.code, count(*) AS lines,
                   CAST(sum(s.coef * l.amount) AS DECIMAL(18,2)) AS amount
            FROM stmt_line l JOIN stmt_step_role s USING (role) JOIN result r USING (line_id)
            GROUP BY ALL""", writes="stmt_part"),
    ]


def prove(con, period: str) -> dict:
    """Build the statement, check that every step foots, and return it (the manifest's ``statement``).

    Raises ConservationError naming the first steps that do not foot.
    """
    r = runner(con)
    r.run(steps())
    balances = r.fetch(Step("statement.read_balances",
        "SELECT channel, currency, step_no, amount FROM stmt_balance ORDER BY 1 NULLS LAST, 2, 3"))
    parts = r.fetch(Step("statement.read_parts",
        """SELECT channel, currency, step_no, status, code, lines, amount FROM stmt_part
           ORDER BY 1 NULLS LAST, 2, 3, CASE status WHEN 'matched' THEN 1 WHEN 'known' THEN 2
                    WHEN 'review' THEN 3 ELSE 4 END, status, code NULLS FIRST"""))
    return assemble(period, balances, parts)


def assemble(period: str, balances, parts) -> dict:
    """The statement from its balances and parts (rows as ``prove`` reads them); checks that it foots."""
    bal: dict = {}
    for ch, cur, step, amount in balances:
        bal.setdefault((ch, cur), {})[step] = Decimal(amount)
    part: dict = {}
    for ch, cur, step, status, code, n, amount in parts:
        bal.setdefault((ch, cur), {})
        part.setdefault((ch, cur, step), []).append((status, code, int(n), Decimal(amount)))
    rows, problems = [], []
    for (ch, cur) in sorted(bal, key=lambda k: (k[0] is None, k[0] or "", k[1])):
        out_steps = []
        for i, name in enumerate(STEPS, start=1):
            amount = bal[(ch, cur)].get(i, Decimal("0.00"))
            entry = {"step_no": i, "step": name, "amount": str(_cents(amount))}
            if i > 1:
                gap = amount - bal[(ch, cur)].get(i - 1, Decimal("0.00"))
                here = part.get((ch, cur, i), [])
                codes = [{"status": s, "code": c, "lines": n, "amount": str(_cents(a))}
                         for s, c, n, a in here if s not in REMAINDER_STATUSES]
                rest = [(n, a) for s, _, n, a in here if s in REMAINDER_STATUSES]
                explained = sum((a for s, _, _, a in here if s not in REMAINDER_STATUSES), Decimal("0"))
                remainder = sum((a for _, a in rest), Decimal("0"))
                entry.update(gap=str(_cents(gap)), codes=codes, explained=str(_cents(explained)),
                             remainder={"lines": sum(n for n, _ in rest), "amount": str(_cents(remainder))})
                if gap != explained + remainder:
                    problems.append(f"{ch or '(no channel)'} {cur} {name}: gap {gap} != explained {explained} "
                                    f"+ remainder {remainder}")
            out_steps.append(entry)
        rows.append({"channel": ch, "currency": cur, "steps": out_steps})
    if problems:
        raise ConservationError("the reconciliation statement does not foot: " + "; ".join(problems[:5]))
    return {"period": period, "steps": list(STEPS), "foots": True, "rows": rows}


def _cents(value: Decimal) -> Decimal:
    return Decimal(value).quantize(Decimal("0.01"))


def flat_rows(statement: dict):
    """The statement as flat rows (period, channel, currency, step_no, step, row, status, code, lines,
    amount): ``balance``, then for steps after the first ``gap``, one ``code`` row per code and the
    ``remainder``. What the CSV and the workbook sheet show."""
    period = statement.get("period", "")
    for row in statement.get("rows", []):
        ch, cur = row["channel"], row["currency"]
        for s in row["steps"]:
            base = (period, ch, cur, s["step_no"], s["step"])
            yield base + ("balance", None, None, None, s["amount"])
            if "gap" not in s:
                continue
            yield base + ("gap", None, None, None, s["gap"])
            for c in s["codes"]:
                yield base + ("code", c["status"], c["code"], c["lines"], c["amount"])
            yield base + ("remainder", None, None, s["remainder"]["lines"], s["remainder"]["amount"])
