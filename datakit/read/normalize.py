"""Normalize and validate messages and tool definitions before any template sees them.

Rules (SCHEMA.md lists them for users):
- A null optional field (`tool_calls`, `reasoning_content`, `name`, `tool_call_id`, `weight`,
  `trainable`, ...) counts as absent; so does an empty `tool_calls` list.
- `content`: a string; a list of parts becomes the concatenation of its `{"type": "text"}`
  parts (any other part type is `unsupported_content_part`); missing or null beside
  `tool_calls` becomes "".
- `tool_calls`: each becomes `{"id"?, "type": "function", "function": {"name", "arguments"}}`
  with `arguments` an object: a JSON string is parsed, a flat `{"name", "arguments"}` wrapped.
- `weight` (OpenAI fine-tuning: 0 or 1, assistant messages only) is `trainable`.
- `reasoning_content` (a string, assistant messages only); `thinking` or `reasoning` stand for
  it when it is absent, as in transformers.
- `tools`: a list of definitions or a JSON string of one (`""`, `"[]"`: none); a bare
  `{"name", "description", "parameters"}` becomes `{"type": "function", "function": {...}}`.
- Nothing a template is given (a message, the tools, the record's `chat_template_kwargs`) is
  nested more than `MAX_NESTING` levels of lists and objects deep (`nested_too_deeply`): JSON
  parses deeper values than the escaping, templates and `json.dumps` can walk.
"""

from __future__ import annotations

import json
from typing import Any

from ..outcome import Invalid, Reason

_OPTIONAL = ("tool_calls", "reasoning_content", "thinking", "reasoning", "name", "tool_call_id", "weight",
             "trainable")
_REASONING_ALIASES = ("thinking", "reasoning")  # older names transformers reads as reasoning_content
MAX_NESTING = 100


def check_nesting(value: Any, what: str) -> None:
    """Raise `nested_too_deeply` if `value` holds lists and objects more than MAX_NESTING deep
    (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        for child in children:
            if isinstance(child, (dict, list)):
                if depth >= MAX_NESTING:
                    raise Invalid(Reason.NESTED_TOO_DEEPLY, f"{what} is nested more than {MAX_NESTING} levels deep")
                stack.append((child, depth + 1))


def normalize_messages(messages: list[Any], roles: frozenset[str]) -> list[dict[str, Any]]:
    if not messages:
        raise Invalid(Reason.EMPTY_MESSAGES, "no messages")
    normalized = []
    for i, message in enumerate(messages):
        plain = _plain_message(message, roles)
        if plain is None:
            plain = _message(i, message, roles)
            check_nesting(plain, f"message {i}")
        normalized.append(plain)
    return normalized


_PLAIN_KEYS = {"role", "content"}
_SURROGATE_SLICE = 1 << 20


def has_lone_surrogate(text: str) -> bool:
    """Whether `text` holds a lone surrogate (JSON's `\\ud800` escapes decode to one), which UTF-8
    cannot encode. Encoded a slice at a time: a huge message is never copied whole."""
    if text.isascii():
        return False
    for start in range(0, len(text), _SURROGATE_SLICE):
        try:
            text[start:start + _SURROGATE_SLICE].encode("utf-8")
        except UnicodeEncodeError:
            return True
    return False


def _plain_message(message: Any, roles: frozenset[str]) -> dict[str, Any] | None:
    """A copy of a message that is a known role and valid string content alone (most messages,
    and what `_message` would make of them), or None to take the general path."""
    if type(message) is not dict or message.keys() != _PLAIN_KEYS:
        return None
    role, content = message["role"], message["content"]
    if type(role) is not str or role not in roles or type(content) is not str:
        return None
    return None if has_lone_surrogate(content) else dict(message)


def _message(i: int, message: Any, roles: frozenset[str]) -> dict[str, Any]:
    where = f"message {i}"
    if not isinstance(message, dict):
        raise Invalid(Reason.MESSAGE_NOT_AN_OBJECT, f"{where} is a {type(message).__name__}")
    message = {k: v for k, v in message.items() if not (k in _OPTIONAL and v is None)}
    if message.get("tool_calls") == []:
        del message["tool_calls"]
    if "reasoning_content" not in message:
        alias = next((message[k] for k in _REASONING_ALIASES if k in message), None)
        if alias is not None:  # as transformers' `_alias_reasoning_fields` does
            message = {"thinking": alias, **message, "reasoning_content": alias}
    role = _role(where, message, roles)
    if "tool_calls" in message:
        if role != "assistant":
            raise Invalid(Reason.BAD_TOOL_CALLS, f"{where}: only assistant messages make tool calls")
        message["tool_calls"] = _tool_calls(where, message["tool_calls"])
        if message.get("content") is None:
            message["content"] = ""
    message["content"] = _content(where, message)
    for key in ("reasoning_content", "name", "tool_call_id"):
        if key in message:
            message[key] = _text(where, key, message[key])
    if "reasoning_content" in message and role != "assistant":
        raise Invalid(Reason.BAD_REASONING, f"{where}: only assistant messages carry reasoning_content")
    _trainable(where, message, role)
    return message


def _role(where: str, message: dict[str, Any], roles: frozenset[str]) -> str:
    role = message.get("role")
    if role is None:
        raise Invalid(Reason.MISSING_ROLE, f"{where} has no 'role'")
    if not isinstance(role, str):
        raise Invalid(Reason.UNKNOWN_ROLE, f"{where} role is a {type(role).__name__}, not a string")
    if role not in roles:
        raise Invalid(Reason.UNKNOWN_ROLE,
                      f"{where} has role {role[:40]!r}; this template takes {', '.join(sorted(roles))}")
    return role


def _text(where: str, key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise Invalid(Reason.BAD_CONTENT_TYPE, f"{where} {key!r} is a {type(value).__name__}, not a string")
    if has_lone_surrogate(value):
        raise Invalid(Reason.INVALID_UNICODE, f"{where} {key!r} has a lone surrogate")
    return value


def _content(where: str, message: dict[str, Any]) -> str:
    if "content" not in message:
        raise Invalid(Reason.MISSING_CONTENT, f"{where} has no 'content'")
    content = message["content"]
    if isinstance(content, list):
        texts = []
        for j, part in enumerate(content):
            kind = part.get("type") if isinstance(part, dict) else None
            if kind != "text":
                named = f"type {str(kind)[:40]!r}" if isinstance(part, dict) else f"a {type(part).__name__}"
                raise Invalid(Reason.UNSUPPORTED_CONTENT_PART,
                              f"{where} content part {j} is {named}; only text parts can be rendered")
            if not isinstance(part.get("text"), str):
                raise Invalid(Reason.BAD_CONTENT_TYPE, f"{where} content part {j} is a text part without a 'text' "
                              "string (OpenAI parts are {\"type\": \"text\", \"text\": ...})")
            texts.append(_text(where, f"content part {j} text", part["text"]))
        return "".join(texts)
    if content is None:
        raise Invalid(Reason.BAD_CONTENT_TYPE, f"{where} content is null (only beside tool_calls)")
    return _text(where, "content", content)


def _tool_calls(where: str, calls: Any) -> list[dict[str, Any]]:
    if not isinstance(calls, list):
        raise Invalid(Reason.BAD_TOOL_CALLS, f"{where} 'tool_calls' must be a list")
    return [_tool_call(f"{where} tool call {j}", call) for j, call in enumerate(calls)]


def _tool_call(where: str, call: Any) -> dict[str, Any]:
    if not isinstance(call, dict):
        raise Invalid(Reason.BAD_TOOL_CALLS, f"{where} is a {type(call).__name__}")
    function = call.get("function", call if "name" in call else None)
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise Invalid(Reason.BAD_TOOL_CALLS, f"{where} has no function name")
    arguments = function.get("arguments", {})
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except (ValueError, RecursionError):
            raise Invalid(Reason.BAD_TOOL_ARGUMENTS, f"{where} arguments are not JSON") from None
    if not isinstance(arguments, dict):
        raise Invalid(Reason.BAD_TOOL_ARGUMENTS, f"{where} arguments are a {type(arguments).__name__}, not an object")
    normalized: dict[str, Any] = {"id": call["id"]} if call.get("id") is not None else {}
    normalized["type"] = "function"
    normalized["function"] = {"name": _text(where, "name", function["name"]), "arguments": arguments}
    return normalized


def _trainable(where: str, message: dict[str, Any], role: str) -> None:
    if "weight" in message:
        weight = message.pop("weight")
        if isinstance(weight, bool) or weight not in (0, 1):
            raise Invalid(Reason.BAD_TRAINABLE, f"{where} 'weight' must be 0 or 1")
        if role != "assistant":
            raise Invalid(Reason.UNSUPPORTED_TRAINABLE, f"{where}: 'weight' is for assistant messages")
        if message.get("trainable", bool(weight)) != bool(weight):
            raise Invalid(Reason.BAD_TRAINABLE, f"{where}: 'weight' and 'trainable' disagree")
        message["trainable"] = bool(weight)
    if "trainable" in message:
        if not isinstance(message["trainable"], bool):
            raise Invalid(Reason.BAD_TRAINABLE, f"{where} 'trainable' must be true or false")
        if message["trainable"] and role != "assistant":
            raise Invalid(Reason.UNSUPPORTED_TRAINABLE, f"{where}: only assistant messages can be made trainable")


def normalize_tools(tools: Any) -> list[dict[str, Any]] | None:
    """Tool definitions as `apply_chat_template(tools=...)` takes them (None: no tools)."""
    if isinstance(tools, str):
        if not tools.strip():
            return None
        try:
            tools = json.loads(tools)
        except (ValueError, RecursionError):
            raise Invalid(Reason.BAD_TOOLS, "'tools' is a string but not JSON") from None
    if tools is None or tools == []:
        return None
    if not isinstance(tools, list):
        raise Invalid(Reason.BAD_TOOLS, f"'tools' is a {type(tools).__name__}, not a list")
    normalized = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise Invalid(Reason.BAD_TOOLS, f"tool {i} is a {type(tool).__name__}, not an object")
        if "function" not in tool and "name" in tool:
            tool = {"type": "function", "function": tool}
        if not isinstance(tool.get("function"), dict) or not isinstance(tool["function"].get("name"), str):
            raise Invalid(Reason.BAD_TOOLS, f"tool {i} has no function name")
        normalized.append(tool)
    return normalized
