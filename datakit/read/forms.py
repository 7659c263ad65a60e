"""Record forms: the layouts chat data comes in, each turned into OpenAI-style messages.

| form | record | messages |
|---|---|---|
| `messages` | `{"messages": [...], "tools"?}` (the key is `--messages-key`) | as given |
| `sharegpt` | `{"conversations": [{"from", "value"}], "system"?, "tools"?}` | `human`/`user` → user, `gpt`/`assistant` → assistant, `system` → system, `function_call` → an assistant turn whose value (JSON: one `{"name", "arguments"}` or a list) is its `tool_calls`, `observation`/`tool` → tool; a top-level `system` string leads |
| `alpaca` | `{"instruction", "input"?, "output", "system"?, "history"?}` | [system] + each `[q, a]` of history as user/assistant + user = the non-empty of instruction and input joined by a newline + assistant = output (LLaMA-Factory's rule) |
| `prompt_completion` | `{"prompt", "completion"}` | a string each → one user and one assistant message; lists of messages (TRL's conversational form) → the two lists concatenated |

`auto` picks the form by the keys a record has, in the order above.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

from ..outcome import Invalid, Reason


class Form(StrEnum):
    AUTO = "auto"
    MESSAGES = "messages"
    SHAREGPT = "sharegpt"
    ALPACA = "alpaca"
    PROMPT_COMPLETION = "prompt_completion"


_SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                   "system": "system", "observation": "tool", "tool": "tool", "function_call": "assistant"}


def detect(record: dict[str, Any], messages_key: str) -> Form:
    """The form of a record, by its keys (`missing_messages` when it has none of them)."""
    if messages_key in record:
        return Form.MESSAGES
    if "conversations" in record:
        return Form.SHAREGPT
    if "instruction" in record and "output" in record:
        return Form.ALPACA
    if "prompt" in record and "completion" in record:
        return Form.PROMPT_COMPLETION
    raise Invalid(Reason.MISSING_MESSAGES, f"no {messages_key!r} key, and not a ShareGPT (conversations), "
                  "Alpaca (instruction, output) or prompt/completion record")


def to_messages(record: dict[str, Any], form: Form, messages_key: str) -> list[Any]:
    """The record's messages, still to be validated; raises Invalid for a malformed record."""
    if form is Form.AUTO:
        form = detect(record, messages_key)
    if form is Form.MESSAGES:
        if messages_key not in record:
            raise Invalid(Reason.MISSING_MESSAGES, f"no {messages_key!r} key")
        messages = record[messages_key]
        if not isinstance(messages, list):
            raise Invalid(Reason.MESSAGES_NOT_A_LIST, f"{messages_key!r} is a {type(messages).__name__}")
        return messages
    return {Form.SHAREGPT: _sharegpt, Form.ALPACA: _alpaca, Form.PROMPT_COMPLETION: _prompt_completion}[form](record)


def _text_field(record: dict[str, Any], key: str, required: bool = True) -> str | None:
    value = record.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        kind = "missing" if key not in record else "null" if value is None else f"a {type(value).__name__}"
        raise Invalid(Reason.BAD_CONTENT_TYPE, f"{key!r} is {kind}, not a string")
    return value


def _leading_system(record: dict[str, Any]) -> list[dict[str, Any]]:
    system = _text_field(record, "system", required=False)
    return [{"role": "system", "content": system}] if system else []


def _sharegpt(record: dict[str, Any]) -> list[Any]:
    turns = record["conversations"]
    if not isinstance(turns, list):
        raise Invalid(Reason.MESSAGES_NOT_A_LIST, f"'conversations' is a {type(turns).__name__}")
    messages = _leading_system(record)
    for i, turn in enumerate(turns):
        if not isinstance(turn, dict) or "from" not in turn:
            messages.append(turn)  # a message in OpenAI form, or a reject when validated
            continue
        speaker = turn["from"]
        role = _SHAREGPT_ROLES.get(speaker) if isinstance(speaker, str) else None
        if role is None:
            raise Invalid(Reason.UNKNOWN_ROLE, f"turn {i} is from {str(speaker)[:40]!r}; ShareGPT takes "
                          f"{', '.join(sorted(_SHAREGPT_ROLES))}")
        extra = {k: v for k, v in turn.items() if k not in ("from", "value")}
        if speaker == "function_call":
            messages.append({"role": role, "content": "", "tool_calls": _calls_of(i, turn.get("value")), **extra})
        else:
            messages.append({"role": role, "content": turn.get("value"), **extra})
    return messages


def _calls_of(i: int, value: Any) -> list[Any]:
    try:
        calls = json.loads(value) if isinstance(value, str) else value
    except (ValueError, RecursionError):
        raise Invalid(Reason.BAD_TOOL_CALLS, f"turn {i}: a function_call value must be JSON") from None
    calls = calls if isinstance(calls, list) else [calls]
    if not calls or not all(isinstance(c, dict) and "name" in c for c in calls):
        raise Invalid(Reason.BAD_TOOL_CALLS, f"turn {i}: a function_call holds {{\"name\", \"arguments\"}} objects")
    return calls


def _alpaca(record: dict[str, Any]) -> list[Any]:
    messages = _leading_system(record)
    history = record.get("history") or []
    if not isinstance(history, list):
        raise Invalid(Reason.MESSAGES_NOT_A_LIST, f"'history' is a {type(history).__name__}")
    for i, pair in enumerate(history):
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2):
            raise Invalid(Reason.MESSAGES_NOT_A_LIST, f"history item {i} is not a [question, answer] pair")
        messages += [{"role": "user", "content": pair[0]}, {"role": "assistant", "content": pair[1]}]
    instruction = _text_field(record, "instruction")
    extra = _text_field(record, "input", required=False)
    prompt = "\n".join(part for part in (instruction, extra) if part)
    messages += [{"role": "user", "content": prompt}, {"role": "assistant", "content": _text_field(record, "output")}]
    return messages


def _prompt_completion(record: dict[str, Any]) -> list[Any]:
    prompt, completion = record["prompt"], record["completion"]
    if isinstance(prompt, list) and isinstance(completion, list):
        return prompt + completion
    if isinstance(prompt, str) and isinstance(completion, str):
        return [{"role": "user", "content": prompt}, {"role": "assistant", "content": completion}]
    raise Invalid(Reason.BAD_CONTENT_TYPE, f"'prompt' and 'completion' must both be strings or both lists "
                  f"of messages, not {type(prompt).__name__} and {type(completion).__name__}")
