"""Matching rules and channel configuration, loaded strictly from YAML.

``rules/default.yaml`` holds the ordered match passes; ``rules/channels.yaml`` says how each
channel appears in the ERP (客户 names) and how long it takes to settle. Both are data: a user
copies them and passes ``--rules`` / ``--channels``. Every problem is reported at once with
file:line.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from recon.config import Problems, load_yaml
from recon.errors import ConfigError
from recon.sql.expr import Expr, compile_expr
from recon.store import LINE_TYPES
from recon.resources import rules_dir

PASS_KEYS = {"name", "leg", "description", "platform_line_types", "erp_line_types", "bank_line_types", "key",
             "tolerance", "tolerance_relative", "date_window_days", "group_by", "key_length"}
# What an order-leg key expression may read: the universe's text columns (recon.engine.match).
KEY_COLUMNS = {"order_no": "VARCHAR", "channel": "VARCHAR", "account": "VARCHAR", "line_type": "VARCHAR",
               "currency": "VARCHAR", "source": "VARCHAR"}
GROUP_BY = ("payout_ref",)
# Bounds that keep a rule meaningful and every amount inside DECIMAL(18,2): a tolerance above a
# million matches anything with anything; a window or lag of more than a year spans two closes.
MAX_TOLERANCE = Decimal("1000000.00")
MAX_DAYS = 366
# An order group sums both sides of an order: each platform line type needs its ERP counterpart.
ORDER_PAIRS = (("sale", "receivable"), ("refund", "credit_note"))
SIDES = {"platform_line_types": "platform", "erp_line_types": "erp", "bank_line_types": "bank"}
FEE_BOOKING = ("auto", "per_order", "monthly", "next_period")


@dataclass(frozen=True)
class MatchPass:
    name: str
    leg: str
    description: str
    platform_line_types: tuple
    erp_line_types: tuple
    key: Expr | None  # the validated key expression (order leg); None means order_no as imported
    tolerance: Decimal
    bank_line_types: tuple = ()
    tolerance_relative: Decimal = Decimal("0")  # a fraction of the ERP amount; the larger allowance wins
    date_window_days: tuple = (0, 0)  # bank date − platform date, inclusive bounds (cash leg)
    group_by: str | None = None  # cash leg: platform lines bundled by this explicit key
    key_length: int = 8  # short_key leg: how many trailing letters and digits of the order number are the key


@dataclass(frozen=True)
class Rules:
    source: str
    sha256: str
    passes: tuple


@dataclass(frozen=True)
class Channel:
    code: str
    name: str
    erp_customers: tuple  # exact names, compared normalised (recon.engine.customers.channel_key)
    settlement_lag_days: int
    # how the ERP books this channel's platform fees (recon.engine.cases): per_order, monthly (one fee
    # document per period), next_period (when the invoice arrives); auto = next_period when the
    # period's ERP export holds no fee document for the channel, else monthly
    fee_booking: str = "auto"
    # (kind, pattern) with kind contains or regex, tried on the normalised name when no exact name fits
    customer_patterns: tuple = ()

    def customer_rows(self) -> list[tuple[str, str, str]]:
        """(kind, pattern, channel) rows of the run's customer map (``recon.engine.customers``)."""
        return ([("exact", c, self.code) for c in self.erp_customers]
                + [(kind, pat, self.code) for kind, pat in self.customer_patterns])


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_rules(path: Path | None = None) -> Rules:
    path = Path(path) if path else rules_dir() / "default.yaml"
    data, lines = load_yaml(path)
    problems = Problems(lines)
    if not isinstance(data, dict):
        problems.add((), "a rules file is a mapping with version: 1 and passes: [...]")
        problems.raise_if_any()
    problems.unknown_keys(data, {"version", "passes"}, ())
    if data.get("version") != 1:
        problems.add(("version",), "version: 1 is required")
    from recon.engine.match import LEGS  # the engine's registry of pass kinds (it imports this module)
    passes = []
    seen = set()
    for i, p in enumerate(data.get("passes") or []):
        path_i = ("passes", i)
        if not isinstance(p, dict):
            problems.add(path_i, "each pass is a mapping with name, leg, key, …")
            continue
        problems.unknown_keys(p, PASS_KEYS, path_i)
        name = p.get("name")
        if not name:
            problems.add(path_i, "a pass needs a name")
        elif name in seen:
            problems.add(path_i + ("name",), f"duplicate pass name {name!r}")
        seen.add(name)
        if p.get("leg") not in LEGS:
            problems.add(path_i + ("leg",), f"leg must be one of {', '.join(LEGS)}")
        key = None
        if p.get("leg") == "order":
            try:
                key = compile_expr(str(p.get("key", "order_no")), KEY_COLUMNS, kind="value",
                                   where=lines.at(path_i + ("key",)) + f": passes.{i}.key", param_prefix=f"k{i}")
            except ConfigError as exc:
                problems.items.extend(exc.problems)
        try:
            tol = Decimal(str(p.get("tolerance", "0.00")))
            if isinstance(p.get("tolerance"), bool) or not tol.is_finite() or tol < 0 or tol > MAX_TOLERANCE:
                raise InvalidOperation
        except InvalidOperation:
            problems.add(path_i + ("tolerance",), "tolerance must be an amount from 0 to "
                         f"{MAX_TOLERANCE:,} like \"0.01\" (found {p.get('tolerance')!r})")
            tol = Decimal("0")
        try:
            rel = Decimal(str(p.get("tolerance_relative", "0")))
            if rel < 0 or rel >= 1:
                raise InvalidOperation
        except InvalidOperation:
            problems.add(path_i + ("tolerance_relative",), "tolerance_relative must be a fraction like \"0.001\"")
            rel = Decimal("0")
        for side, family in SIDES.items():
            types = p.get(side, [])
            if not isinstance(types, list):
                problems.add(path_i + (side,), "must be a list of line types")
                continue
            known = LINE_TYPES[family]
            for j, t in enumerate(types):
                if not isinstance(t, str) or t not in known:
                    problems.add(path_i + (side, j), f"unknown {family} line type {t!r} (known: {', '.join(known)})")
        if p.get("leg") == "order" and isinstance(p.get("platform_line_types"), list) \
                and isinstance(p.get("erp_line_types"), list):
            for plat, erp in ORDER_PAIRS:
                if (plat in p["platform_line_types"]) != (erp in p["erp_line_types"]):
                    problems.add(path_i + ("platform_line_types",),
                                 f"an order pass takes {plat} lines on the platform side exactly when it takes "
                                 f"{erp} lines on the ERP side (a group would otherwise pair a {plat} with the "
                                 f"wrong document and could not balance): list both or neither")
        other = "bank_line_types" if p.get("leg") == "cash" else "erp_line_types"
        if p.get("leg") in LEGS and p.get("leg") != "trade_fund" and (not p.get("platform_line_types")
                                                                     or not p.get(other)):
            problems.add(path_i, f"a {p.get('leg')} pass needs platform_line_types and {other}")
        window = p.get("date_window_days", [0, 0])
        if (not isinstance(window, list) or len(window) != 2
                or not all(isinstance(d, int) and not isinstance(d, bool) and abs(d) <= MAX_DAYS for d in window)
                or window[0] > window[1]):
            problems.add(path_i + ("date_window_days",),
                         f"must be [min, max] whole days from -{MAX_DAYS} to {MAX_DAYS}, e.g. [0, 3]")
            window = [0, 0]
        key_length = p.get("key_length", 8)
        if not isinstance(key_length, int) or isinstance(key_length, bool) or not 4 <= key_length <= 64:
            problems.add(path_i + ("key_length",), f"key_length must be a whole number from 4 to 64 (found {key_length!r})")
            key_length = 8
        if p.get("group_by") is not None and p.get("group_by") not in GROUP_BY:
            problems.add(path_i + ("group_by",), f"group_by must be one of {', '.join(GROUP_BY)}")
        passes.append(MatchPass(
            name=str(name), leg=str(p.get("leg")), description=str(p.get("description", "")),
            platform_line_types=tuple(p.get("platform_line_types") or ()),
            erp_line_types=tuple(p.get("erp_line_types") or ()),
            key=key, tolerance=tol,
            bank_line_types=tuple(p.get("bank_line_types") or ()),
            date_window_days=tuple(window), group_by=p.get("group_by"), tolerance_relative=rel,
            key_length=key_length))
    problems.raise_if_any()
    return Rules(str(path), file_sha256(path), tuple(passes))


def load_channels(path: Path | None = None) -> list[Channel]:
    path = Path(path) if path else rules_dir() / "channels.yaml"
    data, lines = load_yaml(path)
    problems = Problems(lines)
    if not isinstance(data, dict) or not isinstance(data.get("channels"), dict):
        problems.add((), "a channels file is a mapping with version: 1 and channels: {code: {...}}")
        problems.raise_if_any()
    problems.unknown_keys(data, {"version", "channels"}, ())
    out, named = [], []
    for code, c in data["channels"].items():
        if not isinstance(c, dict):
            problems.add(("channels", code), "each channel is a mapping")
            continue
        problems.unknown_keys(c, {"name", "erp_customers", "settlement_lag_days", "fee_booking"}, ("channels", code))
        booking = c.get("fee_booking", "auto")
        if booking not in FEE_BOOKING:
            problems.add(("channels", code, "fee_booking"), f"fee_booking must be one of {', '.join(FEE_BOOKING)}")
            booking = "auto"
        lag = c.get("settlement_lag_days", 1)
        if not isinstance(lag, int) or isinstance(lag, bool) or not 0 <= lag <= MAX_DAYS:
            problems.add(("channels", code, "settlement_lag_days"),
                         f"must be a whole number of days from 0 to {MAX_DAYS} (found {lag!r})")
            lag = 1
        names, patterns = _customers(c.get("erp_customers"), ("channels", code, "erp_customers"), problems)
        named += [(str(code), i, item) for i, item in enumerate(c.get("erp_customers") or ()) if item in names]
        out.append(Channel(str(code), str(c.get("name", code)), names, lag, booking, patterns))
    _one_channel_per_name(named, problems)
    problems.raise_if_any()
    return out


def _one_channel_per_name(named, problems) -> None:
    """A name two channels list (once normalised, as the run compares them) would map to neither."""
    if not named:
        return
    import duckdb

    from recon.engine.customers import channel_key
    from recon.sql.dialect import DUCKDB

    con = duckdb.connect()
    try:
        keys = con.execute(f"SELECT {DUCKDB.list_transform('$n', 'x', channel_key(DUCKDB, 'x'))}",
                           {"n": [name for _, _, name in named]}).fetchone()[0]
    finally:
        con.close()
    first: dict = {}
    for (code, i, name), key in zip(named, keys):
        other = first.setdefault(key, (code, name))
        if other[0] != code:
            problems.add(("channels", code, "erp_customers", i),
                         f"{name!r} is the same customer name as {other[1]!r} of channel {other[0]} once normalised "
                         "(full-width forms, spaces, brackets, company suffix): list it under one channel")


CUSTOMER_KINDS = ("contains", "regex")
MAX_PATTERN = 200  # characters: a customer pattern is a name or a short expression, not a program


def _customers(items, at, problems) -> tuple[tuple, tuple]:
    """``erp_customers``: names (matched exactly once normalised) and ``{contains: …}`` / ``{regex: …}`` items.

    A regex is RE2 (what DuckDB runs, in linear time whatever the input): it is compiled here, by
    DuckDB itself, so a pattern RE2 refuses (a look-ahead, a back-reference) is a config error with
    its line, never a failing step.
    """
    if items is None:
        return (), ()
    if not isinstance(items, list):
        problems.add(at, "erp_customers is a list of 客户 names or {contains: TEXT} / {regex: RE2} items")
        return (), ()
    names, patterns = [], []
    for i, item in enumerate(items):
        if isinstance(item, str) and item.strip():
            names.append(item)
            continue
        if not (isinstance(item, dict) and len(item) == 1 and next(iter(item)) in CUSTOMER_KINDS
                and isinstance(next(iter(item.values())), str) and next(iter(item.values())).strip()):
            problems.add(at + (i,), "each item is a 客户 name, {contains: TEXT} or {regex: RE2 expression} "
                         f"(found {item!r})")
            continue
        kind, pattern = next(iter(item.items()))
        if len(pattern) > MAX_PATTERN:
            problems.add(at + (i, kind), f"a {kind} pattern is at most {MAX_PATTERN} characters")
            continue
        if kind == "regex":
            why = _re2_problem(pattern)
            if why:
                problems.add(at + (i, kind), f"not a regular expression DuckDB (RE2) accepts: {why}; "
                             "RE2 has no look-around or back-references")
                continue
            if re.search(r"(?<!\\)[A-Z]|[ \u3000\uff01-\uff5e]", pattern):
                problems.add(at + (i, kind), "a regex is tried on the normalised name (lower case, half-width, "
                             f"no spaces), so {pattern!r} can never match there: write it that way")
                continue
        patterns.append((kind, pattern))
    return tuple(names), tuple(patterns)


def _re2_problem(pattern: str) -> str | None:
    """DuckDB's (RE2's) complaint about ``pattern``, bound as a parameter; None when it compiles."""
    import duckdb

    con = duckdb.connect()
    try:
        con.execute("SELECT regexp_matches('', $p)", {"p": pattern}).fetchall()
    except duckdb.Error as exc:
        return str(exc).splitlines()[0].split("Error: ", 1)[-1]
    finally:
        con.close()
    return None


FEE_KEYS = {"name", "channel", "line_types", "raw_types", "desc_contains", "base", "formula", "cites"}
FEE_BASES = ("order_sales", "line")


@dataclass(frozen=True)
class FeeRule:
    name: str
    channel: str
    line_types: tuple
    raw_types: tuple
    desc_contains: str | None
    base: str
    formula: Expr
    cites: str


@dataclass(frozen=True)
class FeeRules:
    source: str
    sha256: str
    rules: tuple


def load_fees(path: Path | None = None) -> FeeRules:
    """``rules/fees.yaml``: per channel, the contract formula each charged fee must follow."""
    path = Path(path) if path else rules_dir() / "fees.yaml"
    data, lines = load_yaml(path)
    problems = Problems(lines)
    if not isinstance(data, dict) or not isinstance(data.get("fees"), list):
        problems.add((), "a fees file is a mapping with version: 1 and fees: [...]")
        problems.raise_if_any()
    problems.unknown_keys(data, {"version", "fees"}, ())
    if data.get("version") != 1:
        problems.add(("version",), "version: 1 is required")
    out, seen = [], set()
    for i, f in enumerate(data["fees"]):
        at = ("fees", i)
        if not isinstance(f, dict):
            problems.add(at, "each fee rule is a mapping with name, channel, base and formula")
            continue
        problems.unknown_keys(f, FEE_KEYS, at)
        for req in ("name", "channel", "base", "formula"):
            if not f.get(req):
                problems.add(at, f"missing required key '{req}'")
        if f.get("name") in seen:
            problems.add(at + ("name",), f"duplicate fee rule name {f.get('name')!r}")
        seen.add(f.get("name"))
        base = f.get("base")
        if base and base not in FEE_BASES:
            problems.add(at + ("base",), f"base must be one of {', '.join(FEE_BASES)}")
        if base == "order_sales" and not f.get("line_types"):
            problems.add(at, "a fee rule with base order_sales needs line_types (the fee lines it checks)")
        formula = None
        if f.get("formula"):
            try:
                formula = compile_expr(str(f["formula"]), {"subtotal": "DECIMAL(18,2)"}, kind="value",
                                       where=lines.at(at + ("formula",)) + f": fees.{i}.formula",
                                       param_prefix=f"f{i}")
            except ConfigError as exc:
                problems.items.extend(exc.problems)
        out.append(FeeRule(str(f.get("name")), str(f.get("channel")), tuple(f.get("line_types") or ()),
                           tuple(f.get("raw_types") or ()), f.get("desc_contains"), str(base), formula,
                           str(f.get("cites", ""))))
    problems.raise_if_any()
    return FeeRules(str(path), file_sha256(path), tuple(out))
