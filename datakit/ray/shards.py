"""The shards of `--engine ray`, written by Ray tasks, byte for byte the local engine's.

The local engine writes one table per batch of records (`batches`; and split) into a shard
and starts a new shard once the file reaches `shard_bytes` (`write.ShardWriter`). Here the
render actors write their rows as piece files (`piece-HEX.arrow`) into the staging directory;
the driver, reading only each piece's row counts and lengths in input order, works out where
every batch goes, from the size an Arrow IPC stream message of the batch takes
(`message_bytes`: fixed for this schema but for the rows' lengths), and once a shard is
complete hands its batches to a Ray task (`write_shard`) that reads the pieces, joins each
batch's rows into one table as the local engine has it, writes the shard and hashes it. The
driver moves no row bytes: what bounds a cluster run is the disk under OUT.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ..datum import SCHEMA, rows_to_table
from ..write import sha256_file

PIECE_PREFIX = "piece-"
_EOS = 8  # the end-of-stream marker `close` writes


def _pad(n: int) -> int:
    return (n + 7) // 8 * 8


def _body_bytes(rows: int, tokens: int, source_bytes: int) -> int:
    """The body of a record batch of SCHEMA: each buffer padded to 8 bytes, no validity buffers;
    every list column holds `tokens` values a batch, the string column `source_bytes` bytes."""
    total = 0
    for column in SCHEMA:
        kind = column.type
        if pa.types.is_list(kind):
            total += _pad(4 * (rows + 1)) + _pad(kind.value_type.bit_width // 8 * tokens)
        elif pa.types.is_string(kind):
            total += _pad(4 * (rows + 1)) + _pad(source_bytes)
        elif pa.types.is_boolean(kind):
            total += _pad((rows + 7) // 8)
        else:
            total += _pad(kind.bit_width // 8 * rows)
    return total


def _stream_sizes() -> tuple[int, int]:
    """(schema message, a record batch message's metadata): what the writer adds to the bodies."""
    sink = pa.BufferOutputStream()
    writer = pa.ipc.new_stream(sink, SCHEMA)
    added = []
    for rows in (1, 2):  # the first write also writes the schema
        before = sink.tell()
        writer.write_table(_sample_table(rows))
        added.append(sink.tell() - before - _body_bytes(rows, rows, rows))
    writer.close()
    return added[0] - added[1], added[1]


def _sample_table(rows: int) -> pa.Table:
    from ..outcome import Row, Side, Truncation

    tokens = np.zeros(2, np.int32)
    return rows_to_table([Row(0, 1, Side.TRAIN, tokens, np.ones(2, np.float32), Truncation(2, 1))] * rows, ["x"])


SCHEMA_MESSAGE, BATCH_METADATA = _stream_sizes()


def message_bytes(rows: int, tokens: int, source_bytes: int) -> int:
    """What writing one table of `rows` rows (`tokens` input tokens, `source_bytes` of `source`
    text in all) adds to a shard."""
    return BATCH_METADATA + _body_bytes(rows, tokens, source_bytes)


def write_piece(staging: str, split: str, table: pa.Table) -> str:
    """A worker's rows of one split as a piece file in the staging directory; its name."""
    name = f"{PIECE_PREFIX}{secrets.token_hex(12)}.arrow"
    path = Path(staging) / split / name
    with pa.OSFile(str(path) + ".tmp", "wb") as sink:
        with pa.ipc.new_stream(sink, SCHEMA) as writer:
            writer.write_table(table)
    os.replace(str(path) + ".tmp", path)  # a task killed while writing leaves only a .tmp
    return name


def remove_pieces(staging: Path, splits: list[str]) -> None:
    """Every piece file, also those of attempts Ray ran again after a worker died."""
    for split in splits:
        for path in (staging / split).glob(f"{PIECE_PREFIX}*"):
            path.unlink()


@dataclass
class Segment:
    """Rows `start:start + rows` of a piece, and whether they are the whole piece."""

    piece: str
    start: int
    rows: int
    whole: bool


@dataclass
class ShardPlan:
    """Cuts one split's batches into shards as `ShardWriter` would: a shard is closed after
    the batch that takes its size to `shard_bytes` or beyond."""

    split: str
    shard_bytes: int
    shards: list[dict[str, Any]] = field(default_factory=list)  # index, batches, rows, bytes
    _open: dict[str, Any] | None = None

    def add(self, segments: list[Segment], rows: int, tokens: int, source_bytes: int) -> dict[str, Any] | None:
        """Place one batch; the shard it completes, if any."""
        if self._open is None:
            self._open = {"index": len(self.shards), "batches": [], "rows": 0, "bytes": SCHEMA_MESSAGE}
        shard = self._open
        shard["batches"].append(segments)
        shard["rows"] += rows
        shard["bytes"] += message_bytes(rows, tokens, source_bytes)
        return self._close() if shard["bytes"] >= self.shard_bytes else None

    def finish(self) -> dict[str, Any] | None:
        return self._close() if self._open is not None else None

    def _close(self) -> dict[str, Any]:
        shard, self._open = self._open, None
        shard["bytes"] += _EOS
        self.shards.append(shard)
        return shard


def one_table(pieces: list[tuple[pa.Table, bool]]) -> pa.Table:
    """The pieces (tables, and whether each is a worker's whole table) as one table of one
    chunk whose buffers are exactly as long as its rows need, as the local engine writes it: the
    IPC writer writes more of a slice's buffers than its rows use, so slices are copied."""
    (table, whole), *more = pieces
    if whole and not more and table.column(0).num_chunks == 1:
        return table
    return pa.Table.from_arrays([pa.concat_arrays([chunk for piece, _ in pieces for chunk in piece.column(i).chunks])
                                 for i in range(table.num_columns)], schema=table.schema)


def write_shard(staging: str, split: str, shard: dict[str, Any]) -> dict[str, Any]:
    """A Ray task: shard `shard["index"]` of `split` from its pieces, as the local engine writes
    it; its manifest entry (file, rows, bytes, sha256)."""
    directory = Path(staging) / split
    name = f"data-{shard['index']:05d}.arrow"
    tmp, final = directory / (name + ".tmp"), directory / name
    pieces: dict[str, pa.Table] = {}

    def rows_of(segment: Segment) -> tuple[pa.Table, bool]:
        if segment.piece not in pieces:
            pieces[segment.piece] = pa.ipc.open_stream(pa.memory_map(str(directory / segment.piece))).read_all()
        return pieces[segment.piece].slice(segment.start, segment.rows), segment.whole

    with pa.OSFile(str(tmp), "wb") as sink:
        writer = pa.ipc.new_stream(sink, SCHEMA)
        for segments in shard["batches"]:
            writer.write_table(one_table([rows_of(segment) for segment in segments]))
        writer.close()
        sink.flush()
        os.fsync(sink.fileno())
    os.replace(tmp, final)
    size = final.stat().st_size
    if size != shard["bytes"]:  # the size model no longer matches pyarrow's writer: never write a wrong layout
        raise RuntimeError(f"{split}/{name} has {size} bytes, not the {shard['bytes']} its layout was planned for")
    return {"file": f"{split}/{name}", "rows": shard["rows"], "bytes": size, "sha256": sha256_file(final)}
