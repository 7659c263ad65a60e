"""Replace an output directory as a whole: one writer at a time, one rename as the commit.

A run holds an flock on `.NAME.datakit-lock` beside OUT from before it looks at OUT until it
has committed or given up, so a second run fails at once; the kernel drops the lock of a run
that dies. The run stages the whole new output in `.NAME.datakit-staging-PID-RANDOM` beside
OUT (the same filesystem) and commits it with one rename: `rename(staging, OUT)` when OUT is
absent or an empty directory, otherwise `renameat2(staging, OUT, RENAME_EXCHANGE)`, after
which the staging name holds the old tree, which is then removed. Where the kernel or the
filesystem cannot exchange (ENOSYS, EINVAL), OUT is first renamed to
`.NAME.datakit-old-PID-RANDOM` and the staging directory renamed in: a run killed between the
two leaves no OUT, and the next run renames the backup back. Holding the lock, the next run
also removes every staging or backup directory of OUT: no live run can own one.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import re
import secrets
import shutil
import stat
from pathlib import Path
from typing import Callable

from .layout import TOP_LEVEL, OutputState, foreign_entries, output_state
from .terminal import printable

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
# What renameat2 answers where the kernel (ENOSYS) or the filesystem (EINVAL) cannot exchange.
_NO_EXCHANGE = {errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP}


class OutputError(RuntimeError):
    """The output directory cannot be used (exists, is not datakit's, cannot be written, ...)."""


class OutputBusy(OutputError):
    """Another run holds the output's lock."""


def resolve_output(out: Path) -> Path:
    """The real directory a run replaces: `out` with symbolic links resolved, or OutputError."""
    if out.is_symlink() and not out.exists():
        raise OutputError(f"{out} is a symbolic link to {printable(os.readlink(out))}, which does not exist; "
                          "create the directory it names or choose another -o")
    try:
        real = out.resolve()
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symbolic link loop
        raise OutputError(f"{out}: cannot resolve the path ({exc})") from None
    if real == real.parent:
        raise OutputError(f"{out} is the root directory; choose another -o")
    if os.path.ismount(real):
        raise OutputError(f"{out} is a mount point; datakit replaces the output directory as a whole, "
                          "so give a directory inside it")
    return real


def _sibling(out: Path, kind: str) -> Path:
    return out.parent / f".{out.name}.datakit-{kind}-{os.getpid()}-{secrets.token_hex(6)}"


def leftovers(out: Path) -> list[Path]:
    """The staging and backup directories of `out` that runs left beside it."""
    pattern = re.compile(rf"\.{re.escape(out.name)}\.datakit-(staging|old)-\d+-[0-9a-f]{{12}}")
    try:
        names = os.listdir(out.parent)
    except FileNotFoundError:
        return []
    return sorted(out.parent / name for name in names if pattern.fullmatch(name))


def make_parents(out: Path) -> list[Path]:
    """Make the missing directories above `out`; those made, innermost first."""
    missing = []
    parent = out.parent
    while not os.path.lexists(parent):
        missing.append(parent)
        parent = parent.parent
    out.parent.mkdir(parents=True, exist_ok=True)
    return missing


def remove_made(directories: list[Path]) -> None:
    """Remove the directories `make_parents` made, if a failed run left them empty."""
    for directory in directories:
        try:
            os.rmdir(directory)
        except OSError:
            return  # not empty (another run uses it) or gone: keep it and what holds it


def make_staging(out: Path) -> Path:
    staging = _sibling(out, "staging")
    staging.mkdir()
    return staging


def clean_leftovers(out: Path, names: frozenset[str] = TOP_LEVEL) -> None:
    """With the lock held: put back the output an interrupted replacement moved aside, drop the rest
    (`names`: what the top level of such a directory may hold)."""
    found = [path for path in leftovers(out) if _is_ours(path, names)]
    if not os.path.lexists(out):
        backups = [p for p in found if "-old-" in p.name and output_state(p) is OutputState.COMPLETE]
        if backups:
            restored = max(backups, key=lambda p: p.stat().st_mtime_ns)
            os.rename(restored, out)
            fsync_dir(out.parent)
            found.remove(restored)
    for path in found:
        shutil.rmtree(path, ignore_errors=True)


def _is_ours(path: Path, names: frozenset[str]) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode) and not foreign_entries(path, names)
    except OSError:
        return False


def commit_directory(staging: Path, out: Path, check_replaceable: Callable[[], None]) -> None:
    """Make `staging` the directory at `out` in one rename (the commit point), then drop the old tree.

    `check_replaceable` runs just before an existing `out` is swapped out and raises if it may not be.
    """
    fsync_dir(staging)
    try:
        os.rename(staging, out)  # atomic when `out` is absent or an empty directory
    except OSError as exc:
        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
    else:
        _fsync_after_commit(out.parent)
        return
    check_replaceable()
    try:
        rename_exchange(staging, out)
        old = staging
    except OSError as exc:
        if exc.errno not in _NO_EXCHANGE:
            raise
        old = _replace_via_backup(staging, out)
    _fsync_after_commit(out.parent)
    shutil.rmtree(old, ignore_errors=True)  # a run killed here leaves it to the next run


def _replace_via_backup(staging: Path, out: Path) -> Path:
    backup = _sibling(out, "old")
    os.rename(out, backup)
    try:
        fsync_dir(out.parent)
        os.rename(staging, out)
    except BaseException:
        if not os.path.lexists(out):
            os.rename(backup, out)
        raise
    return backup


def rename_exchange(a: Path, b: Path) -> None:
    """Swap two paths atomically (Linux renameat2 RENAME_EXCHANGE); OSError(ENOSYS) where there is none."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        raise OSError(errno.ENOSYS, "renameat2 is not available") from None
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), str(a), None, str(b))


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_after_commit(path: Path) -> None:
    try:
        fsync_dir(path)
    except OSError:
        pass  # the rename is done and visible; a failed flush must not report the run as failed


class OutputLock:
    """An exclusive flock on `.NAME.datakit-lock` beside `out`; removed when released."""

    def __init__(self, out: Path, shown_as: Path | None = None):
        self.path = out.parent / f".{out.name}.datakit-lock"
        self.shown_as = shown_as or out
        self._fd: int | None = None

    def __enter__(self) -> OutputLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def acquire(self) -> None:
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 20, 0).decode(errors="replace").strip()
                os.close(fd)
                raise OutputBusy(f"another datakit run is writing {self.shown_as} "
                                 f"(pid {holder if holder.isdigit() else 'unknown'})") from None
            except BaseException:
                os.close(fd)
                raise
            if self._is_current(fd):
                break
            os.close(fd)  # its holder removed it between our open and flock: lock the new one
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.unlink(self.path)  # while still locked: whoever opened it before sees it is stale
        except OSError:
            pass
        finally:
            os.close(fd)

    def _is_current(self, fd: int) -> bool:
        try:
            now = os.stat(self.path, follow_symlinks=False)
        except FileNotFoundError:
            return False
        mine = os.fstat(fd)
        return (now.st_dev, now.st_ino) == (mine.st_dev, mine.st_ino)
