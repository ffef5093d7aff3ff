"""Classification through the real engine: priorities, groups, carve-outs, two causes, corrections, isolation.

Small inputs come from the shipped entries' own examples (the rows a reader can see in
dictionaries/default.yaml), run through ``recon.api.reconcile`` exactly as ``recon dict test`` does.
"""

from __future__ import annotations

import dataclasses
import shutil
from decimal import Decimal

import duckdb
import pytest

from recon import api, store
from recon.cli import main
from recon.dictcheck import _insert
from recon.dictionary import Dictionary, default_path, load_dictionaries
from recon.engine.steps import StepError
from recon.errors import ReconError

D = Decimal


@pytest.fixture(scope="module")
def shipped():
    return load_dictionaries()


_LABELS: dict = {}  # id(connection) -> {line_id: example label}


def reconcile(d: Dictionary, code: str, k: int, edit=None):
    """Run example k of entry ``code`` (rows optionally edited) against dictionary d; return (con, by label)."""
    ex = d.entry(code).examples[k]
    if edit:
        ex = dataclasses.replace(ex, rows=edit(dict(ex.rows)))
    con = store.connect(":memory:")
    con.execute(f"CREATE TEMP TABLE {api.RUN_FILES_COLUMNS}")
    labels = {lid: label for label, lid in _insert(con, ex).items()}
    api.reconcile(con, ex.period, dataclasses.replace(api.Settings.load(), dictionary=d))
    _LABELS[id(con)] = labels
    rows = {labels[r[0]]: r[1:] for r in con.execute(
        "SELECT line_id, status, code, match_group, explanation FROM result").fetchall()}
    return con, rows


def test_a_group_hit_applies_to_every_member_and_keeps_the_group_id(shipped):
    con, rows = reconcile(shipped, "ROUNDING_ALLOCATION", 0)
    assert {r[:2] for r in rows.values()} == {("known", "ROUNDING_ALLOCATION")}
    groups = {r[2] for r in rows.values()}
    assert len(groups) == 1 and groups.pop().startswith("G")
    case = [(c, r, sorted(_LABELS[id(con)][i] for i in ids), refs) for c, r, ids, refs in con.execute(
        "SELECT case_id, residual, line_ids, source_refs FROM known_case_tmp").fetchall()]
    assert case == [(rows["p1"][2], D("0.01"), ["e1", "p1", "p2", "p3"],
                     ["erp.example:2", "platform.example:2", "platform.example:3", "platform.example:4"])]


def test_a_line_carved_out_of_its_group_leaves_the_rest_matched(shipped):
    _, rows = reconcile(shipped, "DUPLICATE_ERP_ENTRY", 0)
    assert rows["e2"][:2] == ("known", "DUPLICATE_ERP_ENTRY") and rows["e2"][2].startswith("K")
    assert rows["e1"][:2] == rows["p1"][:2] == ("matched", "order_exact")
    assert rows["e1"][2] == rows["p1"][2] != rows["e2"][2]
    assert "平台 89.00 = ERP 89.00" in rows["e1"][3]


def test_a_line_hit_that_would_leave_its_group_unbalanced_is_not_applied(shipped):
    def third_copy(rows):
        erp = rows["erp"]
        return {**rows, "erp": erp + (dict(erp[1], id="e3", bill_no="AR193"),),
                "platform": (dict(rows["platform"][0], amount="90.00"),)}
    _, rows = reconcile(shipped, "DUPLICATE_ERP_ENTRY", 0, third_copy)
    assert {r[0] for r in rows.values()} == {"unknown"}


def test_priority_decides_and_the_runner_up_is_named(shipped):
    _, rows = reconcile(shipped, "FEE_RULE_DEVIATION", 0)
    status, code, _, expl = rows["c1"]
    assert (status, code) == ("known", "FEE_RULE_DEVIATION")
    assert "亦符合 FEE_PERIOD_MISMATCH" in expl and "应为 4.45" in expl


def test_a_residual_that_needs_two_causes_stays_unknown_with_both_named(shipped):
    _, rows = reconcile(shipped, "SUBSIDY_CLASSIFICATION", 1)
    status, code, _, expl = rows["p1"]
    assert (status, code) == ("unknown", None)
    assert "需要两个原因同时成立" in expl and "SUBSIDY_CLASSIFICATION + ROUNDING_ALLOCATION" in expl


def test_corrections_balance_and_flip_sides_for_negative_amounts(shipped):
    con, rows = reconcile(shipped, "FX_RATE_DATE", 0)
    assert rows["b1"][:2] == rows["e1"][:2] == ("known", "FX_RATE_DATE")
    lines = con.execute("SELECT line_no, account, debit, credit, basis FROM correction_tmp ORDER BY line_no").fetchall()
    assert [l[:4] for l in lines] == [(1, "accounts_receivable_foreign", D("36.29"), D("0")),
                                      (2, "sales_revenue", D("0"), D("36.29"))]
    assert "外币折算" in lines[0][4]
    # a returned fee (+) accrues on the other side: the credit note of an accrual
    con, rows = reconcile(shipped, "FEE_PERIOD_MISMATCH", 0,
                          lambda r: {**r, "platform": (r["platform"][0], dict(r["platform"][1], amount="1.20"))})
    assert rows["c1"][:2] == ("known", "FEE_PERIOD_MISMATCH")
    assert con.execute("SELECT account, debit, credit FROM correction_tmp ORDER BY line_no").fetchall() == [
        ("platform_fee_expense", D("0"), D("1.20")), ("accrued_platform_fees", D("1.20"), D("0"))]


def test_an_unbalanced_correction_template_is_an_error(shipped):
    e = shipped.entry("FEE_PERIOD_MISMATCH")
    lines = (e.correction.lines[0], dataclasses.replace(e.correction.lines[1], amount=e.correction.lines[0].amount))
    lines = (lines[0], dataclasses.replace(lines[1], amount=dataclasses.replace(
        lines[1].amount, sql='(-"amount" * 2)')))
    broken = dataclasses.replace(e, correction=dataclasses.replace(e.correction, lines=lines))
    d = Dictionary((broken,), (), {broken.code: broken})
    with pytest.raises(ReconError, match="does not balance"):
        reconcile(d, "FEE_PERIOD_MISMATCH", 0)


def test_an_expression_that_slipped_past_lint_still_cannot_read_a_file(shipped, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("x", encoding="utf-8")
    e = shipped.entry("FEE_PERIOD_MISMATCH")
    evil = dataclasses.replace(e, detect=dataclasses.replace(
        e.detect, sql=f"(SELECT count(*) FROM read_text('{secret}')) > 0", params={}))
    d = Dictionary((evil,), (), {evil.code: evil})
    # the engine step that ran it fails, named, with DuckDB's refusal as its cause
    with pytest.raises(StepError, match="(?i)'classify.detect' failed: .*(disabled|permission)") as exc:
        reconcile(d, "FEE_PERIOD_MISMATCH", 0)
    assert isinstance(exc.value.__cause__, duckdb.PermissionException)


def test_classification_is_deterministic(shipped):
    def dump():
        con, _ = reconcile(shipped, "REFUND_PERIOD_TIMING", 0)
        return (con.execute("SELECT * FROM known_case_tmp ORDER BY case_id").fetchall(),
                con.execute("SELECT * FROM correction_tmp ORDER BY case_id, line_no").fetchall(),
                con.execute("SELECT * FROM result ORDER BY line_id").fetchall())
    assert dump() == dump()


def test_dict_test_passes_for_every_shipped_entry_and_a_broken_example_fails(tmp_path, capsys):
    with pytest.raises(SystemExit) as ok:
        main(["dict", "test"])
    out = capsys.readouterr().out
    assert ok.value.code == 0, out
    assert out.count("PASS  ") >= 15 and "FAIL" not in out
    broken = tmp_path / "broken.yaml"
    shutil.copy(default_path(), broken)
    text = broken.read_text(encoding="utf-8")
    # the rounding near miss now differs by 0.03 (within tolerance): the entry fires where it must not
    broken.write_text(text.replace('amount: "89.87"', 'amount: "89.88"'), encoding="utf-8")
    with pytest.raises(SystemExit) as bad:
        main(["dict", "test", str(broken), "--code", "ROUNDING_ALLOCATION"])
    out = capsys.readouterr().out
    assert bad.value.code == 1
    assert "FAIL  ROUNDING_ALLOCATION" in out and "fired on" in out
