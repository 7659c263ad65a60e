"""What a datakit output directory is: its file names, when it is complete, how to read it safely.

An output is committed in one step (a directory rename, see `commit.py`), so a directory is a
complete output exactly when `manifest.json` is a regular file in it; every command asks
`output_state` and so agrees on that. Names datakit writes are fixed (`TOP_LEVEL`, and in a
split directory `data-NNNNN.arrow` (`.parquet` for a Parquet export), `state.json`,
`dataset_info.json`); anything else in an
output is not datakit's (`foreign_entries`). The files of an output may have been crafted:
`open_regular` and `read_json` open only regular files, never follow a symbolic link, never
block on a FIFO and never read more than a datakit file can hold.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import stat
from enum import StrEnum
from pathlib import Path
from typing import Any, BinaryIO, Callable

MANIFEST = "manifest.json"
DATASET_DICT = "dataset_dict.json"
STATS = "stats.json"
REJECTS = "rejects.jsonl"
STATE = "state.json"
DATASET_INFO = "dataset_info.json"
SPLITS = ("train", "test")
LEGACY_STAGING = ".datakit-staging"  # where datakit 0.1.0 staged a run, inside OUT
TOP_LEVEL = frozenset({MANIFEST, DATASET_DICT, STATS, REJECTS, *SPLITS, LEGACY_STAGING})
# In a split directory: datakit's files, and the cache files `datasets` writes beside them
# when a loaded split is mapped (derived from the shards, so replaced with them).
# piece-HEX.arrow: the rows `--engine ray` workers stage for the shard tasks (datakit/ray/shards.py)
_SPLIT_FILE = re.compile(r"(data-\d{5}\.(arrow|parquet)|state\.json|dataset_info\.json|piece-[0-9a-f]+\.arrow)(\.tmp)?"
                         r"|cache-[0-9a-f]+\.arrow")
MAX_JSON_BYTES = 64 << 20  # a manifest of 400,000 shards is under 64 MiB


class OutputState(StrEnum):
    ABSENT = "absent"
    NOT_A_DIRECTORY = "not a directory"
    EMPTY = "empty"
    PARTIAL = "partial"  # files but no manifest.json: never a finished output
    COMPLETE = "complete"  # manifest.json is a regular file: committed


class UnreadableFile(ValueError):
    """A file of an output that is missing, not a regular file, too big or not valid JSON."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def output_state(out: Path) -> OutputState:
    """Whether `out` is a complete output; the one definition render, check, stats and inspect share."""
    try:
        mode = os.stat(out).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return OutputState.ABSENT
    if not stat.S_ISDIR(mode):
        return OutputState.NOT_A_DIRECTORY
    try:
        if stat.S_ISREG(os.lstat(out / MANIFEST).st_mode):
            return OutputState.COMPLETE
    except FileNotFoundError:
        pass
    with os.scandir(out) as entries:
        return OutputState.PARTIAL if any(True for _ in entries) else OutputState.EMPTY


def foreign_entries(out: Path, names: frozenset[str] = TOP_LEVEL) -> list[str]:
    """What in the directory `out` datakit did not write (it refuses to replace such a directory);
    `names`: what its top level may hold (a render's by default, `split.write.NAMES` for a split)."""
    found = []
    with os.scandir(out) as scan:
        entries = sorted(scan, key=lambda e: e.name)
    for entry in entries:
        if entry.name not in names:
            found.append(entry.name)
        elif entry.name in SPLITS and entry.is_symlink():
            found.append(f"{entry.name} (a symbolic link)")
        elif entry.name in SPLITS and entry.is_dir(follow_symlinks=False):
            found += [f"{entry.name}/{name}" for name in sorted(os.listdir(entry.path))
                      if not _SPLIT_FILE.fullmatch(name)]
    return found


def is_plain_name(name: Any) -> bool:
    """A file name that stays in its directory: no `/`, not `.` or `..`, not empty."""
    return isinstance(name, str) and name not in ("", ".", "..") and "/" not in name and "\0" not in name


def os_reason(exc: OSError) -> str:
    """The system's words for an OSError ("No space left on device"), without file names."""
    return os.strerror(exc.errno) if exc.errno else str(exc)


def open_regular(path: Path) -> BinaryIO:
    """`path` opened for reading if it is a regular file; a link, FIFO or device is UnreadableFile."""
    try:
        before = os.lstat(path)
    except FileNotFoundError:
        raise UnreadableFile(path, "missing") from None
    except OSError as exc:
        raise UnreadableFile(path, os_reason(exc)) from None
    if not stat.S_ISREG(before.st_mode):
        kind = "a symbolic link" if stat.S_ISLNK(before.st_mode) else "not a regular file"
        raise UnreadableFile(path, kind)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise UnreadableFile(path, os_reason(exc)) from None
    now = os.fstat(fd)
    if (now.st_dev, now.st_ino) != (before.st_dev, before.st_ino) or not stat.S_ISREG(now.st_mode):
        os.close(fd)
        raise UnreadableFile(path, "replaced while it was being opened")
    return os.fdopen(fd, "rb")


def read_json(path: Path, *, object_pairs_hook: Callable[[list[tuple[str, Any]]], Any] | None = None) -> Any:
    """The JSON value in the regular file `path` (at most MAX_JSON_BYTES), or UnreadableFile."""
    with open_regular(path) as f:
        size = os.fstat(f.fileno()).st_size
        if size > MAX_JSON_BYTES:
            raise UnreadableFile(path, f"{size:,} bytes, more than a datakit {path.name} can be")
        data = f.read(MAX_JSON_BYTES + 1)
    try:
        return json.loads(data.decode("utf-8"), object_pairs_hook=object_pairs_hook,
                          parse_int=_int64, parse_float=_finite, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise UnreadableFile(path, f"not valid JSON ({exc})") from None


def sha256_of(f: BinaryIO) -> str:
    """The SHA-256 of what is left to read in `f`."""
    digest = hashlib.sha256()
    while chunk := f.read(1 << 20):
        digest.update(chunk)
    return digest.hexdigest()


# datakit writes no number outside int64 and no NaN or infinity: such a value is a crafted file.
def _int64(text: str) -> int:
    if len(text.lstrip("-")) > 19 or not -(1 << 63) <= int(text) < (1 << 63):
        raise ValueError(f"number {text[:30]}... out of range")
    return int(text)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:30]} out of range")
    return value


def _no_constant(text: str) -> Any:
    raise ValueError(f"{text} is not a number datakit writes")
