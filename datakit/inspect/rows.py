"""A row as `inspect` shows it, wherever it came from (shards or JSONL rendered now)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

DEFAULT_LIMIT = 3


class InspectError(ValueError):
    """A row cannot be shown (no such output, row, line, split, ...); the message says why."""


# -- rows ----------------------------------------------------------------------------------


@dataclass
class InspectedRow:
    """One row as the model sees it: unshifted tokens, the weight of each, and provenance."""

    tokens: list[int]
    weights: list[float]  # weights[i]: loss weight of predicting tokens[i] (weights[0] is 0)
    source: str | None = None
    line: int | None = None  # 1-based line of `source`
    split: str | None = None  # None: rendered on the fly from JSONL
    row: int | None = None  # 0-based index within the split (JSONL: among non-blank lines)
    num_tokens: int = 0
    num_trainable: int = 0
    original_length: int = 0
    truncated: bool = False
    note: str | None = None  # something worth knowing (e.g. `datakit render` would reject it)

    @classmethod
    def from_datum(cls, input_tokens: Sequence[int], target_tokens: Sequence[int],
                   weights: Sequence[float], **fields) -> "InspectedRow":
        """Undo the Datum shift: tokens = input + [last target], weights = [0] + weights."""
        tokens = list(input_tokens) + list(target_tokens[-1:])
        row = cls(tokens, [0.0] + [float(w) for w in weights], **fields)
        if list(input_tokens[1:]) != list(target_tokens[:-1]) or len(weights) != len(target_tokens):
            row.note = "damaged row: target_tokens/weights are not a one-token shift of input_tokens"
        return row

    @classmethod
    def from_rendered(cls, tokens: Sequence[int], weights: Sequence[float], **fields) -> "InspectedRow":
        """An unshifted rendering; the first token's weight is shown as 0 (nothing predicts it)."""
        tokens = [int(t) for t in tokens]
        weights = [0.0] + [float(w) for w in list(weights)[1:]] if len(tokens) else []
        fields.setdefault("num_tokens", len(tokens))
        fields.setdefault("original_length", len(tokens))
        fields.setdefault("num_trainable", int(sum(weights)))
        return cls(tokens, weights, **fields)

    @property
    def label(self) -> str:
        """`train row 3 · data.jsonl line 7` (what the row is and where it came from)."""
        parts = []
        if self.split is not None:
            parts.append(f"{self.split} row {self.row}")
        elif self.row is not None:
            parts.append(f"row {self.row}")
        if self.source is not None:
            parts.append(f"{self.source} line {self.line}")
        elif self.line is not None:
            parts.append(f"line {self.line}")
        return " · ".join(parts)

    @property
    def counts(self) -> str:
        text = f"{self.num_tokens} tokens · {self.num_trainable} trainable"
        if self.truncated:
            text += f" · truncated from {self.original_length}"
        return text


def as_list(value: int | Iterable[int] | None) -> list[int] | None:
    if value is None:
        return None
    if isinstance(value, (int, np.integer)):
        return [int(value)]
    return [int(v) for v in value]
