"""One place to set the store and the default rules: ``recon.yaml`` in the working folder or a parent.

A clerk's month folder, or a cron job's working directory, holds a ``recon.yaml``::

    version: 1
    db: close.duckdb              # the store every command uses
    rules: rules/default.yaml     # --rules
    channels: rules/channels.yaml # --channels
    fees: rules/fees.yaml         # --fees
    baseline: rules/baseline.yaml # --baseline
    dictionaries: [dict/shop.yaml]  # --dictionary (repeatable)
    accounts: rules/accounts.yaml # --accounts

Paths are relative to the folder holding ``recon.yaml``. A flag on the command line wins, then the
``RECON_DB`` environment variable (for ``db``), then ``recon.yaml``, then the built-in default. The
file is validated like every other config: unknown keys, a wrong ``version`` or a missing file are
all reported at once with file:line, before anything runs.
"""

from __future__ import annotations

from pathlib import Path

from recon.config import load_yaml_text
from recon.errors import ConfigError

FILE_NAME = "recon.yaml"
# key -> (the option's parameter name, whether the file must exist, a list)
KEYS = {
    "db": ("db", False, False),
    "rules": ("rules", True, False),
    "channels": ("channels", True, False),
    "fees": ("fees", True, False),
    "baseline": ("baseline", True, False),
    "dictionaries": ("dictionaries", True, True),
    "accounts": ("accounts", True, False),
}


def find(start: Path | None = None) -> Path | None:
    """The nearest ``recon.yaml`` in ``start`` (default: the working folder) or its parents."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / FILE_NAME
        if candidate.is_file():
            return candidate
    return None


def load(path: Path) -> dict:
    """``recon.yaml`` as {parameter name: value} with absolute paths; ConfigError lists every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read it: {exc}"]) from None
    data, lines = load_yaml_text(text, str(path))
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([f"{lines.at(())}: expected a mapping of settings (version: 1, db: …)"])
    problems = []
    if data.get("version") != 1:
        problems.append(f"{lines.at(('version',))}: version: expected 1")
    values = {}
    for key, value in data.items():
        if key == "version":
            continue
        if key not in KEYS:
            problems.append(f"{lines.at((key,))}: unknown key {key!r} (known: {', '.join(sorted(KEYS))})")
            continue
        param, must_exist, many = KEYS[key]
        items = value if many else [value]
        if many and not isinstance(value, list):
            problems.append(f"{lines.at((key,))}: {key}: expected a list of files")
            continue
        resolved = []
        for i, item in enumerate(items):
            at = lines.at((key, i) if many else (key,))
            if not isinstance(item, str) or not item.strip():
                problems.append(f"{at}: {key}: expected a file path")
                continue
            p = (path.parent / item).resolve()
            if must_exist and not p.is_file():
                problems.append(f"{at}: {key}: no such file {p}")
                continue
            resolved.append(str(p))
        if len(resolved) == len(items):
            values[param] = resolved if many else resolved[0]
    if problems:
        raise ConfigError(problems)
    return values


def default_map(commands: dict, start: Path | None = None) -> dict:
    """click's ``default_map`` for each command from the nearest ``recon.yaml`` ({} when there is none)."""
    path = find(start)
    if path is None:
        return {}
    values = load(path)
    out = {}
    for name, command in commands.items():
        params = {p.name for p in command.params}
        mine = {k: v for k, v in values.items() if k in params}
        if mine:
            out[name] = mine
    return out
