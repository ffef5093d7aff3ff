"""README "A month in the life", executed command by command (issue 15's acceptance).

Why: a walkthrough that nobody runs rots the day a flag is renamed. This test reads the README section,
runs each ``$ recon …`` line through ``recon.cli.main`` (the entry point users run) in an empty folder,
in order, and checks what the README says about it: the exit code (``# exit N`` at the end of the line,
0 when not written) and every output line shown under it (``…`` elides: each piece of a line must
appear, in order, on one line of the command's output). ``mkdir``/``cp`` lines run as written; a
```yaml block whose first line is ``# save as FILE`` is written to FILE before the next command.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
import shlex
import subprocess
from pathlib import Path

import pytest

from recon.cli import main

README = Path(__file__).resolve().parent.parent / "README.md"
TITLE = "## A month in the life"
_EXIT = re.compile(r"\s+#\s*exit\s+(\d+)\s*$")
_FENCE = re.compile(r"^```(\w+)\n(.*?)^```$", re.S | re.M)


def section(text: str) -> str:
    start = text.index("\n" + TITLE + "\n")
    end = text.find("\n## ", start + len(TITLE) + 2)
    return text[start:end if end > 0 else len(text)]


def steps(text: str) -> list:
    """The section's steps in order: ("file", name, content) or ("cmd", argv, exit, expected lines)."""
    out: list = []
    for lang, body in _FENCE.findall(section(text)):
        if lang == "yaml":
            first, _, rest = body.partition("\n")
            m = re.fullmatch(r"#\s*save as\s+(\S+)", first.strip())
            if m:
                out.append(("file", m.group(1), rest))
            continue
        assert lang == "sh", f"unexpected ```{lang} block in {TITLE!r}"
        for line in body.splitlines():
            if line.startswith("$ "):
                cmd = line[2:]
                m = _EXIT.search(cmd)
                code = int(m.group(1)) if m else 0
                out.append(("cmd", shlex.split(cmd[:m.start()] if m else cmd), code, []))
            elif line.strip() and line.strip() != "…":
                assert out and out[-1][0] == "cmd", f"output before any command: {line!r}"
                out[-1][3].append(line)
    return out


def shown(expected: str, output: str) -> bool:
    """Each piece of EXPECTED between '…' appears, in order, on one line of OUTPUT."""
    pieces = [p.strip() for p in expected.split("…") if p.strip()]
    for line in output.splitlines():
        at = 0
        for p in pieces:
            at = line.find(p, at)
            if at < 0:
                break
            at += len(p)
        else:
            return True
    return False


def test_the_section_walks_the_whole_month():
    cmds = [" ".join(s[1][:2]) for s in steps(README.read_text(encoding="utf-8")) if s[0] == "cmd"]
    for needed in ("recon sample", "recon run", "recon diff", "recon explain", "recon resolve",
                   "recon decisions", "recon backtest", "recon close", "recon vouchers", "recon pack",
                   "recon verify", "recon runs"):
        assert needed in cmds, f"the walkthrough no longer shows {needed}"


def test_matching_is_strict():
    assert shown("period 2026-01: R…-1 -> R…-2", "period 2026-01: R20260101-1 -> R20260101-2 (x)")
    assert not shown("R…-2 -> R…-1", "period 2026-01: R20260101-1 -> R20260101-2")
    assert not shown("exit 4", "exit 1\nexit 0")
    parsed = steps("x\n" + TITLE + "\n\n```sh\n$ recon run a --out b   # exit 4\nverdict\n…\n```\n## Next\n")
    assert parsed == [("cmd", ["recon", "run", "a", "--out", "b"], 4, ["verdict"])]


def test_a_month_in_the_life_runs_as_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RECON_DB", raising=False)
    for step in steps(README.read_text(encoding="utf-8")):
        if step[0] == "file":
            (tmp_path / step[1]).write_text(step[2], encoding="utf-8")
            continue
        _, argv, code, expected = step
        where = " ".join(argv)
        if argv[0] in ("mkdir", "cp"):
            subprocess.run(argv, cwd=tmp_path, check=True)
            continue
        assert argv[0] == "recon", f"the walkthrough runs only recon, mkdir and cp: {where}"
        with pytest.raises(SystemExit) as exc:
            main(argv[1:])
        got = capsys.readouterr()
        output = got.out + got.err
        assert (exc.value.code or 0) == code, f"{where}: exit {exc.value.code}, README says {code}\n{output}"
        for line in expected:
            assert shown(line, output), f"{where}: README shows {line!r}; the output was:\n{output}"

    # the night-2 changes written for a spreadsheet: the 40 items the ERP export resolved among them
    with open(tmp_path / "changes.csv", encoding="utf-8-sig", newline="") as f:
        changes = list(csv.DictReader(f))
    assert sum(1 for c in changes if c["state"] == "resolved" and c["resolved_by"] == "new_file") == 40

    # what the prose after the last night says about the open items and the statement
    with open(tmp_path / "out3" / "results.csv", encoding="utf-8-sig", newline="") as f:
        open_items = sorted((r["source"], r["channel"], r["line_type"], r["currency"], r["amount"])
                            for r in csv.DictReader(f) if r["status"] in ("unknown", "review"))
    assert len(open_items) == 7
    assert [o for o in open_items if o[0] == "bank" and o[3] == "CNY"] == [
        ("bank", "", "bank_credit", "CNY", "50000.00")]
    assert sum(1 for o in open_items if o[3] == "USD") == 2
    assert [o[1:3] for o in open_items if o[0] == "platform"] == [("douyin", "payout")] * 4
    with open(tmp_path / "out3" / "reconciliation_statement.csv", encoding="utf-8-sig", newline="") as f:
        remainders = [(r["channel"], r["step"], r["lines"], r["amount"]) for r in csv.DictReader(f)
                      if r["row"] == "remainder" and r["channel"] == "douyin" and r["lines"] != "0"]
    assert ("douyin", "payouts", "4", "2623.88") in remainders

    # what the prose after the last night says about February's vouchers
    with open(tmp_path / "feb-vouchers" / "vouchers.csv", encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["voucher_no"] for r in rows} == {"RC202602-0001"}
    assert rows[0]["summary"] == "以前期间调整 2026-01 OFFLINE_PAYMENT_NOT_IN_AR -"
    assert rows[0]["explanation"].startswith("以前期间调整：更正已结账期间 2026-01（结账运行 R")
    assert "在本期 2026-02 入账" in rows[0]["explanation"]
    assert {(r["account_name"], r["debit"], r["credit"]) for r in rows} == {
        ("银行存款", "36800.00", "0.00"), ("预收账款", "0.00", "36800.00")}
    # and what it says about February's pack: the raw records behind the adjustment, January's lines
    with zipfile.ZipFile(tmp_path / "feb-pack.zip") as zf:
        evidence = list(csv.DictReader(io.StringIO(zf.read("evidence.csv").decode("utf-8-sig"))))
        results = zf.read("results.csv").decode("utf-8-sig")
    behind = [r for r in evidence if r["status"] == "prior_period"]
    assert {(r["source_file"], r["code"]) for r in behind} == {("BOC_MT940_202601.sta", "OFFLINE_PAYMENT_NOT_IN_AR")}
    assert all(json.loads(r["raw_record"]) for r in behind)
    # no result row of February is a Bank of China line (a carried January payout's drill-down may name
    # one as its nearest candidate, "not in this run's results")
    assert "BOC_MT940_202601.sta" not in {r["source_file"] for r in csv.DictReader(io.StringIO(results))}
