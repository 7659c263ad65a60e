"""Turn a batch of input records into outcomes: parse, render, truncate, each a `Row` or a
`Reject`. The one decision chain the render workers and `inspect` both run."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .outcome import Invalid, Outcome, Reason, Reject, Row, Side
from .read import Conversation, Record, RecordParser
from .render import Rendered, Renderer, RenderError
from .truncate import Policy, TooLong, truncate


@dataclass(frozen=True)
class Limits:
    """How rendered records are fitted: `max_length` tokens (None: no limit) by `policy`."""

    max_length: int | None = None
    policy: Policy = Policy.RIGHT


class StopRun(Exception):
    """A record the `error` truncation policy stops the run for."""

    def __init__(self, record: Record, reason: TooLong):
        super().__init__(str(reason))
        self.record = record


def convert(records: Sequence[Record], sides: Sequence[Side | None], parser: RecordParser,
            renderer: Renderer, limits: Limits) -> list[Outcome]:
    """The outcome of each record, in order. A side of None marks a duplicate dropped by
    --dedup. Raises StopRun for the `error` policy."""
    outcomes: list[Outcome | None] = [None] * len(records)
    parsed: list[tuple[int, Conversation]] = []
    for i, (record, side) in enumerate(zip(records, sides)):
        try:
            conversation = parser.parse(record)
        except Invalid as exc:
            outcomes[i] = Reject(record.source, record.line, exc.reason, exc.detail)
            continue
        if side is None:
            outcomes[i] = Reject(record.source, record.line, Reason.DUPLICATE,
                                 "an earlier line has the same conversation (--dedup)")
            continue
        parsed.append((i, conversation))
    rendered = renderer.render_batch([conversation for _, conversation in parsed])
    for (i, conversation), result in zip(parsed, rendered):
        outcomes[i] = _fit(records[i], sides[i], conversation, result, renderer, limits)  # type: ignore[arg-type]
    return outcomes  # type: ignore[return-value]


def _fit(record: Record, side: Side, conversation: Conversation, result, renderer: Renderer,
         limits: Limits) -> Outcome:
    where = record.source, record.line
    if isinstance(result, RenderError):
        return Reject(*where, result.reason, result.detail)
    if not np.any(result.weights[1:]):
        return Reject(*where, Reason.NO_TRAINABLE_TOKENS, "no assistant token to learn from")
    def render_shorter(messages: list[dict]) -> Rendered:
        return renderer.render(dataclasses.replace(conversation, messages=messages))

    try:
        kept, truncation = truncate(result, conversation.messages, limits.max_length, limits.policy, render_shorter)
    except TooLong as exc:
        raise StopRun(record, exc) from None
    except RenderError as exc:
        return Reject(*where, exc.reason, exc.detail)
    if kept is None:
        return Reject(*where, Reason.TOO_LONG,
                      f"{truncation.original_length} tokens > --max-length {limits.max_length}", side, truncation)
    if len(kept.tokens) < 2 or not np.any(kept.weights[1:]):
        return Reject(*where, Reason.NO_TRAINABLE_TOKENS_AFTER_TRUNCATION,
                      f"{truncation.original_length} tokens cut to {limits.max_length} left nothing to learn",
                      side, truncation)
    return Row(*where, side, kept.tokens, kept.weights, truncation, result.reasoning_dropped)

