"""The unknown lines of the HTML report with their three drill-down layers, shaped for the template.

Reads the store and its evidence. The line's own raw record always comes from the evidence store
(``recon.io.records``, named by ``source_part.header``), so a run without drill-down results still
shows every original field.
``drilldown.detail_json`` (its shape is documented in ``recon.engine.drill``) adds the layer-1
candidates with their differences, the flags on raw fields (``state``: the record is not final,
``differs``: it carries a value the candidate disagrees with), the candidates' raw records and the
order's audit events marked when a status change moved no money. A detail of another shape is
still shown, as a generic tree, rather than dropped. Without a drill-down row the order's audit
events are read from ``audit_event`` directly.

Python touches only the ``top`` lines shown; selecting them is one query.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from recon.io import records


@dataclass(frozen=True)
class Line:
    """A ledger line as a report row: where it came from, its outcome and (for drill-downs) its layers."""

    line_id: int
    source: str
    ref: str
    channel: str | None
    order_no: str | None
    line_type: str | None
    amount: Decimal
    status: str
    code: str | None
    match_group: str | None
    explanation: str | None
    finding_cell: str | None = None  # results.csv's finding: why the line has its status, as codes
    layer: int | None = None
    finding: str | None = None
    finding_en: str | None = None
    candidates: tuple = ()
    records: tuple = ()
    detail: object = None  # a detail_json of an unexpected shape, as a display tree
    raw: tuple = ()  # (name, value, flags)
    events: tuple = ()  # (time, event, old, new, operator, remark, where, moved_no_money)


LINE_COLS = ("l.line_id, l.family AS source, l.ref, l.channel, l.order_no, l.line_type, l.amount, l.status, l.code, "
             "l.match_group, l.explanation, l.finding_cell")
LINE_NAMES = ("line_id", "source", "ref", "channel", "order_no", "line_type", "amount", "status", "code",
              "match_group", "explanation", "finding_cell")


def unknown_lines(con, run_id: str, top: int) -> dict:
    """Totals of the run's unknown lines (temp table ``report_line``), and the ``top`` largest by |amount|
    with their layers; raw cells are read for those lines only."""
    p = {"run": run_id}
    total = con.execute("SELECT count(*), coalesce(sum(abs(amount)), 0) FROM report_line WHERE status = 'unknown'"
                        ).fetchall()[0]
    con.execute("""CREATE OR REPLACE TEMP TABLE report_top AS SELECT * FROM report_line WHERE status = 'unknown'
            ORDER BY abs(amount) DESC, ref, line_id LIMIT $top""", {"top": top})
    records.raw_cells(con, "report_top", "report_raw")
    rows = con.execute(f"""WITH l AS (SELECT * FROM report_top), r AS (SELECT line_id, raw FROM report_raw)
        SELECT {LINE_COLS}, d.layer, d.finding, d.detail_json,
            list_transform(range(1, len(r.raw) + 1),
                           lambda i: {{'name': coalesce(sp.header[i], '#' || i), 'value': r.raw[i]}})
        FROM l JOIN r USING (line_id)
        LEFT JOIN drilldown d ON d.run_id = $run AND d.line_id = l.line_id
        LEFT JOIN source_part sp ON sp.file_id = l.file_id AND sp.part = coalesce(l.source_sheet, '')
        ORDER BY abs(l.amount) DESC, l.ref, l.line_id""", p).fetchall()
    n = len(LINE_NAMES)  # the line's columns, then the drill-down's layer, finding, detail and raw cells
    fallback = _audit_events(con, [(r[4], r[3]) for r in rows if r[4] and not r[n + 2]])
    shown = [_line(r, fallback) for r in rows]
    return {"lines": total[0], "gross": total[1], "shown": shown}


def _line(r, fallback) -> Line:
    n = len(LINE_NAMES)
    base = dict(zip(LINE_NAMES, r[:n]))
    layer, finding, detail_json, cells = r[n:n + 4]
    detail = json.loads(detail_json) if detail_json else None
    if not (isinstance(detail, dict) and "layer1" in detail):
        raw = tuple((c["name"], c["value"], ()) for c in cells)
        return Line(**base, layer=layer, finding=finding, raw=raw,
                    detail=None if detail is None else tree(detail),
                    events=tuple(fallback.get((base["order_no"], base["channel"]), ())))
    records = (detail.get("layer2") or {}).get("records") or []
    own = next((rec for rec in records if rec.get("role") == "line"), {})
    flags = {f.get("index"): tuple(f.get("flags") or ()) for f in own.get("fields") or []}
    raw = tuple((c["name"], c["value"], flags.get(i, ())) for i, c in enumerate(cells, start=1))
    return Line(**base, layer=layer, finding=finding, finding_en=detail.get("finding_en"),
                candidates=tuple(_candidate(c) for c in (detail.get("layer1") or {}).get("candidates") or []),
                records=tuple((_ref(rec), tuple((f.get("name"), f.get("value"), tuple(f.get("flags") or ()))
                                                for f in rec.get("fields") or []))
                              for rec in records if rec.get("role") != "line"),
                raw=raw, events=tuple(_event(e) for e in (detail.get("layer3") or {}).get("events") or []))


def _ref(d) -> str:
    """file:line[@sheet], as everywhere else in recon's outputs."""
    ref = f"{d.get('file') or ''}:{d.get('line') if d.get('line') is not None else ''}"
    return ref + (f"@{d['sheet']}" if d.get("sheet") else "")


def _candidate(c) -> dict:
    diffs = tuple((d.get("field"), d.get("this"), d.get("other"), d.get("delta")) for d in c.get("differences") or [])
    return {"rank": c.get("rank"), "via": c.get("via"), "ref": _ref(c), "source": c.get("source"),
            "channel": c.get("channel"), "order_no": c.get("order_no"), "amount": c.get("amount"),
            "date": c.get("date"), "status": c.get("status"), "code": c.get("code"), "differences": diffs}


def _event(e) -> tuple:
    where = f"{e.get('file') or ''}:{e.get('line') if e.get('line') is not None else ''}"
    return (e.get("time"), e.get("event"), e.get("old_status"), e.get("new_status"), e.get("operator"),
            e.get("remark"), where, bool(e.get("status_change")) and not e.get("moves_money", True))


def _audit_events(con, keys) -> dict:
    """Audit-log events of orders without a drill-down row, in time order, keyed by (order_no, channel)."""
    if not keys:
        return {}
    rows = con.execute("""SELECT order_no, channel, strftime(event_time, '%Y-%m-%d %H:%M:%S'), event, old_status,
            new_status, operator, remark, source_name || ':' || source_line
        FROM audit_event WHERE order_no IN (SELECT unnest($orders))
        ORDER BY order_no, event_time NULLS LAST, source_name, source_line""",
                       {"orders": sorted({k[0] for k in keys})}).fetchall()
    out: dict = defaultdict(list)
    for order_no, channel, *event in rows:
        for key in dict.fromkeys(keys):  # an order number is only unique within a channel
            if key[0] == order_no and (channel is None or key[1] is None or key[1] == channel):
                out[key].append((*event, False))
    return out


def tree(value):
    """JSON as display nodes: ('kv', [(key, node)]), ('table', cols, rows), ('list', [node]), ('text', s)."""
    if isinstance(value, dict):
        return ("kv", [(str(k), tree(v)) for k, v in value.items()])
    if isinstance(value, list):
        if value and all(isinstance(v, dict) for v in value):
            cols = list(dict.fromkeys(k for v in value for k in v))
            return ("table", cols, [[tree(v.get(c)) for c in cols] for v in value])
        return ("list", [tree(v) for v in value])
    if isinstance(value, bool):
        return ("text", str(value).lower())
    return ("text", "" if value is None else str(value))
