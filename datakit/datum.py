"""Shift rendered rows into the Datum layout and pack a batch of them into an Arrow table.

Datum layout (Tinker's): input_tokens = tokens[:-1], target_tokens = tokens[1:],
weights = weights[1:] as float32, so weights[i] is the loss weight of predicting
target_tokens[i]. The shift is done for the whole batch at once on flat numpy arrays.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Sequence

import numpy as np
import pyarrow as pa

from .outcome import Row

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
        pa.field("turn", pa.int32(), nullable=False),
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


def rows_to_table(rows: Sequence[Row], files: Sequence[str]) -> pa.Table:
    """Shift and pack rows (each of length >= 2) into a table of `SCHEMA`; `files` names each
    row's `source` index."""
    lengths = np.fromiter((len(r.tokens) for r in rows), dtype=np.int64, count=len(rows))
    flat_tokens = np.concatenate([r.tokens for r in rows]).astype(np.int32, copy=False) if rows else np.zeros(0, np.int32)
    flat_weights = np.concatenate([r.weights for r in rows]).astype(np.float32, copy=False) if rows else np.zeros(0, np.float32)
    row_start = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=row_start[1:])
    first = np.zeros(len(flat_tokens), dtype=bool)
    last = np.zeros(len(flat_tokens), dtype=bool)
    first[row_start[:-1]] = True
    last[row_start[1:] - 1] = True
    shifted_offsets = (row_start - np.arange(len(rows) + 1)).astype(np.int32)
    target_weights = flat_weights[~first]
    trainable = np.add.reduceat(target_weights, shifted_offsets[:-1]) if rows else np.zeros(0)

    offsets = _arrow(shifted_offsets)

    def lists(values: np.ndarray) -> pa.ListArray:
        return pa.ListArray.from_arrays(offsets, _arrow(values))

    columns = {
        "input_tokens": lists(flat_tokens[~last]),
        "target_tokens": lists(flat_tokens[~first]),
        "weights": lists(target_weights),
        "source": _arrow_strings([files[r.source] for r in rows]),
        "line": _arrow(np.fromiter((r.line for r in rows), np.int64, len(rows))),
        "num_tokens": _arrow(lengths.astype(np.int32)),
        "num_trainable": _arrow(trainable.astype(np.int32)),
        "original_length": _arrow(np.fromiter((r.truncation.original_length for r in rows), np.int32, len(rows))),
        "truncated": _arrow(np.fromiter((r.truncation.truncated for r in rows), np.bool_, len(rows))),
        "turn": _arrow(np.fromiter((r.turn for r in rows), np.int32, len(rows))),
    }
    return table_of(columns)


def table_of(columns: dict[str, pa.Array]) -> pa.Table:
    """Columns keyed by name as a table of `SCHEMA`: every field present, each of its type."""
    if columns.keys() != set(SCHEMA.names):
        raise ValueError(f"columns {sorted(columns)} are not the schema's {sorted(SCHEMA.names)}")
    for field in SCHEMA:
        if not columns[field.name].type.equals(field.type):
            raise TypeError(f"column {field.name} is {columns[field.name].type}, not {field.type}")
    return pa.Table.from_arrays([columns[name] for name in SCHEMA.names], schema=SCHEMA)


def empty_batch() -> pa.RecordBatch:
    """A record batch with no rows (what an empty split's shard holds)."""
    table = rows_to_table([], [])
    return pa.RecordBatch.from_arrays([column.chunk(0) for column in table.columns], schema=SCHEMA)


class Reduction(StrEnum):
    """How a Tinker datum's weights are scaled (tinker-cookbook's `reduction`)."""

    NONE = "none"  # the weights as rendered: 1.0 per trained target, a token-sum loss
    MEAN = "mean"  # divided by their sum, so each datum's weights sum to 1: a per-example token mean


def reduce_weights(weights: Any, reduction: Reduction | str = Reduction.NONE) -> np.ndarray:
    """`weights` as float32, scaled as `reduction` says (a row with no weight stays all zero).

    Mean divides in float32 by the float32 sum, as tinker-cookbook 0.6.1's
    `datum_from_model_input_weights` does with its float32 torch tensor.
    """
    reduction = Reduction(reduction)
    values = np.asarray(weights, dtype=np.float32)
    if reduction is Reduction.MEAN:
        total = values.sum(dtype=np.float32)
        if total > 0:
            values = values / total
    return values


def to_tinker_datum(row: dict[str, Any], reduction: Reduction | str = Reduction.NONE) -> Any:
    """A shard row (a dict, e.g. from `datasets` or `pyarrow`) as a `tinker.Datum`.

    `reduction="mean"` makes the datum's weights sum to 1, as tinker-cookbook's SFT
    `conversation_to_datum` does by default; `"none"` keeps them as rendered (0 or 1).
    """
    import tinker  # optional: only Tinker users have it

    return tinker.Datum(
        model_input=tinker.ModelInput.from_ints(np.asarray(row["input_tokens"], dtype=np.int64).tolist()),
        loss_fn_inputs={
            "target_tokens": tinker.TensorData.from_numpy(np.asarray(row["target_tokens"], dtype=np.int64)),
            "weights": tinker.TensorData.from_numpy(reduce_weights(row["weights"], reduction)),
        },
    )
