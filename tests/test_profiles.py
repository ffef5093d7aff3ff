"""The user-facing profile mechanism: a user's YAML teaches recon a layout no built-in knows."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal as D
from pathlib import Path

import pytest

from conftest import FIXTURES, do_import, raw_of, rows, write
from recon.errors import ConfigError
from recon.io.profile import SPEC_KEYS, TOP_KEYS, all_profiles, load_profile

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "profiles" / "generic_ar_example.yaml"
EXAMPLE_CSV = ROOT / "examples" / "profiles" / "generic_ar_example.csv"
DOC = ROOT / "docs" / "profiles.md"


def test_example_profile_loads_a_file_no_builtin_recognises(con, profiles):
    assert do_import(con, EXAMPLE_CSV, profiles).status == "unrecognised"
    rep = do_import(con, EXAMPLE_CSV, all_profiles([EXAMPLE]))
    assert rep.status == "loaded" and rep.formats == ["example.generic_ar"]
    got = rows(con, "erp_line", "source_line, erp_system, account, bill_no, bill_date, line_type, customer, "
                                "currency, amount, order_no, status")
    base = {"erp_system": "example_erp", "account": "示例贸易有限公司", "currency": "CNY"}
    assert got == [
        {**base, "source_line": 5, "bill_no": "YS-2026-0001", "bill_date": dt.date(2026, 1, 5),
         "line_type": "receivable", "customer": "天猫旗舰店", "amount": D("1130.00"),
         "order_no": "4100123456789012345", "status": "未核销"},
        {**base, "source_line": 6, "bill_no": "YS-2026-0001", "bill_date": dt.date(2026, 1, 5),
         "line_type": "receivable", "customer": "天猫旗舰店", "amount": D("226.00"),
         "order_no": "4100123456789012346", "status": "未核销"},
        {**base, "source_line": 7, "bill_no": "YS-2026-0002", "bill_date": dt.date(2026, 1, 6),
         "line_type": "receivable", "customer": "京东POP店", "amount": D("565.00"),
         "order_no": "3553498017448001", "status": "已核销"},
        {**base, "source_line": 8, "bill_no": "YS-2026-0003", "bill_date": dt.date(2026, 1, 8),
         "line_type": "credit_note", "customer": "天猫旗舰店", "amount": D("-113.00"),
         "order_no": "4100123456789012345", "status": "未核销"},
    ]
    assert rep.parts[0].proofs == [{"proof": "合计.amount", "expected": "1808.00", "actual": "1808.00",
                                    "passed": True, "detail": "合计,,,,,,1,808.00"}]
    # 制表人 is footer, the unmapped 行号 column is kept in raw
    assert con.execute("SELECT footer FROM source_part").fetchone()[0][-1] == "制表人:张三"
    assert raw_of(con, "erp_line", "source_line = 6")[0][2] == "2"


def test_example_sign_column_rejects_unknown_direction(con, tmp_path):
    text = EXAMPLE_CSV.read_bytes().decode("utf-8-sig").replace(",贷,113.00,", ",冲,113.00,")
    rep = do_import(con, write(tmp_path, "ar.csv", text), all_profiles([EXAMPLE]))
    assert (rep.parts[0].loaded, rep.parts[0].quarantined) == (3, 1)
    assert con.execute("SELECT source_line, column_name, reason FROM quarantine").fetchall() == [
        (8, "借贷", "unknown direction '冲': expected one of 借, 贷")]


def test_day_first_format_is_not_guessed(con, tmp_path):
    # 13.01.2026 reads only day-first; a value outside the declared format is quarantined, not guessed
    text = EXAMPLE_CSV.read_bytes().decode("utf-8-sig").replace("08.01.2026", "2026-01-08")
    rep = do_import(con, write(tmp_path, "ar.csv", text), all_profiles([EXAMPLE]))
    assert rep.parts[0].quarantined == 1
    assert con.execute("SELECT column_name, reason FROM quarantine").fetchall() == [
        ("凭证日期", "cannot read '2026-01-08': expected a date in the format %d.%m.%Y")]


def test_forced_profile(con, profiles):
    kingdee = next(p for p in profiles if p.name == "kingdee.ar_list")
    fx = next(p for p in profiles if p.name == "fx.daily_mid")
    wrong = do_import(con, FIXTURES / "erp_kingdee_ar.csv", profiles, forced=fx)
    assert wrong.status == "unrecognised" and "fx.daily_mid" in wrong.message
    # a user profile object that is not in the list at all
    rep = do_import(con, EXAMPLE_CSV, profiles, forced=load_profile(EXAMPLE))
    assert rep.formats == ["example.generic_ar"] and rep.parts[0].loaded == 4
    rep = do_import(con, FIXTURES / "erp_kingdee_ar.csv", profiles, forced=kingdee)
    assert rep.formats == ["kingdee.ar_list"] and rep.parts[0].loaded == 9


BAD = """\
version: 1
format: my.bad_ar
family: erp
detect:
  header: [单号, 金额]
fields:
  bill_no: {col: 单号, type: id}
  amount: {colum: 金额, type: money}
  bill_date: {col: 日期, type: datum}
  order_no: {col: 备注, extract: '订单号(\\d+'}
  kunde: {col: 客户}
  customer: {col: 客户, or: {col: 客户名称, tpye: text}}
  rate_like: {col: 汇率}
  exchange_rate: {col: 汇率, divide_by: {col: 单位, type: number}}
  bill_type: {col: 日期, type: date, format: 'dd.mm.yyyy'}
key: [bill_no, line_no]
"""


def test_bad_profile_reports_every_problem_with_file_and_line(tmp_path):
    path = write(tmp_path, "bad.yaml", BAD)
    with pytest.raises(ConfigError) as exc:
        load_profile(path)
    problems = exc.value.problems
    expected = [
        (8, "fields.amount.colum: unknown key 'colum'"),
        (8, "fields.amount: a field spec needs one of const, preamble, col"),
        (9, "fields.bill_date.type: unknown type 'datum'"),
        (10, r"fields.order_no.extract: invalid regular expression '订单号(\\d+'"),
        (11, "fields.kunde: unknown canonical field 'kunde' for family erp"),
        (12, "fields.customer.or.tpye: unknown key 'tpye'"),
        (13, "fields.rate_like: unknown canonical field 'rate_like'"),
        (14, "fields.exchange_rate.divide_by.type: unknown type 'number'"),
        (15, "fields.bill_type.format: format must be a strptime pattern"),
        (16, "key.1: key field 'line_no' is not mapped in fields"),
    ]
    for line, text in expected:
        assert any(p.startswith(f"{path}:{line}: {text}") for p in problems), (line, text, problems)
    assert len(problems) == len(expected)
    assert str(exc.value).count("\n") == len(expected) - 1  # one message, all problems


def test_profile_with_yaml_syntax_error_names_the_line(tmp_path):
    path = write(tmp_path, "broken.yaml", "version: 1\nformat: x\nfields: {a: [\n")
    with pytest.raises(ConfigError) as exc:
        load_profile(path)
    assert re.match(rf"{re.escape(str(path))}:\d+: invalid YAML", exc.value.problems[0])


def test_user_profile_replaces_builtin_of_same_name(tmp_path):
    text = EXAMPLE.read_text(encoding="utf-8").replace("format: example.generic_ar", "format: fx.daily_mid")
    text = text.replace("family: erp", "family: erp  # deliberately shadows a built-in")
    mine = write(tmp_path, "shadow.yaml", text)
    by_name = {p.name: p for p in all_profiles([mine])}
    assert by_name["fx.daily_mid"].source == str(mine) and by_name["fx.daily_mid"].family == "erp"


def test_every_profile_key_is_documented():
    doc = DOC.read_text(encoding="utf-8")
    missing = [k for k in sorted(SPEC_KEYS | TOP_KEYS) if f"`{k}" not in doc]
    assert missing == [], f"document these profile keys in docs/profiles.md: {missing}"
    # the worked example in the guide is the example file, verbatim (minus comments)
    yaml_block = re.search(r"```yaml\n(.*?)```", doc, re.S).group(1)
    example = "\n".join(re.sub(r"\s+#.*$", "", ln).rstrip() for ln in EXAMPLE.read_text(encoding="utf-8").splitlines()
                        if not ln.startswith("#"))
    assert yaml_block.strip() == example.strip()
