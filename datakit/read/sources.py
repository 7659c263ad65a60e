"""Cut input files into numbered records, streaming, without parsing them.

| input | records | `line` |
|---|---|---|
| `.jsonl` | one per non-blank line | the line number |
| `.json`, `-` (stdin) | one per element of a top-level JSON array; JSON Lines if the text does not start with `[` | the element's 1-based number (or the line number) |
| `.jsonl.gz`, `.json.gz` | as the uncompressed file | as above |
| `.parquet` | one per row, read in record batches | the 1-based row number |

Reading runs in the main process and only finds record boundaries (JSON array elements are
found by `json_array`'s scanner, not parsed), so it stays cheap; parsing and validation
(`records`) run beside rendering, in the workers. A record longer than `max_line_bytes` is
skipped without being held in memory and comes out with no payload (a `line_too_long` reject).
Blank lines are counted, never yielded.
"""

from __future__ import annotations

import gzip
import shutil
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator

from ..outcome import Reason
from .json_array import BOM, array_records

DEFAULT_MAX_LINE_BYTES = 64 << 20
STDIN = "-"
_READ_CHUNK = 1 << 20
_PARQUET_BATCH_ROWS = 1024


@dataclass(frozen=True, slots=True)
class Record:
    """One input record: undecoded bytes (`raw`), a decoded `value` (a Parquet row), or the
    `problem` reading found (a reason and detail: too long, a malformed JSON array)."""

    source: int  # index of the input file
    line: int  # 1-based line (JSONL) or record number (JSON array, Parquet)
    raw: bytes | None
    value: Any = None
    problem: tuple[Reason, str] | None = None


def too_long_problem(max_line_bytes: int) -> tuple[Reason, str]:
    return Reason.LINE_TOO_LONG, f"longer than {max_line_bytes} bytes"


@dataclass
class ReadCounts:
    """What reading saw: totals, and per input file."""

    lines: int = 0  # records and blank lines
    blank: int = 0
    bytes: int = 0
    lines_per_file: list[int] = field(default_factory=list)
    blank_per_file: list[int] = field(default_factory=list)


class ReadError(ValueError):
    """An input that cannot be read at all (not a file, not gzip, not Parquet, ...)."""


KNOWN_SUFFIXES = (".gz", ".jsonl", ".json", ".parquet")


def check_inputs(paths: list[Path]) -> None:
    """Raise ReadError unless every input is a regular file, or `-` (stdin) once."""
    if not paths:
        raise ReadError("no input files given")
    if sum(str(p) == STDIN for p in paths) > 1:
        raise ReadError("stdin (-) can be read only once")
    for path in paths:
        if str(path) == STDIN:
            continue
        if not path.exists():
            raise ReadError(f"{path}: no such file")
        if not path.is_file():
            raise ReadError(f"{path}: not a regular file")


def input_kind(path: Path) -> str:
    """'parquet', 'jsonl' (lines only) or 'json' (an array, or lines), from the file name."""
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(".parquet"):
        return "parquet"
    return "jsonl" if name.endswith(".jsonl") else "json"


def read_records(paths: list[Path], counts: ReadCounts,
                 max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> Iterator[Record]:
    """Every record of every input, in order; blank lines are only counted. `counts.bytes`
    follows the bytes read from disk (compressed bytes for gzip), for progress."""
    for source, path in enumerate(paths):
        yield from read_file_records(path, source, counts, max_line_bytes)


def read_file_records(path: Path, source: int, counts: ReadCounts,
                      max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> Iterator[Record]:
    """The records of one input, the `source`-th, counted into `counts` as `read_records` does
    (the Ray engine reads each file in a task of its own through this)."""
    lines_before, blank_before, bytes_before = counts.lines, counts.blank, counts.bytes
    try:
        with _open(path, counts) as (f, position):
            for record in _file_records(f, path, source, counts, max_line_bytes):
                counts.bytes = bytes_before + position()
                yield record
            counts.bytes = bytes_before + position()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise ReadError(f"{path}: cannot read ({exc})") from None
    counts.lines_per_file.append(counts.lines - lines_before)
    counts.blank_per_file.append(counts.blank - blank_before)


@contextmanager
def _open(path: Path, counts: ReadCounts) -> Iterator[tuple[Any, Callable[[], int]]]:
    """The input as a binary stream (decompressed), and how many of its bytes were read so far
    (for Parquet, which is read by pyarrow, the share of its rows read)."""
    if input_kind(path) == "parquet":
        size, rows, start = path.stat().st_size, _parquet_rows(path), counts.lines
        yield path, lambda: size * (counts.lines - start) // max(1, rows)
        return
    if str(path) == STDIN:
        stdin = _CountingReader(sys.stdin.buffer)
        yield stdin, lambda: stdin.count
        return
    with open(path, "rb", buffering=_READ_CHUNK) as raw:  # lines of chats outgrow the 8 KiB default
        if path.name.lower().endswith(".gz"):
            with gzip.GzipFile(fileobj=raw) as f:
                yield f, raw.tell
        else:
            yield raw, raw.tell


class _CountingReader:
    """A stream that counts what was read from it (stdin has no position)."""

    def __init__(self, stream: BinaryIO):
        self.stream = stream
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        data = self.stream.read(n)
        self.count += len(data)
        return data

    def readline(self, n: int = -1) -> bytes:
        data = self.stream.readline(n)
        self.count += len(data)
        return data

    def peek(self, n: int) -> bytes:
        return self.stream.peek(n)  # type: ignore[attr-defined]


def _file_records(f: Any, path: Path, source: int, counts: ReadCounts, max_line_bytes: int) -> Iterator[Record]:
    kind = input_kind(path)
    if kind == "parquet":
        yield from _parquet_records(path, source, counts)
    elif kind == "json" and _starts_an_array(f):
        yield from array_records(f, source, counts, max_line_bytes)
    else:
        yield from _jsonl_records(f, source, counts, max_line_bytes)


def _starts_an_array(f: Any) -> bool:
    """Whether the first non-blank character is `[` (peeks; consumes nothing)."""
    head = f.peek(64) if hasattr(f, "peek") else b""
    return head.removeprefix(BOM).lstrip()[:1] == b"["


def _jsonl_records(f: BinaryIO, source: int, counts: ReadCounts, max_line_bytes: int) -> Iterator[Record]:
    number = 0
    while True:
        raw = f.readline(max_line_bytes + 1)
        if not raw:
            return
        number += 1
        counts.lines += 1
        if len(raw) > max_line_bytes and not raw.endswith(b"\n"):
            _skip_rest_of_line(f)
            yield Record(source, number, None, problem=too_long_problem(max_line_bytes))
            continue
        if number == 1 and raw.startswith(BOM):
            raw = raw[len(BOM):]
        if not raw.strip():
            counts.blank += 1
            continue
        yield Record(source, number, raw)


def _skip_rest_of_line(f: BinaryIO) -> None:
    while True:
        chunk = f.readline(_READ_CHUNK)
        if not chunk or chunk.endswith(b"\n"):
            return


def _parquet_file(path: Path) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except pa.ArrowException as exc:
        raise ReadError(f"{path}: not a Parquet file ({exc})") from None


def _parquet_rows(path: Path) -> int:
    return _parquet_file(path).metadata.num_rows


def _parquet_records(path: Path, source: int, counts: ReadCounts) -> Iterator[Record]:
    number = 0
    for batch in _parquet_file(path).iter_batches(batch_size=_PARQUET_BATCH_ROWS):
        for row in batch.to_pylist():
            number += 1
            counts.lines += 1
            yield Record(source, number, None, row)


@contextmanager
def stdin_spooled(paths: list[Path], needed: bool) -> Iterator[list[Path]]:
    """The inputs, with stdin copied to a temporary file first when it must be read twice
    (splitting plans in one pass and renders in another)."""
    if not needed or not any(str(p) == STDIN for p in paths):
        yield paths
        return
    with tempfile.TemporaryDirectory(prefix="datakit-stdin-") as directory:
        spooled = Path(directory) / "stdin.json"  # read as stdin is: a JSON array, or JSON Lines
        with open(spooled, "wb") as f:
            shutil.copyfileobj(sys.stdin.buffer, f, 1 << 20)
        yield [spooled if str(p) == STDIN else p for p in paths]
