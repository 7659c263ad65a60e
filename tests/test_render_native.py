"""The Python-written built-in templates (`render.native`) write exactly what Jinja writes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import DATA_FILES, data_rows, renderer

from datakit.render import Renderer
from datakit.render.native import NATIVE, is_plain_chat

TEMPLATES = ("llama3", "qwen3")


def both_ways(r: Renderer, messages: list[dict]) -> tuple[str, str] | None:
    """(native, Jinja) owned text of `messages` as the renderer would escape them, or None
    when the native path does not take them."""
    native, owned = r._owned._native, r._owned
    escaped = r.escaper.escape_messages(messages)
    if native is None or not native.applies(escaped):
        return None
    jinja = owned.template.run(owned.compiled, escaped, None, owned._variables, owned._bos)
    return native.render(escaped), jinja


@pytest.mark.parametrize("parse_special_tokens", [False, True])
@pytest.mark.parametrize("template", TEMPLATES)
def test_native_text_is_jinjas_on_every_vendored_row(template, parse_special_tokens):
    r = renderer(template, parse_special_tokens=parse_special_tokens)
    taken = 0
    for name in DATA_FILES:
        for row in data_rows(name):
            try:
                conversation = r.conversation(row)
            except Exception:  # rejected before rendering: not a chat at all
                continue
            pair = both_ways(r, conversation.messages)
            if pair is not None and not conversation.tools and not conversation.kwargs:
                taken += 1
                assert pair[0] == pair[1], row
    assert taken >= 100  # the native path is what most rows take


@pytest.mark.parametrize("template", TEMPLATES)
def test_the_native_path_is_only_for_the_unchanged_builtin_with_its_own_variables(template, tmp_path):
    assert renderer(template)._owned._native is not None
    assert renderer(template, chat_template_kwargs=(("enable_thinking", False),))._owned._native is None
    copy = tmp_path / "copy.jinja"
    copy.write_text(renderer(template).template.source)
    assert renderer(str(copy), renderer(template).tokenizer.name)._owned._native is None  # a file is the user's
    assert renderer("qwen3-instruct-2507")._owned._native is None


def test_plain_chats_are_system_user_assistant_strings_alone():
    assert is_plain_chat([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo", "trainable": False}])
    for odd in ({"role": "tool", "content": "x"}, {"role": "user", "content": None},
                {"role": "assistant", "content": "x", "tool_calls": []}, {"role": "user", "content": "x", "name": "n"},
                {"role": "assistant", "content": "", "reasoning_content": "r"}):
        assert not is_plain_chat([{"role": "user", "content": "hi"}, odd])
    assert not is_plain_chat([])


PIECES = ["", " ", "\n", "\n\n", "hi", "  padded  ", "<think>", "</think>", "<tool_response>", "</tool_response>",
          "<|im_end|>", "<|eot_id|>", "<|start_header_id|>", "中文", "\t", "\u00a0", "\u2028", "é"]
text = st.lists(st.sampled_from(PIECES), max_size=6).map("".join)
message = st.builds(lambda role, content: {"role": role, "content": content},
                    st.sampled_from(["system", "user", "assistant"]), text)


@settings(max_examples=400, deadline=None)
@given(messages=st.lists(message, min_size=1, max_size=6), template=st.sampled_from(TEMPLATES),
       parse_special_tokens=st.booleans())
def test_native_text_is_jinjas_on_fuzzed_chats(messages, template, parse_special_tokens):
    r = renderer(template, parse_special_tokens=parse_special_tokens)
    pair = both_ways(r, messages)
    if pair is not None:
        assert pair[0] == pair[1]


def test_every_native_template_is_covered():
    assert {f"{t}.jinja" for t in TEMPLATES} == set(NATIVE)
