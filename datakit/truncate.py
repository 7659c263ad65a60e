"""Truncation policies: fit a rendered conversation into `max_length` tokens, visibly.

`right` keeps the first tokens; `turns` drops the oldest whole exchanges after the system
prompt and re-renders (falling back to `right` when even the last exchange is too long);
`drop` rejects the row; `error` stops the run. What each policy did is reported in a
`Truncation` record so the statistics can count it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Callable, Iterator

import numpy as np

from .outcome import Truncation
from .render import Rendered


class Policy(StrEnum):
    RIGHT = "right"
    TURNS = "turns"
    DROP = "drop"
    ERROR = "error"


class TooLong(Exception):
    """Raised by the `error` policy."""

    def __init__(self, length: int, max_length: int):
        super().__init__(f"{length} tokens is longer than --max-length {max_length}")
        self.length = length


def truncate(
    rendered: Rendered,
    messages: list[dict[str, Any]],
    max_length: int | None,
    policy: Policy | str,
    render: Callable[[list[dict[str, Any]]], Rendered],
) -> tuple[Rendered | None, Truncation]:
    """Apply `policy` to one rendered conversation: what to keep (None: dropped) and what was
    done. `render` re-renders shortened messages."""
    length = len(rendered.tokens) + rendered.tail_tokens
    trainable = int(np.count_nonzero(rendered.weights[1:])) + rendered.tail_trainable
    if max_length is None or length <= max_length:
        return rendered, Truncation(length, trainable)
    policy = Policy(policy)
    if policy is Policy.ERROR:
        raise TooLong(length, max_length)
    if policy is Policy.DROP:
        return None, Truncation(length, trainable, truncated=True)
    if policy is Policy.TURNS:
        candidate, dropped = rendered, 0
        for dropped, shorter in _without_oldest_exchanges(messages):
            candidate = render(shorter)
            if len(candidate.tokens) <= max_length:
                return candidate, Truncation(length, trainable, truncated=True, turns_dropped=dropped)
        # Even the last exchange alone is too long: cut it on the right.
        return _keep_prefix(candidate, max_length, length, trainable, dropped, fell_back=True)
    return _keep_prefix(rendered, max_length, length, trainable, 0, fell_back=False)


def _keep_prefix(rendered: Rendered, max_length: int, length: int, trainable: int,
                 dropped: int, fell_back: bool) -> tuple[Rendered, Truncation]:
    trainable_at = np.flatnonzero(rendered.weights)
    lost_end = bool(trainable_at.size) and int(trainable_at[-1]) >= max_length
    kept = Rendered(rendered.tokens[:max_length], rendered.weights[:max_length])
    return kept, Truncation(length, trainable, truncated=True, turns_dropped=dropped,
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
