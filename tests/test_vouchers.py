"""Adjustment vouchers from known_case/correction_line rows written here directly (the classification
that fills them in real runs is built concurrently): balance, sides, per-code totals against the
residuals, numbering, the three layouts parsed back, the chart of accounts validated first."""

from __future__ import annotations

import csv
import io
import json
import random
from decimal import Decimal as D
from pathlib import Path

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recon import store
from recon.cli import main
from recon.errors import ConfigError
from recon.report.accounts import dictionary_accounts, load_accounts
from recon.report.vouchers import (GENERIC_COLUMNS, KINGDEE_COLUMNS, U8_COLUMNS, VoucherError, build_vouchers,
                                   code_controls, write_vouchers)

RUN = "R20260201T090000-abcdef12-1"


def new_store(path=":memory:", run_id=RUN, period="2026-01"):
    con = store.connect(str(path))
    con.execute("INSERT INTO run VALUES (?, ?, TIMESTAMP '2026-02-01 09:00:00', 1, '{}', ?)",
                [run_id, period, json.dumps({"period": period})])
    return con


def add_case(con, case_id, code, channel, residual, refs, lines, basis="依据京东2026年1月结算规则V3.2",
             period="2026-01", run_id=RUN):
    """One known case and its correction lines: lines are (account, debit, credit) as text amounts."""
    con.execute("INSERT INTO known_case VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, false)",
                [run_id, case_id, code, channel, period, D(residual), [len(case_id)], refs, f"case {case_id}"])
    for n, (account, debit, credit) in enumerate(lines, start=1):
        con.execute("INSERT INTO correction_line VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [run_id, case_id, code, channel, period, n, account, D(debit), D(credit),
                     f"correct {case_id}", basis])


@pytest.fixture
def month():
    """Three JD fee accruals, one Douyin fee accrual, two subsidy cases of opposite direction, one
    case with no correction (refund in review: no money moved)."""
    con = new_store()
    fee = lambda amt: [("platform_fee_expense", amt, "0"), ("accounts_receivable_platform", "0", amt)]  # noqa: E731
    add_case(con, "K3", "FEE_PERIOD_MISMATCH", "jd", "-7.50", ["jd.xlsx:12@对账单"], fee("7.50"))
    add_case(con, "K1", "FEE_PERIOD_MISMATCH", "jd", "-5.00", ["jd.xlsx:10@对账单", "jd.xlsx:9@对账单"], fee("5.00"))
    add_case(con, "K2", "FEE_PERIOD_MISMATCH", "jd", "-2.25", ["jd.xlsx:11@对账单"], fee("2.25"))
    add_case(con, "K4", "FEE_PERIOD_MISMATCH", "douyin", "-3.00", ["dy.csv:4"], fee("3.00"),
             basis="依据抖店结算规则")
    add_case(con, "S1", "SUBSIDY_CLASSIFICATION", "tmall", "10.00", ["tm.csv:7", "erp.csv:3"],
             [("sales_discount", "10.00", "0"), ("subsidy_income", "0", "10.00")])
    add_case(con, "S2", "SUBSIDY_CLASSIFICATION", "tmall", "-4.00", ["tm.csv:8"],
             [("subsidy_income", "4.00", "0"), ("sales_discount", "0", "4.00")])
    add_case(con, "R1", "REFUND_IN_REVIEW", "jd", "-99.00", ["jd.xlsx:20@对账单"], [])
    yield con
    con.close()


def test_one_balanced_voucher_per_period_code_channel(month):
    vs = build_vouchers(month, RUN, load_accounts())
    assert [(v.number, v.code, v.channel) for v in vs] == [
        ("RC202601-0001", "FEE_PERIOD_MISMATCH", "douyin"),
        ("RC202601-0002", "FEE_PERIOD_MISMATCH", "jd"),
        ("RC202601-0003", "SUBSIDY_CLASSIFICATION", "tmall"),
    ]
    for v in vs:
        assert v.date.isoformat() == "2026-01-31" and v.word == "记"
        assert sum(ln.debit for ln in v.lines) == sum(ln.credit for ln in v.lines) == v.total
        for ln in v.lines:
            assert (ln.debit > 0) != (ln.credit > 0), "exactly one non-zero amount per line"
            assert min(ln.debit, ln.credit) == 0
    jd = vs[1]
    # three cases summed by account: one debit line, one credit line
    assert [(ln.account_code, ln.debit, ln.credit) for ln in jd.lines] == [
        ("6601.01", D("14.75"), D("0")), ("1122.01", D("0"), D("14.75"))]
    assert jd.cases == 3 and jd.source_count == 4
    assert jd.source_refs == ("jd.xlsx:9@对账单", "jd.xlsx:10@对账单", "jd.xlsx:11@对账单", "jd.xlsx:12@对账单")
    # opposite directions between one pair of accounts are posted net: one debit, one credit, never the
    # same account on both sides of one voucher; the explanation keeps the gross of each direction
    sub = vs[2]
    assert [(ln.account, ln.debit, ln.credit) for ln in sub.lines] == [
        ("sales_discount", D("6.00"), D("0")), ("subsidy_income", D("0"), D("6.00"))]
    assert sub.total == D("6.00") and sub.cases == 2
    assert "按科目轧差：1 个差异 借 6001.02" in sub.explanation and "共 10.00，1 个差异反向（冲回）共 4.00，净额 6.00" \
        in sub.explanation


def test_explanation_cites_code_basis_and_source_lines(month):
    jd = build_vouchers(month, RUN, load_accounts())[1]
    assert "FEE_PERIOD_MISMATCH" in jd.explanation
    assert "依据：依据京东2026年1月结算规则V3.2" in jd.explanation
    assert "jd.xlsx:9@对账单、jd.xlsx:10@对账单" in jd.explanation
    assert "调整金额 14.75" in jd.explanation


def test_voucher_totals_per_code_equal_the_known_residuals(month):
    vs = build_vouchers(month, RUN, load_accounts())
    # independently of recon: Σ|residual| per code over cases that carry a correction
    expected = {}
    for code, residual, has_lines in month.execute(
            "SELECT code, residual, EXISTS (SELECT 1 FROM correction_line c WHERE c.case_id = k.case_id) "
            "FROM known_case k").fetchall():
        if has_lines:
            expected[code] = expected.get(code, D("0")) + abs(residual)
    totals = {}
    for v in vs:
        totals[v.code] = totals.get(v.code, D("0")) + v.total
    assert expected == {"FEE_PERIOD_MISMATCH": D("17.75"), "SUBSIDY_CLASSIFICATION": D("14.00")}
    # the subsidy voucher is netted (10.00 one way, 4.00 back): it posts the net of its residuals
    assert totals == {"FEE_PERIOD_MISMATCH": D("17.75"), "SUBSIDY_CLASSIFICATION": D("6.00")}
    controls = {c["code"]: c for c in code_controls(month, RUN, vs)}
    assert controls["REFUND_IN_REVIEW"]["vouchers"] == 0 and controls["REFUND_IN_REVIEW"]["corrected_cases"] == 0
    assert controls["SUBSIDY_CLASSIFICATION"]["residual_abs_corrected"] == D("14.00")
    assert controls["SUBSIDY_CLASSIFICATION"]["due"] == D("6.00") and controls["SUBSIDY_CLASSIFICATION"]["netted"]
    assert all(c["agrees"] for c in controls.values())


def test_a_correction_that_disagrees_with_its_residual_is_reported(month):
    add_case(month, "K9", "FEE_PERIOD_MISMATCH", "pdd", "-1.00", ["pdd.csv:2"],
             [("platform_fee_expense", "1.10", "0"), ("accounts_receivable_platform", "0", "1.10")])
    controls = {c["code"]: c for c in code_controls(month, RUN, build_vouchers(month, RUN, load_accounts()))}
    assert not controls["FEE_PERIOD_MISMATCH"]["agrees"]
    assert controls["FEE_PERIOD_MISMATCH"]["voucher_total"] - controls["FEE_PERIOD_MISMATCH"]["due"] == D("0.10")


def test_a_netted_correction_that_disagrees_with_its_residual_is_reported(month):
    """The netted control reads each case's |residual| and only the direction of its correction: a
    reversal posted at the wrong amount is caught though the voucher balances."""
    add_case(month, "S3", "SUBSIDY_CLASSIFICATION", "tmall", "-1.00", ["tm.csv:9"],
             [("subsidy_income", "1.50", "0"), ("sales_discount", "0", "1.50")])
    vs = build_vouchers(month, RUN, load_accounts())
    controls = {c["code"]: c for c in code_controls(month, RUN, vs)}
    sub = controls["SUBSIDY_CLASSIFICATION"]
    assert (sub["voucher_total"], sub["due"], sub["agrees"]) == (D("4.50"), D("5.00"), False)


def test_a_netted_voucher_whose_cases_cancel_posts_nothing():
    con = new_store()
    add_case(con, "A1", "FEE_PERIOD_MISMATCH", "jd", "-5.00", ["jd.xlsx:2"],
             [("platform_fee_expense", "5.00", "0"), ("accrued_platform_fees", "0", "5.00")])
    add_case(con, "A2", "FEE_PERIOD_MISMATCH", "jd", "5.00", ["jd.xlsx:3"],
             [("accrued_platform_fees", "5.00", "0"), ("platform_fee_expense", "0", "5.00")])
    add_case(con, "B1", "FEE_PERIOD_MISMATCH", "pdd", "-2.00", ["pdd.csv:2"],
             [("platform_fee_expense", "2.00", "0"), ("accrued_platform_fees", "0", "2.00")])
    vs = build_vouchers(con, RUN, load_accounts())
    assert [(v.number, v.channel, v.total) for v in vs] == [("RC202601-0001", "pdd", D("2.00"))]
    (c,) = code_controls(con, RUN, vs)
    assert (c["due"], c["voucher_total"], c["agrees"]) == (D("2.00"), D("2.00"), True)


def test_fee_accrual_and_its_reversal_never_debit_and_credit_one_account():
    """FEE_PERIOD_MISMATCH: fees charged (accrued) and a commission returned (reversed) in one channel
    post one net accrual, 借 销售费用-平台服务费 贷 其他应付款-应付平台费用, as an accountant books it."""
    con = new_store()
    for i, amt in enumerate(["-10.35", "-4.45", "-0.90"]):
        add_case(con, f"F{i}", "FEE_PERIOD_MISMATCH", "jd", amt, [f"jd.xlsx:{i + 2}@对账单"],
                 [("platform_fee_expense", amt[1:], "0"), ("accrued_platform_fees", "0", amt[1:])])
    add_case(con, "R0", "FEE_PERIOD_MISMATCH", "jd", "4.45", ["jd.xlsx:9@对账单"],
             [("platform_fee_expense", "-4.45", "0"), ("accrued_platform_fees", "0", "-4.45")])
    (v,) = build_vouchers(con, RUN, load_accounts())
    assert [(ln.account_code, ln.account_name, ln.debit, ln.credit) for ln in v.lines] == [
        ("6601.01", "销售费用-平台服务费", D("11.25"), D("0.00")),
        ("2241.02", "其他应付款-应付平台费用", D("0.00"), D("11.25"))]
    assert len({ln.account for ln in v.lines}) == len(v.lines), "each account once"
    assert "3 个差异 借 6601.01 销售费用-平台服务费 贷 2241.02 其他应付款-应付平台费用 共 15.70" in v.explanation
    assert "1 个差异反向（冲回）共 4.45，净额 11.25 入账" in v.explanation
    (c,) = code_controls(con, RUN, [v])
    assert (c["residual_abs_corrected"], c["due"], c["voucher_total"], c["agrees"]) == (
        D("20.15"), D("11.25"), D("11.25"), True)


def test_negative_debit_is_posted_as_a_credit():
    con = new_store()
    add_case(con, "N1", "ROUNDING_ALLOCATION", "jd", "-0.02", ["jd.xlsx:5"],
             [("rounding_difference", "-0.02", "0"), ("accounts_receivable_platform", "0", "-0.02")])
    (v,) = build_vouchers(con, RUN, load_accounts())
    assert [(ln.account, ln.debit, ln.credit) for ln in v.lines] == [
        ("accounts_receivable_platform", D("0.02"), D("0")), ("rounding_difference", D("0"), D("0.02"))]


def test_unknown_account_is_an_error_naming_it_and_nothing_is_written(month, tmp_path):
    add_case(month, "X1", "PAYMENT_FEE_NOT_IN_COST", "wechatpay", "-0.60", ["wx.csv:9"],
             [("crossborder_fee_expense", "0.60", "0"), ("suspense", "0", "0.60")])
    with pytest.raises(ConfigError) as exc:
        write_vouchers(month, RUN, tmp_path / "out", "kingdee")
    msg = str(exc.value)
    assert "no account 'crossborder_fee_expense'" in msg and "no account 'suspense'" in msg
    assert "PAYMENT_FEE_NOT_IN_COST" in msg and "accounts.yaml" in msg
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize("lines, words", [
    ([("platform_fee_expense", "5.00", "0"), ("accounts_receivable_platform", "0", "4.99")], "do not balance"),
    ([("platform_fee_expense", "5.00", "5.00")], "both a debit and a credit"),
])
def test_a_broken_correction_is_an_internal_error_before_writing(tmp_path, lines, words):
    con = new_store()
    add_case(con, "B1", "FEE_PERIOD_MISMATCH", "jd", "-5.00", ["jd.xlsx:3"], lines)
    with pytest.raises(VoucherError, match=words) as exc:
        write_vouchers(con, RUN, tmp_path, "u8")
    assert exc.value.exit_code == 3
    assert list(tmp_path.iterdir()) == []


def test_long_source_lists_are_cut_in_the_explanation_and_kept_whole_in_voucher_sources(tmp_path):
    con = new_store()
    refs = [f"jd.xlsx:{n}@对账单" for n in range(2, 302)]
    add_case(con, "L1", "FEE_PERIOD_MISMATCH", "jd", "-300.00", refs,
             [("platform_fee_expense", "300.00", "0"), ("accounts_receivable_platform", "0", "300.00")])
    (v,) = build_vouchers(con, RUN, load_accounts())
    assert "等共 300 行（完整列表见 voucher_sources.csv）" in v.explanation
    assert v.refs_cell.endswith("… 共 300 行，见 voucher_sources.csv") and len(v.source_refs) == 50
    write_vouchers(con, RUN, tmp_path)
    rows = list(csv.DictReader(io.StringIO((tmp_path / "voucher_sources.csv").read_bytes()[3:].decode())))
    assert [r["source_ref"] for r in rows] == refs, "every source line, in line order"
    assert {r["voucher_no"] for r in rows} == {"RC202601-0001"}


def read_generic(path: Path):
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    text = data[3:].decode("utf-8")
    assert "\n" not in text.replace("\r\n", "")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_generic_layout_and_byte_identical_reexport(month, tmp_path):
    paths = write_vouchers(month, RUN, tmp_path / "a")
    assert [p.name for p in paths] == ["vouchers.csv", "voucher_sources.csv", "decision_sources.csv"]
    rows = read_generic(tmp_path / "a" / "vouchers.csv")
    assert tuple(rows[0].keys()) == GENERIC_COLUMNS
    assert rows[0]["voucher_no"] == "RC202601-0001" and rows[0]["date"] == "2026-01-31"
    assert rows[0]["debit"] == "3.00" and rows[0]["credit"] == "0.00"
    write_vouchers(month, RUN, tmp_path / "b")
    for name in ("vouchers.csv", "voucher_sources.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_same_inputs_in_another_order_give_the_same_bytes(month, tmp_path):
    """A fresh store holding the same rows inserted in shuffled order writes identical files."""
    write_vouchers(month, RUN, tmp_path / "a")
    cases = month.execute("SELECT * FROM known_case").fetchall()
    lines = month.execute("SELECT * FROM correction_line").fetchall()
    random.Random(7).shuffle(cases)
    random.Random(8).shuffle(lines)
    other = new_store()
    for row in cases:
        other.execute("INSERT INTO known_case VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", list(row))
    for row in lines:
        other.execute("INSERT INTO correction_line VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", list(row))
    write_vouchers(other, RUN, tmp_path / "b")
    for name in ("vouchers.csv", "voucher_sources.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def _check_contiguous_and_balanced(rows, key, debit, credit):
    """Group parsed rows by voucher key: each voucher's lines are consecutive and balance."""
    seen, order = {}, []
    for i, row in enumerate(rows):
        k = key(row)
        if k in seen:
            assert seen[k][-1] == i - 1, f"voucher {k} lines are not contiguous"
        else:
            order.append(k)
        seen.setdefault(k, []).append(i)
        d, c = D(str(debit(row))), D(str(credit(row)))
        assert (d != 0) != (c != 0), f"line {i} of {k} needs exactly one non-zero amount"
    for k, idx in seen.items():
        assert sum(D(str(debit(rows[i]))) for i in idx) == sum(D(str(credit(rows[i]))) for i in idx), k
    return order


def test_kingdee_layout_parses_back(month, tmp_path):
    paths = write_vouchers(month, RUN, tmp_path, "kingdee")
    assert paths[-1].name == "vouchers_kingdee.xlsx"
    ws = openpyxl.load_workbook(paths[-1]).active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0] == KINGDEE_COLUMNS
    data = [dict(zip(KINGDEE_COLUMNS, r)) for r in rows[1:]]
    order = _check_contiguous_and_balanced(data, lambda r: r["凭证号"], lambda r: r["借方金额"],
                                           lambda r: r["贷方金额"])
    assert order == [1, 2, 3]
    first = data[0]
    assert first["日期"].date().isoformat() == "2026-01-31" and first["凭证字"] == "记"
    assert first["科目代码"] == "6601.01" and first["币别"] == "RMB" and first["制单人"] == "recon对账"
    assert isinstance(first["借方金额"], (int, float)) and first["借方金额"] == 3.0
    # recon's voucher number leads the 摘要 and 附单据数 counts the source lines: back to voucher_sources.csv
    sources = list(csv.DictReader(io.StringIO((tmp_path / "voucher_sources.csv").read_text(encoding="utf-8-sig"),
                                              newline="")))
    for r in data:
        number = r["摘要"].split(" ", 1)[0]
        assert number == f"RC202601-{r['凭证号']:04d}"
        assert r["附单据数"] == sum(1 for s in sources if s["voucher_no"] == number) > 0
        assert len(r["摘要"].encode("gb18030")) <= 60


def test_u8_layout_parses_back(month, tmp_path):
    paths = write_vouchers(month, RUN, tmp_path, "u8")
    assert paths[-1].name == "vouchers_u8.csv"
    raw = paths[-1].read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf") and b"\r\n\r\n" not in raw, "ANSI text, no blank lines"
    rows = list(csv.reader(io.StringIO(raw.decode("gb18030"), newline="")))
    assert tuple(rows[0]) == U8_COLUMNS
    data = [dict(zip(U8_COLUMNS, r)) for r in rows[1:]]
    order = _check_contiguous_and_balanced(data, lambda r: (r["制单日期"], r["凭证类别字"], r["业务号"]),
                                           lambda r: r["金额借方"], lambda r: r["金额贷方"])
    assert [k[2] for k in order] == ["RC202601-0001", "RC202601-0002", "RC202601-0003"]
    for r in data:
        assert len(r["摘要"].encode("gb18030")) <= 60 and len(r["科目编码"]) <= 15
        assert int(r["附单据数"]) > 0
        assert r["金额借方"].count(".") == 1 and len(r["金额借方"].split(".")[1]) == 2


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["FEE_PERIOD_MISMATCH", "FX_RATE_DATE", "ROUNDING_ALLOCATION"]),
                          st.sampled_from(["jd", "tmall", None]),
                          st.integers(min_value=-500_00, max_value=500_00).filter(lambda c: c != 0)),
                min_size=1, max_size=12))
def test_property_every_voucher_balances_and_totals_follow_residuals(cases):
    con = new_store()
    for i, (code, channel, cents) in enumerate(cases):
        amt = D(cents).scaleb(-2)
        # a correction moves |residual|; its direction follows the residual's sign
        pair = ("fx_gain_loss", "accounts_receivable_platform") if cents > 0 else (
            "accounts_receivable_platform", "fx_gain_loss")
        add_case(con, f"C{i:03d}", code, channel, str(amt), [f"f.csv:{i + 2}"],
                 [(pair[0], str(abs(amt)), "0"), (pair[1], "0", str(abs(amt)))])
    vs = build_vouchers(con, RUN, load_accounts())
    # one pair of accounts per voucher: posted net, so a voucher is |Σ residual| of its cases, and one
    # whose cases cancel is no voucher
    net: dict = {}
    for code, channel, cents in cases:
        net[(code, channel)] = net.get((code, channel), 0) + cents
    assert {(v.code, v.channel): v.total for v in vs} == {
        k: D(abs(c)).scaleb(-2) for k, c in net.items() if c}
    for v in vs:
        assert sum(ln.debit for ln in v.lines) == sum(ln.credit for ln in v.lines)
        assert len({ln.account for ln in v.lines}) == len(v.lines) == 2
    assert all(c["agrees"] for c in code_controls(con, RUN, vs))
    assert [v.number for v in vs] == [f"RC202601-{n:04d}" for n in range(1, len(vs) + 1)]
    con.close()


# ---------------------------------------------------------------- chart of accounts

def test_shipped_chart_loads():
    chart = load_accounts()
    assert chart.word == "记" and chart.number_prefix == "RC"
    assert chart.accounts["platform_fee_expense"].code == "6601.01"


def test_chart_problems_are_reported_together_with_lines(tmp_path):
    bad = tmp_path / "accounts.yaml"
    bad.write_text(
        "version: 1\n"
        "voucher:\n"
        "  word: 记\n"
        "  prefix: X\n"
        "accounts:\n"
        "  fee_expense: {code: 6601.10, name: 销售费用}\n"
        "  Bad-Key: {code: \"1\", name: x}\n"
        "  ar: {code: \"1122\", nmae: 应收账款}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_accounts(bad)
    problems = exc.value.problems
    assert any(p.startswith(f"{bad}:4: voucher.prefix: unknown key") for p in problems)
    assert any(p.startswith(f"{bad}:6: accounts.fee_expense.code: code must be a quoted text") for p in problems)
    assert any(f"{bad}:7:" in p and "snake_case" in p for p in problems)
    assert any(f"{bad}:8:" in p and "unknown key 'nmae'" in p for p in problems)
    assert any(f"{bad}:8:" in p and "name is required" in p for p in problems)


def test_dictionary_entries_are_checked_against_the_chart():
    class Line:
        def __init__(self, account):
            self.account = account

    class Entry:
        def __init__(self, code, accounts):
            self.code = code
            self.correction = type("C", (), {"lines": [Line(a) for a in accounts]})()

    chart = load_accounts()
    used = dictionary_accounts([Entry("FEE_PERIOD_MISMATCH", ["platform_fee_expense", "accounts_receivable_platform"]),
                                Entry("NEW_CODE", ["mystery_account"])])
    assert chart.missing(used) == [m for m in chart.missing(used) if "mystery_account" in m]
    assert len(chart.missing(used)) == 1 and "dictionary entry NEW_CODE" in chart.missing(used)[0]


# ---------------------------------------------------------------- CLI

def run_cli(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


def test_cli_runs_and_vouchers(tmp_path, capsys):
    db = tmp_path / "s.duckdb"
    con = new_store(db)
    add_case(con, "K1", "FEE_PERIOD_MISMATCH", "jd", "-5.00", ["jd.xlsx:10"],
             [("platform_fee_expense", "5.00", "0"), ("accounts_receivable_platform", "0", "5.00")])
    con.close()
    code, out, err = run_cli(["runs", "--db", str(db), "--json"], capsys)
    assert code == 0, err
    (r,) = json.loads(out)
    assert (r["run_id"], r["period"], r["exit_code"], r["inputs"]) == (RUN, "2026-01", 1, 0)
    assert r["counts"] == {"matched": 0, "known": 0, "unknown": 0, "review": 0}
    code, out, err = run_cli(["vouchers", "--db", str(db), "--out", str(tmp_path / "v"),
                              "--voucher-format", "u8"], capsys)
    assert code == 0, err
    assert "1 voucher(s), 2 lines" in out and "FEE_PERIOD_MISMATCH" in out
    assert sorted(p.name for p in (tmp_path / "v").iterdir()) == [
        "decision_sources.csv", "voucher_sources.csv", "vouchers.csv", "vouchers_u8.csv"]
    code, out, err = run_cli(["vouchers", "--db", str(db), "--out", str(tmp_path / "v"), "--run", "R-nope"], capsys)
    assert code == 2 and "no run R-nope" in err and "recon runs" in err


def test_every_account_the_shipped_dictionary_uses_is_in_the_shipped_chart():
    from recon.dictionary import load_dictionaries

    used = dictionary_accounts(load_dictionaries(None).entries)
    assert used, "the shipped dictionary has corrections"
    assert load_accounts().missing(used) == []


@pytest.fixture(scope="module")
def sample_store(tmp_path_factory):
    """A real run of the shipped sample month (its known cases come from the real classification)."""
    from recon import api

    base = tmp_path_factory.mktemp("sample")
    db = str(base / "s.duckdb")
    api.run(api.RunConfig(inputs=[Path(__file__).parent.parent / "sample_data"], out=base / "out", db=db))
    con = store.connect(db)
    yield con, con.execute("SELECT run_id FROM run").fetchone()[0], base
    con.close()


def test_sample_month_vouchers_balance_follow_residuals_and_reparse(sample_store):
    con, run_id, base = sample_store
    vs = build_vouchers(con, run_id, load_accounts())
    assert vs, "the sample month has known discrepancies with corrections"
    for v in vs:
        assert sum(ln.debit for ln in v.lines) == sum(ln.credit for ln in v.lines) > 0
    controls = code_controls(con, run_id, vs)
    assert [c["code"] for c in controls if not c["agrees"]] == []
    assert sum(c["voucher_total"] for c in controls) == sum(v.total for v in vs)
    for fmt in ("kingdee", "u8"):
        write_vouchers(con, run_id, base / "a", fmt)
    write_vouchers(con, run_id, base / "b", "u8")
    for name in ("vouchers.csv", "voucher_sources.csv", "vouchers_u8.csv"):
        assert (base / "a" / name).read_bytes() == (base / "b" / name).read_bytes(), name
    rows = list(csv.reader(io.StringIO((base / "a" / "vouchers_u8.csv").read_bytes().decode("gb18030"), newline="")))
    data = [dict(zip(U8_COLUMNS, r)) for r in rows[1:]]
    order = _check_contiguous_and_balanced(data, lambda r: (r["制单日期"], r["凭证类别字"], r["业务号"]),
                                           lambda r: r["金额借方"], lambda r: r["金额贷方"])
    assert len(order) == len(vs)
    ws = openpyxl.load_workbook(base / "a" / "vouchers_kingdee.xlsx").active
    kd = [dict(zip(KINGDEE_COLUMNS, r)) for r in list(ws.iter_rows(values_only=True))[1:]]
    assert len(_check_contiguous_and_balanced(kd, lambda r: r["凭证号"], lambda r: r["借方金额"],
                                              lambda r: r["贷方金额"])) == len(vs)
    sources = read_generic(base / "a" / "voucher_sources.csv")
    assert len(sources) == sum(v.source_count for v in vs)
