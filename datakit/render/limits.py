"""Bounds on one run of a template from a file: CPU time, and the size and characters of what it builds.

Built-in templates are datakit's own: they loop only over messages and tools and write text in
proportion to them. A template from a file may do anything Jinja allows: loop for ever (nested
`range`s), build a huge string (`'x' * 10**9`, a string doubled in a loop), turn numbers into
characters (`'%c' % n`). Each record it renders runs under these bounds, and breaking one makes
that record a reject, never a hang, an out-of-memory kill or a forged marker:

- `MAX_SECONDS` of CPU time per run (`template_timeout`). The timer (ITIMER_PROF) needs the
  main thread: it is always there in `datakit render`'s worker processes and with `--workers 1`;
  a render from another thread of a Python program runs without it.
- `MAX_CHARS` characters (or items) for every string or list an operator (`+`, `*`, `%`, `~`),
  filter or method call builds, for the rendered text, and for any integer argument (a width,
  a count); and no `**` result over `MAX_INT_BITS` bits (`template_too_large`).
- No operator, filter or call may make one of datakit's reserved characters (U+F0000-U+F00FF)
  that none of its inputs held (`template_error`): data turned into characters (`'%c' % n`,
  `str.translate`, `decode('unicode_escape')`) cannot forge a marker or OWN (see `provenance`).
  Macros and blocks return the template's own text and are not checked themselves.
"""

from __future__ import annotations

import functools
import math
import re
import signal
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator

from jinja2.compiler import CodeGenerator
from jinja2.ext import Extension
from jinja2.runtime import BlockReference, Macro
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ..outcome import Reason

MAX_SECONDS = 10.0
MAX_CHARS = 1 << 27  # 128 Mi: twice the longest input line (64 MiB) and then some
MAX_INT_BITS = 1 << 16
_RESERVED = re.compile("[\U000f0000-\U000f00ff]")


class TemplateLimit(BaseException):
    """A template run broke a bound. A BaseException, so that no `except Exception` in a
    template's filters or in Jinja swallows it; `ChatTemplate.run` turns it into a TemplateError."""

    def __init__(self, reason: Reason, message: str):
        super().__init__(message)
        self.reason = reason


def _too_large(what: str) -> TemplateLimit:
    return TemplateLimit(Reason.TEMPLATE_TOO_LARGE, f"the template built {what} over the limit of {MAX_CHARS:,}")


def _reserved(value: Any) -> set[str]:
    return set(_RESERVED.findall(value)) if isinstance(value, str) and _RESERVED.search(value) else set()


def check_made(result: Any, inputs: Iterable[Any]) -> Any:
    """`result` of an operation on `inputs`, if within bounds and holding no reserved character
    that none of its inputs held (copying the template's own markup, e.g. `sep.join`, is fine)."""
    if isinstance(result, (str, list, tuple, dict)) and len(result) > MAX_CHARS:
        raise _too_large(f"a {type(result).__name__} of {len(result):,} items")
    made = _reserved(result)
    if made and made - set().union(*map(_reserved, inputs)):
        raise TemplateLimit(Reason.TEMPLATE_ERROR, "a template operation made one of datakit's reserved "
                                                   "characters (U+F0000-U+F00FF) out of its inputs")
    return result


def _check_arguments(arguments: Iterable[Any]) -> list[Any]:
    values = list(arguments)
    for value in values:
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_CHARS:
            raise _too_large(f"an argument of {value:,}")
    return values


def limited_callable(func: Callable) -> Callable:
    """`func` (a filter or test) with its arguments and result checked; Jinja's pass_* marks kept."""
    @functools.wraps(func)
    def call(*args: Any, **kwargs: Any) -> Any:
        inputs = _check_arguments([*args, *kwargs.values()])
        return check_made(func(*args, **kwargs), inputs)
    return call


class _LimitedCodeGenerator(CodeGenerator):
    """Compiles `a ~ b` to `environment.concat(...)`, which checks the size, instead of a plain join."""

    def visit_Concat(self, node: Any, frame: Any) -> None:
        self.write("environment.concat((")
        for arg in node.nodes:
            self.write("str(")
            self.visit(arg, frame)
            self.write("), ")
        self.write("))")


class LimitedEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox with every operator, call and join checked against the bounds above."""

    code_generator_class = _LimitedCodeGenerator
    intercepted_binops = frozenset({"+", "*", "%", "**"})

    def concat(self, parts: Iterable[str]) -> str:  # type: ignore[override]
        pieces, total = [], 0
        for piece in parts:
            total += len(piece)
            if total > MAX_CHARS:
                raise _too_large(f"a text of more than {total:,} characters")
            pieces.append(piece)
        return "".join(pieces)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "+" and isinstance(left, (str, list)) and isinstance(right, (str, list)):
            if len(left) + len(right) > MAX_CHARS:
                raise _too_large(f"a {type(left).__name__} of {len(left) + len(right):,} items")
        elif operator == "*":
            sequence, times = (left, right) if isinstance(left, (str, list, tuple)) else (right, left)
            if isinstance(sequence, (str, list, tuple)) and isinstance(times, int) and len(sequence) * times > MAX_CHARS:
                raise _too_large(f"a {type(sequence).__name__} of {len(sequence) * times:,} items")
        elif operator == "**" and isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 0:
            if right * math.log2(abs(left)) > MAX_INT_BITS:
                raise TemplateLimit(Reason.TEMPLATE_TOO_LARGE, f"the template computed {left} ** {right}, "
                                                               f"a number of more than {MAX_INT_BITS:,} bits")
        elif operator == "%" and isinstance(left, str):
            _check_arguments(right if isinstance(right, tuple) else [right])
            inputs = [left, *(right if isinstance(right, tuple) else [right])]
            return check_made(super().call_binop(context, operator, left, right), inputs)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        inputs = _check_arguments([*args, *kwargs.values()])
        result = super().call(__context, __obj, *args, **kwargs)
        owner = getattr(__obj, "__self__", None)  # the string a method like str.format is called on
        if isinstance(__obj, (Macro, BlockReference)) or isinstance(owner, Extension):
            return check_made(result, [result])  # the template's own text: its operations were checked
        return check_made(result, [owner, *inputs])


@contextmanager
def cpu_time_limit(seconds: float | None = None) -> Iterator[None]:
    """Raise TemplateLimit (template_timeout) in this thread after `seconds` (default
    MAX_SECONDS) of process CPU time."""
    seconds = MAX_SECONDS if seconds is None else seconds
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return
    armed = [True]

    def expire(signum: int, frame: Any) -> None:
        if armed[0]:
            raise TemplateLimit(Reason.TEMPLATE_TIMEOUT,
                                f"the template ran for more than {seconds:g} s of CPU time on this record")

    previous = signal.signal(signal.SIGPROF, expire)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        armed[0] = False
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, signal.SIG_DFL if previous is None else previous)
