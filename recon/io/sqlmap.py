"""Compile a profile's field specs into one set-based DuckDB SELECT over the staged raw cells.

Importers stage every data row as strings (``source_line, c1 … cN``) through Arrow; all cleaning
and typing then happens here, in SQL, over the whole file at once: backticks, tabs and apostrophes
stripped, placeholders nulled, ``¥``/``￥``/thousands separators/full-width digits/``(12.30)``
handled, dates tried against the formats real files use. A cell that cannot be typed does not turn
into zero: it produces an error ``column␟reason`` and the row goes to quarantine.

Every literal a profile supplies (column captions for messages, map values, regexes) is a bound
parameter; the only identifiers are the ``cN`` names we generate.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from recon.io.profile import Profile, norm_header

# Cell-level cleaning macros, created once per connection. Kept in one place so the rules for what
# a "blank" or a "number" is are the same for every format.
MACROS = [
    # Each macro tests for the common clean case first: DuckDB evaluates a CASE branch only for the
    # rows that reach it, so the full repair runs on the few cells that need it.
    # Leading blanks, backticks and apostrophes and trailing blanks go in one global replace (the
    # leading run is maximal, so the trailing run can only start after it); Excel's ="…" text cell
    # can only be there when the cell holds '="', so the unwrapping chain runs on those cells alone.
    r"""CREATE OR REPLACE TEMP MACRO r_strip(x) AS
        CASE WHEN NOT regexp_matches(x, '^[\s\x{3000}\x{00A0}`''=]|[\s\x{3000}\x{00A0}]$') THEN x
        WHEN NOT contains(x, '="') THEN regexp_replace(
            x, '^[\s\x{3000}\x{00A0}`'']+|[\s\x{3000}\x{00A0}]+$', '', 'g')
        ELSE regexp_replace(regexp_replace(regexp_replace(regexp_replace(
            x, '^[\s\x{3000}\x{00A0}`'']+', ''), '[\s\x{3000}\x{00A0}]+$', ''),
            '^="(.*)"$', '\1'), '^\s+|\s+$', '', 'g') END""",
    r"""CREATE OR REPLACE TEMP MACRO r_nullify(s) AS
        CASE WHEN s IN ('', '-', '/', '—', '--', 'null', 'NULL', 'None', '无退款申请') THEN NULL ELSE s END""",
    r"""CREATE OR REPLACE TEMP MACRO r_clean(x) AS r_nullify(r_strip(x))""",
    r"""CREATE OR REPLACE TEMP MACRO r_numtext(k) AS
        CASE WHEN regexp_full_match(k, '-?\d+(\.\d+)?') THEN k
        ELSE regexp_replace(regexp_replace(
            translate(k, '０１２３４５６７８９．，－＋（）', '0123456789.,-+()'),
            '[¥￥,\s]|元|CNY|RMB', '', 'g'), '^\((.*)\)$', '-\1') END""",
    r"""CREATE OR REPLACE TEMP MACRO r_numok(n) AS regexp_full_match(n, '[+-]?(\d+(\.\d*)?|\.\d+)')""",
    r"""CREATE OR REPLACE TEMP MACRO r_money(n) AS
        CASE WHEN r_numok(n) THEN CAST(round(CAST(n AS DECIMAL(30,8)), 2) AS DECIMAL(18,2)) END""",
    r"""CREATE OR REPLACE TEMP MACRO r_money5(n) AS
        CASE WHEN r_numok(n) THEN CAST(round(CAST(n AS DECIMAL(30,8)), 5) AS DECIMAL(18,5)) END""",
    r"""CREATE OR REPLACE TEMP MACRO r_rate(n) AS
        CASE WHEN r_numok(n) THEN CAST(round(CAST(n AS DECIMAL(30,10)), 8) AS DECIMAL(18,8)) END""",
    r"""CREATE OR REPLACE TEMP MACRO r_int(n) AS
        CASE WHEN regexp_full_match(n, '[+-]?\d+(\.0*)?') THEN CAST(CAST(n AS DECIMAL(18,4)) AS INTEGER) END""",
    r"""CREATE OR REPLACE TEMP MACRO r_tstext(k) AS
        CASE WHEN regexp_full_match(k, '\d{4}-\d{2}-\d{2}( \d{2}:\d{2}:\d{2})?') THEN k
        ELSE regexp_replace(translate(k, '：０１２３４５６７８９', ':0123456789'), '\s+', ' ', 'g') END""",
    r"""CREATE OR REPLACE TEMP MACRO r_ts(d) AS
        CASE WHEN regexp_full_match(d, '\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}')
             THEN try_strptime(d, '%Y-%m-%d %H:%M:%S')
             WHEN regexp_full_match(d, '\d{5}(\.\d+)?')
             THEN TIMESTAMP '1899-12-30 00:00:00'
                  + to_seconds(CAST(round(CAST(d AS DECIMAL(20,10)) * 86400) AS BIGINT))
             -- two more common shapes parsed by the one format of the list that can read them: a
             -- format that fails costs about a microsecond, and the list would try ten first
             WHEN regexp_full_match(d, '\d{8}') THEN try_strptime(d, '%Y%m%d')
             WHEN regexp_full_match(d, '\d{4}-\d{2}-\d{2}') THEN try_strptime(d, '%Y-%m-%d')
             ELSE try_strptime(d, ['%Y-%m-%d %H:%M:%S', '%Y-%m-%d %H:%M', '%Y/%m/%d %H:%M:%S',
                  '%Y/%m/%d %H:%M', '%Y-%m-%dT%H:%M:%S', '%Y%m%d %H:%M:%S', '%Y%m%d%H%M%S',
                  '%Y年%m月%d日 %H:%M:%S', '%Y-%m-%d', '%Y/%m/%d', '%Y%m%d', '%Y年%m月%d日',
                  '%Y-%m-%d %H:%M:%S.%f'])
        END""",
    # a time of day for the time_col spec key: 09:12:33, 9:12, 091233, the time of a full timestamp,
    # or an Excel day fraction (0.38371)
    r"""CREATE OR REPLACE TEMP MACRO r_time(t) AS
        CASE WHEN regexp_full_match(t, '\d{1,2}:\d{2}(:\d{2})?')
             THEN CAST(try_strptime(t, ['%H:%M:%S', '%H:%M']) AS TIME)
             WHEN regexp_full_match(t, '\d{6}') THEN CAST(try_strptime(t, '%H%M%S') AS TIME)
             WHEN regexp_full_match(t, '\d{4}-\d{2}-\d{2} \d{1,2}:\d{2}(:\d{2})?')
             THEN CAST(try_strptime(t, ['%Y-%m-%d %H:%M:%S', '%Y-%m-%d %H:%M']) AS TIME)
             WHEN regexp_full_match(t, '0?\.\d+|0')
             THEN TIME '00:00:00' + to_seconds(CAST(round(CAST(t AS DECIMAL(20,10)) * 86400) AS BIGINT) % 86400)
        END""",
    r"""CREATE OR REPLACE TEMP MACRO r_mangled(k) AS
        regexp_full_match(coalesce(k, ''), '[+-]?\d+(\.\d+)?[Ee][+]?\d+')""",
    # exact a / b for the divide_by spec key: DuckDB's DECIMAL '/' returns DOUBLE, so divide scaled
    # integers instead (half-up at 10 decimal places); NULL when b is NULL or zero
    r"""CREATE OR REPLACE TEMP MACRO r_div(a, b) AS
        CASE WHEN a IS NOT NULL AND b IS NOT NULL AND b <> 0 THEN
          CAST(sign(a) * sign(b) * (
            (2 * abs(CAST(CAST(a AS DECIMAL(38,10)) * 10000000000 AS HUGEINT)) * 10000000000
             + abs(CAST(CAST(b AS DECIMAL(38,10)) * 10000000000 AS HUGEINT)))
            // (2 * abs(CAST(CAST(b AS DECIMAL(38,10)) * 10000000000 AS HUGEINT)))) AS DECIMAL(38,0))
          * CAST('0.0000000001' AS DECIMAL(38,10)) END""",
    # whole-value helpers for one-off use (preamble values, proofs); not for per-row layers
    r"""CREATE OR REPLACE TEMP MACRO r_ts_of(x) AS r_ts(r_tstext(r_clean(x)))""",
]

TYPE_BY_SQL = {
    "DECIMAL(18,2)": "money", "DECIMAL(18,5)": "money5", "DECIMAL(18,6)": "rate",
    "DECIMAL(18,8)": "rate", "TIMESTAMP": "timestamp", "DATE": "date", "INTEGER": "int",
    "VARCHAR": "text",
}
# layer-4 typing of a layer-3 cell: (pre-step macro or None, typing template)
TYPING = {
    "text": (None, "{}"),
    "id": (None, "CASE WHEN r_mangled({0}) THEN NULL ELSE {0} END"),
    "money": ("r_numtext", "r_money({})"),
    "money5": ("r_numtext", "r_money5({})"),
    "rate": ("r_numtext", "r_rate({})"),
    "int": ("r_numtext", "r_int({})"),
    "timestamp": ("r_tstext", "r_ts({})"),
    "date": ("r_tstext", None),  # the day of the cell's timestamp (see Compiler.value); formats: own template
    "time": ("r_tstext", "r_time({})"),  # only for a spec's time_col, not a profile type
}
WHAT = {
    "money": "an amount like 1234.50, -12.30 or (12.30)",
    "money5": "an amount like 0.04000",
    "rate": "a number like 7.1234",
    "int": "a whole number",
    "timestamp": "a date and time like 2026-01-31 23:59:59",
    "date": "a date like 2026-01-31",
    "time": "a time of day like 09:12:33",
}


class MissingColumn(Exception):
    """A column the profile requires is not in the header."""


class Check(NamedTuple):
    """A per-row error check: when ``cond`` holds, the row is quarantined with ``msg`` (caption␟reason).

    Kept as a pair so the row's ``err`` can test all conditions first and build a message only for
    the rows that have one: nearly every row has none, and building CASE after CASE for them was a
    third of what typing a wide file cost.
    """

    cond: str
    msg: str

    def within(self, cond: str) -> "Check":
        """The same check, only where ``cond`` also holds (a branch of a ``cases`` spec)."""
        return Check(f"({cond}) AND ({self.cond})", self.msg)


class Compiler:
    """Turns field specs into a layered SELECT plus per-row error checks.

    Layers (each a CTE) keep every cell cleaned once and typed once, however many specs use it:
    ``s`` stripped cells, ``k`` placeholders nulled, ``x`` the cells specs refer to (a column, a
    regex extract, a constant), ``n`` pre-typing text (numbers, dates), ``v`` typed values.
    """

    def __init__(self, profile: Profile, header: list[str], preamble_values: dict):
        self.profile = profile
        self.header = header
        self.norm = [norm_header(h) for h in header]
        self.pre = preamble_values
        self.params: dict = {}
        self.cells: dict[str, str] = {}  # layer-3 expression -> x name
        self.pretext: dict[tuple, str] = {}  # (x name, macro) -> n name
        self.typed: dict[tuple, tuple] = {}  # (x name, type, formats) -> (v name, typing sql)

    # -- literals, columns, layers
    def param(self, value) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f"${name}"

    def column(self, col):
        """('kN', caption) for the first synonym present in the header, else None."""
        for cand in [col] if isinstance(col, str) else list(col):
            key = norm_header(cand)
            if key in self.norm:
                i = self.norm.index(key)
                return f"k{i + 1}", self.header[i].strip() or key
        return None

    def cell(self, expr: str) -> str:
        if expr not in self.cells:
            self.cells[expr] = f"x{len(self.cells)}"
        return self.cells[expr]

    def value(self, x: str, typ: str, fmt=None) -> str:
        pre, template = TYPING[typ]
        fmts = tuple(fmt if isinstance(fmt, list) else [fmt]) if fmt and typ in ("date", "timestamp") else ()
        if fmts:  # a profile's own strptime formats replace the built-in list
            tried = ", ".join(f"try_strptime({{0}}, {self.param(f)})" for f in fmts)
            template = f"coalesce({tried})" if typ == "timestamp" else f"CAST(coalesce({tried}) AS DATE)"
        elif typ == "date":
            # the day of the cell's timestamp, which a spec of the same cell may type already: parsing
            # a date is most of what typing a row costs, so a cell is parsed once
            return f"CAST({self.value(x, 'timestamp')} AS DATE)"
        arg = x
        if pre:
            if (x, pre) not in self.pretext:
                self.pretext[(x, pre)] = f"n{len(self.pretext)}"
            arg = self.pretext[(x, pre)]
        if (x, typ, fmts) not in self.typed:
            self.typed[(x, typ, fmts)] = (f"v{len(self.typed)}", template.format(arg))
        return self.typed[(x, typ, fmts)][0]

    # -- specs
    def spec(self, spec: dict, sqltype: str, fname: str):
        """Return (value_sql, [Check]) for one spec; a failing check names the caption and the reason."""
        typ = spec.get("type") or TYPE_BY_SQL.get(sqltype, "text")
        checks: list[Check] = []
        if "const" in spec:
            expr = self.value(self.cell(f"CAST({self.param(str(spec['const']))} AS VARCHAR)"), typ)
        elif "preamble" in spec and not ("map" in spec or "contains" in spec):
            raw = self.pre.get(spec["preamble"])
            expr = self.value(self.cell(f"r_clean(CAST({self.param(raw)} AS VARCHAR))"), typ)
        elif "credit" in spec:
            expr, checks = self._two_columns(spec, typ, fname)
        elif "sum" in spec:
            parts = [self.spec(s, sqltype, fname) for s in spec["sum"]]
            expr = " + ".join(f"coalesce({v}, 0)" for v, _ in parts) or "NULL"
            checks = [c for _, cs in parts for c in cs]
        elif "cases" in spec:
            expr, checks = self._cases(spec, sqltype, fname)
        elif "sign_of" in spec:
            expr = self._sign_of(spec)
        elif "map" in spec or "contains" in spec:
            expr, checks = self._map(spec, fname)
        else:
            expr, checks = self._col(spec, typ, fname)
        if "direction" in spec:
            expr, more = self._direction(spec["direction"], expr, fname)
            checks += more
        if spec.get("abs"):
            expr = f"abs({expr})"
        if spec.get("negate"):
            expr = f"(-({expr}))"
        if "divide_by" in spec:
            divisor, more = self.spec(spec["divide_by"], sqltype, fname)
            expr = f"r_div({expr}, {divisor})"
            cap = self.param(_first(spec["divide_by"].get("col") or "divide_by"))
            checks += more + [Check(f"{divisor} = 0", f"{cap} || chr(31) || 'cannot divide by zero'")]
        if "or" in spec:
            other, more = self.spec(spec["or"], sqltype, fname)
            # the fallback's cells only matter where the first choice is empty
            checks += [c.within(f"{expr} IS NULL") for c in more]
            expr = f"coalesce({expr}, {other})"
        if "default" in spec and "map" not in spec and "contains" not in spec:
            dflt = self.value(self.cell(f"CAST({self.param(str(spec['default']))} AS VARCHAR)"), typ)
            expr = f"coalesce({expr}, {dflt})"
        return expr, checks

    def _col(self, spec, typ, fname):
        found = self.column(spec["col"])
        if found is None:
            if spec.get("required"):
                raise MissingColumn(f"column {spec['col']!r} (for {fname}) is not in the header")
            return "NULL", []
        k, caption = found
        src = k
        if "extract" in spec:
            src = f"nullif(regexp_extract({k}, {self.param(spec['extract'])}, 1), '')"
        x = self.cell(src)
        if "time_col" in spec:  # col holds the date, time_col the time of day
            typ = "date"
        expr = self.value(x, typ, spec.get("format"))
        checks = ([self._unreadable(x, expr, typ, caption, spec.get("format"))]
                  if typ in WHAT and not spec.get("soft") else [])
        if "time_col" in spec:
            expr, more = self._with_time(spec, expr, fname)
            checks += more
        if spec.get("required"):
            why = "'required value is empty'"
            if typ == "id":  # say why a present but Excel-mangled id counts as empty
                why = (f"CASE WHEN r_mangled({x}) THEN 'required id ' || chr(39) || {x} || chr(39) || "
                       f"' is in scientific notation (Excel dropped its digits): re-download the original file'"
                       f" ELSE {why} END")
            checks.append(Check(f"{expr} IS NULL", f"{self.param(caption)} || chr(31) || {why}"))
        return expr, checks

    def _unreadable(self, x, expr, typ, caption, fmt=None):
        what = WHAT[typ]
        if fmt and typ in ("date", "timestamp"):
            what = f"a {typ} in the format {fmt}"
        return Check(f"{x} IS NOT NULL AND {expr} IS NULL",
                     f"{self.param(caption)} || chr(31) || 'cannot read ' || chr(39) || {x} || chr(39) || "
                     f"': expected ' || {self.param(what)}")

    def _with_time(self, spec, date_expr, fname):
        """The date joined with the time of day from ``time_col`` (CMB 交易日 + 交易时间).

        Empty when either part is empty: a missing time is not made midnight.
        """
        found = self.column(spec["time_col"])
        if found is None:
            if spec.get("required"):
                raise MissingColumn(f"column {spec['time_col']!r} (for {fname}) is not in the header")
            return "NULL", []
        k, caption = found
        xt = self.cell(k)
        tv = self.value(xt, "time")
        return f"({date_expr} + {tv})", [self._unreadable(xt, tv, "time", caption)]

    def _two_columns(self, spec, typ, fname):
        credit, c1 = self._col({"col": spec["credit"], "type": typ}, typ, fname)
        debit, c2 = self._col({"col": spec["debit"], "type": typ}, typ, fname)
        found = [self.column(spec[side]) for side in ("credit", "debit")]
        cap = self.param("/".join(f[1] if f else _first(spec[side])
                                  for f, side in zip(found, ("credit", "debit"))))
        expr = (f"CASE WHEN {credit} IS NULL AND {debit} IS NULL THEN NULL "
                f"ELSE coalesce(abs({credit}), 0) - coalesce(abs({debit}), 0) END")
        both = Check(f"coalesce({credit}, 0) <> 0 AND coalesce({debit}, 0) <> 0",
                     f"{cap} || chr(31) || 'both the money-in and the money-out column are non-zero'")
        checks = c1 + c2 + [both]
        if spec.get("required") and any(found):
            checks.append(Check(f"{credit} IS NULL AND {debit} IS NULL",
                                f"{cap} || chr(31) || 'both the money-in and the money-out column are empty'"))
        return expr, checks

    def _direction(self, d, amount_expr, fname):
        """Sign an unsigned amount by a direction column (借贷 ``借 Dr``/``贷 Cr``, 收/支, D/C …).

        A cell matches a listed value exactly or by its first word, so ``贷 Cr`` is 贷. With
        ``optional: true`` a layout without any of the direction columns keeps the amount as
        written, but only when the file shows a sign somewhere (see ``_unsigned_guard``): an
        unsigned amount with no direction is never taken for a credit.
        """
        found = self.column(d["col"])
        if found is None:
            if d.get("optional"):
                return self._unsigned_guard(d, amount_expr)
            raise MissingColumn(f"direction column {d['col']!r} (for {fname}) is not in the header")
        k, caption = found
        ins = ", ".join(self.param(str(v)) for v in d.get("in", [])) or "NULL"
        outs = ", ".join(self.param(str(v)) for v in d.get("out", [])) or "NULL"
        word = f"regexp_extract({k}, '^(\\S+)', 1)"
        # neutral: the file itself counts the line as neither in nor out (Alipay 不计收支, WeChat
        # 中性交易 written as '/', which cleans to empty): its amount is 0, the value stays in raw
        neutral = ", ".join(self.param(str(v)) for v in d.get("neutral", [])) or "NULL"
        blank = "WHEN {k} IS NULL THEN 0 ".format(k=k) if d.get("blank") == "neutral" else ""
        sign = (f"CASE WHEN {k} IN ({ins}) OR {word} IN ({ins}) THEN 1 "
                f"WHEN {k} IN ({outs}) OR {word} IN ({outs}) THEN -1 "
                f"WHEN {k} IN ({neutral}) THEN 0 {blank}END")
        expr = f"(abs({amount_expr}) * {sign})"
        check = Check(f"{amount_expr} IS NOT NULL AND {sign} IS NULL",
                      f"{self.param(caption)} || chr(31) || 'unknown direction ' || chr(39) || coalesce({k}, '') "
                      f"|| chr(39) || ': expected one of ' || {self.param(', '.join(map(str, d.get('in', []) + d.get('out', []) + d.get('neutral', []))))}")
        return expr, [check]

    def _unsigned_guard(self, d, amount_expr):
        """The amount as written, provided the file signs it: some amount is negative.

        A column without one minus sign in the whole file, and no direction column beside it, says
        nothing about direction; every line is quarantined naming the columns to map rather than
        being loaded as money in.
        """
        names = d["col"] if isinstance(d["col"], list) else [d["col"]]
        msg = (f"the amount has no sign in this file and none of the direction columns "
               f"({', '.join(map(str, names))}) is present: recon never takes an unsigned amount for money in; "
               f"map the file's direction column (direction: {{col: …, in: […], out: […]}}) or its "
               f"money-in/money-out columns in a profile (--profile), or re-export with signed amounts")
        cap = self.param("amount")
        check = Check(f"{amount_expr} IS NOT NULL AND coalesce(min({amount_expr}) OVER (), 0) >= 0",
                      f"{cap} || chr(31) || {self.param(msg)}")
        return amount_expr, [check]

    def _cond(self, when):
        found = self.column(when["col"])
        if found is None:
            return "FALSE"
        k = found[0]
        if "in" in when:
            vals = ", ".join(self.param(str(v)) for v in when["in"]) or "NULL"
            return f"coalesce({k} IN ({vals}), FALSE)"
        if "contains" in when:
            return f"coalesce(contains({k}, {self.param(str(when['contains']))}), FALSE)"
        return f"{k} IS NOT NULL"

    def _cases(self, spec, sqltype, fname):
        whens, checks = [], []
        for case in spec["cases"]:
            cond = self._cond(case["when"])
            val, cs = self.spec(case["then"], sqltype, fname)
            whens.append(f"WHEN {cond} THEN {val}")
            checks += [c.within(cond) for c in cs]
        conds = " OR ".join(self._cond(c["when"]) for c in spec["cases"])
        other, cs = self.spec(spec["else"], sqltype, fname) if "else" in spec else ("NULL", [])
        checks += [c.within(f"NOT ({conds})") for c in cs]
        return f"CASE {' '.join(whens)} ELSE {other} END", checks

    def _sign_of(self, spec):
        """A code by the sign of another field (e.g. line_type by the sign of the amount).

        The other field's spec compiles to the same cached cells; its own checks report bad values.
        """
        value, _ = self.spec(self.profile.fields[spec["sign_of"]], "DECIMAL(18,2)", spec["sign_of"])
        pos, neg = (self.param(str(spec[k])) if spec.get(k) is not None else "NULL"
                    for k in ("positive", "negative"))
        return f"CASE WHEN {value} > 0 THEN {pos} WHEN {value} < 0 THEN {neg} END"

    def _map(self, spec, fname):
        default = self.param(str(spec["default"])) if spec.get("default") is not None else "NULL"
        if "preamble" in spec and "col" not in spec:
            raw = self.pre.get(spec["preamble"])
            found = (self.cell(f"r_clean(CAST({self.param(raw)} AS VARCHAR))"), spec["preamble"])
        else:
            found = self.column(spec["col"])
        if found is None:
            return default, []
        k = found[0]
        whens = [f"WHEN {k} = {self.param(str(key))} THEN {self.param(str(v))}"
                 for key, v in (spec.get("map") or {}).items()]
        whens += [f"WHEN contains({k}, {self.param(str(sub))}) THEN {self.param(str(v))}"
                  for sub, v in (spec.get("contains") or [])]
        if not whens:
            return default, []
        return f"CASE {' '.join(whens)} ELSE {default} END", []

    def _id_columns(self, spec):
        """(kN, caption) of every column a ``type: id`` spec reads, at any depth (or, cases, else…).

        A damaged id is emptied wherever it sits in a spec, so it is flagged wherever it sits too.
        """
        if not isinstance(spec, dict):
            return
        if spec.get("type") == "id" and "col" in spec:
            found = self.column(spec["col"])
            if found:
                yield found
        for key in ("or", "else", "divide_by"):
            yield from self._id_columns(spec.get(key))
        for sub in spec.get("sum") or []:
            yield from self._id_columns(sub)
        for case in spec.get("cases") or []:
            yield from self._id_columns(case.get("then") if isinstance(case, dict) else None)

    # -- the whole select
    def select(self, fields, fingerprint: bool = True, source: str = "stage", carry=()) -> tuple[str, dict]:
        """SELECT over ``source`` (``stage``: source_line, c1..cN) giving typed canonical fields,
        id_problem, err, fingerprint, and the ``carry`` columns of ``source`` as they are.

        Only the columns the specs use are cleaned (and, over DuckDB's CSV reader, read at all), unless
        the whole-row fingerprint (the natural key of key-less formats) needs them all.
        """
        types = dict(fields)
        cols, checks, id_checks = [], [], []
        for fname, sqltype in fields:
            spec = self.profile.fields.get(fname)
            if spec is None:
                cols.append(f"CAST(NULL AS {sqltype}) AS {fname}")
                continue
            expr, cs = self.spec(spec, types[fname], fname)
            cols.append(f"CAST({expr} AS {sqltype}) AS {fname}")
            checks += cs
            for k, caption in self._id_columns(spec):
                if k not in [c[0] for c in id_checks]:
                    id_checks.append((k, (
                        f"CASE WHEN r_mangled({k}) THEN {self.param(caption)} || '=' || {k} END")))
        # all conditions first; the messages only for the rows that fail one (the first check wins)
        err = (f"CASE WHEN {' OR '.join(f'({c.cond})' for c in checks)} THEN coalesce("
               f"{', '.join(f'CASE WHEN {c.cond} THEN {c.msg} END' for c in checks)}) END"
               if checks else "CAST(NULL AS VARCHAR)")
        idp = (f"nullif(concat_ws('; ', {', '.join(c for _, c in id_checks)}), '')"
               if id_checks else "CAST(NULL AS VARCHAR)")
        n = len(self.header)
        fp = ("concat_ws(chr(31), " + (", ".join(f"coalesce(k{i + 1}, '')" for i in range(n)) or "''") + ")"
              if fingerprint else "CAST(NULL AS VARCHAR)")
        used_text = " ".join(cols + [err, idp] + list(self.cells) + [t for _, t in self.typed.values()])
        wanted = range(n) if fingerprint else sorted({int(i) - 1 for i in re.findall(r"\bk(\d+)\b", used_text)})

        def layer(items):
            return "".join(", " + i for i in items)

        l1 = layer([f"r_strip(c{i + 1}) AS s{i + 1}" for i in wanted])
        l2 = layer([f"r_nullify(s{i + 1}) AS k{i + 1}" for i in wanted])
        l3 = layer([f"{expr} AS {x}" for expr, x in self.cells.items()])
        l4 = layer([f"{macro}({x}) AS {nn}" for (x, macro), nn in self.pretext.items()])
        l5 = layer([f"{tmpl} AS {vn}" for (vn, tmpl) in self.typed.values()])
        sql = (f"WITH l1 AS (SELECT *{l1} FROM {source}), l2 AS (SELECT *{l2} FROM l1), "
               f"l3 AS (SELECT *{l3} FROM l2), l4 AS (SELECT *{l4} FROM l3), "
               f"l5 AS (SELECT *{l5} FROM l4) "
               f"SELECT source_line, {fp} AS fingerprint, "
               f"{', '.join(cols)}, {idp} AS id_problem, {err} AS err{layer(carry)} FROM l5")
        used = set(re.findall(r"\$(p\d+)\b", sql))
        return sql, {k: v for k, v in self.params.items() if k in used}


def cells_list(width: int) -> str:
    """A staged row's cells as one ``VARCHAR[]`` (what a quarantined line keeps)."""
    return "[" + ", ".join(f"c{i + 1}" for i in range(width)) + "]" if width else "CAST([] AS VARCHAR[])"


def _first(col):
    return col if isinstance(col, str) else col[0]
