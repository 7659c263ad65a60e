"""The pieces path: encode marked text cut at control tokens, for conversations whose messages
had text escaped, and for tokenizers that are not byte-level.

The template's control tokens (found in its text; message text was escaped, so it holds none)
become their ids directly. The text between them, escapes turned back into the text they stand
for, is encoded with the tokenizer's `plain` twin, which has no control tokens, so a typed
`<|im_end|>` stays text. Ids and weights are appended side by side (`_Sequence.add`), so they
cannot drift apart. A piece that mixes trainable and untrainable text gets the any-character
rule, placed by token byte lengths (byte-level BPE) or by the tokenizer's character offsets.
"""

from __future__ import annotations

import re
from typing import Callable, NamedTuple, Sequence

import numpy as np

from ..tokenizer import TokenizerBundle
from .chat_template import ENCODE_BOUNDARY, GENERATION_END, GENERATION_START
from .layout import Rendered

_CACHE_LIMIT = 1 << 12
_CACHE_MAX_CHARS = 512


class ControlToken(NamedTuple):
    token_id: int
    weight: float


class TextPiece(NamedTuple):
    """Text whose tokens all have one weight."""

    text: str
    weight: float


class MixedPiece(NamedTuple):
    """Text with trainable parts: `trainable` ranges in bytes (`in_bytes`) or characters."""

    text: str
    trainable: list[tuple[int, int]]
    in_bytes: bool


Segment = ControlToken | TextPiece | MixedPiece


class _Sequence:
    """A conversation's tokens and weights, built side by side."""

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.weights: list[np.ndarray] = []

    def add(self, ids: Sequence[int], weights: float | np.ndarray) -> None:
        self.ids.extend(ids)
        self.weights.append(np.full(len(ids), weights, np.float32) if isinstance(weights, float)
                            else np.asarray(weights, np.float32))

    def rendered(self) -> Rendered:
        weights = np.concatenate(self.weights) if self.weights else np.zeros(0, np.float32)
        return Rendered(np.asarray(self.ids, dtype=np.int32), weights)


class PieceEncoder:
    """Cuts marked texts into segments and encodes a batch of them with `plain`."""

    def __init__(self, tokenizer: TokenizerBundle, control_split: re.Pattern,
                 unescape: Callable[[str], str], changes_under_normalizer: Callable[[str], bool]):
        self.tokenizer = tokenizer
        self.control_split = control_split  # matches control tokens and markers
        self.unescape = unescape
        self.changes_under_normalizer = changes_under_normalizer
        self._cache: dict[str, list[int]] = {}

    def encode(self, marked: list[tuple[str, list[float] | None]]) -> list[Rendered]:
        """(marked text, span weights or None for all trainable) per conversation."""
        plans = [self.segments(text, flags) for text, flags in marked]
        by_bytes = {s.text for plan in plans for s in plan
                    if isinstance(s, TextPiece) or isinstance(s, MixedPiece) and s.in_bytes}
        by_offsets = {s.text for plan in plans for s in plan if isinstance(s, MixedPiece) and not s.in_bytes}
        ids = {text: self._cache[text] for text in by_bytes if text in self._cache}
        todo = [text for text in by_bytes if text not in ids]
        plain = self.tokenizer.plain
        for text, encoding in zip(todo, plain.encode_batch_fast(todo, add_special_tokens=False)):
            ids[text] = encoding.ids
            self._remember(text, encoding.ids)
        offsets = dict(zip(by_offsets, plain.encode_batch(list(by_offsets), add_special_tokens=False)))
        return [self._assemble(plan, ids, offsets) for plan in plans]

    def segments(self, text: str, span_flags: list[float] | None) -> list[Segment]:
        """One conversation's marked text as control tokens and text pieces."""
        segments: list[Segment] = []
        runs: list[tuple[str, float]] = []  # the text piece being gathered: (text, weight)
        weight, span, pos = 0.0, -1, 0
        for match in self.control_split.finditer(text):
            if match.start() > pos:
                runs.append((self.unescape(text[pos:match.start()]), weight))
            pos = match.end()
            token = match.group()
            if token == GENERATION_START:
                span += 1
                weight = 1.0 if span_flags is None else span_flags[span]
            elif token == GENERATION_END:
                weight = 0.0
            else:
                self._flush(runs, segments)
                if token != ENCODE_BOUNDARY:
                    segments.append(ControlToken(self.tokenizer.control_tokens[token], weight))
        if pos < len(text):
            runs.append((self.unescape(text[pos:]), weight))
        self._flush(runs, segments)
        return segments

    def _flush(self, runs: list[tuple[str, float]], segments: list[Segment]) -> None:
        if not runs:
            return
        text = "".join(t for t, _ in runs)
        if all(w == runs[0][1] for _, w in runs):
            segments.append(TextPiece(text, runs[0][1]))
        else:
            in_bytes = self.tokenizer.token_bytes is not None and not self.changes_under_normalizer(text)
            segments.append(MixedPiece(text, _trainable_ranges(runs, in_bytes), in_bytes))
        runs.clear()

    def _assemble(self, plan: list[Segment], ids: dict[str, list[int]], offsets: dict) -> Rendered:
        sequence = _Sequence()
        for segment in plan:
            if isinstance(segment, ControlToken):
                sequence.add((segment.token_id,), segment.weight)
            elif isinstance(segment, TextPiece):
                sequence.add(ids[segment.text], segment.weight)
            elif segment.in_bytes:
                piece_ids = ids[segment.text]
                sequence.add(piece_ids, _any_byte_weights(self.tokenizer.token_bytes[piece_ids], segment.trainable))
            else:
                encoding = offsets[segment.text]
                sequence.add(encoding.ids, _any_char_weights(encoding.offsets, segment.trainable))
        return sequence.rendered()

    def _remember(self, text: str, ids: list[int]) -> None:
        if len(text) > _CACHE_MAX_CHARS:
            return
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[text] = ids


def _trainable_ranges(runs: list[tuple[str, float]], in_bytes: bool) -> list[tuple[int, int]]:
    """[start, end) of the trainable runs of a mixed piece, in bytes or characters."""
    ranges: list[tuple[int, int]] = []
    pos = 0
    for text, weight in runs:
        end = pos + (len(text.encode("utf-8")) if in_bytes else len(text))
        if weight and end > pos:
            if ranges and ranges[-1][1] == pos:
                ranges[-1] = (ranges[-1][0], end)
            else:
                ranges.append((pos, end))
        pos = end
    return ranges


def _any_byte_weights(token_bytes: np.ndarray, ranges: list[tuple[int, int]]) -> np.ndarray:
    ends = np.cumsum(token_bytes)
    starts = ends - token_bytes
    trainable = np.zeros(len(token_bytes), dtype=bool)
    for a, b in ranges:
        trainable |= (starts < b) & (ends > a)
    return trainable


def _any_char_weights(offsets: list[tuple[int, int]], ranges: list[tuple[int, int]]) -> list[float]:
    return [1.0 if any(start < b and end > a for a, b in ranges) else 0.0 for start, end in offsets]
