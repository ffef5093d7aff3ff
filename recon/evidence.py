"""The evidence store: every imported file's exact bytes, kept once, named by their SHA-256.

Why: a line's raw record is evidence for an auditor. Keeping the downloaded file byte for byte is
better evidence than the cells as a ``VARCHAR[]`` on every line (it is verifiable by hash) and far
cheaper: copying a 737 MB month takes under a second, while the cells cost most of an import.

Where: a folder beside the DuckDB file, ``<db>.evidence/<sha[:2]>/<sha256>``, uncompressed (gzip
would cost ~15 s at 1M orders and save disk only). A ``:memory:`` store (sniff, tests) keeps no copy:
it points at each imported file and hash-checks it when read, so nothing is ever left behind.

How a line points into it: ``file_id`` (its ``source_file`` row, which holds the ``sha256`` naming the
evidence file), ``source_sheet`` (the part: zip member or
sheet) and ``source_line``, plus ``rec_offset``/``rec_length``, the record's bytes in the part, for
text parts where those are exact (see ``recon.io.records``). Where they are NULL (UTF-16, lone-CR
text, XLSX, CAMT, MT940) the part is read again with the same row reader and the lines picked.
``recon.io.records`` turns a bounded set of lines back into the cells the import read.

A missing or altered file is an ``EvidenceError`` naming the original download, never a wrong record.
"""

from __future__ import annotations

import hashlib
import os
import weakref
from pathlib import Path

from recon.errors import ReconError

SUFFIX = ".evidence"
_MEMORY: dict = {}  # id(connection) -> {sha256: bytes, or the imported file's Path} for :memory: stores
_CHUNK = 16 * 1024 * 1024


class EvidenceError(ReconError):
    """An evidence file is missing or its bytes no longer hash to its name."""


def folder(con) -> Path | None:
    """The store's evidence folder (``<db>.evidence``); None for a ``:memory:`` store."""
    path = con.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchall()[0][0]
    return Path(path + SUFFIX) if path else None


def _memory(con) -> dict:
    key = id(con)
    if key not in _MEMORY:
        _MEMORY[key] = {}
        weakref.finalize(con, _MEMORY.pop, key, None)
    return _MEMORY[key]


def path_of(base: Path, file_id: str) -> Path:
    return base / file_id[:2] / file_id


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def stage(base: Path, file_id: str, data: bytes) -> Path | None:
    """Write ``data`` under a temp name in ``base`` (an import's copy, made ahead); None if the
    evidence is already there. ``keep`` moves it into place when the import commits."""
    final = path_of(base, file_id)
    if final.is_file() and final.stat().st_size == len(data):
        return None
    base.mkdir(parents=True, exist_ok=True)
    tmp = base / f".{file_id}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    try:
        tmp.write_bytes(data)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise EvidenceError(f"cannot write the evidence copy into {base}: {exc.strerror}; "
                            "the store's folder must be writable") from None
    return tmp


def read_checked(source: Path, file_id: str) -> bytes:
    """The bytes of ``source`` again, which must still hash to ``file_id``."""
    try:
        data = Path(source).read_bytes()
    except OSError as exc:
        raise EvidenceError(f"{source}: cannot read the file again to keep it: {exc.strerror}") from None
    if hashlib.sha256(data).hexdigest() != file_id:
        raise EvidenceError(f"{source}: the file changed while it was being imported; import it again")
    return data


def keep(con, file_id: str, data: "bytes | Path | None", source: Path | None = None) -> Path | None:
    """Put a file's evidence in place: ``data`` is its bytes, or a temp file ``stage`` wrote, or None:
    then, unless the evidence is already there, ``source`` (the file imported) is read again and
    checked (a ``:memory:`` store, whose import did not hold the bytes meanwhile). Returns the path
    newly placed (None: nothing new), so the caller can take it back should its transaction fail."""
    base = folder(con)
    if data is None:
        if not missing(con, file_id):
            return None
        if base is None and source is not None:
            # a throwaway :memory: store (`recon sniff`, tests) points at the file it imported instead of
            # holding its bytes: ``fetch`` reads it and checks its SHA-256, so a changed file is never
            # shown as the record (a 2 GB sniff would otherwise hold the file twice)
            _memory(con)[file_id] = Path(source)
            return None
        data = read_checked(source, file_id)
    if base is None:
        if isinstance(data, Path):
            blob = data.read_bytes()
            data.unlink(missing_ok=True)
            data = blob
        _memory(con)[file_id] = data
        return None
    if isinstance(data, bytes):
        data = stage(base, file_id, data)
    if data is None:
        return None
    final = path_of(base, file_id)
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(data, final)
    return final


def discard(con, placed: Path | None) -> None:
    """Take back what ``keep`` placed, after the import's transaction rolled back."""
    if placed is not None:
        placed.unlink(missing_ok=True)


def missing_at(base: Path, file_id: str, size: int) -> bool:
    """Whether the evidence folder ``base`` lacks the file (or holds one of another size)."""
    p = path_of(base, file_id)
    return not (p.is_file() and p.stat().st_size == size)


def missing(con, file_id: str, size: int | None = None) -> bool:
    """Whether a file's evidence is absent or (``size`` given) of another size; an import of the same
    download then puts it back. A same-size alteration is found by hashing, in ``fetch`` and ``verify``."""
    base = folder(con)
    if base is None:
        return file_id not in _memory(con)
    p = path_of(base, file_id)
    return not (p.is_file() and (size is None or p.stat().st_size == size))


def fetch(con, file_id: str, name: str) -> bytes:
    """The bytes of a file the store imported, checked against their SHA-256; ``name`` is the
    original file name, for the message."""
    base = folder(con)
    if base is None:
        data = _memory(con).get(file_id)
        where = "the in-memory store"
        if isinstance(data, Path):  # a :memory: store's pointer to the file it imported
            where = str(data)
            try:
                data = data.read_bytes()
            except OSError:
                data = None
    else:
        where = str(path_of(base, file_id))
        try:
            data = Path(where).read_bytes()
        except FileNotFoundError:
            data = None
        except OSError as exc:
            raise EvidenceError(f"{name}: cannot read its evidence file {where}: {exc.strerror}") from None
    if data is None:
        raise EvidenceError(
            f"{name}: its evidence file {where} is missing, so its raw records cannot be shown. "
            f"Restore the evidence folder from a backup, or import the original download again (`recon import`: "
            f"it puts the file back), or re-import the original downloads into a new store (--db); "
            f"`recon verify` checks every file")
    if hashlib.sha256(data).hexdigest() != file_id:
        raise EvidenceError(
            f"{name}: its evidence file {where} was altered (its SHA-256 is no longer {file_id}), so its raw "
            f"records cannot be trusted and are not shown. Restore the evidence folder from a backup, or delete "
            f"that file and import the original download again (`recon import`: it puts the file back), or "
            f"re-import the original downloads into a new store (--db); `recon verify` checks every file")
    return data


def verify(con) -> dict:
    """Re-hash every evidence file and check the store against it.

    Returns ``{"folder", "files", "problems": [{file_id, name, evidence, problem, fix}], "unknown": [...]}``:
    each ``source_file`` must have its evidence, of its ``size_bytes``, hashing to its ``file_id``;
    ``unknown`` lists evidence files no ``source_file`` names (reported, never deleted).
    """
    base = folder(con)
    rows = con.execute("SELECT sha256, original_name, size_bytes FROM source_file ORDER BY sha256").fetchall()
    mem = _memory(con) if base is None else None
    problems = []
    fix = ("restore the evidence folder from a backup, or (an altered file deleted first) import the original "
           "download again, which puts it back, or re-import the downloads into a new store (--db): its raw "
           "records cannot be shown until then")
    for file_id, name, size in rows:
        where = "(in memory)" if base is None else str(path_of(base, file_id))
        if base is None:
            data = mem.get(file_id)
            if isinstance(data, Path):
                data = data.read_bytes() if data.is_file() else None
            found, actual = data is not None, (len(data) if data is not None else None)
            digest = hashlib.sha256(data).hexdigest() if data is not None else None
        else:
            p = path_of(base, file_id)
            found = p.is_file()
            actual = p.stat().st_size if found else None
            digest = sha256_file(p) if found else None
        problem = ("missing" if not found else
                   f"altered: {actual} bytes, the store recorded {size}" if actual != size else
                   f"altered: its SHA-256 is now {digest}" if digest != file_id else None)
        if problem:
            problems.append({"file_id": file_id, "name": name, "evidence": where, "problem": problem, "fix": fix})
    known = {r[0] for r in rows}
    if base is None:
        unknown = sorted(k for k in mem if k not in known)
    else:
        unknown = sorted(str(p) for p in base.rglob("*")
                         if p.is_file() and (p.name not in known or p != path_of(base, p.name))) \
            if base.is_dir() else []
    return {"folder": str(base) if base else None, "files": len(rows), "problems": problems, "unknown": unknown}
