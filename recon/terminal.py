"""What recon prints to a terminal: text from input files with its control characters made visible.

File names, cells and messages can carry escape sequences (``ESC ] … BEL`` sets a window title or a
hyperlink, ``ESC [ … m`` recolours, a C1 ``CSI`` does both in one byte), bidi overrides that reorder
what a clerk reads, or a bare CR that overwrites a line. ``escape_controls`` shows each as a
``\\uXXXX`` escape (valid inside JSON too); ``guarded_std_streams`` puts it in front of stdout and
stderr once, in ``recon.cli.main``, so no command can forget it. Tab and newline pass; a CR passes
only as the first character of a write (the progress line rewrites itself that way).
"""

from __future__ import annotations

import contextlib
import io
import re
import sys

CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")


def escape_controls(text: str) -> str:
    """``'a\\x1b]0;x\\x07'`` -> ``'a\\\\u001b]0;x\\\\u0007'``: every control character as its escape."""
    return CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


class Guarded(io.TextIOBase):
    """A text stream that escapes control characters before they reach ``raw``."""

    def __init__(self, raw):
        self.raw = raw

    def write(self, text: str) -> int:
        lead = "\r" if text.startswith("\r") else ""
        self.raw.write(lead + escape_controls(text[len(lead):]))
        return len(text)

    def flush(self) -> None:
        self.raw.flush()

    def isatty(self) -> bool:
        return self.raw.isatty()

    def fileno(self) -> int:
        return self.raw.fileno()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self):
        return getattr(self.raw, "encoding", "utf-8")

    @property
    def errors(self):
        return getattr(self.raw, "errors", "strict")


@contextlib.contextmanager
def guarded_std_streams():
    """Escape control characters in everything written to stdout and stderr until the block ends."""
    saved = sys.stdout, sys.stderr
    if not isinstance(sys.stdout, Guarded):
        sys.stdout = Guarded(sys.stdout)
    if not isinstance(sys.stderr, Guarded):
        sys.stderr = Guarded(sys.stderr)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        sys.stdout, sys.stderr = saved
