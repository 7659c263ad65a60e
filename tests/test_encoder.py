"""fastokens gives exactly the ids `tokenizers` gives, for every bundled tokenizer (`encoder`)."""

from __future__ import annotations

import importlib.util
import random
import unicodedata

import numpy as np
import pytest
from tokenizers import Tokenizer

from conftest import DATA_FILES, bundle, data_rows, renderer, rows_of
from datakit.encoder import WholeTextEncoder

NAMES = ["llama3", "qwen2.5", "qwen3", "qwen3.5"]


def reference(name: str, texts: list[str]) -> list[list[int]]:
    return [e.ids for e in bundle(name).full.encode_batch_fast(texts, add_special_tokens=False)]


def lookup_only_words(tokenizer: Tokenizer) -> list[str]:
    """Tokens the BPE merges never build from their own text (" Việt" in Llama 3): an encoder
    that looks a pre-token up whole, as tiktoken does, gives other ids on them."""
    model = tokenizer.model
    return [token for token, token_id in tokenizer.get_vocab(with_added_tokens=False).items()
            if [t.id for t in model.tokenize(token)] != [token_id]]


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
def test_bundled_tokenizers_encode_with_fastokens_where_it_installs(name):
    # pyproject installs it everywhere it has a wheel (not on Linux for ARM).
    expected = "fastokens " if importlib.util.find_spec("fastokens") else "tokenizers "
    assert bundle(name).encoder_name.startswith(expected)


@pytest.mark.parametrize("name", NAMES)
def test_fastokens_equals_tokenizers_on_fuzzed_text(name):
    b = bundle(name)
    words = [b.full.decode(b.full.encode(w, add_special_tokens=False).ids) for w in lookup_only_words(b.full)[:400]]
    texts = _fuzz_texts(3000, seed=NAMES.index(name)) + words + [f"a{w} b" for w in words]
    texts += ["e\u0301 not NFC", "<|im_end|>\u0338", "Å", "\u212b", "\u1e9b\u0323", " Việt", ""]
    got = rows_of(b.encode_whole(texts))
    expected = reference(name, texts)
    assert [i for i in range(len(texts)) if got[i] != expected[i]] == []


@pytest.mark.parametrize("name", ["qwen3", "qwen3.5"])
def test_fastokens_normalizes_every_combining_mark_as_tokenizers_does(name):
    """NFC is where two implementations' Unicode tables can part: every mark, in and out of order."""
    marks = [chr(c) for c in range(0x300, 0x110000) if not 0xD800 <= c < 0xE000 and unicodedata.combining(chr(c))]
    texts = [t for m in marks for t in (f"a{m}\u0301", f"e\u0301{m}\u0323", f"{m}\u0323\u0301", f"o{m}{m}\u0308")]
    assert rows_of(bundle(name).encode_whole(texts)) == reference(name, texts)


@pytest.mark.parametrize("template", ["llama3", "qwen2.5", "qwen3", "qwen3.5"])
def test_fastokens_equals_tokenizers_on_the_example_data(template):
    r = renderer(template)
    texts = [r.render_text(row["messages"]) for name in DATA_FILES for row in data_rows(name)]
    texts = [unicodedata.normalize("NFC", t) for t in texts] + texts
    assert rows_of(r.tokenizer.encode_whole(texts)) == reference(r.tokenizer.name, texts)


def test_without_fastokens_tokenizers_gives_the_same_flat_ids():
    b = bundle("qwen3")
    texts = ["hello <|im_end|> world", "", "中文 é"] * 3
    fallback = WholeTextEncoder(lambda: b.full, None)
    assert fallback.name.startswith("tokenizers ")
    fast, slow = b.encode_whole(texts), fallback.encode(texts)
    assert np.array_equal(fast.ids, slow.ids) and np.array_equal(fast.bounds, slow.bounds)
    assert fast.ids.dtype == slow.ids.dtype == np.int32 and len(fast.bounds) == len(texts) + 1
