"""Strict YAML loading with line numbers, shared by profiles, rules and dictionaries.

``yaml.safe_load`` only. ``load_yaml`` returns the data and a ``Lines`` lookup from a key path to
the 1-based line where it stands, so validators can say ``profile.yaml:14: fields.amount: unknown
key 'colum'`` and report every problem at once (``ConfigError`` carries the list).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from recon.errors import ConfigError


# safe_load's loader, the C build when PyYAML has it (profiles are parsed on every run).
_SAFE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Lines:
    """Key path -> line number for one YAML file."""

    def __init__(self, source: str, table: dict):
        self.source = source
        self._table = table

    def at(self, path) -> str:
        path = tuple(path)
        while path and path not in self._table:
            path = path[:-1]
        line = self._table.get(path, 1)
        return f"{self.source}:{line}"


def _walk(node, path, table):
    table.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            p = path + (key.value,)
            table[p] = key.start_mark.line + 1
            _walk(value, p, table)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, path + (i,), table)


# A configuration file is small. Anchors and aliases are allowed (the shipped profiles share a
# currency map that way), but what they expand to is capped: a few lines of nested aliases (a
# "billion laughs") would otherwise expand to billions of values in whatever walks the data.
MAX_CONFIG_BYTES = 10 * 1024**2
MAX_EXPANDED_NODES = 100_000


def load_yaml_text(text: str, source: str):
    """Parse YAML text; return (data, Lines). Syntax errors become ConfigError with a line."""
    try:
        node = yaml.compose(text, Loader=_SAFE)
        if node is not None:
            _check_expansion(node, text, source)
        data = yaml.load(text, Loader=_SAFE)  # noqa: S506 (_SAFE is a safe loader: safe_load's, in C when built)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        raise ConfigError([f"{where}: invalid YAML: {getattr(exc, 'problem', exc)}"]) from None
    except RecursionError:
        raise ConfigError([f"{source}: the YAML is nested too deeply to be a configuration file; "
                           "flatten it"]) from None
    table: dict = {}
    if node is not None:
        _walk(node, (), table)
    return data, Lines(source, table)


def _check_expansion(root, text: str, source: str) -> None:
    """Refuse an alias cycle, or aliases that expand the document past ``MAX_EXPANDED_NODES``.

    Sizes are counted once per node (an alias is the same node object again), so the count of a
    billion laughs costs as little as its text.
    """
    sizes: dict = {}
    active: set = set()

    def size(node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise ConfigError([f"{source}:{node.start_mark.line + 1}: a YAML alias refers to the value it is "
                               "part of (a cycle); write the value out instead"])
        active.add(key)
        n = 1
        if isinstance(node, yaml.MappingNode):
            n += sum(size(k) + size(v) for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            n += sum(size(item) for item in node.value)
        active.discard(key)
        sizes[key] = n
        return n

    total = size(root)
    if total > MAX_EXPANDED_NODES:
        aliases = [ev.start_mark.line + 1 for ev in yaml.parse(text, Loader=_SAFE) if isinstance(ev, yaml.AliasEvent)]
        at = f"{source}:{aliases[0]}" if aliases else source
        raise ConfigError([f"{at}: the YAML anchors and aliases (&name, *name) in this file expand to {total:,} "
                           f"values, more than a configuration file holds ({MAX_EXPANDED_NODES:,}): an alias "
                           "bomb or a mistake; write the values out, or use fewer aliases"])


def load_yaml(path: Path):
    try:
        size = Path(path).stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ConfigError([f"{path}: {size:,} bytes is far more than a configuration file holds "
                               f"(limit {MAX_CONFIG_BYTES:,}); is it the right file?"])
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: not UTF-8 text (bad byte at offset {exc.start}); save it as UTF-8"]) from None
    return load_yaml_text(text, str(path))


class Problems:
    """Collects validation problems; ``raise_if_any`` raises one ConfigError with all of them."""

    def __init__(self, lines: Lines):
        self.lines = lines
        self.items: list[str] = []

    def add(self, path, message: str):
        dotted = ".".join(str(p) for p in path) or "(top)"
        self.items.append(f"{self.lines.at(path)}: {dotted}: {message}")

    def unknown_keys(self, mapping: dict, allowed, path):
        for key in mapping:
            if key not in allowed:
                self.add(tuple(path) + (key,), f"unknown key '{key}' (allowed: {', '.join(sorted(allowed))})")

    def raise_if_any(self):
        if self.items:
            raise ConfigError(self.items)
