"""Progress on long work: one self-overwriting status line on stderr, only when a person is watching.

A nightly job's log (stderr redirected to a file) gets nothing: ``for_stream`` returns a silent
callback unless the stream is a terminal. The callback takes the step's name and, where the step
counts something, how far it is (``done`` of ``total``).
"""

from __future__ import annotations

import sys
import time


class TerminalProgress:
    """Rewrites one line per step: ``[12.3s] importing erp/ar.csv (3/16)``."""

    def __init__(self, stream):
        self.stream = stream
        self.started = time.monotonic()
        self.width = 0

    def __call__(self, step: str, done: int | None = None, total: int | None = None) -> None:
        text = f"[{time.monotonic() - self.started:5.1f}s] {step}"
        if total:
            text += f" ({(done or 0) + 1}/{total})"
        pad = max(self.width - len(text), 0)
        self.width = len(text)
        end = "\n" if step == "done" else ""
        self.stream.write("\r" + text + " " * pad + end)
        self.stream.flush()


def _silent(step: str, done: int | None = None, total: int | None = None) -> None:
    """Nobody is watching: say nothing."""


def for_stream(stream=None):
    """A progress callback for ``stream`` (default stderr): visible on a terminal, silent otherwise."""
    stream = stream or sys.stderr
    isatty = getattr(stream, "isatty", None)
    return TerminalProgress(stream) if isatty is not None and isatty() else _silent
