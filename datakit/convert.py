"""Turn a batch of input records into outcomes: parse, render, truncate, each a `Row` or a
`Reject`. The one decision chain the render workers and `inspect` both run.

With `Examples.PER_TURN` a record becomes one example per trainable assistant message i: the
conversation up to and including message i, only message i trainable (tinker-cookbook's
`build_supervised_examples`), so a template that rewrites history (Qwen3 drops earlier turns'
reasoning) trains each turn as the model saw it when it wrote it. Such a record ends as its
rows (with `turn` = i) and a reject naming the turn for each example truncation dropped, or
as one reject when an example cannot be rendered at all.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum
from typing import MutableSequence, Sequence

import numpy as np

from .outcome import Invalid, Outcome, Reason, Reject, Row, Side
from .read import Conversation, Record, RecordParser
from .render import Rendered, Renderer, RenderError, trainable_turns
from .truncate import Policy, TooLong, truncate


class Examples(StrEnum):
    """What one row is: a whole conversation, or one assistant turn with its context."""

    CONVERSATION = "conversation"
    PER_TURN = "per_turn"


@dataclass(frozen=True)
class Limits:
    """How rendered records are fitted: `max_length` tokens (None: no limit) by `policy`."""

    max_length: int | None = None
    policy: Policy = Policy.RIGHT


# A parsed record lets go of a line longer than this, so its bytes are not held beside its value.
_HELD_LINE_BYTES = 1 << 20
# A line longer than this is parsed once the encoder has loaded: the load holds about 150 MiB
# for a second, and the line's bytes and its value would add to it.
_AFTER_LOAD_LINE_BYTES = 16 << 20


class StopRun(Exception):
    """A record the `error` truncation policy stops the run for."""

    def __init__(self, record: Record, reason: TooLong):
        super().__init__(str(reason))
        self.record = record


def convert(records: MutableSequence[Record], sides: Sequence[Side | None], parser: RecordParser,
            renderer: Renderer, limits: Limits, examples: Examples = Examples.CONVERSATION) -> list[Outcome]:
    """The outcomes of the records, in order (several rows for one record per turn). A side of
    None marks a duplicate dropped by --dedup. Raises StopRun for the `error` policy. A long line
    is released from `records` once parsed (its record keeps the parsed value)."""
    outcomes: list[list[Outcome]] = [[] for _ in records]
    units: list[tuple[int, int, Conversation]] = []  # (record, turn, what to render)
    for i, side in enumerate(sides):
        try:
            conversation = _parse(records, i, parser, renderer)
        except Invalid as exc:
            outcomes[i].append(Reject(records[i].source, records[i].line, exc.reason, exc.detail))
            continue
        if side is None:
            outcomes[i].append(Reject(records[i].source, records[i].line, Reason.DUPLICATE,
                                      "an earlier line has the same conversation (--dedup)"))
            continue
        if examples is Examples.CONVERSATION:
            units.append((i, -1, conversation))
            continue
        turns = per_turn_examples(conversation, renderer)
        if not turns:
            outcomes[i].append(Reject(records[i].source, records[i].line, Reason.NO_TRAINABLE_TOKENS,
                                      "no trainable assistant message"))
        units += [(i, turn, example) for turn, example in turns]
    # Under `right` only the first max_length tokens are kept: a huge last message is not encoded whole.
    keep = limits.max_length if limits.policy is Policy.RIGHT else None
    rendered = renderer.render_batch([example for _, _, example in units], keep_tokens=keep)
    for (i, turn, example), result in zip(units, rendered):
        outcomes[i].append(_fit(records[i], sides[i], example, result, renderer, limits, turn))  # type: ignore[arg-type]
    return [outcome for record_outcomes in map(_one_record, outcomes) for outcome in record_outcomes]


def _parse(records: MutableSequence[Record], i: int, parser: RecordParser, renderer: Renderer) -> Conversation:
    """Record i's conversation (raises `Invalid`). A long line is let go of once parsed: the
    record is replaced by one holding the parsed value, so nothing holds the bytes beside it."""
    record = records[i]
    if record.raw is not None and len(record.raw) > _AFTER_LOAD_LINE_BYTES:
        renderer.ready()
    conversation = parser.parse(record)
    if record.raw is not None and len(record.raw) > _HELD_LINE_BYTES:
        records[i] = dataclasses.replace(record, raw=None, value=conversation.record)
    return conversation


def per_turn_examples(conversation: Conversation, renderer: Renderer) -> list[tuple[int, Conversation]]:
    """(message index, the conversation up to it with only it trainable) per trainable turn."""
    messages = conversation.messages
    return [
        (turn, dataclasses.replace(conversation, messages=[
            {**m, "trainable": j == turn} if m.get("role") == "assistant" else m for j, m in enumerate(messages[:turn + 1])
        ]))
        for turn, trainable in trainable_turns(messages, renderer.train_on).items() if trainable
    ]


def _one_record(outcomes: list[Outcome]) -> list[Outcome]:
    """A record's outcomes as it ends: per turn, an example that cannot be rendered at all
    (a template error, nothing trainable) makes the record one reject, naming the turn."""
    broken = [o for o in outcomes if isinstance(o, Reject) and o.turn is not None and o.truncation is None]
    if not broken:
        return outcomes
    first = broken[0]
    return [dataclasses.replace(first, turn=None, detail=f"the example of message {first.turn}: {first.detail}")]


def _fit(record: Record, side: Side, conversation: Conversation, result, renderer: Renderer,
         limits: Limits, turn: int) -> Outcome:
    where = record.source, record.line
    example = None if turn < 0 else turn
    if isinstance(result, RenderError):
        return Reject(*where, result.reason, result.detail, turn=example)
    if not np.count_nonzero(result.weights[1:]):  # a third of `.any()`'s time on a short row
        return Reject(*where, Reason.NO_TRAINABLE_TOKENS, "no assistant token to learn from", turn=example)
    def render_shorter(messages: list[dict]) -> Rendered:
        return renderer.render(dataclasses.replace(conversation, messages=messages))

    try:
        kept, truncation = truncate(result, conversation.messages, limits.max_length, limits.policy, render_shorter)
    except TooLong as exc:
        raise StopRun(record, exc) from None
    except RenderError as exc:
        return Reject(*where, exc.reason, exc.detail, turn=example)
    if kept is None:
        return Reject(*where, Reason.TOO_LONG, f"{truncation.original_length} tokens > --max-length "
                      f"{limits.max_length}", side, truncation, example)
    if kept is not result and (len(kept.tokens) < 2 or not np.count_nonzero(kept.weights[1:])):
        return Reject(*where, Reason.NO_TRAINABLE_TOKENS_AFTER_TRUNCATION,
                      f"{truncation.original_length} tokens cut to {limits.max_length} left nothing to learn",
                      side, truncation, example)
    return Row(*where, side, kept.tokens, kept.weights, truncation, result.reasoning_dropped, turn)

