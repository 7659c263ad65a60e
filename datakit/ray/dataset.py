"""`render_dataset`: render the records of a Ray Dataset into Datum rows, inside Ray.

For pipelines that stay in Ray (read with `ray.data.read_json` / `read_parquet`, render here,
go on to Ray Train or write wherever they like). Each input row is one record, as a line of a
JSONL file would be (OpenAI messages, ShareGPT, Alpaca, prompt/completion); each output row is
its Datum (the columns of SCHEMA.md's rows) or its reject, in input order, told apart by
`reason` (null for a Datum). `datums()` and `rejects()` take the two streams apart.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from ..convert import Examples, StopRun, convert
from ..datum import SCHEMA, rows_to_table
from ..encoder import encode_on_one_thread
from ..outcome import Reject, Row, Side
from ..pipeline import BatchWorker, PipelineError, RenderOptions
from ..read import Record
from .engine import render_actors

REJECT_FIELDS = [pa.field("reason", pa.string()), pa.field("detail", pa.string())]
RENDERED_SCHEMA = pa.schema([*SCHEMA, *REJECT_FIELDS])
# Rows a render actor takes at a time (fewer if `RenderOptions.batch_lines` says so). Ray Data
# cuts batches by rows, before a row's size is known: this many spread a small Dataset over
# the actors and keep a batch of long chats to a few MB.
BATCH_ROWS = 256


class RowRenderer:
    """The `map_batches` callable of `render_dataset`: one Renderer per Ray worker process."""

    def __init__(self, options: RenderOptions, source: str, source_column: str | None, line_column: str | None):
        encode_on_one_thread()
        self.worker = BatchWorker(options, [source])
        self.source, self.source_column, self.line_column = source, source_column, line_column

    def __call__(self, batch: pa.Table) -> pa.Table:
        values = batch.to_pylist()
        names = [self.source] if self.source_column is None else \
            sorted({str(v.get(self.source_column)) for v in values})
        index = {name: i for i, name in enumerate(names)}
        records = [Record(index[self._source_of(value)], self._line_of(value), None, value) for value in values]
        worker = self.worker
        try:
            outcomes = convert(records, [Side.TRAIN] * len(records), worker.parser, worker.renderer, worker.limits,
                               Examples(worker.options.examples))
        except StopRun as exc:
            raise PipelineError(f"{names[exc.record.source]}:{exc.record.line}: {exc} (--truncation error)") from None
        return _rendered_table(outcomes, names)

    def _source_of(self, value: dict[str, Any]) -> str:
        return self.source if self.source_column is None else str(value.get(self.source_column))

    def _line_of(self, value: dict[str, Any]) -> int:
        line = value.get(self.line_column) if self.line_column is not None else None
        return line if isinstance(line, int) and not isinstance(line, bool) else 0


def _rendered_table(outcomes: list, names: list[str]) -> pa.Table:
    """Datum rows and reject rows (empty token lists, a reason) in the outcomes' order."""
    rows = [o for o in outcomes if isinstance(o, Row)]
    rejects = [o for o in outcomes if isinstance(o, Reject)]
    datums = rows_to_table(rows, names)
    datums = datums.append_column(REJECT_FIELDS[0], pa.nulls(len(rows), pa.string())) \
        .append_column(REJECT_FIELDS[1], pa.nulls(len(rows), pa.string()))
    n = len(rejects)
    values = {"source": [names[r.source] for r in rejects], "line": [r.line for r in rejects],
              "original_length": [r.truncation.original_length if r.truncation else 0 for r in rejects],
              "turn": [-1 if r.turn is None else r.turn for r in rejects],
              "reason": [str(r.reason) for r in rejects], "detail": [r.detail for r in rejects]}
    empty = {pa.types.is_list: [[]] * n, pa.types.is_boolean: [False] * n, pa.types.is_integer: [0] * n}
    reject_table = pa.Table.from_arrays(
        [pa.array(values[f.name] if f.name in values else next(v for test, v in empty.items() if test(f.type)),
                  f.type) for f in RENDERED_SCHEMA], schema=RENDERED_SCHEMA)
    order = np.argsort([i for i, o in enumerate(outcomes) if isinstance(o, Row)]
                       + [i for i, o in enumerate(outcomes) if isinstance(o, Reject)], kind="stable")
    return pa.concat_tables([datums.cast(RENDERED_SCHEMA), reject_table]).take(pa.array(order))


def render_dataset(ds: Any, options: RenderOptions = RenderOptions(), *, source: str = "dataset",
                   source_column: str | None = None, line_column: str | None = None) -> Any:
    """The records of `ds` (a `ray.data.Dataset`, one record per row) rendered, lazily: a Dataset
    of `RENDERED_SCHEMA` rows, Datums and rejects (`reason` set), in the order of `ds` (it runs
    with Ray Data's `preserve_order`).

    Each row's `source` is `source`, or its own `source_column` value; its `line` is its
    `line_column` value (0 without one: a Dataset row has no line number of its own). Split
    options are refused: a split plans over the whole input first (`datakit render --engine ray`
    does); `options.workers` caps the render actors (default: one per CPU; the pool grows from
    one, so the stages before it keep CPUs to run on).
    """
    import ray.data

    if options.splitting:
        raise ValueError("render_dataset does not split (--test-ratio, --test-size, --dedup); "
                         "render files with datakit render --engine ray, or split the rows in Ray")
    rendered = ds.map_batches(RowRenderer, fn_constructor_args=(options, source, source_column, line_column),
                              batch_size=min(options.batch_lines, BATCH_ROWS), batch_format="pyarrow",
                              compute=ray.data.ActorPoolStrategy(min_size=1, max_size=render_actors(options)))
    rendered.context.execution_options.preserve_order = True
    return rendered


def datums(rendered: Any) -> Any:
    """The Datum rows of `render_dataset`'s output (the columns of a shard)."""
    from ray.data.expressions import col

    return rendered.filter(expr=col("reason").is_null()).select_columns(SCHEMA.names)


def rejects(rendered: Any) -> Any:
    """The rejects of `render_dataset`'s output, as rejects.jsonl has them: file, line, reason, detail."""
    from ray.data.expressions import col

    return rendered.filter(expr=col("reason").is_not_null()).select_columns(
        ["source", "line", "reason", "detail"]).rename_columns({"source": "file"})
