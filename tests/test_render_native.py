"""The Python-written built-in templates (`render.native`) write exactly what Jinja writes."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import DATA_FILES, bundle, data_rows, renderer

from datakit.outcome import Reason
from datakit.render import Renderer
from datakit.render.renderer import RenderError
from datakit.render.catalog import load_template
from datakit.render.chat_template import TemplateError
from datakit.render.native import NATIVE, NativeChat, is_plain_chat

TEMPLATES = ("llama3", "qwen2.5", "qwen3", "qwen3-instruct-2507", "qwen3.5", "qwen3.5-nothink", "qwen3.6", "qwen3.8")


def both_ways(r: Renderer, messages: list[dict]) -> tuple[str, str] | None:
    """(native, Jinja) owned text of `messages` as the renderer would escape them, or None
    when the native path does not take them."""
    native, owned = r._owned._native, r._owned
    escaped = r.escaper.escape_messages(messages)
    if native is None or not native.applies(escaped):
        return None
    jinja = owned.template.run(owned.compiled, escaped, None, owned._variables, owned._bos)
    return native.render(escaped), jinja


# Each template as it runs by default, and with the values of the variables it reads.
CASES = [(t, ()) for t in TEMPLATES] + [
    ("qwen3.5", (("enable_thinking", False),)), ("qwen3.5", (("enable_thinking", True),)),
    ("qwen3.5-nothink", (("enable_thinking", True),)), ("qwen3.6", (("preserve_thinking", True),)),
    ("qwen3.6", (("enable_thinking", False), ("preserve_thinking", False))), ("qwen3.8", (("enable_thinking", False),)),
    ("qwen3.8", (("preserve_thinking", False),)), ("qwen3.8", (("reasoning_effort", "medium"),)),
    ("qwen3.8", (("reasoning_effort", "low"), ("preserve_thinking", True)))]


@pytest.mark.parametrize("parse_special_tokens", [False, True])
@pytest.mark.parametrize("template, variables", CASES)
def test_native_text_is_jinjas_on_every_vendored_row(template, variables, parse_special_tokens):
    r = renderer(template, parse_special_tokens=parse_special_tokens, chat_template_kwargs=variables)
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


# The variables (and values) each Python version reads; any other goes through Jinja.
READS = {"llama3": {"date_string": "1 Jan 2025"}, "qwen3.5": {"enable_thinking": False},
         "qwen3.5-nothink": {"enable_thinking": True}, "qwen3.6": {"enable_thinking": False, "preserve_thinking": True},
         "qwen3.8": {"enable_thinking": False, "preserve_thinking": False, "reasoning_effort": "low"}}
UNREAD = (("custom", "x"), ("enable_thinking", 0), ("enable_thinking", "false"), ("preserve_thinking", None),
          ("reasoning_effort", "max"), ("reasoning_effort", None), ("date_string", 26))


def native_with(template: str, **variables) -> NativeChat | None:
    """The Python version a renderer with these chat-template kwargs takes (not `renderer`'s
    cache, where 0 is False)."""
    chat = load_template(template)
    return Renderer(chat, bundle(chat.tokenizer), chat_template_kwargs=variables)._owned._native


@pytest.mark.parametrize("template", TEMPLATES)
def test_the_native_path_is_only_for_the_unchanged_builtin_with_the_variables_it_reads(template, tmp_path):
    assert renderer(template)._owned._native is not None
    reads = READS.get(template, {})
    for name, value in reads.items():
        assert native_with(template, **{name: value}) is not None, name
    assert native_with(template, **reads) is not None
    for name, value in UNREAD + (("enable_thinking", False),) * ("enable_thinking" not in reads):
        assert native_with(template, **{name: value}) is None, (name, value)
    copy = tmp_path / "copy.jinja"
    copy.write_text(renderer(template).template.source)
    assert renderer(str(copy), renderer(template).tokenizer.name)._owned._native is None  # a file is the user's
    builtin = renderer(template)
    edited = dataclasses.replace(builtin.template, source=builtin.template.source + " ")
    assert Renderer(edited, builtin.tokenizer)._owned._native is None  # a built-in edited is not the built-in


def test_plain_chats_are_system_user_assistant_strings_alone():
    assert is_plain_chat([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo", "trainable": False}])
    for odd in ({"role": "tool", "content": "x"}, {"role": "user", "content": None},
                {"role": "assistant", "content": "x", "tool_calls": []}, {"role": "user", "content": "x", "name": "n"},
                {"role": "assistant", "content": "", "reasoning_content": "r"}):
        assert not is_plain_chat([{"role": "user", "content": "hi"}, odd])
    assert not is_plain_chat([])


PIECES = ["", " ", "\n", "\n\n", "\n\n\n", "\r\n", "\t", "\x1c", "\u00a0", "\u2028", "\u3000", "\u200b", "hi",
          "  padded  ", "<think>", "</think>", "<think>\n\n</think>\n\n", "<tool_response>", "</tool_response>",
          "<|im_end|>", "<|im_start|>", "<|endoftext|>", "<|eot_id|>", "<|start_header_id|>", "中文", "é"]
text = st.lists(st.sampled_from(PIECES), max_size=6).map("".join)
def messages_of(*roles: str) -> st.SearchStrategy[dict]:
    return st.builds(lambda role, content: {"role": role, "content": content}, st.sampled_from(roles), text)


# Any roles in any order (no user message, system not first, assistant first, runs of one role),
# and chats shaped as the Qwen3.5 family renders them (an optional system message, then turns).
chats = st.one_of(
    st.lists(messages_of("system", "user", "assistant"), min_size=1, max_size=6),
    st.tuples(st.lists(messages_of("system"), max_size=1),
              st.lists(messages_of("user", "assistant"), min_size=1, max_size=6)).map(lambda pair: pair[0] + pair[1]))


@settings(max_examples=1500, deadline=None)
@given(messages=chats, case=st.sampled_from(CASES),
       parse_special_tokens=st.booleans())
def test_native_text_is_jinjas_on_fuzzed_chats(messages, case, parse_special_tokens):
    template, variables = case
    r = renderer(template, parse_special_tokens=parse_special_tokens, chat_template_kwargs=variables)
    pair = both_ways(r, messages)
    if pair is not None:
        assert pair[0] == pair[1]


def test_every_native_template_is_covered():
    assert {f"{t}.jinja" for t in TEMPLATES} == set(NATIVE)


# A chat the Qwen3.5 family raises on, and the nearest one it renders.
RAISING = {"no user query": ([{"role": "system", "content": "s"}, {"role": "assistant", "content": "a"}],
                             [{"role": "system", "content": "s"}, {"role": "user", "content": "q"},
                              {"role": "assistant", "content": "a"}]),
           "only a tool response": ([{"role": "user", "content": " <tool_response>r</tool_response>\n"},
                                     {"role": "assistant", "content": "a"}],
                                    [{"role": "user", "content": " <tool_response>r</tool_response>."},
                                     {"role": "assistant", "content": "a"}]),
           "system not first": ([{"role": "user", "content": "u"}, {"role": "system", "content": "s"}],
                                [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}])}


@pytest.mark.parametrize("chat", RAISING)
@pytest.mark.parametrize("template", ["qwen3.5", "qwen3.5-nothink", "qwen3.6", "qwen3.8"])
def test_chats_the_template_raises_on_go_through_jinja(template, chat):
    raising, rendered = RAISING[chat]
    owned = renderer(template)._owned
    assert owned.native_for(rendered, None, None) is not None
    assert owned.native_for(raising, None, None) is None
    with pytest.raises(TemplateError, match="No user query|System message must be at the beginning"):
        owned.render(raising, None, None)
    with pytest.raises(RenderError) as rejected:
        renderer(template).render({"messages": raising})
    assert rejected.value.reason is Reason.TEMPLATE_ERROR
