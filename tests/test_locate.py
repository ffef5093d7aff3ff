"""The difference locator: exact cents, every combination within bounds, equal to a brute force."""

from __future__ import annotations

import itertools
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

import pytest

from recon.engine.locate import Candidate, search
from recon.money import parse_typed_amount


def cents(text: str) -> int:
    return int(parse_typed_amount(text) * 100)


def cand(i, c, channel="jd", day=1):
    return Candidate(f"f.csv:{i}", "platform", channel, c, day, f"line {i}")


def brute(values, target, k=4):
    return {tuple(sorted(combo)) for r in range(1, k + 1) for combo in itertools.combinations(range(len(values)), r)
            if sum(values[i] for i in combo) == target}


@settings(max_examples=150, deadline=None, derandomize=True)
@given(st.lists(st.integers(min_value=-5000, max_value=5000), min_size=0, max_size=14),
       st.integers(min_value=-8000, max_value=8000))
def test_solution_set_equals_brute_force(values, target):
    cands = [cand(i, v) for i, v in enumerate(values)]
    assert set(search(cands, target).solutions) == brute(values, target)


def test_finds_a_planted_triple_among_many_and_ranks_fewer_lines_first():
    values = [cents(x) for x in ("100.00", "200.00", "128.36", "50.00", "250.00", "0.01", "99.99")]
    cands = [cand(i, v) for i, v in enumerate(values)]
    found = search(cands, cents("428.36"))
    assert (0, 1, 2) in found.solutions
    assert all(sum(values[i] for i in s) == 42836 for s in found.solutions)
    assert [len(s) for s in found.solutions] == sorted(len(s) for s in found.solutions)


def test_same_channel_ranks_before_mixed_channels():
    cands = [cand(0, 100, "jd"), cand(1, 200, "jd"), cand(2, 100, "pdd"), cand(3, 200, "tmall")]
    found = search(cands, 300)
    assert found.solutions[0] == (0, 1)


def test_four_line_search_is_bounded_and_says_so():
    cands = [cand(i, 1000 + i) for i in range(60)]
    found = search(cands, 4006)
    assert any("limited to the 40 candidates" in n for n in found.notes)
    assert all(sum(cands[i].cents for i in s) == 4006 for s in found.solutions)


def test_locate_command_on_a_run(tmp_path, capsys):
    import shutil
    from pathlib import Path

    from test_run import run_cli

    inp = tmp_path / "in"
    inp.mkdir()
    shutil.copy(Path(__file__).parent / "fixtures" / "alipay_trade_detail.csv", inp / "trade.csv")
    db = str(tmp_path / "s.duckdb")
    run_cli(["run", str(inp), "--out", str(tmp_path / "out"), "--db", db], capsys)
    # no ERP: all three platform lines (100.00, 59.90, -20.00) are unknown
    code, out, _ = run_cli(["locate", "39.90", "--db", db], capsys)
    assert code == 0 and "1 combination(s)" in out and "trade.csv:7" in out and "trade.csv:8" in out
    code, out, _ = run_cli(["locate", "1.23", "--db", db], capsys)
    assert code == 1 and "0 combination(s)" in out
    code, _, err = run_cli(["locate", "abc", "--db", db], capsys)
    assert code == 2 and "is not an amount" in err and "Traceback" not in err


@settings(max_examples=100, deadline=None, derandomize=True)
@given(st.lists(st.integers(min_value=1, max_value=3000), min_size=0, max_size=12),
       st.integers(min_value=1, max_value=9000))
def test_possible_at_all_equals_brute_force_for_same_sign_amounts(values, target):
    from recon.engine.locate import possible_at_all

    expected = any(sum(c) == target for r in range(1, len(values) + 1)
                   for c in itertools.combinations(values, r))
    assert possible_at_all(values, target) == expected


def test_possible_at_all_does_not_guess_with_mixed_signs():
    from recon.engine.locate import possible_at_all

    assert possible_at_all([500, -200], 300) is None


def test_residuals_of_unexplained_groups_are_located_on_their_own(tmp_path, capsys):
    """M…002: platform 59.90, ERP 50.00. No line is 9.90, but the group's residual is."""
    from test_run import erp_csv, run_cli
    import shutil
    from pathlib import Path

    inp = tmp_path / "in"
    (inp / "erp").mkdir(parents=True)
    shutil.copy(Path(__file__).parent / "fixtures" / "alipay_trade_detail.csv", inp / "trade.csv")
    (inp / "erp" / "ar.csv").write_bytes(erp_csv(
        "AR002,2026-01-01,标准应收单,支付宝当面付,人民币,1,50.00,5.75,50.00,0,50.00,已审核,,订单号:M20260101002"))
    db = str(tmp_path / "s.duckdb")
    run_cli(["run", str(inp), "--out", str(tmp_path / "out"), "--db", db, "--no-reports"], capsys)
    code, out, _ = run_cli(["locate", "9.90", "--db", db], capsys)
    assert "0 combination(s)" in out
    code, out, _ = run_cli(["locate", "9.90", "--db", db, "--side", "residual"], capsys)
    assert code == 0 and "1 combination(s)" in out and "M20260101002" in out and "group G" in out


@pytest.mark.parametrize("typed, value", [
    ("-137.06", "-137.06"), ("¥12,500.00", "12500.00"), ("12500", "12500.0"), ("１２５．５", "125.5"),
    ("(12.30)", "-12.30"), ("（12.30）", "-12.30"), ("−5.10", "-5.10"), ("+3", "3.0"), ("12 500,00元", None),
    ("1,2345.00", None), ("12.345", None), ("abc", None), ("", None), ("-(1.00)", None), ("NaN", None),
    ("1e3", None), ("RMB 1,000.50", "1000.50"),
])
def test_amounts_are_read_as_people_type_them(typed, value):
    from recon.money import parse_typed_amount

    if value is None:
        with pytest.raises(ValueError, match="is not an amount"):
            parse_typed_amount(typed)
    else:
        assert parse_typed_amount(typed) == Decimal(value)


def test_locate_takes_a_negative_and_a_yen_amount_without_double_dash(tmp_path, capsys):
    import shutil
    from pathlib import Path

    from test_run import run_cli

    inp = tmp_path / "in"
    inp.mkdir()
    shutil.copy(Path(__file__).parent / "fixtures" / "alipay_trade_detail.csv", inp / "trade.csv")
    db = str(tmp_path / "s.duckdb")
    run_cli(["run", str(inp), "--out", str(tmp_path / "out"), "--db", db, "--no-reports"], capsys)
    code, out, err = run_cli(["locate", "-20.00", "--db", db], capsys)  # the refund line alone
    assert code == 0 and "sum to -20.00" in out and "trade.csv:" in out, err
    code, out, _ = run_cli(["locate", "¥139.90", "--db", db], capsys)  # 100.00 + 59.90 - 20.00
    assert code == 0 and "sum to 139.90" in out
    code, out, _ = run_cli(["locate", "（２０．００）", "--db", db], capsys)
    assert code == 0 and "sum to -20.00" in out
