"""Terminal rendering of ``recon explain``: one order's lines and their three drill-down layers.

Input is the structure ``recon.api.explain`` returns (each line is the ``detail_json`` documented in
``recon.engine.drill``). Everything printed from an input file passes through ``_safe`` first: a
raw cell or an audit remark could hold terminal escape sequences, and printing them would let a
downloaded file repaint or retitle the clerk's terminal.
"""

from __future__ import annotations

import re

from recon.labels import EXPLAIN as LABELS

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")


def _safe(value) -> str:
    """Text from a file as printable text: control and bidi characters shown as ``\\xNN``/``\\uNNNN``."""
    if value is None:
        return "-"
    text = str(value)
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                        else f"\\u{ord(m.group()):04x}", text)


def _ref(rec: dict) -> str:
    sheet = f"@{rec['sheet']}" if rec.get("sheet") else ""
    return f"{_safe(rec['file'])}:{rec['line']}{_safe(sheet) if sheet else ''}"


def _line_head(line: dict, t: dict) -> str:
    return (f"{t['src'][line['source']]} {_ref(line)}  {_safe(line['line_type'])} {line['amount'] or '-'} "
            f"{line['date'] or '-'}  {_safe(line['order_no'])}  "
            f"{line['status'] or t['not_in_run']}{' ' + _safe(line['code']) if line['code'] else ''}"
            f"{'  ' + line['match_group'] if line['match_group'] else ''}")


def _differences(diffs: list, t: dict) -> str:
    out = []
    for d in diffs:
        key = d["field"] if d["field"] != "order_no" or not d["delta"] else f"order_no:{d['delta']}"
        out.append(t["diff"][key].format(d=d["delta"], t=_safe(d["this"]), o=_safe(d["other"])))
    return ", ".join(out) or t["same"]


def _fields(rec: dict, indent: str) -> list[str]:
    width = max((len(f["name"] or "") for f in rec["fields"]), default=0)
    rows = []
    for f in rec["fields"]:
        mark = ("!" if "state" in f["flags"] else " ") + ("≠" if "differs" in f["flags"] else " ")
        rows.append(f"{indent}{mark} {_safe(f['name']).ljust(width)} = {_safe(f['value'])}")
    return rows


def render(res: dict, lang: str = "zh") -> str:
    """The order's lines, each with its finding and layers 1-2, then the order's audit log once."""
    t = LABELS[lang]
    own = {line["line"]["line_id"] for line in res["lines"]}
    out = [f"{t['order']} {_safe(res['order_no'])} · {t['run']} {res['run_id']} · {len(res['lines'])} {t['lines']}"]
    for line in res["lines"]:
        head = line["line"]
        out += ["", "── " + _line_head(head, t)]
        if line.get("explanation"):
            out.append(f"   {t['explanation']}: {_safe(line['explanation'])}")
        finding = line["finding"] if lang == "zh" else line["finding_en"]
        source = t["recorded"] if line["recorded"] else t["on_demand"]
        out.append(f"   {t['stop'].format(n=line['stop_layer'])} ({source}): {_safe(finding)}")
        out.append(f"   {t['l1']}:")
        if not line["layer1"]["candidates"]:
            out.append(f"     {t['l1_none']}")
        for c in line["layer1"]["candidates"]:
            out.append(f"     {c['rank']}. [{t['via'][c['via']]}] {_line_head(c, t)}")
            out.append(f"        {_differences(c['differences'], t)}")
        out.append(f"   {t['l2']}:")
        for rec in line["layer2"]["records"]:
            label = t["this"] if rec["role"] == "line" else t["cand"]
            out.append(f"     {label} {_ref(rec)}")
            if rec["role"] == "candidate" and rec["line_id"] in own:
                out.append(f"       ({t['shown_above']})")
                continue
            out += _fields(rec, "       ")
    events = res["lines"][0]["layer3"]["events"] if res["lines"] else []
    out += ["", f"{t['l3']}:"]
    if not events:
        out.append(f"  {t['l3_none']}")
    for e in events:
        called = e["status_change"] and not e["moves_money"]
        out.append(f"  {e['time']}  {_safe(e['event'])}: {_safe(e['old_status'])} → {_safe(e['new_status'])}"
                   f" ({_safe(e['operator'])}){'  ' + _safe(e['remark']) if e['remark'] else ''}"
                   f"{'   ' + t['no_money'] if called else ''}")
    return "\n".join(out)
