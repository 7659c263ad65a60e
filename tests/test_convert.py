"""One record's outcome: `--examples per_turn` (one row per trainable assistant message),
checked against tinker-cookbook's build_supervised_examples, through truncation and splitting."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import GOLDEN, read_jsonl, renderer
from datakit.convert import Examples, Limits, convert
from datakit.outcome import Reject, Row, Side
from datakit.pipeline import RenderOptions, render_files
from datakit.read import Record, RecordParser
from datakit.truncate import Policy

PER_TURN_GOLDEN = GOLDEN / "cookbook" / "qwen3-per-turn" / "reasoning.jsonl.gz"

REASONING_CHAT = {"messages": [
    {"role": "system", "content": "Be exact."},
    {"role": "user", "content": "2+2?"}, {"role": "assistant", "reasoning_content": "two and two", "content": "4"},
    {"role": "user", "content": "3+3?"}, {"role": "assistant", "reasoning_content": "three and three", "content": "6"},
    {"role": "user", "content": "5+5?"}, {"role": "assistant", "reasoning_content": "five and five", "content": "10"},
]}


def outcomes(record: dict, template: str = "qwen3", examples=Examples.PER_TURN, limits=Limits(), **options):
    r = renderer(template, **options)
    return convert([Record(0, 1, json.dumps(record).encode())], [Side.TRAIN], RecordParser(r.template.roles),
                   r, limits, examples)


def trained(template: str, row: Row) -> str:
    return renderer(template).tokenizer.full.decode(row.tokens[row.weights == 1].tolist(), skip_special_tokens=False)


def test_per_turn_matches_tinker_cookbooks_build_supervised_examples():
    for line in read_jsonl(PER_TURN_GOLDEN):
        rows = outcomes(line["record"], "cookbook:qwen3")
        assert all(isinstance(row, Row) for row in rows)
        assert [(row.tokens.tolist(), row.weights.tolist()) for row in rows] == [
            (e["tokens"], e["weights"]) for e in line["examples"]]


def test_each_turn_trains_with_the_reasoning_qwen3_drops_from_history():
    conversation = outcomes(REASONING_CHAT, examples=Examples.CONVERSATION)
    assert len(conversation) == 1 and conversation[0].turn == -1 and conversation[0].reasoning_dropped == 2
    assert "two and two" not in trained("qwen3", conversation[0])
    rows = outcomes(REASONING_CHAT)
    assert [row.turn for row in rows] == [2, 4, 6] and {(row.source, row.line) for row in rows} == {(0, 1)}
    for row, reasoning, answer in zip(rows, ("two and two", "three and three", "five and five"), "4 6 10".split()):
        assert trained("qwen3", row) == f"<think>\n{reasoning}\n</think>\n\n{answer}<|im_end|>"
        assert row.reasoning_dropped == 0  # the earlier turns it drops are not trained here


def test_per_turn_follows_train_on_and_the_messages_own_choices():
    untrained = json.loads(json.dumps(REASONING_CHAT))
    untrained["messages"][4]["trainable"] = False
    assert [row.turn for row in outcomes(untrained)] == [2, 6]
    assert [row.turn for row in outcomes(REASONING_CHAT, train_on="last_assistant")] == [6]
    none = {"messages": [{"role": "user", "content": "hi"}]}
    [reject] = outcomes(none)
    assert reject.reason == "no_trainable_tokens" and reject.turn is None


def test_truncation_drops_single_examples_and_names_their_turn():
    """With --truncation drop, the examples that do not fit are rejects of their turn; the
    shorter ones are still written."""
    lengths = [len(row.tokens) for row in outcomes(REASONING_CHAT)]
    limit = (lengths[0] + lengths[1]) // 2
    results = outcomes(REASONING_CHAT, limits=Limits(limit, Policy.DROP))
    assert [type(o).__name__ for o in results] == ["Row", "Reject", "Reject"]
    assert [o.turn for o in results] == [2, 4, 6] and results[1].reason == "too_long"
    assert results[1].to_json(["f"])["turn"] == 4


def test_an_example_that_cannot_render_rejects_the_whole_record():
    """Llama 3.1 takes one tool call a turn: the record is broken, whichever example shows it."""
    record = {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
                           {"role": "user", "content": "c"}, {"role": "assistant", "content": "", "tool_calls": [
                               {"function": {"name": "f", "arguments": {}}}, {"function": {"name": "g", "arguments": {}}}]}]}
    [reject] = outcomes(record, "llama3")
    assert isinstance(reject, Reject) and reject.reason == "template_error" and reject.turn is None
    assert reject.detail.startswith("the example of message 3: ")


def test_render_per_turn_writes_the_turn_column_keeps_conversations_on_one_side_and_counts_both(tmp_path):
    import datasets

    source = tmp_path / "chats.jsonl"
    records = []
    for i in range(40):
        record = json.loads(json.dumps(REASONING_CHAT))
        record["messages"][1]["content"] = f"question {i}?"
        records.append(record)
    source.write_text("".join(json.dumps(r) + "\n" for r in records))
    result = render_files([source], tmp_path / "out", RenderOptions(template="qwen3", workers=1, test_ratio=0.25,
                                                                     examples="per_turn"))
    assert result.stats["rows_written"] == 120 and result.stats["conversations_written"] == 40
    assert result.manifest["options"]["examples"] == "per_turn"
    splits = datasets.load_from_disk(str(tmp_path / "out"))
    sides = {split: {row["line"] for row in splits[split]} for split in splits}
    assert not sides["train"] & sides["test"] and len(sides["test"]) == 10
    for split in splits:
        by_line = {}
        for row in splits[split]:
            by_line.setdefault(row["line"], []).append(row["turn"])
        assert all(turns == [2, 4, 6] for turns in by_line.values())
    assert "conversations they come from" in datakit_stats_text(result.stats)


def datakit_stats_text(stats: dict) -> str:
    from datakit.stats import format_stats

    return format_stats(stats)


@pytest.mark.parametrize("template", ["llama3", "qwen2.5"])
def test_on_prefix_stable_templates_each_example_is_a_prefix_of_the_conversation(template):
    chat = {"messages": [m for m in REASONING_CHAT["messages"] if m["role"] != "system"]}
    for m in chat["messages"]:
        m.pop("reasoning_content", None)
    [whole] = outcomes(chat, template, examples=Examples.CONVERSATION)
    for row in outcomes(chat, template):
        assert whole.tokens[: len(row.tokens)].tolist() == row.tokens.tolist()


def test_a_long_line_is_let_go_of_once_parsed():
    r = renderer("llama3")
    record = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "word " * 300_000}]}
    short_chat = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
    records = [Record(0, 1, json.dumps(record).encode()), Record(0, 2, json.dumps(short_chat).encode())]
    short = records[1]
    [long_row, _] = convert(records, [Side.TRAIN] * 2, r.parser, r, Limits())
    assert records[0].raw is None and records[0].value == record and (records[0].source, records[0].line) == (0, 1)
    assert records[1] is short  # a short line is kept as it came
    np.testing.assert_array_equal(long_row.tokens, r.render(record).tokens)
