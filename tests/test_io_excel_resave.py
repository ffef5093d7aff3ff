"""A platform download opened and saved again in Excel is flagged at import: EXCEL_RESAVED.

The two fixtures are the shipped JD 对账单 v1 and Douyin 动账明细 fixtures as Excel leaves them after
"另存为": JD as "CSV (逗号分隔)" (GBK, CRLF), Douyin as "CSV UTF-8 (逗号分隔)" (BOM, CRLF). Every
number of more than 11 digits is shown in scientific notation with 6 significant digits
(3553498017448001 -> 3.5535E+15, the 28-digit 动帐流水号 -> 2.02608E+27), times lose their seconds
and leading zeros (2026-08-02 09:14:06 -> 2026/8/2 9:14), amounts their trailing zeros (128.20 ->
128.2); Douyin's 'apostrophe ids stay text. The clean downloads of the same lines give no warning.
"""

from __future__ import annotations

import json
import shutil

from conftest import FIXTURES, do_import, run_cli, write

from recon.io import excel_resave

JD_RESAVED = FIXTURES / "jd_settlement_v1_excel_resaved.csv"
DOUYIN_RESAVED = FIXTURES / "douyin_fund_flow_excel_resaved.csv"
SENTENCE = "this file was re-saved by Excel; ids are damaged; download it again"


def test_the_fixtures_are_what_excel_writes():
    jd = JD_RESAVED.read_bytes()
    assert not jd.startswith(b"\xef\xbb\xbf") and jd.count(b"\r\n") == jd.count(b"\n") > 10
    text = jd.decode("gbk")
    assert "3.5535E+15,,完成,2026/7/1 10:12,2026/7/5 18:20," in text and ",2.02607E+26," in text
    dy = DOUYIN_RESAVED.read_bytes()
    assert dy.startswith(b"\xef\xbb\xbf") and dy.count(b"\r\n") == dy.count(b"\n")
    assert dy.decode("utf-8-sig").splitlines()[1].startswith("2026/8/2 9:14,2.02608E+27,入账,128.2,")


def test_jd_csv_saved_by_excel_is_flagged_with_the_agreed_shape(con, profiles):
    rep = do_import(con, JD_RESAVED, profiles)
    assert rep.formats == ["jd.settlement.v1"] and rep.totals()["loaded"] == 13, "the lines still load"
    (w,) = rep.warnings
    assert set(w) == {"code", "part", "message", "incomplete"}
    assert (w["code"], w["part"], w["incomplete"]) == ("EXCEL_RESAVED", None, True)
    assert w["message"].startswith(SENTENCE)
    assert "13 of the first 13 lines" in w["message"] and "E+15" in w["message"] and "2026/7/" in w["message"]
    assert rep.as_dict()["warnings"] == [w]


def test_douyin_csv_utf8_saved_by_excel_is_flagged(con, profiles):
    rep = do_import(con, DOUYIN_RESAVED, profiles)
    (w,) = rep.warnings
    assert w["code"] == "EXCEL_RESAVED" and "动帐流水号=2.02608E+27" in w["message"]
    assert "动账时间=2026/8/" in w["message"]


def test_clean_downloads_of_the_same_files_give_no_warning(con, profiles):
    for name in ("jd_settlement_v1.csv", "douyin_fund_flow.csv"):
        assert do_import(con, FIXTURES / name, profiles).warnings == [], name


def test_a_damaged_id_alone_is_not_a_resave(con, profiles, tmp_path):
    """Times with their seconds: one id typed over in Excel is the line's id_problem (EXCEL_MANGLED_ID),
    not a whole file to download again."""
    lines = (FIXTURES / "douyin_fund_flow.csv").read_bytes().decode("utf-8-sig").splitlines()
    cells = lines[1].split(",")
    cells[1] = "2.02608E+27"
    text = "\r\n".join([lines[0], ",".join(cells)] + lines[2:]) + "\r\n"
    rep = do_import(con, write(tmp_path, "flow.csv", "\ufeff" + text), profiles)
    assert rep.warnings == []
    assert con.execute("SELECT count(*) FROM platform_line WHERE id_problem IS NOT NULL").fetchone()[0] == 1


def test_times_cut_to_the_minute_alone_are_not_a_resave(con, profiles, tmp_path):
    """Some exports write minutes only; without an id in scientific notation nothing is damaged."""
    text = (FIXTURES / "douyin_fund_flow.csv").read_bytes().decode("utf-8-sig")
    import re

    text = re.sub(r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}):\d{2}", r"\1", text)
    rep = do_import(con, write(tmp_path, "flow.csv", "\ufeff" + text), profiles)
    assert rep.warnings == [] and rep.totals()["loaded"] == 7


def test_only_a_bounded_sample_is_read(con, profiles, tmp_path, monkeypatch):
    """The check reads the head of the part (a re-save changes every row alike): lines past the sample
    are not looked at. Excel's two lines first, then clean ones with seconds."""
    lines = (FIXTURES / "douyin_fund_flow.csv").read_bytes().decode("utf-8-sig").splitlines()
    resaved = DOUYIN_RESAVED.read_bytes().decode("utf-8-sig").splitlines()
    mixed = "\ufeff" + "\r\n".join(resaved[:3] + lines[3:]) + "\r\n"
    monkeypatch.setattr(excel_resave, "SAMPLE_ROWS", 2)
    rep = do_import(con, write(tmp_path, "head.csv", mixed), profiles)
    assert [w["code"] for w in rep.warnings] == ["EXCEL_RESAVED"] and "2 of the first 2 lines" in rep.warnings[0][
        "message"]
    monkeypatch.setattr(excel_resave, "SAMPLE_ROWS", 1000)
    rep = do_import(con, write(tmp_path, "all.csv", mixed + "\r\n"), profiles)
    assert rep.warnings == [], "a time with seconds in the sample: not a re-save"


def test_sniff_says_it_and_exits_1(capsys):
    code, out, err = run_cli(["sniff", JD_RESAVED], capsys)
    assert code == 1, out + err
    load = out.splitlines()[0]
    assert load.startswith("LOAD  jd_settlement_v1_excel_resaved.csv") and "re-saved by Excel" in load
    assert f"EXCEL_RESAVED: {SENTENCE}" in out
    code, out, _ = run_cli(["sniff", "--json", JD_RESAVED], capsys)
    assert code == 1
    (w,) = json.loads(out)["warnings"]
    assert w["code"] == "EXCEL_RESAVED" and w["incomplete"] is True and w["part"] is None
    code, out, _ = run_cli(["sniff", FIXTURES / "jd_settlement_v1.csv"], capsys)
    assert code == 0 and "EXCEL_RESAVED" not in out


def test_run_load_line_and_manifest_name_the_damaged_file(tmp_path, capsys):
    inp = tmp_path / "in" / "platform"
    inp.mkdir(parents=True)
    shutil.copy(DOUYIN_RESAVED, inp / "动账明细_202608.csv")
    db = tmp_path / "s.duckdb"
    code, out, err = run_cli(["run", tmp_path / "in", "--out", tmp_path / "o", "--db", db, "--no-reports"], capsys)
    assert code != 0 and "Traceback" not in err
    load = next(line for line in out.splitlines() if line.startswith("LOAD"))
    assert "platform/动账明细_202608.csv" in load and "re-saved by Excel" in load
    assert SENTENCE in out
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text(encoding="utf-8"))
    (f,) = manifest["inputs"]
    assert [(w["code"], w["incomplete"]) for w in f["warnings"]] == [("EXCEL_RESAVED", True)]
    code, out, _ = run_cli(["run", tmp_path / "in", "--out", tmp_path / "o2", "--db", db, "--no-reports", "--json"],
                           capsys)
    (w,) = json.loads(out)["file_warnings"]
    assert (w["path"], w["code"], w["part"], w["incomplete"]) == ("platform/动账明细_202608.csv", "EXCEL_RESAVED",
                                                                  None, True)
    # the same download imported again is a no-op that still says it is damaged
    code, out, _ = run_cli(["import", inp / "动账明细_202608.csv", "--db", db], capsys)
    assert code == 1 and out.startswith("SAME") and SENTENCE in out


def test_a_resaved_file_makes_the_run_incomplete_until_the_clean_download_replaces_it(clean_month, capsys):
    """End to end: the import's warning reaches the verdict (exit 4, reason EXCEL_RESAVED naming the
    file); with the platform's own download in its place, that reason is gone."""
    from conftest import reason_codes, run_args

    extra = clean_month / "in" / "jd_later"
    extra.mkdir()
    shutil.copy(JD_RESAVED, extra / "京东对账单.csv")
    code, _, err = run_cli(run_args(clean_month, "--period", "2026-01"), capsys)
    m = json.loads((clean_month / "out" / "manifest.json").read_text(encoding="utf-8"))
    assert code == 4 and m["verdict"]["state"] == "incomplete", err
    assert "EXCEL_RESAVED" in reason_codes(m)
    (reason,) = [r for r in m["verdict"]["reasons"] if r["code"] == "EXCEL_RESAVED"]
    assert "京东对账单.csv" in json.dumps(reason, ensure_ascii=False)
    (extra / "京东对账单.csv").unlink()
    shutil.copy(FIXTURES / "jd_settlement_v1.csv", extra / "京东对账单.csv")
    run_cli(run_args(clean_month, "--period", "2026-01"), capsys)
    m = json.loads((clean_month / "out" / "manifest.json").read_text(encoding="utf-8"))
    assert "EXCEL_RESAVED" not in reason_codes(m), m["verdict"]
