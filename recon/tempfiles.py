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

_NAME = re.compile(r"recon-(?:fastcsv|xlsx|copy|pack)-(\d+)-")


def scratch_dir(kind: str) -> Path:
    """A new private folder ``recon-<kind>-<pid>-…`` in the temp folder; the caller removes it."""
    if kind not in ("fastcsv", "xlsx", "copy", "pack"):
        raise ValueError(kind)
    return Path(tempfile.mkdtemp(prefix=f"recon-{kind}-{os.getpid()}-"))


def orphans(folder: Path, pattern: re.Pattern) -> list[Path]:
    """Entries of ``folder`` named by ``pattern`` (its group 1 a pid) whose process is gone, sorted.

    The one test every cleaner uses (DuckDB's spill files, recon's scratch and staging folders): an
    entry is another process's leftover only when that process no longer runs, never this one's."""
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    found = []
    for name in names:
        m = pattern.match(name)
        if m and int(m.group(1)) != os.getpid() and not alive(int(m.group(1))):
            found.append(Path(folder) / name)
    return found


def clean_stale(root: str | None = None) -> list[str]:
    """Remove scratch folders whose process is gone; return their names."""
    removed = []
    for path in orphans(Path(root or tempfile.gettempdir()), _NAME):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
    return removed


def alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (one of another user counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
