"""Worker processes for a job: each holds one object (`factory(*args)`), and the job calls that
object's methods a task at a time, getting the results back in submission order.

`Workers` makes the object once, in this process, so that a template or tokenizer that cannot
load fails here with its message. A job of one task, or of one worker, runs on that object here
(no pickling, and the tokenizer may use threads). Otherwise at most `count` processes start: on
Linux they are forked from this process once the object is `ready()`, so they share the loaded
tokenizer and start in milliseconds; elsewhere they are spawned and each makes its own. The
processes ignore Ctrl-C (set before they start, so a Ctrl-C pressed at the terminal never reaches
them) and die with their parent (PR_SET_PDEATHSIG). `stop` kills them at once, so that a Ctrl-C
does not wait for the records they are on.
"""

from __future__ import annotations

import gc
import os
import signal
import sys
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from itertools import chain, islice
from multiprocessing import get_context
from typing import Any, Callable, Iterable, Iterator, Protocol, Sequence

from .cores import usable_cores
from .encoder import encode_on_one_thread

# Forking a process that has loaded its tokenizer shares it; elsewhere fork is not safe.
_START_METHOD = "fork" if sys.platform == "linux" else "spawn"


class WorkerError(RuntimeError):
    """A worker could not make its object; the message says why (one line)."""


class WorkerObject(Protocol):
    """What a job's object does."""

    def ready(self) -> None:
        """Return once it is loaded and runs no thread of its own (it may be forked)."""

    def process(self, *task: Any) -> Any:
        """One task."""


# The object of this worker process (or why a spawned process could not make it).
_worker: Any = None
_error: str | None = None


def worker_count(requested: int | None) -> int:
    """The worker processes a job starts: `requested` (default: all), at most the usable cores."""
    usable = usable_cores()
    return usable if requested is None else max(1, min(requested, usable))


class Workers:
    """`count` workers each holding `factory(*args)`; an exception of `errors` raised by the
    factory becomes a WorkerError."""

    def __init__(self, factory: Callable[..., WorkerObject], args: Sequence[Any], count: int,
                 errors: tuple[type[BaseException], ...]):
        self.worker = _make(factory, args, errors)
        self.count = count
        self._spawn_args = (factory, tuple(args), errors)
        self._pool: ProcessPoolExecutor | None = None

    def ordered(self, tasks: Iterable[tuple], window: int) -> Iterator[Any]:
        """`process(*task)` for each task, in submission order, with at most `window` in flight."""
        tasks = iter(tasks)
        head = list(islice(tasks, 2))
        if self.count <= 1 or len(head) < 2:
            for task in chain(head, tasks):
                yield self.worker.process(*task)
            return
        pool = self._start()
        pending: deque[Future] = deque()
        for task in chain(head, tasks):
            pending.append(pool.submit(call, "process", *task))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()

    def stop(self) -> None:
        """Kill the worker processes now."""
        if self._pool is not None:
            for process in list((getattr(self._pool, "_processes", None) or {}).values()):
                process.kill()
            # A process killed while sending a result leaves the pool's reader waiting for the
            # rest of it, for good while this process holds the pipe's other end: closed, the
            # read ends and the pool shuts down.
            results = getattr(self._pool, "_result_queue", None)
            if results is not None:
                results._writer.close()
            self._pool.shutdown(cancel_futures=True)

    def shutdown(self) -> None:
        """Let the worker processes end (their tasks are done)."""
        if self._pool is not None:
            self._pool.shutdown()

    def _start(self) -> ProcessPoolExecutor:
        encode_on_one_thread()  # set before the fork or spawn, so each process inherits it
        if _START_METHOD == "fork":
            self.worker.ready()
            initializer, initargs = _adopt, (self.worker, os.getpid())
        else:
            initializer, initargs = _init_process, (*self._spawn_args, os.getpid())
        self._pool = ProcessPoolExecutor(self.count, mp_context=get_context(_START_METHOD),
                                         initializer=initializer, initargs=initargs)
        # One task per process starts them all now (spawn starts one per submit while none is idle).
        # What is alive now is frozen out of the garbage collector's reach meanwhile (the `gc`
        # docs' advice before a fork): a forked process's full collections then do not walk, and
        # copy, the pages of every object it inherited (5% of a worker's time on short chats).
        gc.freeze()
        try:
            with _sigint_ignored():
                for _ in range(self.count):
                    self._pool.submit(_started)
        finally:
            gc.unfreeze()
        return self._pool


def call(method: str, *args: Any) -> Any:
    """Run a method of this process's worker object (the task every submit sends)."""
    if _worker is None:
        raise WorkerError(_error or "the worker process did not start")
    return getattr(_worker, method)(*args)


def _started() -> None:
    """The task that starts a process: its initializer runs first."""


def _make(factory: Callable[..., Any], args: Sequence[Any], errors: tuple[type[BaseException], ...]) -> Any:
    try:
        return factory(*args)
    except errors as exc:
        raise WorkerError(str(exc)) from None
    except Exception as exc:  # anything else a worker cannot start with is one line too
        raise WorkerError(f"a worker could not start: {type(exc).__name__}: {exc}") from None


def _adopt(worker: Any, parent: int) -> None:
    """Initializer of a forked process: the object came with the fork."""
    global _worker
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # already so since the fork; Ctrl-C is the parent's
    _worker = worker
    _die_with_parent(parent)


def _init_process(factory: Callable[..., Any], args: Sequence[Any], errors: tuple[type[BaseException], ...],
                  parent: int) -> None:
    """Initializer of a spawned process: it makes its own object."""
    global _worker, _error
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to answer
    _die_with_parent(parent)
    try:
        _worker = _make(factory, args, errors)
    except WorkerError as exc:
        _error = str(exc)


def _die_with_parent(parent: int) -> None:
    """A killed job must not leave its workers running (Linux: PR_SET_PDEATHSIG)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # it died while this process was still starting
        os._exit(1)


@contextmanager
def _sigint_ignored() -> Iterator[None]:
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
