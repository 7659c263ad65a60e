"""`nfc_could_change`: which texts `tokenizers`' NFC normalizer could change, without running it."""

from __future__ import annotations

import unicodedata

import numpy as np
import pytest
from tokenizers import normalizers

from conftest import bundle, renderer, rows_of
from datakit.nfc import TABLES_DIFFER, nfc_could_change

BASE, CCC_1, CCC_240 = "\u4e00", "\u0334", "\u0345"  # a base that composes with nothing; marks of classes 1, 240


def _normalize_all(normalizer, texts: list[str]) -> list[str]:
    out = normalizer.normalize_str("\n".join(texts)).split("\n")  # newline composes with nothing
    assert len(out) == len(texts)
    return out


@pytest.fixture(scope="module")
def probes() -> dict[str, list[str]]:
    """Per code point (not a surrogate or newline): the code point alone, after a base and
    before a class-1 mark and after a class-240 mark (either reorders a mark of any other
    class), and Python's NFD of it (recomposing shows which pairs compose)."""
    chars = [chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000 and c != 0x0A]
    return {"char": chars, "alone": chars, "before class 1": [BASE + c + CCC_1 for c in chars],
            "after class 240": [BASE + CCC_240 + c for c in chars],
            "Python NFD": [unicodedata.normalize("NFD", c) for c in chars]}


def test_the_pinned_code_points_are_exactly_where_the_two_tables_disagree(probes):
    if unicodedata.unidata_version != "14.0.0":
        pytest.skip(f"TABLES_DIFFER is pinned for Python 3.11's Unicode 14.0, not {unicodedata.unidata_version}")
    nfc, nfd = normalizers.NFC(), normalizers.NFD()
    differ = set()
    for name, texts in probes.items():
        for form, normalizer in (("NFC", nfc), ("NFD", nfd)) if name != "char" else ():
            for char, text, got in zip(probes["char"], texts, _normalize_all(normalizer, texts)):
                if got != unicodedata.normalize(form, text):
                    differ.add(char)
    differ |= {part for char in differ for part in unicodedata.normalize("NFD", char)}  # what composes to them
    assert len(differ) == 101
    assert {char for char in probes["char"] if TABLES_DIFFER.match(char)} == differ


def test_tokenizers_changes_no_text_that_python_calls_normalized(probes):
    """The direction that matters: text `nfc_could_change` lets through is left alone."""
    nfc = normalizers.NFC()
    texts = [text for name, group in probes.items() if name != "char" for text in group]
    texts += [unicodedata.normalize("NFC", text) for text in texts]
    changed = [text for text, got in zip(texts, _normalize_all(nfc, texts)) if got != text]
    assert changed and all(map(nfc_could_change, changed))
    python_only = [text for text in changed if not unicodedata.is_normalized("NFC", text)]
    assert python_only == changed  # so far Python's check alone would do; the pinned set is a margin


@pytest.mark.parametrize("name", ["qwen2.5", "qwen3", "qwen3.5"])
def test_text_with_a_mark_the_tables_disagree_on_is_left_to_tokenizers(name):
    tokenizer = bundle(name)
    newer = "a\u07fd b\u1df6 \U00011935\U00011930 e\u1dfa\u0301 >\u16ff0"
    assert unicodedata.is_normalized("NFC", "a\u07fd")  # Python's check alone would let it through
    assert tokenizer.needs_normalizing("a\u07fd") and not tokenizer.needs_normalizing("ascii only")
    assert not tokenizer.needs_normalizing("中文 é 😀")
    texts = [newer, f"<|im_end|>{newer}", "x\u0898\u0301y"]
    assert rows_of(tokenizer.encode_whole(texts)) == [tokenizer.full.encode(t, add_special_tokens=False).ids for t in texts]


def test_a_tokenizer_without_a_normalizer_needs_none():
    assert not bundle("llama3").needs_normalizing("e\u0301 a\u07fd")


@pytest.mark.parametrize("template", ["qwen2.5", "qwen3"])
def test_rendering_text_with_those_marks_gives_tokenizers_ids(template):
    r = renderer(template)
    messages = [{"role": "user", "content": "a\u07fd \U00011935\U00011930?"},
                {"role": "assistant", "content": "e\u1dfa\u0301 x\u0898 >\u16ff0 ok"}]
    rendered = r.render(messages)
    want = r.tokenizer.full.encode(r.render_text(messages), add_special_tokens=False).ids
    np.testing.assert_array_equal(rendered.tokens, want)
    assert rendered.num_trainable > 0


def test_the_quick_set_is_the_regex():
    from datakit.nfc import _TABLES_DIFFER_SET

    every = (chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000)
    assert _TABLES_DIFFER_SET == frozenset(char for char in every if TABLES_DIFFER.match(char))


def test_every_pinned_code_point_is_found_among_other_text():
    """The byte filter in front of the set test lets none of them through, wherever it stands."""
    from datakit.nfc import _LEAD_BYTES, _TABLES_DIFFER_SET

    assert len(_LEAD_BYTES) == 5
    for char in sorted(_TABLES_DIFFER_SET):
        assert nfc_could_change(f"中文 {char} é 😀"), hex(ord(char))
    assert not nfc_could_change("中文 é 😀 \u0800 \u1dff \U0001f600")  # the lead bytes alone are not enough
