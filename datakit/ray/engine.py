"""`datakit render --engine ray`: the same render as the local engine, its batches done on Ray.

read (Ray tasks, one per input file: `read.py`) -> parse + render + truncate + shift
(`map_batches` on an actor pool: one `BatchWorker`, so one Renderer, per Ray worker process,
built once; each writes its rows as piece files into the output's staging directory) -> the
driver, in input order (`preserve_order`): places the rows into shards, which Ray tasks write
(`shards.py`), and writes rejects, stats and then the manifest through the local engine's own
`_write_output` (`OutputWriter`: the staging directory beside OUT, the lock, one atomic commit).

Identical output. The local engine cuts the records of all inputs, in order, into batches
(`batches.BatchCut`: by their count and their lines' bytes) and writes one table per batch and
split; the shard bytes (and where a shard rolls over) follow those tables. Ray batches are cut
elsewhere (per file, per block), so each worker result gives every record's line bytes and
names every row's record, and `Regroup`, cutting the records in input order as the local engine
does, puts the rows back into its batches as segments of pieces, which the shard tasks join
into the same tables.

Crash safety. Only the driver holds the lock and commits; the workers and shard tasks write
only inside its staging directory, a piece or shard under a `.tmp` name until it is complete.
A killed worker is restarted and its batches run again (the pieces of the killed attempt are
never referenced, and removed before the commit); a killed driver leaves the staging
directory, which the next run removes.
"""

from __future__ import annotations

import logging
import os
import pickle
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import pyarrow as pa

from ..batches import BatchCut, line_bytes
from ..encoder import encode_on_one_thread
from ..outcome import Side
from ..pipeline import BatchResult, BatchWorker, PipelineError, RenderOptions
from ..write import OutputWriter
from ..read import ReadCounts, ReadError, Record
from .read import InputFiles, block_records, last_position
from .shards import Segment, ShardPlan, remove_pieces, write_piece, write_shard

RESULT_SCHEMA = pa.schema([pa.field("result", pa.large_binary())])
READ_CPUS = 0.1
BLOCK_BYTES = 4 << 20  # a Ray block (so a Ray batch) of records holds about this much


@contextmanager
def ray_session(address: str | None) -> Iterator[None]:
    """Use the Ray runtime this process already joined, or join `address` (None: start a
    local one) for the duration and leave it after."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise PipelineError('--engine ray needs Ray Data: pip install "datakit[ray]"') from None
    if ray.is_initialized():
        yield
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        where = f"the Ray cluster at {address}" if address else "a local Ray runtime"
        raise PipelineError(f"cannot start or join {where}: {exc}") from None
    try:
        yield
    finally:
        ray.shutdown()


class BatchRenderer:
    """The `map_batches` callable: one per Ray worker process, so the Renderer is built once.
    It writes each split's rows of a batch as a piece file into the staging directory and
    returns the rest (rejects, measurements, where each row came from) to the driver."""

    def __init__(self, options: RenderOptions, files: list[str], side_of: Callable[[Record], Side | None],
                 staging: str):
        encode_on_one_thread()  # the actors are the parallelism
        self.worker = BatchWorker(options, files)
        self.side_of = side_of
        self.staging = staging

    def __call__(self, block: pa.Table) -> pa.Table:
        records, ends = block_records(block)
        payload = {"ends": ends, "position": last_position(block)}
        if records:
            sides = [self.side_of(record) for record in records]
            result = self.worker.process(records, sides, row_keys=True)
            rows = None if result.error else _row_records(records, result)
            for side, table in result.tables.items():
                rows[side]["piece"] = write_piece(self.staging, str(side), table)
                rows[side]["tokens"] = table.column("num_tokens").to_numpy().astype(np.int64) - 1
            payload.update(rejects=result.rejects, measurements=result.measurements, error=result.error, rows=rows,
                           line_bytes=[line_bytes(record) for record in records])
        return pa.Table.from_arrays([pa.array([pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)],
                                              pa.large_binary())], schema=RESULT_SCHEMA)


def _row_records(records: list[Record], result: BatchResult) -> dict[Side, dict[str, np.ndarray]]:
    """Per split, the input of the record each of its rows came from and where that record is
    in the block (with `--examples per_turn` several rows share one)."""
    index_of = {(record.source, record.line): i for i, record in enumerate(records)}
    return {side: {"sources": np.fromiter((source for source, _ in keys), np.int64, len(keys)),
                   "records": np.fromiter((index_of[key] for key in keys), np.int64, len(keys))}
            for side, keys in result.row_keys.items()}


class Regroup:
    """Worker results (in input order) back into the local engine's batches: rejects and
    measurements for the writer, and each batch's rows (piece segments) placed into shards."""

    def __init__(self, options: RenderOptions, files: list[str], counts: ReadCounts,
                 place: Callable[[Side, list[Segment], int, int, int], None]):
        self.cut = BatchCut(options.batch_lines, options.batch_bytes)
        self.next_batch = 0  # the local engine's batch of the next record, in input order
        self.name_bytes = np.asarray([len(name.encode("utf-8")) for name in files], np.int64)
        self.counts = counts
        self.place = place
        self.ended_bytes = 0
        self.batch: int | None = None
        self.open: dict[Side, list] = {}  # per split: segments, rows, tokens, source bytes of the batch

    def results(self, payloads: Iterable[dict[str, Any]]) -> Iterator[BatchResult]:
        for payload in payloads:
            yield from self._feed(payload)
        self._flush()

    def _feed(self, payload: dict[str, Any]) -> Iterator[BatchResult]:
        for end in payload["ends"]:
            self._end_file(end)
        position = payload["position"]
        if position is not None and position[0] == len(self.counts.lines_per_file):
            self.counts.bytes = self.ended_bytes + position[1]
        if "rows" not in payload:
            return
        yield BatchResult(rejects=payload["rejects"], measurements=payload["measurements"], error=payload["error"])
        if payload["error"]:
            return
        record_batch = np.asarray(self._batches_of(payload["line_bytes"]), np.int64)
        batch_of = {side: record_batch[row["records"]] for side, row in payload["rows"].items()}
        for batch in np.unique(np.concatenate(list(batch_of.values()) or [np.zeros(0, np.int64)])):
            if batch != self.batch:
                self._flush()
                self.batch = int(batch)
            for side, row in payload["rows"].items():
                start, stop = (int(i) for i in np.searchsorted(batch_of[side], [batch, batch + 1]))
                if stop > start:
                    segments, rows, tokens, source_bytes = self.open.setdefault(side, [[], 0, 0, 0])
                    segments.append(Segment(row["piece"], start, stop - start, stop - start == len(row["sources"])))
                    self.open[side][1:] = [rows + stop - start, tokens + int(row["tokens"][start:stop].sum()),
                                           source_bytes + int(self.name_bytes[row["sources"][start:stop]].sum())]

    def _end_file(self, end: dict[str, Any]) -> None:
        self.counts.lines += end["lines"]
        self.counts.blank += end["blank"]
        self.counts.lines_per_file.append(end["lines"])
        self.counts.blank_per_file.append(end["blank"])
        self.ended_bytes += end["bytes"]
        self.counts.bytes = self.ended_bytes
        if end["error"]:
            raise ReadError(end["error"])

    def _batches_of(self, sizes: list[int | None]) -> list[int]:
        """The local engine's batch of each of the next records (their `line_bytes`)."""
        batches = []
        for size in sizes:
            batches.append(self.next_batch)
            self.next_batch += self.cut.ends_batch(size)
        return batches

    def _flush(self) -> None:
        for side, (segments, rows, tokens, source_bytes) in self.open.items():
            self.place(side, segments, rows, tokens, source_bytes)
        self.open = {}


class ShardWriting:
    """Plans each split's shards as batches are placed and has Ray tasks write them; `finish`
    waits for them and hands their manifest entries to the output's writer."""

    def __init__(self, writer: OutputWriter, shard_bytes: int):
        import ray

        self.writer = writer
        self.plans = {name: ShardPlan(name, shard_bytes) for name in writer.splits}
        self.pending: dict[str, list] = {name: [] for name in writer.splits}
        self.task = ray.remote(num_cpus=READ_CPUS, max_retries=-1)(write_shard)

    def place(self, side: Side, segments: list[Segment], rows: int, tokens: int, source_bytes: int) -> None:
        self._submit(str(side), self.plans[str(side)].add(segments, rows, tokens, source_bytes))

    def _submit(self, split: str, shard: dict[str, Any] | None) -> None:
        if shard is not None:
            self.pending[split].append(self.task.remote(str(self.writer.staging), split, shard))

    def finish(self) -> None:
        import ray

        for split, plan in self.plans.items():
            self._submit(split, plan.finish())
            # ShardWriter.close keeps shards it holds (and writes the empty shard of an empty split).
            self.writer.splits[split].shards.extend(ray.get(self.pending[split]))
        remove_pieces(self.writer.staging, list(self.plans))


def _payloads(dataset: Any) -> Iterator[dict[str, Any]]:
    for block in dataset.iter_batches(batch_size=None, batch_format="pyarrow"):
        for blob in block.column("result").to_pylist():
            yield pickle.loads(blob)


def render_actors(options: RenderOptions) -> int:
    """How many render actors: --workers, else one per CPU of the cluster."""
    import ray

    return options.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))


@contextmanager
def ray_results(paths: list[Path], files: list[str], options: RenderOptions,
                side_of: Callable[[Record], Side | None], counts: ReadCounts
                ) -> Iterator[tuple[Callable[[OutputWriter], Iterator[BatchResult]], dict[str, Any]]]:
    """For `pipeline._write_output`: the batch results of the inputs rendered on Ray, in the
    local engine's order (shards written by Ray tasks into the writer's staging directory), and
    the output's template/tokenizer description."""
    with ray_session(options.ray_address):
        description = BatchWorker(options, files).describe()
        running: list[Iterator[dict[str, Any]]] = []

        def results(writer: OutputWriter) -> Iterator[BatchResult]:
            payloads = _payloads(_dataset(paths, files, options, side_of, str(writer.staging)))
            running.append(payloads)
            shards = ShardWriting(writer, options.shard_bytes)
            yield from Regroup(options, files, counts, shards.place).results(payloads)
            shards.finish()

        quiet = logging.getLogger("ray.data")
        level = quiet.level
        quiet.setLevel(logging.ERROR)  # Ray Data's progress lines: datakit prints its own summary
        # A small input is fewer blocks than actors: nothing to warn the user about.
        warnings.filterwarnings("ignore", "The minimum number of concurrent actors", UserWarning)
        try:
            yield results, description
        finally:
            for payloads in running:
                payloads.close()  # stops the Ray execution if the writer gave up early
            quiet.setLevel(level)


def _dataset(paths: list[Path], files: list[str], options: RenderOptions, side_of: Callable[[Record], Side | None],
             staging: str) -> Any:
    import ray.data

    source = InputFiles([str(p.resolve()) for p in paths], options.max_line_bytes,
                        (options.batch_lines, options.batch_bytes))
    # One actor per CPU; each reserves 0.9 of it, so the read and shard tasks (light next to
    # rendering) always find room beside them. One block list per file: not split further.
    dataset = ray.data.read_datasource(source.datasource, num_cpus=READ_CPUS, override_num_blocks=len(paths))
    dataset = dataset.map_batches(
        BatchRenderer, fn_constructor_args=(options, files, side_of, staging), batch_size=None,
        batch_format="pyarrow", compute=ray.data.ActorPoolStrategy(size=render_actors(options)),
        num_cpus=1 - READ_CPUS,
    )
    context = dataset.context
    context.execution_options.preserve_order = True
    # Ray merges a task's blocks up to this size before passing them on (128 MiB by default:
    # a whole file would reach one actor); small blocks spread the batches.
    context.target_max_block_size = BLOCK_BYTES
    return dataset
