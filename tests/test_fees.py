"""Contract fee rules (rules/fees.yaml): loading with file:line errors, and the check itself."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from recon.engine import fees
from recon.errors import ConfigError
from recon.rules import load_fees
from test_match_cash import add, con, run  # noqa: F401 (con is a fixture)


def test_shipped_fee_rules_load_with_sentences():
    rules = load_fees()
    by = {r.name: r for r in rules.rules}
    assert by["jd_commission"].formula.sentence and by["wechatpay_fee"].base == "line"


def test_bad_fee_rules_report_every_problem_with_lines(tmp_path):
    path = tmp_path / "fees.yaml"
    path.write_text("version: 1\nfees:\n  - name: a\n    channel: jd\n    base: per_order\n"
                    "    formula: round(subtotl * 0.05, 2)\n  - name: b\n    channel: jd\n    base: line\n"
                    "    formula: read_csv('x')\n    colour: red\n", encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_fees(path)
    text = "\n".join(exc.value.problems)
    assert f"{path}:5: fees.0.base: base must be one of order_sales, line" in text
    assert f"{path}:6: fees.0.formula" in text and "subtotl" in text and "subtotal" in text
    assert f"{path}:10: fees.1.formula" in text and "read_csv" in text
    assert f"{path}:11: fees.1.colour: unknown key" in text


def _jd(con, order, line_type, raw_type, amount, sku="100045678912"):
    return add(con, "platform_line", channel="jd", record_kind="settlement", line_type=line_type, raw_type=raw_type,
               order_no=order, sub_order_no=sku, amount=Decimal(amount), movement_date=dt.date(2026, 1, 8))


def explanations(con):
    fees.check(con, load_fees())
    return dict(con.execute("SELECT line_id, explanation FROM result").fetchall())


def test_fee_line_is_checked_against_its_orders_sales(con):
    _jd(con, "A1", "sale", "货款", "199.00")
    ok = _jd(con, "A1", "commission", "佣金", "-9.95")
    _jd(con, "B2", "sale", "货款", "89.00")
    off = _jd(con, "B2", "commission", "佣金", "-4.48")  # contract: round(89.00 * 0.05, 2) = 4.45
    lone = _jd(con, "C3", "commission", "佣金", "-1.00")  # no sale of that order in the files
    run(con)
    ex = explanations(con)
    assert "符合合同公式 round(subtotal * 0.05, 2) (基数 199.00" in ex[ok]
    assert "应为 4.45, 实收 4.48, 差 0.03 (基数 89.00, 京东POP店铺合同 基础扣点 5%)" in ex[off]
    assert "无法核对" in ex[lone]


def test_sku_is_part_of_the_base(con):
    _jd(con, "A1", "sale", "货款", "100.00", sku="S1")
    _jd(con, "A1", "sale", "货款", "300.00", sku="S2")
    s1 = _jd(con, "A1", "commission", "佣金", "-5.00", sku="S1")
    run(con)
    assert "符合合同公式" in explanations(con)[s1], "5% of S1's 100.00, not of the order's 400.00"


def test_fee_column_of_a_sale_line_is_checked(con):
    good = add(con, "platform_line", channel="wechatpay", record_kind="trade", line_type="sale", order_no="W1",
               amount=Decimal("299.00"), fee_amount=Decimal("-1.79"), movement_date=dt.date(2026, 1, 5))
    bad = add(con, "platform_line", channel="wechatpay", record_kind="trade", line_type="sale", order_no="W2",
              amount=Decimal("100.00"), fee_amount=Decimal("-0.61"), movement_date=dt.date(2026, 1, 5))
    run(con)
    ex = explanations(con)
    assert "手续费" not in ex[good], "a conforming column fee leaves the sale's explanation alone"
    assert ex[bad].endswith("; 手续费 偏离合同公式 round(subtotal * 0.006, 2): 应为 0.60, 实收 0.61, 差 0.01 "
                            "(基数 100.00, 微信支付商户协议 费率 0.6%)")
    counts = fees.check(con, load_fees())
    assert counts["wechatpay_fee"] == {"checked": 2, "deviations": 1, "no_base": 0}
