"""Give the heap memory this process has freed back to the system.

glibc keeps freed memory in its heap for reuse, and a heap fragmented by many small objects
(a parsed tokenizer.json, a batch's rows) is never trimmed by itself: the process's RSS stays
at its high-water mark. `malloc_trim` returns the free pages. Elsewhere this does nothing.
"""

from __future__ import annotations

import ctypes
import sys


def release_free_memory() -> None:
    """Return the heap's free pages to the system (glibc only; cheap: about a millisecond)."""
    if sys.platform != "linux":
        return
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        pass


class PeriodicRelease:
    """`release_free_memory` every `every`-th `tick`: a process that handles batch after batch
    keeps its heap from fragmenting up, at a cost (a millisecond or two each time) that stays
    far below a batch's work."""

    def __init__(self, every: int = 64):
        self.every = every
        self._ticks = 0

    def tick(self) -> None:
        self._ticks += 1
        if self._ticks % self.every == 0:
            release_free_memory()
