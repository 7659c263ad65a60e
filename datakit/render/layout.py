"""Weigh tokens by byte position: the whole-text path for byte-level BPE tokenizers.

A conversation's marked text becomes the text to encode (markers removed) plus the byte ranges
that are trainable. After encoding, each token covers a fixed number of bytes (its id's byte
length), so its position is known without offsets, and a token is trainable if any of its
bytes lies in a trainable range: Hugging Face's `return_assistant_tokens_mask` rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain
from typing import Callable, NamedTuple

import numpy as np

from ..encoder import FlatIds
from .chat_template import ENCODE_BOUNDARY, GENERATION_END, GENERATION_START, OWN

_MARKERS = frozenset((GENERATION_START, GENERATION_END, ENCODE_BOUNDARY))


@dataclass(frozen=True, slots=True)
class Rendered:
    """One rendered conversation: unshifted token ids and their weights (0.0 or 1.0)."""

    tokens: np.ndarray  # int32
    weights: np.ndarray  # float32
    reasoning_dropped: int = 0  # assistant turns whose reasoning the template left out
    # Tokens of the text after the last message's cut (`bounded`), counted but not kept, and how
    # many of them are trainable: they stand before the last few tokens (the end of turn).
    tail_tokens: int = 0
    tail_trainable: int = 0

    @property
    def num_trainable(self) -> int:
        return int(np.count_nonzero(self.weights))


class ByteLayout(NamedTuple):
    """A conversation's text ready to encode whole, and where its trainable bytes are."""

    texts: list[str]  # encoded one after another (more than one at encode boundaries)
    intervals: list[tuple[int, int]]  # trainable [start, end) byte ranges
    num_bytes: int
    owned_at: list[int] = []  # byte offsets of the markup the template wrote itself (OWN before it)
    unowned_marker: bool = False  # a marker without OWN before it: made from data (`provenance`)


def byte_layout(text: str, span_flags: list[float] | None,
                changes_under_normalizer: Callable[[str], bool]) -> ByteLayout | None:
    """Marked text as texts to encode and trainable byte ranges, markers and OWNs removed, and
    where the control tokens are that an OWN stood before.

    `span_flags` gives each generation span's weight (None: all trainable). None when byte
    positions in the text would not be byte positions in the tokens (text the tokenizer's
    normalizer would change).
    """
    # Split at the OWNs only (str.split is many times faster than a regex): the template's own
    # markers each follow one, so they open a segment; a marker anywhere else came from data.
    segments = text.split(OWN)
    texts: list[str] = []
    current: list[str] = []
    intervals: list[tuple[int, int]] = []
    owned_at: list[int] = []
    pos = opened = 0
    trainable = False
    span = -1
    for k, segment in enumerate(segments):
        marker = segment[:1] if k else ""
        if marker in _MARKERS:
            segment = segment[1:]
            if trainable and pos > opened:
                intervals.append((opened, pos))
            if marker == GENERATION_START:
                span += 1
                trainable, opened = span_flags is None or bool(span_flags[span]), pos
            elif marker == GENERATION_END:
                trainable = False
            else:  # ENCODE_BOUNDARY
                texts.append("".join(current))
                current = []
        elif k:
            owned_at.append(pos)  # an OWN before a control token
        if segment:
            current.append(segment)
            # The markers make `text` non-ASCII, but most segments are (a flag: no scan).
            pos += len(segment) if segment.isascii() else len(segment.encode("utf-8"))
    if trainable and pos > opened:
        intervals.append((opened, pos))
    texts.append("".join(current))
    # A marker left in the text followed no OWN. (Only text of the widest kind can hold one, and
    # `in` answers at once for any other: most often this takes no scan.)
    for t in texts:
        if not t.isascii() and (GENERATION_START in t or GENERATION_END in t or ENCODE_BOUNDARY in t):
            return ByteLayout([], [], 0, unowned_marker=True)
    if any(map(changes_under_normalizer, texts)):
        return None
    return ByteLayout(texts, intervals, pos, owned_at)


def weigh_by_bytes(encoded: FlatIds, token_bytes: np.ndarray, layouts: list[ByteLayout],
                   is_control: np.ndarray | None = None) -> list[Rendered | None]:
    """Rows from the ids of their encoded texts (in order), weighted in one pass for the batch.

    A row whose tokens do not add up to its text's bytes (a tokenizer that strips or rewrites
    text) comes back as None, and so does one whose control ids (`is_control`, when given) do not
    start exactly at its layout's `owned_at` offsets: where the template wrote control tokens.
    """
    tokens, segment_bounds = encoded
    lengths = token_bytes[tokens]
    ends = np.cumsum(lengths)  # byte offsets over the whole batch
    starts = ends - lengths
    first_segment = np.cumsum([0, *(len(layout.texts) for layout in layouts)])
    row_bounds = segment_bounds[first_segment]  # token index where each row starts / ends
    byte_bounds = np.concatenate([[0], ends])[row_bounds]
    ok = np.diff(byte_bounds) == np.fromiter((layout.num_bytes for layout in layouts), np.int64, len(layouts))
    if is_control is not None:
        ok &= _control_ids_owned(starts[is_control[tokens]], byte_bounds, layouts)

    weights = np.zeros(len(tokens), dtype=np.float32)
    rows = [r for r, layout in enumerate(layouts) if ok[r] for _ in layout.intervals]
    if rows:
        spans = np.array([span for r, layout in enumerate(layouts) if ok[r] for span in layout.intervals],
                         dtype=np.int64)
        base = byte_bounds[rows]
        # Per trainable range, its tokens: from the first that ends past its start to the last
        # that starts before its end. A slice each (a few per row), not a pass over every token.
        first = np.searchsorted(ends, base + spans[:, 0], "right").tolist()
        stop = np.searchsorted(starts, base + spans[:, 1], "left").tolist()
        for a, b in zip(first, stop):
            weights[a:b] = 1.0
    return [
        Rendered(tokens[a:b], weights[a:b]) if good else None
        for a, b, good in zip(row_bounds[:-1].tolist(), row_bounds[1:].tolist(), ok.tolist())
    ]


def _control_ids_owned(found: np.ndarray, byte_bounds: np.ndarray, layouts: list[ByteLayout]) -> np.ndarray:
    """Per row: whether the control ids, starting at batch byte offsets `found`, are exactly the
    ones its template wrote (`owned_at`)."""
    counts = [len(layout.owned_at) for layout in layouts]
    owned = np.fromiter(chain.from_iterable(layout.owned_at for layout in layouts), np.int64, sum(counts))
    owned += np.repeat(byte_bounds[:-1], counts)
    if np.array_equal(found, owned):
        return np.ones(len(layouts), dtype=bool)
    found_rows = np.split(found, np.searchsorted(found, byte_bounds[1:-1]))
    owned_rows = np.split(owned, np.cumsum(counts)[:-1])
    return np.array([np.array_equal(a, b) for a, b in zip(found_rows, owned_rows)], dtype=bool)
