"""Three-layer drill-down for lines nobody could explain, and the per-run root-cause summary.

A line still ``unknown`` after matching and classification is drilled down until a clerk can act:

1. **ids, amounts, times** — the nearest lines on the *other* sides: every line sharing the
   normalised order number (upper case, only ``0-9A-Z``: ``'6975…``, ``6975…`` and ``69-75…`` are
   one order), plus the ``NEAR`` lines either side of it in absolute amount among each other side's
   open lines (unknown, review, or outside the period's results) that are not of another channel.
   Ranked key match first, then amount gap, date gap, line id; the best ``TOP`` per line are kept with
   their field-by-field differences.
2. **the raw record** — every original cell of the line and of its nearest candidate as imported
   (read back from the evidence store by ``recon.io.records``, named by ``source_part.header``). A
   cell is flagged ``state`` when its value says the record is not final (审核中, 复核, 二审, 处理中,
   关闭, 退款中, 待结算, review, pending, closed …; 已审核 is final) and ``differs`` when it carries
   the record's own amount, order number or date where layer 1 found the candidate to disagree (the
   candidate is always another family, so headers never line up and the comparison goes through the
   canonical values the profile mapped from these cells).
3. **the audit log** — the ``audit_event`` rows of the order in time order. Each platform line of the
   order that moves money is attributed to the latest status change at or before it, made on its
   money date or up to ``MONEY_LAG_DAYS`` earlier (``MONEY_GRACE_SECONDS`` of clock skew allowed; a
   line whose own time falls on another day, like JD's settlement-batch stamp, counts at the end of
   its money date); a status change no money line points at — a refund request, a merchant's
   approval, a move back into review — is called out.

The drill-down stops at the deepest layer that explains something: layer 3 when the order's latest
status change moved no money (the ledger shows a state the platform has since left: a refund back in
review); otherwise layer 2 when a raw cell of the line, or of its nearest candidate of the same order,
signals a state; otherwise layer 1. Its finding (a Chinese sentence, like the other explanations) is
appended to the line's explanation.

Layer 1 is set-based for N lines at once: an equi-join on the order key, and for amounts an ASOF join
that finds each line's position in the other side's amount order, then an equi-join on the ``NEAR``
ranks either side — O((N + M) log M), never N × M and never one query per line. The ASOF joins, like
every construct only DuckDB spells this way here (QUALIFY, the structs and lists of ``detail_json``,
the list lambdas, the one-based list element), are rendered by the run's dialect (``recon.sql.dialect``).

Tables this module builds (temp, on the run's connection):

``drill_out(line_id, layer, finding, detail_json, finding_code)`` — one row per drilled line; ``run_drilldown`` and
``run_root_cause`` are what ``recon.api._record_run`` stores in ``drilldown`` and ``root_cause``.

``detail_json`` (what the HTML report renders; keys always present, lists possibly empty)::

    {"line": {"line_id", "source", "file", "line", "sheet", "channel", "order_no", "line_type",
              "currency", "amount", "date", "status", "code", "match_group"},
     "stop_layer": 1 | 2 | 3,
     "finding": "<zh sentence>", "finding_en": "<en sentence>",
     "layer1": {"candidates": [{"rank", "via": "order_no" | "amount", "line_id", "source", "file",
                "line", "sheet", "channel", "order_no", "line_type", "currency", "amount", "date",
                "status" (null = not in this run's results), "code", "match_group",
                "differences": [{"field": "order_no"|"amount"|"date"|"channel"|"currency",
                                 "this", "other", "delta"}]}]},   (order_no delta: null = another
                                 order, "format" = same order written differently, "missing" = one
                                 side has none)
     "layer2": {"records": [{"role": "line" | "candidate", "line_id", "file", "line", "sheet",
                "fields": [{"index", "name", "value", "flags": ["state" | "differs", …]}]}]},
     "layer3": {"events": [{"time", "event", "old_status", "new_status", "operator", "remark",
                "file", "line", "status_change": bool, "moves_money": bool}]}}

Amounts are strings (exact decimals, never floats); dates ``YYYY-MM-DD``; times
``YYYY-MM-DD HH:MM:SS``; an amount ``delta`` is this − other after turning a platform↔bank pair's sign
(a payout is − on the platform and + at the bank); a date ``delta`` is this − other in days.
"""

from __future__ import annotations

from recon import store
from recon.engine import ledger, outcome
from recon.engine.findings import finding, then
from recon.engine.steps import Step, runner
from recon.io import records

TOP = 3  # candidates kept per line
# ties between candidates go by the lines' provenance ids (recon.engine.refs), never their integers
SCOPE_REF = store.LINE_REF_SQL.format(sha="sf.sha256", sheet="{a}.source_sheet", line="{a}.source_line")
NEAR = 5  # amount neighbours looked at on each side of a line's position, per other source
# Each money line of an order (a platform line with a non-zero amount) is the effect of the order's
# latest status change at or before it, on its money date or the day before (a T+1 bill); the platform
# writes the status and the money a few seconds apart at most. Status changes no money line points at
# moved no money.
MONEY_GRACE_SECONDS = 60
MONEY_LAG_DAYS = 1
# Values that say a record is not final. RE2 has no look-behind, so 已审核 (approved) is excluded by
# requiring 审核 to follow anything but 已.
STATE_RE = (r"(^|[^已])审核|复核|二审|处理中|关闭|退款中|冻结|挂起|撤销|待结算|待处理|待确认|失败"
            r"|(?i:review|pending|processing|closed|frozen|on hold|failed)")
LINE_TABLES = (("platform", "platform_line"), ("erp", "erp_line"), ("bank", "bank_line"))



def okey(x: str) -> str:
    """The order key of text ``x``: upper case, only ``0-9A-Z``; NULL when nothing is left."""
    return f"nullif(upper(regexp_replace({x}, '[^0-9A-Za-z]', '', 'g')), '')"


def bare(x: str) -> str:
    """A raw cell as a bare value: quotes, backticks, tabs, currency signs and thousands separators off."""
    return f"""regexp_replace({x}, '[\\s''`"=¥￥元,]', '', 'g')"""


def source_zh(s: str) -> str:
    """A source's name in the Chinese finding."""
    return f"CASE {s} WHEN 'platform' THEN '平台' WHEN 'erp' THEN 'ERP' ELSE '银行' END"


def scope_from_run(con) -> None:
    """``drill_scope`` for a run in progress: the universe lines the drill-down of ``drill_target`` can
    reach, each with its result (NULL = no result).

    Layer 1 looks at open lines (no result, ``unknown`` or ``review``: the targets and their amount
    neighbours) and at lines sharing a target's order key; no other line is ever a target or a
    candidate, so the scope holds just these. A month that mostly matches is then drilled without
    copying every line of the universe (3.5 million at a million orders), and with no target the
    order keys are not even computed.
    """
    r = runner(con)
    keyed = ""
    if r.scalar("drill.targets", "SELECT count(*) FROM drill_target"):
        keyed = f"""UNION SELECT line_id FROM universe
                   WHERE order_no IS NOT NULL AND {okey("order_no")} IN (
                       SELECT {okey("order_no")} FROM universe SEMI JOIN drill_target USING (line_id))"""
    r.run(Step("drill.scope",
        f"""CREATE OR REPLACE TEMP TABLE drill_scope AS
        WITH reach AS (
            SELECT line_id FROM universe ANTI JOIN result USING (line_id)
            UNION SELECT line_id FROM result WHERE status IN ('unknown', 'review')
            {keyed})
        SELECT u.line_id, u.source, u.file_id, u.source_file, u.source_line, u.source_sheet, u.channel,
               u.order_no, {okey("u.order_no")} AS okey, u.line_type, u.currency, u.amount, u.movement_date,
               r.status, r.code, r.match_group, {SCOPE_REF.format(a="u")} AS ref
        FROM universe u SEMI JOIN reach USING (line_id) LEFT JOIN result r USING (line_id)
        JOIN source_file sf ON sf.file_id = u.file_id""", writes="drill_scope"))


def scope_from_store(con, run_id: str, order_key: str | None = None) -> None:
    """``drill_scope`` for a recorded run: its line results, plus (for ``explain``) every live line of
    the store sharing ``order_key`` that the run did not report (status NULL), e.g. next month's ERP."""
    ledger.ensure(con)
    # a recorded line's channel is the run's (line_result.channel); only the platform's own is a fallback
    lines = """SELECT source, line_id, file_id, source_name, source_line, source_sheet,
                      CASE WHEN source = 'platform' THEN channel END AS channel, order_no, line_type, currency,
                      amount, movement_date, superseded_by FROM ledger_line"""
    runner(con).run(Step("drill.scope_from_store",
        f"""CREATE OR REPLACE TEMP TABLE drill_scope AS
        WITH lines AS ({lines}),
        ran AS (SELECT l.*, r.channel AS run_channel, r.status, r.code, r.match_group
                FROM line_result r JOIN lines l ON l.line_id = r.line_id AND l.source = r.family
                WHERE r.run_id = $run),
        extra AS (SELECT l.*, NULL AS run_channel, NULL AS status, NULL AS code, NULL AS match_group
                  FROM lines l WHERE $key IS NOT NULL AND l.superseded_by IS NULL
                    AND {okey("l.order_no")} = $key
                    -- an anti join, not NOT IN: ran.line_id is never NULL, so the same lines are kept
                    AND NOT EXISTS (SELECT 1 FROM ran x WHERE x.line_id = l.line_id))
        SELECT x.line_id, x.source, x.file_id, coalesce(f.rel_path, x.source_name) AS source_file, x.source_line,
               x.source_sheet, coalesce(x.run_channel, x.channel) AS channel, x.order_no,
               {okey("x.order_no")} AS okey, x.line_type, x.currency, x.amount, x.movement_date,
               x.status, x.code, x.match_group, {SCOPE_REF.format(a="x")} AS ref
        -- ran and extra name the same columns in the same order, so a plain UNION ALL lines them up
        FROM (SELECT * FROM ran UNION ALL SELECT * FROM extra) x
        JOIN source_file sf ON sf.file_id = x.file_id
        LEFT JOIN run_file f ON f.run_id = $run AND f.file_id = x.file_id""",
        {"run": run_id, "key": order_key}, "drill_scope"))


def order_key(con, order_no: str) -> str | None:
    """The normalised key ``explain`` looks an order up by (the same rule layer 1 joins on)."""
    return runner(con).scalar("drill.order_key", f"SELECT {okey('$o')}", {"o": order_no})


def drill(con) -> None:
    """Drill down every line of temp table ``drill_target(line_id)`` against ``drill_scope``.

    Builds ``drill_pair`` (layer 1), ``drill_cell`` (layer 2), ``drill_event`` (layer 3) and
    ``drill_out`` (one row per target: stop layer, finding, detail_json).
    """
    con = runner(con)
    _layer1(con)
    _layer2(con)
    _layer3(con)
    _conclude(con)


def _difference(field: str, this: str, other: str, delta: str, d) -> str:
    """One field-by-field difference of a candidate, as the struct detail_json shows."""
    return d.struct({"field": f"'{field}'", "this": this, "other": other, "delta": delta})


def _layer1(con) -> None:
    d = con.dialect
    order_no = ("order_no", "t.order_no", "c.order_no")
    differences = d.list_filter(d.list_value([
        f"""CASE WHEN t.okey IS NULL OR c.okey IS NULL
                        THEN CASE WHEN t.okey IS DISTINCT FROM c.okey THEN {_difference(*order_no, "'missing'", d)} END
                        WHEN t.okey <> c.okey
                        THEN {_difference(*order_no, "NULL", d)}
                        WHEN t.order_no <> c.order_no
                        THEN {_difference(*order_no, "'format'", d)} END""",
        # amounts in two currencies have no difference to state: the currency item says why
        f"""CASE WHEN gap <> 0 AND t.currency IS NOT DISTINCT FROM c.currency THEN {_difference("amount", "CAST(t.amount AS VARCHAR)", "CAST(c.amount AS VARCHAR)",
                                                         "CAST(gap AS VARCHAR)", d)} END""",
        f"""CASE WHEN days <> 0 THEN {_difference("date", "CAST(t.movement_date AS VARCHAR)",
                                                          "CAST(c.movement_date AS VARCHAR)", "CAST(days AS VARCHAR)", d)} END""",
        f"CASE WHEN t.channel <> c.channel THEN {_difference('channel', 't.channel', 'c.channel', 'NULL', d)} END",
        f"CASE WHEN t.currency <> c.currency THEN {_difference('currency', 't.currency', 'c.currency', 'NULL', d)} END",
    ]), "x", "x IS NOT NULL")
    ranked = d.qualify("""
            SELECT p.tid, p.cid, p.by_key, t.amount * CASE WHEN 'bank' IN (t.source, c.source)
                       AND 'platform' IN (t.source, c.source) THEN -1 ELSE 1 END - c.amount AS gap,
                   date_diff('day', c.movement_date, t.movement_date) AS days,
                   row_number() OVER (PARTITION BY p.tid ORDER BY p.by_key DESC, abs(gap) NULLS LAST,
                                      abs(days) NULLS LAST, c.ref) AS rank
            FROM pairs p JOIN drill_t t ON t.line_id = p.tid JOIN drill_scope c ON c.line_id = p.cid
            -- a line of another channel is no counterpart (bank lines and unmapped ERP customers have none)
            WHERE p.by_key OR t.channel IS NULL OR c.channel IS NULL OR t.channel = c.channel""", "rank <= $top")
    con.run(Step("drill.targets_in_scope",
        """CREATE OR REPLACE TEMP TABLE drill_t AS
        SELECT * FROM drill_scope SEMI JOIN drill_target USING (line_id)""", writes="drill_t"),
        Step("drill.layer1",
        f"""CREATE OR REPLACE TEMP TABLE drill_pair AS
        WITH open AS (
            SELECT line_id, source, abs(amount) AS mag,
                   row_number() OVER (PARTITION BY source ORDER BY abs(amount), ref) AS rk
            FROM drill_scope WHERE amount IS NOT NULL AND (status IS NULL OR status IN ('unknown', 'review'))),
        -- (source, magnitude) is unique here, so the nearest-rank join below has exactly one answer
        first_rk AS (SELECT source, mag, min(rk) AS rk FROM open GROUP BY ALL),
        sides AS (SELECT t.line_id AS tid, abs(t.amount) AS mag, s.source
                  FROM drill_t t CROSS JOIN (VALUES ('platform'), ('erp'), ('bank')) s(source)
                  WHERE s.source <> t.source AND t.amount IS NOT NULL),
        pos AS (SELECT s.tid, s.source, coalesce(f.rk, n.n + 1) AS p
                FROM {d.asof_join("sides s", "first_rk f", "f.source = s.source", "s.mag <= f.mag", outer=True)}
                LEFT JOIN (SELECT source, count(*) AS n FROM open GROUP BY ALL) n ON n.source = s.source),
        -- the 2 × NEAR ranks around each position, as an equi-join (a range condition would make DuckDB
        -- compare every target with every line of the source)
        around AS (SELECT tid, source, unnest(range(p - $near, p + $near)) AS rk FROM pos),
        near AS (SELECT a.tid, o.line_id AS cid, FALSE AS by_key
                 FROM around a JOIN open o ON o.source = a.source AND o.rk = a.rk),
        keyed AS (SELECT t.line_id AS tid, c.line_id AS cid, TRUE AS by_key
                  FROM drill_t t JOIN drill_scope c ON c.okey = t.okey AND c.source <> t.source),
        pairs AS (SELECT tid, cid, bool_or(by_key) AS by_key FROM (SELECT * FROM near UNION ALL SELECT * FROM keyed)
                  GROUP BY ALL),
        -- only plain columns until the best TOP are known: whole-row structs for every pair cost more
        -- than the search itself
        ranked AS ({ranked})
        SELECT r.tid, r.cid, r.rank, CASE WHEN r.by_key THEN 'order_no' ELSE 'amount' END AS via, r.gap, r.days, c,
               {differences} AS differences
        FROM ranked r JOIN drill_t t ON t.line_id = r.tid JOIN drill_scope c ON c.line_id = r.cid""",
        {"near": NEAR, "top": TOP}, "drill_pair"))


def _raw_lines(con, ids_table: str) -> str:
    """The raw records of the lines in ``ids_table``, read back from the evidence store (Python reads
    the bounded set of drilled lines' records; the time counts in the step that reads them)."""
    records.raw_cells(runner(con).con, ids_table, "drill_raw")
    return "SELECT line_id, file_id, source_sheet, raw FROM drill_raw"


def _layer2(con) -> None:
    d = con.dialect
    header, raw = d.list_element("header", "i"), d.list_element("raw", "i")
    flags = d.list_filter(d.list_value([
        "CASE WHEN regexp_matches(coalesce(value, ''), $state) THEN 'state' END",
        f"""CASE WHEN (list_contains(dfields, 'amount') AND bare <> ''
                              AND abs(TRY_CAST(bare AS DECIMAL(18,2))) = abs(amount))
                          OR (list_contains(dfields, 'order_no') AND {okey("value")} = okey)
                          OR (list_contains(dfields, 'date')
                              AND starts_with(replace(bare, '/', '-'), CAST(movement_date AS VARCHAR)))
                        THEN 'differs' END"""]), "x", "x IS NOT NULL")
    con.run(Step("drill.layer2.records",
        """CREATE OR REPLACE TEMP TABLE drill_rec AS
        SELECT t.line_id AS tid, 'line' AS role, t.line_id AS rid, t.amount, t.okey, t.movement_date,
               p.differences AS diffs, NULL AS via
        FROM drill_t t LEFT JOIN drill_pair p ON p.tid = t.line_id AND p.rank = 1
        UNION ALL
        SELECT p.tid, 'candidate', p.cid, (p.c).amount, (p.c).okey, (p.c).movement_date, p.differences, p.via
        FROM drill_pair p WHERE p.rank = 1""", writes="drill_rec"))
    con.run(Step("drill.layer2.ids", "CREATE OR REPLACE TEMP TABLE drill_rid AS SELECT DISTINCT rid AS line_id FROM drill_rec",
                 writes="drill_rid"))
    con.run(Step("drill.layer2",
        f"""CREATE OR REPLACE TEMP TABLE drill_cell AS
        WITH raws AS ({_raw_lines(con, 'drill_rid')}),
        cells AS (SELECT r.tid, r.role, r.rid, r.amount, r.okey, r.movement_date,
                         {d.list_transform("r.diffs", "d", "d.field")} AS dfields, w.raw, sp.header,
                         unnest(range(1, len(w.raw) + 1)) AS i
                  FROM drill_rec r JOIN raws w ON w.line_id = r.rid
                  LEFT JOIN source_part sp ON sp.file_id = w.file_id AND sp.part = coalesce(w.source_sheet, '')),
        named AS (SELECT tid, role, rid, i, coalesce({header}, '#' || CAST(i AS VARCHAR)) AS name, {raw} AS value,
                         {bare(raw)} AS bare, amount, okey, movement_date, dfields FROM cells)
        SELECT tid, role, rid, i, name, value, {flags} AS flags
        FROM named""",
        {"state": STATE_RE}, "drill_cell"))


def _layer3(con) -> None:
    d = con.dialect
    con.run(Step("drill.layer3",
        f"""CREATE OR REPLACE TEMP TABLE drill_event AS
        WITH keys AS (SELECT DISTINCT okey FROM drill_t WHERE okey IS NOT NULL),
        ev AS (SELECT a.*, {okey("a.order_no")} AS okey FROM audit_event a
               WHERE a.superseded_by IS NULL AND {okey("a.order_no")} IN (SELECT okey FROM keys)),
        changes AS (SELECT DISTINCT okey, event_time FROM ev
                    WHERE old_status IS DISTINCT FROM new_status AND event_time IS NOT NULL),
        -- when the money moved: the line's own time where it falls on its money date, else (JD stamps
        -- the settlement batch, not the refund) the end of its money date
        money AS (SELECT {okey("order_no")} AS okey, movement_date,
                         CASE WHEN CAST(event_time AS DATE) = movement_date
                              THEN event_time + {d.seconds("$grace")}
                              ELSE CAST(movement_date AS TIMESTAMP) + INTERVAL 86399 SECOND END AS stamp
                  FROM platform_line
                  WHERE superseded_by IS NULL AND amount <> 0 AND movement_date IS NOT NULL
                    AND {okey("order_no")} IN (SELECT okey FROM keys)),
        paid AS (SELECT DISTINCT c.okey, c.event_time
                 FROM {d.asof_join("money m", "changes c", "c.okey = m.okey", "m.stamp >= c.event_time")}
                 WHERE date_diff('day', CAST(c.event_time AS DATE), m.movement_date) BETWEEN 0 AND $lag)
        SELECT ev.okey, ev.line_id AS eid, ev.event_time, ev.event, ev.old_status, ev.new_status, ev.operator,
               ev.remark, ev.source_name, ev.source_line,
               ev.old_status IS DISTINCT FROM ev.new_status AS status_change,
               paid.okey IS NOT NULL AS moves_money
        FROM ev LEFT JOIN paid ON paid.okey = ev.okey AND paid.event_time = ev.event_time""",
        {"grace": MONEY_GRACE_SECONDS, "lag": MONEY_LAG_DAYS}, "drill_event"))


def _line(a: str) -> dict:
    """detail_json's fields of a line of ``drill_scope`` (alias ``a``): name -> SQL."""
    return {"line_id": f"{a}.line_id", "source": f"{a}.source", "file": f"{a}.source_file", "line": f"{a}.source_line",
            "sheet": f"{a}.source_sheet", "channel": f"{a}.channel", "order_no": f"{a}.order_no",
            "line_type": f"{a}.line_type", "currency": f"{a}.currency", "amount": f"CAST({a}.amount AS VARCHAR)",
            "date": f"CAST({a}.movement_date AS VARCHAR)", "status": f"{a}.status", "code": f"{a}.code",
            "match_group": f"{a}.match_group"}


# the best candidate's differences as words, one clause per difference (``d``: one of them)
_DIFF_ZH = """CASE d.field
                       WHEN 'amount' THEN '金额差 ' || d.delta WHEN 'date' THEN '日期差 ' || d.delta || ' 天'
                       WHEN 'order_no' THEN CASE d.delta WHEN 'format' THEN '订单号写法不同'
                                                 WHEN 'missing' THEN '一方没有订单号' ELSE '订单号不同' END
                       WHEN 'channel' THEN '渠道不同' ELSE '币种不同' END"""
_DIFF_EN = """CASE d.field
                       WHEN 'amount' THEN 'amount off by ' || d.delta
                       WHEN 'date' THEN 'dates ' || d.delta || ' days apart'
                       WHEN 'order_no' THEN CASE d.delta WHEN 'format' THEN 'order number written differently'
                                                 WHEN 'missing' THEN 'one side has no order number'
                                                 ELSE 'different order number' END
                       ELSE d.field || ' differs' END"""


def _conclude(con) -> None:
    d = con.dialect
    st = d.struct
    candidate = st({"rank": "rank", "via": "via", **_line("c"), "differences": "differences"})
    field = st({"index": "c.i", "name": "c.name", "value": "c.value", "flags": "c.flags"})
    record = st({"role": "r.role", "line_id": "r.rid", "file": "s.source_file", "line": "s.source_line",
                 "sheet": "s.source_sheet", "fields": "r.fields"})
    state = st({"file": "s.source_file", "line": "s.source_line", "name": "(r.state_cell).name",
                "value": "(r.state_cell).value"})
    event = st({"time": "strftime(e.event_time, '%Y-%m-%d %H:%M:%S')", "event": "e.event",
                "old_status": "e.old_status", "new_status": "e.new_status", "operator": "e.operator",
                "remark": "e.remark", "file": "e.source_name", "line": "e.source_line",
                "status_change": "e.status_change", "moves_money": "e.moves_money"})
    diff_code = d.list_transform("(best).diffs", "d", "d.field || coalesce('=' || d.delta, '')")
    con.run(Step("drill.conclude",
        f"""CREATE OR REPLACE TEMP TABLE drill_out AS
        -- list_sort on structs whose first field is unique in the group (rank, index) gives the same
        -- order as an ordered aggregate at a fraction of its cost on 10^5 rows
        WITH l1 AS (
            SELECT tid, list_sort(list({candidate})) AS candidates,
                   arg_min({st({"c": "c", "gap": "gap", "days": "days", "diffs": "differences"})}, rank) AS best
            FROM drill_pair GROUP BY tid),
        l2rec AS (
            SELECT r.tid, r.role, r.rid, r.via,
                   coalesce(list_sort(list({field})
                                          FILTER (WHERE c.i IS NOT NULL)), {d.list_value([])}) AS fields,
                   arg_min({st({"name": "c.name", "value": "c.value"})}, c.i) FILTER (WHERE list_contains(c.flags, 'state'))
                       AS state_cell
            FROM drill_rec r LEFT JOIN drill_cell c ON c.tid = r.tid AND c.role = r.role AND c.rid = r.rid
            GROUP BY ALL),
        l2 AS (
            SELECT r.tid, list({record} ORDER BY r.role DESC) AS records,
                   -- the line's own state cell before its candidate's ('line' > 'candidate'); a
                   -- candidate found by amount alone is another order, its state says nothing of this one
                   arg_max({state}, r.role)
                       FILTER (WHERE r.state_cell IS NOT NULL AND (r.role = 'line' OR r.via = 'order_no'))
                       AS state
            FROM l2rec r JOIN drill_scope s ON s.line_id = r.rid GROUP BY r.tid),
        l3 AS (
            SELECT t.line_id AS tid,
                   list({event}
                        ORDER BY e.event_time, e.source_name, e.source_line) AS events,
                   arg_max(e, (e.event_time, e.source_name, e.source_line)) FILTER (WHERE e.status_change) AS last
            FROM drill_t t JOIN drill_event e ON e.okey = t.okey GROUP BY t.line_id),
        joined AS (
            SELECT t.*, l1.candidates, l1.best, l2.records, l2.state, l3.events, l3.last,
                   CASE WHEN l3.last IS NOT NULL AND NOT (l3.last).moves_money THEN 3
                        WHEN l2.state IS NOT NULL THEN 2 ELSE 1 END AS layer,
                   nullif(array_to_string({d.list_transform("(l1.best).diffs", "d", _DIFF_ZH)}, ', '), '') AS diff_zh,
                   nullif(array_to_string({d.list_transform("(l1.best).diffs", "d", _DIFF_EN)}, ', '), '') AS diff_en
            FROM drill_t t LEFT JOIN l1 ON l1.tid = t.line_id LEFT JOIN l2 ON l2.tid = t.line_id
            LEFT JOIN l3 ON l3.tid = t.line_id),
        said AS (
            SELECT *,
                CASE layer
                WHEN 3 THEN '第3层: 审核日志 ' || strftime((last).event_time, '%Y-%m-%d %H:%M:%S') || ' '
                    || coalesce((last).event, '') || ': ' || coalesce((last).old_status, '-') || ' → '
                    || coalesce((last).new_status, '-') || coalesce(' (' || (last).operator || ')', '')
                    || coalesce(', ' || (last).remark, '') || '; 该状态变更没有资金变动, 订单当前状态为 '
                    || coalesce((last).new_status, '-')
                WHEN 2 THEN '第2层: 原始记录 ' || (state).file || ':' || CAST((state).line AS VARCHAR) || ' 字段「'
                    || (state).name || '」= ' || (state).value || ', 记录处于未完结状态'
                ELSE CASE WHEN best IS NULL THEN '第1层: 其他来源中没有订单号相同或金额相近的候选行'
                    ELSE '第1层: 最接近的候选为' || {source_zh("(best).c.source")} || ' ' || (best).c.source_file || ':'
                         || CAST((best).c.source_line AS VARCHAR) || ' (订单 ' || coalesce((best).c.order_no, '-')
                         || ', ' || CAST((best).c.amount AS VARCHAR) || ', '
                         || coalesce(CAST((best).c.movement_date AS VARCHAR), '-') || ', '
                         || coalesce((best).c.status, '不在本次结果中') || ')'
                         || CASE WHEN diff_zh IS NULL THEN ', 各字段一致' ELSE '; 差异: ' || diff_zh END END
                END AS finding,
                CASE layer
                WHEN 3 THEN 'layer 3: audit log ' || strftime((last).event_time, '%Y-%m-%d %H:%M:%S') || ' '
                    || coalesce((last).event, '') || ': ' || coalesce((last).old_status, '-') || ' -> '
                    || coalesce((last).new_status, '-') || coalesce(' (' || (last).operator || ')', '')
                    || '; this status change moved no money; the order now stands at '
                    || coalesce((last).new_status, '-')
                WHEN 2 THEN 'layer 2: raw record ' || (state).file || ':' || CAST((state).line AS VARCHAR)
                    || ' field "' || (state).name || '" = ' || (state).value || ': the record is not final'
                ELSE CASE WHEN best IS NULL
                    THEN 'layer 1: no line on the other sides with the same order number or a close amount'
                    ELSE 'layer 1: nearest candidate ' || (best).c.source || ' ' || (best).c.source_file || ':'
                         || CAST((best).c.source_line AS VARCHAR) || ' (order ' || coalesce((best).c.order_no, '-')
                         || ', ' || CAST((best).c.amount AS VARCHAR) || ', '
                         || coalesce(CAST((best).c.movement_date AS VARCHAR), '-') || ', '
                         || coalesce((best).c.status, 'not in this run') || ')'
                         || CASE WHEN diff_en IS NULL THEN ', every field agrees' ELSE '; ' || diff_en END END
                END AS finding_en,
                CASE layer
                WHEN 3 THEN {finding("DRILL_STATUS_NO_MONEY", time="strftime((last).event_time, '%Y-%m-%d %H:%M:%S')",
                                     event="(last).event", status="(last).new_status")}
                WHEN 2 THEN {finding("DRILL_RECORD_NOT_FINAL", ref="(state).file || ':' || CAST((state).line AS VARCHAR)",
                                     field="(state).name", value="(state).value")}
                ELSE CASE WHEN best IS NULL THEN {finding("DRILL_NO_CANDIDATE")}
                    ELSE {finding("DRILL_NEAREST", source="(best).c.source",
                                  ref="(best).c.source_file || ':' || CAST((best).c.source_line AS VARCHAR)",
                                  differences=f"array_to_string({diff_code}, ', ')")} END
                END AS finding_code
            FROM joined)
        SELECT line_id, layer, finding,
               CAST(json_object('line', to_json({st(_line("said"))}), 'stop_layer', layer,
                    'finding', finding, 'finding_en', finding_en,
                    'layer1', json_object('candidates', coalesce(to_json(candidates), CAST('[]' AS JSON))),
                    'layer2', json_object('records', coalesce(to_json(records), CAST('[]' AS JSON))),
                    'layer3', json_object('events', coalesce(to_json(events), CAST('[]' AS JSON)))) AS VARCHAR)
                   AS detail_json,
               finding_code  -- last: readers of the first four columns keep their positions
        FROM said""", writes="drill_out"))


def run(con) -> int:
    """The run's drill-down: every ``unknown`` line of ``result``; the finding joins its explanation.

    Leaves ``run_drilldown`` and ``run_root_cause`` for the run record, and (``result`` being final
    here) the run's lines in ``run_line`` (``recon.engine.outcome``). Returns the lines drilled.
    """
    r = runner(con)
    r.run(Step("drill.target", "CREATE OR REPLACE TEMP TABLE drill_target AS SELECT line_id FROM result "
               "WHERE status = 'unknown'", writes="drill_target"))
    scope_from_run(r)
    drill(r)
    r.run(Step("drill.record", "CREATE OR REPLACE TEMP TABLE run_drilldown AS SELECT * FROM drill_out",
               writes="run_drilldown"),
          # the finding joins the line's explanation: a note table folded into result by its owner
          Step("drill.note", f"""CREATE OR REPLACE TEMP TABLE drill_note AS
              SELECT r.line_id, coalesce(r.explanation || '; ', '') || '下钻' || d.finding AS explanation,
                     {then("r.finding", "d.finding_code")} AS finding
              FROM result r JOIN run_drilldown d USING (line_id)""", writes="drill_note"),
          outcome.amend("drill.apply", "drill_note", ("explanation", "finding")),
          outcome.steps(r.dialect), root_cause())
    return r.scalar("drill.count", "SELECT count(*) FROM run_drilldown")


def root_cause() -> Step:
    """``run_root_cause``: lines and signed amount by status, code, channel and (unknowns) stop layer.

    The amount is the signed sum, the same figure as the manifest's ``by_code``, so the two agree.
    Reads ``run_line`` (the final results with their universe fields).
    """
    return Step("drill.root_cause",
        """CREATE OR REPLACE TEMP TABLE run_root_cause AS
        SELECT r.status, r.code, r.channel, d.layer AS stop_layer, count(*) AS lines,
               CAST(coalesce(sum(r.amount), 0) AS DECIMAL(18,2)) AS amount
        FROM run_line r LEFT JOIN run_drilldown d USING (line_id)
        GROUP BY ALL ORDER BY ALL""", writes="run_root_cause")


def explain(con, run_id: str, order_no: str) -> dict:
    """Every line of one order in a recorded run, with its three layers (``recon explain``).

    Lines the run drilled down keep what the run recorded (the same words as results.csv); any other
    line of the order — matched, known, or a line of the store the run did not report — is drilled
    on demand against the run's lines. Returns ``{"run_id", "order_no", "lines": [...]}``, each line
    its ``detail_json`` structure plus ``explanation`` and ``recorded``.
    """
    import json

    from recon.errors import ReconError

    con = runner(con)
    key = order_key(con, order_no)
    if key is None:
        raise ReconError(f"{order_no!r} is not an order number: it has no letters or digits")
    scope_from_store(con, run_id, key)
    con.run(Step("drill.target", "CREATE OR REPLACE TEMP TABLE drill_target AS SELECT line_id FROM drill_scope "
                 "WHERE okey = $k", {"k": key}, "drill_target"))
    if not con.scalar("drill.targets", "SELECT count(*) FROM drill_target"):
        raise ReconError(f"order {order_no} has no line in run {run_id} nor in the store; check the number "
                         "(letters and digits are compared, case and punctuation ignored) or pass --run")
    drill(con)
    rows = con.fetch(Step("explain.lines",
        """SELECT coalesce(d.detail_json, o.detail_json), d.line_id IS NOT NULL, r.explanation
        FROM drill_out o LEFT JOIN drilldown d ON d.run_id = $run AND d.line_id = o.line_id
        LEFT JOIN line_result r ON r.run_id = $run AND r.line_id = o.line_id
        JOIN drill_scope s ON s.line_id = o.line_id
        ORDER BY CASE s.source WHEN 'platform' THEN 1 WHEN 'erp' THEN 2 ELSE 3 END, s.source_file,
                 s.source_sheet NULLS FIRST, s.source_line""", {"run": run_id}))
    lines = []
    for detail, recorded, explanation in rows:
        line = json.loads(detail)
        line.update(recorded=recorded, explanation=explanation)
        lines.append(line)
    return {"run_id": run_id, "order_no": order_no, "lines": lines}
