"""Worker processes for a job: each holds one object made once (`factory(*args)`), and the job
calls that object's methods a task at a time, getting the results back in submission order.

`start` gives an Executor: inline for one worker (this process: no pickling, and the tokenizer
may use threads), else a spawn pool of at most the usable cores (`cores`). The pool's processes
all start at once with Ctrl-C ignored, which they inherit across exec, so a Ctrl-C pressed at
the terminal never reaches them, not even while they import; they die with their parent
(PR_SET_PDEATHSIG). An object a process could not make (a template or tokenizer it could not
load) is a `WorkerError` with its message from every task, not a broken pool. `stop` kills the
processes at once, so that a Ctrl-C does not wait for the records they are on.
"""

from __future__ import annotations

import os
import signal
from collections import deque
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import contextmanager
from multiprocessing import get_context
from typing import Any, Callable, Iterable, Iterator, Sequence

from .cores import usable_cores


class WorkerError(RuntimeError):
    """A worker could not make its object; the message says why (one line)."""


# The object of this worker process, made by the pool's initializer (or why it could not be).
_worker: Any = None
_error: str | None = None


def worker_count(requested: int | None) -> int:
    """The worker processes a job starts: `requested` (default: all), at most the usable cores."""
    usable = usable_cores()
    return usable if requested is None else max(1, min(requested, usable))


def start(factory: Callable[..., Any], args: Sequence[Any], count: int,
          errors: tuple[type[BaseException], ...]) -> Executor:
    """`count` workers each holding `factory(*args)`; an exception of `errors` raised by the
    factory becomes a WorkerError."""
    if count <= 1:
        return _InlineExecutor(_make(factory, args, errors))
    os.environ.setdefault("RAYON_NUM_THREADS", "1")  # each process tokenizes on one thread
    pool = ProcessPoolExecutor(count, mp_context=get_context("spawn"), initializer=_init_process,
                               initargs=(factory, tuple(args), errors, os.getpid()))
    try:
        # One task per process starts them all now (spawn starts one per submit while none is idle).
        with _sigint_ignored():
            for _ in range(count):
                pool.submit(_started)
    except BaseException:
        stop(pool)
        raise
    return pool


def call(method: str, *args: Any) -> Any:
    """Run a method of this process's worker object (the task every submit sends)."""
    if _worker is None:
        raise WorkerError(_error or "the worker process did not start")
    return getattr(_worker, method)(*args)


def _started() -> None:
    """The task that starts a process: its initializer runs first."""


def ordered(executor: Executor, method: str, tasks: Iterable[tuple], window: int) -> Iterator[Any]:
    """`method(*task)` for each task, in submission order, with at most `window` in flight."""
    pending: deque[Future] = deque()
    for task in tasks:
        pending.append(executor.submit(call, method, *task))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def stop(executor: Executor) -> None:
    """Kill the worker processes now and shut the executor down."""
    for process in list((getattr(executor, "_processes", None) or {}).values()):
        process.kill()
    executor.shutdown(cancel_futures=True)


def _make(factory: Callable[..., Any], args: Sequence[Any], errors: tuple[type[BaseException], ...]) -> Any:
    try:
        return factory(*args)
    except errors as exc:
        raise WorkerError(str(exc)) from None
    except Exception as exc:  # anything else a worker cannot start with is one line too
        raise WorkerError(f"a worker could not start: {type(exc).__name__}: {exc}") from None


def _init_process(factory: Callable[..., Any], args: Sequence[Any], errors: tuple[type[BaseException], ...],
                  parent: int) -> None:
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


class _InlineExecutor(Executor):
    """Runs tasks in this process: `fn` is always `call`, on this process's one worker object."""

    def __init__(self, worker: Any):
        self.worker = worker

    def submit(self, fn: Callable, /, *args: Any, **kwargs: Any) -> Future:
        method, *rest = args
        future: Future = Future()
        future.set_result(getattr(self.worker, method)(*rest))
        return future
