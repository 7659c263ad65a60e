"""Parse and validate one input record into a `Conversation`, or raise `Invalid` with the reason.

This is the one definition of a valid record: `render`, `split` and `inspect` all parse through
`RecordParser.parse`, so they agree on which records count.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..outcome import Invalid, Reason
from .sources import DEFAULT_MAX_LINE_BYTES, Record

# Roles any built-in template takes; what `split` accepts when it knows no template.
ALL_ROLES = frozenset({"system", "user", "assistant", "tool", "ipython"})


@dataclass(frozen=True, slots=True)
class Conversation:
    """A valid record: its messages, and the whole record (for `--group-key` and the like)."""

    messages: list[dict[str, Any]]
    record: dict[str, Any]


@dataclass(frozen=True)
class RecordParser:
    """Parses records for a template that takes `roles`."""

    roles: frozenset[str] = ALL_ROLES
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES

    def parse(self, record: Record) -> Conversation:
        """The record's conversation; raises `Invalid`."""
        if record.raw is None:
            raise Invalid(Reason.LINE_TOO_LONG, f"longer than {self.max_line_bytes} bytes")
        value = _decode_json(record.raw)
        if not isinstance(value, dict):
            raise Invalid(Reason.NOT_AN_OBJECT, f"line is a JSON {type(value).__name__}, not an object")
        if "messages" not in value:
            raise Invalid(Reason.MISSING_MESSAGES, "no 'messages' key")
        messages = value["messages"]
        if not isinstance(messages, list):
            raise Invalid(Reason.MESSAGES_NOT_A_LIST, f"'messages' is a {type(messages).__name__}")
        if not messages:
            raise Invalid(Reason.EMPTY_MESSAGES, "'messages' is empty")
        for i, message in enumerate(messages):
            _check_message(i, message, self.roles)
        return Conversation(messages, value)


def _decode_json(raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Invalid(Reason.INVALID_UTF8, f"byte {exc.start}: not UTF-8") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise Invalid(Reason.INVALID_JSON, f"{exc.msg} (column {exc.colno})") from None
    except RecursionError:
        raise Invalid(Reason.INVALID_JSON, "nested too deeply") from None
    except ValueError as exc:  # e.g. an integer too long to convert
        raise Invalid(Reason.INVALID_JSON, str(exc)[:200]) from None


def _check_message(i: int, message: Any, roles: frozenset[str]) -> None:
    where = f"message {i}"
    if not isinstance(message, dict):
        raise Invalid(Reason.MESSAGE_NOT_AN_OBJECT, f"{where} is a {type(message).__name__}")
    role = message.get("role")
    if role is None:
        raise Invalid(Reason.MISSING_ROLE, f"{where} has no 'role'")
    if not isinstance(role, str):
        raise Invalid(Reason.UNKNOWN_ROLE, f"{where} role is a {type(role).__name__}, not a string")
    if role not in roles:
        raise Invalid(Reason.UNKNOWN_ROLE,
                      f"{where} has role {str(role)[:40]!r}; this template takes {', '.join(sorted(roles))}")
    if "content" not in message:
        raise Invalid(Reason.MISSING_CONTENT, f"{where} has no 'content'")
    content = message["content"]
    if not isinstance(content, str):
        kind = "null" if content is None else type(content).__name__
        raise Invalid(Reason.BAD_CONTENT_TYPE, f"{where} content is {kind}, not a string")
    try:
        content.encode("utf-8")
    except UnicodeEncodeError:
        raise Invalid(Reason.INVALID_UNICODE, f"{where} content has a lone surrogate") from None
    if "trainable" in message:
        trainable = message["trainable"]
        if not isinstance(trainable, bool):
            raise Invalid(Reason.BAD_TRAINABLE, f"{where} 'trainable' must be true or false")
        if trainable and role != "assistant":
            raise Invalid(Reason.UNSUPPORTED_TRAINABLE, f"{where}: only assistant messages can be made trainable")
    if "tool_calls" in message and not isinstance(message["tool_calls"], list):
        raise Invalid(Reason.BAD_TOOL_CALLS, f"{where} 'tool_calls' must be a list")
