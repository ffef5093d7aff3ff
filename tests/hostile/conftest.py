"""The hostile-input suite: each case runs ``python -m recon`` as a child process, as a clerk would,
and checks its exit code, that no traceback was printed, and the child's peak memory (``ru_maxrss``
from ``os.wait4``: that child alone, never an address-space limit)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.hostile import build

RSS_LIMIT_MB = 300
FIXTURES = Path(__file__).parent.parent / "fixtures"


@dataclass
class Ran:
    code: int
    out: bytes
    err: bytes
    rss_mb: float

    @property
    def text(self) -> str:
        return (self.out + self.err).decode("utf-8", "replace")


# The child's peak memory comes from a small launcher: a child started straight from pytest would
# report pytest's own peak too (Linux carries the parent's high-water mark across vfork + exec into
# ru_maxrss). The launcher is small, so its child's ru_maxrss is that child's own.
_LAUNCHER = """import resource, subprocess, sys
code = subprocess.call(sys.argv[2:])
with open(sys.argv[1], "w") as f:
    f.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(code if code >= 0 else 128 - code)
"""


def recon(*args, cwd=None, env=None, timeout: float = 120, rss_limit_mb: float = RSS_LIMIT_MB) -> Ran:
    """Run ``python -m recon ARGS``; a child that hangs is killed after ``timeout`` seconds (and fails),
    one whose peak memory reaches ``rss_limit_mb`` fails."""
    full_env = {**os.environ, **(env or {})}
    with tempfile.TemporaryDirectory() as d:
        out, err, rss = Path(d, "out"), Path(d, "err"), Path(d, "rss")
        with open(out, "wb") as o, open(err, "wb") as e:
            proc = subprocess.Popen([sys.executable, "-c", _LAUNCHER, str(rss), sys.executable, "-m", "recon",
                                     *map(str, args)], stdin=subprocess.DEVNULL, stdout=o, stderr=e, cwd=cwd,
                                    env=full_env, start_new_session=True)
            try:
                proc.wait(timeout)
                hung = False
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                hung = True
        ran = Ran(proc.returncode, out.read_bytes(), err.read_bytes(),
                  int(rss.read_text() or 0) / 1024 if rss.exists() else 0)
    assert not hung, f"recon {' '.join(map(str, args))} hung for {timeout}s"
    assert b"Traceback" not in ran.err, ran.err.decode("utf-8", "replace")
    assert ran.code != 3, f"exit 3 is for recon's own bugs:\n{ran.text}"
    assert 0 < ran.rss_mb < rss_limit_mb, f"peak memory {ran.rss_mb:.0f} MB (limit {rss_limit_mb:.0f} MB)"
    return ran


# An Alipay 业务明细 export as the fixture holds it, in UTF-8 (rows are filled in by each test).
ALIPAY_HEAD = (FIXTURES / "alipay_trade_detail.csv").read_bytes().decode("gb18030").splitlines(keepends=True)


def alipay_csv(rows) -> str:
    """The fixture's preamble and header, then ``rows`` (lines of text), then its footer."""
    head = [ln for ln in ALIPAY_HEAD[:5]]
    foot = [ln for ln in ALIPAY_HEAD if ln.startswith("#-") and "结束" in ln]
    return "".join(head) + "".join(r if r.endswith("\n") else r + "\n" for r in rows) + "".join(foot)


def alipay_row(trade_no: str, order_no: str, goods: str, amount: str = "100.00") -> str:
    return (f"{trade_no}\t,{order_no}\t,交易\t,{goods},2026-01-01 10:00:00,2026-01-01 10:00:05,\t,\t,\t,\t,"
            f"*津水(602***@qq.com)\t,{amount},{amount},0.00,0.00,0.00,0.00,0.00,,0.00\t,0.00,\t,-0.60,0.00,")


@pytest.fixture(scope="session")
def zeros():
    """700 MB of zeros as one raw DEFLATE stream (~0.7 MB): the core of every bomb."""
    return build.deflate_run(b"\0", 700)


@pytest.fixture(scope="session")
def bombs(tmp_path_factory, zeros):
    """Every decompression bomb as a file: name -> path."""
    d = tmp_path_factory.mktemp("bombs")
    raw, crc, size = zeros
    files = {
        "gzip.csv.gz": build.gzip_bytes(raw, crc, size),
        "zip.zip": build.zip_bytes([("a.csv", raw, 8, crc, size)]),
        # the headers say 1000 bytes: a check of the declared sizes passes it
        "lying.zip": build.zip_bytes([("a.csv", raw, 8, crc, 1000)]),
        "nested.zip": build.zip_bytes([build.deflated("inner.zip", build.zip_bytes([("a.csv", raw, 8, crc, size)]))]),
    }
    # Two layers each under the ratio limit, together far over it: the budget counts across levels.
    sprinkled = bytearray(24 * build.MB)
    for i in range(0, len(sprinkled), 600):
        sprinkled[i] = (i * 7919) % 251 + 1
    files["compound.zip"] = build.zip_bytes([build.deflated("inner.zip", build.zip_bytes([build.stored("a.csv", bytes(sprinkled))]))])
    # An XLSX whose sheet XML is 700 MB of spaces: the workbook's parts are checked before the reader
    sheet_raw, sheet_crc, sheet_size = build.deflate_run(
        b" ", 700, b'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                   b"<sheetData>", b"</sheetData></worksheet>")
    files["sheet.xlsx"] = build.zip_bytes([
        build.deflated("[Content_Types].xml", b'<?xml version="1.0"?><Types/>'),
        build.deflated("xl/workbook.xml", b'<?xml version="1.0"?><workbook/>'),
        ("xl/worksheets/sheet1.xml", sheet_raw, 8, sheet_crc, sheet_size),
    ])
    out = {}
    for name, data in files.items():
        (d / name).write_bytes(data)
        out[name] = d / name
    return out


_BASELINE: list = []


def baseline_rss_mb() -> float:
    """The peak memory of a recon child that only starts (``recon formats``): the interpreter and the
    libraries recon loads. It differs by machine and by how fresh the venv's files are (measured here:
    ~90 MB in a long-used venv, ~130 MB in a fresh clone's), so a test about what recon does with a
    large input bounds the memory above it."""
    if not _BASELINE:
        _BASELINE.append(recon("formats").rss_mb)
    return _BASELINE[0]
