#!/usr/bin/env python
"""Issue 17's column (a): tiktoken `encode_batch` (2 threads) on datakit's fully rendered text,
beside fastokens on the same text, for one corpus and template (see scripts/README.md).

    pip install tiktoken
    python scripts/tiktoken_baseline.py CORPUS.jsonl llama3

The tiktoken Encoding is built over the bundled tokenizer.json's vocabulary as datakit 0.1 did
(same split regex and ranks, added tokens as special tokens); its token counts are printed
beside fastokens' (they agree on the generated corpora). Rendering is not timed; best of 2.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datakit.render import build_renderer  # noqa: E402
from datakit.tokenizer import byte_level_alphabet  # noqa: E402


def tiktoken_encoding(full_json: str):
    import tiktoken

    spec = json.loads(full_json)
    split = spec["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"]
    to_bytes = {ord(char): byte for char, byte in byte_level_alphabet().items()}
    ranks = {token.translate(to_bytes).encode("latin-1"): rank for token, rank in spec["model"]["vocab"].items()}
    return tiktoken.Encoding("bundled", pat_str=split, mergeable_ranks=ranks,
                             special_tokens={t["content"]: t["id"] for t in spec["added_tokens"]})


def best_of_two(run) -> tuple[int, float]:
    times = []
    for _ in range(2):
        started = time.perf_counter()
        tokens = run()
        times.append(time.perf_counter() - started)
    return tokens, min(times)


def main() -> None:
    corpus, template = sys.argv[1], sys.argv[2]
    renderer = build_renderer(template)
    texts = [renderer.render_text(json.loads(line)["messages"]) for line in open(corpus, encoding="utf-8") if line.strip()]
    encoding = tiktoken_encoding(renderer.tokenizer.full_json)
    n, t_tik = best_of_two(lambda: sum(map(len, encoding.encode_batch(texts, num_threads=2, allowed_special="all"))))
    m, t_fast = best_of_two(lambda: int(renderer.tokenizer.encode_whole(texts).bounds[-1]))
    print(f"{corpus} {template}: {len(texts):,} texts; tokens tiktoken {n:,}, {renderer.tokenizer.encoder_name} {m:,}; "
          f"tiktoken (2 threads) {n / t_tik / 1e6:.2f}M tok/s ({t_tik:.2f} s); fastokens {m / t_fast / 1e6:.2f}M tok/s "
          f"({t_fast:.2f} s)")


if __name__ == "__main__":
    main()
