"""PyTorch access to a committed output: a map-style dataset over the memory-mapped shards and a
collator that pads rows into tensors, in the Datum layout or in Hugging Face's.

Needs `pip install "datakit[torch]"`. `DatumDataset(OUT)` reads a render or a packed output;
a row is a dict of numpy views of the shards' buffers (nothing is copied until `collate`
pads). Padding positions get weight 0, label -100 and attention mask 0, so the pad id (the
tokenizer's, see `Output.pad_token_id`) never reaches the loss.

Packed rows (`datakit pack`) hold several documents. For them the batch carries
`position_ids` (restarting at 0 per document), `cu_seqlens` / `max_seqlen` (flash-attention's
varlen arguments, over the padded batch flattened row after row; each row's padding is a
segment of its own) and, with `block_mask=True`, a 4-D block-diagonal causal `attention_mask`
for SDPA / eager attention. Without it there is no `attention_mask` at all: a 2-D mask on
packed rows would let documents attend to each other; Hugging Face models given
`position_ids` and no mask derive the per-document mask themselves.
"""

from __future__ import annotations

import functools
from enum import StrEnum
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from .output import Format, ListColumns, Output, OutputReadError

IGNORE_INDEX = -100  # Hugging Face's label for "no loss here"
DATUM_COLUMNS = ("input_tokens", "target_tokens", "weights")


class Layout(StrEnum):
    """What `collate` returns."""

    DATUM = "datum"  # input_tokens, target_tokens, weights (shifted, as stored)
    HF = "hf"  # input_ids, labels (unshifted; models shift internally), as transformers wants


class DatumDataset(Dataset):
    """One split of a render or packed output, row by row, straight from the memory-mapped shards."""

    def __init__(self, out_dir: str | Path, split: str = "train", pad_id: int | None = None):
        self.out_dir = Path(out_dir)
        self.split = split
        self._open()
        self.pad_id = self.output.pad_token_id() if pad_id is None else int(pad_id)

    def _open(self) -> None:
        self.output = Output.open(self.out_dir)
        self.packed = self.output.format is Format.PACKED
        columns = DATUM_COLUMNS + (("seq_lens",) if self.packed else ())
        self.table = self.output.table(self.split)  # keeps the memory maps alive
        missing = [c for c in columns if c not in self.table.column_names]
        if missing:
            raise OutputReadError(f"{self.out_dir}: the {self.split!r} split has no {', '.join(missing)} column")
        self._batches = [ListColumns(batch, columns) for batch in self.table.to_batches()]
        self._starts = np.cumsum([0] + [b.num_rows for b in self._batches])

    def __len__(self) -> int:
        return int(self._starts[-1])

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"row {index} of a split with {len(self)} rows")
        k = int(np.searchsorted(self._starts, index, side="right")) - 1
        return self._batches[k].row(index - int(self._starts[k]))

    # DataLoader workers get the path, not the mapped data: each reopens the shards.
    def __getstate__(self) -> dict[str, Any]:
        return {"out_dir": self.out_dir, "split": self.split, "pad_id": self.pad_id}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._open()

    def collator(self, layout: Layout | str = Layout.DATUM, *, pad_to_multiple_of: int | None = None,
                 block_mask: bool = False, mask_dtype: torch.dtype | None = None) -> Callable:
        """`collate` with this output's pad id bound: pass it as a DataLoader's `collate_fn`."""
        return functools.partial(collate, layout=Layout(layout), pad_id=self.pad_id,
                                 pad_to_multiple_of=pad_to_multiple_of, block_mask=block_mask,
                                 mask_dtype=mask_dtype)


def collate(rows: Sequence[Mapping[str, Any]], layout: Layout | str = Layout.DATUM, *, pad_id: int = 0,
            pad_to_multiple_of: int | None = None, block_mask: bool = False,
            mask_dtype: torch.dtype | None = None) -> dict[str, Any]:
    """Pad `rows` (dicts with input_tokens, target_tokens, weights; seq_lens if packed) on the right.

    datum: `input_tokens`, `target_tokens` (int64), `weights` (float32); hf: `input_ids` =
    input_tokens + the last target, `labels` = -100 then each target where its weight is not 0
    (so `labels[j + 1]` is what position j predicts, the shift HF models undo). Unpacked rows
    get a 2-D `attention_mask`; packed rows `position_ids`, `cu_seqlens`, `max_seqlen`; and
    `block_mask=True` gives a 4-D (batch, 1, T, T) block-diagonal causal mask instead, boolean
    (SDPA) or, with `mask_dtype`, additive (0 / most negative) for eager attention.
    """
    if not rows:
        raise ValueError("collate got no rows")
    layout = Layout(layout)
    extra = 1 if layout is Layout.HF else 0
    inputs = [np.asarray(r["input_tokens"]) for r in rows]
    lengths = np.array([len(x) + extra for x in inputs])
    width = int(lengths.max())
    if pad_to_multiple_of:
        width = -(-width // pad_to_multiple_of) * pad_to_multiple_of
    tokens = np.full((len(rows), width), pad_id, dtype=np.int64)
    second = np.full((len(rows), width), pad_id if layout is Layout.DATUM else IGNORE_INDEX, dtype=np.int64)
    weights = np.zeros((len(rows), width), dtype=np.float32)
    for b, (row, x) in enumerate(zip(rows, inputs)):
        target, weight = np.asarray(row["target_tokens"]), np.asarray(row["weights"])
        tokens[b, :len(x)] = x
        if layout is Layout.DATUM:
            second[b, :len(x)] = target
            weights[b, :len(x)] = weight
        else:
            tokens[b, len(x)] = target[-1]
            second[b, 1:len(x) + 1] = np.where(weight != 0, target, IGNORE_INDEX)
    names = ("input_tokens", "target_tokens") if layout is Layout.DATUM else ("input_ids", "labels")
    batch: dict[str, Any] = {names[0]: torch.from_numpy(tokens), names[1]: torch.from_numpy(second)}
    if layout is Layout.DATUM:
        batch["weights"] = torch.from_numpy(weights)
    segments = [_segments(row, len(x), extra, width) for row, x in zip(rows, inputs)]
    packed = any("seq_lens" in row for row in rows)
    if packed:
        flat = np.concatenate(segments)
        batch["position_ids"] = torch.from_numpy(np.concatenate([np.arange(n) for n in flat]).reshape(len(rows), width))
        batch["cu_seqlens"] = torch.from_numpy(np.concatenate([[0], np.cumsum(flat)]).astype(np.int32))
        batch["max_seqlen"] = int(flat.max())
    if block_mask:
        batch["attention_mask"] = _block_mask(segments, width, mask_dtype)
    elif not packed:
        batch["attention_mask"] = torch.from_numpy((np.arange(width) < lengths[:, None]).astype(np.int64))
    return batch


def _segments(row: Mapping[str, Any], length: int, extra: int, width: int) -> np.ndarray:
    """Lengths of a row's documents in the padded batch (the hf layout's last token joins the
    last document), then its padding as a segment of its own."""
    docs = np.asarray(row["seq_lens"], dtype=np.int64).copy() if "seq_lens" in row else np.array([length])
    if docs.sum() != length:
        raise ValueError(f"seq_lens sum to {docs.sum()}, the row has {length} tokens")
    docs[-1] += extra
    pad = width - length - extra
    return np.concatenate([docs, [pad]]) if pad else docs


def _block_mask(segments: list[np.ndarray], width: int, mask_dtype: torch.dtype | None) -> torch.Tensor:
    ids = torch.from_numpy(np.stack([np.repeat(np.arange(len(s)), s) for s in segments]))
    causal = torch.ones(width, width, dtype=torch.bool).tril()
    allowed = (ids[:, :, None] == ids[:, None, :]) & causal
    allowed = allowed[:, None]
    if mask_dtype is None:
        return allowed
    return torch.zeros(allowed.shape, dtype=mask_dtype).masked_fill(~allowed, torch.finfo(mask_dtype).min)
