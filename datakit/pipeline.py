"""The render job: input records in (`read`), a committed output directory out.

read (main process: numbered raw lines, in batches) -> parse + render + truncate + shift
(workers, a batch at a time) -> write (main process: shards, rejects, stats, manifest).
Batches go to the workers in order and come back in order through a bounded window, so the
output is the same whatever the number of workers and memory does not grow with the input.
With `--engine ray` the batches go to Ray Data actors instead (`ray.engine`), same output.
Local workers (`workers`) are at most the usable cores; they ignore Ctrl-C, which the main process
answers by stopping them at once and leaving the output as it was. A run whose yield fails the
gate (`gate`: no row, or too many rejects) writes nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import multiprocessing
import platform
import time
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from . import __version__, workers
from .batches import BatchCut, record_batches
from .bundled import StartedBundle
from .convert import Examples, Limits, StopRun, convert
from .datum import rows_to_table
from .gate import DEFAULT_MAX_REJECT_RATIO, LowYield, check_yield
from .heap import PeriodicRelease
from .outcome import Reject, Row, Side
from .read import (
    DEFAULT_MAX_LINE_BYTES, STDIN, Form, ReadCounts, ReadError, Record, RecordParser, check_inputs, read_records,
    stdin_spooled,
)
from .render import DEFAULT_DATE_STRING, TemplateError, TrainOn, build_renderer, load_template
from .render.catalog import tokenizer_name
from .stats import StatsCollector, measure
from .tokenizer import TokenizerError, check_tokenizer_source
from .truncate import Policy
from .write import OutputWriter, prepare_output_dir


class PipelineError(RuntimeError):
    """The run cannot go on (the `error` truncation policy, an unusable output dir, ...)."""


class LowYieldError(PipelineError):
    """The gate stopped the run (`gate`): no row, or more rejects than --max-reject-ratio; nothing written."""


class Engine(StrEnum):
    """Where the batches are rendered: local worker processes, or a Ray cluster (`datakit.ray`)."""

    LOCAL = "local"
    RAY = "ray"


@dataclass(frozen=True)
class RenderOptions:
    """Everything that decides the output of a render (recorded in the manifest)."""

    template: str = "llama3"
    tokenizer: str | None = None  # default: the template's bundled tokenizer
    train_on: TrainOn = TrainOn.ALL_ASSISTANT
    parse_special_tokens: bool = False
    date_string: str = DEFAULT_DATE_STRING
    input_format: Form = Form.AUTO
    messages_key: str = "messages"
    drop_reasoning: bool = False
    chat_template_kwargs: dict[str, Any] | None = None  # as apply_chat_template(**kwargs) takes them
    examples: Examples = Examples.CONVERSATION
    max_length: int | None = 16384
    truncation: Policy = Policy.RIGHT
    test_ratio: float | None = None
    test_size: int | None = None
    seed: int = 0
    group_key: str | None = None
    dedup: bool = False
    # Whether the output is written at all (`gate`); does not change it.
    max_reject_ratio: float = DEFAULT_MAX_REJECT_RATIO
    # How the work is done; does not change the output.
    workers: int | None = None  # at most the usable cores (`cores`)
    batch_lines: int = 4096  # a batch's records at most (`batches`) ...
    batch_bytes: int = 1 << 20  # ... and its lines' bytes, once reached
    shard_bytes: int = 256 << 20
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    engine: Engine = Engine.LOCAL
    ray_address: str | None = None  # --engine ray: the cluster to join (None: the running one, or a new local one)

    @property
    def splitting(self) -> bool:
        """Whether a test split is written (`--dedup` alone only drops duplicates)."""
        return self.test_ratio is not None or self.test_size is not None

    @property
    def planning(self) -> bool:
        """Whether the input is read once first, to plan the split or find duplicates."""
        return self.splitting or self.dedup

    def output_options(self) -> dict[str, Any]:
        skip = {"workers", "batch_lines", "batch_bytes", "shard_bytes", "max_reject_ratio", "engine", "ray_address"}
        return {k: v for k, v in asdict(self).items() if k not in skip}


def record_parser(options: RenderOptions, roles: frozenset[str]) -> RecordParser:
    return RecordParser(roles, Form(options.input_format), options.messages_key)


@dataclass
class RenderResult:
    out_dir: Path
    manifest: dict[str, Any]
    stats: dict[str, Any]
    seconds: float = 0.0


@dataclass
class BatchResult:
    """What a worker made of one batch: tables per side, rejects and stats measurements."""

    tables: dict[Side, Any] = field(default_factory=dict)
    rejects: list[Reject] = field(default_factory=list)
    measurements: dict[str, np.ndarray] = field(default_factory=dict)
    error: str | None = None
    # Per side, the (input, line) of each table row, when asked for (the Ray engine puts rows back
    # in batches by it).
    row_keys: dict[Side, list[tuple[int, int]]] = field(default_factory=dict)


class BatchWorker:
    """Parses, renders, truncates and shifts batches of records (one per process)."""

    def __init__(self, options: RenderOptions, files: Sequence[str], started_tokenizer: StartedBundle | None = None):
        self.options = options
        self.files = list(files)
        self.renderer = build_renderer(
            options.template, options.tokenizer, train_on=options.train_on,
            parse_special_tokens=options.parse_special_tokens, date_string=options.date_string,
            drop_reasoning=options.drop_reasoning, chat_template_kwargs=options.chat_template_kwargs,
            started_tokenizer=started_tokenizer,
        )
        self.template = self.renderer.template
        self.parser = record_parser(options, self.template.roles)
        self.limits = Limits(options.max_length, Policy(options.truncation))
        self._heap = PeriodicRelease()

    def ready(self) -> None:
        """Return once the tokenizer is loaded, so that worker processes forked now share it."""
        self.renderer.ready()

    def describe(self) -> dict[str, Any]:
        tokenizer = self.renderer.tokenizer
        return {
            "template": {"name": self.template.name,
                         "sha256": hashlib.sha256(self.template.source.encode()).hexdigest()},
            "tokenizer": {"name": tokenizer.name, "fingerprint": tokenizer.fingerprint,
                          "encoder": tokenizer.encoder_name},
        }

    def process(self, records: list[Record], sides: list[Side | None], row_keys: bool = False) -> BatchResult:
        """Parse, render, truncate and shift one batch; with `row_keys`, say where each row came
        from (the local engine writes the tables in order and needs no keys: 60,000 short chats'
        tuples cost a worker and the main process a tenth of a second)."""
        try:
            outcomes = convert(records, sides, self.parser, self.renderer, self.limits, Examples(self.options.examples))
        except StopRun as exc:
            where = f"{self.files[exc.record.source]}:{exc.record.line}"
            return BatchResult(error=f"{where}: {exc} (--truncation error)")
        result = BatchResult(measurements=measure(outcomes))
        by_side: dict[Side, list[Row]] = {}
        for outcome in outcomes:
            if isinstance(outcome, Row):
                by_side.setdefault(outcome.side, []).append(outcome)
            else:
                result.rejects.append(outcome)
        result.tables = {side: rows_to_table(rows, self.files) for side, rows in by_side.items()}
        if row_keys:
            result.row_keys = {side: [(row.source, row.line) for row in rows] for side, rows in by_side.items()}
        self._heap.tick()
        return result


def render_files(
    paths: Sequence[str | Path],
    out_dir: str | Path,
    options: RenderOptions = RenderOptions(),
    *,
    overwrite: bool = False,
    progress: Callable[[int], None] | None = None,
    started_tokenizer: StartedBundle | None = None,
) -> RenderResult:
    """Render input files (or `-`, stdin) into a committed output directory; see the module docstring.

    `started_tokenizer` is a bundled tokenizer already loading (`bundled.start_bundled`): the
    local engine takes it over if it is the one the options need.

    Raises PipelineError (LowYieldError when the gate stops the run), OutputError, TemplateError,
    TokenizerError; KeyboardInterrupt stops the workers at once and leaves the output as it was.
    """
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        # A spawned worker is importing the script that called us: without the guard below,
        # every worker would start a render of its own.
        raise SystemExit("datakit: render_files() was called while a worker process was starting; a script "
                         "that renders with workers must call it under `if __name__ == \"__main__\":`")
    started = time.perf_counter()
    paths = [Path(p) for p in paths]
    files = [str(p) for p in paths]
    try:
        check_inputs(paths)
    except ReadError as exc:
        raise PipelineError(str(exc)) from None
    out_dir = Path(out_dir)
    options = _with_absolute_paths(options)
    _check_sources(options)
    engine = Engine(options.engine)
    if engine is Engine.RAY and STDIN in files:
        raise PipelineError("--engine ray reads the input files on its workers; stdin (-) needs --engine local")
    with stdin_spooled(paths, options.planning) as paths:
        prepare_output_dir(out_dir, overwrite)
        counts = ReadCounts()
        if engine is Engine.RAY:
            from .ray.engine import ray_results

            side_of = _split_sides(paths, options)
            with ray_results(paths, files, options, side_of, counts) as (results, description):
                manifest, summary = _write_output(results, counts, paths, files, out_dir, options,
                                                  description, progress, overwrite)
        else:
            manifest, summary = _render_locally(paths, files, out_dir, options, counts, progress, overwrite,
                                                started_tokenizer)
    return RenderResult(out_dir, manifest, summary, time.perf_counter() - started)


def _render_locally(paths: list[Path], files: list[str], out_dir: Path, options: RenderOptions,
                    counts: ReadCounts, progress: Callable[[int], None] | None,
                    overwrite: bool, started_tokenizer: StartedBundle | None) -> tuple[dict, dict]:
    """Render on worker processes of this machine (`workers`)."""
    try:
        pool = workers.Workers(BatchWorker, (options, files, started_tokenizer), workers.worker_count(options.workers),
                               (TemplateError, TokenizerError))
    except workers.WorkerError as exc:  # the template or tokenizer could not load
        raise PipelineError(str(exc)) from None
    try:
        side_of = _split_sides(paths, options)
        batches = record_batches(read_records(paths, counts, options.max_line_bytes),
                                 BatchCut(options.batch_lines, options.batch_bytes), side_of)
        result = _write_output(lambda writer: pool.ordered(batches, 2 * pool.count), counts,
                               paths, files, out_dir, options, pool.worker.describe(), progress, overwrite)
    except BaseException as exc:
        pool.stop()  # at once: after an error or Ctrl-C no record is worth finishing
        if isinstance(exc, workers.WorkerError):
            raise PipelineError(str(exc)) from None
        if isinstance(exc, BrokenProcessPool):
            raise PipelineError("a worker process stopped unexpectedly (its own message, if any, is above; "
                                "else it was killed, e.g. out of memory); nothing was written") from None
        raise
    pool.shutdown()
    return result


def _write_output(results: Callable[[OutputWriter], Iterable[BatchResult]], counts: ReadCounts,
                  paths: list[Path], files: list[str], out_dir: Path, options: RenderOptions,
                  description: dict[str, Any], progress: Callable[[int], None] | None,
                  overwrite: bool) -> tuple[dict, dict]:
    """Write the batch results (in input order, from `results(writer)`; reading fills `counts`
    as they come) into a staged output, then commit it."""
    splits = [str(side) for side in (Side if options.splitting else [Side.TRAIN])]
    writer = OutputWriter(out_dir, splits, options.shard_bytes, overwrite=overwrite)
    stats = StatsCollector(files, splits)
    heap = PeriodicRelease()
    try:
        for result in results(writer):
            heap.tick()
            if result.error:
                raise PipelineError(result.error)
            for side, table in result.tables.items():
                writer.write(str(side), table)
            for reject in result.rejects:
                stats.add_reject(reject)
                writer.reject(reject.to_json(files))
            if result.measurements:
                stats.add_rows(result.measurements)
            if progress is not None:
                progress(counts.bytes)
        summary = stats.summary(counts)
        try:
            check_yield(summary["rows_written"], summary["lines_read"] - summary["blank_lines"],
                        summary["rejected_by_reason"], options.max_reject_ratio)
        except LowYield as exc:
            raise LowYieldError(str(exc)) from None
        manifest = {
            "format": "datakit/1",
            "datakit_version": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            **description,
            "options": options.output_options(),
            "inputs": [{"path": f, "bytes": counts.bytes if f == STDIN else p.stat().st_size}
                       for f, p in zip(files, paths)],
            "summary": {k: summary[k] for k in ("lines_read", "blank_lines", "rows_written", "rejected",
                                                 "tokens_written", "trainable_tokens_written")},
            "python": platform.python_version(),
        }
        return writer.commit(manifest, summary), summary
    except ReadError as exc:
        writer.abort()
        raise PipelineError(str(exc)) from None
    except BaseException:
        writer.abort()
        raise


def _with_absolute_paths(options: RenderOptions) -> RenderOptions:
    """Local template / tokenizer paths as absolute ones, so the manifest can find them again."""
    changes = {}
    for name in ("template", "tokenizer"):
        value = getattr(options, name)
        if value is not None and Path(value).exists():
            changes[name] = str(Path(value).resolve())
    return dataclasses.replace(options, **changes) if changes else options


def _check_sources(options: RenderOptions) -> None:
    """Fail here, with a clear message, rather than in every worker process."""
    try:
        template = load_template(options.template, options.date_string)
        check_tokenizer_source(tokenizer_name(template, options.tokenizer))
    except (TemplateError, TokenizerError) as exc:
        raise PipelineError(str(exc)) from None


def _split_sides(paths: list[Path], options: RenderOptions) -> Callable[[Record], Side | None]:
    if not options.planning:
        return lambda record: Side.TRAIN
    from .split import plan_split

    template = load_template(options.template, options.date_string)
    ratio = options.test_ratio if options.splitting else 0.0  # --dedup alone: no test split
    try:
        plan = plan_split(paths, test_ratio=ratio if options.test_size is None else None,
                          test_size=options.test_size, seed=options.seed, group_key=options.group_key,
                          dedup=options.dedup, parser=record_parser(options, template.roles),
                          max_line_bytes=options.max_line_bytes)
    except ValueError as exc:  # bad split options, or an unreadable input
        raise PipelineError(str(exc)) from None
    return lambda record: plan.side(record.source, record.line)
