"""Truncation policies: fit a rendered conversation into `max_length` tokens, visibly.

`right` keeps the first tokens; `turns` drops the oldest whole exchanges after the system
prompt and re-renders (falling back to `right` when even the last exchange is too long);
`drop` rejects the row; `error` stops the run. What each policy did is reported in a
`Truncation` record so the statistics can count it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator, Literal

import numpy as np

from .render import Rendered

Policy = Literal["right", "turns", "drop", "error"]
POLICIES: tuple[str, ...] = ("right", "turns", "drop", "error")


class TooLong(Exception):
    """Raised by the `error` policy."""

    def __init__(self, length: int, max_length: int):
        super().__init__(f"{length} tokens is longer than --max-length {max_length}")
        self.length = length


@dataclass(frozen=True)
class Truncation:
    rendered: Rendered | None  # None: dropped
    original_length: int
    original_trainable: int
    truncated: bool = False
    turns_dropped: int = 0
    fell_back_to_right: bool = False
    lost_final_end_of_turn: bool = False


def truncate(
    rendered: Rendered,
    messages: list[dict[str, Any]],
    max_length: int | None,
    policy: Policy,
    render: Callable[[list[dict[str, Any]]], Rendered],
) -> Truncation:
    """Apply `policy` to one rendered conversation; `render` re-renders shortened messages."""
    length = len(rendered.tokens)
    trainable = rendered.num_trainable
    if max_length is None or length <= max_length:
        return Truncation(rendered, length, trainable)
    if policy == "error":
        raise TooLong(length, max_length)
    if policy == "drop":
        return Truncation(None, length, trainable, truncated=True)
    if policy == "turns":
        candidate, dropped = rendered, 0
        for dropped, shorter in _without_oldest_exchanges(messages):
            candidate = render(shorter)
            if len(candidate.tokens) <= max_length:
                return Truncation(candidate, length, trainable, truncated=True, turns_dropped=dropped)
        # Even the last exchange alone is too long: cut it on the right.
        return _keep_prefix(candidate, max_length, length, trainable, dropped, fell_back=True)
    return _keep_prefix(rendered, max_length, length, trainable, 0, fell_back=False)


def _keep_prefix(rendered: Rendered, max_length: int, length: int, trainable: int,
                 dropped: int, fell_back: bool) -> Truncation:
    trainable_at = np.flatnonzero(rendered.weights)
    lost_end = bool(trainable_at.size) and int(trainable_at[-1]) >= max_length
    kept = Rendered(rendered.tokens[:max_length], rendered.weights[:max_length])
    return Truncation(kept, length, trainable, truncated=True, turns_dropped=dropped,
                      fell_back_to_right=fell_back, lost_final_end_of_turn=lost_end)


def _without_oldest_exchanges(messages: list[dict[str, Any]]) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """(exchanges dropped, messages) with 1, 2, ... oldest exchanges removed; the last kept.

    An exchange starts at a user message and runs to the next one; leading system messages
    always stay.
    """
    head = 0
    while head < len(messages) and messages[head].get("role") == "system":
        head += 1
    starts = [i for i in range(head, len(messages)) if messages[i].get("role") == "user"]
    if not starts or starts[0] != head:
        starts = [head, *[s for s in starts if s != head]]
    for dropped in range(1, len(starts)):
        yield dropped, messages[:head] + messages[starts[dropped]:]
