"""Tool calling, tool definitions and reasoning through every template: nothing dropped unseen,
tool turns trained like any assistant turn, and the weights equal the incremental definition."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import datakit
from conftest import renderer
from datakit.pipeline import RenderOptions, render_files
from datakit.render import RenderError
from datakit.render.chat_template import GENERATION_END, GENERATION_START, OWN

TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Current weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]


def call(city: str, as_string: bool = True) -> dict:
    arguments = json.dumps({"city": city}) if as_string else {"city": city}
    return {"id": f"call_{city}", "type": "function", "function": {"name": "get_weather", "arguments": arguments}}


def tool_record(calls_per_turn: int = 1, content_beside_calls: str = "") -> dict:
    cities = ["Paris", "Oslo", "Lima"][:calls_per_turn]
    return {"tools": TOOLS, "messages": [
        {"role": "system", "content": "You are a weather bot."},
        {"role": "user", "content": "Weather in " + " and ".join(cities) + "?"},
        {"role": "assistant", "content": content_beside_calls or None,
         "tool_calls": [call(c, as_string=i % 2 == 0) for i, c in enumerate(cities)]},
        *({"role": "tool", "tool_call_id": f"call_{c}", "content": f"{c}: 18C"} for c in cities),
        {"role": "assistant", "content": "It is 18 degrees everywhere."},
        {"role": "user", "content": "Thanks!"},
        {"role": "assistant", "content": "You're welcome."},
    ]}


def trained_text(template: str, record) -> str:
    r = renderer(template)
    out = r.render(record)
    return r.tokenizer.full.decode(out.tokens[out.weights == 1].tolist(), skip_special_tokens=False)


@pytest.mark.parametrize("template", ["llama3", "llama3.2", "qwen2.5", "qwen3", "qwen3-cookbook", "qwen3-instruct-2507", "qwen3.5", "qwen3.6", "qwen3.8", "cookbook:qwen3_5", "cookbook:qwen3_8_xhigh_reasoning"])
def test_tool_definitions_calls_and_results_reach_the_text(template):
    calls = 1 if template.startswith("llama3") else 2
    record = tool_record(calls)
    text = renderer(template).render_text(record)
    assert "get_weather" in text and "Current weather of a city" in text  # the definitions
    assert "Paris" in text and "18C" in text
    trained = trained_text(template, record)
    assert "Paris" in trained and "18 degrees" in trained and "welcome" in trained
    assert "Current weather" not in trained and "18C" not in trained  # tools and results weigh 0


def test_the_official_templates_parse_json_string_arguments_first():
    """Llama 3.1 and Qwen2.5 `tojson` the arguments: an unparsed string would be double-encoded."""
    for template in ("llama3", "qwen2.5"):
        text = renderer(template).render_text(tool_record(1))
        assert '{"city": "Paris"}' in text and '\\"city\\"' not in text


def test_string_and_object_arguments_render_the_same():
    as_string = tool_record(1)
    as_object = json.loads(json.dumps(as_string))
    as_object["messages"][2]["tool_calls"][0]["function"]["arguments"] = {"city": "Paris"}
    for template in ("llama3", "qwen2.5", "qwen3", "qwen3-cookbook", "qwen3.5", "qwen3.8", "cookbook:qwen3_5"):
        a, b = renderer(template).render(as_string), renderer(template).render(as_object)
        assert a.tokens.tolist() == b.tokens.tolist() and a.weights.tolist() == b.weights.tolist()


def test_llama_3_1_single_call_rule_is_a_template_error():
    with pytest.raises(RenderError, match="only supports single tool-calls") as info:
        renderer("llama3").render(tool_record(2))
    assert info.value.reason == "template_error"


def test_text_beside_tool_calls_that_llama_does_not_write_is_content_dropped():
    record = tool_record(1, content_beside_calls="Let me check.")
    with pytest.raises(RenderError) as info:
        renderer("llama3").render(record)
    assert info.value.reason == "content_dropped"
    for template in ("qwen2.5", "qwen3", "qwen3-cookbook", "qwen3-instruct-2507", "qwen3.5", "qwen3.6", "qwen3.8",
                     "cookbook:qwen3_5", "cookbook:qwen3_8_xhigh_reasoning"):
        assert "Let me check." in trained_text(template, record)


def test_text_after_inline_reasoning_beside_tool_calls_is_not_content_dropped():
    """Qwen3 and 3.5 take <think>...</think> in content as reasoning and rewrite it (dropped from
    history): the text after it is what must reach the text."""
    record = tool_record(1, content_beside_calls="<think>\nLook it up.\n</think>\n\nLet me check.")
    for template in ("qwen3", "qwen3.5"):
        assert "Look it up." not in renderer(template).render_text(record)  # history: the reasoning goes
        assert "Let me check." in trained_text(template, record)


REASONING = {"messages": [
    {"role": "user", "content": "What is 17 * 3?"},
    {"role": "assistant", "reasoning_content": "17 * 3 = 51.", "content": "51."},
]}


PLAIN = {"messages": [REASONING["messages"][0], {"role": "assistant", "content": "51."}]}


@pytest.mark.parametrize("template", ["llama3", "llama3.2", "qwen2.5", "llama3-cookbook", "qwen3-instruct-2507"])
def test_reasoning_a_template_never_writes_is_rejected_unless_dropped_on_purpose(template, tmp_path):
    with pytest.raises(RenderError) as info:
        renderer(template).render(REASONING)
    assert info.value.reason == "reasoning_dropped" and "--drop-reasoning" in info.value.detail
    dropped = renderer(template, drop_reasoning=True).render(REASONING)
    plain = renderer(template).render(PLAIN)
    assert dropped.tokens.tolist() == plain.tokens.tolist()
    source = tmp_path / "r.jsonl"
    source.write_text(json.dumps(REASONING) + "\n" + json.dumps(PLAIN) + "\n")
    result = render_files([source], tmp_path / "out", RenderOptions(template=template, workers=1, max_reject_ratio=1))
    assert result.stats["rejected_by_reason"] == {"reasoning_dropped": 1} and result.stats["rows_written"] == 1


@pytest.mark.parametrize("template,block", [
    ("qwen3", "<think>\n17 * 3 = 51.\n</think>\n\n51.<|im_end|>"),
    ("qwen3-cookbook", "<think>\n17 * 3 = 51.\n</think>\n\n51.<|im_end|>"),
    ("qwen3.5", "17 * 3 = 51.\n</think>\n\n51.<|im_end|>"),  # after the generation prompt's <think>\n
    ("qwen3.8", "17 * 3 = 51.\n</think>\n\n51.<|im_end|>"),
    ("cookbook:qwen3_5", "<think>\n17 * 3 = 51.\n</think>\n\n51.<|im_end|>"),  # tinker-cookbook trains it all
    ("cookbook:qwen3_8_xhigh_reasoning", "<think>\n17 * 3 = 51.\n</think>\n\n51.<|im_end|>"),
])
def test_reasoning_is_trained_where_the_template_writes_it(template, block):
    assert trained_text(template, REASONING) == block


def test_history_reasoning_the_template_rewrites_away_is_counted(tmp_path):
    record = {"messages": [
        {"role": "user", "content": "a?"}, {"role": "assistant", "reasoning_content": "think a", "content": "A"},
        {"role": "user", "content": "b?"}, {"role": "assistant", "reasoning_content": "think b", "content": "B"}]}
    for template in ("qwen3", "qwen3-cookbook", "qwen3.5", "qwen3.6", "cookbook:qwen3_5"):
        out = renderer(template).render(record)
        assert out.reasoning_dropped == 1
        text = renderer(template).render_text(record)
        assert "think b" in text and "think a" not in text
    source = tmp_path / "r.jsonl"
    source.write_text(json.dumps(record) + "\n")
    result = render_files([source], tmp_path / "out", RenderOptions(template="qwen3", workers=1))
    assert result.stats["reasoning_dropped"] == {"turns": 1, "rows": 1}
    assert "left out the reasoning of 1 earlier assistant turns" in datakit.stats.format_stats(result.stats)


def generation_prompt(r, messages: list, tools, kwargs: dict) -> str:
    """The text of `messages` with the generation prompt, rendered as apply_chat_template
    (add_generation_prompt=True, **kwargs) renders it."""
    text = r.template.render(r.escaper.escape_messages(messages), tools, kwargs, add_generation_prompt=True)
    return r.escaper.unescape(text.replace(GENERATION_START, "").replace(GENERATION_END, ""))


def spans_and_increments(r, record, end: str) -> tuple[list[str], list[str]]:
    """The text each assistant message's {% generation %} span marks, and the incremental
    definition of it: what rendering messages[:i+1] adds after the generation prompt of
    messages[:i] (the same kwargs), through the end-of-turn token."""
    conversation = r.conversation(record)
    marked = r._render_marked(conversation)[0].replace(OWN, "")  # the template's own markup, unmarked
    spans = [r.escaper.unescape(part.split(GENERATION_END)[0]) for part in marked.split(GENERATION_START)[1:]]
    messages, kwargs = conversation.messages, r.kwargs(conversation)
    increments = []
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        prompt = generation_prompt(r, messages[:i], conversation.tools, kwargs)
        full = r.render_text({**record, "messages": messages[: i + 1]})
        assert full.startswith(prompt), f"message {i}: the generation prompt is not a prefix"
        generated = full[len(prompt):]
        increments.append(generated[: generated.index(end) + len(end)])
    return spans, increments


@pytest.mark.parametrize("template,end", [("llama3", "<|eot_id|>"), ("qwen2.5", "<|im_end|>")])
def test_weights_equal_the_incremental_definition_on_prefix_stable_templates(template, end):
    """What the model generates after the generation prompt, through its end-of-turn token,
    is exactly what the {% generation %} tags mark."""
    r = renderer(template)
    records = [tool_record(1), {"messages": [
        {"role": "user", "content": "\nHi "}, {"role": "assistant", "content": " hello\n"},
        {"role": "user", "content": "again"}, {"role": "assistant", "content": "again!"}]}]
    if template == "qwen2.5":
        records.append(tool_record(3, "Checking."))
    for record in records:
        spans, increments = spans_and_increments(r, record, end)
        assert spans == increments


def test_openai_sharegpt_and_parquet_forms_give_identical_rows(tmp_path):
    import datasets

    openai = tool_record(1)
    sharegpt = {"system": "You are a weather bot.", "tools": json.dumps(TOOLS), "conversations": [
        {"from": "human", "value": "Weather in Paris?"},
        {"from": "function_call", "value": json.dumps({"name": "get_weather", "arguments": {"city": "Paris"}})},
        {"from": "observation", "value": "Paris: 18C"},
        {"from": "gpt", "value": "It is 18 degrees everywhere."},
        {"from": "human", "value": "Thanks!"}, {"from": "gpt", "value": "You're welcome."}]}
    (tmp_path / "openai.jsonl").write_text(json.dumps(openai) + "\n")
    (tmp_path / "sharegpt.jsonl").write_text(json.dumps(sharegpt) + "\n")
    pq.write_table(pa.Table.from_pylist([openai, {"tools": None, "messages": [
        {"role": "user", "content": "hi", "tool_calls": None}, {"role": "assistant", "content": "yo"}]}]),
        tmp_path / "openai.parquet")
    rows = {}
    for name in ("openai.jsonl", "sharegpt.jsonl", "openai.parquet"):
        render_files([tmp_path / name], tmp_path / (name + ".out"), RenderOptions(template="qwen2.5", workers=1))
        rows[name] = datasets.load_from_disk(str(tmp_path / (name + ".out")))["train"].to_list()
    keys = ("input_tokens", "target_tokens", "weights", "num_trainable")
    first = [{k: row[k] for k in keys} for row in rows["openai.jsonl"]]
    assert [{k: row[k] for k in keys} for row in rows["sharegpt.jsonl"]] == first
    assert [{k: row[k] for k in keys} for row in rows["openai.parquet"]][:1] == first
    assert len(rows["openai.parquet"]) == 2  # the row with null struct fields renders too


def test_the_api_reads_what_the_command_line_reads():
    """content None beside tool_calls and a parts list are normalized, not rendered as 'None'."""
    record = tool_record(1)
    via_api = datakit.render_conversation(record, template="qwen2.5")
    assert "None" not in renderer("qwen2.5").tokenizer.full.decode(via_api.tokens.tolist())
    parts = [{"role": "user", "content": [{"type": "text", "text": "Hi "}, {"type": "text", "text": "there"}]},
             {"role": "assistant", "content": "Hello"}]
    plain = [{"role": "user", "content": "Hi there"}, {"role": "assistant", "content": "Hello"}]
    assert np.array_equal(datakit.render_conversation(parts).tokens, datakit.render_conversation(plain).tokens)
    with pytest.raises(RenderError) as info:
        datakit.render_conversation([{"role": "user", "content": [{"type": "image_url"}]}])
    assert info.value.reason == "unsupported_content_part"


def test_chat_template_kwargs_reach_the_template_and_a_record_can_override_them(tmp_path):
    """Qwen3's enable_thinking=false writes an empty think block into the final turn."""
    plain = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
    thinking_off = renderer("qwen3", chat_template_kwargs=(("enable_thinking", False),))
    assert "<think>" in renderer("qwen3").render_text(plain)  # the default: the framed final turn
    overridden = {**plain, "chat_template_kwargs": {"enable_thinking": True}}
    assert thinking_off.render_text(overridden) == renderer("qwen3").render_text(plain)
    with pytest.raises(RenderError) as info:
        thinking_off.render(REASONING)
    assert info.value.reason == "reasoning_with_thinking_disabled"
    source = tmp_path / "in.jsonl"
    lines = [{**plain, "chat_template_kwargs": [1]}, REASONING, plain]
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = render_files([source], tmp_path / "out", RenderOptions(
        template="qwen3", workers=1, chat_template_kwargs={"enable_thinking": False}, max_reject_ratio=1))
    assert result.stats["rejected_by_reason"] == {"bad_chat_template_kwargs": 1, "reasoning_with_thinking_disabled": 1}
    assert result.manifest["options"]["chat_template_kwargs"] == {"enable_thinking": False}


def test_cookbook_modes_have_tinker_cookbooks_names_and_keep_their_old_ones():
    for old, new in (("llama3-cookbook", "cookbook:llama3"), ("qwen3-cookbook", "cookbook:qwen3")):
        assert renderer(old).template.name == renderer(new).template.name == new
        assert renderer(old).template.source == renderer(new).template.source


def test_a_tool_call_turn_is_untrained_when_its_weight_says_so():
    record = tool_record(1)
    record["messages"][2]["weight"] = 0
    text = trained_text("qwen2.5", record)
    assert "get_weather" not in text and "18 degrees" in text
