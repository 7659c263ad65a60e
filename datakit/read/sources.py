"""Cut input files into numbered records, streaming, without parsing them.

Reading runs in the main process and only finds record boundaries, so it stays cheap;
parsing and validation (`records`) run beside rendering, in the workers. A JSONL line longer
than `max_line_bytes` is skipped without being held in memory and comes out as a record with
no payload (it becomes a `line_too_long` reject). Blank lines are counted, never yielded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterator

BOM = b"\xef\xbb\xbf"
DEFAULT_MAX_LINE_BYTES = 64 << 20
_READ_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class Record:
    """One input record. `raw` is None when the line was too long to keep."""

    source: int  # index of the input file
    line: int  # 1-based, counted as in the file
    raw: bytes | None


@dataclass
class ReadCounts:
    """What reading saw: totals, and per input file (`lines` and `blank` lists)."""

    lines: int = 0
    blank: int = 0
    bytes: int = 0
    lines_per_file: list[int] = field(default_factory=list)
    blank_per_file: list[int] = field(default_factory=list)


def read_records(paths: list[Path], counts: ReadCounts,
                 max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> Iterator[Record]:
    """Every non-blank record of every file, in order; blank lines are only counted."""
    for source, path in enumerate(paths):
        lines_before, blank_before = counts.lines, counts.blank
        with open(path, "rb") as f:
            yield from _jsonl_records(f, source, counts, max_line_bytes)
        counts.lines_per_file.append(counts.lines - lines_before)
        counts.blank_per_file.append(counts.blank - blank_before)


def _jsonl_records(f: BinaryIO, source: int, counts: ReadCounts, max_line_bytes: int) -> Iterator[Record]:
    number = 0
    while True:
        raw = f.readline(max_line_bytes + 1)
        if not raw:
            return
        number += 1
        counts.lines += 1
        counts.bytes += len(raw)
        if len(raw) > max_line_bytes and not raw.endswith(b"\n"):
            counts.bytes += _skip_rest_of_line(f)
            yield Record(source, number, None)
            continue
        if number == 1 and raw.startswith(BOM):
            raw = raw[len(BOM):]
        if not raw.strip():
            counts.blank += 1
            continue
        yield Record(source, number, raw)


def _skip_rest_of_line(f: BinaryIO) -> int:
    skipped = 0
    while True:
        chunk = f.readline(_READ_CHUNK)
        skipped += len(chunk)
        if not chunk or chunk.endswith(b"\n"):
            return skipped
