"""`datakit export --to hf`: a `datasets` directory in Hugging Face's causal-LM layout, the
pre-tokenized form TRL's `SFTTrainer` and transformers' `Trainer` take as they are.

Per row: `input_ids`, the unshifted sequence (`input_tokens` + the last target); `labels`,
the same ids with -100 on every token whose weight is 0 and on the first token (nothing
predicts it), so the model's own shift makes position j predict `labels[j + 1]`, exactly the
Datum's `target_tokens[j]` with `weights[j]`; `attention_mask`, all 1. The provenance columns
follow unchanged. Written with write.py's writer: staged, manifest last, `datakit-hf/1`.
Packed outputs are refused: TRL's padding-free collator masks the first label of every
document, which would silently drop the last target of each packed row.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ..datum import SCHEMA
from ..output import Format, Output
from ..write import OutputWriter, prepare_output_dir
from .derive import carry_rejects, derived_manifest, source_stats

IGNORE_INDEX = -100
PROVENANCE = ("source", "line", "num_tokens", "num_trainable", "original_length", "truncated", "turn")
HF_SCHEMA = pa.schema(
    [pa.field("input_ids", pa.list_(pa.int32()), nullable=False),
     pa.field("labels", pa.list_(pa.int32()), nullable=False),
     pa.field("attention_mask", pa.list_(pa.int8()), nullable=False)]
    + [SCHEMA.field(name) for name in PROVENANCE]
)


def hf_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Datum rows (SCHEMA) as rows in HF_SCHEMA."""
    inputs, targets, weights = (batch.column(n) for n in ("input_tokens", "target_tokens", "weights"))
    offsets = np.asarray(inputs.offsets).astype(np.int64)
    flat_in = np.asarray(inputs.flatten())
    flat_target = np.asarray(targets.flatten())
    flat_weight = np.asarray(weights.flatten())
    rows = len(offsets) - 1
    ends = offsets[1:]
    input_ids = np.insert(flat_in, ends - offsets[0], flat_target[ends - offsets[0] - 1]) if rows else flat_in
    masked = np.where(flat_weight != 0, flat_target, IGNORE_INDEX).astype(np.int32)
    labels = np.insert(masked, offsets[:-1] - offsets[0], IGNORE_INDEX) if rows else masked
    new_offsets = pa.array((offsets - offsets[0] + np.arange(rows + 1)).astype(np.int32))
    columns = [pa.ListArray.from_arrays(new_offsets, pa.array(input_ids.astype(np.int32))),
               pa.ListArray.from_arrays(new_offsets, pa.array(labels)),
               pa.ListArray.from_arrays(new_offsets, pa.array(np.ones(len(input_ids), np.int8)))]
    columns += [batch.column(name) for name in PROVENANCE]
    return pa.RecordBatch.from_arrays(columns, schema=HF_SCHEMA)


def export_hf(source_dir: str | Path, out_dir: str | Path, *, overwrite: bool = False,
              shard_bytes: int = 256 << 20) -> dict[str, Any]:
    """Write the render at `source_dir` as a committed HF-layout dataset at `out_dir`; its manifest."""
    source = Output.open(source_dir, formats=(Format.RENDER,))
    out_dir = Path(out_dir)
    prepare_output_dir(out_dir, overwrite)
    writer = OutputWriter(out_dir, source.splits, shard_bytes, HF_SCHEMA, overwrite=overwrite)
    try:
        for split in source.splits:
            for batch in source.batches(split):
                writer.write(split, pa.Table.from_batches([hf_batch(batch)]))
        carry_rejects(source, writer)
        return writer.commit(derived_manifest(source, Format.HF, source.path), source_stats(source))
    except BaseException:
        writer.abort()
        raise
