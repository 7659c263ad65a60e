"""`layout.byte_layout` against its first, regex-split form on random marked texts: the same
texts, trainable byte ranges, owned offsets, and the same verdict on markers not after an OWN."""

from __future__ import annotations

import random
import re

import pytest

from datakit.render.chat_template import ENCODE_BOUNDARY, GENERATION_END, GENERATION_START, OWN
from datakit.render.layout import ByteLayout, byte_layout

_SPLIT = re.compile(f"([{GENERATION_START}{GENERATION_END}{ENCODE_BOUNDARY}{OWN}])")


def reference_layout(text: str, span_flags: list[float] | None) -> ByteLayout:
    """The layout as it was first written: a regex split at every marker."""
    parts = _SPLIT.split(text)
    texts, current, intervals, owned_at = [], [], [], []
    pos = opened = 0
    trainable, span = False, -1
    for k, part in enumerate(parts):
        if k % 2 == 0:
            if part:
                current.append(part)
                pos += len(part.encode("utf-8"))
            continue
        if part == OWN:
            owned_at.append(pos)
            continue
        if k < 2 or parts[k - 2] != OWN or parts[k - 1]:
            return ByteLayout([], [], 0, unowned_marker=True)
        owned_at.pop()
        if trainable and pos > opened:
            intervals.append((opened, pos))
        if part == GENERATION_START:
            span += 1
            trainable, opened = span_flags is None or bool(span_flags[span]), pos
        elif part == GENERATION_END:
            trainable = False
        else:
            texts.append("".join(current))
            current = []
    if trainable and pos > opened:
        intervals.append((opened, pos))
    texts.append("".join(current))
    return ByteLayout(texts, intervals, pos, owned_at)


def random_marked(rng: random.Random) -> str:
    words = ["a", "héllo ", "中文", "😀", "<|eot_id|>", "\n", " x "]
    pieces = []
    for _ in range(rng.randrange(0, 14)):
        kind = rng.random()
        if kind < 0.45:
            pieces.append(rng.choice(words))
        elif kind < 0.8:  # what a template writes: OWN before its marker or control token
            pieces.append(OWN + rng.choice([GENERATION_START, GENERATION_END, ENCODE_BOUNDARY, ""]))
        else:  # what only data could make: a marker or OWN standing alone
            pieces.append(rng.choice([GENERATION_START, GENERATION_END, ENCODE_BOUNDARY, OWN]))
    return "".join(pieces)


@pytest.mark.parametrize("seed", range(4))
def test_byte_layout_is_the_regex_split_layout(seed):
    rng = random.Random(seed)
    for _ in range(3000):
        text = random_marked(rng)
        spans = text.count(OWN + GENERATION_START)
        flags = None if rng.random() < 0.5 else [float(rng.random() < 0.5) for _ in range(spans)]
        got = byte_layout(text, flags, lambda _: False)
        want = reference_layout(text, flags)
        assert got == want, repr(text)


def test_a_marker_after_text_not_an_own_is_unowned():
    assert byte_layout(f"a{GENERATION_START}b", None, lambda _: False).unowned_marker
    assert not byte_layout(f"a{OWN}{GENERATION_START}b{OWN}{GENERATION_END}", None, lambda _: False).unowned_marker
