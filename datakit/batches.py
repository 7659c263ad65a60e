"""Cutting the input records into batches, the unit of work of a worker, and sending a batch to
a worker process.

A batch ends after `batch_lines` records or once its lines hold `batch_bytes` bytes, whichever
comes first. A batch costs a few milliseconds of CPU of its own (pickling it and its result,
the pipes, the worker pool's threads): 256 long chats (1.6 MB) repay that, 256 short ones (80
KB) spend a tenth of their CPU on it. A record without its line's bytes (a Parquet row, a line
too long to read) counts as 1/256 of `batch_bytes`, so such records come 256 to a batch.

Both engines cut where `BatchCut` says: the local engine as it reads, the Ray engine's driver
as the rows come back, so that it regroups them into the same batches (and shards).
"""

from __future__ import annotations

from typing import Callable, Iterator

import numpy as np

from .outcome import Side
from .read import Record

# A record without the bytes of its line counts as this share of a batch's bytes.
_UNSIZED_PER_BATCH = 256


class BatchCut:
    """Follows records in input order and says which one ends its batch."""

    def __init__(self, batch_lines: int, batch_bytes: int):
        self.batch_lines = batch_lines
        self.batch_bytes = batch_bytes
        self._unsized = max(1, batch_bytes // _UNSIZED_PER_BATCH)
        self._lines = self._bytes = 0

    def ends_batch(self, line_bytes: int | None) -> bool:
        """Whether the next record, of `line_bytes` (None: a record without its line's bytes),
        is the last of its batch."""
        self._lines += 1
        self._bytes += self._unsized if line_bytes is None else line_bytes
        if self._lines < self.batch_lines and self._bytes < self.batch_bytes:
            return False
        self._lines = self._bytes = 0
        return True


def line_bytes(record: Record) -> int | None:
    """What a record weighs in its batch (`BatchCut.ends_batch`)."""
    return None if record.raw is None else len(record.raw)


def record_batches(records: Iterator[Record], cut: BatchCut,
                   side_of: Callable[[Record], Side | None]) -> Iterator[tuple[RecordBatch, list[Side | None]]]:
    """The records in batches (as `cut` ends them), each with the side of each of its records."""
    # No name here holds a record between batches: `convert` lets go of a long line once parsed.
    batch = RecordBatch()
    for record in records:
        batch.append(record)
        if cut.ends_batch(line_bytes(record)):
            yield batch, [side_of(x) for x in batch]
            batch = RecordBatch()
    if batch:
        yield batch, [side_of(x) for x in batch]


class RecordBatch(list):
    """The records of one task. A batch of undecoded lines (nearly always) goes to a worker
    process as one buffer of their bytes, which pickles many times faster than the records."""

    def __reduce__(self) -> tuple:
        if not all(r.raw is not None and r.value is None and r.problem is None for r in self):
            return list, (list(self),)
        ends = np.cumsum([len(r.raw) for r in self], dtype=np.int64)  # type: ignore[arg-type]
        where = np.array([(r.source, r.line) for r in self], dtype=np.int64)
        return _unpacked, (b"".join(r.raw for r in self), ends, where)  # type: ignore[misc]


def _unpacked(lines: bytes, ends: np.ndarray, where: np.ndarray) -> list[Record]:
    starts = [0, *ends[:-1].tolist()]
    return [Record(source, line, lines[a:b]) for (source, line), a, b in zip(where.tolist(), starts, ends.tolist())]
