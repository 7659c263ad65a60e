"""Record forms and message normalization: every rule on a real-shaped record."""

from __future__ import annotations

import json

import pytest

from datakit.outcome import Invalid, Reason
from datakit.read import Form, Record, RecordParser

PARSE = RecordParser()


def parse(record: dict, **options):
    return RecordParser(**options).parse(Record(0, 1, json.dumps(record).encode()))


def reason_of(record: dict, **options) -> str:
    with pytest.raises(Invalid) as info:
        parse(record, **options)
    return str(info.value.reason)


WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


# -- forms ----------------------------------------------------------------------------------------


def test_sharegpt_roles_system_and_function_calls():
    record = {
        "system": "Be brief.",
        "tools": json.dumps([WEATHER_TOOL["function"]]),
        "conversations": [
            {"from": "human", "value": "Weather in Paris?"},
            {"from": "function_call", "value": json.dumps({"name": "get_weather", "arguments": {"city": "Paris"}})},
            {"from": "observation", "value": "18C"},
            {"from": "gpt", "value": "18 degrees."},
        ],
    }
    conversation = parse(record)
    assert [m["role"] for m in conversation.messages] == ["system", "user", "assistant", "tool", "assistant"]
    assert conversation.messages[0]["content"] == "Be brief."
    assert conversation.messages[2] == {"role": "assistant", "content": "", "tool_calls": [
        {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]}
    assert conversation.tools == [WEATHER_TOOL]  # a bare definition in a JSON string, wrapped


def test_sharegpt_function_call_lists_and_unknown_speakers():
    record = {"conversations": [
        {"from": "user", "value": "two calls"},
        {"from": "function_call", "value": json.dumps([{"name": "a", "arguments": "{}"},
                                                       {"name": "b", "arguments": {"x": 1}}])},
        {"from": "tool", "value": "ok"}, {"from": "assistant", "value": "done"}]}
    calls = parse(record).messages[1]["tool_calls"]
    assert [c["function"] for c in calls] == [{"name": "a", "arguments": {}}, {"name": "b", "arguments": {"x": 1}}]
    unknown = {"conversations": [{"from": "narrator", "value": "x"}, {"from": "gpt", "value": "y"}]}
    with pytest.raises(Invalid, match="'narrator'") as info:
        parse(unknown)
    assert info.value.reason == "unknown_role"
    assert reason_of({"conversations": [{"from": "function_call", "value": "not json"}]}) == "bad_tool_calls"


def test_alpaca_with_input_system_and_history():
    record = {"system": "S", "history": [["q1", "a1"]], "instruction": "Translate", "input": "chat", "output": "cat"}
    messages = parse(record).messages
    assert messages == [{"role": "system", "content": "S"}, {"role": "user", "content": "q1"},
                        {"role": "assistant", "content": "a1"}, {"role": "user", "content": "Translate\nchat"},
                        {"role": "assistant", "content": "cat"}]
    no_input = parse({"instruction": "Say hi", "input": "", "output": "hi"}).messages
    assert no_input == [{"role": "user", "content": "Say hi"}, {"role": "assistant", "content": "hi"}]
    assert reason_of({"instruction": "x", "output": None}) == "bad_content_type"
    assert reason_of({"instruction": "x", "output": "y", "history": [["only one"]]}) == "messages_not_a_list"


def test_prompt_completion_strings_and_conversational_lists():
    assert parse({"prompt": "2+2?", "completion": "4"}).messages == [
        {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]
    record = {"prompt": [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}],
              "completion": [{"role": "assistant", "content": "A"}]}
    assert [m["content"] for m in parse(record).messages] == ["S", "Q", "A"]
    assert reason_of({"prompt": "Q", "completion": [{"role": "assistant", "content": "A"}]}) == "bad_content_type"


def test_detection_order_forced_forms_and_the_messages_key():
    both = {"messages": [{"role": "user", "content": "m"}, {"role": "assistant", "content": "n"}],
            "prompt": "p", "completion": "c"}
    assert parse(both).messages[0]["content"] == "m"  # messages wins
    assert parse(both, form=Form.PROMPT_COMPLETION).messages[0]["content"] == "p"
    assert reason_of({"text": "no form"}) == "missing_messages"
    assert reason_of({"prompt": "p", "completion": "c"}, form=Form.MESSAGES) == "missing_messages"
    custom = {"conversation": [{"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}]}
    assert parse(custom, messages_key="conversation").messages[1]["content"] == "a"


# -- normalization ------------------------------------------------------------------------------


def test_openai_tool_calling_record():
    """OpenAI's fine-tuning format: content null beside tool_calls, arguments as a JSON string."""
    record = {"tools": [WEATHER_TOOL], "messages": [
        {"role": "user", "content": "Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
        {"role": "assistant", "content": "18 degrees.", "weight": 1},
    ]}
    messages = parse(record).messages
    assert messages[1] == {"role": "assistant", "content": "", "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]}
    assert messages[2]["tool_call_id"] == "call_1"
    assert messages[3] == {"role": "assistant", "content": "18 degrees.", "trainable": True}


def test_content_parts_concatenate_text_and_reject_other_types():
    parts = [{"type": "text", "text": "Look "}, {"type": "text", "text": "here."}]
    messages = parse({"messages": [{"role": "user", "content": parts}, {"role": "assistant", "content": "ok"}]}).messages
    assert messages[0]["content"] == "Look here."
    image = {"messages": [{"role": "user", "content": [{"type": "text", "text": "x"},
                                                        {"type": "image_url", "image_url": {"url": "u"}}]}]}
    with pytest.raises(Invalid, match="'image_url'") as info:
        parse(image)
    assert info.value.reason == "unsupported_content_part"


def test_tool_call_shapes():
    def calls(*tool_calls):
        record = {"messages": [{"role": "user", "content": "u"},
                               {"role": "assistant", "content": "", "tool_calls": list(tool_calls)}]}
        return parse(record).messages[1]["tool_calls"]

    flat = calls({"name": "f", "arguments": {"a": 1}})
    assert flat == [{"type": "function", "function": {"name": "f", "arguments": {"a": 1}}}]
    assert calls({"function": {"name": "f", "arguments": ""}})[0]["function"]["arguments"] == {}
    for bad in ("{oops", "[1, 2]", "3"):
        assert reason_of({"messages": [{"role": "user", "content": "u"}, {"role": "assistant", "content": "",
                          "tool_calls": [{"function": {"name": "f", "arguments": bad}}]}]}) == "bad_tool_arguments"
    assert reason_of({"messages": [{"role": "assistant", "content": "", "tool_calls": [{"function": {}}]}]}) \
        == "bad_tool_calls"


def test_null_optional_fields_count_as_absent():
    """What a Parquet struct column gives for fields a message lacks."""
    nulls = {"tool_calls": None, "reasoning_content": None, "name": None, "tool_call_id": None,
             "weight": None, "trainable": None}
    record = {"tools": None, "messages": [{"role": "user", "content": "u", **nulls},
                                          {"role": "assistant", "content": "a", **nulls}]}
    conversation = parse(record)
    assert conversation.messages == [{"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}]
    assert conversation.tools is None
    empty_calls = parse({"messages": [{"role": "user", "content": "u"},
                                      {"role": "assistant", "content": "a", "tool_calls": []}]})
    assert "tool_calls" not in empty_calls.messages[1]


def test_tools_forms():
    def tools(value):
        return parse({"tools": value, "messages": [{"role": "user", "content": "u"},
                                                   {"role": "assistant", "content": "a"}]}).tools

    assert tools("") is None and tools("[]") is None and tools([]) is None
    assert tools(json.dumps([WEATHER_TOOL])) == [WEATHER_TOOL]
    assert tools([WEATHER_TOOL["function"]]) == [WEATHER_TOOL]
    for bad in ("{not json", 3, [1], [{"description": "no name"}]):
        assert reason_of({"tools": bad, "messages": [{"role": "user", "content": "u"}]}) == "bad_tools"


def test_weight_and_trainable():
    def assistant(**fields):
        return parse({"messages": [{"role": "user", "content": "u"},
                                   {"role": "assistant", "content": "a", **fields}]}).messages[1]

    assert assistant(weight=0)["trainable"] is False and "weight" not in assistant(weight=0)
    assert assistant(weight=1, trainable=True)["trainable"] is True
    for fields, reason in (({"weight": 2}, "bad_trainable"), ({"weight": True}, "bad_trainable"),
                           ({"weight": 0, "trainable": True}, "bad_trainable")):
        assert reason_of({"messages": [{"role": "assistant", "content": "a", **fields}]}) == reason
    assert reason_of({"messages": [{"role": "user", "content": "u", "weight": 1}]}) == "unsupported_trainable"


def test_reasoning_fields():
    def assistant(**fields):
        return parse({"messages": [{"role": "user", "content": "u"},
                                   {"role": "assistant", "content": "a", **fields}]}).messages[1]

    assert assistant(reasoning_content="think")["reasoning_content"] == "think"
    aliased = assistant(reasoning="think")  # transformers reads `reasoning` and `thinking` as it
    assert aliased["reasoning_content"] == "think" and aliased["thinking"] == "think"
    assert reason_of({"messages": [{"role": "user", "content": "u", "reasoning_content": "x"}]}) == "bad_reasoning"
    assert reason_of({"messages": [{"role": "assistant", "content": "a", "reasoning_content": 3}]}) \
        == "bad_content_type"


def test_multimodal_records_are_refused_not_trained_as_text():
    """LLaMA-Factory's mllm_demo.json: <image> tags in the text, the images beside it."""
    record = {"messages": [{"role": "user", "content": "<image>Who are they?"},
                           {"role": "assistant", "content": "Two footballers."}], "images": ["1.jpg"]}
    with pytest.raises(Invalid, match="images") as info:
        parse(record)
    assert info.value.reason == "unsupported_content_part"
    assert parse({**record, "images": []}).messages[0]["content"] == "<image>Who are they?"


def test_a_text_part_without_text_says_what_openai_parts_look_like():
    record = {"messages": [{"role": "user", "content": [{"type": "text", "value": "hi"}]}]}  # LLaMA-Factory v1
    with pytest.raises(Invalid, match="without a 'text' string"):
        parse(record)


def test_a_lone_surrogate_past_the_first_slice_is_found():
    """Huge text is checked a slice at a time; a surrogate in a later slice still rejects it."""
    from datakit.read.normalize import has_lone_surrogate

    later = "é" * (1 << 20) + "\udfff"
    assert has_lone_surrogate(later) and not has_lone_surrogate("é" * (1 << 20) + "😀")
    with pytest.raises(Invalid) as caught:
        RecordParser().parse_value({"messages": [{"role": "user", "content": "x"},
                                                 {"role": "assistant", "content": later}]})
    assert caught.value.reason is Reason.INVALID_UNICODE
