"""The Datum layout: shift, batch packing into Arrow, and the Tinker one-liner."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest

from datakit.datum import SCHEMA, empty_batch, rows_to_table, shift, table_of, to_tinker_datum
from datakit.outcome import Row, Side, Truncation


def make_rows(tokens, weights, sources, lines, original_lengths, truncated) -> list[Row]:
    return [Row(source, line, Side.TRAIN, t, w, Truncation(n, int(w[1:].sum()), cut))
            for t, w, source, line, n, cut in zip(tokens, weights, sources, lines, original_lengths, truncated)]


def test_shift():
    tokens = np.array([1, 2, 3, 4], dtype=np.int32)
    weights = np.array([0, 0, 1, 1], dtype=np.float32)
    inputs, targets, shifted = shift(tokens, weights)
    assert inputs.tolist() == [1, 2, 3] and targets.tolist() == [2, 3, 4]
    assert shifted.tolist() == [0.0, 1.0, 1.0] and shifted.dtype == np.float32


def test_rows_to_table_shifts_every_row_independently():
    rows = [np.array([5, 6], np.int32), np.array([7, 8, 9, 10], np.int32), np.array([1, 2, 3], np.int32)]
    weights = [np.array([0, 1], np.float32), np.array([0, 1, 0, 1], np.float32), np.array([0, 0, 1], np.float32)]
    table = rows_to_table(make_rows(rows, weights, [0, 0, 1], [1, 2, 7], [2, 9, 3], [False, True, False]), ["a", "b"])
    assert table.schema.equals(SCHEMA)
    got = table.to_pylist()
    for row, tokens, w in zip(got, rows, weights):
        assert row["input_tokens"] == tokens[:-1].tolist()
        assert row["target_tokens"] == tokens[1:].tolist()
        assert row["weights"] == w[1:].tolist()
        assert row["num_tokens"] == len(tokens) and row["num_trainable"] == int(w[1:].sum())
    assert [r["line"] for r in got] == [1, 2, 7] and [r["truncated"] for r in got] == [False, True, False]
    assert [r["source"] for r in got] == ["a", "a", "b"]
    table.validate(full=True)


def test_rows_to_table_keeps_non_ascii_sources_and_empty_batches():
    rows = make_rows([np.array([1, 2], np.int32)], [np.array([0, 1], np.float32)], [0], [3], [2], [False])
    table = rows_to_table(rows, ["données/é.jsonl"])
    assert table.column("source").to_pylist() == ["données/é.jsonl"]
    empty = rows_to_table([], [])
    assert empty.num_rows == 0 and empty.schema.equals(SCHEMA)
    batch = empty_batch()
    assert batch.num_rows == 0 and batch.schema.equals(SCHEMA)


def test_columns_are_matched_to_the_schema_by_name_and_type():
    table = rows_to_table(make_rows([np.array([1, 2, 3], np.int32)], [np.array([0, 1, 1], np.float32)],
                                    [0], [4], [3], [False]), ["f"])
    columns = {name: table.column(name).chunk(0) for name in SCHEMA.names}
    assert table_of(dict(reversed(list(columns.items())))).equals(table)  # order does not matter
    swapped = {**columns, "num_tokens": columns["original_length"], "original_length": columns["num_tokens"]}
    assert table_of(swapped).column("num_tokens").to_pylist() == [3]  # same type: names decide
    with pytest.raises(TypeError, match="line"):
        table_of({**columns, "line": pa.array([4], pa.int32())})
    with pytest.raises(ValueError, match="schema"):
        table_of({k: v for k, v in columns.items() if k != "truncated"})


def test_packing_batches_does_not_import_pandas():
    # Each worker packs batches; importing pandas there costs ~0.2 s of start-up per process.
    code = ("import sys, numpy as np; from datakit.datum import empty_batch, rows_to_table; "
            "from datakit.outcome import Row, Side, Truncation; "
            "rows_to_table([Row(0, 1, Side.TRAIN, np.arange(3, dtype=np.int32), np.ones(3, np.float32), "
            "Truncation(3, 2))], ['f']); "
            "empty_batch(); "
            "assert 'pandas' not in sys.modules, 'pandas was imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_to_tinker_datum():
    import tinker
    datum = to_tinker_datum({"input_tokens": [1, 2, 3], "target_tokens": [2, 3, 4], "weights": [0.0, 1.0, 1.0]})
    assert isinstance(datum, tinker.Datum)
    assert datum.model_input.to_ints() == [1, 2, 3]
    assert datum.loss_fn_inputs["target_tokens"].to_numpy().tolist() == [2, 3, 4]
    assert datum.loss_fn_inputs["weights"].to_numpy().tolist() == [0.0, 1.0, 1.0]
