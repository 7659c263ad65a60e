"""Read chat JSONL: stream raw lines from files, then parse and validate them into conversations.

Reading (in the main process) only cuts files into numbered lines, so it stays cheap and
streaming; parsing and validation run beside rendering, in the workers. Every line ends either
as a conversation or as a `Reject` naming its file, line and reason: nothing is dropped silently.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

BOM = b"\xef\xbb\xbf"
DEFAULT_MAX_LINE_BYTES = 64 << 20
_READ_CHUNK = 1 << 20


@dataclass(frozen=True)
class Line:
    """One non-blank input line. `raw` is None when the line was too long to keep."""

    file_index: int
    number: int  # 1-based, counted as in the file
    raw: bytes | None


@dataclass(frozen=True)
class Reject:
    """An input line that produced no row, and why."""

    file: str
    line: int
    reason: str
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "reason": self.reason, "detail": self.detail}


class InvalidConversation(ValueError):
    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass
class ReadCounts:
    lines: int = 0
    blank: int = 0
    bytes: int = 0


def read_lines(
    paths: list[Path], counts: ReadCounts, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    per_file: Any = None,
) -> Iterator[Line]:
    """Every non-blank line of every file, in order; blank lines are only counted.

    A line longer than `max_line_bytes` is skipped without being held in memory and comes
    out with `raw=None` (it becomes a `line_too_long` reject).
    `per_file`, when given, gets `lines` and `blank` lists with one count per file.
    """
    for file_index, path in enumerate(paths):
        lines_before, blank_before = counts.lines, counts.blank
        with open(path, "rb") as f:
            number = 0
            while True:
                raw = f.readline(max_line_bytes + 1)
                if not raw:
                    break
                number += 1
                counts.lines += 1
                counts.bytes += len(raw)
                if len(raw) > max_line_bytes and not raw.endswith(b"\n"):
                    counts.bytes += _skip_rest_of_line(f)
                    yield Line(file_index, number, None)
                    continue
                if number == 1 and raw.startswith(BOM):
                    raw = raw[len(BOM):]
                if not raw.strip():
                    counts.blank += 1
                    continue
                yield Line(file_index, number, raw)
        if per_file is not None:
            per_file.lines.append(counts.lines - lines_before)
            per_file.blank.append(counts.blank - blank_before)


def _skip_rest_of_line(f: Any) -> int:
    skipped = 0
    while True:
        chunk = f.readline(_READ_CHUNK)
        skipped += len(chunk)
        if not chunk or chunk.endswith(b"\n"):
            return skipped


def parse_conversation(raw: bytes, roles: frozenset[str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Decode and validate one JSONL line: the record and its messages, or InvalidConversation."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidConversation("invalid_utf8", f"byte {exc.start}: not UTF-8") from None
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidConversation("invalid_json", f"{exc.msg} (column {exc.colno})") from None
    except RecursionError:
        raise InvalidConversation("invalid_json", "nested too deeply") from None
    except ValueError as exc:  # e.g. an integer too long to convert
        raise InvalidConversation("invalid_json", str(exc)[:200]) from None
    if not isinstance(record, dict):
        raise InvalidConversation("not_an_object", f"line is a JSON {type(record).__name__}, not an object")
    if "messages" not in record:
        raise InvalidConversation("missing_messages", "no 'messages' key")
    messages = record["messages"]
    if not isinstance(messages, list):
        raise InvalidConversation("messages_not_a_list", f"'messages' is a {type(messages).__name__}")
    if not messages:
        raise InvalidConversation("empty_messages", "'messages' is empty")
    for i, message in enumerate(messages):
        _check_message(i, message, roles)
    return record, messages


def _check_message(i: int, message: Any, roles: frozenset[str]) -> None:
    where = f"message {i}"
    if not isinstance(message, dict):
        raise InvalidConversation("message_not_an_object", f"{where} is a {type(message).__name__}")
    role = message.get("role")
    if role is None:
        raise InvalidConversation("missing_role", f"{where} has no 'role'")
    if not isinstance(role, str):
        raise InvalidConversation("unknown_role", f"{where} role is a {type(role).__name__}, not a string")
    if role not in roles:
        raise InvalidConversation(
            "unknown_role", f"{where} has role {str(role)[:40]!r}; this template takes {', '.join(sorted(roles))}"
        )
    if "content" not in message:
        raise InvalidConversation("missing_content", f"{where} has no 'content'")
    content = message["content"]
    if not isinstance(content, str):
        kind = "null" if content is None else type(content).__name__
        raise InvalidConversation("bad_content_type", f"{where} content is {kind}, not a string")
    try:
        content.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidConversation("invalid_unicode", f"{where} content has a lone surrogate") from None
    if "trainable" in message:
        trainable = message["trainable"]
        if not isinstance(trainable, bool):
            raise InvalidConversation("bad_trainable", f"{where} 'trainable' must be true or false")
        if trainable and role != "assistant":
            raise InvalidConversation(
                "unsupported_trainable", f"{where}: only assistant messages can be made trainable"
            )
    if "tool_calls" in message and not isinstance(message["tool_calls"], list):
        raise InvalidConversation("bad_tool_calls", f"{where} 'tool_calls' must be a list")
