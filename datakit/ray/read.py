"""Read input files on Ray: one read task per file, running datakit's own reader.

`ray.data.read_json` parses every line and keeps neither the raw bytes nor the line numbers,
so bad JSON would vanish instead of becoming a reject, and blank lines would go uncounted.
Each read task here runs `read_file_records` on one input (JSONL, JSON arrays, gzip, Parquet:
exactly the records, line numbers and counts of the local reader) and yields them as Arrow
blocks of `RECORD_SCHEMA`, in order, the last block ending with one end-of-file row that
carries the file's counts (lines, blank lines, bytes) or the read error that stopped
it. With Ray Data's `preserve_order`, the blocks reach the driver in file order, then line order.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any, Iterator, Sequence

import pyarrow as pa

from ..batches import BatchCut, line_bytes
from ..outcome import Reason
from ..read import ReadCounts, ReadError, Record, read_file_records

RECORD_SCHEMA = pa.schema([
    pa.field("source", pa.int32()),  # the input's index
    pa.field("line", pa.int64()),  # 1-based line or record number; at the end: the lines read
    pa.field("raw", pa.large_binary()),  # the undecoded record (JSONL line, array element)
    pa.field("value", pa.large_binary()),  # a Parquet row, pickled (as the local reader decodes it)
    pa.field("reason", pa.string()),  # a problem reading found (too long, malformed array) ...
    pa.field("detail", pa.string()),  # ... and its detail
    pa.field("position", pa.int64()),  # bytes of the input read so far (progress)
    pa.field("end", pa.bool_()),  # the end-of-file row
    pa.field("blank", pa.int64()),  # at the end: blank lines
    pa.field("error", pa.string()),  # at the end: the ReadError that stopped the file
])


def read_file_blocks(path: str, source: int, max_line_bytes: int, batch: tuple[int, int]) -> Iterator[pa.Table]:
    """The records of one input as `RECORD_SCHEMA` blocks, then its end row: each block about a
    local batch (`BatchCut` of `batch`: its lines and bytes), though cut afresh in each input."""
    cut = BatchCut(*batch)
    counts = ReadCounts()
    rows: list[tuple] = []
    error = None
    try:
        for record in read_file_records(Path(path), source, counts, max_line_bytes):
            rows.append(_record_row(record, counts.bytes))
            if cut.ends_batch(line_bytes(record)):
                yield _block(rows)
                rows = []
    except ReadError as exc:  # in band, in order: the driver stops where the local engine would
        error = str(exc)
    rows.append((source, counts.lines, None, None, None, None, counts.bytes, True, counts.blank, error))
    yield _block(rows)


def _record_row(record: Record, position: int) -> tuple:
    reason, detail = record.problem if record.problem else (None, None)
    value = None if record.value is None else pickle.dumps(record.value, protocol=pickle.HIGHEST_PROTOCOL)
    return (record.source, record.line, record.raw, value,
            None if reason is None else str(reason), detail, position, False, 0, None)


def _block(rows: list[tuple]) -> pa.Table:
    columns = list(zip(*rows))
    return pa.Table.from_arrays([pa.array(list(c), f.type) for c, f in zip(columns, RECORD_SCHEMA)],
                                schema=RECORD_SCHEMA)


def block_records(block: pa.Table) -> tuple[list[Record], list[dict[str, Any]]]:
    """A `RECORD_SCHEMA` block back as records and its end rows."""
    columns = {name: block.column(name).to_pylist() for name in RECORD_SCHEMA.names}
    records, ends = [], []
    for i, is_end in enumerate(columns["end"]):
        if is_end:
            ends.append({"source": columns["source"][i], "lines": columns["line"][i], "blank": columns["blank"][i],
                         "bytes": columns["position"][i], "error": columns["error"][i]})
            continue
        reason = columns["reason"][i]
        value = columns["value"][i]
        records.append(Record(columns["source"][i], columns["line"][i], columns["raw"][i],
                              None if value is None else pickle.loads(value),
                              None if reason is None else (Reason(reason), columns["detail"][i])))
    return records, ends


def last_position(block: pa.Table) -> tuple[int, int] | None:
    """(source, bytes read) at the block's last row, for progress."""
    if block.num_rows == 0:
        return None
    return block.column("source")[-1].as_py(), block.column("position")[-1].as_py()


class InputFiles:
    """A Ray Data datasource: `paths` (absolute, seen by every node), one read task each."""

    def __init__(self, paths: Sequence[str], max_line_bytes: int, batch: tuple[int, int]):
        from ray.data import Datasource

        # Subclassing inside keeps `import datakit.ray.read` from needing Ray at module level.
        class _Source(Datasource):
            def estimate_inmemory_data_size(inner) -> int:
                return sum(Path(p).stat().st_size for p in paths)

            def get_read_tasks(inner, parallelism: int, **_: Any) -> list:
                return [_read_task(path, source, max_line_bytes, batch) for source, path in enumerate(paths)]

        self.datasource = _Source()


def _read_task(path: str, source: int, max_line_bytes: int, batch: tuple[int, int]) -> Any:
    from ray.data.block import BlockMetadata
    from ray.data.datasource import ReadTask

    size = Path(path).stat().st_size
    metadata = BlockMetadata(num_rows=None, size_bytes=size, input_files=[path], exec_stats=None)
    return ReadTask(lambda: read_file_blocks(path, source, max_line_bytes, batch), metadata,
                    schema=RECORD_SCHEMA)
