"""The rule-expression language: small, validated, compiled to parameterised SQL and a sentence.

Matching rules and known-discrepancy entries carry short expressions written by finance admins::

    right(regexp_replace(order_no, '[^0-9]', '', 'g'), 16)          # a match key   (kind="value")
    round(subtotal * 0.05 + 0.30, 2)                                # a fee formula (kind="value")
    abs(difference - fee_amount) <= 0.01 and channel = 'jd'         # a detection (condition)
    abs(date_diff('day', a.movement_date, b.movement_date)) <= 2    # a date window (condition)

``compile_expr`` parses the text with sqlglot (DuckDB dialect) and walks the tree against an
allow-list; anything not on it is refused with the offending piece and its character position, so
nothing a rules file says can read files, attach databases, run statements or depend on the clock.

The language:
  columns      names from the caller's list, optionally ``alias.name`` for an allowed alias (``p.``,
               ``e.``, ``a.``/``b.`` …); an unknown name is refused with the closest known names.
  literals     numbers, 'strings', TRUE, FALSE, NULL, DATE '2024-01-31'.
  operators    + - * / % (unary -), || ; = <> != < <= > >= ; IS [NOT] DISTINCT FROM ;
               AND OR NOT ; IS [NOT] NULL ; [NOT] IN (values) ; [NOT] BETWEEN ; [NOT] [I]LIKE ;
               CASE [x] WHEN … THEN … [ELSE …] END ; parentheses.
  functions    ``ALLOWED_FUNCTIONS`` below, plus CAST / :: to DECIMAL(p,s), VARCHAR, DATE, INTEGER,
               BIGINT. Date parts: ``DATE_PARTS``. Regex flags: letters of ``REGEX_FLAGS``.

Money stays exact. Numbers with a decimal point become ``CAST(0.05 AS DECIMAL(2,2))``: exact, the
smallest type that holds them (as DuckDB types a bare literal, but explicit for other dialects).
Not DECIMAL(38,s): DuckDB types GREATEST/CASE/COALESCE of DECIMAL(18,2) and DECIMAL(38,1) as
DECIMAL(38,1) and silently drops the cents. A product that outgrows its DECIMAL raises an
"Overflow" error in DuckDB, never a wrong number. Whole numbers stay integers (``round(x, 2)``,
``left(x, 16)`` need them). DuckDB turns DECIMAL / DECIMAL into DOUBLE, so ``/``
is only allowed by a constant whose reciprocal is a finite decimal (2, 4, 5, 8, 10, 100, 0.5 …) and
is compiled as a multiplication by that reciprocal (``x / 100`` -> ``x * 0.01``); division by a
column or by 3 is refused with a hint to multiply instead (``fee <= amount * 0.006``).

Values are bound parameters: every string literal becomes ``$<prefix>_<n>`` in ``Expr.sql`` and its
text goes to ``Expr.params`` (the keys DuckDB's ``execute(sql, params)`` expects). Date parts and
regex flags are checked against fixed lists and stay in the SQL as syntax (DuckDB needs constant
flags, and sqlglot must see them to translate for Spark). Identifiers go through
``recon.sql.quote``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, Inexact, InvalidOperation, localcontext

import sqlglot
from sqlglot import exp
from sqlglot.dialects.duckdb import DuckDB
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import TokenType

from recon.errors import ConfigError
from recon.sql.quote import column_node

MAX_LENGTH = 2000
MAX_DIGITS = 38

# Function node -> the name a rule writer uses. Exact class match: no sqlglot subclass slips in.
FUNCTIONS = {
    exp.Abs: "abs", exp.Round: "round", exp.Floor: "floor", exp.Ceil: "ceil",
    exp.Greatest: "greatest", exp.Least: "least", exp.Coalesce: "coalesce", exp.Nullif: "nullif",
    exp.Length: "length", exp.Lower: "lower", exp.Upper: "upper", exp.Trim: "trim",
    exp.Left: "left", exp.Right: "right", exp.Substring: "substr", exp.Replace: "replace",
    exp.RegexpReplace: "regexp_replace", exp.RegexpLike: "regexp_matches",
    exp.RegexpExtract: "regexp_extract", exp.StrPosition: "strpos", exp.Contains: "contains",
    exp.StartsWith: "starts_with", exp.EndsWith: "ends_with", exp.Pad: "lpad", exp.Concat: "concat",
    exp.DateDiff: "date_diff", exp.DateTrunc: "date_trunc", exp.TimestampTrunc: "date_trunc",
    exp.Year: "year", exp.Month: "month", exp.Day: "day",
}
ALLOWED_FUNCTIONS = (
    "abs", "round", "floor", "ceil", "greatest", "least", "coalesce", "nullif", "length", "lower",
    "upper", "trim", "ltrim", "rtrim", "left", "right", "substr", "substring", "replace",
    "regexp_replace", "regexp_matches", "regexp_extract", "strpos", "contains", "starts_with",
    "ends_with", "lpad", "rpad", "concat", "date_diff", "date_trunc", "year", "month", "day",
    "cast",
)
DATE_PARTS = ("day", "week", "month", "quarter", "year")
REGEX_FLAGS = "gicsmnlp"
_FLAG_ARGS = {exp.RegexpReplace: "modifiers", exp.RegexpLike: "flag",
              exp.RegexpExtract: "parameters"}
_CAST_TYPES = {
    exp.DataType.Type.DECIMAL, exp.DataType.Type.VARCHAR, exp.DataType.Type.TEXT,
    exp.DataType.Type.DATE, exp.DataType.Type.INT, exp.DataType.Type.BIGINT,
}

COMPARISONS = (exp.EQ, exp.NEQ, exp.LT, exp.LTE, exp.GT, exp.GTE, exp.NullSafeEQ, exp.NullSafeNEQ)
TESTS = (exp.RegexpLike, exp.Contains, exp.StartsWith, exp.EndsWith, exp.Like, exp.ILike)
_BINARY = (exp.Add, exp.Sub, exp.Mul, exp.Mod, exp.DPipe, *COMPARISONS, exp.Like, exp.ILike)

# Why a well-known function is refused, so the message says more than "not allowed".
_READS_FILES = {"glob", "sniff_csv", "parquet_metadata", "parquet_schema", "attach", "copy",
                "pragma"}
_ENVIRONMENT = {"getenv", "current_setting", "current_database", "current_schema", "current_user",
                "version", "duckdb_settings"}
_NOT_REPEATABLE = (exp.CurrentDate, exp.CurrentTime, exp.CurrentTimestamp, exp.Rand, exp.Uuid)
_NOT_REPEATABLE_NAMES = {"now", "random", "rand", "uuid", "gen_random_uuid", "today", "setseed",
                         "get_current_time", "get_current_timestamp", "transaction_timestamp",
                         "localtimestamp", "localtime", "nextval", "currval"}
_PREFIX = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Expr:
    """A validated rule expression.

    Attributes:
        text: what the rule writer wrote.
        kind: "value" or "condition".
        sql: DuckDB SQL, identifiers quoted, strings as ``$name`` parameters.
        params: parameter name -> string value, for ``con.execute(sql, params)``.
        columns: the columns read, as resolved names (``amount``, ``p.amount``).
        sentence: the same expression in words a clerk can check.
    """

    text: str
    kind: str
    sql: str
    params: dict = field(hash=False)
    columns: frozenset
    sentence: str
    tree: exp.Expression = field(repr=False, compare=False, hash=False)

    def to_dialect(self, name: str) -> str:
        """The same SQL for another sqlglot dialect (``spark`` for the future backend)."""
        return self.tree.sql(dialect=name)


def compile_expr(text: str, columns: Mapping[str, str] | Collection[str], *, kind: str,
                 where: str = "", qualifiers: Mapping[str, str] | Collection[str] = (),
                 param_prefix: str = "e") -> Expr:
    """Parse, check and compile one rule expression.

    Args:
        text: the expression as written in the YAML file.
        columns: the columns it may read: names, or a mapping name -> SQL type (``DECIMAL(18,2)``,
            ``VARCHAR``, ``BOOLEAN`` …; types let a bare boolean column be a condition). A key
            may itself be qualified (``p.amount``) to allow that spelling only.
        kind: "condition" (must be a true/false test) or "value" (must not be).
        where: the caller's ``file:line: key`` prefix for messages.
        qualifiers: aliases allowed before a column name (``p``, ``e``); a mapping gives each a
            label for the sentence (``{"p": "platform", "e": "ERP"}``).
        param_prefix: parameter names are ``<prefix>_0``, ``<prefix>_1`` …; give each expression
            of one statement its own prefix.

    Raises:
        ConfigError: every problem found, each as ``"{where}: {problem}"``.
    """
    if kind not in ("value", "condition"):
        raise ValueError(f"kind must be 'value' or 'condition', not {kind!r}")
    if not _PREFIX.match(param_prefix):
        raise ValueError(f"param_prefix must be an identifier, not {param_prefix!r}")
    checker = _Checker(text, columns, qualifiers)
    tree = checker.parse()
    if tree is not None:
        checker.check(tree)
        checker.check_kind(tree, kind)
    if checker.problems:
        prefix = f"{where}: " if where else ""
        raise ConfigError([prefix + p for p in checker.problems])
    sentence = Sayer(text, checker.labels).say(tree)
    params: dict = {}
    tree = _lower(tree, checker, param_prefix, params)
    return Expr(text=text, kind=kind, sql=tree.sql(dialect="duckdb"), params=params,
                columns=frozenset(checker.used), sentence=sentence, tree=tree)


def unparen(node: exp.Expression) -> exp.Expression:
    while isinstance(node, exp.Paren):
        node = node.this
    return node


class _Checker:
    """Walks a parsed tree against the allow-list, collecting every problem."""

    def __init__(self, text, columns, qualifiers):
        self.text = text
        if isinstance(columns, Mapping):
            self.types = {str(k): str(v or "") for k, v in columns.items()}
        else:
            self.types = {str(k): "" for k in columns}
        self.by_lower = {k.lower(): k for k in self.types}
        quals = qualifiers if isinstance(qualifiers, Mapping) else {q: q for q in qualifiers}
        self.qualifiers = {q.lower(): q for q in quals}
        self.labels = dict(quals)
        self.problems: list[str] = []
        self.used: set[str] = set()
        self.resolved: dict[int, tuple[str | None, str]] = {}
        self.flags: set[int] = set()
        self.reciprocals: dict[int, Decimal] = {}

    # -- reporting ---------------------------------------------------------------------------
    def position(self, node) -> int | None:
        starts = [n.meta["start"] for n in node.walk() if "start" in (n._meta or {})]
        return min(starts) + 1 if starts else None

    def bad(self, node, problem: str, at: int | None = None):
        at = at or (self.position(node) if node is not None else None)
        shown = self.text if len(self.text) <= 80 else self.text[:77] + "..."
        where = f"at character {at} of `{shown}`" if at else f"in `{shown}`"
        self.problems.append(f"{problem} ({where})")

    def written(self, node) -> str:
        """The function name as the user wrote it (``ceiling``, ``random``), else sqlglot's."""
        meta = node._meta or {}
        if "start" in meta and "end" in meta:
            return self.text[meta["start"]: meta["end"] + 1].lower()
        if isinstance(node, exp.Anonymous):
            return str(node.this).lower()
        return node.sql_name().lower() if isinstance(node, exp.Func) else type(node).__name__

    # -- parsing -----------------------------------------------------------------------------
    def parse(self):
        if not self.text or not self.text.strip():
            self.bad(None, "the expression is empty")
            return None
        if len(self.text) > MAX_LENGTH:
            self.bad(None, f"the expression is longer than {MAX_LENGTH} characters")
            return None
        try:
            tokens = DuckDB().tokenize(self.text)
        except TokenError as exc:
            self.bad(None, f"cannot read the expression: {exc}")
            return None
        for tok in tokens:
            for comment in tok.comments:
                self.bad(None, f"comments are not allowed in a rule expression, they can hide "
                               f"text from the reader: {comment.strip()!r}")
            if tok.token_type == TokenType.SEMICOLON:
                self.bad(None, "';' is not allowed: a rule holds one expression, never a statement",
                         at=tok.start + 1)
        if self.problems:
            return None
        try:
            trees = sqlglot.parse(self.text, read="duckdb")
        except ParseError as exc:
            err = (exc.errors or [{}])[0]
            desc = str(err.get("description") or exc).split("\n")[0]
            self.bad(None, f"cannot parse: {desc}", at=err.get("col"))
            return None
        if len(trees) != 1 or trees[0] is None:
            self.bad(None, "a rule holds exactly one expression")
            return None
        return trees[0]

    # -- the allow-list ----------------------------------------------------------------------
    def check(self, node):
        if isinstance(node, exp.Paren):
            self.check(node.this)
        elif isinstance(node, exp.Column):
            self.column(node)
        elif isinstance(node, exp.Literal):
            self.literal(node)
        elif isinstance(node, (exp.Boolean, exp.Null)):
            pass
        elif isinstance(node, exp.Neg):
            self.check(node.this)
        elif isinstance(node, exp.Div):
            self.division(node)
        elif type(node) in _BINARY:
            self.check(node.this)
            self.check(node.expression)
        elif type(node) in (exp.And, exp.Or):
            for side in (node.this, node.expression):
                self.check(side)
                self.need_test(side, type(node).__name__.upper())
        elif type(node) is exp.Not:
            self.check(node.this)
            self.need_test(node.this, "NOT")
        elif type(node) is exp.Is:
            self.check(node.this)
            if not isinstance(node.expression, (exp.Null, exp.Boolean)):
                self.bad(node, "IS is only for IS NULL / IS NOT NULL / IS TRUE / IS FALSE")
        elif type(node) is exp.In:
            self.in_list(node)
        elif type(node) is exp.Between:
            for key in ("this", "low", "high"):
                self.check(node.args[key])
        elif type(node) is exp.Case:
            self.case(node)
        elif type(node) is exp.Cast:
            self.cast(node)
        elif type(node) in FUNCTIONS:
            self.function(node)
        else:
            self.reject(node)

    def column(self, node: exp.Column):
        if isinstance(node.this, exp.Star):
            self.bad(node, "* is not allowed: name the columns you mean")
            return
        if node.args.get("db") or node.args.get("catalog"):
            self.bad(node, f"`{node.sql()}`: a column takes at most one alias before it (p.amount)")
            return
        name, qual = node.name, node.table or None
        key = self.resolve(name, qual)
        if key is None:
            return self.unknown(node, name, qual)
        self.used.add(key)
        if "." in key:
            qual, name = key.split(".", 1)
        self.resolved[id(node)] = (qual, name)

    def resolve(self, name: str, qual: str | None) -> str | None:
        if qual is None:
            return self.by_lower.get(name.lower())
        full = self.by_lower.get(f"{qual}.{name}".lower())
        if full:
            return full
        q, col = self.qualifiers.get(qual.lower()), self.by_lower.get(name.lower())
        return f"{q}.{col}" if q and col and "." not in col else None

    def spellings(self) -> list[str]:
        plain = [k for k in self.types if "." not in k]
        qualified = [f"{q}.{c}" for q in self.qualifiers.values() for c in plain]
        return sorted(self.types) + qualified

    def unknown(self, node, name, qual):
        written = f"{qual}.{name}" if qual else name
        if qual and qual.lower() not in self.qualifiers and not any(
                k.lower().startswith(qual.lower() + ".") for k in self.types):
            allowed = ", ".join(f"{q}." for q in self.qualifiers.values()) or "none"
            self.bad(node, f"unknown alias {qual!r} in `{written}`; allowed aliases: {allowed}")
            return
        close = difflib.get_close_matches(written, self.spellings(), n=3, cutoff=0.6)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else "."
        known = ", ".join(sorted(self.types)) or "(none)"
        self.bad(node, f"unknown column {written!r}{hint} Known columns: {known}")

    def literal(self, node: exp.Literal):
        if node.is_string:
            return
        try:
            value = Decimal(node.this)
        except InvalidOperation:
            self.bad(node, f"{node.this!r} is not a number")
            return
        digits, exponent = (len(value.as_tuple().digits), value.as_tuple().exponent) \
            if value.is_finite() else (MAX_DIGITS + 1, 0)
        if max(digits, digits + exponent, -exponent) > MAX_DIGITS:
            self.bad(node, f"the number {node.this} has more than {MAX_DIGITS} digits")

    def division(self, node: exp.Div):
        self.check(node.this)
        self.check(node.expression)
        divisor = _constant(node.expression)
        recip = _reciprocal(divisor) if divisor is not None else None
        if recip is None:
            shown = node.expression.sql(dialect="duckdb")
            self.bad(node.expression, f"division by {shown} is not exact in decimal arithmetic "
                     "(DuckDB would compute it in floating point); only division by a number "
                     "like 2, 4, 5, 10 or 100 is allowed, so multiply instead: write "
                     "`fee <= amount * 0.006`, not `fee / amount <= 0.006`")
        else:
            self.reciprocals[id(node)] = recip

    def in_list(self, node: exp.In):
        self.check(node.this)
        if any(node.args.get(k) for k in ("query", "unnest", "field")):
            self.bad(node, "IN takes a list of values: x IN ('a', 'b')")
            return
        if not node.expressions:
            self.bad(node, "IN () needs at least one value")
        for item in node.expressions:
            if any(isinstance(n, exp.Column) for n in item.walk()):
                self.bad(item, "IN (...) lists values only, not columns")
            else:
                self.check(item)

    def case(self, node: exp.Case):
        simple = node.args.get("this")
        if simple is not None:
            self.check(simple)
        for branch in node.args.get("ifs") or []:
            if type(branch) is not exp.If:
                self.reject(branch)
                continue
            self.check(branch.this)
            if simple is None:
                self.need_test(branch.this, "WHEN")
            self.check(branch.args["true"])
        if node.args.get("default") is not None:
            self.check(node.args["default"])

    def cast(self, node: exp.Cast):
        self.check(node.this)
        to = node.args["to"]
        if to.this == exp.DataType.Type.DATE and isinstance(node.this, exp.Literal) \
                and node.this.is_string:
            try:
                date.fromisoformat(node.this.this)
            except ValueError:
                self.bad(node, f"{node.this.this!r} is not a date; write DATE 'YYYY-MM-DD'")
        extra = [k for k in ("format", "safe", "action", "default") if node.args.get(k)]
        if to.this not in _CAST_TYPES or extra or to.args.get("nested"):
            self.bad(node, f"CAST to {to.sql(dialect='duckdb')} is not allowed; cast to "
                           "DECIMAL(p,s), VARCHAR, DATE, INTEGER or BIGINT (never DOUBLE: money "
                           "stays exact)")
        elif to.this == exp.DataType.Type.DECIMAL:
            p, s = (_int(e.this) for e in to.expressions) if len(to.expressions) == 2 else (0, -1)
            if not (p and 1 <= p <= 38 and s is not None and 0 <= s <= p):
                self.bad(node, "DECIMAL needs a precision 1-38 and a scale 0-precision: "
                               "DECIMAL(18,2)")

    def function(self, node):
        skip = set()
        if type(node) in (exp.DateDiff, exp.DateTrunc, exp.TimestampTrunc):
            skip |= {"unit", "zone"}
            unit = node.args.get("unit")
            if not isinstance(unit, exp.Var) or unit.name.lower() not in DATE_PARTS:
                shown = unit.sql() if unit is not None else "nothing"
                self.bad(node, f"{self.written(node)}: the date part must be one of "
                               f"{', '.join(repr(p) for p in DATE_PARTS)}, not {shown}")
            if node.args.get("zone") is not None:
                self.bad(node, f"{self.written(node)}: a time zone is not allowed")
        flag_arg = _FLAG_ARGS.get(type(node))
        if flag_arg and node.args.get(flag_arg) is not None:
            skip.add(flag_arg)
            flags = node.args[flag_arg]
            if not (isinstance(flags, exp.Literal) and flags.is_string
                    and set(flags.this) <= set(REGEX_FLAGS)):
                self.bad(flags, f"regex flags must be a string of the letters {REGEX_FLAGS!r}")
            else:
                self.flags.add(id(flags))
        if type(node) is exp.Round and node.args.get("decimals") is not None:
            skip.add("decimals")
            places = node.args["decimals"]
            if not (isinstance(places, exp.Literal) and not places.is_string
                    and _int(places.this) is not None and 0 <= _int(places.this) <= 18):
                self.bad(places, "round(x, n): n must be a whole number from 0 to 18")
        for key, value in node.args.items():
            if key in skip:
                continue
            for child in value if isinstance(value, list) else [value]:
                if isinstance(child, exp.Expression):
                    self.check(child)

    def reject(self, node):
        name = self.written(node)
        if isinstance(node, exp.Window):
            problem = "window functions (OVER …) are not allowed: a rule looks at one row at a time"
        elif isinstance(node, exp.AggFunc):
            problem = (f"aggregate function {name}() is not allowed: a rule looks at one row "
                       "(or one pair of rows) at a time")
        elif isinstance(node, (exp.Subquery, exp.Select, exp.Exists, exp.Query)):
            problem = "subqueries (SELECT …) are not allowed"
            found = self.text.lower().find("select")
            self.bad(node, problem, at=found + 1 if found >= 0 else None)
            return
        elif isinstance(node, exp.Star):
            problem = "* is not allowed: name the columns you mean"
        elif isinstance(node, (exp.Placeholder, exp.Parameter)):
            shown = node.sql(dialect="duckdb")
            problem = f"parameter {shown} is not allowed: write the value itself"
        elif isinstance(node, exp.Alias):
            problem = "a name after an expression (an alias) is not allowed"
        elif isinstance(node, _NOT_REPEATABLE) or name in _NOT_REPEATABLE_NAMES:
            problem = (f"{name}() is not allowed: its result changes from run to run, so the "
                       "reconciliation would not be repeatable; use a column instead")
        elif name.startswith("read_") or name.endswith("_scan") or name in _READS_FILES:
            problem = f"{name}() is not allowed: rule expressions cannot read files"
        elif name in _ENVIRONMENT:
            problem = f"{name}() is not allowed: rule expressions cannot read the environment"
        elif isinstance(node, (exp.Func, exp.Anonymous)) and not isinstance(node, exp.Binary):
            problem = (f"function {name}() is not allowed; allowed functions: "
                       f"{', '.join(ALLOWED_FUNCTIONS)}")
        else:
            shown = node.sql(dialect="duckdb")
            shown = shown if len(shown) <= 40 else shown[:37] + "..."
            problem = f"`{shown}` ({type(node).__name__}) is not part of the rule language"
        self.bad(node, problem)

    # -- true/false versus value -------------------------------------------------------------
    def is_test(self, node) -> bool | None:
        """True for a true/false test, False for a value, None when it cannot be told."""
        node = unparen(node)
        if isinstance(node, (*COMPARISONS, *TESTS, exp.And, exp.Or, exp.Not, exp.Is, exp.In,
                             exp.Between, exp.Boolean)):
            return True
        if isinstance(node, exp.Column):
            key = self.resolve(node.name, node.table or None)
            kind = self.types.get(key or "", "") or self.types.get((key or "").split(".")[-1], "")
            return kind.upper().startswith("BOOL") if kind else None
        if isinstance(node, exp.Null):
            return None
        if isinstance(node, exp.Case):
            outs = [b.args.get("true") for b in node.args.get("ifs") or []]
            outs += [node.args["default"]] if node.args.get("default") is not None else []
            seen = {self.is_test(o) for o in outs if o is not None} - {None}
            return seen.pop() if len(seen) == 1 else None
        if isinstance(node, (exp.Coalesce, exp.Nullif)):
            return self.is_test(node.this)
        return False

    def need_test(self, node, op: str):
        if self.is_test(node) is False:
            self.bad(node, f"{op} combines true/false tests, but `{node.sql()}` is a value; "
                           "compare it with something (e.g. `x = 0`)")

    def check_kind(self, tree, kind: str):
        test = self.is_test(tree)
        if self.problems:
            return
        if kind == "condition" and test is not True:
            self.bad(tree, "a condition must be a true/false test (a comparison like "
                           "`difference <= 0.01`, AND/OR/NOT, IS NULL, IN, BETWEEN, LIKE, "
                           "regexp_matches …), not a value")
        if kind == "value" and test is True:
            self.bad(tree, "a value is expected here (an amount, a text, a date), "
                           "not a true/false test")


# -- compiling the checked tree ------------------------------------------------------------
def _int(text) -> int | None:
    try:
        return int(str(text))
    except ValueError:
        return None


def _constant(node) -> Decimal | None:
    """The value of a numeric literal, possibly negated and parenthesised."""
    node, sign = unparen(node), 1
    while isinstance(node, exp.Neg):
        node, sign = unparen(node.this), -sign
    if isinstance(node, exp.Literal) and not node.is_string:
        try:
            return sign * Decimal(node.this)
        except InvalidOperation:
            return None
    return None


def _reciprocal(d: Decimal) -> Decimal | None:
    """1/d when it is a finite decimal (d = 2^a 5^b 10^k), else None."""
    if d == 0:
        return None
    with localcontext() as ctx:
        ctx.prec = 60
        ctx.clear_flags()
        r = Decimal(1) / d
        if ctx.flags[Inexact]:
            return None
    return r.normalize()


def _number(value: Decimal) -> exp.Expression:
    """A numeric literal for SQL: whole numbers as integers, others as exact minimal DECIMALs.

    Minimal, not DECIMAL(38,s): DuckDB gives GREATEST/CASE/COALESCE over DECIMAL(18,2) and
    DECIMAL(38,1) the type DECIMAL(38,1), silently rounding the cents away.
    """
    sign, digits, exponent = value.as_tuple()
    if exponent >= 0:
        return exp.Literal.number(str(int(value)))
    scale = -exponent
    literal = exp.Literal.number(format(abs(value), "f"))
    to = exp.DataType.build(f"DECIMAL({max(len(digits), scale)}, {scale})")
    node = exp.Cast(this=literal, to=to)
    return exp.Neg(this=node) if sign else node


def _rebuild(node, fn):
    """Post-order rewrite in place; types and date parts are syntax and are left alone."""
    if isinstance(node, (exp.DataType, exp.Var)):
        return node
    for key, value in list(node.args.items()):
        if isinstance(value, exp.Expression):
            node.set(key, _rebuild(value, fn))
        elif isinstance(value, list):
            node.set(key, [_rebuild(v, fn) if isinstance(v, exp.Expression) else v for v in value])
    return fn(node)


def _lower(tree, checker: _Checker, prefix: str, params: dict):
    def fn(node):
        if isinstance(node, exp.Column):
            qual, name = checker.resolved[id(node)]
            return column_node(name, qual)
        if isinstance(node, exp.Literal) and node.is_string and id(node) not in checker.flags:
            key = f"{prefix}_{len(params)}"
            params[key] = node.this
            return exp.Placeholder(this=key)
        if isinstance(node, exp.Literal) and not node.is_string:
            return _number(Decimal(node.this))
        if isinstance(node, exp.Div):
            return exp.Mul(this=node.this, expression=_number(checker.reciprocals[id(node)]))
        return node

    return _rebuild(tree, fn)


# -- the sentence a clerk reads ------------------------------------------------------------
_SAY_OP = {exp.Add: "+", exp.Sub: "−", exp.Mul: "×", exp.Div: "÷", exp.Mod: "mod",
           exp.DPipe: "followed by"}
_SAY_CMP = {exp.EQ: "is", exp.NEQ: "is not", exp.LT: "is less than", exp.LTE: "is at most",
            exp.GT: "is more than", exp.GTE: "is at least",
            exp.NullSafeEQ: "is the same as", exp.NullSafeNEQ: "is not the same as"}
_SAY_TEST = {exp.RegexpLike: ("matches the pattern", "does not match the pattern"),
             exp.Contains: ("contains", "does not contain"),
             exp.StartsWith: ("starts with", "does not start with"),
             exp.EndsWith: ("ends with", "does not end with"),
             exp.Like: ("is like", "is not like"), exp.ILike: ("is like", "is not like")}


def _group(words: str) -> str:
    return f"({words})" if " " in words and not (words[0] == "(" and words[-1] == ")") else words


class Sayer:
    """Renders a checked tree as a plain sentence (columns and values exactly as written)."""

    def __init__(self, text: str, labels: Mapping[str, str]):
        self.text = text
        self.labels = {k.lower(): v for k, v in labels.items()}

    def say(self, n) -> str:  # noqa: C901 - one branch per construct reads best as a table
        s = self.say
        if isinstance(n, exp.Paren):
            return f"({s(n.this)})"
        if isinstance(n, exp.Column):
            qual = n.table
            label = self.labels.get(qual.lower()) if qual else None
            if label and label != qual:
                return f"{label} {n.name}"
            return f"{qual}.{n.name}" if qual else n.name
        if isinstance(n, exp.Literal):
            return f"'{n.this}'" if n.is_string else n.this
        if isinstance(n, exp.Boolean):
            return "true" if n.this else "false"
        if isinstance(n, exp.Null):
            return "empty"
        if isinstance(n, exp.Neg):
            return f"−{s(n.this)}"
        if type(n) in _SAY_OP:
            return f"{s(n.this)} {_SAY_OP[type(n)]} {s(n.expression)}"
        if type(n) in _SAY_CMP:
            return f"{s(n.this)} {_SAY_CMP[type(n)]} {s(n.expression)}"
        if type(n) in (exp.And, exp.Or):
            return f"{s(n.this)} {type(n).__name__.lower()} {s(n.expression)}"
        if type(n) is exp.Not:
            return self.negated(n.this)
        if type(n) in _SAY_TEST or type(n) in (exp.Is, exp.In, exp.Between):
            return self.test(n, negate=False)
        if type(n) is exp.Case:
            return self.case(n)
        if type(n) is exp.Cast:
            if isinstance(n.this, exp.Literal) and n.this.is_string:
                return f"{n.to.sql().lower()} '{n.this.this}'"
            return f"{s(n.this)} as {n.to.sql(dialect='duckdb').lower()}"
        if type(n) is exp.DateDiff:
            unit = n.args["unit"].name.lower()
            return f"{unit}s from {s(n.expression)} to {s(n.this)}"
        if type(n) in (exp.Year, exp.Month, exp.Day):
            return f"{type(n).__name__.lower()} of {_group(s(n.this))}"
        if type(n) in (exp.DateTrunc, exp.TimestampTrunc):
            return f"start of the {n.args['unit'].name.lower()} of {_group(s(n.this))}"
        if type(n) in (exp.Left, exp.Right):
            end = "first" if type(n) is exp.Left else "last"
            return f"the {end} {s(n.expression)} characters of {_group(s(n.this))}"
        if type(n) is exp.RegexpReplace and n.args.get("replacement") is not None:
            flags = n.args.get("modifiers")
            which = "every match" if flags is not None and "g" in flags.this else "the first match"
            return (f"{_group(s(n.this))} with {which} of {s(n.expression)} replaced by "
                    f"{s(n.args['replacement'])}")
        if type(n) is exp.Coalesce:
            args = [n.this, *n.expressions]
            if len(args) == 2:
                return f"{s(args[0])} (or {s(args[1])} if empty)"
            return "the first non-empty of " + ", ".join(s(a) for a in args)
        return self.call(n)

    def call(self, n) -> str:
        meta = n._meta or {}
        name = (self.text[meta["start"]: meta["end"] + 1].lower() if "start" in meta
                else FUNCTIONS.get(type(n), n.sql_name().lower()))
        args = []
        for key in type(n).arg_types:
            value = n.args.get(key)
            for child in value if isinstance(value, list) else [value]:
                if isinstance(child, exp.Expression):
                    args.append(self.say(child))
        return f"{name}({', '.join(args)})"

    def test(self, n, negate: bool) -> str:
        s, no = self.say, " not" if negate else ""
        if type(n) is exp.Is:
            what = "empty" if isinstance(n.expression, exp.Null) else s(n.expression)
            return f"{s(n.this)} is{no} {what}"
        if type(n) is exp.In:
            return f"{s(n.this)} is{no} one of {', '.join(s(e) for e in n.expressions)}"
        if type(n) is exp.Between:
            return f"{s(n.this)} is{no} between {s(n.args['low'])} and {s(n.args['high'])}"
        words = _SAY_TEST[type(n)][1 if negate else 0]
        tail = " (ignoring case)" if type(n) is exp.ILike else ""
        return f"{s(n.this)} {words} {s(n.expression)}{tail}"

    def negated(self, n) -> str:
        if type(n) in _SAY_TEST or type(n) in (exp.Is, exp.In, exp.Between):
            return self.test(n, negate=True)
        return f"not {self.say(n)}"

    def case(self, n) -> str:
        simple = n.args.get("this")
        parts = []
        for branch in n.args.get("ifs") or []:
            when = self.say(branch.this)
            if simple is not None:
                when = f"{self.say(simple)} is {when}"
            parts.append(f"if {when} then {self.say(branch.args['true'])}")
        if n.args.get("default") is not None:
            parts.append(f"otherwise {self.say(n.args['default'])}")
        return "(" + "; ".join(parts) + ")"
