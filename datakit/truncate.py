"""Truncation policies: fit a rendered conversation into `max_length` tokens, visibly.

`right` keeps the first tokens; `turns` drops the fewest oldest whole exchanges after the
system prompt that make the re-rendered conversation fit (falling back to `right` when even
the last exchange is too long); `drop` rejects the row; `error` stops the run. What each
policy did is reported in a `Truncation` record so the statistics can count it.

`turns` finds how many exchanges to keep by galloping from the newest (keep 1, 2, 4, ...
until one does not fit) and bisecting the last step: O(log n) renders of at most twice the
kept exchanges, not one render per dropped exchange (quadratic in the conversation's length).
It relies on keeping more exchanges never making the rendering shorter, which holds for every
template that renders each message once.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Callable

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
        return _drop_oldest_exchanges(rendered, messages, max_length, render, length, trainable)
    return _keep_prefix(rendered, max_length, length, trainable, 0, fell_back=False)


def _keep_prefix(rendered: Rendered, max_length: int, length: int, trainable: int,
                 dropped: int, fell_back: bool) -> tuple[Rendered, Truncation]:
    trainable_at = np.flatnonzero(rendered.weights)
    lost_end = bool(trainable_at.size) and int(trainable_at[-1]) >= max_length
    kept = Rendered(rendered.tokens[:max_length], rendered.weights[:max_length])
    return kept, Truncation(length, trainable, truncated=True, turns_dropped=dropped,
                            fell_back_to_right=fell_back, lost_final_end_of_turn=lost_end)


def _drop_oldest_exchanges(rendered: Rendered, messages: list[dict[str, Any]], max_length: int,
                           render: Callable[[list[dict[str, Any]]], Rendered], length: int,
                           trainable: int) -> tuple[Rendered, Truncation]:
    """The rendering with the most recent exchanges that fits, or the last one cut on the right."""
    head, starts = _exchanges(messages)
    renders: dict[int, Rendered] = {len(starts): rendered}

    def keeping(kept: int) -> Rendered:  # the newest `kept` exchanges after the system prompt
        if kept not in renders:
            renders[kept] = render(messages[:head] + messages[starts[len(starts) - kept]:])
        return renders[kept]

    def fits(kept: int) -> bool:
        return len(keeping(kept).tokens) <= max_length

    if len(starts) < 2 or not fits(1):
        # Even the last exchange alone is too long: cut it on the right.
        return _keep_prefix(keeping(1) if starts else rendered, max_length, length, trainable,
                            max(len(starts) - 1, 0), fell_back=True)
    fitting, too_long = 1, 2  # gallop: fits(fitting), and too_long does not fit (or is everything)
    while too_long < len(starts) and fits(too_long):
        fitting, too_long = too_long, min(2 * too_long, len(starts))
    while too_long - fitting > 1:
        middle = (fitting + too_long) // 2
        fitting, too_long = (middle, too_long) if fits(middle) else (fitting, middle)
    return keeping(fitting), Truncation(length, trainable, truncated=True, turns_dropped=len(starts) - fitting)


def _exchanges(messages: list[dict[str, Any]]) -> tuple[int, list[int]]:
    """How many leading system messages always stay, and where each exchange starts.

    An exchange starts at a user message and runs to the next one; the first starts right
    after the system messages, whatever its role.
    """
    head = 0
    while head < len(messages) and messages[head].get("role") == "system":
        head += 1
    starts = [i for i in range(head, len(messages)) if messages[i].get("role") == "user"]
    if head < len(messages) and (not starts or starts[0] != head):
        starts = [head, *starts]
    return head, starts
