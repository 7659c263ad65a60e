"""Shift rendered rows into the Datum layout and pack a batch of them into an Arrow table.

Datum layout (Tinker's): input_tokens = tokens[:-1], target_tokens = tokens[1:],
weights = weights[1:] as float32, so weights[i] is the loss weight of predicting
target_tokens[i]. The shift is done for the whole batch at once on flat numpy arrays.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pyarrow as pa

SCHEMA = pa.schema(
    [
        pa.field("input_tokens", pa.list_(pa.int32()), nullable=False),
        pa.field("target_tokens", pa.list_(pa.int32()), nullable=False),
        pa.field("weights", pa.list_(pa.float32()), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("line", pa.int64(), nullable=False),
        pa.field("num_tokens", pa.int32(), nullable=False),
        pa.field("num_trainable", pa.int32(), nullable=False),
        pa.field("original_length", pa.int32(), nullable=False),
        pa.field("truncated", pa.bool_(), nullable=False),
    ]
)


_ARROW_TYPES = {np.dtype(np.int32): pa.int32(), np.dtype(np.int64): pa.int64(), np.dtype(np.float32): pa.float32()}


def _arrow(values: np.ndarray) -> pa.Array:
    """A numpy array as an Arrow array, zero-copy (`pa.array` would import pandas: ~0.5 s)."""
    if values.dtype == np.bool_:
        bits = np.packbits(values, bitorder="little")
        return pa.Array.from_buffers(pa.bool_(), len(values), [None, pa.py_buffer(bits)])
    values = np.ascontiguousarray(values)
    return pa.Array.from_buffers(_ARROW_TYPES[values.dtype], len(values), [None, pa.py_buffer(values)])


def _arrow_strings(values: Sequence[str]) -> pa.Array:
    """Strings as an Arrow string array, built from buffers for the same reason as `_arrow`."""
    encoded = [v.encode("utf-8") for v in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int32)
    np.cumsum(np.fromiter(map(len, encoded), np.int64, len(encoded)), out=offsets[1:])
    return pa.Array.from_buffers(pa.string(), len(encoded),
                                 [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))])


def shift(tokens: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One row: (input_tokens, target_tokens, weights) in the Datum layout."""
    return tokens[:-1], tokens[1:], weights[1:].astype(np.float32)


def rows_to_table(
    tokens: Sequence[np.ndarray],
    weights: Sequence[np.ndarray],
    sources: Sequence[str],
    lines: Sequence[int],
    original_lengths: Sequence[int],
    truncated: Sequence[bool],
) -> pa.Table:
    """Shift and pack rows (unshifted int32 tokens, float32 weights; each of length >= 2)."""
    lengths = np.fromiter((len(t) for t in tokens), dtype=np.int64, count=len(tokens))
    flat_tokens = np.concatenate(tokens).astype(np.int32, copy=False) if len(tokens) else np.zeros(0, np.int32)
    flat_weights = np.concatenate(weights).astype(np.float32, copy=False) if len(weights) else np.zeros(0, np.float32)
    row_start = np.zeros(len(tokens) + 1, dtype=np.int64)
    np.cumsum(lengths, out=row_start[1:])
    first = np.zeros(len(flat_tokens), dtype=bool)
    last = np.zeros(len(flat_tokens), dtype=bool)
    first[row_start[:-1]] = True
    last[row_start[1:] - 1] = True
    shifted_offsets = (row_start - np.arange(len(tokens) + 1)).astype(np.int32)
    target_weights = flat_weights[~first]
    trainable = np.add.reduceat(target_weights, shifted_offsets[:-1]) if len(tokens) else np.zeros(0)

    offsets = _arrow(shifted_offsets)

    def lists(values: np.ndarray) -> pa.ListArray:
        return pa.ListArray.from_arrays(offsets, _arrow(values))

    return pa.Table.from_arrays(
        [
            lists(flat_tokens[~last]),
            lists(flat_tokens[~first]),
            lists(target_weights),
            _arrow_strings(sources),
            _arrow(np.asarray(lines, dtype=np.int64)),
            _arrow(lengths.astype(np.int32)),
            _arrow(trainable.astype(np.int32)),
            _arrow(np.asarray(original_lengths, dtype=np.int32)),
            _arrow(np.asarray(truncated, dtype=bool)),
        ],
        schema=SCHEMA,
    )


def empty_batch() -> pa.RecordBatch:
    """A record batch with no rows (what an empty split's shard holds)."""
    table = rows_to_table([], [], [], [], [], [])
    return pa.RecordBatch.from_arrays([column.chunk(0) for column in table.columns], schema=SCHEMA)


def to_tinker_datum(row: dict[str, Any]) -> Any:
    """A shard row (a dict, e.g. from `datasets` or `pyarrow`) as a `tinker.Datum`."""
    import tinker  # optional: only Tinker users have it

    return tinker.Datum(
        model_input=tinker.ModelInput.from_ints(list(row["input_tokens"])),
        loss_fn_inputs={
            "target_tokens": tinker.TensorData.from_numpy(np.asarray(row["target_tokens"], dtype=np.int64)),
            "weights": tinker.TensorData.from_numpy(np.asarray(row["weights"], dtype=np.float32)),
        },
    )
