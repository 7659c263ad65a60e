"""A huge last message under `right` truncation: only its prefix is encoded, rows and counts
are those of the whole render (`render.bounded`)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from conftest import DATA_FILES, data_rows, renderer

from datakit.convert import Limits, convert
from datakit.read import Record
from datakit.render.bounded import CHARS_PER_TOKEN_GUESS, CHUNK_CHARS, Tail, count_tokens, cut_keeping, safe_boundary
from datakit.truncate import Policy


def corpus_text(chars: int, seed: int) -> str:
    """Text of the vendored data (code, markdown, CJK, marks, odd spaces), shuffled, to length."""
    pieces = [m["content"] for name in DATA_FILES for row in data_rows(name)
              for m in row.get("messages", []) if isinstance(m, dict) and isinstance(m.get("content"), str)]
    pieces = [p for p in pieces if "<|" not in p and "</think>" not in p]
    rng = random.Random(seed)
    out, size = [], 0
    while size < chars:
        piece = rng.choice(pieces)
        out.append(piece)
        size += len(piece) + 1
    return " ".join(out)[:chars] + "  \n"


@pytest.mark.parametrize("template", ["llama3", "qwen3"])
def test_the_tail_is_counted_to_the_tokens_the_whole_text_has(template):
    r = renderer(template)
    text = corpus_text(3 * CHUNK_CHARS, seed=1)
    cut = safe_boundary(text, 1000, len(text))
    tail = Tail(text, cut, len(text), True)
    whole = r.tokenizer.encode_whole([text]).bounds[-1]
    head = r.tokenizer.encode_whole([text[:cut]]).bounds[-1]
    assert count_tokens(tail, lambda texts: int(r.tokenizer.encode_whole(texts).bounds[-1])) == whole - head


@pytest.mark.parametrize("role", ["assistant", "user"])
@pytest.mark.parametrize("template", ["llama3", "qwen2.5", "qwen3", "qwen3.5", "qwen3.8"])
def test_a_huge_last_message_gives_the_row_and_counts_of_the_whole_render(template, role):
    r = renderer(template)
    max_length = 2000
    content = corpus_text(max_length * int(r.tokenizer.token_bytes.max()) + 2 * CHUNK_CHARS, seed=2)
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say it all."},
                {"role": "assistant", "content": "Sure."}, {"role": role, "content": content}]
    record = Record(0, 1, None, {"messages": messages})
    whole = r.render({"messages": messages})
    kept = r.render_batch([r.conversation({"messages": messages})], keep_tokens=max_length)[0]
    assert kept.tail_tokens > 0 and len(kept.tokens) + kept.tail_tokens == len(whole.tokens)
    assert kept.tail_trainable == (kept.tail_tokens if role == "assistant" else 0)
    assert np.count_nonzero(kept.weights) + kept.tail_trainable == np.count_nonzero(whole.weights)
    [row] = convert([record], ["train"], r.parser, r, Limits(max_length, Policy.RIGHT))
    np.testing.assert_array_equal(row.tokens, whole.tokens[:max_length])
    np.testing.assert_array_equal(row.weights, whole.weights[:max_length])
    assert row.truncation.original_length == len(whole.tokens)
    assert row.truncation.trainable_before == int(np.count_nonzero(whole.weights[1:]))
    assert row.truncation.lost_final_end_of_turn == (role == "assistant")


def test_a_cut_is_tried_near_and_taken_when_counting_proves_it_enough():
    text = "word " * 100_000
    keep, at = 1000, 1000 * 128

    def counted(chars_per_token):
        calls = []

        def encode_count(texts):
            calls.append(sum(map(len, texts)))
            return sum(len(t) // chars_per_token for t in texts)
        return calls, encode_count

    calls, encode_count = counted(5)  # enough at the first try
    cut = cut_keeping(text, keep, at, encode_count)
    assert keep * CHARS_PER_TOKEN_GUESS <= cut < keep * CHARS_PER_TOKEN_GUESS + 5 and len(calls) == 1
    calls, encode_count = counted(20)  # the second
    assert keep * CHARS_PER_TOKEN_GUESS * 4 <= cut_keeping(text, keep, at, encode_count) and len(calls) == 2
    calls, encode_count = counted(200)  # never: the cut that always keeps enough
    assert cut_keeping(text, keep, at, encode_count) == safe_boundary(text, at, len(text)) and len(calls) == 2


@pytest.mark.parametrize("line", ["x " + "=" * 120 + "\n", "a " + "-" * 64])  # about 31 and 33 characters a token
def test_text_of_few_tokens_a_character_still_gives_the_whole_renders_row(line):
    r = renderer("llama3")
    max_length = 500
    content = line * ((max_length * int(r.tokenizer.token_bytes.max()) + 2 * CHUNK_CHARS) // len(line))
    messages = [{"role": "user", "content": "Draw a line."}, {"role": "assistant", "content": content}]
    whole = r.render({"messages": messages})
    [row] = convert([Record(0, 1, None, {"messages": messages})], ["train"], r.parser, r, Limits(max_length, Policy.RIGHT))
    assert row.truncation.original_length == len(whole.tokens)
    np.testing.assert_array_equal(row.tokens, whole.tokens[:max_length])
    np.testing.assert_array_equal(row.weights, whole.weights[:max_length])


def test_what_bounded_does_not_cover_is_rendered_whole():
    r = renderer("llama3")
    long = corpus_text(100 * int(r.tokenizer.token_bytes.max()) + 2 * CHUNK_CHARS, seed=3)
    cases = [
        [{"role": "user", "content": "x"}, {"role": "assistant", "content": long + " <|eot_id|>"}],  # escaped text
        [{"role": "user", "content": "x"}, {"role": "assistant", "content": "a" * len(long)}],  # no safe boundary
        [{"role": "user", "content": "x"}, {"role": "assistant", "content": long, "name": "bot"}],  # not plain
        [{"role": "user", "content": "x"}, {"role": "assistant", "content": "short"}],
    ]
    for messages in cases:
        [kept] = r.render_batch([r.conversation({"messages": messages})], keep_tokens=100)
        assert kept.tail_tokens == 0
        np.testing.assert_array_equal(kept.tokens, r.render({"messages": messages}).tokens)


@pytest.mark.parametrize("template", ["qwen3", "qwen3.5"])
def test_a_huge_tool_response_last_is_rendered_whole(template):
    """Cut, it would no longer end with </tool_response> and would become the last query,
    which changes how the assistant turn before it is written."""
    r = renderer(template)
    long = corpus_text(100 * int(r.tokenizer.token_bytes.max()) + 2 * CHUNK_CHARS, seed=4)
    messages = [{"role": "user", "content": "x"}, {"role": "assistant", "content": "a"},
                {"role": "user", "content": f"<tool_response>{long}</tool_response>"}]
    [kept] = r.render_batch([r.conversation({"messages": messages})], keep_tokens=100)
    assert kept.tail_tokens == 0
    np.testing.assert_array_equal(kept.tokens, r.render({"messages": messages}).tokens)
