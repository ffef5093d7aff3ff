"""A text part read in chunks, so a file of gigabytes is never held whole (issue 10, point 3).

Why: a 2 GB GB18030 export held as bytes, then as decoded text, then re-encoded as UTF-8 for
DuckDB took three copies of the file at once. Here the bytes are read once in ``CHUNK`` blocks to
learn what the import needs before any text is decoded (SHA-256, the evidence copy, the encoding,
where every line starts and ends), and the text is then decoded block by block whenever a reader
asks for it (detection, the fast-path plan, the Python row reader, each from the start).

Chunks end just after a ``\\n``: in UTF-8 and GB18030 the byte 0x0A never occurs inside a
multi-byte character, so each block decodes alone and every chunk holds whole lines. The chunked
reading applies when it gives exactly the text ``containers.decode`` gives for the whole file: UTF-8
(with or without a byte-order mark) or GB18030, no lone ``\\r`` (universal newlines would join or
split lines across a chunk edge) and no line over the ``field`` limit (``decode`` cuts those out
first). Any other text part (UTF-16, lone CRs, an over-long line) is decoded whole, as before.

Line positions (``spans``: line, start, stop in the part's bytes, the line end excluded) go to a
Parquet file in a scratch folder as the blocks pass, for ``recon.io.records``' ``rec_offset`` /
``rec_length``; memory holds one block's worth of them.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa

from recon import tempfiles
from recon.evidence import EvidenceError
from recon.errors import InputError
from recon.io import containers, limits

CHUNK = 16 * 1024 * 1024  # bytes read (and text decoded) at a time
FIRST = 1024 * 1024  # the first piece: detection reads a few dozen rows, the plan the rows under the header
OFFSET_ENCODINGS = ("utf-8", "utf-8-sig", "gb18030")  # where a line's bytes start at a found 0x0A + 1
_SPANS = pa.schema([("line", pa.int32()), ("start", pa.int64()), ("stop", pa.int64())])


def _cannot_copy(base: Path, exc: OSError) -> EvidenceError:
    return EvidenceError(f"cannot write the evidence copy into {base}: {exc.strerror}; "
                         "the store's folder must be writable")


class _Scan:
    """What one pass over a text part's bytes learns: encoding, line spans, lone CRs, longest line."""

    def __init__(self):
        self.base = 0  # bytes seen
        self.lines = 0  # lines ended by a \n so far
        self.line_start = 0  # where the current (open) line starts
        self.cr = 0
        self.crlf = 0
        self.longest = 0
        self.prev = 0  # the byte before this block (a \r before a \n at a block edge)
        self.head = b""
        self.utf8 = codecs.getincrementaldecoder("utf-8")()
        self.utf8_ok = True
        self.utf8_error = None  # offset of the first byte that is not UTF-8
        self.dir = tempfiles.scratch_dir("fastcsv")
        self.spans = self.dir / "spans.parquet"
        import pyarrow.parquet as pq  # here, not at import: every recon process would carry it

        self.writer = pq.ParquetWriter(self.spans, _SPANS, compression="none", use_dictionary=False,
                                         write_statistics=False)

    def feed(self, block: bytes) -> None:
        if len(self.head) < 8192:
            self.head += block[:8192 - len(self.head)]
        if self.utf8_ok:
            skip = 3 if self.base == 0 and block.startswith(b"\xef\xbb\xbf") else 0
            try:
                self.utf8.decode(block[skip:])
            except UnicodeDecodeError as exc:
                self.utf8_ok = False
                self.utf8_error = self.base + skip + exc.start
        arr = np.frombuffer(block, np.uint8)
        lf = np.flatnonzero(arr == 10).astype(np.int64)
        self.cr += block.count(b"\r")
        if len(lf):
            before = np.where(lf > 0, arr[np.maximum(lf - 1, 0)], self.prev) == 13
            self.crlf += int(before.sum())
            ends = self.base + lf
            starts = np.concatenate(([self.line_start], ends[:-1] + 1))
            stops = ends - before
            self.longest = max(self.longest, int((stops - starts).max()))
            first = self.lines + 1
            self.writer.write_table(pa.table({
                "line": pa.array(np.arange(first, first + len(lf), dtype=np.int32)),
                "start": pa.array(starts), "stop": pa.array(stops)}, schema=_SPANS))
            self.lines += len(lf)
            self.line_start = int(ends[-1]) + 1
        self.base += len(block)
        if block:
            self.prev = block[-1]
        self.longest = max(self.longest, self.base - self.line_start)

    def drop(self) -> None:
        """Close and remove the spans file (a part not read as text, a failure)."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def finish(self) -> int:
        """Close the spans file; return the number of lines ``text_rows`` sees."""
        n = self.lines
        if self.base > self.line_start:  # a last line without a line end
            n += 1
            self.writer.write_table(pa.table({"line": pa.array([n], pa.int32()),
                                              "start": pa.array([self.line_start], pa.int64()),
                                              "stop": pa.array([self.base], pa.int64())}, schema=_SPANS))
        self.writer.close()
        if self.utf8_ok:
            try:
                self.utf8.decode(b"", final=True)
            except UnicodeDecodeError:
                self.utf8_ok, self.utf8_error = False, self.base
        return n


class TextSource:
    """A text part: where its bytes are (a file, or bytes in memory), its encoding and line spans.

    ``chunks()`` yields its decoded text from the start, in pieces of whole lines; ``close()``
    removes the spans file. ``encoding`` is what ``containers.decode`` would say.
    """

    def __init__(self, path: Path | None, data: bytes | None, scan: _Scan):
        self.path, self.data, self.size = path, data, scan.base
        self._dir = scan.dir
        self.lines = scan.finish()
        if scan.head.startswith((b"\xff\xfe", b"\xfe\xff")):
            enc = "utf-16"
        elif scan.head.startswith(b"\xef\xbb\xbf"):
            enc = "utf-8-sig"
            if not scan.utf8_ok:
                self.close()
                raise self._not_utf8(scan.utf8_error)
        else:
            enc = "utf-8" if scan.utf8_ok else "gb18030"
        self.encoding = enc
        lone_cr = scan.cr != scan.crlf
        # every line end is CRLF: the fast path's copy keeps them (rewriting each costs a pass)
        self.crlf_only = enc in OFFSET_ENCODINGS and not lone_cr and 0 < scan.crlf == scan.lines
        self.whole = enc not in OFFSET_ENCODINGS or lone_cr or scan.longest > limits.current().field
        # line spans are exact where a 0x0A is always a line end and no CR stands alone
        self.spans = scan.spans if enc in OFFSET_ENCODINGS and not lone_cr else None

    def _not_utf8(self, offset: int) -> InputError:
        data = self._read_all()
        return containers._not_text(data, offset, "starts with a UTF-8 byte-order mark but is not UTF-8 after it",
                                    "save it again as UTF-8, or remove the mark if the text is GBK")

    def _blocks(self):
        if self.data is not None:
            if self.data:
                yield self.data[:FIRST]
            for i in range(FIRST, len(self.data), CHUNK):
                yield self.data[i:i + CHUNK]
            return
        with open(self.path, "rb") as f:
            size = FIRST  # detection reads a few dozen rows: the first piece is small
            while block := f.read(size):
                yield block
                size = CHUNK

    def _read_all(self) -> bytes:
        return self.data if self.data is not None else Path(self.path).read_bytes()

    def head_text(self, n: int = 4096) -> str:
        """The first characters of the text (for a delimiter guess)."""
        return next(iter(self.chunks()), "")[:n]

    def chunks(self):
        """The decoded text from the start, in chunks that each end after a line end (but the last)."""
        if self.whole:
            yield containers.decode(self._read_all())[0]
            return
        codec = "utf-8" if self.encoding == "utf-8-sig" else self.encoding
        carry, base, first = b"", 0, True
        for block in self._blocks():
            buf = carry + block if carry else block
            cut = buf.rfind(b"\n") + 1
            if cut == 0:
                carry = buf
                continue
            piece, carry = buf[:cut], buf[cut:]
            yield self._decode(piece, codec, base, first)
            base, first = base + len(piece), False
        if carry or first:
            yield self._decode(carry, codec, base, first)

    def _decode(self, piece: bytes, codec: str, base: int, first: bool) -> str:
        skip = 3 if first and self.encoding == "utf-8-sig" else 0
        try:
            return piece[skip:].decode(codec)
        except UnicodeDecodeError as exc:
            raise InputError(f"not UTF-8 and not GB18030 text (bad byte at offset {base + skip + exc.start}); "
                             "is it a spreadsheet or a damaged download?") from None

    def close(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)


def from_bytes(data: bytes) -> TextSource:
    """A text part held in memory (a zip member, a gzip stream)."""
    scan = _Scan()
    try:
        for i in range(0, len(data), CHUNK):
            scan.feed(data[i:i + CHUNK])
    except BaseException:
        scan.drop()
        raise
    return TextSource(None, data, scan)


class FileScan:
    """A file read once in blocks: its SHA-256 and size, its first bytes, and (``copy_to``) a copy
    written under a temp name there (the evidence kept ahead), plus, when ``text``, its text scan."""

    def __init__(self, path: Path, copy_to: Path | None = None):
        self.path = Path(path)
        self.copy: Path | None = None
        self.source: TextSource | None = None
        self.is_text = True
        h = hashlib.sha256()
        scan = _Scan()
        out = None
        try:
            if copy_to is not None:
                try:
                    copy_to.mkdir(parents=True, exist_ok=True)
                    self.copy = copy_to / f".incoming.{os.getpid()}.{os.urandom(4).hex()}.tmp"
                    out = open(self.copy, "wb")
                except OSError as exc:
                    raise _cannot_copy(copy_to, exc) from None
            with open(self.path, "rb") as f:
                while block := f.read(CHUNK):
                    h.update(block)
                    if out is not None:
                        try:
                            out.write(block)
                        except OSError as exc:
                            raise _cannot_copy(copy_to, exc) from None
                    if scan.base == 0:  # the first block says what the file is
                        self.is_text = containers.sniff_container(block[:8192]) == "text"
                    if self.is_text:
                        scan.feed(block)
                    else:
                        scan.base += len(block)
            if out is not None:
                out.close()
        except OSError as exc:
            if out is not None:
                out.close()
            self._drop(scan)
            raise InputError(f"{path}: cannot read the file: {exc.strerror}") from None
        except BaseException:
            if out is not None:
                out.close()
            self._drop(scan)
            raise
        self.file_id, self.size, self.head = h.hexdigest(), scan.base, scan.head
        self._scan = scan

    def _drop(self, scan) -> None:
        scan.drop()
        if self.copy is not None:
            self.copy.unlink(missing_ok=True)
            self.copy = None

    def text(self) -> TextSource:
        """The file as a text part, read from its evidence copy (the bytes hashed) where there is one."""
        self.source = TextSource(self.copy or self.path, None, self._scan)
        return self.source

    def drop_spans(self) -> None:
        """Not a text part: its line spans are of no use."""
        self._scan.drop()

    def discard(self) -> None:
        """Not needed (a file already loaded, a failure): remove the scan's spans and the copy."""
        self._scan.drop()
        if self.copy is not None:
            self.copy.unlink(missing_ok=True)
            self.copy = None
