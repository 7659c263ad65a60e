"""Templates whose generation prompt holds a <think> prefill (Qwen3.5, 3.6, 3.8; Qwen3 under
enable_thinking=false): trainable is what the model generates after the generation prompt
rendered with the same kwargs, and reasoning where thinking is off has no target."""

from __future__ import annotations

import pytest

from conftest import renderer
from test_render_tools import REASONING, TOOLS, call, spans_and_increments, tool_record, trained_text
from datakit.render import RenderError

SYSTEM = {"role": "system", "content": "You are a weather bot."}
PLAIN = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
HISTORY = {"messages": [
    {"role": "user", "content": "2+2?"}, {"role": "assistant", "reasoning_content": "Two and two.", "content": "4"},
    {"role": "user", "content": "And times 3?"}, {"role": "assistant", "reasoning_content": "4 * 3 = 12.", "content": "12"}]}


def tool_loop(reasoning: bool) -> dict:
    """One user query answered through tool calls: every assistant turn follows it."""
    think = (lambda text: {"reasoning_content": text}) if reasoning else (lambda text: {})
    return {"tools": TOOLS, "messages": [
        SYSTEM, {"role": "user", "content": "Weather in Paris and Oslo?"},
        {"role": "assistant", "content": "", "tool_calls": [call("Paris"), call("Oslo")], **think("Two calls.")},
        {"role": "tool", "content": "Paris: 18C"}, {"role": "tool", "content": "Oslo: 4C"},
        {"role": "assistant", "content": "Paris 18C, Oslo 4C.", **think("Both answered.")}]}


def without_reasoning(record: dict) -> dict:
    return {**record, "messages": [{k: v for k, v in m.items() if k != "reasoning_content"}
                                   for m in record["messages"]]}


THINKING = [tool_loop(True), tool_loop(False), REASONING, PLAIN]
NOT_THINKING = [tool_loop(False), PLAIN]
MULTI_TURN = [tool_record(2, "Checking."), HISTORY]  # assistant turns before the last user message
PREFIX_STABLE = [
    ("qwen3.5", {}, THINKING), ("qwen3.5", {"enable_thinking": False}, NOT_THINKING),
    ("qwen3.5-nothink", {}, NOT_THINKING), ("qwen3.5-nothink", {"enable_thinking": True}, THINKING),
    ("qwen3.6", {}, THINKING), ("qwen3.6", {"enable_thinking": False}, NOT_THINKING),
    ("qwen3.6", {"preserve_thinking": True}, THINKING + MULTI_TURN),  # history keeps its think block
    ("qwen3.8", {}, THINKING + MULTI_TURN), ("qwen3.8", {"reasoning_effort": "low"}, THINKING + MULTI_TURN),
    ("qwen3.8", {"enable_thinking": False}, NOT_THINKING + [without_reasoning(r) for r in MULTI_TURN]),
    ("qwen3.8", {"preserve_thinking": False}, THINKING),
    ("qwen3", {"enable_thinking": False}, NOT_THINKING),
    ("qwen3-instruct-2507", {}, NOT_THINKING + [without_reasoning(r) for r in MULTI_TURN]),
]


@pytest.mark.parametrize("template,kwargs,records", PREFIX_STABLE,
                         ids=[f"{t}-{kw}" for t, kw, _ in PREFIX_STABLE])
def test_weights_equal_the_incremental_definition(template, kwargs, records):
    """Where every assistant turn is written as it was generated (after the last user message,
    or all of them where thinking is preserved), the spans are exactly the incremental text."""
    r = renderer(template, chat_template_kwargs=tuple(kwargs.items()))
    for record in records:
        spans, increments = spans_and_increments(r, record, "<|im_end|>")
        assert spans == increments


CALL = "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n</function>\n</tool_call>"
# History is written without the prefill it was generated after: trainable from after its header.
HISTORY_SPANS = [
    ("qwen3.5", {}, HISTORY, ["4<|im_end|>", "4 * 3 = 12.\n</think>\n\n12<|im_end|>"]),
    ("qwen3.6", {}, HISTORY, ["4<|im_end|>", "4 * 3 = 12.\n</think>\n\n12<|im_end|>"]),
    ("qwen3.8", {"preserve_thinking": False}, HISTORY, ["4<|im_end|>", "4 * 3 = 12.\n</think>\n\n12<|im_end|>"]),
    ("qwen3.5", {"enable_thinking": False}, without_reasoning(HISTORY), ["4<|im_end|>", "12<|im_end|>"]),
    ("qwen3.5", {}, tool_record(1), [CALL + "<|im_end|>", "It is 18 degrees everywhere.<|im_end|>",
                                     "\n</think>\n\nYou're welcome.<|im_end|>"]),
    ("qwen3.5", {"enable_thinking": False}, tool_record(1), [
        CALL + "<|im_end|>", "It is 18 degrees everywhere.<|im_end|>", "You're welcome.<|im_end|>"]),
]


@pytest.mark.parametrize("template,kwargs,record,expected", HISTORY_SPANS,
                         ids=[f"{t}-{kw}-{i}" for i, (t, kw, _, _) in enumerate(HISTORY_SPANS)])
def test_history_turns_train_from_after_their_header(template, kwargs, record, expected):
    r = renderer(template, chat_template_kwargs=tuple(kwargs.items()))
    spans, _ = spans_and_increments(r, record, "<|im_end|>")
    assert spans == expected


def test_the_prefill_is_prompt_and_the_token_straddling_it_is_trained():
    """`<think>\\n` weighs 0; its `\\n` merges with the `\\n` of `\\n</think>` into one token,
    which is trainable under the any-character rule (as Hugging Face's mask has it)."""
    r = renderer("qwen3.5")
    out = r.render(PLAIN)
    pieces = [r.tokenizer.full.decode([t]) for t in out.tokens.tolist()]
    think = pieces.index("<think>")
    assert out.weights[think] == 0 and pieces[think + 1] == "\n\n" and out.weights[think + 1] == 1
    assert trained_text("qwen3.5", PLAIN) == "\n\n</think>\n\nhello<|im_end|>"
    assert trained_text("qwen3.5", REASONING) == "17 * 3 = 51.\n</think>\n\n51.<|im_end|>"  # no merge here
    off = renderer("qwen3.5", chat_template_kwargs=(("enable_thinking", False),))
    assert off.render_text(PLAIN).endswith("<|im_start|>assistant\n<think>\n\n</think>\n\nhello<|im_end|>\n")
    out = off.render(PLAIN)
    assert off.tokenizer.full.decode(out.tokens[out.weights == 1].tolist(), skip_special_tokens=False) == "hello<|im_end|>"


def test_qwen3_without_thinking_keeps_the_final_empty_block_untrained():
    assert trained_text("qwen3", PLAIN) == "<think>\n\n</think>\n\nhello<|im_end|>"  # the model writes it
    off = renderer("qwen3", chat_template_kwargs=(("enable_thinking", False),))
    out = off.render(PLAIN)
    assert off.tokenizer.full.decode(out.tokens[out.weights == 1].tolist(), skip_special_tokens=False) == "hello<|im_end|>"
    assert "<think>\n\n</think>\n\nhello" in off.render_text(PLAIN)


INLINE = {"messages": [{"role": "user", "content": "Q"},
                       {"role": "assistant", "content": "<think>\nplan\n</think>\n\nA"}]}


@pytest.mark.parametrize("template,kwargs,record", [
    ("qwen3", {"enable_thinking": False}, INLINE), ("qwen3.5", {"enable_thinking": False}, INLINE),
    ("qwen3.6", {"enable_thinking": False}, REASONING), ("qwen3.8", {"enable_thinking": False}, REASONING),
    ("qwen3.5-nothink", {}, REASONING), ("qwen3.5-nothink", {"enable_thinking": False}, INLINE),
])
def test_reasoning_where_thinking_is_off_is_rejected(template, kwargs, record):
    with pytest.raises(RenderError) as info:
        renderer(template, chat_template_kwargs=tuple(kwargs.items())).render(record)
    assert info.value.reason == "reasoning_with_thinking_disabled"


def test_reasoning_where_thinking_is_on_is_trained():
    on = renderer("qwen3.5-nothink", chat_template_kwargs=(("enable_thinking", True),))
    out = on.render(REASONING)
    trained = on.tokenizer.full.decode(out.tokens[out.weights == 1].tolist(), skip_special_tokens=False)
    assert trained == "17 * 3 = 51.\n</think>\n\n51.<|im_end|>"
    # Qwen3.8 writes <think> in string content as content, so there is nothing to refuse.
    off = renderer("qwen3.8", chat_template_kwargs=(("enable_thinking", False),))
    out = off.render(INLINE)
    trained = off.tokenizer.full.decode(out.tokens[out.weights == 1].tolist(), skip_special_tokens=False)
    assert trained == "<think>\nplan\n</think>\n\nA<|im_end|>"


def test_qwen3_8_reasoning_effort_and_preserved_history():
    text = renderer("qwen3.8").render_text(HISTORY)
    assert text.startswith("<|im_start|>system\nReasoning effort is set to xhigh.")
    assert "<think>\nTwo and two.\n</think>\n\n4" in text  # history keeps its reasoning by default
    low = renderer("qwen3.8", chat_template_kwargs=(("reasoning_effort", "low"),)).render_text(PLAIN)
    assert low.startswith("<|im_start|>system\nReasoning effort is set to low.")
    assert not renderer("qwen3.8", chat_template_kwargs=(("reasoning_effort", "medium"),)).render_text(
        PLAIN).startswith("<|im_start|>system")
    with pytest.raises(RenderError) as info:
        renderer("qwen3.8", chat_template_kwargs=(("reasoning_effort", "max"),)).render(PLAIN)
    assert info.value.reason == "template_error" and "Unexpected reasoning effort" in info.value.detail
