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

from recon.io.profile import Profile, norm_header

# Cell-level cleaning macros, created once per connection. Kept in one place so the rules for what
# a "blank" or a "number" is are the same for every format.
MACROS = [
    r"""CREATE OR REPLACE TEMP MACRO r_strip(x) AS
        regexp_replace(regexp_replace(regexp_replace(regexp_replace(
            x, '^[\s\x{3000}\x{00A0}`'']+', ''), '[\s\x{3000}\x{00A0}]+$', ''),
            '^="(.*)"$', '\1'), '^\s+|\s+$', '', 'g')""",
    r"""CREATE OR REPLACE TEMP MACRO r_clean(x) AS
        CASE WHEN r_strip(x) IN ('', '-', '/', '—', '--', 'null', 'NULL', 'None', '无退款申请')
             THEN NULL ELSE r_strip(x) END""",
    r"""CREATE OR REPLACE TEMP MACRO r_numtext(x) AS
        regexp_replace(regexp_replace(
            translate(r_clean(x), '０１２３４５６７８９．，－＋（）', '0123456789.,-+()'),
            '[¥￥,\s]|元|CNY|RMB', '', 'g'), '^\((.*)\)$', '-\1')""",
    r"""CREATE OR REPLACE TEMP MACRO r_numok(x) AS
        regexp_full_match(r_numtext(x), '[+-]?(\d+(\.\d*)?|\.\d+)')""",
    r"""CREATE OR REPLACE TEMP MACRO r_money(x) AS
        CASE WHEN r_numok(x) THEN CAST(round(CAST(r_numtext(x) AS DECIMAL(30,8)), 2) AS DECIMAL(18,2)) END""",
    r"""CREATE OR REPLACE TEMP MACRO r_money5(x) AS
        CASE WHEN r_numok(x) THEN CAST(round(CAST(r_numtext(x) AS DECIMAL(30,8)), 5) AS DECIMAL(18,5)) END""",
    r"""CREATE OR REPLACE TEMP MACRO r_rate(x) AS
        CASE WHEN r_numok(x) THEN CAST(round(CAST(r_numtext(x) AS DECIMAL(30,10)), 8) AS DECIMAL(18,8)) END""",
    r"""CREATE OR REPLACE TEMP MACRO r_int(x) AS
        CASE WHEN regexp_full_match(r_numtext(x), '[+-]?\d+(\.0*)?')
             THEN CAST(CAST(r_numtext(x) AS DECIMAL(18,4)) AS INTEGER) END""",
    r"""CREATE OR REPLACE TEMP MACRO r_tstext(x) AS
        regexp_replace(translate(r_clean(x), '：０１２３４５６７８９', ':0123456789'), '\s+', ' ', 'g')""",
    r"""CREATE OR REPLACE TEMP MACRO r_ts(x) AS
        CASE WHEN regexp_full_match(r_tstext(x), '\d{5}(\.\d+)?')
             THEN TIMESTAMP '1899-12-30 00:00:00'
                  + to_seconds(CAST(round(CAST(r_tstext(x) AS DECIMAL(20,10)) * 86400) AS BIGINT))
             ELSE try_strptime(r_tstext(x), ['%Y-%m-%d %H:%M:%S', '%Y-%m-%d %H:%M', '%Y/%m/%d %H:%M:%S',
                  '%Y/%m/%d %H:%M', '%Y-%m-%dT%H:%M:%S', '%Y%m%d %H:%M:%S', '%Y%m%d%H%M%S',
                  '%Y年%m月%d日 %H:%M:%S', '%Y-%m-%d', '%Y/%m/%d', '%Y%m%d', '%Y年%m月%d日',
                  '%Y-%m-%d %H:%M:%S.%f'])
        END""",
    r"""CREATE OR REPLACE TEMP MACRO r_mangled(x) AS
        regexp_full_match(coalesce(r_clean(x), ''), '[+-]?\d+(\.\d+)?[Ee][+]?\d+')""",
]

TYPE_BY_SQL = {
    "DECIMAL(18,2)": "money", "DECIMAL(18,5)": "money5", "DECIMAL(18,6)": "rate",
    "DECIMAL(18,8)": "rate", "TIMESTAMP": "timestamp", "DATE": "date", "INTEGER": "int",
    "VARCHAR": "text",
}
TYPE_FN = {
    "text": "r_clean({})", "money": "r_money({})", "money5": "r_money5({})", "rate": "r_rate({})",
    "int": "r_int({})", "timestamp": "r_ts({})", "date": "CAST(r_ts({}) AS DATE)",
    "id": "CASE WHEN r_mangled({0}) THEN NULL ELSE r_clean({0}) END",
}
WHAT = {
    "money": "an amount like 1234.50, -12.30 or (12.30)",
    "money5": "an amount like 0.04000",
    "rate": "a number like 7.1234",
    "int": "a whole number",
    "timestamp": "a date and time like 2026-01-31 23:59:59",
    "date": "a date like 2026-01-31",
}


class MissingColumn(Exception):
    """A column the profile requires is not in the header."""


class Compiler:
    """Turns field specs into SQL expressions plus per-row error checks."""

    def __init__(self, profile: Profile, header: list[str], preamble_values: dict):
        self.profile = profile
        self.header = header
        self.norm = [norm_header(h) for h in header]
        self.pre = preamble_values
        self.params: dict = {}

    # -- literals and columns
    def param(self, value) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f"${name}"

    def column(self, col):
        """('cN', caption) for the first synonym present in the header, else None."""
        for cand in [col] if isinstance(col, str) else list(col):
            key = norm_header(cand)
            if key in self.norm:
                i = self.norm.index(key)
                return f"c{i + 1}", self.header[i].strip() or key
        return None

    # -- specs
    def spec(self, spec: dict, sqltype: str, fname: str):
        """Return (value_sql, [check_sql]) for one spec. Checks yield 'caption␟reason' or NULL."""
        typ = spec.get("type") or TYPE_BY_SQL.get(sqltype, "text")
        checks: list[str] = []
        if "const" in spec:
            val = self.param(str(spec["const"]))
            expr = TYPE_FN[typ].format(val)
        elif "preamble" in spec:
            val = self.param(self.pre.get(spec["preamble"]))
            expr = TYPE_FN[typ].format(f"CAST({val} AS VARCHAR)")
        elif "credit" in spec:
            expr, checks = self._two_columns(spec, typ, fname)
        elif "sum" in spec:
            parts = [self.spec(s, sqltype, fname) for s in spec["sum"]]
            expr = " + ".join(f"coalesce({v}, 0)" for v, _ in parts) or "NULL"
            checks = [c for _, cs in parts for c in cs]
        elif "cases" in spec:
            expr, checks = self._cases(spec, sqltype, fname)
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
        if "or" in spec:
            other, more = self.spec(spec["or"], sqltype, fname)
            expr = f"coalesce({expr}, {other})"
            checks += more
        if "default" in spec and "map" not in spec and "contains" not in spec:
            expr = f"coalesce({expr}, {TYPE_FN[typ].format(self.param(str(spec['default'])))})"
        return expr, checks

    def _col(self, spec, typ, fname):
        found = self.column(spec["col"])
        if found is None:
            if spec.get("required"):
                raise MissingColumn(f"column {spec['col']!r} (for {fname}) is not in the header")
            return "NULL", []
        ident, caption = found
        cell = ident
        if "extract" in spec:
            cell = f"nullif(regexp_extract(r_clean({ident}), {self.param(spec['extract'])}, 1), '')"
        expr = TYPE_FN[typ].format(cell)
        checks = []
        cap = self.param(caption)
        if typ in WHAT:
            what = self.param(WHAT[typ])
            checks.append(
                f"CASE WHEN r_clean({cell}) IS NOT NULL AND {expr} IS NULL THEN "
                f"{cap} || chr(31) || 'cannot read ' || '''' || r_clean({cell}) || '''' || ': expected ' || {what} END"
            )
        if spec.get("required"):
            checks.append(f"CASE WHEN {expr} IS NULL THEN {cap} || chr(31) || 'required value is empty' END")
        return expr, checks

    def _two_columns(self, spec, typ, fname):
        credit, c1 = self._col({"col": spec["credit"], "type": typ}, typ, fname)
        debit, c2 = self._col({"col": spec["debit"], "type": typ}, typ, fname)
        cap = self.param(f"{spec['credit']}/{spec['debit']}")
        expr = (f"CASE WHEN {credit} IS NULL AND {debit} IS NULL THEN NULL "
                f"ELSE coalesce(abs({credit}), 0) - coalesce(abs({debit}), 0) END")
        both = (f"CASE WHEN coalesce({credit}, 0) <> 0 AND coalesce({debit}, 0) <> 0 THEN {cap} "
                f"|| chr(31) || 'both the money-in and the money-out column are non-zero' END")
        return expr, c1 + c2 + [both]

    def _direction(self, d, amount_expr, fname):
        found = self.column(d["col"])
        if found is None:
            raise MissingColumn(f"direction column {d['col']!r} (for {fname}) is not in the header")
        ident, caption = found
        ins = ", ".join(self.param(str(v)) for v in d.get("in", [])) or "NULL"
        outs = ", ".join(self.param(str(v)) for v in d.get("out", [])) or "NULL"
        sign = f"CASE WHEN r_clean({ident}) IN ({ins}) THEN 1 WHEN r_clean({ident}) IN ({outs}) THEN -1 END"
        expr = f"(abs({amount_expr}) * {sign})"
        check = (f"CASE WHEN {amount_expr} IS NOT NULL AND {sign} IS NULL THEN {self.param(caption)} || chr(31)"
                 f" || 'unknown direction ' || '''' || coalesce(r_clean({ident}), '') || '''' END")
        return expr, [check]

    def _cond(self, when):
        found = self.column(when["col"])
        if found is None:
            return "FALSE"
        ident = found[0]
        if "in" in when:
            vals = ", ".join(self.param(str(v)) for v in when["in"]) or "NULL"
            return f"coalesce(r_clean({ident}) IN ({vals}), FALSE)"
        if "contains" in when:
            return f"coalesce(contains(r_clean({ident}), {self.param(str(when['contains']))}), FALSE)"
        return f"r_clean({ident}) IS NOT NULL"

    def _cases(self, spec, sqltype, fname):
        whens, checks = [], []
        for case in spec["cases"]:
            cond = self._cond(case["when"])
            val, cs = self.spec(case["then"], sqltype, fname)
            whens.append(f"WHEN {cond} THEN {val}")
            checks += [f"CASE WHEN {cond} THEN {c} END" for c in cs]
        conds = " OR ".join(self._cond(c["when"]) for c in spec["cases"])
        other, cs = self.spec(spec["else"], sqltype, fname) if "else" in spec else ("NULL", [])
        checks += [f"CASE WHEN NOT ({conds}) THEN {c} END" for c in cs]
        return f"CASE {' '.join(whens)} ELSE {other} END", checks

    def _map(self, spec, fname):
        found = self.column(spec["col"])
        default = self.param(str(spec["default"])) if spec.get("default") is not None else "NULL"
        if found is None:
            return default, []
        cell = f"r_clean({found[0]})"
        whens = [f"WHEN {cell} = {self.param(str(k))} THEN {self.param(str(v))}"
                 for k, v in (spec.get("map") or {}).items()]
        whens += [f"WHEN contains({cell}, {self.param(str(sub))}) THEN {self.param(str(v))}"
                  for sub, v in (spec.get("contains") or [])]
        if not whens:
            return default, []
        return f"CASE {' '.join(whens)} ELSE {default} END", []

    # -- the whole select
    def select(self, fields) -> tuple[str, dict]:
        """SELECT over ``stage`` giving typed canonical fields, id_problem, err and raw."""
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
            if spec.get("type") == "id" and "col" in spec:
                found = self.column(spec["col"])
                if found:
                    id_checks.append(
                        f"CASE WHEN r_mangled({found[0]}) THEN {self.param(found[1])} || '=' || "
                        f"r_clean({found[0]}) END")
        err = f"coalesce({', '.join(checks)})" if checks else "CAST(NULL AS VARCHAR)"
        idp = f"nullif(concat_ws('; ', {', '.join(id_checks)}), '')" if id_checks else "CAST(NULL AS VARCHAR)"
        n = len(self.header)
        raw = "[" + ", ".join(f"c{i + 1}" for i in range(n)) + "]" if n else "CAST([] AS VARCHAR[])"
        cleaned = ", ".join(f"coalesce(r_clean(c{i + 1}), '')" for i in range(n)) or "''"
        sql = (f"SELECT source_line, {raw} AS raw, concat_ws(chr(31), {cleaned}) AS fingerprint, "
               f"{', '.join(cols)}, {idp} AS id_problem, {err} AS err FROM stage")
        used = set(re.findall(r"\$(p\d+)\b", sql))
        return sql, {k: v for k, v in self.params.items() if k in used}
