"""Batches end after `batch_lines` records or once their lines hold `batch_bytes` bytes, records
without line bytes counting 1/256 of it; a batch of lines pickles as one buffer."""

from __future__ import annotations

import pickle

from datakit.batches import BatchCut, RecordBatch, _unpacked, record_batches
from datakit.outcome import Reason, Side
from datakit.read import Record


def _sizes(batches) -> list[list[int]]:
    return [[len(r.raw) if r.raw is not None else -1 for r in batch] for batch, _ in batches]


def test_a_batch_ends_at_its_line_count_or_at_its_bytes_whichever_comes_first():
    records = [Record(0, i, b"x" * n) for i, n in enumerate([10, 10, 10, 10, 50, 1, 1, 1, 1, 1, 1, 30], 1)]
    batches = list(record_batches(iter(records), BatchCut(batch_lines=5, batch_bytes=40), lambda r: Side.TRAIN))
    assert _sizes(batches) == [[10, 10, 10, 10], [50], [1, 1, 1, 1, 1], [1, 30]]
    assert [sides for _, sides in batches] == [[Side.TRAIN] * len(b) for b, _ in batches]
    assert [r for batch, _ in batches for r in batch] == records  # every record, in order, once


def test_records_without_line_bytes_count_a_256th_of_a_batch():
    cut = BatchCut(batch_lines=10_000, batch_bytes=256 * 4)
    assert [cut.ends_batch(None) for _ in range(512)].count(True) == 2
    parquet_rows = [Record(0, i, None, {"messages": []}) for i in range(1, 600)]
    batches = list(record_batches(iter(parquet_rows), BatchCut(4096, 1 << 20), lambda r: None))
    assert [len(b) for b, _ in batches] == [256, 256, 87]


def test_no_records_no_batches():
    assert list(record_batches(iter([]), BatchCut(4, 100), lambda r: Side.TRAIN)) == []


def test_a_batch_of_records_pickles_to_the_same_records():
    lines = RecordBatch([Record(0, 1, b'{"a": 1}\n'), Record(1, 7, b""), Record(1, 9, "é".encode() * 3)])
    mixed = RecordBatch([*lines, Record(0, 3, None, {"messages": []}), Record(0, 4, None, problem=(Reason.LINE_TOO_LONG, "x"))])
    for batch in (lines, mixed, RecordBatch()):
        assert pickle.loads(pickle.dumps(batch, protocol=pickle.HIGHEST_PROTOCOL)) == list(batch)
    assert lines.__reduce__()[0] is _unpacked and mixed.__reduce__()[0] is list  # lines go as one buffer
