"""Errors a user can act on, and their exit codes.

Expected user errors (bad flags, unreadable configuration, an input that is not a ledger) are
``ReconError`` subclasses: the CLI prints their message without a traceback and exits with their
``exit_code``. Anything else is a bug and keeps its traceback (exit 3).
"""

EXIT_OK = 0
EXIT_FINDINGS = 1  # the run is complete and has breaks (recon.verdict)
EXIT_USAGE = 2
EXIT_INTERNAL = 3
EXIT_INCOMPLETE = 4  # the run finished but its coverage cannot be trusted (recon.verdict)
EXIT_INTERRUPTED = 130  # Ctrl-C, as most command-line tools


class ReconError(Exception):
    """A problem the user can fix; the message says what, why and how."""

    exit_code = EXIT_USAGE


class ConfigError(ReconError):
    """A rules, profile or dictionary file is invalid. Carries every problem found at once."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class InputError(ReconError):
    """An input file cannot be read as any known format."""


class ConservationError(ReconError):
    """Lines in != lines out: the run cannot prove nothing was lost. This is an internal failure."""

    exit_code = EXIT_INTERNAL


class Interrupted(ReconError):
    """Ctrl-C: the message says what was kept and what was not touched."""

    exit_code = EXIT_INTERRUPTED
