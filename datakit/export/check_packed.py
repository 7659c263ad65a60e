"""How `datakit check` verifies a packed output's shards: every pack's own columns, then every
row it holds as a rendered Datum (unpacked, then checked as a render's rows are); the files,
checksums and sidecars are checked by `check` as for any output."""

from __future__ import annotations


import numpy as np
import pyarrow as pa

from ..check import ShardKind, datum_problem
from ..output import Format
from .pack import PACKED_SCHEMA, ROW_COLUMNS, unpack_batch


def _problem(batch: pa.RecordBatch, manifest: dict) -> tuple[int, str] | None:
    """A pack's own columns first, then every row it holds as a rendered Datum."""
    problem = pack_problem(batch, (manifest.get("pack") or {}).get("max_tokens"))
    if problem is None:
        unpacked = datum_problem(unpack_batch(batch))
        problem = None if unpacked is None else (_pack_of(batch, unpacked[0]), f"a packed row: {unpacked[1]}")
    return problem


PACKED = ShardKind(Format.PACKED.value, PACKED_SCHEMA, _problem,
                   documents=lambda batch: len(batch.column("seq_lens").flatten()), unit="packs")


def _pack_of(batch: pa.RecordBatch, doc: int) -> int:
    return int(np.searchsorted(np.asarray(batch.column("seq_lens").offsets), doc, side="right")) - 1


def pack_problem(batch: pa.RecordBatch, max_tokens: int | None) -> tuple[int, str] | None:
    """The first pack of `batch` whose own columns disagree, as (pack, what is wrong)."""
    lengths = np.diff(np.asarray(batch.column("input_tokens").offsets))
    for name in ("target_tokens", "weights", "position_ids"):
        bad = np.flatnonzero(np.diff(np.asarray(batch.column(name).offsets)) != lengths)
        if bad.size:
            return int(bad[0]), f"{name} and input_tokens differ in length"
    docs = np.diff(np.asarray(batch.column("seq_lens").offsets))
    for name in ROW_COLUMNS:
        bad = np.flatnonzero(np.diff(np.asarray(batch.column(name).offsets)) != docs)
        if bad.size:
            return int(bad[0]), f"{name} does not have one entry per row of the pack"
    if (docs < 1).any():
        return int(np.flatnonzero(docs < 1)[0]), "a pack with no row"
    seq_lens = np.asarray(batch.column("seq_lens").flatten()).astype(np.int64)
    if (seq_lens < 1).any():
        return _pack_of(batch, int(np.flatnonzero(seq_lens < 1)[0])), "a row of length 0"
    sums = np.add.reduceat(seq_lens, np.asarray(batch.column("seq_lens").offsets)[:-1]) if len(docs) else seq_lens
    if (sums != lengths).any():
        return int(np.flatnonzero(sums != lengths)[0]), "seq_lens do not add up to the pack's length"
    if max_tokens is not None and (lengths > max_tokens).any():
        return int(np.flatnonzero(lengths > max_tokens)[0]), f"longer than the manifest's max_tokens {max_tokens}"
    starts = np.repeat(np.cumsum(seq_lens) - seq_lens, seq_lens)
    expected = np.arange(len(starts)) - starts
    positions = np.asarray(batch.column("position_ids").flatten())
    if (positions != expected).any():
        token = int(np.flatnonzero(positions != expected)[0])
        return _pack_of(batch, int(np.searchsorted(np.cumsum(seq_lens), token, side="right"))), \
            "position_ids do not restart at 0 for each row"
    return None
