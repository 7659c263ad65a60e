"""Parse and validate one input record into a `Conversation`, or raise `Invalid` with the reason.

This is the one definition of a valid record: `render`, `split`, `inspect` and the Python API
all parse through `RecordParser`, so they agree on which records count and what they hold.
A record is decoded (JSONL bytes) or taken as it is (a JSON array element already parsed, a
Parquet row), its form is turned into messages (`forms`), and the messages and tools are
normalized (`normalize`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import orjson

from ..outcome import Invalid, Reason
from .forms import Form, to_messages
from .normalize import check_nesting, normalize_messages, normalize_tools
from .sources import Record

_MEDIA = ("images", "videos", "audios")

# Roles any built-in template takes; what `split` accepts when it knows no template.
ALL_ROLES = frozenset({"system", "user", "assistant", "tool", "ipython"})


@dataclass(frozen=True, slots=True)
class Conversation:
    """A valid record: normalized messages and tools, its own chat-template kwargs, and the
    whole record (for `--group-key`)."""

    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None = None
    record: dict[str, Any] | None = None
    kwargs: dict[str, Any] | None = None  # the record's `chat_template_kwargs`


@dataclass(frozen=True)
class RecordParser:
    """Parses records of `form` (auto: detected per record) for a template that takes `roles`."""

    roles: frozenset[str] = ALL_ROLES
    form: Form = Form.AUTO
    messages_key: str = "messages"

    def parse(self, record: Record) -> Conversation:
        """The record's conversation; raises `Invalid`."""
        if record.problem is not None:
            raise Invalid(*record.problem)
        if record.value is not None:
            return self.parse_value(record.value)
        return self.parse_value(_decode_json(record.raw))

    def parse_value(self, value: Any) -> Conversation:
        """A decoded record (a dict) as a conversation; raises `Invalid`."""
        if not isinstance(value, dict):
            raise Invalid(Reason.NOT_AN_OBJECT, f"the record is a JSON {_json_kind(value)}, not an object")
        media = [key for key in _MEDIA if value.get(key)]
        if media:  # LLaMA-Factory / ShareGPT multimodal records: their <image> tags would be trained as text
            raise Invalid(Reason.UNSUPPORTED_CONTENT_PART, f"the record has {media[0]} (a multimodal record); "
                          "datakit renders text only")
        messages = normalize_messages(to_messages(value, Form(self.form), self.messages_key), self.roles)
        kwargs = value.get("chat_template_kwargs")
        if kwargs is not None and not isinstance(kwargs, dict):
            raise Invalid(Reason.BAD_CHAT_TEMPLATE_KWARGS, f"'chat_template_kwargs' is a {type(kwargs).__name__}, "
                          "not an object")
        tools = normalize_tools(value.get("tools"))
        check_nesting(tools or [], "'tools'")
        check_nesting(kwargs or {}, "'chat_template_kwargs'")
        return Conversation(messages, tools, value, kwargs or None)


def _json_kind(value: Any) -> str:
    return {list: "array", str: "string", bool: "boolean", type(None): "null"}.get(type(value), type(value).__name__)


# json decodes this deep from any frame datakit calls it from; orjson decodes deeper.
_JSON_SURE_DEPTH = 500
# orjson reads an integer beyond 64 bits as a float (json: an int); such a float is this large.
_INT64_FLOAT = 2.0 ** 63


def _decode_json(raw: bytes) -> Any:
    """The record's JSON value, or `Invalid` with json's reason.

    orjson decodes the bytes in half json's time and without a decoded copy of the line (for a
    50-million-character message, 100 MB less). What it accepts, json accepts with the same
    value, but for two cases: an integer beyond 64 bits (orjson: a float) and nesting deeper
    than json goes. json decides every line orjson refuses and every value where one of those
    could be, so each line's outcome is json's (tests/test_read_records.py)."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _decode_with_json(raw)
    return _decode_with_json(raw) if _may_differ_from_json(value) else value


def _may_differ_from_json(value: Any) -> bool:
    """Whether orjson's value holds a float that may have been an integer beyond 64 bits, or
    lists and objects nested as deep as json's limit: walked a level at a time, no recursion."""
    level = [value]
    for _ in range(_JSON_SURE_DEPTH):
        inner = []
        for item in level:
            kind = type(item)
            if kind is dict:
                inner.extend(item.values())
            elif kind is list:
                inner.extend(item)
            elif kind is float and abs(item) >= _INT64_FLOAT:
                return True
        if not inner:
            return False
        level = inner
    return True


def _decode_with_json(raw: bytes) -> Any:
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
