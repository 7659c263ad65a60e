"""Live cross-check against transformers' `apply_chat_template` on generated conversations.

Uses the bundled tokenizers through `PreTrainedTokenizerFast(tokenizer_object=...)`, offline.
"""

from __future__ import annotations

import copy
import json
import random
from functools import lru_cache

import pytest

from conftest import bundle, data_rows, renderer
from datakit.render import RenderError

import transformers
from tokenizers import Tokenizer  # noqa: E402

PIECES = [
    "Hello", "world", "数据", "汉字测试", "😀", "🚀✨", "e\u0301", "مرحبا", "שלום", "Ünïcödé",
    "def f(x):\n    return x", "```python\nprint(1)\n```", "- item\n- item", "1234567", "$x^2$",
    "<think>", "</think>", "<tool_call>", "a\tb", "\u00a0", "\u200b", "...", "?!", "'s", "'ll",
]
SPACES = ["", " ", "  ", "\n", "\n\n", "\t", " \n", "\r\n", "\n \n"]


def _text(rng: random.Random) -> str:
    words = [rng.choice(PIECES) for _ in range(rng.randint(0, 12))]
    body = "".join(w + rng.choice(SPACES + [" "] * 6) for w in words)
    return rng.choice(SPACES) + body + rng.choice(SPACES)


def _conversation(rng: random.Random, with_tools: bool) -> list[dict]:
    messages = []
    if rng.random() < 0.4:
        messages.append({"role": "system", "content": _text(rng)})
    for _ in range(rng.randint(1, 4)):
        messages.append({"role": "user", "content": _text(rng)})
        if with_tools and rng.random() < 0.2:
            messages.append({"role": "tool", "content": _text(rng)})
        messages.append({"role": "assistant", "content": _text(rng)})
    if rng.random() < 0.15:
        messages.append({"role": "user", "content": _text(rng)})
    return messages


@lru_cache(maxsize=None)
def _hf_base(tokenizer: str, bos_token: str | None):
    fresh = Tokenizer.from_str(bundle(tokenizer).full.to_str())
    return transformers.PreTrainedTokenizerFast(tokenizer_object=fresh, bos_token=bos_token)


@lru_cache(maxsize=None)
def _hf_tokenizer(template_name: str):
    """transformers' tokenizer over the bundled one (built once per tokenizer), with the template."""
    r = renderer(template_name)
    hf = copy.copy(_hf_base(r.tokenizer.name, r.template.bos_token))
    hf.chat_template = r.template.source
    return hf


def _hf_render(hf, messages, variables=(), tools=None):
    out = hf.apply_chat_template(messages, tools=tools, tokenize=True, return_dict=True,
                                 return_assistant_tokens_mask=True, **dict(variables))
    return list(out["input_ids"]), [float(m) for m in out["assistant_masks"]]


@pytest.mark.slow
@pytest.mark.parametrize("template", ["llama3", "llama3.2", "qwen2.5", "qwen3"])
def test_generated_conversations_match_apply_chat_template(template):
    hf = _hf_tokenizer(template)
    r = renderer(template)
    rng = random.Random(f"datakit-{template}")
    conversations = [_conversation(rng, with_tools=True) for _ in range(150)]
    results = r.render_batch(conversations)
    for i, (messages, ours) in enumerate(zip(conversations, results)):
        tokens, mask = _hf_render(hf, messages, r.template.variables)
        assert ours.tokens.tolist() == tokens, f"conversation {i}: tokens differ"
        assert ours.weights.tolist() == mask, f"conversation {i}: weights differ"


@pytest.mark.parametrize("template", ["llama3", "qwen2.5", "qwen3"])
def test_parse_special_tokens_matches_hugging_face_on_control_text(template):
    hf = _hf_tokenizer(template)
    r = renderer(template, parse_special_tokens=True)
    for row in data_rows("control_token_text"):
        tokens, mask = _hf_render(hf, row["messages"], r.template.variables)
        ours = r.render(row["messages"])
        assert ours.tokens.tolist() == tokens
        assert ours.weights.tolist() == mask


TOOL_POOL = [
    {"type": "function", "function": {"name": "get_weather", "description": "Météo d'une ville",
                                      "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}},
    {"type": "function", "function": {"name": "search", "description": "Search",
                                      "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}},
    {"type": "function", "function": {"name": "ping", "parameters": {"type": "object", "properties": {}}}},
]
ARGUMENT_VALUES = ["Paris", "汉字 😀", "two\nlines", "", 0, 7, -1.5, True, False, None, [1, "a"], {"k": [True, None]},
                   "75001", "true"]


def _arguments(rng: random.Random) -> dict:
    return {f"arg{i}": rng.choice(ARGUMENT_VALUES) for i in range(rng.randint(0, 3))}


def _assistant(rng: random.Random, reasoning: bool, calls: int) -> dict:
    message = {"role": "assistant", "content": _text(rng) if not calls or rng.random() < 0.5 else ""}
    if reasoning and rng.random() < 0.6:
        message["reasoning_content"] = _text(rng)
    elif reasoning and rng.random() < 0.2:
        message["content"] = "<think>" + _text(rng) + "</think>" + message["content"]
    if calls:
        message["tool_calls"] = [{"id": f"c{i}", "type": "function", "function": {
            "name": rng.choice(TOOL_POOL)["function"]["name"], "arguments": _arguments(rng)}} for i in range(calls)]
    return message


def _agentic(rng: random.Random, reasoning: bool) -> tuple[list[dict], list[dict] | None]:
    """System prompts, tool definitions, one to three calls a turn with their results, text
    beside calls, reasoning (as reasoning_content or inline <think>) in history and last."""
    messages = [{"role": "system", "content": _text(rng)}] if rng.random() < 0.5 else []
    for _ in range(rng.randint(1, 3)):
        messages.append({"role": "user", "content": _text(rng)})
        for _ in range(rng.choice([0, 0, 1, 2])):
            calls = rng.randint(1, 3)
            messages.append(_assistant(rng, reasoning, calls))
            messages += [{"role": "tool", "tool_call_id": f"c{i}", "content": _text(rng)} for i in range(calls)]
        messages.append(_assistant(rng, reasoning, 0))
    tools = rng.sample(TOOL_POOL, rng.randint(1, 3)) if rng.random() < 0.7 else None
    return messages, tools


# (template, kwargs, whether the conversations reason): every new template, each way it thinks.
LIVE_TOOLS_REASONING = [
    ("qwen3", {}, True), ("qwen3", {"enable_thinking": False}, False), ("qwen3-instruct-2507", {}, False),
    ("qwen3.5", {}, True), ("qwen3.5", {"enable_thinking": False}, False), ("qwen3.5-nothink", {}, False),
    ("qwen3.5-nothink", {"enable_thinking": True}, True), ("qwen3.6", {}, True),
    ("qwen3.6", {"preserve_thinking": True}, True), ("qwen3.8", {}, True), ("qwen3.8", {"enable_thinking": False}, False),
    ("qwen3.8", {"reasoning_effort": "low", "preserve_thinking": False}, True),
]


@pytest.mark.parametrize("template,kwargs,reasoning", LIVE_TOOLS_REASONING,
                         ids=[f"{t}-{kw}" for t, kw, _ in LIVE_TOOLS_REASONING])
def test_tool_calls_and_reasoning_match_apply_chat_template(template, kwargs, reasoning):
    hf = _hf_tokenizer(template)
    r = renderer(template, chat_template_kwargs=tuple(kwargs.items()))
    rng = random.Random(f"datakit-tools-{template}-{kwargs}")
    conversations = [_agentic(rng, reasoning) for _ in range(30)]
    results = r.render_batch([{"messages": m, **({"tools": t} if t else {})} for m, t in conversations])
    checked = 0
    for i, ((messages, tools), ours) in enumerate(zip(conversations, results)):
        try:
            tokens, mask = _hf_render(hf, copy.deepcopy(messages), kwargs, copy.deepcopy(tools))
        except Exception as exc:  # the template refuses: so must datakit
            assert isinstance(ours, RenderError) and ours.reason == "template_error", f"conversation {i}: {exc}"
            continue
        if isinstance(ours, RenderError) and ours.reason == "reasoning_with_thinking_disabled":
            # The random text spells <think>...</think>: reasoning where thinking is off has no target.
            assert not reasoning and any("</think>" in m["content"] for m in messages if m["role"] == "assistant")
            continue
        assert not isinstance(ours, RenderError), f"conversation {i}: {ours}"
        assert ours.tokens.tolist() == tokens, f"conversation {i}: tokens differ"
        assert ours.weights.tolist() == mask, f"conversation {i}: weights differ"
        checked += 1
    assert checked >= 15  # of 30


FUNCTIONS = ["get_weather", "search", "lookup_stock", "send_mail"]


def _tool_record(rng: random.Random, template: str) -> dict:
    """A record as real tool-calling data comes: tools as JSON or objects, arguments as JSON
    strings or objects, several calls a turn (one for Llama 3.1, its limit), tool results,
    reasoning, content given as text parts."""
    llama = template.startswith("llama3")
    names = rng.sample(FUNCTIONS, rng.randint(1, 3))
    tools = [{"name": n, "description": _text(rng), "parameters": {
        "type": "object", "properties": {"q": {"type": "string", "description": _text(rng)}}}} for n in names]
    messages = [{"role": "system", "content": _text(rng)}] if rng.random() < 0.5 else []
    for turn in range(rng.randint(1, 3)):
        user = _text(rng) or "?"
        messages.append({"role": "user", "content": [{"type": "text", "text": user}] if rng.random() < 0.3 else user})
        calls = [{"id": f"c{turn}{k}", "type": "function", "function": {
            "name": rng.choice(names),
            "arguments": (json.dumps if rng.random() < 0.5 else (lambda a: a))({"q": _text(rng)})}}
            for k in range(1 if llama else rng.randint(1, 3))]
        if rng.random() < 0.7:
            messages.append({"role": "assistant", "content": None if llama or rng.random() < 0.5 else _text(rng),
                             "tool_calls": calls})
            messages += [{"role": "tool", "tool_call_id": c["id"], "content": _text(rng)} for c in calls]
        answer = {"role": "assistant", "content": _text(rng)}
        if rng.random() < 0.4:
            answer["reasoning_content"] = _text(rng).strip() or "thinking"
        messages.append(answer)
    return {"tools": json.dumps(tools) if rng.random() < 0.5 else tools, "messages": messages}


@pytest.mark.slow
@pytest.mark.parametrize("template", ["llama3", "llama3.2", "qwen2.5", "qwen3"])
def test_tool_calling_and_reasoning_records_match_apply_chat_template(template):
    """HF gets the records as datakit normalizes them (parsed arguments, text parts joined:
    what the model saw); templates that never write reasoning are compared with it dropped,
    which is what HF does to it."""
    hf = _hf_tokenizer(template)
    r = renderer(template, drop_reasoning=not renderer(template).template.writes_reasoning)
    rng = random.Random(f"datakit-tools-{template}")
    records = [_tool_record(rng, template) for _ in range(60)]
    for i, (record, ours) in enumerate(zip(records, r.render_batch(records))):
        conversation = r.conversation(record)
        out = hf.apply_chat_template(conversation.messages, tools=conversation.tools, tokenize=True,
                                     return_dict=True, return_assistant_tokens_mask=True, **dict(r.template.variables))
        assert not isinstance(ours, Exception), f"record {i}: {ours}"
        assert ours.tokens.tolist() == list(out["input_ids"]), f"record {i}: tokens differ"
        assert ours.weights.tolist() == [float(m) for m in out["assistant_masks"]], f"record {i}: weights differ"
