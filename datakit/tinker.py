"""Tinker batches from a committed render: lists of `tinker.Datum` for `forward_backward`.

Needs `pip install "datakit[tinker]"`. Packed outputs are refused: a Tinker datum is one
sequence with no document mask, so a pack would let its conversations attend to each other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from .datum import Reduction, to_tinker_datum
from .output import Format, ListColumns, Output

DATUM_COLUMNS = ("input_tokens", "target_tokens", "weights")


def datums(out_dir: str | Path, split: str = "train", *, reduction: Reduction | str,
           batch_size: int = 128) -> Iterator[list[Any]]:
    """The split's rows as Tinker datums, `batch_size` at a time, in shard order (the last
    batch may be smaller). `reduction`: `"mean"` (each datum's weights sum to 1, what
    tinker-cookbook's SFT does by default) or `"none"` (weights as rendered, a token-sum loss).
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    reduction = Reduction(reduction)
    output = Output.open(out_dir, formats=(Format.RENDER,))
    batch: list[Any] = []
    for record_batch in output.batches(split):
        for row in ListColumns(record_batch, DATUM_COLUMNS):
            batch.append(to_tinker_datum(row, reduction))
            if len(batch) == batch_size:
                yield batch
                batch = []
    if batch:
        yield batch
