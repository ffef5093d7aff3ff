"""Checking an auditor pack without the store (`recon verify --pack`).

Why a checker of its own: Python's ``zipfile`` reads a member by its directory entry and checks its
CRC, but passes a deflate stream altered past its end, a local header that disagrees with the
directory, and bytes it never reads. A pack is evidence, so every byte recon wrote is checked: each
member's stream is inflated here (to its end, its padding bits clear), each local header, directory
entry and the end record are regenerated and compared, each member is hashed against ``SHA256SUMS``,
and the run log's links and the run's event in it are checked against the manifest and inputs.
Bits inside a deflate stream that change neither its content nor its validity cannot be told apart
without re-compressing (which depends on the zlib build); they are the only bytes not checked.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import struct
import zipfile
import zlib
from pathlib import Path

from recon import runlog
from recon.pack import MODE, STAMP, SUMS


def verify_pack(path: Path) -> dict:
    """Re-check a pack without the store: ``{"pack", "run_id", "members", "problems": [...]}``."""
    problems: list[str] = []
    result = {"pack": str(path), "run_id": None, "members": 0, "problems": problems}
    try:
        _verify(Path(path), result, problems)
    except _DAMAGED as exc:  # what a damaged zip raises anywhere in zipfile or in our own reading
        problems.append(f"the zip is damaged and cannot be read through: {type(exc).__name__}: {exc}")
    return result


# what reading an altered or damaged zip can raise (UnicodeDecodeError and JSON errors are ValueErrors)
_DAMAGED = (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, KeyError, IndexError, TypeError,
            AttributeError, NotImplementedError, RuntimeError, struct.error, OverflowError)


def _verify(path: Path, result: dict, problems: list) -> None:
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        names = [i.filename for i in infos]
        result["members"] = len(names)
        if names != sorted(names) or len(set(names)) != len(names):
            problems.append("members are not in the order recon writes them (sorted, each once)")
        for i in infos:
            if (i.date_time, i.compress_type, i.external_attr, i.create_system) != \
                    (STAMP, zipfile.ZIP_DEFLATED, MODE, 3) or i.extra or i.comment:
                problems.append(f"{i.filename}: its zip entry is not as recon writes it (time, mode or compression)")
        if zf.comment:
            problems.append("the zip has a comment recon never writes")
        _check_layout(path, zf, infos, problems)
        listed = _read_sums(zf, names, problems)
        hashes = {}
        if SUMS in names:
            try:
                _sha256_member(zf, SUMS)
            except _DAMAGED as exc:
                problems.append(f"{SUMS}: unreadable ({exc}): the pack was altered or damaged")
        for name in sorted(set(names) | set(listed)):
            if name == SUMS:
                continue
            if name not in names:
                problems.append(f"{name}: listed in {SUMS} but not in the pack")
                continue
            try:
                hashes[name] = _sha256_member(zf, name)
            except _DAMAGED as exc:
                problems.append(f"{name}: unreadable ({exc}): the pack was altered or damaged")
                continue
            if name not in listed:
                problems.append(f"{name}: not listed in {SUMS}")
            elif listed[name] != hashes[name]:
                problems.append(f"{name}: its SHA-256 is {hashes[name]}, {SUMS} says {listed[name]}")
        _check_chain(zf, names, hashes, result, problems)


def _check_layout(path: Path, zf, infos, problems) -> None:
    """Every byte outside the members' contents as ``build`` writes it: each local header equal to the
    one its directory entry implies, members back to back, the directory and its end record right
    after them. (Contents are checked by hash, and by CRC as they are read.)"""
    expected = {"create_version": 20, "extract_version": 20, "flag_bits": 0, "volume": 0, "internal_attr": 0,
                "reserved": 0}
    at = 0
    with open(path, "rb") as f:
        for i in infos:
            odd = [k for k, v in expected.items() if getattr(i, k) != v and not (
                k.endswith("version") and getattr(i, k) == 45)]  # 45: a ZIP64 member
            if odd:
                problems.append(f"{i.filename}: its zip directory entry is not as recon writes it ({', '.join(odd)})")
            header = i.FileHeader()
            f.seek(i.header_offset)
            found = f.read(len(header))
            if i.header_offset != at or found != header and found != i.FileHeader(zip64=True):
                problems.append(f"{i.filename}: its local zip header or its place in the zip was changed")
            at = i.header_offset + len(header) + i.compress_size
        f.seek(0, os.SEEK_END)
        size = f.tell()
        if zf.start_dir != at:
            problems.append("bytes were added between the last member and the zip's directory")
        big = any(i.file_size >= 0xFFFFFFFF or i.compress_size >= 0xFFFFFFFF or i.header_offset >= 0xFFFFFFFF
                  for i in infos) or len(infos) >= 0xFFFF
        if not big:
            f.seek(zf.start_dir)
            for i in infos:
                entry = _directory_entry(i)
                if f.read(len(entry)) != entry:
                    problems.append(f"{i.filename}: its entry in the zip's directory was changed")
            directory = sum(len(_directory_entry(i)) for i in infos)
            f.seek(size - 22)
            end = struct.unpack("<4s4H2LH", f.read(22))
            if end != (b"PK\x05\x06", 0, 0, len(infos), len(infos), directory, at, 0) or \
                    size != at + directory + 22:
                problems.append("the zip's directory or its end record was changed")


def _directory_entry(i: zipfile.ZipInfo) -> bytes:
    """The central-directory entry ``build`` writes for ``i`` (no ZIP64 fields: those members are
    checked by their local header and contents only)."""
    y, mo, d, h, mi, sec = i.date_time
    name = i.filename.encode("utf-8")
    return struct.pack(zipfile.structCentralDir, zipfile.stringCentralDir, i.create_version, i.create_system,
                       i.extract_version, i.reserved, i.flag_bits, i.compress_type, h << 11 | mi << 5 | sec // 2,
                       (y - 1980) << 9 | mo << 5 | d, i.CRC, i.compress_size, i.file_size, len(name), len(i.extra),
                       len(i.comment), 0, i.internal_attr, i.external_attr, i.header_offset) \
        + name + i.extra + i.comment


def _read_sums(zf, names, problems) -> dict:
    if SUMS not in names:
        problems.append(f"no {SUMS} in the pack")
        return {}
    listed = {}
    try:
        text = zf.read(SUMS).decode("utf-8")
    except _DAMAGED as exc:
        problems.append(f"{SUMS}: unreadable ({exc})")
        return {}
    for n, line in enumerate(text.splitlines(), 1):
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            problems.append(f"{SUMS} line {n}: not '<sha256>  <file>'")
            continue
        listed[name] = digest
    return listed


def _sha256_member(zf, name: str) -> str:
    """The member's SHA-256, its deflate stream read here rather than by zipfile, which passes a stream
    that does not end where its entry says, or whose last byte carries set padding bits (zlib writes
    them as zeros): both are bytes changed without changing the content."""
    info = zf.getinfo(name)
    if info.compress_type != zipfile.ZIP_DEFLATED:
        raise zipfile.BadZipFile("not deflated")
    h, crc, size = hashlib.sha256(), 0, 0
    inflate = zlib.decompressobj(-15)
    last = b""
    with open(zf.filename, "rb") as f:
        f.seek(info.header_offset + len(info.FileHeader()))
        left = info.compress_size
        while left:
            chunk = f.read(min(left, 1024 * 1024))
            if not chunk:
                raise EOFError("the zip ends inside this member")
            left -= len(chunk)
            if not left:  # the last byte is fed on its own, so that its padding bits can be tried
                chunk, last = chunk[:-1], chunk[-1:]
            out = inflate.decompress(chunk)
            h.update(out)
            crc, size = zlib.crc32(out, crc), size + len(out)
    if last:
        before = inflate.copy()
        out = inflate.decompress(last) + inflate.flush()
        for bit in range(8):
            if last[0] >> bit & 1:  # a set bit the stream does not need is a changed byte
                trial = before.copy()
                if trial.decompress(bytes([last[0] & ~(1 << bit)])) + trial.flush() == out and trial.eof:
                    raise zipfile.BadZipFile("its compressed stream ends in a set padding bit recon never writes")
        h.update(out)
        crc, size = zlib.crc32(out, crc), size + len(out)
    if not inflate.eof or inflate.unused_data or crc != info.CRC or size != info.file_size:
        raise zipfile.BadZipFile("its compressed stream, CRC or size does not hold together")
    return h.hexdigest()


def _check_chain(zf, names, hashes, result, problems) -> None:
    """The run log's links, and the run's manifest and inputs against its event in the log."""
    if "runlog.jsonl" not in hashes or "manifest.json" not in hashes:
        if "runlog.jsonl" not in names or "manifest.json" not in names:
            problems.append("runlog.jsonl or manifest.json is missing from the pack")
        return
    manifest = json.loads(zf.read("manifest.json").decode("utf-8"))
    run_id = result["run_id"] = manifest.get("run_id")
    found: dict = {}

    def stream():  # the log read line by line (it grows with the store's history), the run's fact kept
        with zf.open("runlog.jsonl") as raw:
            for line in io.TextIOWrapper(raw, encoding="utf-8"):
                e = json.loads(line)
                payload = json.loads(e["payload_json"])
                if e["kind"] == "start":
                    fact = next((f for f in payload.get("run") or [] if f.get("run_id") == run_id), None)
                    if fact is not None:
                        found["fact"] = fact
                elif e["kind"] in ("run", "abort") and payload.get("run_id") == run_id:
                    found["fact"] = payload
                yield e

    broken, info = runlog.check_links(stream())
    for b in broken:
        problems.append(f"runlog.jsonl event {b['seq']} ({b['kind']}): {b['problem']}")
    result["chain_head"] = info["head"]
    if not info["events"]:
        return  # the store kept no run log when the run was made: the README says so
    fact = found.get("fact")
    if fact is None:
        problems.append(f"runlog.jsonl holds no event for run {run_id}")
        return
    if fact.get("manifest_sha256") != hashes["manifest.json"]:
        problems.append(f"manifest.json is not the manifest the run log recorded for run {run_id} "
                        "(its SHA-256 differs)")
    if "inputs.csv" in hashes:
        rows = list(csv.reader(zf.read("inputs.csv").decode("utf-8-sig").splitlines()))[1:]
        if sorted(r[2] for r in rows if len(r) > 2) != sorted(f for _, f in fact.get("inputs") or []):
            problems.append(f"inputs.csv does not list the input files the run log recorded for run {run_id}")
