"""tinker-cookbook 0.6.1 modes (`cookbook:NAME`): what they refuse, what they train, and where
their tokens split (the golden rows in tests/golden/cookbook/ check them token for token)."""

from __future__ import annotations

import pytest

from conftest import renderer
from test_render_tools import REASONING, tool_record
from datakit.pipeline import PipelineError, RenderOptions, render_files
from datakit.render import RenderError, TemplateError, build_renderer

PLAIN = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}


def pieces(r, out) -> list[tuple[str, float]]:
    decode = r.tokenizer.full.decode
    return [(decode([t], skip_special_tokens=False), w) for t, w in zip(out.tokens.tolist(), out.weights.tolist())]


def test_role_colon_needs_a_tokenizer_and_says_which(tmp_path):
    with pytest.raises(TemplateError, match=r"pass --tokenizer \(llama3, qwen3 or qwen3.5"):
        build_renderer("cookbook:role_colon")
    source = tmp_path / "in.jsonl"
    source.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n')
    with pytest.raises(PipelineError, match="cookbook:role_colon has no tokenizer of its own"):
        render_files([source], tmp_path / "out", RenderOptions(template="cookbook:role_colon", workers=1))


@pytest.mark.parametrize("tokenizer,bos", [("llama3", ["<|begin_of_text|>"]), ("qwen3", []), ("qwen3.5", [])])
def test_role_colon_format_bos_and_stop_sequence(tokenizer, bos):
    r = renderer("cookbook:role_colon", tokenizer)
    out = r.render(PLAIN)
    assert pieces(r, out) == [(t, 0.0) for t in [*bos, "User", ":", " hi", "\n\n", "Assistant", ":"]] + [
        (" yo", 1.0), ("\n\n", 1.0), ("User", 1.0), (":", 1.0)]
    ends_with_user = {"messages": [*PLAIN["messages"], {"role": "user", "content": "bye"}]}
    assert r.render_text(ends_with_user).endswith("Assistant: yo\n\nUser: bye\n\n<UNUSED>")  # as tinker-cookbook
    out = r.render(ends_with_user)
    assert r.tokenizer.full.decode(out.tokens[out.weights == 1].tolist()) == " yo\n\n"


@pytest.mark.parametrize("record,reason", [
    (tool_record(1), "template_error"),  # tool definitions
    ({"messages": tool_record(1)["messages"]}, "template_error"),  # tool calls, which it would leave out
    (REASONING, "reasoning_dropped"),
])
def test_role_colon_refuses_what_it_has_no_format_for(record, reason):
    with pytest.raises(RenderError) as info:
        renderer("cookbook:role_colon", "qwen3").render(record)
    assert info.value.reason == reason


def test_qwen3_disable_thinking_refuses_a_final_turn_without_a_user_message():
    no_user = {"messages": [{"role": "system", "content": "S"}, {"role": "assistant", "content": "hello"}]}
    with pytest.raises(RenderError, match="no user message") as info:
        renderer("cookbook:qwen3_disable_thinking").render(no_user)
    assert info.value.reason == "template_error"
    assert renderer("cookbook:qwen3").render(no_user).num_trainable > 0
    # Otherwise it renders as qwen3 does: the produced turn's empty block is trained.
    a, b = renderer("cookbook:qwen3").render(PLAIN), renderer("cookbook:qwen3_disable_thinking").render(PLAIN)
    assert a.tokens.tolist() == b.tokens.tolist() and a.weights.tolist() == b.weights.tolist()


def test_qwen3_5_splits_the_prefill_from_what_follows():
    """tinker-cookbook encodes the generation prompt apart: `<think>\\n` then a trained `\\n`,
    where the official template's text merges them into one `\\n\\n` token."""
    r = renderer("cookbook:qwen3_5")
    got = pieces(r, r.render(PLAIN))
    assert got[-7:] == [("<think>", 0.0), ("\n", 0.0), ("\n", 1.0), ("</think>", 1.0), ("\n\n", 1.0), ("yo", 1.0),
                        ("<|im_end|>", 1.0)]
    off = renderer("cookbook:qwen3_5_disable_thinking")
    got = pieces(off, off.render(PLAIN))
    assert got[-6:] == [("<think>", 0.0), ("\n\n", 0.0), ("</think>", 0.0), ("\n\n", 0.0), ("yo", 1.0),
                        ("<|im_end|>", 1.0)]


def test_qwen3_5_history_and_preserved_thinking():
    record = {"messages": [
        {"role": "user", "content": "a?"}, {"role": "assistant", "reasoning_content": "think a", "content": "A"},
        {"role": "user", "content": "b?"}, {"role": "assistant", "content": "B"}]}
    assert "think a" not in renderer("cookbook:qwen3_5").render_text(record)
    kept = renderer("cookbook:qwen3_5_preserve_thinking").render_text(record)
    assert "<|im_start|>assistant\n<think>\nthink a\n</think>\n\nA<|im_end|>" in kept
    every_turn = renderer("cookbook:qwen3_8_medium_reasoning").render_text(PLAIN)
    assert every_turn == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nyo<|im_end|>"


def test_cookbook_tools_are_tool_specs():
    """openai_tools_to_tinker keeps name, description (default "") and parameters; Qwen3.5's
    renderer writes that spec bare, Qwen3's wraps it as a function."""
    record = {"tools": [{"type": "function", "function": {"name": "ping", "parameters": {}, "strict": True}}],
              "messages": [{"role": "user", "content": "ping"}, {"role": "assistant", "content": "pong"}]}
    assert '\n{"name": "ping", "description": "", "parameters": {}}\n' in renderer("cookbook:qwen3_5").render_text(record)
    assert ('{"type": "function", "function": {"name": "ping", "description": "", "parameters": {}}}'
            in renderer("cookbook:qwen3").render_text(record))
    assert '"strict": true' in renderer("qwen3.5").render_text(record)  # the official template writes it all
