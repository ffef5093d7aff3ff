"""Format profiles: a YAML description of one export layout, read without code.

Built-in formats are profiles too (``recon/io/profiles/*.yaml``); a user adds a format by writing
one more file and passing ``--profile FILE``. A profile says how to recognise the file (header
columns, preamble markers, ``detect.values``: a regex some early data cell of a column must
match), where data ends (footer patterns), how each canonical field is taken
from the source columns (a *field spec*), which fields form the natural key for de-duplication,
and which control proofs the file's own totals allow.

Field specs (all values are data; nothing in a profile is pasted into SQL):

- ``{const: jd}``: a constant;  ``{preamble: account}``: a value read from the preamble;
- ``{col: 名称 | [名称, 同义词…], type: text|id|money|money5|rate|int|date|timestamp}`` with optional
  ``negate``, ``abs``, ``required``, ``default`` (used when the cell is empty), ``extract`` (a regex
  whose first group is taken) and ``or`` (another spec used when this one is empty);
- ``{col: X, type: money, direction: {col: 收支类型, in: [收入], out: [支出]}}``: unsigned amount
  with a direction column;
  The direction column may be a list of synonyms; a cell matches a listed value exactly or by its
  first word (BOCOM ``借 Dr``/``贷 Cr``). ``optional: true`` lets a layout without any of those
  columns keep the amount as written, but only when the file signs it (some amount is negative):
  otherwise every line is quarantined naming the columns to map. An unsigned amount with no
  recognisable direction is never taken for money in;
- ``soft: true`` on a non-money check column (a running balance): an unreadable cell is left empty
  instead of quarantining the line, and the proof that reads the column fails instead (anonymised
  bank exports write ``xx,yyyy.zz`` there);
- ``{credit: 收入, debit: 支出, type: money}``: two columns of which one is non-zero;
- ``{sum: [spec, …]}``: the sum of several money specs (empty cells count as zero);
- ``{col: X, map: {原值: canonical}, contains: [[子串, canonical]…], default: …}``: a code lookup;
- ``{cases: [{when: {col: X, in: [..]} , then: spec}…], else: spec}``: choose a spec per row;
- ``format: '%d.%m.%Y' | [fmt, …]`` on a date/timestamp spec: strptime formats tried instead of the
  built-in list (for layouts such as ``05.01.2026`` or day-first ``05/01/2026``);
- ``divide_by: spec``: the value divided exactly (DECIMAL, half-up at 10 places) by another spec,
  e.g. an FX mid rate quoted per 100 units: ``{col: 中间价, divide_by: {col: 单位, type: int, default: 1}}``;
- ``{col: 交易日, time_col: 交易时间}``: a timestamp from a date column and a time-of-day column
  (``09:12:33``, ``9:12``, ``091233``, an Excel day fraction); empty when either is empty;
- ``{sign_of: amount, positive: bank_credit, negative: bank_debit}``: a code chosen by the sign of
  another mapped field (zero or empty gives ``default``);
- ``{preamble: currency, map: {人民币: CNY}}``: ``map``/``contains`` also apply to a preamble value.

``key_fallback: [fields…]`` is the natural key used for a row whose last ``key`` field (the
reference) is empty: banks key on (bank_code, account, bank_ref) when the bank gave a reference,
else on date, amount, balance, counterparty and summary.

``version_key: [fields…]`` names documents that come back corrected under the same number (an ERP's
单据编号 re-exported every night): the latest imported version of a document replaces the earlier
one's lines (``superseded_by``) instead of loading beside them (``recon.io.load``).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from recon import store
from recon.config import Problems, load_yaml
from recon.resources import profiles_dir

FAMILIES = ("platform", "erp", "bank", "audit", "fx")
TYPES = ("text", "id", "money", "money5", "rate", "int", "date", "timestamp")
PROOF_KINDS = ("footer", "summary_row", "balance_chain", "opening_closing")
SPEC_KEYS = {
    "const", "preamble", "col", "type", "negate", "abs", "required", "default", "extract", "or",
    "direction", "credit", "debit", "sum", "map", "contains", "cases", "else", "format", "divide_by",
    "sign_of", "positive", "negative", "time_col", "soft",
}
TOP_KEYS = {
    "version", "format", "family", "title", "parser", "delimiter", "detect", "header", "preamble",
    "footer", "fields", "key", "proofs", "repair_merge_column", "allow_short_rows", "key_fallback",
    "version_key",
}


def norm_header(name: str) -> str:
    """Header cell as compared: NFKC, no spaces/tabs/BOM, 帐 unified to 账."""
    s = unicodedata.normalize("NFKC", str(name)).replace("\ufeff", "")
    s = re.sub(r"[\s\u3000]+", "", s).lstrip("`'")
    return s.replace("帐", "账")


@dataclass(frozen=True)
class Profile:
    name: str
    family: str
    title: str
    source: str
    parser: str | None = None
    delimiter: str = ","
    detect_header: tuple = ()  # each entry: a tuple of synonyms, any one of which must be present
    detect_markers: tuple = ()
    detect_values: tuple = ()  # (normalised column, regex): some early data row's cell must match
    description_row: str | None = None  # regex of a descriptive row right under the header
    preamble: dict = field(default_factory=dict)
    footer_stop: tuple = ()
    footer_first_cell: tuple = ()  # regexes over a row's first cell alone (DuckDB's CSV reader can still read the part)
    summary_titles: tuple = ()
    fields: dict = field(default_factory=dict)
    key: tuple = ()
    key_fallback: tuple = ()
    version_key: tuple = ()  # fields naming a document whose latest import replaces its earlier lines
    proofs: tuple = ()
    repair_merge_column: str | None = None
    allow_short_rows: bool = False

    @property
    def specificity(self) -> int:
        return len(self.detect_header) + 10 * len(self.detect_markers) + 10 * len(self.detect_values)


def _check_regex(pattern, path, problems):
    try:
        re.compile(pattern)
    except (re.error, TypeError) as exc:
        problems.add(path, f"invalid regular expression {pattern!r}: {exc}")


def _check_spec(spec, path, problems, family_fields):
    if not isinstance(spec, dict):
        problems.add(path, "a field spec must be a mapping such as {col: 金额, type: money}")
        return
    problems.unknown_keys(spec, SPEC_KEYS, path)
    if "type" in spec and spec["type"] not in TYPES:
        problems.add(path + ("type",), f"unknown type {spec['type']!r} (one of {', '.join(TYPES)})")
    if "col" in spec and not isinstance(spec["col"], (str, list)):
        problems.add(path + ("col",), "col must be a column name or a list of synonyms")
    if "extract" in spec:
        _check_regex(spec["extract"], path + ("extract",), problems)
    sources = [k for k in ("const", "preamble", "col", "credit", "sum", "cases", "sign_of") if k in spec]
    if not sources:
        problems.add(path, "a field spec needs one of const, preamble, col, credit/debit, sum, cases, sign_of")
    if "sign_of" in spec and family_fields and spec["sign_of"] not in family_fields:
        problems.add(path + ("sign_of",), f"sign_of names unknown field {spec['sign_of']!r}")
    if "time_col" in spec:
        if "col" not in spec or not isinstance(spec["time_col"], (str, list)):
            problems.add(path + ("time_col",), "time_col names the time-of-day column beside col: the date column")
        if spec.get("type", "timestamp") != "timestamp":
            problems.add(path + ("time_col",), "time_col makes a timestamp: leave type out or say type: timestamp")
    if "credit" in spec and "debit" not in spec:
        problems.add(path, "credit needs debit beside it")
    if "direction" in spec:
        d = spec["direction"]
        if not isinstance(d, dict) or "col" not in d or not ({"in", "out"} & set(d)):
            problems.add(path + ("direction",), "direction needs col and in/out value lists")
    if "format" in spec:
        fmts = spec["format"] if isinstance(spec["format"], list) else [spec["format"]]
        if not fmts or not all(isinstance(f, str) and "%" in f for f in fmts):
            problems.add(path + ("format",),
                         "format must be a strptime pattern such as '%d.%m.%Y' or a list of them")
    if "divide_by" in spec:
        _check_spec(spec["divide_by"], path + ("divide_by",), problems, family_fields)
    if "or" in spec:
        _check_spec(spec["or"], path + ("or",), problems, family_fields)
    for i, sub in enumerate(spec.get("sum", []) or []):
        _check_spec(sub, path + ("sum", i), problems, family_fields)
    for i, case in enumerate(spec.get("cases", []) or []):
        if not isinstance(case, dict) or "when" not in case or "then" not in case:
            problems.add(path + ("cases", i), "each case needs when: {col: X, in: [...]} and then: spec")
            continue
        _check_spec(case["then"], path + ("cases", i, "then"), problems, family_fields)
    if "cases" in spec and "else" in spec:
        _check_spec(spec["else"], path + ("else",), problems, family_fields)


def load_profile(path: Path) -> Profile:
    data, lines = load_yaml(path)
    problems = Problems(lines)
    if not isinstance(data, dict):
        problems.add((), "a profile is a mapping with format, family, detect and fields")
        problems.raise_if_any()
    problems.unknown_keys(data, TOP_KEYS, ())
    if data.get("version") != 1:
        problems.add(("version",), "version: 1 is required")
    for req in ("format", "family", "fields"):
        if req not in data:
            problems.add((), f"missing required key '{req}'")
    family = data.get("family")
    if family is not None and family not in FAMILIES:
        problems.add(("family",), f"unknown family {family!r} (one of {', '.join(FAMILIES)})")
    family_fields = {n for n, _ in store.FAMILIES[family][1]} if family in FAMILIES else set()
    fields = data.get("fields") or {}
    if not isinstance(fields, dict):
        problems.add(("fields",), "fields must map canonical names to specs")
        fields = {}
    for name, spec in fields.items():
        if family_fields and name not in family_fields:
            problems.add(("fields", name), f"unknown canonical field '{name}' for family {family}"
                         f" (known: {', '.join(sorted(family_fields))})")
        _check_spec(spec, ("fields", name), problems, family_fields)
    for kind in ("key", "key_fallback", "version_key"):
        for i, k in enumerate(data.get(kind) or []):
            if k not in fields:
                problems.add((kind, i), f"key field '{k}' is not mapped in fields")
    for name, spec in fields.items():
        ref = fields.get(spec.get("sign_of")) if isinstance(spec, dict) else None
        if isinstance(ref, dict) and "sign_of" in ref:
            problems.add(("fields", name, "sign_of"), "sign_of must name a field that is not itself sign_of")
    detect = data.get("detect") or {}
    problems.unknown_keys(detect, {"header", "markers", "values"}, ("detect",))
    if not data.get("parser") and not detect.get("header"):
        problems.add(("detect",), "detect.header must list the columns that identify this layout")
    for i, m in enumerate(detect.get("markers") or []):
        _check_regex(m, ("detect", "markers", i), problems)
    for col, pat in (detect.get("values") or {}).items():
        _check_regex(pat, ("detect", "values", col), problems)
    pre = data.get("preamble") or {}
    for k, pat in pre.items():
        _check_regex(pat, ("preamble", k), problems)
    footer = data.get("footer") or {}
    problems.unknown_keys(footer, {"stop", "summary_titles", "first_cell"}, ("footer",))
    for key in ("stop", "first_cell"):
        for i, pat in enumerate(footer.get(key) or []):
            _check_regex(pat, ("footer", key, i), problems)
    header = data.get("header") or {}
    problems.unknown_keys(header, {"description_row"}, ("header",))
    if "description_row" in header:
        _check_regex(header["description_row"], ("header", "description_row"), problems)
    proofs = data.get("proofs") or []
    for i, proof in enumerate(proofs):
        if not isinstance(proof, dict) or proof.get("kind") not in PROOF_KINDS:
            problems.add(("proofs", i), f"each proof needs kind: one of {', '.join(PROOF_KINDS)}")
            continue
        if "pattern" in proof:
            _check_regex(proof["pattern"], ("proofs", i, "pattern"), problems)
        where = proof.get("where") or {}
        for fld in (k for alt in (where if isinstance(where, list) else [where]) for k in alt):
            if fld not in fields:
                problems.add(("proofs", i, "where", fld), f"'{fld}' is not a mapped field")
    problems.raise_if_any()
    return Profile(
        name=data["format"],
        family=family,
        title=data.get("title", data["format"]),
        source=str(path),
        parser=data.get("parser"),
        delimiter=data.get("delimiter", ","),
        detect_header=tuple(
            tuple(norm_header(a) for a in h) if isinstance(h, list) else (norm_header(h),)
            for h in detect.get("header") or []),
        detect_markers=tuple(detect.get("markers") or []),
        detect_values=tuple((norm_header(c), pat) for c, pat in (detect.get("values") or {}).items()),
        description_row=header.get("description_row"),
        preamble=dict(pre),
        footer_stop=tuple(footer.get("stop") or []),
        footer_first_cell=tuple(footer.get("first_cell") or []),
        summary_titles=tuple(norm_header(t) for t in footer.get("summary_titles") or []),
        fields=dict(fields),
        key=tuple(data.get("key") or []),
        key_fallback=tuple(data.get("key_fallback") or []),
        version_key=tuple(data.get("version_key") or []),
        proofs=tuple(proofs),
        repair_merge_column=data.get("repair_merge_column"),
        allow_short_rows=bool(data.get("allow_short_rows", False)),
    )


def builtin_profiles() -> list[Profile]:
    return [load_profile(p) for p in sorted(profiles_dir().glob("*.yaml"))]


def all_profiles(extra_paths=()) -> list[Profile]:
    """Built-in profiles plus user profiles; a user profile with the same name replaces the built-in."""
    by_name = {p.name: p for p in builtin_profiles()}
    for path in extra_paths:
        prof = load_profile(Path(path))
        by_name[prof.name] = prof
    return sorted(by_name.values(), key=lambda p: p.name)
