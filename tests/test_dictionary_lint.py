"""Dictionary loading and `recon dict lint`: every problem at once, each with file:line.

The acceptance list of the issue: an unknown column, a bad expression, and every way an expression
might try to read a file or run a statement is refused with the file and line of the key.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from recon.cli import main
from recon.dictionary import load_dictionaries
from recon.errors import ConfigError

ENTRY = """version: 1
entries:
  - code: TEST_CODE
    name_zh: 测试
    name_en: Test
    scenario: s
    impact: i
    detect: {detect}
    correction:
      explanation: "{{code}} {{amount}}"
      basis: 依据测试规则
      lines:
        - {{account: platform_fee_expense, side: debit, amount: -amount}}
        - {{account: accrued_platform_fees, side: credit, amount: -amount}}
"""
DETECT_LINE = 8


def write(tmp_path: Path, text: str, name: str = "d.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load_dictionaries([path])
    return err.value.problems


def test_the_shipped_dictionary_has_the_starter_codes_with_names_basis_and_two_kinds_of_example():
    d = load_dictionaries()
    codes = {"FEE_PERIOD_MISMATCH", "SUBSIDY_CLASSIFICATION", "COUPON_FACE_VS_ACTUAL", "REFUND_IN_REVIEW",
             "REFUND_PERIOD_TIMING", "COMMISSION_NOT_REVERSED", "SHIPPING_INSURANCE_NOT_REVERSED", "FX_RATE_DATE",
             "ROUNDING_ALLOCATION", "SETTLEMENT_CUTOFF", "DUPLICATE_ERP_ENTRY", "OFFLINE_PAYMENT_NOT_IN_AR",
             "PAYMENT_FEE_NOT_IN_COST", "FEE_RULE_DEVIATION", "EXCEL_MANGLED_ID"}
    assert codes <= set(d.by_code)
    for e in d.entries:
        assert e.name_zh and e.name_en and e.scenario and e.impact and e.correction.basis, e.code
        assert {ex.fires for ex in e.examples} == {True, False}, f"{e.code}: one must-fire and one near miss"
        for line in e.correction.lines:
            assert line.account.islower()
    assert d.entry("EXCEL_MANGLED_ID").blocks_close
    # more specific entries outrank the general fee accrual
    assert d.entry("FEE_RULE_DEVIATION").priority > d.entry("FEE_PERIOD_MISMATCH").priority


@pytest.mark.parametrize("detect, says", [
    ("amout > 0", "unknown column 'amout'"),
    ("amount >", "cannot parse"),
    ("amount + 1", "must be a true/false test"),
    ("read_csv('/etc/passwd') is not null", "cannot read files"),
    ("read_text('/etc/passwd') = 'x'", "cannot read files"),
    ("glob('/etc/*') is not null", "cannot read files"),
    ("getenv('HOME') = 'x'", "cannot read the environment"),
    ("query('SELECT 1') is not null", "function query() is not allowed"),
    ("ATTACH '/tmp/x.db'", "is not part of the rule language"),
    ("COPY cases TO '/tmp/x.csv'", "is not part of the rule language"),
    ("PRAGMA version", "is not part of the rule language"),
    ("amount > 0; SELECT 1", "';' is not allowed"),
    ("amount > 0 -- sneaky", "comments are not allowed"),
    ("amount > 0 /* sneaky */", "comments are not allowed"),
    ("amount > (SELECT 1)", "subqueries"),
    ("\\\"read_csv\\\"('/etc/passwd') is not null", "is not allowed"),
])
def test_lint_refuses_with_file_and_line(tmp_path, detect, says):
    path = write(tmp_path, ENTRY.format(detect=f'"{detect}"'))
    problems = problems_of(path)
    assert any(p.startswith(f"{path}:{DETECT_LINE}: entries.0.detect") and says in p for p in problems), problems


def test_every_problem_of_every_entry_is_reported_at_once(tmp_path):
    text = ENTRY.format(detect='"amout > 0"') + """
  - code: bad code
    name_zh: x
  - code: OTHER
    name_zh: 其他
    name_en: Other
    scenario: s
    impact: i
    colour: red
    detect: "glob('x') is not null"
    correction:
      explanation: "{nonsense}"
      basis: b
      lines:
        - {account: Not-An-Account, side: left, amount: "amount"}
"""
    path = write(tmp_path, text)
    problems = "\n".join(problems_of(path))
    for needle in ("unknown column 'amout'", "UPPER_SNAKE_CASE", "unknown key 'colour'", "cannot read files",
                   "unknown placeholder {nonsense}", "snake_case key", "side is debit or credit",
                   "at least one debit and one credit"):
        assert needle in problems, needle
    assert f"{path}:8:" in problems and f"{path}:24:" in problems  # each with its own line


def test_examples_are_checked_too(tmp_path):
    text = ENTRY.format(detect='"amount < 0"') + """    examples:
      - name: x
        fires: maybe
        platform:
          - {id: p1, chanel: jd, amount: "1.00"}
        expect: {p9: known, p1: done}
"""
    problems = "\n".join(problems_of(write(tmp_path, text)))
    assert "fires: true" in problems and "unknown key 'chanel'" in problems
    assert "no row with id 'p9'" in problems and "'done'" in problems


def test_a_later_file_overrides_an_entry_by_code(tmp_path):
    base = load_dictionaries()
    override = ENTRY.replace("TEST_CODE", "ROUNDING_ALLOCATION").format(detect='"abs(diff) <= 0.05"')
    d = load_dictionaries([base_path(), write(tmp_path, override)])
    assert len(d.entries) == len(base.entries)
    assert d.entry("ROUNDING_ALLOCATION").detect.text == "abs(diff) <= 0.05"
    assert [name for name, _ in d.sources] == ["default.yaml", "d.yaml"]


def base_path() -> Path:
    from recon.dictionary import default_path
    return default_path()


def test_cli_lint_ok_and_failing(tmp_path, capsys):
    with pytest.raises(SystemExit) as ok:
        main(["dict", "lint"])
    assert ok.value.code == 0 and "entries valid" in capsys.readouterr().out
    bad = write(tmp_path, ENTRY.format(detect='"getenv(\'HOME\') = \'x\'"'))
    with pytest.raises(SystemExit) as err:
        main(["dict", "lint", str(bad)])
    assert err.value.code == 2
    assert f"{bad}:{DETECT_LINE}:" in capsys.readouterr().err
