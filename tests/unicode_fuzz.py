"""Seeded text for comparing two encoders of an NFC byte-level BPE tokenizer.

Used by tests/test_tokenizer_qwen35.py and scripts/verify_tokenizer.py. The text aims at where
two implementations part: CJK runs, combining marks in every order after bases they compose
with (and after added tokens, whose `>` composes with U+0338), emoji sequences, digits of many
scripts, whitespace runs, code, added-token strings, and the caller's own words (for example
the text of tokens only a whole-word lookup reaches).
"""

from __future__ import annotations

import itertools
import random

from datakit.nfc import TABLES_DIFFER

# Marks of many combining classes (1, 7, 9, 202, 216, 220, 230, 240, ...) and the Hangul vowel
# and final jamo that compose with what precedes them; and the marks Python's unicodedata knows
# but `tokenizers`' older tables do not (`TABLES_DIFFER`).
MARKS = ["\u0301", "\u0300", "\u0308", "\u0327", "\u0323", "\u0334", "\u0338", "\u0345", "\u031b", "\u0316",
         "\u035c", "\u0591", "\u05b0", "\u0651", "\u0654", "\u093c", "\u094d", "\u0e38", "\u0e48", "\u0f71",
         "\u0f72", "\u1dce", "\u20d2", "\u20dd", "\u302a", "\u3099", "\u309a", "\u1161", "\u11a8", "\u0bbe",
         "\u0cd5", "\ufe0f", "\u200d", "\U0001d165", "\U00011930"]
NEWER_MARKS = [chr(c) for c in range(0x300, 0x20000) if TABLES_DIFFER.match(chr(c))]  # all lie below U+20000
BASES = ["a", "e", "o", "A", "U", "n", "s", "c", "z", "<", ">", "=", " ", "1", "中", "\u1100", "\uac00", "\u0915",
         "\u0b47", "\u0c46", "\u304b", "\u30db", "\U00011935", "\U00011099", "\u0627", "\u05d0", "\u0391", "\u0438"]
EMOJI = ["😀", "👍🏽", "👩‍💻", "👨‍👩‍👧‍👦", "🇯🇵", "🏳️‍🌈", "❤️", "☺︎", "1️⃣", "🧑🏿‍🚀", "🫠", "\U000e0067"]
DIGITS = ["0123456789", "٠١٢٣", "۴۵۶", "०१२", "০১২", "๓๔", "၅၆", "１２３", "²³", "½", "Ⅻ", "①", "𝟗𝟘", "𐒠"]
SPACES = [" ", "  ", "\t", "\n", "\r\n", "\r", "\n\n\n", "\u00a0", "\u3000", "\u2028", "\u200b", "\u2060", "\ufeff",
          " \n ", "\t\t  \n"]
CODE = ["def f(x):\n    return x ** 2\n", "for (int i = 0; i < n; ++i) {", "</div>\n<div class=\"a\">", "$x = @{'a'=>1};",
        "SELECT * FROM t WHERE id='3';", "#include <stdio.h>", "  // TODO: don't\n", "λx.x", "if a!=b:pass",
        "```python\nprint('hi')\n```", "x = [1,2,3]  # 注释", "it's I'M we'VE they'll D'ye"]
CJK_RANGES = [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x3040, 0x30FF), (0xAC00, 0xD7A3),
              (0x1100, 0x11FF), (0xFF00, 0xFFEF), (0x3000, 0x303F)]
CJK_WORDS = ["俱乐部", "加拿大", "新加坡", "中华人民共和国", "你好，世界！", "こんにちは", "한국어", "各种各样的"]


def mark_orders() -> list[str]:
    """Every order of three marks of different combining classes, after bases they compose with."""
    triples = [("\u0301", "\u0323", "\u031b"), ("\u0338", "\u0301", "\u0334"), ("\u0308", "\u0345", "\u0316"),
               ("\u3099", "\u0301", "\u1df6"), ("\u07fd", "\u0301", "\u0327"), ("\u1dfa", "\u0301", "\u0323")]
    bases = ["a", "o", "u", ">", "=", "\u304b", "<|im_end|>", "<think>"]
    return [base + "".join(order) for base in bases for triple in triples for order in itertools.permutations(triple)]


def fuzz_texts(count: int, seed: int, added_tokens: list[str], words: list[str] = ()) -> list[str]:
    """`count` texts of 1-40 pieces each; the same (count, seed, ...) gives the same texts."""
    rng = random.Random(seed)
    words = list(words) or ["hello"]

    def marks() -> str:
        chosen = rng.sample(MARKS, rng.randint(1, 4)) + ([rng.choice(NEWER_MARKS)] if rng.random() < 0.3 else [])
        rng.shuffle(chosen)
        return "".join(chosen)

    def cjk() -> str:
        if rng.random() < 0.3:
            return rng.choice(CJK_WORDS)
        low, high = rng.choice(CJK_RANGES)
        return "".join(chr(rng.randint(low, high)) for _ in range(rng.randint(1, 8)))

    def code_point() -> str:
        code = rng.randrange(0x20, 0x30000)
        return chr(code) if not 0xD800 <= code < 0xE000 else "\ufffd"

    makers = [
        (0.14, cjk),
        (0.14, lambda: rng.choice(BASES + [""]) + marks()),
        (0.06, lambda: rng.choice(EMOJI)),
        (0.07, lambda: rng.choice(DIGITS)[: rng.randint(1, 6)]),
        (0.12, lambda: rng.choice(SPACES) * rng.randint(1, 3)),
        (0.06, lambda: rng.choice(CODE)),
        (0.08, lambda: rng.choice(added_tokens) + (marks() if rng.random() < 0.5 else "")),
        (0.12, lambda: rng.choice(words)),
        (0.06, lambda: rng.choice([" the", " don't", "Über", " naïve", " Việt", " руковод", " çeşit", "ſK"])),
        (0.15, code_point),
    ]
    weights = [w for w, _ in makers]
    return ["".join(rng.choices(makers, weights)[0][1]() for _ in range(rng.randint(1, 40))) for _ in range(count)]
