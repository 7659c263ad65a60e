"""The shard layout `--engine ray` plans from sizes alone is the one `ShardWriter` writes: the
size model of a batch's IPC message, and the roll-over, against pyarrow's own writer (no Ray
needed)."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa

from datakit.datum import SCHEMA, rows_to_table
from datakit.outcome import Row, Side, Truncation
from datakit.ray.shards import SCHEMA_MESSAGE, ShardPlan, message_bytes
from datakit.write import ShardWriter

FILES = ["a.jsonl", "données/ünïcode.jsonl", "x" * 37]


def random_table(rng: random.Random, rows: int) -> pa.Table:
    out = []
    for line in range(rows):
        n = rng.choice([2, 3, rng.randint(2, 40), rng.randint(100, 3000)])
        out.append(Row(rng.randrange(len(FILES)), line + 1, Side.TRAIN, np.arange(n, dtype=np.int32),
                       np.ones(n, np.float32), Truncation(n, n, truncated=rng.random() < 0.3)))
    return rows_to_table(out, FILES)


def shape(table: pa.Table) -> tuple[int, int, int]:
    tokens = sum(n - 1 for n in table.column("num_tokens").to_pylist())
    return table.num_rows, tokens, sum(len(s.encode()) for s in table.column("source").to_pylist())


def test_message_bytes_is_what_the_stream_writer_adds():
    rng = random.Random(3)
    sink = pa.BufferOutputStream()
    writer = pa.ipc.new_stream(sink, SCHEMA)
    for i, rows in enumerate([1, 2, 3, 7, 8, 9, 15, 16, 17, 63, 64, 65, 255, 256] * 2):
        table = random_table(rng, rows)
        before = sink.tell()
        writer.write_table(table)
        assert sink.tell() - before == message_bytes(*shape(table)) + (SCHEMA_MESSAGE if i == 0 else 0)
    writer.close()


def test_the_planned_layout_is_shard_writers(tmp_path):
    rng = random.Random(4)
    tables = [random_table(rng, rng.randint(1, 40)) for _ in range(120)]
    written = ShardWriter(tmp_path, "train", 256 << 10)
    plan = ShardPlan("train", 256 << 10)
    for table in tables:
        written.write(table)
        plan.add([], *shape(table))
    plan.finish()
    shards = written.close()
    assert len(shards) > 3
    assert [(s["rows"], s["bytes"]) for s in shards] == [(s["rows"], s["bytes"]) for s in plan.shards]
