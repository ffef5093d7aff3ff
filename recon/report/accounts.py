"""The chart of accounts vouchers are written in: ``rules/accounts.yaml``, loaded strictly.

Dictionary corrections name accounts by stable keys (``platform_fee_expense``); each company maps
those keys to its own ledger's account codes and names here, together with the voucher header
fields its ERP wants (凭证字, 制单人) and the prefix of recon's voucher numbers. A key a correction
uses that the chart does not define is an error naming the key and who uses it, raised before
any voucher is written: a silent plug or suspense line would post a wrong entry nobody asked for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from recon.config import Problems, load_yaml
from recon.errors import ConfigError
from recon.resources import rules_dir
from recon.rules import file_sha256

KEY_RE = re.compile(r"^[a-z][a-z0-9_]*$")
# Account codes as ERPs print them: digits with optional dot-separated levels (Kingdee 1122.01, U8 112201).
CODE_RE = re.compile(r"^[0-9]+(\.[0-9]+)*$")
# The prefix becomes part of every voucher number and of U8's 业务号 (text, 30 characters).
PREFIX_RE = re.compile(r"^[A-Za-z0-9_]{0,12}$")
VOUCHER_KEYS = {"word", "preparer", "number_prefix", "currency", "kingdee_currency"}


@dataclass(frozen=True)
class Account:
    key: str
    code: str
    name: str


@dataclass(frozen=True)
class Chart:
    """A validated chart: account keys -> Account, plus the voucher header settings."""

    source: str
    sha256: str
    word: str  # 凭证字, e.g. 记
    preparer: str  # 制单人
    number_prefix: str
    currency: str  # the voucher currency in recon's generic layout and U8 (corrections are in local money)
    kingdee_currency: str  # Kingdee's 币别 code for the same currency
    accounts: dict

    def missing(self, used: dict) -> list[str]:
        """Messages for every key of ``used`` (key -> where it is used) that the chart lacks, sorted."""
        return [f"{self.source}: accounts: no account '{key}' (used by {', '.join(sorted(set(where)))}); "
                f"add it under accounts: with your ledger's code and name, e.g. {key}: {{code: \"<code>\", name: <name>}}"
                for key, where in sorted(used.items()) if key not in self.accounts]

    def check(self, used: dict) -> None:
        """Raise one ConfigError listing every account key the chart lacks."""
        problems = self.missing(used)
        if problems:
            raise ConfigError(problems)


def load_accounts(path: Path | None = None) -> Chart:
    """Load and validate a chart; every problem is reported at once with file:line."""
    path = Path(path) if path else rules_dir() / "accounts.yaml"
    data, lines = load_yaml(path)
    problems = Problems(lines)
    if not isinstance(data, dict) or not isinstance(data.get("accounts"), dict):
        problems.add((), "an accounts file is a mapping with version: 1, voucher: {...} and accounts: {key: {code, name}}")
        problems.raise_if_any()
    problems.unknown_keys(data, {"version", "voucher", "accounts"}, ())
    if data.get("version") != 1:
        problems.add(("version",), "version: 1 is required")
    voucher = data.get("voucher") or {}
    if not isinstance(voucher, dict):
        problems.add(("voucher",), "voucher is a mapping with word, preparer, number_prefix, currency")
        voucher = {}
    problems.unknown_keys(voucher, VOUCHER_KEYS, ("voucher",))
    settings = {}
    for key, default in (("word", "记"), ("preparer", "recon"), ("number_prefix", "RC"), ("currency", "CNY"),
                         ("kingdee_currency", "RMB")):
        value = voucher.get(key, default)
        if not isinstance(value, str) or (key != "number_prefix" and not value.strip()):
            problems.add(("voucher", key), f"{key} must be a non-empty text, e.g. {default!r}")
            value = default
        settings[key] = value
    if not PREFIX_RE.match(settings["number_prefix"]):
        problems.add(("voucher", "number_prefix"), "number_prefix: up to 12 letters, digits or _, e.g. RC")
    accounts = {}
    for key, spec in data["accounts"].items():
        at = ("accounts", key)
        if not isinstance(key, str) or not KEY_RE.match(key):
            problems.add(at, f"account key {key!r} must be snake_case (letters, digits, _), e.g. platform_fee_expense")
            continue
        if not isinstance(spec, dict):
            problems.add(at, "each account is a mapping {code: \"1122.01\", name: 应收账款-平台}")
            continue
        problems.unknown_keys(spec, {"code", "name"}, at)
        code, name = spec.get("code"), spec.get("name")
        if not isinstance(code, str):
            problems.add(at + ("code",), "code must be a quoted text such as \"6601.10\" "
                         "(unquoted, YAML reads 6601.10 as the number 6601.1 and drops the zero)")
        elif not CODE_RE.match(code):
            problems.add(at + ("code",), f"code {code!r}: digits with optional dot-separated levels, e.g. \"1122.01\"")
        if not isinstance(name, str) or not name.strip():
            problems.add(at + ("name",), "name is required (the account's name in your ledger)")
        accounts[key] = Account(key, str(code), str(name))
    problems.raise_if_any()
    return Chart(str(path), file_sha256(path), accounts=accounts, **settings)


def dictionary_accounts(entries) -> dict:
    """Account key -> the dictionary codes whose correction uses it (entries from recon.dictionary).

    Lets ``Chart.check`` validate a dictionary against the chart before any run posts anything.
    """
    used: dict = {}
    for entry in entries:
        correction = getattr(entry, "correction", None)
        for line in getattr(correction, "lines", None) or ():
            used.setdefault(line.account, []).append(f"dictionary entry {entry.code}")
    return used
