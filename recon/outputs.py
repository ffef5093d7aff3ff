"""An output folder whose set of files is whole or absent: staged, then swapped in in one step.

A run writes ``results.csv``, the reports, the vouchers and ``manifest.json``; a month-end script
or an auditor reading ``OUT`` must never see one run's results beside another run's manifest. So:

1. The new set is written into a staging folder beside ``OUT`` (same filesystem), named with the
   writer's pid: ``.OUT.recon-<pid>-<random>``.
2. Whatever else ``OUT`` holds (files a user put there, the outputs a ``--no-reports`` run does not
   rewrite are *not* kept: they belong to the old set) is carried into the staging folder: files as
   hard links, folders moved.
3. The staging folder and ``OUT`` are exchanged in one ``renameat2(RENAME_EXCHANGE)``, atomic on one
   filesystem: before it ``OUT`` is the old set, after it the new one. The old set, now at the staging
   name, is then removed (a user file added to ``OUT`` meanwhile is moved across first).

Where the exchange is not available (not Linux, ``OUT`` a mount point, a filesystem without it) the
files are replaced one at a time, ``manifest.json`` last, as before; the manifest's ``output_sha256``
still lets ``verify_set`` tell a whole set from a mixed one.

Two writers of one ``OUT`` are refused by a lock (``.OUT.recon-lock`` beside it, an ``flock`` the
kernel releases when the process dies). A staging folder left by a killed writer is cleaned by the
next writer, only when its pid is gone; entries that are not recon outputs are moved back into
``OUT`` first, never deleted.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

from recon import evidence, tempfiles
from recon.errors import ReconError

# Every file a run or `recon report` may write into OUT. Anything else there belongs to the user.
OUTPUTS = ("results.csv", "quarantine.csv", "order_baseline.csv", "report.html", "recon.xlsx", "vouchers.csv",
           "voucher_sources.csv", "decision_sources.csv", "vouchers_kingdee.xlsx", "vouchers_u8.csv",
           "reconciliation_statement.csv", "manifest.json")
RECON_OUTPUTS = frozenset(OUTPUTS)
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _hook(step: str) -> None:
    """Called after each step of ``publish`` (tests kill the process here); does nothing."""


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths; False when this system or filesystem cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EXDEV, errno.EBUSY, errno.ENOTSUP, errno.EPERM):
        return False
    raise OSError(err, os.strerror(err), str(b))



class OutputSet:
    """The writer of one ``OUT``: lock, clean leftovers, stage, publish. Use as a context manager."""

    def __init__(self, out: Path):
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self._prefix = f".{self.out.name}.recon-"
        self._lock = self._acquire()
        try:
            clean_leftovers(self.out)
            self.staging = Path(tempfile.mkdtemp(prefix=f"{self._prefix}{os.getpid()}-", dir=self.out.parent))
        except BaseException:
            self._release()
            raise

    def _acquire(self):
        path = self.out.parent / f".{self.out.name}.recon-lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
            os.close(fd)
            raise ReconError(f"{self.out}: another recon (pid {holder}) is writing this output folder; "
                             "wait for it to finish, or pass another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        return fd

    def _release(self) -> None:
        if self._lock is not None:
            os.close(self._lock)  # closing the descriptor releases the flock
            self._lock = None

    def __enter__(self) -> "OutputSet":
        return self

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)
        self._release()

    def publish(self, names: list[str]) -> None:
        """Make ``names`` (written into ``staging``) the whole recon set of ``OUT``.

        Recon outputs in ``OUT`` that are not in ``names`` go with the old set (a ``--no-reports``
        run leaves no stale report beside its results); everything else in ``OUT`` is kept.
        """
        self._carry_over(set(names))
        _hook("carried")
        os.chmod(self.staging, os.stat(self.out).st_mode & 0o7777)
        if _exchange(self.staging, self.out):
            _hook("exchanged")
            self._drop_old_set(set(names))
        else:
            self._replace_one_by_one(names)
        _hook("done")

    def _carry_over(self, names: set) -> None:
        for entry in sorted(os.listdir(self.out)):
            if entry in RECON_OUTPUTS or entry in names:
                continue
            src, dst = self.out / entry, self.staging / entry
            if src.is_dir() and not src.is_symlink():
                os.rename(src, dst)  # a user's folder: moved (the leftover cleaner moves it back)
            else:
                os.link(src, dst, follow_symlinks=False)

    def _drop_old_set(self, names: set) -> None:
        """After the exchange ``staging`` holds the old set: remove it, rescuing late user files."""
        old = self.staging
        for entry in sorted(os.listdir(old)):
            src = old / entry
            if entry in RECON_OUTPUTS:
                continue
            if not os.path.lexists(self.out / entry):
                os.rename(src, self.out / entry)  # added to OUT while this run was writing
        shutil.rmtree(old, ignore_errors=True)

    def _replace_one_by_one(self, names: list[str]) -> None:
        for entry in sorted(os.listdir(self.out)):
            if entry in RECON_OUTPUTS and entry not in names:
                os.remove(self.out / entry)
        for entry in sorted(os.listdir(self.staging)):  # carried-over user entries go back
            if entry not in names:
                if not os.path.lexists(self.out / entry):
                    os.rename(self.staging / entry, self.out / entry)
        for name in sorted(names, key=lambda n: n == "manifest.json"):  # the manifest last
            os.replace(self.staging / name, self.out / name)


def clean_leftovers(out: Path) -> list[str]:
    """Remove staging folders of ``OUT`` whose writer is gone; move non-recon entries back first."""
    out = Path(out)
    pattern = re.compile(re.escape(f".{out.name}.recon-") + r"(\d+)-")
    removed = []
    for path in tempfiles.orphans(out.parent, pattern):
        if not path.is_dir():
            continue
        for inner in sorted(os.listdir(path)):
            if inner not in RECON_OUTPUTS and not os.path.lexists(out / inner):
                os.rename(path / inner, out / inner)
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path.name)
    return removed


def hashes(folder: Path, names) -> dict:
    """SHA-256 of each named output (the manifest lists them; it cannot list itself)."""
    return {n: evidence.sha256_file(Path(folder) / n) for n in names if n != "manifest.json"}


def verify_set(out: Path) -> dict:
    """Check ``OUT`` against its ``manifest.json``: ``whole``, ``mixed`` (which files differ) or ``absent``."""
    out = Path(out)
    manifest_path = out / "manifest.json"
    if not manifest_path.is_file():
        return {"out": str(out), "state": "absent", "run_id": None, "problems": ["no manifest.json"]}
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        return {"out": str(out), "state": "mixed", "run_id": None, "problems": [f"manifest.json unreadable: {exc}"]}
    expected = manifest.get("output_sha256")
    if not isinstance(expected, dict):
        return {"out": str(out), "state": "mixed", "run_id": manifest.get("run_id"),
                "problems": ["manifest.json lists no output hashes (written by an older recon): cannot tell"]}
    problems = []
    for name, sha in sorted(expected.items()):
        path = out / name
        if not path.is_file():
            problems.append(f"{name}: missing")
        elif evidence.sha256_file(path) != sha:
            problems.append(f"{name}: not the file this manifest's run wrote (SHA-256 differs)")
    for name in sorted(RECON_OUTPUTS - set(expected) - {"manifest.json"}):
        if (out / name).exists():
            problems.append(f"{name}: not written by this manifest's run")
    return {"out": str(out), "state": "mixed" if problems else "whole", "run_id": manifest.get("run_id"),
            "problems": problems}
