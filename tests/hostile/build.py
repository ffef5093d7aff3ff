"""Hostile inputs built on the fly, small on disk with extreme ratios (a few seconds to build, once).

``deflate_run`` makes a raw DEFLATE stream of ``prefix + unit * n + suffix`` without compressing the
whole: once the window is full of ``unit``, every further megabyte compresses (with a sync flush)
to the same bytes, so the block is repeated. ``zip_bytes`` writes a zip by hand so a test can make
its headers lie about a member's size.
"""

from __future__ import annotations

import struct
import zlib

MB = 1024 * 1024


def deflate_run(unit: bytes, megabytes: int, prefix: bytes = b"", suffix: bytes = b""):
    """(raw deflate bytes, CRC-32, uncompressed size) of prefix + unit * (megabytes MB) + suffix."""
    block = (unit * (MB // len(unit) + 1))[:MB]
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    out = [c.compress(prefix + block) + c.flush(zlib.Z_SYNC_FLUSH)]
    second = c.compress(block) + c.flush(zlib.Z_SYNC_FLUSH)
    third = c.compress(block) + c.flush(zlib.Z_SYNC_FLUSH)
    assert second == third, "the window is full of the unit: each further megabyte compresses alike"
    out += [second] * (megabytes - 2)
    out.append(c.compress(suffix) + c.flush())
    crc = zlib.crc32(prefix)
    for _ in range(megabytes):
        crc = zlib.crc32(block, crc)
    crc = zlib.crc32(suffix, crc)
    return b"".join(out), crc, len(prefix) + megabytes * MB + len(suffix)


def gzip_bytes(raw: bytes, crc: int, size: int) -> bytes:
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + raw + struct.pack("<II", crc, size & 0xFFFFFFFF)


def zip_bytes(members) -> bytes:
    """members: (name, data, method, crc, size) with data already compressed for ``method`` (0 or 8);
    ``size`` is what the headers claim (a lie, if the test wants one)."""
    body, central = b"", b""
    for name, data, method, crc, size in members:
        name_b = name.encode()
        offset = len(body)
        body += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0x800, method, 0, 0x21, crc, len(data), size,
                            len(name_b), 0) + name_b + data
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0x800, method, 0, 0x21, crc, len(data),
                               size, len(name_b), 0, 0, 0, 0, 0, offset) + name_b
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central), len(body), 0)
    return body + central + end


def stored(name: str, data: bytes):
    return (name, data, 0, zlib.crc32(data), len(data))


def deflated(name: str, data: bytes):
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return (name, c.compress(data) + c.flush(), 8, zlib.crc32(data), len(data))
