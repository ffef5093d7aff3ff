"""The known-discrepancy dictionary: entries as data, loaded and linted with file:line messages.

A dictionary file (``dictionaries/default.yaml``; users add their own with ``--dictionary``) lists
entries, each a cause finance teams meet again and again: its code and names, the channels and the
kinds of case it applies to, when it happens and what it does to the books, a *detection* (a
condition in the rule-expression language over the case variables of ``recon.engine.cases``), the
correction voucher it calls for, and examples that ``recon dict test`` runs through the real engine.
Several files merge in order, a later entry replacing an earlier one with the same code, so a user
can override one entry without copying the rest.

Every problem of every file is collected and raised once (``ConfigError``), each as
``file:line: key.path: message``; expressions are checked by ``recon.sql.expr`` (an allow-list of
syntax-tree nodes), so nothing a dictionary says can read a file, the environment, or run a statement.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from recon import store
from recon.config import Problems, load_yaml
from recon.engine.cases import CASE_COLUMNS
from recon.errors import ConfigError
from recon.money import from_float
from recon.resources import dictionaries_dir
from recon.sql.expr import Expr, compile_expr
from recon.sql.quote import quote_ident

ENTRY_KEYS = {"code", "name_zh", "name_en", "channels", "applies_to", "priority", "blocks_close", "timing", "scenario",
              "impact", "detect", "partial", "residual", "correction", "examples"}
REQUIRED = ("code", "name_zh", "name_en", "scenario", "impact", "detect", "correction")
CASE_KINDS = ("order", "fee_group", "line")
CORRECTION_KEYS = {"explanation", "basis", "lines"}
LINE_KEYS = {"account", "side", "amount"}
EXAMPLE_KEYS = {"name", "fires", "period", "platform", "erp", "bank", "audit", "fx", "expect"}
EXAMPLE_FAMILIES = ("platform", "erp", "bank", "audit", "fx")
STATUSES = ("matched", "known", "unknown", "review")
_CODE = re.compile(r"^[A-Z][A-Z0-9_]{1,63}$")
_ACCOUNT = re.compile(r"^[a-z][a-z0-9_]{1,63}$")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
# what an explanation template may name besides the case variables
TEMPLATE_EXTRA = {"code", "name_zh", "name_en"}


@dataclass(frozen=True)
class CorrectionLine:
    """One line of the voucher template: an account key, a side, and an amount expression.

    A negative evaluated amount posts to the other side, so one template serves a fee charged
    and a fee returned; a zero amount writes no line.
    """

    account: str
    side: str
    amount: Expr


@dataclass(frozen=True)
class Correction:
    explanation: str
    basis: str
    lines: tuple


@dataclass(frozen=True)
class Example:
    name: str
    fires: bool
    period: str
    rows: dict  # family -> tuple of {field: value} (``id`` labels the line for ``expect``)
    expect: dict  # label -> "status" or "status:CODE"
    where: str


@dataclass(frozen=True)
class Entry:
    code: str
    name_zh: str
    name_en: str
    channels: tuple
    applies_to: tuple
    priority: int
    blocks_close: bool
    scenario: str
    impact: str
    detect: Expr
    partial: Expr | None
    residual: Expr | None
    correction: Correction
    examples: tuple
    where: str  # file:line of the entry
    # a timing difference: its counterpart is expected next period, so a line this entry explains at
    # period end is carried into the next period's run (``recon.engine.carry_forward``)
    timing: bool = False

    def sentence(self) -> str:
        """The detection as a clerk reads it, with the channel and case-kind limits."""
        scope = f" (channels: {', '.join(self.channels)})" if self.channels else ""
        return f"{self.detect.sentence}{scope}; applies to {', '.join(self.applies_to)} cases"


@dataclass(frozen=True)
class Dictionary:
    entries: tuple  # highest priority first, then by code
    sources: tuple  # (file name, sha256) of every file merged
    by_code: dict = field(hash=False, compare=False, default_factory=dict)

    def entry(self, code: str) -> Entry:
        return self.by_code[code]

    def timing_codes(self) -> tuple:
        """The codes of the entries marked ``timing: true``, sorted."""
        return tuple(sorted(e.code for e in self.entries if e.timing))


def default_path() -> Path:
    return dictionaries_dir() / "default.yaml"


def load_dictionaries(paths=None) -> Dictionary:
    """Load and merge dictionary files (None: the shipped ``default.yaml``); later files override by code.

    Raises:
        ConfigError: every problem of every file at once, each with file:line.
    """
    paths = [Path(p) for p in paths] if paths else [default_path()]
    problems: list[str] = []
    merged: dict = {}
    sources = []
    for path in paths:
        try:
            entries = _load_file(path)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        sources.append((path.name, hashlib.sha256(path.read_bytes()).hexdigest()))
        for e in entries:
            merged[e.code] = e
    if problems:
        raise ConfigError(problems)
    ordered = tuple(sorted(merged.values(), key=lambda e: (-e.priority, e.code)))
    return Dictionary(ordered, tuple(sources), {e.code: e for e in ordered})


def lint(paths=None) -> Dictionary:
    """`recon dict lint`: the same checks as loading, named for the command."""
    return load_dictionaries(paths)


def _load_file(path: Path) -> list[Entry]:
    data, lines = load_yaml(path)
    problems = Problems(lines)
    if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
        problems.add((), "a dictionary file is a mapping with version: 1 and entries: [...]")
        problems.raise_if_any()
    problems.unknown_keys(data, {"version", "entries"}, ())
    if data.get("version") != 1:
        problems.add(("version",), "version: 1 is required")
    out, seen = [], set()
    for i, raw in enumerate(data["entries"]):
        at = ("entries", i)
        if not isinstance(raw, dict):
            problems.add(at, "each entry is a mapping with code, name_zh, name_en, detect, correction, …")
            continue
        entry = _entry(raw, at, lines, problems)
        if entry is None:
            continue
        if entry.code in seen:
            problems.add(at + ("code",), f"duplicate code {entry.code!r} in this file")
        seen.add(entry.code)
        out.append(entry)
    problems.raise_if_any()
    return out


def _expr(raw, key, at, lines, problems, kind, prefix) -> Expr | None:
    text = raw.get(key)
    if text is None:
        return None
    if not isinstance(text, str):
        problems.add(at + (key,), f"{key} must be an expression in quotes")
        return None
    dotted = ".".join(str(p) for p in at + (key,))
    try:
        return compile_expr(text, CASE_COLUMNS, kind=kind, where=f"{lines.at(at + (key,))}: {dotted}",
                            param_prefix=prefix)
    except ConfigError as exc:
        problems.items.extend(exc.problems)
        return None


def _text(raw, key, at, problems, required=True) -> str:
    value = raw.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            problems.add(at, f"missing required key '{key}'")
        return ""
    if not isinstance(value, str):
        problems.add(at + (key,), f"{key} must be text")
        return ""
    return value


def _entry(raw, at, lines, problems) -> Entry | None:
    problems.unknown_keys(raw, ENTRY_KEYS, at)
    for req in REQUIRED:
        if raw.get(req) in (None, ""):
            problems.add(at, f"missing required key '{req}'")
    code = raw.get("code")
    if not isinstance(code, str) or not _CODE.match(code):
        if code is not None:
            problems.add(at + ("code",), f"code {code!r} must be UPPER_SNAKE_CASE letters, digits and _")
        return None
    prefix = code.lower()
    detect = _expr(raw, "detect", at, lines, problems, "condition", f"{prefix}_d")
    partial = _expr(raw, "partial", at, lines, problems, "value", f"{prefix}_p")
    residual = _expr(raw, "residual", at, lines, problems, "value", f"{prefix}_r")
    channels = raw.get("channels") or []
    if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
        problems.add(at + ("channels",), "channels is a list of channel codes (rules/channels.yaml), e.g. [jd]")
        channels = []
    kinds = raw.get("applies_to") or list(CASE_KINDS)
    if not isinstance(kinds, list) or any(k not in CASE_KINDS for k in kinds):
        problems.add(at + ("applies_to",), f"applies_to is a list of case kinds: {', '.join(CASE_KINDS)}")
        kinds = list(CASE_KINDS)
    priority = raw.get("priority", 0)
    if not isinstance(priority, int) or isinstance(priority, bool):
        problems.add(at + ("priority",), "priority is a whole number (higher wins when two entries claim a case)")
        priority = 0
    blocks = raw.get("blocks_close", False)
    if not isinstance(blocks, bool):
        problems.add(at + ("blocks_close",), "blocks_close is true or false")
        blocks = False
    timing = raw.get("timing", False)
    if not isinstance(timing, bool):
        problems.add(at + ("timing",), "timing is true or false (true: a timing difference whose counterpart "
                     "is expected next period; its lines are carried into the next period's run)")
        timing = False
    correction = _correction(raw.get("correction"), at + ("correction",), lines, problems, prefix)
    examples = _examples(raw.get("examples"), at + ("examples",), lines, problems)
    if detect is None or correction is None:
        return None
    return Entry(code, _text(raw, "name_zh", at, problems), _text(raw, "name_en", at, problems),
                 tuple(channels), tuple(k for k in CASE_KINDS if k in kinds), priority, blocks,
                 _text(raw, "scenario", at, problems), _text(raw, "impact", at, problems),
                 detect, partial, residual, correction, examples, lines.at(at), timing)


def _correction(raw, at, lines, problems, prefix) -> Correction | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        problems.add(at, "correction is a mapping with explanation, basis and lines")
        return None
    problems.unknown_keys(raw, CORRECTION_KEYS, at)
    explanation = _text(raw, "explanation", at, problems)
    for name in _PLACEHOLDER.findall(explanation):
        if name not in CASE_COLUMNS and name not in TEMPLATE_EXTRA:
            problems.add(at + ("explanation",), f"unknown placeholder {{{name}}}: use a case variable "
                         "(dictionaries/README.md lists them) or code, name_zh, name_en")
    basis = _text(raw, "basis", at, problems)
    out = []
    items = raw.get("lines")
    if not isinstance(items, list):
        problems.add(at + ("lines",), "lines: a list of voucher lines (a debit and a credit), or [] when the case "
                     "calls for no adjustment (a timing difference, a file to download again)")
        items = []
    for j, ln in enumerate(items):
        lat = at + ("lines", j)
        if not isinstance(ln, dict):
            problems.add(lat, "each line is {account, side, amount}")
            continue
        problems.unknown_keys(ln, LINE_KEYS, lat)
        account, side = ln.get("account"), ln.get("side")
        if not isinstance(account, str) or not _ACCOUNT.match(account):
            problems.add(lat + ("account",), f"account {account!r} must be a snake_case key of rules/accounts.yaml")
        if side not in ("debit", "credit"):
            problems.add(lat + ("side",), "side is debit or credit")
        amount = _expr(ln, "amount", lat, lines, problems, "value", f"{prefix}_c{j}")
        if ln.get("amount") is None:
            problems.add(lat, "missing required key 'amount'")
        if amount is not None:
            out.append(CorrectionLine(str(account), str(side), amount))
    if out and {ln.side for ln in out} != {"debit", "credit"}:
        problems.add(at + ("lines",), "a voucher needs at least one debit and one credit line")
    return Correction(explanation, basis, tuple(out))


def _value(v):
    """A YAML scalar as the store takes it: floats (unquoted amounts) via their repr, never as floats."""
    return from_float(v) if isinstance(v, float) else v


def _examples(raw, at, lines, problems) -> tuple:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        problems.add(at, "examples is a list")
        return ()
    out = []
    for k, ex in enumerate(raw):
        eat = at + (k,)
        if not isinstance(ex, dict):
            problems.add(eat, "each example is a mapping with name, fires, rows per source and expect")
            continue
        problems.unknown_keys(ex, EXAMPLE_KEYS, eat)
        if not isinstance(ex.get("fires"), bool):
            problems.add(eat, "fires: true (must fire) or false (a near miss that must not)")
        period = str(ex.get("period", "2026-01"))
        if not re.match(r"^\d{4}-(0[1-9]|1[0-2])$", period):
            problems.add(eat + ("period",), "period is YYYY-MM")
        rows, labels = {}, set()
        for fam in EXAMPLE_FAMILIES:
            items = ex.get(fam) or []
            if not isinstance(items, list):
                problems.add(eat + (fam,), f"{fam} is a list of rows")
                continue
            allowed = {n for n, _ in store.fields_of(fam)} | {"id", "date", "movement_date", "id_problem"}
            fam_rows = []
            for n, row in enumerate(items):
                if not isinstance(row, dict):
                    problems.add(eat + (fam, n), "a row is a mapping of canonical fields")
                    continue
                problems.unknown_keys(row, allowed, eat + (fam, n))
                label = str(row.get("id", f"{fam[0]}{n + 1}"))
                labels.add(label)
                fam_rows.append({key: _value(v) for key, v in row.items()})
            rows[fam] = tuple(fam_rows)
        expect = ex.get("expect") or {}
        if not isinstance(expect, dict):
            problems.add(eat + ("expect",), "expect maps a row id to known, unknown, matched, review or known:CODE")
            expect = {}
        for label, want in expect.items():
            status = str(want).split(":", 1)[0]
            if str(label) not in labels:
                problems.add(eat + ("expect", label), f"no row with id {label!r} in this example")
            if status not in STATUSES:
                problems.add(eat + ("expect", label), f"{want!r}: expected one of {', '.join(STATUSES)} "
                             "(known:CODE for another entry's code)")
        out.append(Example(str(ex.get("name", f"example {k + 1}")), bool(ex.get("fires")), period, rows,
                           {str(a): str(b) for a, b in expect.items()}, lines.at(eat)))
    return tuple(out)


def template_sql(text: str, params: dict, prefix: str, extra: dict | None = None) -> str:
    """An explanation template as SQL: literal parts bound as parameters, ``{name}`` as the column's text.

    ``extra`` maps TEMPLATE_EXTRA names to their values (bound too). NULL shows as ``-``.
    """
    parts, pos, n = [], 0, 0
    for m in _PLACEHOLDER.finditer(text):
        if m.start() > pos:
            params[f"{prefix}_t{n}"] = text[pos:m.start()]
            parts.append(f"${prefix}_t{n}")
            n += 1
        name = m.group(1)
        if extra and name in extra:
            params[f"{prefix}_t{n}"] = str(extra[name])
            parts.append(f"${prefix}_t{n}")
            n += 1
        else:
            parts.append(f"coalesce(CAST({quote_ident(name)} AS VARCHAR), '-')")
        pos = m.end()
    if pos < len(text):
        params[f"{prefix}_t{n}"] = text[pos:]
        parts.append(f"${prefix}_t{n}")
    return " || ".join(parts) or "''"
