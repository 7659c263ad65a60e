"""What became of one input record: a `Row` to write or a `Reject` saying why not.

Every record of every input ends as exactly one of the two; `Reason` is the one list of reasons
a record can be rejected for, whichever stage (reading, rendering, truncation) found it. The
statistics, the shard writer and `rejects.jsonl` read these types by field name.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np


class Side(StrEnum):
    """The split a row is written to."""

    TRAIN = "train"
    TEST = "test"


class Reason(StrEnum):
    """Why a record produced no row (the `reason` of a line of rejects.jsonl)."""

    # reading
    LINE_TOO_LONG = "line_too_long"
    INVALID_UTF8 = "invalid_utf8"
    INVALID_JSON = "invalid_json"
    NOT_AN_OBJECT = "not_an_object"
    # the record's form
    MISSING_MESSAGES = "missing_messages"
    MESSAGES_NOT_A_LIST = "messages_not_a_list"
    EMPTY_MESSAGES = "empty_messages"
    MESSAGE_NOT_AN_OBJECT = "message_not_an_object"
    MISSING_ROLE = "missing_role"
    UNKNOWN_ROLE = "unknown_role"
    MISSING_CONTENT = "missing_content"
    BAD_CONTENT_TYPE = "bad_content_type"
    INVALID_UNICODE = "invalid_unicode"
    BAD_TRAINABLE = "bad_trainable"
    UNSUPPORTED_TRAINABLE = "unsupported_trainable"
    BAD_TOOL_CALLS = "bad_tool_calls"
    BAD_TOOL_ARGUMENTS = "bad_tool_arguments"
    BAD_TOOLS = "bad_tools"
    BAD_REASONING = "bad_reasoning"
    UNSUPPORTED_CONTENT_PART = "unsupported_content_part"
    BAD_CHAT_TEMPLATE_KWARGS = "bad_chat_template_kwargs"
    # splitting
    DUPLICATE = "duplicate"
    # rendering
    TEMPLATE_ERROR = "template_error"
    TEMPLATE_SPANS_MISMATCH = "template_spans_mismatch"
    REASONING_DROPPED = "reasoning_dropped"
    CONTENT_DROPPED = "content_dropped"
    TOOLS_DROPPED = "tools_dropped"
    REASONING_WITH_THINKING_DISABLED = "reasoning_with_thinking_disabled"
    NO_TRAINABLE_TOKENS = "no_trainable_tokens"
    # truncation
    TOO_LONG = "too_long"
    NO_TRAINABLE_TOKENS_AFTER_TRUNCATION = "no_trainable_tokens_after_truncation"


@dataclass(frozen=True, slots=True)
class Truncation:
    """What fitting a rendered record into --max-length did (also kept for dropped records)."""

    original_length: int
    trainable_before: int  # trainable targets (weights[1:]) before truncation
    truncated: bool = False
    turns_dropped: int = 0
    fell_back_to_right: bool = False
    lost_final_end_of_turn: bool = False


@dataclass(frozen=True, slots=True)
class Row:
    """A rendered record to write: unshifted tokens and weights, after truncation."""

    source: int  # index of the input file
    line: int  # 1-based line, or record number for JSON arrays and Parquet
    side: Side
    tokens: np.ndarray  # int32
    weights: np.ndarray  # float32
    truncation: Truncation
    reasoning_dropped: int = 0  # assistant turns whose reasoning the template left out
    turn: int = -1  # `--examples per_turn`: the index of the one message this row trains; -1: all

    @property
    def trainable(self) -> int:
        return int(np.count_nonzero(self.weights[1:]))


@dataclass(frozen=True, slots=True)
class Reject:
    """A record that produced no row, and why. Records that truncation dropped or emptied keep
    their side and what truncation measured, so the statistics can count them. With
    `--examples per_turn`, a record whose other examples were written can have one example
    dropped by truncation: that reject names its `turn`."""

    source: int
    line: int
    reason: Reason
    detail: str
    side: Side | None = None
    truncation: Truncation | None = None
    turn: int | None = None  # `--examples per_turn`: the one example of the record that was dropped

    def to_json(self, files: list[str]) -> dict[str, Any]:
        """The rejects.jsonl line."""
        line = {"file": files[self.source], "line": self.line, "reason": str(self.reason), "detail": self.detail}
        return line if self.turn is None else {**line, "turn": self.turn}


Outcome = Row | Reject


class Invalid(ValueError):
    """Raised inside a stage for a record that must be rejected; becomes a `Reject`."""

    def __init__(self, reason: Reason, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
