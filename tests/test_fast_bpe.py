"""tiktoken's encoder gives exactly the ids `tokenizers` gives, for every bundled tokenizer."""

from __future__ import annotations

import gzip
import hashlib
import json
import random
import unicodedata

import pytest
from tokenizers import Tokenizer

from conftest import bundle, data_rows, renderer
from datakit.fast_bpe import LOOKUP_ONLY, lookup_only_tokens
from datakit.tokenizer import BUNDLED, PACKAGE_DIR

NAMES = ["llama3", "qwen2.5", "qwen3", "qwen3.5"]


@pytest.mark.parametrize("name", NAMES)
def test_bundled_tokenizers_get_the_fast_encoder(name):
    assert bundle(name).fast is not None and bundle(name).encoder_name.startswith("tiktoken ")


@pytest.mark.parametrize("asset", sorted({bundled.asset for bundled in BUNDLED.values()}))
def test_lookup_only_tokens_are_those_the_merges_never_build(asset):
    data = (PACKAGE_DIR / "assets" / asset).read_bytes()
    known = json.loads(LOOKUP_ONLY.read_text(encoding="utf-8"))[asset]
    assert known["sha256"] == hashlib.sha256(data).hexdigest()
    assert known["ids"] == lookup_only_tokens(Tokenizer.from_str(gzip.decompress(data).decode("utf-8")))


def test_a_lookup_only_token_is_left_to_tokenizers():
    llama = bundle("llama3")
    assert llama.fast.encoding.encode(" Việt") == [101798]  # tiktoken's whole-piece lookup...
    assert llama.full.encode(" Việt", add_special_tokens=False).ids == [11655, 26298, 83]  # ...merges
    assert llama.encode_whole(["Xin chào Việt Nam", " Việt"])[1] == [11655, 26298, 83]


def _fuzz_texts(count: int, seed: int) -> list[str]:
    """Text built to find where two BPE implementations part: odd whitespace, case folding
    (ſ, K), digits of every script, combining marks, astral characters, control tokens."""
    rng = random.Random(seed)
    spaces = [chr(c) for c in range(0x3100) if chr(c).isspace()] + ["\u200b", "\u2060", "\ufeff", "\u3000"]
    folding = ["'", "’", "s", "S", "ſ", "K", "\u212a", "İ", "ı", "T", "RE", "ve", "LL", "D", "ǅ", "\u0345"]
    digits = ["7", "٣", "۵", "߂", "३", "৪", "๒", "໓", "༣", "၄", "Ⅻ", "½", "²", "①", "𝟗", "𐒠"]
    marks = ["\u0301", "\u0338", "\u0651", "\u093f", "\u20dd", "ー", "ๆ", "ǈ"]
    words = ["hello", " world", "\n", "\r\n", "\t", "  ", "123456", "<|eot_id|>", "<|im_end|>", "<think>",
             "don't", "DON'T", " Việt", "中文", "😀", "👩‍💻", "def f(x):\n    return x", " руковод"]

    def piece() -> str:
        kind = rng.random()
        if kind < 0.2:
            return rng.choice(spaces) * rng.randint(1, 3)
        if kind < 0.35:
            return rng.choice(folding)
        if kind < 0.45:
            return rng.choice(digits) * rng.randint(1, 4)
        if kind < 0.55:
            return rng.choice(marks)
        if kind < 0.75:
            code = rng.randrange(0x20, 0x30000)
            return chr(code) if not 0xD800 <= code < 0xE000 else "x"
        return rng.choice(words)

    return ["".join(piece() for _ in range(rng.randint(1, 60))) for _ in range(count)]


@pytest.mark.parametrize("name", NAMES)
def test_fast_encoder_equals_tokenizers(name):
    b = bundle(name)
    lookup_only = sorted(b.fast.lookup_only)
    texts = _fuzz_texts(3000, seed=NAMES.index(name))
    texts += [f"a{b.full.decode([i])} b" for i in lookup_only] + [b.full.decode([i]) for i in lookup_only]
    texts += ["e\u0301 not NFC", "<|im_end|>\u0338", "Å", "\u212b", "\u1e9b\u0323"]
    expected = [e.ids for e in b.full.encode_batch_fast(texts, add_special_tokens=False)]
    got = b.encode_whole(texts)
    assert [i for i in range(len(texts)) if got[i] != expected[i]] == []


@pytest.mark.parametrize("template", ["llama3", "qwen2.5", "qwen3"])
def test_fast_encoder_equals_tokenizers_on_the_example_data(template):
    r = renderer(template)
    texts = [r.render_text(row["messages"]) for name in ["edge_cases", "conversations", "synthetic",
                                                         "control_token_text"]
             for row in data_rows(name)]
    texts = [unicodedata.normalize("NFC", t) for t in texts] + texts
    b = r.tokenizer
    assert b.encode_whole(texts) == [e.ids for e in b.full.encode_batch_fast(texts, add_special_tokens=False)]
