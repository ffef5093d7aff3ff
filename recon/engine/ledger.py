"""One definition of "a ledger line": the temp view ``ledger_line`` over the three ledger tables.

The platform, ERP and bank lines live in their own tables (``recon.store``), each with its family's
columns. Every step that reads ledger lines as such — the run's universe, the lines a superseded
document left behind, a manual decision's lines, ``recon explain``'s scope — reads this view instead of
re-typing the UNION of the three. The columns every family can say, NULL where one cannot:

``source`` (platform | erp | bank), ``line_id``, ``file_id``, ``source_name``, ``source_line``,
``source_sheet``, ``superseded_by``, ``id_problem``, ``channel`` (the line's own; the ERP's may be
empty until the channel map fills it), ``account`` (the platform's shop account, the ERP's customer,
the bank's account), ``order_no``, ``line_type``, ``currency``, ``amount``, ``movement_date``,
``counterparty`` (platform counterparty, bank counterparty name) and the platform-only ``record_kind``,
``payout_ref``, ``event_time``, ``fee_amount``, ``refund_no``, ``platform_txn_no``,
``related_txn_no``; and the ERP-only ``local_amount``: a document in another currency than the local
one (CNY, 本位币) in local currency, its 本位币 amount as the ERP booked it, else amount × its rate
(NULL for a CNY document, or one that gives neither), so the order leg compares yuan with yuan.

A view, not a table: DuckDB inlines it, so a filter on ``source`` or ``file_id`` reaches each table's
scan and nothing is copied.
"""

from __future__ import annotations

from recon.engine.steps import Step, runner

LEDGER_LINE = """
    SELECT 'platform' AS source, line_id, file_id, source_name, source_line, source_sheet, superseded_by, id_problem,
           channel, account, order_no, line_type, currency, amount, movement_date, counterparty,
           record_kind, payout_ref, event_time, fee_amount, refund_no, platform_txn_no, related_txn_no,
           CAST(NULL AS DECIMAL(18,2)) AS local_amount
    FROM platform_line
    UNION ALL
    SELECT 'erp', line_id, file_id, source_name, source_line, source_sheet, superseded_by, id_problem,
           channel, customer, order_no, line_type, currency, amount, movement_date, NULL,
           NULL, NULL, NULL, NULL, NULL, NULL, NULL,
           CASE WHEN currency <> 'CNY'
                THEN coalesce(amount_local, CAST(round(amount * exchange_rate, 2) AS DECIMAL(18,2))) END
    FROM erp_line
    UNION ALL
    SELECT 'bank', line_id, file_id, source_name, source_line, source_sheet, superseded_by, id_problem,
           NULL, account, order_no, line_type, currency, amount, movement_date, counterparty_name,
           NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
    FROM bank_line"""


def view() -> Step:
    """The step creating (or replacing) temp view ``ledger_line`` on the connection."""
    return Step("ledger_line", f"CREATE OR REPLACE TEMP VIEW ledger_line AS {LEDGER_LINE}")


def ensure(con) -> None:
    """Create ``ledger_line`` on ``con`` (a connection or a ``Runner``) for a command outside a run."""
    runner(con).run(view())
