"""The order baseline: six dimensions per order, by source, blank where a source cannot say."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from recon.engine import baseline
from recon.errors import ConfigError
from test_match_cash import add, con, run  # noqa: F401 (con is a fixture)

D1 = dt.date(2026, 1, 6)


def test_six_dimensions_from_platform_and_erp(con):
    add(con, "platform_line", channel="jd", record_kind="settlement", line_type="sale", order_no="A",
        amount=Decimal("199.00"), movement_date=D1)
    add(con, "platform_line", channel="jd", record_kind="settlement", line_type="commission", order_no="A",
        amount=Decimal("-9.95"), movement_date=D1)
    add(con, "platform_line", channel="jd", record_kind="settlement", line_type="refund", order_no="A",
        amount=Decimal("-20.00"), movement_date=D1)
    add(con, "erp_line", line_type="receivable", order_no="A", amount=Decimal("199.00"), tax_amount=Decimal("22.89"),
        settled_amount=Decimal("150.00"), movement_date=D1)
    add(con, "erp_line", line_type="credit_note", order_no="A", amount=Decimal("-20.00"),
        tax_amount=Decimal("-2.30"), settled_amount=Decimal("-20.00"), movement_date=D1)
    run(con)
    assert baseline.build(con, baseline.load_baseline()) == 1
    cur = con.execute("SELECT * FROM run_baseline")
    row = dict(zip([d[0] for d in cur.description], cur.fetchone()))
    assert row["order_no"] == "A" and row["channel"] == "jd"
    assert (row["receivable_platform"], row["receivable_erp"]) == (Decimal("199.00"), Decimal("199.00"))
    assert (row["received_platform"], row["received_erp"]) == (Decimal("199.00"), Decimal("150.00"))
    assert (row["refund_due_erp"], row["refunded_platform"], row["refunded_erp"]) == (
        Decimal("-20.00"), Decimal("-20.00"), Decimal("20.00"))
    assert row["commission_platform"] == Decimal("-9.95")
    assert row["tax_erp"] == Decimal("20.59")
    # a source that cannot say a dimension stays blank, never zero
    assert row["refund_due_platform"] is None and row["commission_erp"] is None and row["tax_platform"] is None


def test_bad_baseline_file_reports_lines(tmp_path):
    path = tmp_path / "b.yaml"
    path.write_text("version: 1\ndimensions:\n  receivable:\n    erp: {line_types: [receivable], value: amont}\n"
                    "  margin:\n    erp: {value: amount}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        baseline.load_baseline(path)
    text = "\n".join(exc.value.problems)
    assert f"{path}:4: dimensions.receivable.erp.value" in text and "amont" in text
    assert f"{path}:5: dimensions.margin: unknown dimension 'margin'" in text
