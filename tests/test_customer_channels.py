"""ERP customer -> channel (rules/channels.yaml): normalised names, contains/regex items, unmapped warnings."""

from __future__ import annotations

import json
import shutil

import duckdb
import pytest

from recon.engine import customers
from recon.engine.steps import Runner
from recon.errors import ConfigError
from recon.rules import load_channels
from test_run import FIXTURES, erp_csv, run_cli

CHANNELS = """version: 1
channels:
  tmall:
    erp_customers: [天猫旗舰店, 杭州某某服饰有限公司, "Acme Trading Co., Ltd."]
  jd:
    erp_customers: ["京东(自营)", {contains: 京东POP}]
  pdd:
    erp_customers: [{regex: "^拼多多-店铺[a-z]$"}]
  douyin:
    erp_customers: [{contains: 抖音}]
  kuaishou:
    erp_customers: [{contains: 小店}]
"""


def _map(tmp_path, names, text=CHANNELS) -> dict:
    """customer -> (channel, candidates) for ``names`` as ERP customers, through the run's own steps."""
    path = tmp_path / "channels.yaml"
    path.write_text(text, encoding="utf-8")
    rows = [row for ch in load_channels(path) for row in ch.customer_rows()]
    con = duckdb.connect()
    con.execute("CREATE TEMP TABLE ledger_line (source VARCHAR, channel VARCHAR, account VARCHAR)")
    con.executemany("INSERT INTO ledger_line VALUES ('erp', NULL, ?)", [[n] for n in names])
    r = Runner(con)
    r.run(customers.steps(r.dialect, rows, "TRUE", {}))
    got = {c: (ch, cands) for c, ch, cands in con.execute("SELECT * FROM customer_channel").fetchall()}
    return {n: got.get(n, (None, None)) for n in names}


@pytest.mark.parametrize("name, channel", [
    ("天猫旗舰店", "tmall"),
    ("天猫 旗舰店", "tmall"),                 # a space typed in the middle
    ("天猫\u3000旗舰店", "tmall"),            # a full-width (ideographic) space
    (" 天猫旗舰店\u00a0", "tmall"),           # padding, a no-break space
    ("杭州某某服饰", "tmall"),                # the YAML's 有限公司 is a suffix
    ("杭州某某服饰有限责任公司", "tmall"),
    ("ACME TRADING CO.,LTD", "tmall"),         # case, the suffix written without spaces or the last dot
    ("Ａｃｍｅ Ｔｒａｄｉｎｇ", "tmall"),        # full-width letters (NFKC)
    ("京东（自营）", "jd"),                    # full-width brackets
    ("京东【自营】", "jd"),
    ("京东 ( 自营 )", "jd"),
    ("京东POP店", "jd"),                       # contains
    ("北京京东pop旗舰店有限公司", "jd"),       # contains, after lower-casing
    ("拼多多 - 店铺A", "pdd"),                 # regex on the normalised name
    ("拼多多－店铺Ｂ", "pdd"),                 # full-width hyphen and letter
    ("拼多多 - 店铺AB", None),                 # the regex is anchored
    ("天猫国际", None),                        # no exact name, no pattern
])
def test_realistic_erp_names_map_to_their_channel(tmp_path, name, channel):
    assert _map(tmp_path, [name])[name][0] == channel


def test_exact_name_wins_over_a_pattern_and_a_tie_is_ambiguous(tmp_path):
    got = _map(tmp_path, ["抖音小店", "京东POP小店"])
    # 抖音小店 fits douyin (contains 抖音) and kuaishou (contains 小店) equally: mapped to neither
    assert got["抖音小店"] == (None, "douyin, kuaishou")
    text = CHANNELS.replace("[{contains: 抖音}]", "[抖音小店, {contains: 抖音}]")
    assert _map(tmp_path, ["抖音小店"], text)["抖音小店"][0] == "douyin"  # the exact name wins


def test_patterns_are_bound_not_pasted(tmp_path):
    text = CHANNELS.replace("{contains: 抖音}", "{contains: \"x' OR 1=1 --\"}")
    got = _map(tmp_path, ["x' OR 1=1 --店", "天猫国际"], text)
    assert got["x' OR 1=1 --店"][0] == "douyin" and got["天猫国际"] == (None, None)


def test_bad_items_and_regexes_are_config_errors_with_their_line(tmp_path):
    path = tmp_path / "channels.yaml"
    path.write_text("""version: 1
channels:
  tmall:
    erp_customers:
      - 天猫
      - {regex: "(?=天猫)"}
      - {contains: ""}
      - {like: "%天猫%"}
  jd:
    erp_customers: 京东
""", encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_channels(path)
    text = "\n".join(exc.value.problems)
    assert "channels.yaml:6: channels.tmall.erp_customers.1.regex: not a regular expression" in text
    assert "RE2" in text
    assert "channels.yaml:7: channels.tmall.erp_customers.2" in text
    assert "channels.yaml:8: channels.tmall.erp_customers.3" in text
    assert "channels.yaml:10: channels.jd.erp_customers" in text


def test_a_run_warns_about_every_unmapped_customer_everywhere(tmp_path, capsys):
    """Manifest, --json, console and report all name the customer, its lines and amounts per currency."""
    inp = tmp_path / "in"
    (inp / "alipay").mkdir(parents=True)
    shutil.copy(FIXTURES / "alipay_trade_detail.csv", inp / "alipay" / "trade.csv")
    (inp / "erp").mkdir()
    (inp / "erp" / "ar.csv").write_bytes(erp_csv(
        "AR001,2026-01-01,标准应收单,支付宝 当面付,人民币,1,100.00,11.50,100.00,0,100.00,已审核,M20260101001,",
        "AR002,2026-01-01,标准应收单,某某商贸（上海）有限公司,人民币,1,50.00,5.75,50.00,0,50.00,已审核,,",
        "AR003,2026-01-02,标准应收单,某某商贸（上海）有限公司,美元,7.1,10.00,0,71.00,0,10.00,已审核,,",
        "AR004,2026-01-03,红字应收单,某某商贸（上海）有限公司,人民币,1,-20.00,-2.30,-20.00,0,-20.00,已审核,,退款",
    ))
    out, db = tmp_path / "out", tmp_path / "s.duckdb"
    code, stdout, err = run_cli(["run", str(inp), "--out", str(out), "--db", str(db)], capsys)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["unmapped_customers"] == [
        {"customer": "某某商贸（上海）有限公司", "lines": 3, "amount": {"CNY": "30.00", "USD": "10.00"},
         "candidates": None}], "支付宝 当面付 maps (a space); the other customer does not"
    assert "某某商贸（上海）有限公司" in err and "3 lines" in err and "CNY 30.00 · USD 10.00" in err
    # what to do either way: a shop's name goes to its channel; a direct customer needs nothing
    assert "if it is a shop on a platform, add the name" in err
    assert "a direct customer (an offline sale) has no channel and needs nothing" in err
    html = (out / "report.html").read_text(encoding="utf-8")
    assert 'class="unmapped"' in html and "某某商贸（上海）有限公司</span>: 3 行, CNY 30.00 · USD 10.00" in html
    code, stdout, _ = run_cli(["run", str(inp), "--out", str(tmp_path / "o2"), "--db", str(db), "--json"], capsys)
    assert json.loads(stdout)["unmapped_customers"] == manifest["unmapped_customers"]


def test_one_name_under_two_channels_is_a_config_error(tmp_path):
    path = tmp_path / "channels.yaml"
    path.write_text("version: 1\nchannels:\n  tmall:\n    erp_customers: [天猫旗舰店]\n"
                    "  jd:\n    erp_customers:\n      - 京东\n      - 天猫 旗舰店（有限公司）\n      - \"天猫旗舰店有限公司\"\n",
                    encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_channels(path)
    text = "\n".join(exc.value.problems)
    assert "channels.yaml:9: channels.jd.erp_customers.2: '天猫旗舰店有限公司' is the same customer name as '天猫旗舰店'" \
        in text, text
    assert "erp_customers.1" not in text, "a bracketed suffix is part of the name"
    load_channels()  # the shipped file lists every name once


@pytest.mark.parametrize("pattern", ["^Tmall", "拼多多 - 店铺", "京东（自营）"])
def test_a_regex_the_normalised_name_can_never_match_is_refused(tmp_path, pattern):
    path = tmp_path / "channels.yaml"
    path.write_text(f'version: 1\nchannels:\n  tmall:\n    erp_customers: [{{regex: "{pattern}"}}]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="can never match"):
        load_channels(path)
    path.write_text('version: 1\nchannels:\n  tmall:\n    erp_customers: [{regex: "^tmall\\\\S*\\\\d$"}]\n',
                    encoding="utf-8")
    assert load_channels(path)[0].customer_patterns == (("regex", "^tmall\\S*\\d$"),)
