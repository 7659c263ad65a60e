"""The render job: JSONL files in, a committed output directory out.

read (main process: numbered raw lines, in batches) -> parse + render + truncate + shift
(workers, a batch at a time) -> write (main process: shards, rejects, stats, manifest).
Batches go to the workers in order and come back in order through a bounded window, so the
output is the same whatever the number of workers and memory does not grow with the input.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import platform
import time
from collections import deque
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from . import __version__
from .chat_template import DEFAULT_DATE_STRING, TemplateError, load_template
from .datum import rows_to_table
from .read import DEFAULT_MAX_LINE_BYTES, InvalidConversation, Line, ReadCounts, parse_conversation, read_lines
from .render import RenderError, build_renderer
from .stats import DROPPED, EMPTIED, ROW_FIELDS, WRITTEN, StatsCollector
from .tokenizer import TokenizerError, check_tokenizer_source, load_tokenizer
from .truncate import TooLong, truncate
from .write import OutputWriter, prepare_output_dir

TRAIN, TEST = 0, 1
SPLIT_NAMES = ("train", "test")


class PipelineError(RuntimeError):
    """The run cannot go on (the `error` truncation policy, an unusable output dir, ...)."""


@dataclass(frozen=True)
class RenderOptions:
    """Everything that decides the output of a render (recorded in the manifest)."""

    template: str = "llama3"
    tokenizer: str | None = None  # default: the template's bundled tokenizer
    train_on: str = "all_assistant"
    parse_special_tokens: bool = False
    date_string: str = DEFAULT_DATE_STRING
    max_length: int | None = 16384
    truncation: str = "right"
    test_ratio: float | None = None
    test_size: int | None = None
    seed: int = 0
    group_key: str | None = None
    dedup: bool = False
    # How the work is done; does not change the output.
    workers: int | None = None
    batch_lines: int = 256
    shard_bytes: int = 256 << 20
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES

    @property
    def splitting(self) -> bool:
        return self.test_ratio is not None or self.test_size is not None or self.dedup

    def output_options(self) -> dict[str, Any]:
        skip = {"workers", "batch_lines", "shard_bytes"}
        return {k: v for k, v in asdict(self).items() if k not in skip}


@dataclass
class RenderResult:
    out_dir: Path
    manifest: dict[str, Any]
    stats: dict[str, Any]
    seconds: float = 0.0


@dataclass
class BatchResult:
    tables: dict[int, Any] = field(default_factory=dict)
    rejects: list[dict[str, Any]] = field(default_factory=list)
    rows: dict[str, np.ndarray] = field(default_factory=dict)
    error: str | None = None


class BatchWorker:
    """Parses, renders, truncates and shifts batches of lines (one per process)."""

    def __init__(self, options: RenderOptions, files: Sequence[str]):
        self.options = options
        self.files = list(files)
        self.renderer = build_renderer(
            options.template, options.tokenizer, train_on=options.train_on,
            parse_special_tokens=options.parse_special_tokens, date_string=options.date_string,
            load=load_tokenizer,
        )
        self.template = self.renderer.template

    def describe(self) -> dict[str, Any]:
        tokenizer = self.renderer.tokenizer
        return {
            "template": {"name": self.template.name,
                         "sha256": hashlib.sha256(self.template.source.encode()).hexdigest()},
            "tokenizer": {"name": tokenizer.name, "fingerprint": tokenizer.fingerprint,
                          "encoder": tokenizer.encoder_name},
        }

    def process(self, lines: list[Line], sides: list[int | None]) -> BatchResult:
        result = BatchResult()
        conversations, kept = [], []
        for line, side in zip(lines, sides):
            if line.raw is None:
                self._reject(result, line, "line_too_long", f"longer than {self.options.max_line_bytes} bytes")
                continue
            try:
                _, messages = parse_conversation(line.raw, self.template.roles)
            except InvalidConversation as exc:
                self._reject(result, line, exc.reason, exc.detail)
                continue
            if side is None:
                self._reject(result, line, "duplicate", "an earlier line has the same conversation (--dedup)")
                continue
            conversations.append(messages)
            kept.append((line, side))

        rows: dict[str, list] = {k: [] for k in ROW_FIELDS}
        out: dict[int, dict[str, list]] = {}
        options = self.options
        for (line, side), messages, rendered in zip(kept, conversations, self.renderer.render_batch(conversations)):
            if isinstance(rendered, RenderError):
                self._reject(result, line, rendered.reason, rendered.detail)
                continue
            if rendered.weights[1:].sum() == 0:
                self._reject(result, line, "no_trainable_tokens", "no assistant token to learn from")
                continue
            try:
                cut = truncate(rendered, messages, options.max_length, options.truncation,  # type: ignore[arg-type]
                               self.renderer.render)
            except TooLong as exc:
                result.error = f"{self.files[line.file_index]}:{line.number}: {exc} (--truncation error)"
                return result
            except RenderError as exc:
                self._reject(result, line, exc.reason, exc.detail)
                continue
            kept_row = cut.rendered
            trainable_after = int(kept_row.weights[1:].sum()) if kept_row is not None else 0
            if kept_row is None:
                status = DROPPED
                self._reject(result, line, "too_long", f"{cut.original_length} tokens > --max-length {options.max_length}")
            elif trainable_after == 0 or len(kept_row.tokens) < 2:
                status = EMPTIED
                self._reject(result, line, "no_trainable_tokens_after_truncation",
                             f"{cut.original_length} tokens cut to {options.max_length} left nothing to learn")
            else:
                status = WRITTEN
                table = out.setdefault(side, {"tokens": [], "weights": [], "sources": [], "lines": [],
                                              "original": [], "truncated": []})
                table["tokens"].append(kept_row.tokens)
                table["weights"].append(kept_row.weights)
                table["sources"].append(self.files[line.file_index])
                table["lines"].append(line.number)
                table["original"].append(cut.original_length)
                table["truncated"].append(cut.truncated)
            for key, value in (
                ("file", line.file_index), ("split", side), ("status", status),
                ("original_length", cut.original_length),
                ("length", len(kept_row.tokens) if kept_row is not None else 0),
                ("trainable_before", int(rendered.weights[1:].sum())),
                ("trainable_after", trainable_after), ("truncated", cut.truncated),
                ("lost_final_end_of_turn", cut.lost_final_end_of_turn),
                ("fell_back_to_right", cut.fell_back_to_right),
            ):
                rows[key].append(value)
        result.rows = {k: np.asarray(v, dtype=np.int32) for k, v in rows.items()}
        for side, t in out.items():
            result.tables[side] = rows_to_table(t["tokens"], t["weights"], t["sources"], t["lines"],
                                                t["original"], t["truncated"])
        return result

    def _reject(self, result: BatchResult, line: Line, reason: str, detail: str) -> None:
        result.rejects.append({"file": self.files[line.file_index], "line": line.number,
                               "reason": reason, "detail": detail, "_file_index": line.file_index})


# One BatchWorker per worker process, made by the pool's initializer.
_process_worker: BatchWorker | None = None


def _init_process(options: RenderOptions, files: Sequence[str], parent: int) -> None:
    global _process_worker
    _die_with_parent(parent)
    _process_worker = BatchWorker(options, files)


def _die_with_parent(parent: int) -> None:
    """A killed render must not leave its workers running (Linux: PR_SET_PDEATHSIG)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # it died while this process was still starting
        os._exit(1)


def _call_worker(method: str, *args: Any) -> Any:
    """Run a BatchWorker method in a worker process, on that process's worker."""
    assert _process_worker is not None
    return getattr(_process_worker, method)(*args)


class _InlineExecutor(Executor):
    """Runs tasks in this process (workers=1): no pickling, and the tokenizer may use threads."""

    def __init__(self, worker: BatchWorker):
        self.worker = worker

    def submit(self, fn: Callable, /, *args: Any, **kwargs: Any) -> Future:
        # `fn` is always _call_worker: the same method, on this process's worker.
        method, *rest = args
        future: Future = Future()
        future.set_result(getattr(self.worker, method)(*rest))
        return future


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _ordered(executor: Executor, tasks: Iterable[tuple], window: int) -> Iterator[BatchResult]:
    """Results of `tasks` in submission order, with at most `window` in flight."""
    pending: deque[Future] = deque()
    for task in tasks:
        pending.append(executor.submit(_call_worker, "process", *task))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _batches(lines: Iterator[Line], size: int, side_of: Callable[[Line], int | None]) -> Iterator[tuple]:
    batch: list[Line] = []
    for line in lines:
        batch.append(line)
        if len(batch) >= size:
            yield batch, [side_of(x) for x in batch]
            batch = []
    if batch:
        yield batch, [side_of(x) for x in batch]


def render_files(
    paths: Sequence[str | Path],
    out_dir: str | Path,
    options: RenderOptions = RenderOptions(),
    *,
    overwrite: bool = False,
    progress: Callable[[int], None] | None = None,
) -> RenderResult:
    """Render JSONL files into a committed output directory; see the module docstring."""
    started = time.perf_counter()
    paths = [Path(p) for p in paths]
    for path in paths:
        if not path.is_file():
            raise PipelineError(f"{path}: no such file")
    files = [str(p) for p in paths]
    out_dir = Path(out_dir)
    options = _with_absolute_paths(options)
    _check_sources(options)
    prepare_output_dir(out_dir, overwrite)
    side_of = _split_sides(paths, options)
    workers = options.workers or default_workers()
    if workers <= 1:
        executor: Executor = _InlineExecutor(BatchWorker(options, files))
    else:
        # Each process tokenizes on one thread; the processes are the parallelism.
        os.environ.setdefault("RAYON_NUM_THREADS", "1")
        executor = ProcessPoolExecutor(workers, mp_context=get_context("spawn"),
                                       initializer=_init_process, initargs=(options, files, os.getpid()))
    try:
        description = executor.submit(_call_worker, "describe").result()
        splits = list(SPLIT_NAMES) if options.splitting else ["train"]
        writer = OutputWriter(out_dir, splits, options.shard_bytes, overwrite=overwrite)
        stats = StatsCollector(files, splits)
        counts = ReadCounts()
        try:
            lines = read_lines(paths, counts, options.max_line_bytes, stats)
            for result in _ordered(executor, _batches(lines, options.batch_lines, side_of), 2 * workers):
                if result.error:
                    raise PipelineError(result.error)
                for side, table in result.tables.items():
                    writer.write(SPLIT_NAMES[side], table)
                for reject in result.rejects:
                    stats.add_reject(reject.pop("_file_index"), reject["reason"])
                    writer.reject(reject)
                if result.rows:
                    stats.add_rows(result.rows)
                if progress is not None:
                    progress(counts.bytes)
            summary = stats.summary()
            manifest = {
                "format": "datakit/1",
                "datakit_version": __version__,
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                **description,
                "options": options.output_options(),
                "inputs": [{"path": f, "bytes": p.stat().st_size} for f, p in zip(files, paths)],
                "summary": {k: summary[k] for k in ("lines_read", "blank_lines", "rows_written", "rejected",
                                                     "tokens_written", "trainable_tokens_written")},
                "python": platform.python_version(),
            }
            manifest = writer.commit(manifest, summary)
        except BaseException:
            writer.abort()
            raise
    finally:
        executor.shutdown(cancel_futures=True)
    return RenderResult(out_dir, manifest, summary, time.perf_counter() - started)


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
        name = options.tokenizer or template.tokenizer
        if name is None:
            raise PipelineError(f"template {options.template} needs --tokenizer")
        check_tokenizer_source(name)
    except (TemplateError, TokenizerError) as exc:
        raise PipelineError(str(exc)) from None


def _split_sides(paths: list[Path], options: RenderOptions) -> Callable[[Line], int | None]:
    if not options.splitting:
        return lambda line: TRAIN
    from .split import plan_split

    plan = plan_split(paths, test_ratio=options.test_ratio if options.test_size is None else None,
                      test_size=options.test_size, seed=options.seed, group_key=options.group_key,
                      dedup=options.dedup)

    def side_of(line: Line) -> int | None:
        side = plan.side(line.file_index, line.number)
        return None if side is None else (TEST if side == "test" else TRAIN)

    return side_of
