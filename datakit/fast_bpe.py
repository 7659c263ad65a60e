"""Encode whole texts with tiktoken's BPE, which gives the bundled tokenizers' ids about 4x faster.

The bundled Llama 3 and Qwen tokenizers are tiktoken-style byte-level BPE: one split regex,
bytes mapped to printable characters, merges ranked by token id. tiktoken runs the same
algorithm over the same vocabulary with one difference: it looks each pre-token up in the
vocabulary whole before merging (what `ignore_merges` does in `tokenizers`), while these
`tokenizer.json` files merge. For Qwen2.5 / Qwen3 that changes nothing; for Llama 3, 588 tokens
such as " Việt", and for Qwen3.5, 201 tokens such as "俱乐部" and " çeşit", are reached only by
that lookup, never by merges. They are listed in `assets/lookup-only-tokens.json` (made by
`lookup_only_tokens`), and a text whose ids hold one of them is encoded again by `tokenizers`.
The tests check every golden row, the example data and fuzzed text against `tokenizers`, and
the list itself. (tiktoken does not normalize either: `TokenizerBundle.encode_whole` sends
text that NFC could change to `tokenizers`.)

Only the bundled tokenizer files get this path (their sha256 is in that list); any other
tokenizer is encoded by `tokenizers` alone.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer

LOOKUP_ONLY = Path(__file__).resolve().parent / "assets" / "lookup-only-tokens.json"


class FastEncoder:
    """tiktoken over a tokenizer.json's vocabulary; its added tokens are its special tokens."""

    def __init__(self, encoding: Any, lookup_only: frozenset[int], version: str):
        self.encoding = encoding
        self.lookup_only = lookup_only  # ids only tiktoken's whole-piece lookup produces
        self.version = version

    def encode_batch(self, texts: list[str]) -> tuple[list[list[int]], list[int]]:
        """Ids of each text, and the indices of texts `tokenizers` must encode instead."""
        encode, lookup_only = self.encoding.encode, self.lookup_only
        ids = [encode(text, allowed_special="all") for text in texts]
        redo = [i for i, row in enumerate(ids) if not lookup_only.isdisjoint(row)] if lookup_only else []
        return ids, redo


def fast_encoder(asset: bytes, asset_name: str, spec: dict, byte_values: dict[str, int]) -> FastEncoder | None:
    """A FastEncoder for a bundled tokenizer file (its gzip bytes, parsed spec, and the byte
    each byte-level character stands for), if tiktoken is installed and the file is the one
    whose lookup-only tokens are known."""
    try:
        import tiktoken
    except ImportError:
        return None
    known = json.loads(LOOKUP_ONLY.read_text(encoding="utf-8")).get(asset_name)
    if known is None or known["sha256"] != hashlib.sha256(asset).hexdigest():
        return None
    split, _byte_level = spec["pre_tokenizer"]["pretokenizers"]  # the pinned files' layout
    to_bytes = {ord(char): byte for char, byte in byte_values.items()}
    ranks = {token.translate(to_bytes).encode("latin-1"): rank for token, rank in spec["model"]["vocab"].items()}
    encoding = tiktoken.Encoding(
        asset_name,
        pat_str=split["pattern"]["Regex"],
        mergeable_ranks=ranks,
        special_tokens={t["content"]: t["id"] for t in spec["added_tokens"]},
    )
    return FastEncoder(encoding, frozenset(known["ids"]), f"tiktoken {tiktoken.__version__}")


def lookup_only_tokens(tokenizer: Tokenizer) -> list[int]:
    """Vocabulary ids that the tokenizer's BPE merges do not build from the token's own text."""
    model = tokenizer.model
    return sorted(token_id for token, token_id in tokenizer.get_vocab(with_added_tokens=False).items()
                  if [t.id for t in model.tokenize(token)] != [token_id])
