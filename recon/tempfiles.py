"""recon's own scratch folders in the system temp folder, named by pid so a later run can clean them.

A run keeps temp copies of input data (a CSV part written out for DuckDB's reader), xlsxwriter's
row files while it writes a large workbook, and each CSV output as DuckDB's COPY writes it. A run killed mid-way leaves them behind, and they hold
clients' data: ``clean_stale`` (called when a run starts) removes those of processes that are gone.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

_NAME = re.compile(r"recon-(?:fastcsv|xlsx|copy)-(\d+)-")


def scratch_dir(kind: str) -> Path:
    """A new private folder ``recon-<kind>-<pid>-…`` in the temp folder; the caller removes it."""
    if kind not in ("fastcsv", "xlsx", "copy"):
        raise ValueError(kind)
    return Path(tempfile.mkdtemp(prefix=f"recon-{kind}-{os.getpid()}-"))


def clean_stale(root: str | None = None) -> list[str]:
    """Remove scratch folders whose process is gone; return their names."""
    root = Path(root or tempfile.gettempdir())
    removed = []
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return removed
    for name in names:
        m = _NAME.match(name)
        if not m or int(m.group(1)) == os.getpid() or _alive(int(m.group(1))):
            continue
        path = root / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(name)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
